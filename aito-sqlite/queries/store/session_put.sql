-- Keeps record ?3 of agent ?1 for trigger ?2, in the place of an earlier one for that trigger.
INSERT INTO sessions (agent, trigger, record) VALUES (?1, ?2, ?3)
ON CONFLICT (agent, trigger) DO UPDATE SET record = excluded.record
