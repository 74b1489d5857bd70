SELECT version, doc FROM tasks ORDER BY ord DESC LIMIT ?1
