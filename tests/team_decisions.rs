//! Team decisions against the real PostgreSQL (tests/common/pg.rs): applied once by id,
//! conflicts never applied over someone else's change, one audit chain under concurrency,
//! offline decisions replayed, and 200 kill -9 of a deciding process losing and doubling
//! nothing (issue 20).

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Sandbox;
use pg::TestDb;
use sitrep::audit::AuditKey;
use sitrep::store::team::{TeamRecorded, TeamStore, TeamTarget};
use sitrep::store::{Decision, JournalState, LocalChange, StatusChange, Store};

const OFFLINE_URL: &str = "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn team(rt: &tokio::runtime::Runtime, db: &TestDb) -> TeamStore {
    let target = TeamTarget::parse(&db.url, None, None, false).expect("target");
    rt.block_on(TeamStore::connect(&target)).expect("connect")
}

/// A migrated team store holding `n` Prisma alerts (imported into the sandbox's SQLite file,
/// which then publishes them), and their ids.
fn seeded(n: usize) -> Option<(TestDb, Sandbox, Vec<String>)> {
    let db = TestDb::create()?;
    let rt = rt();
    let t = db.migrated_team(&rt);
    let sb = Sandbox::new();
    sb.import_generated(7, n);
    let mut store = Store::open(&sb.db()).expect("store");
    let ids = db.published(&rt, &mut store, &t);
    assert_eq!(ids.len(), n);
    Some((db, sb, ids))
}

fn key() -> AuditKey {
    AuditKey::from_bytes(b"team decisions test key 0123456789abcdef")
}

fn note(alert: &str, actor: &str, text: &str) -> Decision {
    Decision {
        alert_id: alert.to_string(),
        actor: actor.to_string(),
        at: common::NOW_MS,
        change: LocalChange::Note(text.to_string()),
        outbox: Vec::new(),
        audit_detail: serde_json::json!({ "note": text }),
    }
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.query(sql)[0]
        .as_deref()
        .expect("a count")
        .parse()
        .expect("number")
}

