SELECT key, expires FROM marks WHERE expires > ?1 ORDER BY key
