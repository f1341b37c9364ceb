-- sitrep store: tag and account filters that cost a page at a million alerts (issue 19).
--
-- 1. `alert_tag_counts` and `alert_account_counts` keep how many alerts there are per tag (or
--    account) and per status, vendor, severity and `special`, as `alert_counts` does without
--    them (migration 0010), so `tag:` and `account:` counts (alone or with status, vendor and
--    severity terms) are sums over a few rows instead of reading up to 10,000 matches. The
--    triggers below compute a row's tags from its `tags_json` exactly as `alert_tags` does
--    (lower-cased, one per key and value), and read only `old`/`new`: they do not depend on
--    the order SQLite fires them in next to 0010's triggers, nor on `alert_tags`' indexes
--    (the first import drops those while it loads).
-- 2. `alerts_open_account_score`: the open queue by account in score order, so an
--    `account:` page in the default order is an index seek and a walk of its first rows
--    (queue.rs `driving_index`). Its WHERE is 0012's, word for word.

CREATE TABLE alert_tag_counts (
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    status        TEXT NOT NULL,
    vendor        TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    special       INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (key, value, status, vendor, severity_rank, special)
) WITHOUT ROWID;
INSERT INTO alert_tag_counts (key, value, status, vendor, severity_rank, special, n)
    SELECT t.key, t.value, a.status, a.vendor, a.severity_rank,
           a.suppressed_by IS NOT NULL OR a.status_until IS NOT NULL, count(*)
    FROM alert_tags t JOIN alerts a ON a.rowid = t.alert
    GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TABLE alert_account_counts (
    account       TEXT NOT NULL,
    status        TEXT NOT NULL,
    vendor        TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    special       INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (account, status, vendor, severity_rank, special)
) WITHOUT ROWID;
INSERT INTO alert_account_counts (account, status, vendor, severity_rank, special, n)
    SELECT account, status, vendor, severity_rank,
           suppressed_by IS NOT NULL OR status_until IS NOT NULL, count(*)
    FROM alerts WHERE account IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5;

CREATE INDEX alerts_open_account_score ON alerts (account, score DESC, severity_rank DESC, sort_time DESC)
    WHERE (status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL)
      AND (suppressed_by IS NULL OR suppressed_until IS NOT NULL);

CREATE TRIGGER alerts_filter_counts_insert AFTER INSERT ON alerts
BEGIN
    INSERT INTO alert_tag_counts (key, value, status, vendor, severity_rank, special, n)
        SELECT DISTINCT lower(key), lower(coalesce(value, '')), new.status, new.vendor,
               new.severity_rank, new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL, 1
        FROM json_each(CASE WHEN json_valid(new.tags_json) AND json_type(new.tags_json) = 'object'
                            THEN new.tags_json ELSE '{}' END)
        WHERE true
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO alert_account_counts (account, status, vendor, severity_rank, special, n)
        SELECT new.account, new.status, new.vendor, new.severity_rank,
               new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL, 1
        WHERE new.account IS NOT NULL
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER alerts_filter_counts_delete AFTER DELETE ON alerts
BEGIN
    UPDATE alert_tag_counts SET n = n - 1
        WHERE status = old.status AND vendor = old.vendor AND severity_rank = old.severity_rank
          AND special = (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL)
          AND (key, value) IN (
              SELECT lower(key), lower(coalesce(value, ''))
              FROM json_each(CASE WHEN json_valid(old.tags_json) AND json_type(old.tags_json) = 'object'
                                  THEN old.tags_json ELSE '{}' END));
    UPDATE alert_account_counts SET n = n - 1
        WHERE account = old.account AND status = old.status AND vendor = old.vendor
          AND severity_rank = old.severity_rank
          AND special = (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL);
END;

-- One trigger for every change that moves a row between counts (its facets, its tags, its
-- account): the old row's counts down, the new row's up.
CREATE TRIGGER alerts_filter_counts_update
AFTER UPDATE OF status, vendor, severity_rank, suppressed_by, status_until, tags_json, account ON alerts
WHEN old.status IS NOT new.status OR old.vendor IS NOT new.vendor
  OR old.severity_rank IS NOT new.severity_rank
  OR (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL)
     IS NOT (new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL)
  OR old.tags_json IS NOT new.tags_json OR old.account IS NOT new.account
BEGIN
    UPDATE alert_tag_counts SET n = n - 1
        WHERE status = old.status AND vendor = old.vendor AND severity_rank = old.severity_rank
          AND special = (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL)
          AND (key, value) IN (
              SELECT lower(key), lower(coalesce(value, ''))
              FROM json_each(CASE WHEN json_valid(old.tags_json) AND json_type(old.tags_json) = 'object'
                                  THEN old.tags_json ELSE '{}' END));
    INSERT INTO alert_tag_counts (key, value, status, vendor, severity_rank, special, n)
        SELECT DISTINCT lower(key), lower(coalesce(value, '')), new.status, new.vendor,
               new.severity_rank, new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL, 1
        FROM json_each(CASE WHEN json_valid(new.tags_json) AND json_type(new.tags_json) = 'object'
                            THEN new.tags_json ELSE '{}' END)
        WHERE true
        ON CONFLICT DO UPDATE SET n = n + 1;
    UPDATE alert_account_counts SET n = n - 1
        WHERE account = old.account AND status = old.status AND vendor = old.vendor
          AND severity_rank = old.severity_rank
          AND special = (old.suppressed_by IS NOT NULL OR old.status_until IS NOT NULL);
    INSERT INTO alert_account_counts (account, status, vendor, severity_rank, special, n)
        SELECT new.account, new.status, new.vendor, new.severity_rank,
               new.suppressed_by IS NOT NULL OR new.status_until IS NOT NULL, 1
        WHERE new.account IS NOT NULL
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
