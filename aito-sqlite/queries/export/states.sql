SELECT agent, doc FROM states ORDER BY agent
