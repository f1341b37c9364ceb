-- sitrep team store, version 1 (PostgreSQL): the queue a SOC on shift shares (docs/team.md).
-- Times are epoch milliseconds (UTC), as in the SQLite store. Text from vendors is stored
-- verbatim; everything that prints it sanitizes it.
--
-- Every change anyone makes takes a number from change_seq and writes it into the row's
-- `seq`: a console pulls "everything after the seq I have" (alerts, history, approvals,
-- tickets), and LISTEN sitrep_changes wakes it when a transaction commits.
--
-- A pull skips nothing only if seq order is commit order: a transaction that took seq 10 and
-- committed after one that took seq 11 would be missed by a replica that pulled in between.
-- So every transaction that writes a table with a seq holds pg_advisory_xact_lock(CHANGE_LOCK)
-- (src/store/team/feed.rs; 0x6368616e6765 is "change") from its FIRST statement to its
-- commit: writers take seqs and commit one at a time, in the same order. The code takes it
-- first thing; the trigger below takes it again (re-entrant) on any write that reaches these
-- tables without it, so a forgotten path is serialized too rather than silently racing.

CREATE SEQUENCE change_seq;

CREATE TABLE alerts (
    id            text PRIMARY KEY,               -- "<source>:<native_id>"
    source        text NOT NULL,
    vendor        text NOT NULL,                  -- the vendor kit that maps raw
    raw           text NOT NULL,                  -- the vendor's object verbatim; each client maps it
    content_hash  text NOT NULL,                  -- a push that changes no vendor field writes nothing
    score         double precision NOT NULL DEFAULT 0,  -- the publisher's priority score (next's order)
    severity_rank smallint NOT NULL DEFAULT 3,
    -- analyst side: written by decisions and claims, never by a push
    status        text NOT NULL DEFAULT 'new',    -- the SQLite store's status words
    status_reason text,
    status_note   text,
    status_until  bigint,
    status_by     text,
    status_at     bigint,
    ticket        text,
    version       bigint NOT NULL DEFAULT 0,      -- +1 per analyst change: a replayed decision's base
    claimed_by    text,
    claimed_at    bigint,
    claim_until   bigint,
    claim_note    text,
    imported_at   bigint NOT NULL,
    seq           bigint NOT NULL DEFAULT nextval('change_seq'),  -- the last change of any kind
    vendor_seq    bigint NOT NULL DEFAULT 0       -- the last change of raw (a pull sends raw only then)
);
CREATE INDEX alerts_seq ON alerts (seq);
-- Claims that hold (`claim --list`, `store status`): a few rows among a million.
CREATE INDEX alerts_claimed ON alerts (claim_until) WHERE claimed_by IS NOT NULL;
-- `next`: the best open alert; the claim test is on the rows this index walks.
CREATE INDEX alerts_next ON alerts (score DESC, id) WHERE status IN ('new', 'acknowledged');

-- What happened to each alert (decisions, claims, notes, deliveries), in order.
CREATE TABLE history (
    seq      bigint PRIMARY KEY DEFAULT nextval('change_seq'),
    alert_id text NOT NULL REFERENCES alerts (id),
    at       bigint NOT NULL,
    actor    text NOT NULL,
    kind     text NOT NULL,
    from_status text,                              -- a status line: the change it made
    to_status   text,
    reason   text,
    note     text
);
CREATE INDEX history_alert ON history (alert_id, seq);

-- Decisions applied, by the id their client gave them before sending: a decision replayed
-- after a crash or an outage is found here and not applied twice.
CREATE TABLE decisions (
    decision_id text PRIMARY KEY,
    seq         bigint NOT NULL DEFAULT nextval('change_seq'),
    alert_id    text NOT NULL REFERENCES alerts (id),
    actor       text NOT NULL,
    at          bigint NOT NULL,
    action      text NOT NULL,
    body        text NOT NULL                      -- the decision as JSON (never a secret)
);
CREATE INDEX decisions_seq ON decisions (seq);
CREATE INDEX decisions_at ON decisions (at);

CREATE TABLE approvals (
    seq         bigint PRIMARY KEY DEFAULT nextval('change_seq'),
    alert_id    text NOT NULL REFERENCES alerts (id),
    diff_sha256 text NOT NULL,
    verdict     text NOT NULL,                     -- request | approve | reject
    actor       text NOT NULL,
    at          bigint NOT NULL,
    note        text
);
CREATE INDEX approvals_alert ON approvals (alert_id, seq);

