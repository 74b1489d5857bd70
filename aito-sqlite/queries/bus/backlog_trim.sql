-- Keeps the newest ?2 envelopes of channel ?1.
DELETE FROM backlog
WHERE channel = ?1
  AND seq <= (SELECT seq FROM backlog WHERE channel = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)
