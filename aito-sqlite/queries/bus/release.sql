-- A subscription ended: everything it held, dropped or not, is free at once.
UPDATE messages SET holder = NULL, held_until = NULL WHERE holder IN (?1, ?2)
