-- The fencing token of each lease's latest term: raised by every take of the lease (not by a
-- renewal), kept when the lease lapses or is released, so tokens only grow.
CREATE TABLE lease_terms (
    name TEXT PRIMARY KEY,
    term INTEGER NOT NULL
) WITHOUT ROWID;
