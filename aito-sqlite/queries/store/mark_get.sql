SELECT 1 FROM marks WHERE key = ?1 AND expires > ?2
