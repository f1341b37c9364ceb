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
