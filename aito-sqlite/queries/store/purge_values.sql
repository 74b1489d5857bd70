DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?1
