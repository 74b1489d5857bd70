-- Deletes the holds of set ?1 lapsed at ?2.
DELETE FROM budget_holds WHERE name = ?1 AND expires <= ?2
