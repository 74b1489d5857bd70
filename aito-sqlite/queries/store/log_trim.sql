-- Keeps the newest ?2 entries of log ?1.
DELETE FROM logs
WHERE name = ?1
  AND seq <= (SELECT seq FROM logs WHERE name = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)
