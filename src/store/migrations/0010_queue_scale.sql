-- sitrep store, version 10: queue queries that cost O(page) at a million alerts (issue 19).
--
-- 1. The raw payload and the vendor's remediation text move to `alert_body`, keyed by the
--    alert's rowid: read only when one alert is opened, so queue scans, counts and filters
--    never touch their pages. (`description` and `attack_json` stay: the scorer reads them.)
-- 2. `alert_counts` holds how many alerts there are per status, vendor and severity, kept by
--    triggers, so the default queue's count and its facets are sums over a few rows. Rows a
--    suppression mutes or whose status holds until a time (`special`) depend on the clock:
--    they are counted by the query itself, through the `alerts_special` partial index.
-- 3. `alert_tags` and `alert_cves` index the tags and CVE ids (kept by triggers from
--    `tags_json` and `cves_json`), so `tag:` and `cve:` filters are index look-ups.

CREATE TABLE alert_body (
    rowid       INTEGER PRIMARY KEY,               -- alerts.rowid
    remediation TEXT,
    raw_json    NOT NULL                           -- text, or packed (store/packed.rs)
);
INSERT INTO alert_body (rowid, remediation, raw_json)
    SELECT rowid, remediation, raw_json FROM alerts;
ALTER TABLE alerts DROP COLUMN remediation;
ALTER TABLE alerts DROP COLUMN raw_json;

CREATE TABLE alert_counts (
    status        TEXT NOT NULL,
    vendor        TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    special       INTEGER NOT NULL,                -- suppressed_by or status_until set
    n             INTEGER NOT NULL,
    PRIMARY KEY (status, vendor, severity_rank, special)
) WITHOUT ROWID;
INSERT INTO alert_counts (status, vendor, severity_rank, special, n)
    SELECT status, vendor, severity_rank,
           suppressed_by IS NOT NULL OR status_until IS NOT NULL, count(*)
    FROM alerts GROUP BY 1, 2, 3, 4;

CREATE INDEX alerts_special ON alerts (status_until, suppressed_until)
    WHERE suppressed_by IS NOT NULL OR status_until IS NOT NULL;

CREATE TABLE alert_tags (
    key   TEXT NOT NULL,                           -- lower(key): tags compare without ASCII case
    value TEXT NOT NULL,                           -- lower(value)
    alert INTEGER NOT NULL,                        -- alerts.rowid
    PRIMARY KEY (key, value, alert)
) WITHOUT ROWID;
CREATE INDEX alert_tags_alert ON alert_tags (alert);
INSERT OR IGNORE INTO alert_tags (key, value, alert)
    SELECT lower(j.key), lower(coalesce(j.value, '')), a.rowid
    FROM alerts a, json_each(CASE WHEN json_valid(a.tags_json) AND json_type(a.tags_json) = 'object'
                                  THEN a.tags_json ELSE '{}' END) j;

CREATE TABLE alert_cves (
    cve   TEXT NOT NULL,                           -- upper(id), as in cve_ids
    alert INTEGER NOT NULL,                        -- alerts.rowid
    PRIMARY KEY (cve, alert)
) WITHOUT ROWID;
CREATE INDEX alert_cves_alert ON alert_cves (alert);
INSERT OR IGNORE INTO alert_cves (cve, alert)
    SELECT upper(json_extract(j.value, '$.id')), a.rowid
    FROM alerts a, json_each(CASE WHEN json_valid(a.cves_json) AND json_type(a.cves_json) = 'array'
                                  THEN a.cves_json ELSE '[]' END) j
    WHERE json_type(j.value, '$.id') = 'text';

-- The triggers keep the three tables above in step with every write to `alerts`, whichever
-- code path makes it. The payload's row goes with its alert.
CREATE TRIGGER alerts_after_insert AFTER INSERT ON alerts
BEGIN
    INSERT INTO alert_counts (status, vendor, severity_rank, special, n)
        VALUES (new.status, new.vendor, new.severity_rank,
                new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT OR IGNORE INTO alert_tags (key, value, alert)
        SELECT lower(key), lower(coalesce(value, '')), new.rowid
        FROM json_each(CASE WHEN json_valid(new.tags_json) AND json_type(new.tags_json) = 'object'
                            THEN new.tags_json ELSE '{}' END);
    INSERT OR IGNORE INTO alert_cves (cve, alert)
        SELECT upper(json_extract(value, '$.id')), new.rowid
        FROM json_each(CASE WHEN json_valid(new.cves_json) AND json_type(new.cves_json) = 'array'
                            THEN new.cves_json ELSE '[]' END)
        WHERE json_type(value, '$.id') = 'text';
END;

CREATE TRIGGER alerts_after_delete AFTER DELETE ON alerts
BEGIN
    UPDATE alert_counts SET n = n - 1
        WHERE status = old.status AND vendor = old.vendor AND severity_rank = old.severity_rank
          AND special = (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL);
    DELETE FROM alert_tags WHERE alert = old.rowid;
    DELETE FROM alert_cves WHERE alert = old.rowid;
    DELETE FROM alert_body WHERE rowid = old.rowid;
END;

CREATE TRIGGER alerts_counts_update
AFTER UPDATE OF status, vendor, severity_rank, suppressed_by, status_until ON alerts
WHEN old.status IS NOT new.status OR old.vendor IS NOT new.vendor
  OR old.severity_rank IS NOT new.severity_rank
  OR (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL)
     IS NOT (new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL)
BEGIN
    UPDATE alert_counts SET n = n - 1
        WHERE status = old.status AND vendor = old.vendor AND severity_rank = old.severity_rank
          AND special = (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL);
    INSERT INTO alert_counts (status, vendor, severity_rank, special, n)
        VALUES (new.status, new.vendor, new.severity_rank,
                new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER alerts_tags_update AFTER UPDATE OF tags_json ON alerts
WHEN old.tags_json IS NOT new.tags_json
BEGIN
    DELETE FROM alert_tags WHERE alert = old.rowid;
    INSERT OR IGNORE INTO alert_tags (key, value, alert)
        SELECT lower(key), lower(coalesce(value, '')), new.rowid
        FROM json_each(CASE WHEN json_valid(new.tags_json) AND json_type(new.tags_json) = 'object'
                            THEN new.tags_json ELSE '{}' END);
END;

CREATE TRIGGER alerts_cves_update AFTER UPDATE OF cves_json ON alerts
WHEN old.cves_json IS NOT new.cves_json
BEGIN
    DELETE FROM alert_cves WHERE alert = old.rowid;
    INSERT OR IGNORE INTO alert_cves (cve, alert)
        SELECT upper(json_extract(value, '$.id')), new.rowid
        FROM json_each(CASE WHEN json_valid(new.cves_json) AND json_type(new.cves_json) = 'array'
                            THEN new.cves_json ELSE '[]' END)
        WHERE json_type(value, '$.id') = 'text';
END;
