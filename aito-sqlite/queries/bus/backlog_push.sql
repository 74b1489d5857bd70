INSERT INTO backlog (channel, envelope, published) VALUES (?1, ?2, ?3)
