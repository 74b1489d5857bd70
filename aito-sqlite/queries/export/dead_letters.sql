SELECT letter FROM dead_letters ORDER BY seq
