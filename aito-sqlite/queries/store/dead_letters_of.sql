SELECT letter FROM dead_letters WHERE agent = ?1 ORDER BY seq DESC LIMIT ?2
