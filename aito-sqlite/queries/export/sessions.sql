-- Every session record, each agent's oldest first.
SELECT agent, record FROM sessions ORDER BY agent, seq
