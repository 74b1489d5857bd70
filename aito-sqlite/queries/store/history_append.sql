INSERT INTO history (agent, entry) VALUES (?1, ?2)
