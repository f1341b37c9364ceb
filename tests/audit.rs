//! The tamper-evident audit log: every kind of tampering is detected and the first bad entry
//! named, through the library and through the real binary (`sitrep audit verify|export`).

mod common;

use std::path::{Path, PathBuf};

use common::{NOW_MS, Sandbox};
use rusqlite::{Connection, params};
use serde_json::json;
use sitrep::audit::{self, AuditEntry, AuditKey, Broken, VerifyReport, canonical};
use sitrep::store::Store;

const KEY: &[u8] = b"a test audit key that is long enough 0123456789";
const MINUTE: i64 = 60_000;

const ACTIONS: [&str; 6] = ["status", "note", "approve", "ticket", "notify", "dismiss"];
const ACTORS: [&str; 3] = ["alice", "bob", "carol"];

/// A store at `db` with `n` entries appended: entry i at NOW + i minutes.
fn fill(db: &Path, key: &AuditKey, n: i64) {
    let mut s = Store::open(db).expect("open");
    s.set_audit_key(key.clone());
    for i in 1..=n {
        let detail = json!({"status": "resolved", "reason": format!("reason {i}"), "n": i});
        let seq = s
            .audit_append(&AuditEntry {
                at: NOW_MS + i * MINUTE,
                actor: ACTORS[(i % 3) as usize],
                action: ACTIONS[(i % 6) as usize],
                subject: &format!("wiz:{i}"),
                detail: &detail,
            })
            .expect("append");
        assert_eq!(seq, i);
    }
}

fn fixture(n: i64) -> (tempfile::TempDir, PathBuf, AuditKey) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("sitrep.db");
    let key = AuditKey::from_bytes(KEY);
    fill(&db, &key, n);
    (dir, db, key)
}

fn verify_with(db: &Path, key: &AuditKey) -> VerifyReport {
    let conn = Connection::open(db).expect("open");
    audit::verify(db, &conn, key).expect("verify runs")
}

fn broken(db: &Path, key: &AuditKey) -> Broken {
    let r = verify_with(db, key);
    match r.broken {
        Some(b) => b,
        None => panic!("tampering not detected: {r}"),
    }
}

/// Run SQL as someone with write access to the file: the append-only triggers go first.
fn tamper(db: &Path, sql: &str) {
    let conn = Connection::open(db).expect("open");
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;",
    )
    .expect("drop triggers");
    conn.execute_batch(sql).expect("tamper");
}

fn mac_of(db: &Path, seq: i64) -> String {
    let conn = Connection::open(db).expect("open");
    conn.query_row("SELECT mac FROM audit_log WHERE seq = ?", [seq], |r| {
        r.get(0)
    })
    .expect("mac")
}

fn head_file(db: &Path) -> PathBuf {
    audit::head_path(db).expect("file db has a head")
}

#[test]
fn a_clean_log_of_1000_entries_verifies() {
    let (_d, db, key) = fixture(1000);
    let r = verify_with(&db, &key);
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.entries, 1000);
    assert_eq!(r.anchored, Some(1000));
    assert_eq!(
        r.to_string(),
        format!(
            "audit log ok: 1000 entries, head entry 1000 mac {}",
            mac_of(&db, 1000)
        )
    );
}

#[test]
fn the_log_is_append_only_for_ordinary_writers() {
    let (_d, db, _key) = fixture(3);
    let conn = Connection::open(&db).expect("open");
    let e = conn
        .execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", [])
        .expect_err("update refused");
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = conn
        .execute("DELETE FROM audit_log WHERE seq = 3", [])
        .expect_err("delete refused");
    assert!(e.to_string().contains("append-only"), "{e}");
}

