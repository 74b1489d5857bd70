SELECT doc FROM statuses ORDER BY agent
