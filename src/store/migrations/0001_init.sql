-- sitrep store, version 1: alerts, analyst history, full-text index.
-- Times are epoch milliseconds (UTC). Text columns hold vendor text verbatim (raw, unsanitized):
-- everything that prints it goes through sanitize.rs.

CREATE TABLE alerts (
    rowid           INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,          -- "<source>:<native_id>"
    source          TEXT NOT NULL,
    vendor          TEXT NOT NULL,                 -- prisma-cspm | prisma-compute | wiz | ...
    native_id       TEXT NOT NULL,
    category        TEXT NOT NULL,                 -- misconfiguration | ... | other(x)
    title           TEXT NOT NULL,
    policy_id       TEXT,
    policy_name     TEXT,
    vendor_severity TEXT,
    severity        TEXT NOT NULL,                 -- critical | high | medium | low | info | other(x)
    severity_rank   INTEGER NOT NULL,              -- 5 critical .. 1 info (other = 3)
    resource_id     TEXT,
    resource_name   TEXT,
    resource_type   TEXT,
    cloud           TEXT,
    account         TEXT,
    region          TEXT,
    tags_json       TEXT NOT NULL DEFAULT '{}',    -- {"env":"prod",...}
    internet_facing INTEGER,                       -- NULL unknown, 0/1
    open_ports      TEXT NOT NULL DEFAULT '',      -- "22,443"
    cves_json       TEXT NOT NULL DEFAULT '[]',
    cve_ids         TEXT NOT NULL DEFAULT '',      -- " CVE-2021-44228 CVE-... " (space padded)
    max_cvss        REAL,
    compliance_json TEXT NOT NULL DEFAULT '[]',
    first_seen      INTEGER,
    last_seen       INTEGER,
    vendor_updated  INTEGER,
    vendor_status   TEXT NOT NULL,
    content_hash    TEXT NOT NULL,                 -- sha256 of the normalized vendor fields
    has_controls    INTEGER NOT NULL DEFAULT 0,    -- vendor text carried escapes/bidi/zero-width
    -- analyst side: never touched by an import
    status          TEXT NOT NULL DEFAULT 'new',   -- new | acknowledged | in_progress | resolved | dismissed | snoozed
    status_reason   TEXT,
    status_note     TEXT,
    status_until    INTEGER,
    assignee        TEXT,
    ticket          TEXT,
    -- bookkeeping
    sort_time       INTEGER NOT NULL,              -- coalesce(last_seen, vendor_updated, first_seen, imported_at)
    imported_at     INTEGER NOT NULL,
    changed_at      INTEGER NOT NULL,              -- last time the vendor fields changed
    -- big text last: queue queries read the columns above without touching overflow pages
    description     TEXT,
    remediation     TEXT,
    attack_json     TEXT,
    raw_json        TEXT NOT NULL
);

-- Indexes serve the queue's order and the selective filters; low-cardinality columns
-- (category, cloud, region, source) are filtered while walking the queue index instead, which
-- keeps imports fast.
CREATE INDEX alerts_queue     ON alerts (severity_rank DESC, sort_time DESC);
CREATE INDEX alerts_recent    ON alerts (sort_time DESC);
CREATE INDEX alerts_status    ON alerts (status, severity_rank DESC, sort_time DESC);
CREATE INDEX alerts_vendor    ON alerts (vendor, severity_rank DESC, sort_time DESC);
CREATE INDEX alerts_account   ON alerts (account);
CREATE INDEX alerts_resource  ON alerts (resource_id);
CREATE INDEX alerts_policy    ON alerts (policy_id);

CREATE TABLE history (
    seq         INTEGER PRIMARY KEY,
    alert_id    TEXT NOT NULL REFERENCES alerts(id),
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,                     -- imported | vendor_update | status | note
    from_status TEXT,
    to_status   TEXT,
    reason      TEXT,
    note        TEXT
);
CREATE INDEX history_alert ON history (alert_id, seq);

-- Full-text search over what an analyst types into a filter: title, resource, policy.
CREATE VIRTUAL TABLE alerts_fts USING fts5(
    title, resource, policy,
    content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'
);
