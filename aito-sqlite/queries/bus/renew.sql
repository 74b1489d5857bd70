UPDATE messages SET held_until = ?2 WHERE holder = ?1
