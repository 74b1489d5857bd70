-- A delivery dropped without an acknowledgement: no longer kept fresh by holder ?3, it can be
-- taken by anyone of the group from ?2 on (?4 marks it as dropped by that holder).
UPDATE messages SET holder = ?4, held_until = ?2 WHERE seq = ?1 AND holder = ?3
