-- Who proposed each decision and who reviews it, beside its document (and derived from it by
-- every write), so that a listing can leave out the decisions an agent took part in without
-- reading their documents: `proposer` is the proposer's agent id, `reviewers` the JSON array
-- of the reviewing roles.
ALTER TABLE decisions ADD COLUMN proposer TEXT;
ALTER TABLE decisions ADD COLUMN reviewers TEXT;
UPDATE decisions
SET proposer = json_extract(doc, '$.proposer'), reviewers = json_extract(doc, '$.reviewers');
