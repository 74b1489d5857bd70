SELECT version, doc FROM decisions WHERE status = ?1 ORDER BY ord
