INSERT INTO statuses (agent, doc) VALUES (?1, ?2)
ON CONFLICT (agent) DO UPDATE SET doc = excluded.doc
