SELECT version, doc FROM tasks WHERE id = ?1
