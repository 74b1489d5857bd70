-- Whether ?2 holds lease ?1 at ?3 in the term with fencing token ?4.
SELECT 1 FROM leases JOIN lease_terms ON lease_terms.name = leases.name
WHERE leases.name = ?1 AND leases.holder = ?2 AND leases.expires > ?3 AND lease_terms.term = ?4
