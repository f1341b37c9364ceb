-- sitrep team store, version 3: the team's audit entries reach the SIEM (docs/siem.md,
-- docs/team.md). As in the SQLite store (migration 0014), a trigger on audit_log owes every
-- entry to every SIEM destination in the same transaction as the entry, so an outage of the
-- SIEM or a crash loses nothing.
--
-- `siem_destinations` is the team's: each sitrep with `[[siem]]` tables adds their names when
-- it connects (never removes: an analyst without them must not stop the team's forwarding;
-- removing one is an owner's `DELETE FROM siem_destinations WHERE name = '…'`). A worker only
-- takes a destination's rows when its own config has that destination (src/store/team/outbox.rs).
CREATE TABLE siem_destinations (
    name     text PRIMARY KEY,
    added_by text NOT NULL,
    added_at bigint NOT NULL
);

-- The payload is the entry as `dispatch::siem::Entry` reads it (detail as JSON when it is).
-- `alert_id` is NULL on purpose: rows of one destination with the same alert_id go out in
-- order, so a destination receives the entries in seq order. `sitrep store copy` sets
-- sitrep.copying: entries copied from an analyst's cache were forwarded from that cache.
CREATE FUNCTION audit_log_siem() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    detail json;
BEGIN
    IF coalesce(current_setting('sitrep.copying', true), '') = 'on' THEN
        RETURN NEW;
    END IF;
    BEGIN
        detail := NEW.detail::json;
    EXCEPTION WHEN others THEN
        detail := to_json(NEW.detail);
    END;
    INSERT INTO outbox (dedup_key, created_at, actor, alert_id, kind, destination, payload,
                        next_attempt_at)
    SELECT 'siem:' || d.name || ':' || NEW.seq, NEW.at, NEW.actor, NULL, 'siem',
           'siem:' || d.name,
           json_build_object('seq', NEW.seq, 'at', NEW.at, 'actor', NEW.actor,
                             'action', NEW.action, 'subject', NEW.subject,
                             'detail', detail, 'mac', NEW.mac)::text,
           NEW.at
    FROM siem_destinations d
    ON CONFLICT (dedup_key) DO NOTHING;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_siem AFTER INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_siem();

-- The worker's "an earlier row of this destination is pending" check stays an index seek
-- while a SIEM outage leaves thousands of rows waiting.
CREATE INDEX outbox_pending_destination ON outbox (destination, id) WHERE state = 'pending';
