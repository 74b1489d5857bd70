DELETE FROM messages WHERE seq = ?1
