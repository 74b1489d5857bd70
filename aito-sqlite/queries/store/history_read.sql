-- The newest ?2 entries of agent ?1, newest first (the caller reverses them).
SELECT entry FROM history WHERE agent = ?1 ORDER BY seq DESC LIMIT ?2
