-- sitrep store, version 3: small named values the console keeps between runs
-- (e.g. when the analyst last looked at the queue, to mark what is new since).
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
