-- Compare-and-set: writes only while the stored version is still ?4.
UPDATE decisions
SET status = ?2, version = ?4 + 1, doc = ?3,
    proposer = json_extract(?3, '$.proposer'), reviewers = json_extract(?3, '$.reviewers')
WHERE id = ?1 AND version = ?4
