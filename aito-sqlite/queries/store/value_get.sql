SELECT value FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)
