INSERT INTO states (agent, version, doc) VALUES (?1, ?2, ?3)
ON CONFLICT (agent) DO UPDATE SET version = excluded.version, doc = excluded.doc
