-- Gives a group that just joined channel ?1 (as ?2) the channel's backlog, oldest first.
INSERT INTO messages (queue, channel, envelope, published)
SELECT ?1 || '#' || ?2, channel, envelope, published FROM backlog WHERE channel = ?1 ORDER BY seq
