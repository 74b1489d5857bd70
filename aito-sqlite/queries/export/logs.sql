SELECT name, entry FROM logs ORDER BY seq
