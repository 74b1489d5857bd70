-- The fencing token of lease ?1's latest term.
SELECT term FROM lease_terms WHERE name = ?1
