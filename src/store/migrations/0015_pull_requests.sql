-- sitrep store, issue 22 parts 4 and 6: pull requests opened for approved fixes, and the score
-- band last written back to each alert's vendor.
-- IF NOT EXISTS: tests that roll a database back to an older schema version re-run this.

-- One row per pull / merge request sitrep opened or found for an approved diff. `dedup_key` is
-- the outbox row's, so a redelivery updates the same row.
CREATE TABLE IF NOT EXISTS pull_requests (
    id         INTEGER PRIMARY KEY,
    dedup_key  TEXT NOT NULL UNIQUE,
    alert_id   TEXT NOT NULL,
    forge      TEXT NOT NULL,                      -- github | gitlab
    api_url    TEXT NOT NULL,
    repo       TEXT NOT NULL,                      -- owner/name | project path or id
    number     INTEGER NOT NULL,                   -- PR number | MR iid
    url        TEXT NOT NULL,
    branch     TEXT NOT NULL,
    commit_id  TEXT NOT NULL,
    state      TEXT NOT NULL,                      -- open | merged | closed
    ticket     TEXT,                               -- the alert's ticket key when it was opened
    created    INTEGER NOT NULL,                   -- 1: sitrep opened it, 0: found and linked
    at         INTEGER NOT NULL,
    polled_at  INTEGER
);
CREATE INDEX IF NOT EXISTS pull_requests_alert ON pull_requests (alert_id);
CREATE INDEX IF NOT EXISTS pull_requests_open ON pull_requests (state);

-- The score band last queued as a vendor comment per alert (`score_back = true` sources).
-- `changes` counts the bands sent, so a band that comes back gets a fresh outbox key.
CREATE TABLE IF NOT EXISTS score_bands (
    alert_id TEXT PRIMARY KEY,
    band     TEXT NOT NULL,
    score    INTEGER NOT NULL,
    changes  INTEGER NOT NULL,
    at       INTEGER NOT NULL
);
