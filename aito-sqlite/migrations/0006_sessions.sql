-- Session records: the newest of each agent, one row per handled trigger. `seq` is the order
-- they were first kept in; a record kept again for the same trigger replaces its row's record
-- and keeps its place.
CREATE TABLE sessions (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    agent   TEXT NOT NULL,
    trigger TEXT NOT NULL,
    record  TEXT NOT NULL,
    UNIQUE (agent, trigger)
);
CREATE INDEX sessions_by_agent ON sessions (agent, seq);