#[test]
fn a_decision_id_applies_once_and_a_stale_base_is_a_conflict() {
    let Some((db, _sb, ids)) = seeded(3) else {
        return;
    };
    let rt = rt();
    let t = team(&rt, &db);
    let k = key();
    let d = note(&ids[0], "alice", "first look");
    let first = rt
        .block_on(t.record_decision("d-1", Some(0), &d, Some(&k)))
        .expect("record");
    assert!(
        matches!(
            first,
            TeamRecorded::Applied {
                version: 1,
                audit_seq: Some(1),
                ..
            }
        ),
        "{first:?}"
    );
    // The same id again (a replay after a crash): nothing more is written.
    let again = rt
        .block_on(t.record_decision("d-1", Some(0), &d, Some(&k)))
        .expect("replay");
    assert_eq!(again, TeamRecorded::AlreadyApplied);
    assert_eq!(count(&db, "SELECT count(*) FROM decisions"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log"), 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM history WHERE kind = 'note'"),
        1
    );

    // Bob decided on version 0; alice changed it since: a conflict, nothing written.
    let bob = acknowledge(&ids[0], "bob");
    let c = rt
        .block_on(t.record_decision("d-2", Some(0), &bob, Some(&k)))
        .expect("conflict");
    match c {
        TeamRecorded::Conflict { theirs, by, .. } => {
            assert_eq!(by.as_deref(), Some("alice"));
            assert_eq!(theirs.version, 1);
            assert_eq!(theirs.status, "new");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(count(&db, "SELECT count(*) FROM decisions"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log"), 1);
    let status = db.query(&format!(
        "SELECT status FROM alerts WHERE id = '{}'",
        ids[0]
    ));
    assert_eq!(status[0].as_deref(), Some("new"));

    // Alice's own second decision on version 0 follows her first: not a conflict.
    let mine = rt
        .block_on(t.record_decision("d-3", Some(0), &note(&ids[0], "alice", "more"), Some(&k)))
        .expect("own");
    assert!(
        matches!(mine, TeamRecorded::Applied { version: 2, .. }),
        "{mine:?}"
    );
    // Bob on the current version: applied, with the status columns and a history line.
    let ok = rt
        .block_on(t.record_decision("d-4", Some(2), &bob, Some(&k)))
        .expect("bob");
    assert!(
        matches!(ok, TeamRecorded::Applied { version: 3, .. }),
        "{ok:?}"
    );
    let row = db.query(&format!(
        "SELECT status || ',' || status_by || ',' || version FROM alerts WHERE id = '{}'",
        ids[0]
    ));
    assert_eq!(row[0].as_deref(), Some("acknowledged,bob,3"));

    // An unknown alert, and a key that is not the team's.
    let missing = rt.block_on(t.record_decision("d-5", None, &note("nope:1", "a", "x"), Some(&k)));
    assert!(missing.is_err());
    let other = AuditKey::from_bytes(b"another analyst's key 0123456789abcdef!!");
    let err = rt
        .block_on(t.record_decision("d-6", None, &note(&ids[1], "eve", "x"), Some(&other)))
        .expect_err("wrong key refused");
    assert!(
        err.to_string().contains("not the key the team's audit log"),
        "{err}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM decisions"), 3);

    let report = rt.block_on(t.audit_verify(&k)).expect("verify");
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.entries, 3);
    // The chain's entries are the SQLite log's: the same verifier rejects an edit.
    db.query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change");
    db.query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2");
    let bad = rt.block_on(t.audit_verify(&k)).expect("verify");
    assert_eq!(bad.broken.as_ref().and_then(|b| b.entry), Some(2), "{bad}");
    db.query("DELETE FROM audit_log WHERE seq = 3");
    db.query("UPDATE audit_log SET actor = 'alice' WHERE seq = 2");
    let cut = rt.block_on(t.audit_verify(&k)).expect("verify");
    assert!(
        cut.broken
            .as_ref()
            .is_some_and(|b| b.reason.contains("tail truncated")),
        "{cut}"
    );
}

/// A status decision by `actor` on `alert`.
fn acknowledge(alert: &str, actor: &str) -> Decision {
    Decision {
        change: LocalChange::Status(StatusChange {
            status: sitrep::domain::Status::Acknowledged,
            actor: actor.into(),
            note: None,
            at: common::NOW_MS,
        }),
        audit_detail: serde_json::json!({ "status": "acknowledged" }),
        ..note(alert, actor, "")
    }
}

#[test]
fn an_own_note_after_a_teammates_change_does_not_hide_it() {
    let Some((db, _sb, ids)) = seeded(2) else {
        return;
    };
    let rt = rt();
    let t = team(&rt, &db);
    let k = key();
    // Alice decided offline on version 0: a note (never version-checked, it only adds) and
    // then a status. Meanwhile bob acknowledged the alert (version 1).
    let bob = rt
        .block_on(t.record_decision("b-1", Some(0), &acknowledge(&ids[0], "bob"), Some(&k)))
        .expect("bob");
    assert!(
        matches!(bob, TeamRecorded::Applied { version: 1, .. }),
        "{bob:?}"
    );
    let her_note = rt
        .block_on(t.record_decision("a-1", None, &note(&ids[0], "alice", "looking"), Some(&k)))
        .expect("note");
    assert!(
        matches!(her_note, TeamRecorded::Applied { version: 2, .. }),
        "{her_note:?}"
    );
    // Her status on version 0: the last line is her own note, but bob's change came after
    // version 0, so it is a conflict naming bob, and nothing is written.
    let hers = rt
        .block_on(t.record_decision("a-2", Some(0), &acknowledge(&ids[0], "alice"), Some(&k)))
        .expect("status");
    match hers {
        TeamRecorded::Conflict { by, theirs, .. } => {
            assert_eq!(by.as_deref(), Some("bob"));
            assert_eq!(theirs.version, 2);
        }
        other => panic!("expected a conflict with bob's change, got {other:?}"),
    }
    let row = db.query(&format!(
        "SELECT status_by || ',' || version FROM alerts WHERE id = '{}'",
        ids[0]
    ));
    assert_eq!(row[0].as_deref(), Some("bob,2"));
    // Her own chain without a teammate in it still applies: a note then a status, both
    // decided on version 0 of the other alert.
    rt.block_on(t.record_decision("a-3", None, &note(&ids[1], "alice", "x"), Some(&k)))
        .expect("note");
    let own = rt
        .block_on(t.record_decision("a-4", Some(0), &acknowledge(&ids[1], "alice"), Some(&k)))
        .expect("own");
    assert!(
        matches!(own, TeamRecorded::Applied { version: 2, .. }),
        "{own:?}"
    );
    // A claim is a change too: bob claims, alice's status on the version before conflicts.
    rt.block_on(t.claim(&ids[1], "bob", common::NOW_MS, 3_600_000, None, false))
        .expect("claim");
    let after_claim = rt
        .block_on(t.record_decision("a-5", Some(2), &acknowledge(&ids[1], "alice"), Some(&k)))
        .expect("status");
    assert!(
        matches!(&after_claim, TeamRecorded::Conflict { by: Some(b), .. } if b == "bob"),
        "{after_claim:?}"
    );
}

#[test]
fn concurrent_appends_from_several_threads_keep_one_chain() {
    let Some((db, _sb, ids)) = seeded(8) else {
        return;
    };
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let url = db.url.clone();
            let ids = ids.clone();
            std::thread::spawn(move || {
                let rt = rt();
                let target = TeamTarget::parse(&url, None, None, false).expect("target");
                let t = rt.block_on(TeamStore::connect(&target)).expect("connect");
                let k = key();
                for i in 0..25 {
                    let d = note(
                        &ids[(w + i) % ids.len()],
                        &format!("a{w}"),
                        &format!("n{i}"),
                    );
                    let r = rt
                        .block_on(t.record_decision(&format!("w{w}-{i}"), None, &d, Some(&k)))
                        .expect("record");
                    assert!(matches!(r, TeamRecorded::Applied { .. }), "{r:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM decisions"), 100);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log"), 100);
    assert_eq!(count(&db, "SELECT max(seq) FROM audit_log"), 100);
    let rt = rt();
    let report = rt
        .block_on(team(&rt, &db).audit_verify(&key()))
        .expect("verify");
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.entries, 100);
}

#[test]
fn offline_decisions_are_replayed_and_a_conflict_waits_for_the_analyst() {
    let Some((db, sb, ids)) = seeded(3) else {
        return;
    };
    let alice = |url: &str, args: &[&str]| {
        sb.cmd()
            .env("SITREP_DATABASE_URL", url)
            .env("USER", "alice")
            .args(args)
            .output()
            .expect("run")
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    // Offline: recorded locally, nothing reaches the team store.
    let o = alice(OFFLINE_URL, &["mark", &ids[0], "--status", "acknowledged"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(
            "recorded locally; the team store is unreachable: will be sent when it is back"
        ),
        "{}",
        text(&o)
    );
    // Her queue shows the decision at once, offline as it is.
    let replica_status = |id: &str| -> String {
        let store = Store::open(&sb.db()).expect("replica");
        store
            .get(id)
            .expect("get")
            .expect("alert")
            .status
            .kind()
            .as_str()
            .to_string()
    };
    assert_eq!(replica_status(&ids[0]), "acknowledged");
    let o = alice(OFFLINE_URL, &["note", &ids[1], "--text", "seen offline"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(count(&db, "SELECT count(*) FROM decisions"), 0);
    let o = alice(OFFLINE_URL, &["team", "conflicts"]);
    assert!(text(&o).contains("2 decisions waiting"), "{}", text(&o));

    // Bob (his own replica, the same team key) changes the first alert meanwhile.
    let o = sb
        .cmd()
        .env("SITREP_DATABASE_URL", &db.url)
        .env("USER", "bob")
        .env("SITREP_DB", sb.path("bob/replica.db"))
        .args(["mark", &ids[0], "--status", "in-progress"])
        .output()
        .expect("bob");
    assert!(o.status.success(), "{}", text(&o));

    // Alice is back: her next command replays both; the first meets bob's change.
    let o = alice(&db.url, &["note", &ids[2], "--text", "back online"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(count(&db, "SELECT count(*) FROM decisions"), 3);
    let status = db.query(&format!(
        "SELECT status FROM alerts WHERE id = '{}'",
        ids[0]
    ));
    assert_eq!(
        status[0].as_deref(),
        Some("in_progress"),
        "bob's change stays"
    );
    // Her replica no longer shows her unapplied decision: bob's state is the team's.
    assert_eq!(replica_status(&ids[0]), "in_progress");
    let o = alice(&db.url, &["team", "conflicts"]);
    let listed = text(&o);
    assert!(listed.contains("bob changed it"), "{listed}");
    let n = listed
        .split_whitespace()
        .find_map(|w| w.strip_prefix('#'))
        .expect("a conflict number")
        .to_string();

    let o = alice(&db.url, &["team", "resolve", &n, "--keep-mine"]);
    assert!(o.status.success(), "{}", text(&o));
    let status = db.query(&format!(
        "SELECT status FROM alerts WHERE id = '{}'",
        ids[0]
    ));
    assert_eq!(status[0].as_deref(), Some("acknowledged"));
    assert_eq!(replica_status(&ids[0]), "acknowledged");
    assert_eq!(count(&db, "SELECT count(*) FROM decisions"), 4);
    let o = alice(&db.url, &["team", "resolve", &n, "--discard"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let o = alice(&db.url, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("audit log ok: 4 entries"), "{}", text(&o));

    // The export is the team's chain (bob's entry too), not her replica's, ending in its head.
    let export = |args: &[&str]| -> Vec<serde_json::Value> {
        let o = alice(&db.url, args);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    };
    let macs: Vec<String> = db
        .query("SELECT mac FROM audit_log ORDER BY seq")
        .into_iter()
        .flatten()
        .collect();
    let lines = export(&["audit", "export"]);
    assert_eq!(lines.len(), macs.len() + 1, "{lines:?}");
    for (line, mac) in lines.iter().zip(&macs) {
        assert_eq!(line["mac"].as_str(), Some(mac.as_str()), "{line}");
    }
    assert_eq!(lines[0]["actor"], "bob", "{lines:?}");
    let head = &lines[lines.len() - 1];
    assert_eq!(head["head"]["entries"], 4);
    assert_eq!(
        head["head"]["mac"].as_str(),
        macs.last().map(String::as_str)
    );
    assert_eq!(head["head_record"]["count"], 4);
    let tail = export(&["audit", "export", "--since", "3"]);
    let seqs: Vec<i64> = tail.iter().filter_map(|l| l["seq"].as_i64()).collect();
    assert_eq!(seqs, [3, 4]);
}

/// Tiny deterministic generator for the kill delays (no timing is asserted on).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[test]
fn kill_nine_of_deciding_processes_loses_and_doubles_nothing() {
    let Some((db, sb, ids)) = seeded(4) else {
        return;
    };
    let runs: usize = std::env::var("SITREP_KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut rng = Lcg(20);
    for i in 0..runs {
        let id = &ids[i % ids.len()];
        let text = format!("n{i}");
        let args: Vec<&str> = if i % 2 == 0 {
            vec!["note", id, "--text", &text]
        } else {
            vec!["mark", id, "--status", "acknowledged", "--note", &text]
        };
        let mut child = sb
            .cmd()
            .env("SITREP_DATABASE_URL", &db.url)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(rng.next(151)));
        // SIGKILL on Unix: no destructor, no rollback but the database's own.
        let _ = child.kill();
        let _ = child.wait();
    }
    let left = Store::open(&sb.db())
        .expect("replica")
        .journal_count(JournalState::Pending)
        .expect("pending");
    eprintln!("{left} decisions left pending by killed processes");
    // One more command: it replays whatever the killed ones left pending.
    let o = sb
        .cmd()
        .env("SITREP_DATABASE_URL", &db.url)
        .args(["note", &ids[0], "--text", "final"])
        .output()
        .expect("final");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let store = Store::open(&sb.db()).expect("replica");
    let sent = store.journal_rows(JournalState::Sent).expect("sent");
    assert_eq!(store.journal_count(JournalState::Pending).expect("n"), 0);
    assert_eq!(store.journal_count(JournalState::Conflict).expect("n"), 0);
    let journaled: BTreeSet<String> = sent.iter().map(|r| r.decision_id.clone()).collect();
    assert_eq!(journaled.len(), sent.len());
    let applied: Vec<String> = db
        .query("SELECT decision_id FROM decisions")
        .into_iter()
        .flatten()
        .collect();
    let applied_set: BTreeSet<String> = applied.iter().cloned().collect();
    assert_eq!(applied.len(), applied_set.len(), "a decision applied twice");
    assert_eq!(
        journaled, applied_set,
        "journaled and applied decisions differ"
    );
    // Some processes died before journaling, some after: both ends must have happened for
    // the test to mean anything (the delays span a process's whole run).
    eprintln!(
        "{runs} killed processes: {} decisions journaled and applied once each",
        journaled.len()
    );
    assert!(
        journaled.len() > 1,
        "no killed process journaled a decision"
    );
    assert!(
        journaled.len() <= runs,
        "every killed process journaled: the kills came too late to test anything"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_log"),
        applied.len() as i64,
        "one audit entry per decision"
    );
    let rt = rt();
    let o = sb
        .cmd()
        .env("SITREP_DATABASE_URL", &db.url)
        .args(["audit", "verify"])
        .output()
        .expect("verify");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let data = sb.path("home/.local/share/sitrep");
    let k = AuditKey::load_existing(&Default::default(), &data)
        .expect("key")
        .expect("the sandbox's key file");
    let report = rt
        .block_on(team(&rt, &db).audit_verify(&k))
        .expect("verify");
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.entries, applied.len() as i64);
}
