SELECT version, doc FROM (
    SELECT ord, version, doc FROM decisions WHERE status = ?1 ORDER BY ord DESC LIMIT ?2
) ORDER BY ord
