SELECT version, doc FROM decisions WHERE id = ?1
