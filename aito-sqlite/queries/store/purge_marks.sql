DELETE FROM marks WHERE expires <= ?1