#[test]
fn an_edit_of_any_column_is_detected_at_that_entry() {
    let edits = [
        ("at", "UPDATE audit_log SET at = at + 1 WHERE seq = 5"),
        ("at type", "UPDATE audit_log SET at = 'soon' WHERE seq = 5"),
        (
            "actor",
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 5",
        ),
        (
            "action",
            "UPDATE audit_log SET action = 'approve' WHERE seq = 5",
        ),
        (
            "subject",
            "UPDATE audit_log SET subject = 'wiz:999' WHERE seq = 5",
        ),
        (
            "detail",
            "UPDATE audit_log SET detail = replace(detail, 'resolved', 'open') WHERE seq = 5",
        ),
        (
            "detail whitespace",
            "UPDATE audit_log SET detail = detail || ' ' WHERE seq = 5",
        ),
        (
            "prev_mac",
            "UPDATE audit_log SET prev_mac = (SELECT mac FROM audit_log WHERE seq = 2) WHERE seq = 5",
        ),
        (
            "mac",
            "UPDATE audit_log SET mac = (SELECT mac FROM audit_log WHERE seq = 4) WHERE seq = 5",
        ),
        (
            "mac case",
            "UPDATE audit_log SET mac = upper(mac) WHERE seq = 5",
        ),
        (
            "blob",
            "UPDATE audit_log SET subject = X'77697a3a35' WHERE seq = 5",
        ),
    ];
    for (what, sql) in edits {
        let (_d, db, key) = fixture(10);
        tamper(&db, sql);
        let b = broken(&db, &key);
        assert_eq!(b.entry, Some(5), "{what}: {b}");
    }
    // The seq column: the entry is no longer where it belongs.
    let (_d, db, key) = fixture(10);
    tamper(&db, "UPDATE audit_log SET seq = 1000 WHERE seq = 5");
    let b = broken(&db, &key);
    assert_eq!(b.entry, Some(5), "{b}");
    assert!(
        b.reason
            .contains("entry 5 is missing (the next stored entry is 6)"),
        "{b}"
    );
}

#[test]
fn an_edit_message_names_the_entry_its_time_action_and_actor() {
    let (_d, db, key) = fixture(10);
    tamper(&db, "UPDATE audit_log SET detail = '{}' WHERE seq = 6");
    // Entry 6: NOW (2026-11-22 00:00) + 6 minutes, action ACTIONS[0], actor ACTORS[0].
    assert_eq!(
        broken(&db, &key).to_string(),
        "audit log broken at entry 6 (2026-11-22 00:06 UTC, status by alice): MAC mismatch"
    );
}

#[test]
fn deleting_the_first_a_middle_or_the_last_entry_is_detected() {
    for (seq, first_bad) in [(1, 1), (5, 5), (10, 10)] {
        let (_d, db, key) = fixture(10);
        tamper(&db, &format!("DELETE FROM audit_log WHERE seq = {seq}"));
        let b = broken(&db, &key);
        assert_eq!(b.entry, Some(first_bad), "delete {seq}: {b}");
        assert!(b.reason.contains(&format!("entry {seq} is missing")), "{b}");
    }
}

#[test]
fn deleting_an_entry_and_renumbering_the_rest_is_detected() {
    let (_d, db, key) = fixture(10);
    tamper(
        &db,
        "DELETE FROM audit_log WHERE seq = 4; UPDATE audit_log SET seq = seq + 100 WHERE seq > 4; \
         UPDATE audit_log SET seq = seq - 101 WHERE seq > 100;",
    );
    let b = broken(&db, &key);
    assert_eq!(b.entry, Some(4), "{b}");
    assert!(b.reason.contains("prev_mac does not match entry 3"), "{b}");
}

#[test]
fn swapping_two_entries_is_detected_at_the_first() {
    let (_d, db, key) = fixture(10);
    tamper(
        &db,
        "UPDATE audit_log SET seq = -3 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 7; \
         UPDATE audit_log SET seq = 7 WHERE seq = -3;",
    );
    let b = broken(&db, &key);
    assert_eq!(b.entry, Some(3), "{b}");
    // Swapping the contents but keeping seq in place is caught the same way.
    let (_d, db, key) = fixture(10);
    tamper(
        &db,
        "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE seq IN (3, 7); \
         UPDATE audit_log SET (at, actor, action, subject, detail, prev_mac, mac) = \
           (SELECT at, actor, action, subject, detail, prev_mac, mac FROM t WHERE t.seq = 10 - audit_log.seq) \
         WHERE seq IN (3, 7);",
    );
    assert_eq!(broken(&db, &key).entry, Some(3));
}

#[test]
fn a_forged_row_is_detected_at_the_end_and_in_the_middle() {
    let (_d, db, key) = fixture(10);
    let forger = AuditKey::from_bytes(b"not the key");
    let prev = mac_of(&db, 10);
    let detail = r#"{"status":"resolved"}"#;
    let mac = forger.mac_hex(&canonical::entry_bytes(
        11, NOW_MS, "alice", "approve", "wiz:1", detail, &prev,
    ));
    tamper(
        &db,
        &format!(
            "INSERT INTO audit_log VALUES (11, {NOW_MS}, 'alice', 'approve', 'wiz:1', '{detail}', '{prev}', '{mac}')"
        ),
    );
    let b = broken(&db, &key);
    assert_eq!(
        (b.entry, b.reason.as_str()),
        (Some(11), "MAC mismatch"),
        "{b}"
    );

    let (_d, db, key) = fixture(10);
    let prev = mac_of(&db, 5);
    tamper(
        &db,
        &format!(
            "UPDATE audit_log SET seq = seq + 100 WHERE seq > 5; UPDATE audit_log SET seq = seq - 99 WHERE seq > 100; \
             INSERT INTO audit_log VALUES (6, {NOW_MS}, 'alice', 'approve', 'wiz:1', '{detail}', '{prev}', '{}')",
            "0".repeat(64)
        ),
    );
    assert_eq!(broken(&db, &key).entry, Some(6));
}

