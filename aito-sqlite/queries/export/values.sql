SELECT key, value, expires FROM kv WHERE expires IS NULL OR expires > ?1 ORDER BY key
