-- Keeps the newest ?1 dead letters of the company.
DELETE FROM dead_letters
WHERE seq <= (SELECT seq FROM dead_letters ORDER BY seq DESC LIMIT 1 OFFSET ?1)
