-- Hands up to ?6 rows of queue ?1 that nobody holds (or whose hold lapsed at ?5) to holder ?2
-- of consumer ?3, held until ?4. RETURNING gives no order: the caller sorts by seq.
UPDATE messages
SET holder = ?2, consumer = ?3, held_until = ?4, deliveries = deliveries + 1
WHERE seq IN (
    SELECT seq FROM messages
    WHERE queue = ?1 AND (held_until IS NULL OR held_until <= ?5)
    ORDER BY seq
    LIMIT ?6
)
RETURNING seq, channel, envelope, deliveries
