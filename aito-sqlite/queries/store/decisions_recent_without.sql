-- Of the newest ?2 decisions with status ?1 (?2 > 0), those agent ?3 did not propose and role
-- ?4 (its name as a JSON string) does not review, oldest first. The window starts at the ?2-th
-- newest; the scan of it reads the parties from the index by status and opens only the rows
-- it keeps. Role names are `[a-z0-9_-]`, so the quoted name occurs in the JSON array of
-- reviewers only as an element.
SELECT version, doc FROM decisions
WHERE status = ?1
  AND ord >= coalesce(
      (SELECT ord FROM decisions WHERE status = ?1 ORDER BY ord DESC LIMIT 1 OFFSET ?2 - 1), 0)
  AND proposer IS NOT ?3
  AND coalesce(instr(reviewers, ?4), 0) = 0
ORDER BY ord
