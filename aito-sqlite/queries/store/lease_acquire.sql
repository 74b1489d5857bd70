-- Takes lease ?1 for ?2 until ?3 when it is free, lapsed at ?4, or already ?2's; one row
-- changed means ?2 holds it.
INSERT INTO leases (name, holder, expires) VALUES (?1, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
WHERE leases.holder = excluded.holder OR leases.expires <= ?4
