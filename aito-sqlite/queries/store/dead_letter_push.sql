INSERT INTO dead_letters (agent, letter) VALUES (?1, ?2)