#[test]
fn a_duplicated_row_is_detected() {
    // Copied to the end under a new seq.
    let (_d, db, key) = fixture(10);
    tamper(
        &db,
        "INSERT INTO audit_log SELECT 11, at, actor, action, subject, detail, prev_mac, mac FROM audit_log WHERE seq = 4",
    );
    assert_eq!(broken(&db, &key).entry, Some(11));
    // An exact copy, after the table was rebuilt without its primary key.
    let (_d, db, key) = fixture(10);
    tamper(
        &db,
        "CREATE TABLE copy AS SELECT * FROM audit_log; DROP TABLE audit_log; \
         ALTER TABLE copy RENAME TO audit_log; \
         INSERT INTO audit_log SELECT * FROM audit_log WHERE seq = 4;",
    );
    let b = broken(&db, &key);
    assert_eq!(b.entry, Some(5), "{b}");
    assert!(b.reason.contains("a second entry 4"), "{b}");
}

#[test]
fn truncating_the_tail_is_detected_by_the_head_file() {
    let (_d, db, key) = fixture(10);
    tamper(&db, "DELETE FROM audit_log WHERE seq > 7");
    let b = broken(&db, &key);
    assert_eq!(b.entry, Some(8), "{b}");
    assert_eq!(
        b.to_string(),
        "audit log broken at entry 8: entry 8 is missing: the head file records 10 entries but the log ends at 7 (tail truncated)"
    );
    // Everything gone.
    let (_d, db, key) = fixture(10);
    tamper(&db, "DELETE FROM audit_log");
    assert_eq!(broken(&db, &key).entry, Some(1));
}

#[test]
fn a_cut_log_stays_detected_after_a_legitimate_append() {
    let (_d, db, key) = fixture(10);
    tamper(&db, "DELETE FROM audit_log WHERE seq > 7");
    let mut s = Store::open(&db).expect("open");
    s.set_audit_key(key.clone());
    let detail = json!({});
    let e = s
        .audit_append(&AuditEntry {
            at: NOW_MS,
            actor: "alice",
            action: "note",
            subject: "wiz:1",
            detail: &detail,
        })
        .expect_err("the head is not moved back");
    assert!(
        e.to_string().contains("the head file was left as it is"),
        "{e}"
    );
    // The entry itself committed (seq 8); the head still records 10 → the cut shows.
    assert_eq!(broken(&db, &key).entry, Some(9));
    for _ in 0..5 {
        let _ = s.audit_append(&AuditEntry {
            at: NOW_MS,
            actor: "alice",
            action: "note",
            subject: "wiz:1",
            detail: &detail,
        });
    }
    // Past the old head: entry 10 no longer carries the mac the head recorded.
    let b = broken(&db, &key);
    assert_eq!(b.entry, Some(10), "{b}");
    assert!(
        b.reason.contains("does not match the head file's mac"),
        "{b}"
    );
}

/// Rewrite every mac with `forger`'s key, as someone who can read the code but not the key.
fn recompute_chain(db: &Path, forger: &AuditKey) {
    let conn = Connection::open(db).expect("open");
    conn.execute_batch("DROP TRIGGER audit_log_no_update;")
        .expect("drop");
    let rows = audit::entries(&conn, None).expect("entries");
    let mut prev = canonical::GENESIS.to_string();
    for e in rows {
        let mac = forger.mac_hex(&canonical::entry_bytes(
            e.seq, e.at, &e.actor, "approve", &e.subject, &e.detail, &prev,
        ));
        conn.execute(
            "UPDATE audit_log SET action = 'approve', prev_mac = ?, mac = ? WHERE seq = ?",
            params![prev, mac, e.seq],
        )
        .expect("rewrite");
        prev = mac;
    }
}

