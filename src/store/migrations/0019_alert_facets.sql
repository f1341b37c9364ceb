-- sitrep store: text and CVE counts that do not read the alerts' rows (issue 19).
--
-- A count driven by a text or CVE term reads its matches in rowid order from that term's own
-- index and tests each against the default queue. Tested on `alerts`, each match read the
-- alert's row, about 1.3 KB, so counting 5,000 matches of a word on one alert in eight read
-- some 13,000 pages at a million alerts. `alert_facets` keeps, per alert, only what the kept
-- counts are split by (status, vendor, severity, `special` as in `alert_counts`): about 20
-- bytes a row, so the same count reads a few hundred pages. Kept by the triggers below from
-- the same columns as `alert_counts` (migration 0010), whatever code path writes `alerts`.

CREATE TABLE alert_facets (
    alert         INTEGER PRIMARY KEY,              -- alerts.rowid
    status        TEXT NOT NULL,
    vendor        TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    special       INTEGER NOT NULL                  -- suppressed_by or status_until set
);
INSERT INTO alert_facets (alert, status, vendor, severity_rank, special)
    SELECT rowid, status, vendor, severity_rank,
           suppressed_by IS NOT NULL OR status_until IS NOT NULL
    FROM alerts ORDER BY rowid;

CREATE TRIGGER alerts_facets_insert AFTER INSERT ON alerts
BEGIN
    INSERT INTO alert_facets (alert, status, vendor, severity_rank, special)
        VALUES (new.rowid, new.status, new.vendor, new.severity_rank,
                new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL);
END;

CREATE TRIGGER alerts_facets_delete AFTER DELETE ON alerts
BEGIN
    DELETE FROM alert_facets WHERE alert = old.rowid;
END;

CREATE TRIGGER alerts_facets_update
AFTER UPDATE OF status, vendor, severity_rank, suppressed_by, status_until ON alerts
WHEN old.status IS NOT new.status OR old.vendor IS NOT new.vendor
  OR old.severity_rank IS NOT new.severity_rank
  OR (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL)
     IS NOT (new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL)
BEGIN
    UPDATE alert_facets
        SET status = new.status, vendor = new.vendor, severity_rank = new.severity_rank,
            special = new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL
        WHERE alert = new.rowid;
END;
