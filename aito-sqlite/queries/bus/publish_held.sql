-- A message to inbox ?1, handed at once to holder ?4 of consumer ?5 of this process, held
-- until ?6 (as a claim would have, in the same transaction as the publication).
INSERT INTO messages (queue, channel, envelope, published, holder, consumer, held_until, deliveries)
VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, 1)
RETURNING seq
