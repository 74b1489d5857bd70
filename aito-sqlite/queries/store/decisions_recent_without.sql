-- Of the newest ?2 decisions with status ?1 (read from the index alone), those agent ?3 did not
-- propose and role ?4 does not review, oldest first: only their documents are read.
SELECT d.version, d.doc FROM (
    SELECT ord FROM decisions WHERE status = ?1 ORDER BY ord DESC LIMIT ?2
) AS w
JOIN decisions AS d ON d.ord = w.ord
WHERE d.proposer IS NOT ?3
  AND NOT EXISTS (SELECT 1 FROM json_each(d.reviewers) WHERE value = ?4)
ORDER BY d.ord
