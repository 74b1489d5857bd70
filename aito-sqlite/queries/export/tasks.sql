-- Every task, oldest first.
SELECT doc FROM tasks ORDER BY ord
