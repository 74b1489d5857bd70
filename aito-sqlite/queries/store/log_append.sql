INSERT INTO logs (name, entry) VALUES (?1, ?2)
