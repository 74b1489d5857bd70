SELECT key, value, expires FROM counters WHERE expires > ?1 ORDER BY key
