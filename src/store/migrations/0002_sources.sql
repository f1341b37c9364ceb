-- sitrep store, version 2: per-source sync state (watermarks for incremental sync).

CREATE TABLE source_state (
    name            TEXT PRIMARY KEY,
    vendor          TEXT NOT NULL,
    watermark       INTEGER,          -- newest vendor update time seen by a successful run
    last_run_at     INTEGER,
    last_success_at INTEGER,
    last_error      TEXT,             -- one line, no secrets; NULL after a success
    last_stats_json TEXT              -- what the last run did
);
