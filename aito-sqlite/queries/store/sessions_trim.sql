-- Keeps the newest ?2 records of agent ?1.
DELETE FROM sessions
WHERE agent = ?1
  AND seq <= (SELECT seq FROM sessions WHERE agent = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)
