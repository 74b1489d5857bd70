-- Compare-and-set: writes only while the stored version is still ?4.
UPDATE tasks SET open = ?2, version = ?4 + 1, doc = ?3 WHERE id = ?1 AND version = ?4
