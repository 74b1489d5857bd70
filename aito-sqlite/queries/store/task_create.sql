INSERT INTO tasks (id, assignee, open, version, doc) VALUES (?1, ?2, ?3, 1, ?4)
ON CONFLICT (id) DO NOTHING