#[test]
fn a_chain_recomputed_without_the_key_is_detected() {
    let (_d, db, key) = fixture(10);
    let forger = AuditKey::from_bytes(b"a guessed key, not the real one 0123456789");
    recompute_chain(&db, &forger);
    // The forged chain is self-consistent under the forger's key…
    let conn = Connection::open(&db).expect("open");
    let self_check = audit::verify(Path::new(":memory:"), &conn, &forger).expect("verify");
    assert!(self_check.is_ok(), "{self_check}");
    // …but not under the real one, from its first entry.
    let b = broken(&db, &key);
    assert_eq!(b.entry, Some(1), "{b}");
    assert!(b.reason.starts_with("MAC mismatch"), "{b}");
    // Rewriting the head file with the forger's key too does not help.
    let n = audit::count(&conn).expect("count");
    audit::head::write(
        &head_file(&db),
        &audit::Head::new(&forger, n, &mac_of(&db, n)),
    )
    .expect("forge head");
    let b = broken(&db, &key);
    assert_eq!(b.entry, Some(1), "{b}");
    assert!(b.reason.contains("did not write the log"), "{b}");
}

#[test]
fn a_deleted_or_edited_head_file_is_detected() {
    let (_d, db, key) = fixture(10);
    std::fs::remove_file(head_file(&db)).expect("rm head");
    let b = broken(&db, &key);
    assert_eq!(b.entry, None);
    assert!(
        b.reason.contains("is missing but the log holds 10 entries"),
        "{b}"
    );

    let (_d, db, key) = fixture(10);
    let text = std::fs::read_to_string(head_file(&db)).expect("read");
    std::fs::write(head_file(&db), text.replace("\"count\":10", "\"count\":9")).expect("edit");
    let b = broken(&db, &key);
    assert!(
        b.reason.contains("does not verify with this key (edited)"),
        "{b}"
    );

    let (_d, db, key) = fixture(10);
    std::fs::write(head_file(&db), "garbage").expect("garbage");
    assert!(broken(&db, &key).reason.contains("is not a head record"));
}

#[test]
fn a_wrong_key_is_detected_and_named() {
    let (_d, db, _key) = fixture(10);
    let wrong = AuditKey::from_bytes(b"another key entirely, 0123456789abcdef");
    let b = broken(&db, &wrong);
    assert_eq!(b.entry, Some(1), "{b}");
    assert!(b.reason.contains("wrong key"), "{b}");
}

#[test]
fn a_head_file_behind_the_table_is_fine_after_a_crash() {
    let (_d, db, key) = fixture(5);
    let old = std::fs::read(head_file(&db)).expect("head");
    let mut s = Store::open(&db).expect("open");
    s.set_audit_key(key.clone());
    let detail = json!({"k": 1});
    for _ in 0..3 {
        s.audit_append(&AuditEntry {
            at: NOW_MS,
            actor: "bob",
            action: "note",
            subject: "wiz:2",
            detail: &detail,
        })
        .expect("append");
    }
    // As if the process died between the commit of entries 6..8 and their head writes.
    std::fs::write(head_file(&db), old).expect("restore old head");
    let r = verify_with(&db, &key);
    assert!(r.is_ok(), "{r}");
    assert_eq!((r.entries, r.anchored), (8, Some(5)));
    // The next append brings the head forward again.
    s.audit_append(&AuditEntry {
        at: NOW_MS,
        actor: "bob",
        action: "note",
        subject: "wiz:2",
        detail: &detail,
    })
    .expect("append");
    assert_eq!(verify_with(&db, &key).anchored, Some(9));
}

#[test]
fn append_joins_the_callers_transaction() {
    let (_d, db, key) = fixture(2);
    let mut conn = Connection::open(&db).expect("open");
    let detail = json!({"diff_sha256": "ab"});
    let entry = AuditEntry {
        at: NOW_MS,
        actor: "alice",
        action: "approve",
        subject: "wiz:1",
        detail: &detail,
    };
    {
        let tx = conn.transaction().expect("tx");
        assert_eq!(audit::append(&tx, &key, &entry).expect("append"), 3);
        // Dropped without commit: the entry goes with the caller's rollback.
    }
    assert_eq!(audit::count(&conn).expect("count"), 2);
    let tx = conn.transaction().expect("tx");
    assert_eq!(audit::append(&tx, &key, &entry).expect("append"), 3);
    tx.commit().expect("commit");
    audit::write_head(&db, &conn, &key).expect("head");
    let r = verify_with(&db, &key);
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.anchored, Some(3));
}

// ---- the real binary -------------------------------------------------------------------------

