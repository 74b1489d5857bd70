-- What holds of set ?1 other than ?2 keep, live at ?3.
SELECT COALESCE(SUM(amount), 0.0) FROM budget_holds WHERE name = ?1 AND id != ?2 AND expires > ?3
