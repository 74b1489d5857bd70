INSERT INTO decisions (id, status, version, doc, proposer, reviewers)
VALUES (?1, ?2, 1, ?3, json_extract(?3, '$.proposer'), json_extract(?3, '$.reviewers'))
ON CONFLICT (id) DO NOTHING
