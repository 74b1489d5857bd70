-- Keeps the newest ?2 entries of agent ?1.
DELETE FROM history
WHERE agent = ?1
  AND seq <= (SELECT seq FROM history WHERE agent = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)
