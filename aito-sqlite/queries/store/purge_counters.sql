DELETE FROM counters WHERE expires <= ?1
