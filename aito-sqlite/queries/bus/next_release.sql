-- When the earliest hold on queue ?1 that is not holder ?3's own lapses (after ?2).
SELECT min(held_until) FROM messages
WHERE queue = ?1 AND held_until > ?2 AND (holder IS NULL OR holder <> ?3)
