SELECT value FROM counters WHERE key = ?1 AND expires > ?2
