-- Budget holds: money a session or worker holds against a limit while it runs (`name` is the
-- set of holds of one scope and window), released when its cost is booked or lapsed at
-- `expires` (ms) when its daemon died first.
CREATE TABLE budget_holds (
    name    TEXT NOT NULL,
    id      TEXT NOT NULL,
    amount  REAL NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (name, id)
);
