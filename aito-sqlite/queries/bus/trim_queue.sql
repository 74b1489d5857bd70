-- Keeps the newest ?2 rows of group queue ?1 (a group that stopped reading loses the oldest).
DELETE FROM messages
WHERE queue = ?1
  AND seq <= (SELECT seq FROM messages WHERE queue = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)
