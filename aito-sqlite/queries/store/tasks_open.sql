-- Through the partial index: closed tasks are not read.
SELECT version, doc FROM tasks WHERE assignee = ?1 AND open = 1 ORDER BY ord
