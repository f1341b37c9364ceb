-- sitrep store: the open queue's score index carries what a page's filter tests (issue 19).
--
-- A text filter matching many alerts walks `alerts_open_score` in order and tests each row
-- (store/words.rs). With the index holding only the order, each row tested was a read of the
-- alert's own ~1.3 KB row, scattered over the table: ~400 page reads for a page of a word on
-- one alert in eight. This index also holds the columns the open-queue terms and a text term
-- read, so SQLite tests them on the index entry (its "deferred seek") and reads the table row
-- only for the rows a page returns. The order's tiebreak `rowid` is written as a column
-- before them: the index still yields (score, severity, time, rowid) order.

DROP INDEX alerts_open_score;
CREATE INDEX alerts_open_score ON alerts (score DESC, severity_rank DESC, sort_time DESC, rowid,
        status, status_until, suppressed_by, suppressed_until, vendor,
        title, resource_id, resource_name, resource_type, policy_id, policy_name)
    WHERE (status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL)
      AND (suppressed_by IS NULL OR suppressed_until IS NOT NULL);