-- Deliveries owed to the outside world, shared: a worker leases rows with
-- FOR UPDATE SKIP LOCKED, so each is attempted by one process at a time.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    dedup_key       text NOT NULL UNIQUE,
    created_at      bigint NOT NULL,
    actor           text NOT NULL,
    alert_id        text,
    kind            text NOT NULL,
    destination     text NOT NULL,
    payload         text NOT NULL,
    state           text NOT NULL DEFAULT 'pending', -- pending | done | failed | unsupported | dropped
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    last_error      text,
    result          text,
    done_at         bigint,
    lease_owner     text,                            -- the worker attempting it now
    lease_until     bigint                           -- after this another worker may take it
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';

CREATE TABLE tickets (
    fingerprint text PRIMARY KEY,
    system      text NOT NULL,
    key         text NOT NULL,
    native_id   text NOT NULL,
    url         text NOT NULL,
    status      text,
    done        boolean NOT NULL DEFAULT false,
    created     boolean NOT NULL,
    at          bigint NOT NULL,
    polled_at   bigint,
    seq         bigint NOT NULL DEFAULT nextval('change_seq')  -- the last change (replicas pull it)
);
CREATE INDEX tickets_seq ON tickets (seq);
CREATE INDEX approvals_seq ON approvals (seq);

-- One hash chain for the whole team (src/audit/: the same entry bytes and macs as the SQLite
-- log). Appends take pg_advisory_xact_lock(audit) first, so entries get seq n+1 in commit
-- order whatever the concurrency.
CREATE TABLE audit_log (
    seq      bigint PRIMARY KEY,
    at       bigint NOT NULL,
    actor    text NOT NULL,
    action   text NOT NULL,
    subject  text NOT NULL,
    detail   text NOT NULL,
    prev_mac text NOT NULL,
    mac      text NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject, seq);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Who refreshes each source for the team: the holder of pg_advisory_lock(source) writes its
-- name here for others to show; the lock, not this row, decides.
CREATE TABLE refreshers (
    source    text PRIMARY KEY,
    holder    text NOT NULL,
    since     bigint NOT NULL,
    heartbeat bigint NOT NULL
);

-- A committed change wakes every listening console (payloads are folded per transaction).
CREATE FUNCTION notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sitrep_changes', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER alerts_notify AFTER INSERT OR UPDATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
CREATE TRIGGER history_notify AFTER INSERT ON history
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
CREATE TRIGGER outbox_notify AFTER INSERT OR UPDATE ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
CREATE TRIGGER approvals_notify AFTER INSERT ON approvals
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change();
CREATE TRIGGER tickets_notify AFTER INSERT OR UPDATE ON tickets
    FOR EACH STATEMENT EXECUTE FUNCTION notify_change();

-- The safety net for the change lock (see the top of this file). FOR EACH STATEMENT, BEFORE
-- the statement evaluates its rows, so before any nextval('change_seq') of the statement.
-- A path that reaches it holding row locks it took without the change lock can deadlock with
-- a writer that holds the lock and waits for those rows: PostgreSQL then aborts one of the
-- two (an error, retried by the caller), never a skipped change. The code takes the lock
-- first for that reason.
CREATE FUNCTION change_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(109299962373989);  -- CHANGE_LOCK, 0x6368616e6765
    RETURN NULL;
END $$;
CREATE TRIGGER alerts_change_lock BEFORE INSERT OR UPDATE OR DELETE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION change_lock();
CREATE TRIGGER history_change_lock BEFORE INSERT OR UPDATE OR DELETE ON history
    FOR EACH STATEMENT EXECUTE FUNCTION change_lock();
CREATE TRIGGER decisions_change_lock BEFORE INSERT OR UPDATE OR DELETE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION change_lock();
CREATE TRIGGER approvals_change_lock BEFORE INSERT OR UPDATE OR DELETE ON approvals
    FOR EACH STATEMENT EXECUTE FUNCTION change_lock();
CREATE TRIGGER tickets_change_lock BEFORE INSERT OR UPDATE OR DELETE ON tickets
    FOR EACH STATEMENT EXECUTE FUNCTION change_lock();

-- Team-wide settings and counters (key/value), e.g. the audit key's fingerprint.
CREATE TABLE team_kv (
    key   text PRIMARY KEY,
    value text NOT NULL
);
