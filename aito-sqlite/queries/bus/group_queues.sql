SELECT channel || '#' || grp FROM groups
