-- The tamper-evident audit log (src/audit/): append-only, hash-chained and keyed.
--
-- Entry `seq` (1, 2, 3, … without gaps) carries
--   mac = HMAC-SHA256(key, canonical(seq, at, actor, action, subject, detail, prev_mac) || prev_mac)
-- where prev_mac is the previous entry's mac (32 zero bytes before entry 1). Both macs are
-- lowercase hex. `detail` is canonical JSON (sorted keys, no whitespace).
-- The triggers stop accidental edits; `sitrep audit verify` catches deliberate ones.
CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    detail   TEXT    NOT NULL,
    prev_mac TEXT    NOT NULL,
    mac      TEXT    NOT NULL
);

CREATE INDEX audit_log_subject ON audit_log (subject, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
