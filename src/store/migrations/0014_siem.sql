-- SIEM forwarding (docs/siem.md): every audit entry is owed to every configured SIEM
-- destination. The rows are written by a trigger on audit_log, so they commit in the same
-- transaction as the entry whatever code appended it (a decision, a delivery, a model call,
-- a status sitrep set itself): an outage of the SIEM, or a crash, loses nothing.
--
-- `siem_destinations` mirrors the `[[siem]]` tables of the config; `Store::set_siem_destinations`
-- rewrites it when a command or the console starts with a config. A destination added later
-- receives the entries written from then on, not the older ones.
--
-- IF NOT EXISTS throughout: tests that take a database back to an older schema with the
-- UNDO_* scripts (which predate this one) re-run the migrations above it.
CREATE TABLE IF NOT EXISTS siem_destinations (
    name TEXT PRIMARY KEY
);

-- One outbox row per entry and destination. `alert_id` is NULL on purpose: the worker keeps
-- rows of one destination with the same alert_id in order, so a destination receives the
-- entries in seq order. The payload is the entry as stored (detail as JSON), never a secret
-- (the audit detail carries none).
CREATE TRIGGER IF NOT EXISTS audit_log_siem AFTER INSERT ON audit_log
BEGIN
    INSERT OR IGNORE INTO outbox (dedup_key, created_at, actor, alert_id, kind, destination,
                                  payload, next_attempt_at)
    SELECT 'siem:' || d.name || ':' || NEW.seq, NEW.at, NEW.actor, NULL, 'siem',
           'siem:' || d.name,
           json_object('seq', NEW.seq, 'at', NEW.at, 'actor', NEW.actor, 'action', NEW.action,
                       'subject', NEW.subject,
                       'detail', CASE WHEN json_valid(NEW.detail) THEN json(NEW.detail)
                                      ELSE NEW.detail END,
                       'mac', NEW.mac),
           NEW.at
    FROM siem_destinations d;
END;

-- The worker's "an earlier row of this destination is still pending" check, an index seek
-- instead of a scan of every pending row (a SIEM outage can leave thousands waiting).
CREATE INDEX IF NOT EXISTS outbox_pending_destination ON outbox (destination, id) WHERE state = 'pending';
