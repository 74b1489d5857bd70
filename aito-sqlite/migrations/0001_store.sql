-- The state store: one table per family of records. Times are milliseconds since the Unix
-- epoch on the company's clock; `expires` is NULL for records without a time to live.

CREATE TABLE states (
    agent   TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
) WITHOUT ROWID;

-- Newest last; trimmed to the `keep` of each append.
CREATE TABLE history (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX history_by_agent ON history (agent, seq);

-- `ord` is the creation order, so listings are oldest first even for equal timestamps.
CREATE TABLE decisions (
    ord     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT NOT NULL UNIQUE,
    status  TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
CREATE INDEX decisions_by_status ON decisions (status, ord);

CREATE TABLE marks (
    key     TEXT PRIMARY KEY,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX marks_by_expiry ON marks (expires);

CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE counters (
    key     TEXT PRIMARY KEY,
    value   REAL NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX counters_by_expiry ON counters (expires);

CREATE TABLE kv (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    expires INTEGER
) WITHOUT ROWID;

CREATE TABLE logs (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    name  TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX logs_by_name ON logs (name, seq);

CREATE TABLE dead_letters (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    agent  TEXT NOT NULL,
    letter TEXT NOT NULL
);
CREATE INDEX dead_letters_by_agent ON dead_letters (agent, seq);

CREATE TABLE statuses (
    agent TEXT PRIMARY KEY,
    doc   TEXT NOT NULL
) WITHOUT ROWID;
