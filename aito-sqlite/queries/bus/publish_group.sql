-- One copy for every group subscribed to channel ?1.
INSERT INTO messages (queue, channel, envelope, published)
SELECT channel || '#' || grp, channel, ?2, ?3 FROM groups WHERE channel = ?1
