INSERT INTO messages (queue, channel, envelope, published) VALUES (?1, ?1, ?2, ?3)
