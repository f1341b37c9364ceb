-- sitrep store: when each source last ran a full reconciliation, and which incremental filters
-- its vendor refused (never used again for that source; `sitrep source status` shows them).

ALTER TABLE source_state ADD COLUMN last_full_at INTEGER;
ALTER TABLE source_state ADD COLUMN failed_filters_json TEXT;  -- [{filter, at, detail}]
