-- The holder of lease ?1 and when it lapses.
SELECT holder, expires FROM leases WHERE name = ?1
