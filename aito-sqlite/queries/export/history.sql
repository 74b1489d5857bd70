SELECT agent, entry FROM history ORDER BY seq
