-- The record of agent ?1 for trigger ?2.
SELECT record FROM sessions WHERE agent = ?1 AND trigger = ?2
