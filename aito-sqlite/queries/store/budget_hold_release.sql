-- Releases hold ?2 of set ?1.
DELETE FROM budget_holds WHERE name = ?1 AND id = ?2
