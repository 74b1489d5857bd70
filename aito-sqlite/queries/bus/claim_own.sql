-- A restarted consumer ?3 takes back at once the rows of queue ?1 that an earlier subscription
-- of the same consumer held when it ended (a killed process cannot hand them over).
UPDATE messages
SET holder = ?2, consumer = ?3, held_until = ?4, deliveries = deliveries + 1
WHERE seq IN (
    SELECT seq FROM messages
    WHERE queue = ?1 AND consumer = ?3 AND holder IS NOT NULL AND holder <> ?2
    ORDER BY seq
    LIMIT ?5
)
RETURNING seq, channel, envelope, deliveries
