-- One acknowledged row.
DELETE FROM messages WHERE seq = ?1
