INSERT INTO decisions (id, status, version, doc) VALUES (?1, ?2, 1, ?3)
ON CONFLICT (id) DO NOTHING
