-- Sets mark ?1 until ?2 unless a mark that has not expired at ?3 is there; one row changed
-- means the caller goes ahead.
INSERT INTO marks (key, expires) VALUES (?1, ?2)
ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE marks.expires <= ?3
