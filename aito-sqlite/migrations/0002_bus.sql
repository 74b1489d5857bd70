-- The bus: durable channels as queues of rows.
--
-- `queue` names one queue: an agent inbox is its channel name (`channel:agent:<uuid>`, one
-- queue shared by every consumer of that agent); a group channel has one queue per
-- subscribing group (`channel:broadcast#<group>`). A row lives until it is acknowledged.
-- `holder` is the subscription that holds it (delivered, not yet acknowledged), `consumer`
-- that subscription's consumer name (so a restarted consumer takes its rows back at once),
-- `held_until` when another subscriber may take it over; `deliveries` counts the times it was
-- handed out (more than zero: a redelivery).
CREATE TABLE messages (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    queue      TEXT NOT NULL,
    channel    TEXT NOT NULL,
    envelope   TEXT NOT NULL,
    published  INTEGER NOT NULL,
    holder     TEXT,
    consumer   TEXT,
    held_until INTEGER,
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_queue ON messages (queue, seq);
CREATE INDEX messages_by_holder ON messages (holder) WHERE holder IS NOT NULL;

-- The groups subscribed to each group channel (broadcast, head, clevel): a publication adds
-- one row per group.
CREATE TABLE groups (
    channel TEXT NOT NULL,
    grp     TEXT NOT NULL,
    PRIMARY KEY (channel, grp)
) WITHOUT ROWID;
