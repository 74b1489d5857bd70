-- Starts a new term of lease ?1; returns its fencing token.
INSERT INTO lease_terms (name, term) VALUES (?1, 1)
ON CONFLICT (name) DO UPDATE SET term = lease_terms.term + 1
RETURNING term
