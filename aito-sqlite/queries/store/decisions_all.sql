SELECT version, doc FROM decisions ORDER BY ord
