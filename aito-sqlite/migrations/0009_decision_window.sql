-- A window of the newest decisions of a status is told apart by its parties from the index
-- alone: the index by status carries who proposed each decision and who reviews it, so only
-- the documents a listing keeps are read.
DROP INDEX decisions_by_status;
CREATE INDEX decisions_by_status ON decisions (status, ord, proposer, reviewers);