/// A sandbox whose database has `n` entries under the generated key file in its data dir.
fn sandbox(n: i64) -> (Sandbox, AuditKey) {
    let sb = Sandbox::new();
    let data_dir = sb.path("home/.local/share/sitrep");
    let key = AuditKey::load(&Default::default(), &data_dir).expect("generate key");
    fill(&sb.db(), &key, n);
    (sb, key)
}

#[test]
fn cli_verify_prints_the_count_and_head_and_exits_0() {
    let (sb, _key) = sandbox(1000);
    let out = sb.ok(&["audit", "verify"]);
    assert_eq!(
        out,
        format!(
            "audit log ok: 1000 entries, head entry 1000 mac {}\n",
            mac_of(&sb.db(), 1000)
        )
    );
}

#[test]
fn cli_verify_names_the_first_bad_entry_and_exits_1() {
    let (sb, _key) = sandbox(20);
    tamper(
        &sb.db(),
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 12",
    );
    let err = sb.fails(&["audit", "verify"], 1);
    // Entry 12: 00:12, ACTIONS[0] by the edited actor.
    assert_eq!(
        err,
        "sitrep: error: audit log broken at entry 12 (2026-11-22 00:12 UTC, status by mallory): MAC mismatch\n"
    );
    let (sb, _key) = sandbox(20);
    tamper(&sb.db(), "DELETE FROM audit_log WHERE seq > 15");
    let err = sb.fails(&["audit", "verify"], 1);
    assert!(err.contains("broken at entry 16"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn cli_verify_with_a_wrong_or_missing_key() {
    let (sb, _key) = sandbox(5);
    sb.write(
        "cfg.toml",
        "[audit]\nkey = { env = \"SITREP_AUDIT_KEY\" }\n",
    );
    let cfg = sb.path("cfg.toml");
    let cfg = cfg.to_str().expect("utf-8");
    let out = sb
        .cmd()
        .args(["--config", cfg, "audit", "verify"])
        .env(
            "SITREP_AUDIT_KEY",
            "some other key of more than 32 characters",
        )
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken at entry 1") && err.contains("wrong key"),
        "{err}"
    );
    assert!(!err.contains("some other key"), "{err}");
    // The key file gone: nothing to verify with (a configuration problem).
    std::fs::remove_file(sb.path("home/.local/share/sitrep/audit.key")).expect("rm key");
    let err = sb.fails(&["audit", "verify"], 2);
    assert!(err.contains("no audit key"), "{err}");
    // The key file world-readable: refused, like ssh.
    let (sb, _key) = sandbox(1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let p = sb.path("home/.local/share/sitrep/audit.key");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = sb.fails(&["audit", "verify"], 2);
        assert!(err.contains("readable by group or others"), "{err}");
    }
}

#[test]
fn cli_verify_of_an_empty_log_and_of_no_database() {
    let sb = Sandbox::new();
    let err = sb.fails(&["audit", "verify"], 2);
    assert!(err.contains("no database at"), "{err}");
    Store::open(&sb.db()).expect("create");
    assert_eq!(sb.ok(&["audit", "verify"]), "audit log ok: 0 entries\n");
}

#[test]
fn cli_export_writes_sanitized_entries_macs_and_the_head() {
    let (sb, key) = sandbox(3);
    let mut s = Store::open(&sb.db()).expect("open");
    s.set_audit_key(key);
    let detail = json!({"note": "evil \u{1b}]0;pwned\u{7} \u{202e}txt"});
    s.audit_append(&AuditEntry {
        at: NOW_MS,
        actor: "=cmd|' /C calc'!A0\u{1b}[31m",
        action: "note",
        subject: "wiz:1",
        detail: &detail,
    })
    .expect("append");
    drop(s);
    let out = sb.ok(&["audit", "export"]);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[3]["mac"], mac_of(&sb.db(), 4).as_str());
    assert_eq!(lines[4]["head"]["entries"], 4);
    assert_eq!(lines[4]["head_file"]["count"], 4);
    let since = sb.ok(&["audit", "export", "--since", "3"]);
    assert_eq!(since.lines().count(), 3);
    let csv = sb.ok(&["audit", "export", "--format", "csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "seq,at,time,actor,action,subject,detail,prev_mac,mac"
    );
    assert_eq!(rows.len(), 6);
    assert!(rows[4].contains(",'=cmd|"), "{}", rows[4]);
    assert!(rows[5].starts_with("head,,,,head,4,,,"), "{}", rows[5]);
    assert!(!csv.contains('\u{1b}'));
}
