-- Acknowledged rows, a JSON array of their seq numbers.
DELETE FROM messages WHERE seq IN (SELECT value FROM json_each(?1))
