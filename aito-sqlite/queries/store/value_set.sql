INSERT INTO kv (key, value, expires) VALUES (?1, ?2, ?3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires
