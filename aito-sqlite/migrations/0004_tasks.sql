-- The task ledger. `ord` is the creation order, so listings are oldest first; `open` is 1 until
-- the task is done or cancelled, and prompts read only through the partial index on it, so
-- closed tasks are never read to build one.
CREATE TABLE tasks (
    ord      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT NOT NULL UNIQUE,
    assignee TEXT NOT NULL,
    open     INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    doc      TEXT NOT NULL
);
CREATE INDEX tasks_open_by_assignee ON tasks (assignee, ord) WHERE open = 1;
