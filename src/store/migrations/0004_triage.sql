-- sitrep store, version 4: prioritization. Scores and the facts behind them are written by the
-- scorer (at import and on rescore), never by the vendor mapping or by analyst decisions.

ALTER TABLE alerts ADD COLUMN score INTEGER NOT NULL DEFAULT 0;        -- 0..=100
ALTER TABLE alerts ADD COLUMN scored_at INTEGER;                        -- "now" the score was computed for
ALTER TABLE alerts ADD COLUMN kev INTEGER NOT NULL DEFAULT 0;          -- any CVE in CISA KEV
ALTER TABLE alerts ADD COLUMN epss REAL;                                -- highest EPSS probability of its CVEs
ALTER TABLE alerts ADD COLUMN stage_mask INTEGER NOT NULL DEFAULT 0;   -- attack-path stages: 1 exposure, 2 exploitable, 4 privilege, 8 data
ALTER TABLE alerts ADD COLUMN vendor_path INTEGER NOT NULL DEFAULT 0;  -- vendor graph context asserts a path
ALTER TABLE alerts ADD COLUMN group_key TEXT;                           -- normalized resource key (correlation)
ALTER TABLE alerts ADD COLUMN suppressed_by INTEGER;                    -- suppressions.id muting it
ALTER TABLE alerts ADD COLUMN suppressed_until INTEGER;                 -- that rule's expiry (NULL: none)

-- The default queue's order: its first page is an index walk.
CREATE INDEX alerts_score ON alerts (score DESC, severity_rank DESC, sort_time DESC);
CREATE INDEX alerts_group ON alerts (group_key);

CREATE TABLE kev (
    cve            TEXT PRIMARY KEY,
    vendor_project TEXT NOT NULL,
    product        TEXT NOT NULL,
    name           TEXT NOT NULL,
    date_added     TEXT NOT NULL,     -- YYYY-MM-DD
    due_date       TEXT NOT NULL,
    ransomware     INTEGER NOT NULL   -- knownRansomwareCampaignUse = Known
) WITHOUT ROWID;

CREATE TABLE epss (
    cve        TEXT PRIMARY KEY,
    epss       REAL NOT NULL,
    percentile REAL NOT NULL
) WITHOUT ROWID;

-- One row per feed ('kev', 'epss'): what was loaded, from where, when.
CREATE TABLE intel_meta (
    feed        TEXT PRIMARY KEY,
    version     TEXT NOT NULL,        -- KEV catalogVersion / EPSS model_version
    released    TEXT NOT NULL,        -- KEV dateReleased / EPSS score_date
    entries     INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    origin      TEXT NOT NULL         -- file path or URL
);

CREATE TABLE suppressions (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,         -- policy | resource | account | tag | vendor | filter
    value      TEXT NOT NULL,
    filter     TEXT NOT NULL,         -- the filter-language expression applied
    reason     TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    removed_at INTEGER,
    removed_by TEXT
);

-- Key/value bookkeeping: 'scoring_fingerprint' (model + weights the scores were computed with),
-- 'scored_at' (when the last full or ageing rescore ran).
CREATE TABLE triage_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
