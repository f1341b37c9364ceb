-- sitrep store: the open queue's own order indexes (issue 19). Closed alerts score 0 and sit at
-- the end of `alerts_score` (and in a block of `alerts_status`), so the default queue's last
-- page skipped every one of them. These partial indexes hold only the rows that can be in the
-- default queue whatever the clock: an open status or one put away until a time, and not muted
-- for good. The default queue's WHERE carries the same condition (queue.rs `CANDIDATE`) so
-- SQLite can use them. Keep the two texts identical: the planner matches them term by term.

CREATE INDEX alerts_open_score ON alerts (score DESC, severity_rank DESC, sort_time DESC)
    WHERE (status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL)
      AND (suppressed_by IS NULL OR suppressed_until IS NOT NULL);
CREATE INDEX alerts_open_status ON alerts (status, severity_rank DESC, sort_time DESC)
    WHERE (status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL)
      AND (suppressed_by IS NULL OR suppressed_until IS NOT NULL);

-- The orders no full index serves (oldest, title, resource, account) would sort every open
-- alert for each page (3 s at 1M for "oldest"); these give them an index walk too. Each
-- expression is the order's term in queue.rs `order_terms`, word for word.
CREATE INDEX alerts_open_oldest ON alerts (coalesce(first_seen, sort_time))
    WHERE (status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL)
      AND (suppressed_by IS NULL OR suppressed_until IS NOT NULL);
CREATE INDEX alerts_open_title ON alerts (title COLLATE NOCASE)
    WHERE (status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL)
      AND (suppressed_by IS NULL OR suppressed_until IS NOT NULL);
CREATE INDEX alerts_open_resource ON alerts (coalesce(resource_name, resource_id, '') COLLATE NOCASE)
    WHERE (status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL)
      AND (suppressed_by IS NULL OR suppressed_until IS NOT NULL);
CREATE INDEX alerts_open_account ON alerts (coalesce(account, ''), severity_rank DESC, sort_time DESC)
    WHERE (status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL)
      AND (suppressed_by IS NULL OR suppressed_until IS NOT NULL);
