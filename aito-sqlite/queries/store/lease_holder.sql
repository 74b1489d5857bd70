-- The holder of lease ?1 and its expiry, if it has not lapsed at ?2.
SELECT holder, expires FROM leases WHERE name = ?1 AND expires > ?2
