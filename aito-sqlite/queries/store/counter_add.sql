-- Adds ?2 to counter ?1; a counter that is absent or expired at ?4 starts again from 0 with
-- expiry ?3.
INSERT INTO counters (key, value, expires) VALUES (?1, ?2, ?3)
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN counters.expires <= ?4 THEN excluded.value ELSE counters.value + excluded.value END,
    expires = CASE WHEN counters.expires <= ?4 THEN excluded.expires ELSE counters.expires END
RETURNING value
