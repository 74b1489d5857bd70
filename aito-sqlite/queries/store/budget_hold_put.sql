-- Holds ?3 in set ?1 under id ?2 until ?4 (replacing a hold of the same id).
INSERT INTO budget_holds (name, id, amount, expires) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (name, id) DO UPDATE SET amount = excluded.amount, expires = excluded.expires
