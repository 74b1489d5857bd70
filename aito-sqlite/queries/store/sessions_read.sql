-- The newest ?2 records of agent ?1, newest first (the caller reverses them).
SELECT record FROM sessions WHERE agent = ?1 ORDER BY seq DESC LIMIT ?2
