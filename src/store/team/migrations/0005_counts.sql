-- sitrep team store, version 5: counts kept per status, vendor, severity and whether the row
-- is put away until a time (`special`), as the SQLite store's `alert_counts` (its migration
-- 0010), so `sitrep list --direct` counts the whole queue, or a status, vendor or severity
-- filter, by summing a few rows instead of reading every open alert (437 ms at a million).
-- The counter rows are hot, but every transaction that writes `alerts` already holds the
-- change lock (0001's alerts_change_lock): writers are serialized before they reach them, so
-- they add no waiting and no deadlock. The team store knows no suppressions: `special` is
-- `status_until IS NOT NULL` alone (src/store/team/queue.rs counts those rows one by one).
CREATE TABLE alert_counts (
    status        text NOT NULL,
    vendor        text NOT NULL,
    severity_rank smallint NOT NULL,
    special       boolean NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (status, vendor, severity_rank, special)
);
INSERT INTO alert_counts (status, vendor, severity_rank, special, n)
    SELECT status, vendor, severity_rank, status_until IS NOT NULL, count(*)
    FROM alerts GROUP BY 1, 2, 3, 4;

-- SECURITY DEFINER: the counts are the schema owner's bookkeeping, kept whoever writes an
-- alert; an analyst's role (docs/team.md, Roles) has no grant on this table, and a read-only
-- role cannot reach the trigger at all (its write to `alerts` is refused first).
CREATE FUNCTION alert_counts_keep() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE alert_counts SET n = n - 1
        WHERE status = OLD.status AND vendor = OLD.vendor
          AND severity_rank = OLD.severity_rank AND special = (OLD.status_until IS NOT NULL);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO alert_counts (status, vendor, severity_rank, special, n)
        VALUES (NEW.status, NEW.vendor, NEW.severity_rank, NEW.status_until IS NOT NULL, 1)
        ON CONFLICT (status, vendor, severity_rank, special)
        DO UPDATE SET n = alert_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER alerts_counts_insert_delete AFTER INSERT OR DELETE ON alerts
    FOR EACH ROW EXECUTE FUNCTION alert_counts_keep();
CREATE TRIGGER alerts_counts_update AFTER UPDATE ON alerts
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.vendor IS DISTINCT FROM NEW.vendor
          OR OLD.severity_rank IS DISTINCT FROM NEW.severity_rank
          OR (OLD.status_until IS NULL) <> (NEW.status_until IS NULL))
    EXECUTE FUNCTION alert_counts_keep();

-- The rows put away until a time, counted one by one (their openness depends on the clock).
CREATE INDEX alerts_special ON alerts (status_until) WHERE status_until IS NOT NULL;
