DELETE FROM leases WHERE expires <= ?1
