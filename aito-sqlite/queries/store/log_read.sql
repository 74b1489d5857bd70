SELECT entry FROM logs WHERE name = ?1 ORDER BY seq DESC LIMIT ?2
