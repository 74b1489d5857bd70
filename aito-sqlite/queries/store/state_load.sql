SELECT version, doc FROM states WHERE agent = ?1
