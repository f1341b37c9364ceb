-- sitrep store, version 6: decisions that leave the machine.
-- outbox: one row per delivery a decision owes (vendor write-back, ticket, notification, patch),
-- committed in the same transaction as the decision itself. `dedup_key` is stable for the
-- decision and destination, so enqueueing twice is a no-op and receivers can de-duplicate.

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    dedup_key       TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    alert_id        TEXT,
    kind            TEXT NOT NULL,                 -- vendor | ticket | ticket_comment | notify | patch
    destination     TEXT NOT NULL,                 -- source name, jira | servicenow, slack | teams | webhook:<name>, iac repo
    payload         TEXT NOT NULL,                 -- JSON: what to deliver (never a secret)
    state           TEXT NOT NULL DEFAULT 'pending', -- pending | done | failed | unsupported | dropped
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    result          TEXT,                          -- e.g. the ticket key
    done_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_alert ON outbox (alert_id);

-- Tickets sitrep opened or linked, one per fingerprint (resource group).
CREATE TABLE tickets (
    fingerprint TEXT PRIMARY KEY,
    system      TEXT NOT NULL,                     -- jira | servicenow
    key         TEXT NOT NULL,                     -- SEC-17 | INC0010023
    native_id   TEXT NOT NULL,                     -- issue id | sys_id
    url         TEXT NOT NULL,
    status      TEXT,
    done        INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,                  -- 1: sitrep created it, 0: found and linked
    at          INTEGER NOT NULL,
    polled_at   INTEGER
);

-- Approvals and rejections of a remediation diff, bound to the diff's sha256.
CREATE TABLE approvals (
    seq         INTEGER PRIMARY KEY,
    alert_id    TEXT NOT NULL REFERENCES alerts(id),
    diff_sha256 TEXT NOT NULL,
    verdict     TEXT NOT NULL,                     -- request | approve | reject
    actor       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    note        TEXT
);
CREATE INDEX approvals_alert ON approvals (alert_id, seq);
