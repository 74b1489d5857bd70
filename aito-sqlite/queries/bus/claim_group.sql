-- A consumer ?3 that takes over its group (it took its agent's lease) takes at once the rows of
-- queue ?1 that any other subscription holds: a predecessor that stopped, died or froze.
UPDATE messages
SET holder = ?2, consumer = ?3, held_until = ?4, deliveries = deliveries + 1
WHERE seq IN (
    SELECT seq FROM messages
    WHERE queue = ?1 AND holder IS NOT NULL AND holder <> ?2
    ORDER BY seq
    LIMIT ?5
)
RETURNING seq, channel, envelope, deliveries
