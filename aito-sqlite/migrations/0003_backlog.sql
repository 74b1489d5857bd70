-- The newest envelopes of each group channel (broadcast, head, clevel), so a group that
-- subscribes for the first time gets what was published before it existed.
CREATE TABLE backlog (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    channel   TEXT NOT NULL,
    envelope  TEXT NOT NULL,
    published INTEGER NOT NULL
);
CREATE INDEX backlog_by_channel ON backlog (channel, seq);
