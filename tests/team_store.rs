//! The team store's own commands against the real PostgreSQL (tests/common/pg.rs): `sitrep
//! store migrate|status|copy` (the audit chain verifies after a copy, which is all or
//! nothing), one refresher per source, the shift report across analysts, and the roles of
//! docs/team.md.

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/sim_process.rs"]
mod sim_process;

use std::path::Path;

use common::{NOW_MS, Sandbox};
use pg::TestDb;
use serde_json::json;
use sitrep::audit::{AuditKey, canonical};
use sitrep::domain::{DismissReason, Status};
use sitrep::store::team::{CopyOptions, TeamError, TeamStore, TeamTarget};
use sitrep::store::{Decision, LocalChange, OutboxItem, OutboxKind, StatusChange, Store};

const KEY: &str = "a team test audit key, long enough: 0123456789abcdef";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn target(url: &str) -> TeamTarget {
    TeamTarget::parse(url, None, None, false).expect("url")
}

/// A migrated team store on a fresh database.
fn migrated(rt: &tokio::runtime::Runtime, db: &TestDb) -> TeamStore {
    rt.block_on(async {
        let team = TeamStore::connect_unchecked(&target(&db.url))
            .await
            .expect("connect");
        team.migrate().await.expect("migrate");
        team
    })
}

/// `n` Prisma Cloud alerts imported by the real binary into the sandbox's cache.
fn import(sb: &Sandbox, n: usize, seed: u64) {
    let out = std::process::Command::new("python3")
        .args([
            "scripts/bench/gen-prisma.py",
            "--seed",
            &seed.to_string(),
            "--count",
            &n.to_string(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("gen-prisma");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = sb.path("prisma.json");
    std::fs::write(&file, &out.stdout).expect("write");
    with_key(sb);
    // The import audits the statuses that follow the vendor's: with the test's key, so that
    // the cache holds one chain under one key.
    let run = sb
        .cmd()
        .env("SITREP_AUDIT_KEY", KEY)
        .args(["import", "--vendor", "prisma-cspm", "--source", "prisma"])
        .arg(&file)
        .output()
        .expect("import");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The sandbox's binary with the audit key in the environment (as `[audit] key` names it).
fn with_key(sb: &Sandbox) {
    sb.write(
        "home/.config/sitrep/config.toml",
        "[audit]\nkey = { env = \"SITREP_AUDIT_KEY\" }\n",
    );
}

fn ids(db: &Path, n: usize) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare("SELECT id FROM alerts ORDER BY id LIMIT ?")
        .expect("prepare");
    stmt.query_map([n as i64], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<String>, _>>()
        .expect("ids")
}

/// Decisions recorded in the cache with the audit key: statuses, notes with an outbox row
/// each, an approval; every one an audit entry.
fn decide(db: &Path, key: &AuditKey) -> usize {
    let mut store = Store::open(db).expect("open");
    store.set_audit_key(key.clone());
    let ids = ids(db, 6);
    let mut n = 0;
    for (i, id) in ids.iter().enumerate() {
        let actor = ["alice", "bob"][i % 2].to_string();
        let at = NOW_MS + i as i64 * 60_000;
        let change = match i % 3 {
            0 => LocalChange::Status(StatusChange {
                status: Status::Dismissed {
                    reason: DismissReason::FalsePositive,
                    note: Some(format!("scanner image {i}")),
                    until: None,
                },
                actor: actor.clone(),
                note: None,
                at,
            }),
            1 => LocalChange::Note(format!("looked at it, {i}")),
            _ => LocalChange::Status(StatusChange {
                status: Status::Acknowledged,
                actor: actor.clone(),
                note: Some("on it".into()),
                at,
            }),
        };
        let outbox = vec![OutboxItem {
            dedup_key: format!("notify:{id}:{i}"),
            alert_id: Some(id.clone()),
            kind: OutboxKind::Notify,
            destination: "slack".into(),
            payload: json!({"text": format!("decision {i}")}),
        }];
        store
            .record_decision(&Decision {
                alert_id: id.clone(),
                actor,
                at,
                change,
                outbox,
                audit_detail: json!({"i": i}),
            })
            .expect("record");
        n += 1;
    }
    n
}

/// The team chain recomputed here, independently of the code under test: seqs 1..n without
/// gaps, each prev_mac the previous mac, each mac the key's over the entry.
fn team_chain_verifies(db: &TestDb, key: &AuditKey) -> usize {
    let rows = rt().block_on(async {
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(conn);
        let rows = client
            .query(
                "SELECT seq, at, actor, action, subject, detail, prev_mac, mac FROM audit_log ORDER BY seq",
                &[],
            )
            .await
            .expect("audit rows");
        drop(client);
        let _ = task.await;
        rows
    });
    let mut prev = canonical::GENESIS.to_string();
    for (i, r) in rows.iter().enumerate() {
        let seq: i64 = r.get(0);
        assert_eq!(seq, i as i64 + 1, "gap in the team chain");
        let prev_mac: String = r.get(6);
        assert_eq!(
            prev_mac, prev,
            "entry {seq} does not follow its predecessor"
        );
        let bytes = canonical::entry_bytes(
            seq,
            r.get(1),
            r.get::<_, &str>(2),
            r.get::<_, &str>(3),
            r.get::<_, &str>(4),
            r.get::<_, &str>(5),
            &prev_mac,
        );
        let mac: String = r.get(7);
        assert_eq!(key.mac_hex(&bytes), mac, "entry {seq}'s mac");
        prev = mac;
    }
    rows.len()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.query(sql)[0]
        .as_deref()
        .expect("a value")
        .parse()
        .expect("a number")
}

fn sqlite_count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .expect("open")
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

#[test]
fn migrate_says_what_it_did_and_status_shows_the_store() {
    let Some(db) = TestDb::create() else { return };
    let sb = Sandbox::new();
    // Without a team store: the SQLite store migrates itself.
    let out = sb.ok(&["store", "migrate"]);
    assert!(out.contains("migrates itself when it is opened"), "{out}");
    let out = sb.fails(&["store", "status"], 2);
    assert!(out.contains("no team store is configured"), "{out}");

    let run = |args: &[&str]| {
        let out = sb
            .cmd()
            .env("SITREP_DATABASE_URL", &db.url)
            .args(args)
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let n = sitrep::store::team::MIGRATIONS.len();
    let (code, out, err) = run(&["store", "status"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("schema      0 (this build needs {n}")),
        "{out}"
    );
    let (code, out, err) = run(&["store", "migrate"]);
    assert_eq!(code, Some(0), "{err}");
    let label = target(&db.url).label();
    assert_eq!(out.trim(), format!("team store {label}: schema 0 → {n}"));
    let (_, out, _) = run(&["store", "migrate"]);
    assert_eq!(
        out.trim(),
        format!("team store {label}: schema {n}, up to date")
    );

    let (code, out, err) = run(&["store", "status", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["schema"], n);
    assert_eq!(v["alerts"], 0);
    assert_eq!(v["audit_entries"], 0);
    assert_eq!(v["refreshers"], json!([]));
}

#[test]
fn copy_moves_a_cache_and_the_audit_chain_verifies_after_it() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let team = migrated(&rt, &db);
    let sb = Sandbox::new();
    import(&sb, 40, 3);
    let key = AuditKey::from_bytes(KEY.as_bytes());
    let decided = decide(&sb.db(), &key);
    let cache = sb.db();
    let audit = sqlite_count(&cache, "SELECT count(*) FROM audit_log");
    assert!(audit >= decided as i64, "every decision is audited");

    let out = sb
        .cmd()
        .env("SITREP_AUDIT_KEY", KEY)
        .args(["store", "copy", "--to", &db.url])
        .output()
        .expect("copy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(chain verified)"), "{stdout}");

    // Everything arrived, in the same numbers.
    for (table, sqlite) in [
        ("alerts", "SELECT count(*) FROM alerts"),
        ("history", "SELECT count(*) FROM history"),
        ("outbox", "SELECT count(*) FROM outbox"),
        ("tickets", "SELECT count(*) FROM tickets"),
        ("approvals", "SELECT count(*) FROM approvals"),
        ("audit_log", "SELECT count(*) FROM audit_log"),
    ] {
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM {table}")),
            sqlite_count(&cache, sqlite),
            "{table}"
        );
    }
    // The analyst side came with its alert, and a replica will pull it (version 1).
    let first = &ids(&cache, 1)[0];
    let row = db.query(&format!(
        "SELECT status || ' ' || coalesce(status_reason, '-') || ' ' || version || ' ' || coalesce(status_by, '-') FROM alerts WHERE id = '{first}'"
    ));
    assert_eq!(row[0].as_deref(), Some("dismissed false_positive 1 alice"));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM alerts WHERE version = 0 AND status = 'new'"
        ),
        sqlite_count(&cache, "SELECT count(*) FROM alerts")
            - sqlite_count(
                &cache,
                "SELECT count(*) FROM alerts WHERE status <> 'new' OR status_note IS NOT NULL OR ticket IS NOT NULL"
            )
    );
    // A status line keeps what it changed.
    let line = db.query(&format!(
        "SELECT from_status || ' → ' || to_status || '; ' || reason FROM history \
         WHERE alert_id = '{first}' AND kind = 'status'"
    ));
    assert!(
        line.iter().any(|r| r
            .as_deref()
            .is_some_and(|r| r.ends_with(" → dismissed; false_positive"))),
        "{line:?}"
    );
    // Dedup keys kept: the same decision queued again in the team is not a second delivery.
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM outbox WHERE dedup_key = 'notify:{first}:0'")
        ),
        1
    );
    // The chain verifies with the same key, recomputed here.
    assert_eq!(team_chain_verifies(&db, &key) as i64, audit);
    // And sitrep's own verifier agrees, head record included: the copy anchored the chain.
    let out = sb
        .cmd()
        .env("SITREP_AUDIT_KEY", KEY)
        .env("SITREP_DATABASE_URL", &db.url)
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A second copy finds the store not empty and changes nothing.
    let out = sb
        .cmd()
        .env("SITREP_AUDIT_KEY", KEY)
        .args(["store", "copy", "--to", &db.url])
        .output()
        .expect("copy again");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not empty") && err.contains("--merge"),
        "{err}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log"), audit);

    // --merge: another cache's alerts only, the team's analyst side untouched.
    let other = Sandbox::new();
    import(&other, 50, 3); // the same 40 alerts and 10 more
    // A password on the command line (trust auth ignores it) works, is warned about, and
    // is never echoed.
    let with_password = db.url.replacen("postgres@", "postgres:s3cretpw@", 1);
    let out = other
        .cmd()
        .env("SITREP_AUDIT_KEY", KEY)
        .args(["store", "copy", "--to", &with_password, "--merge"])
        .output()
        .expect("merge");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("(merge: alerts only)"), "{stdout}");
    assert!(
        stderr.contains("set SITREP_DATABASE_PASSWORD instead"),
        "{stderr}"
    );
    assert!(!stdout.contains("s3cretpw") && !stderr.contains("s3cretpw"));
    assert_eq!(count(&db, "SELECT count(*) FROM alerts"), 50);
    let row = db.query(&format!("SELECT status FROM alerts WHERE id = '{first}'"));
    assert_eq!(row[0].as_deref(), Some("dismissed"));
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log"), audit);
    drop(team);
}

#[test]
fn a_copy_that_fails_at_the_end_leaves_the_team_store_empty() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let team = migrated(&rt, &db);
    let sb = Sandbox::new();
    import(&sb, 20, 5);
    let key = AuditKey::from_bytes(KEY.as_bytes());
    decide(&sb.db(), &key);
    let src = Store::open(&sb.db()).expect("open");
    // The wrong key: every row is written, then the chain check fails before the commit.
    let wrong = AuditKey::from_bytes(b"another key, also long enough: 0123456789abcdef");
    let e = rt
        .block_on(team.copy_from(
            &src,
            &CopyOptions {
                merge: false,
                audit_key: Some(wrong),
            },
        ))
        .expect_err("refused");
    assert!(e.to_string().contains("does not verify at entry 1"), "{e}");
    for table in ["alerts", "history", "outbox", "approvals", "audit_log"] {
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
    // The right key: the same copy goes through.
    let r = rt
        .block_on(team.copy_from(
            &src,
            &CopyOptions {
                merge: false,
                audit_key: Some(key.clone()),
            },
        ))
        .expect("copy");
    assert!(r.audit_verified && r.audit > 0 && r.alerts == 20, "{r:?}");
    assert_eq!(team_chain_verifies(&db, &key) as u64, r.audit);
}

#[test]
fn one_refresher_per_source_until_its_connection_closes() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let team = migrated(&rt, &db);
    rt.block_on(async {
        let a = team
            .lead("wiz-prod", "alice (pid 1)", NOW_MS)
            .await
            .expect("lead")
            .expect("the first gets it");
        assert_eq!(a.holder(), "alice (pid 1)");
        // A second sitrep, concurrently: only one leads.
        let (b, c) = tokio::join!(
            team.lead("wiz-prod", "bob (pid 2)", NOW_MS + 1),
            team.lead("wiz-prod", "carol (pid 3)", NOW_MS + 1)
        );
        assert!(b.expect("b").is_none() && c.expect("c").is_none());
        // Another source is free.
        let other = team
            .lead("prisma", "bob (pid 2)", NOW_MS)
            .await
            .expect("lead")
            .expect("free");
        let r = team
            .refresher("wiz-prod")
            .await
            .expect("row")
            .expect("some");
        assert_eq!(
            (r.holder.as_str(), r.since, r.live),
            ("alice (pid 1)", NOW_MS, true)
        );
        match sitrep::team::lead_source(&team, "wiz-prod", "bob (pid 2)", NOW_MS)
            .await
            .expect("lead_source")
        {
            sitrep::team::Leading::Elsewhere(Some(r)) => assert_eq!(r.holder, "alice (pid 1)"),
            other => panic!("{other:?}"),
        }
        a.heartbeat(NOW_MS + 5_000).await.expect("heartbeat");
        // alice's process goes away: its connection closes and the lock with it (the server
        // notices the closed socket a moment later; ask until it has).
        drop(a);
        let mut b = None;
        for _ in 0..200 {
            if let Some(l) = team
                .lead("wiz-prod", "bob (pid 2)", NOW_MS + 10_000)
                .await
                .expect("lead")
            {
                b = Some(l);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let b = b.expect("bob leads once alice's connection is gone");
        let r = team
            .refresher("wiz-prod")
            .await
            .expect("row")
            .expect("some");
        assert_eq!((r.holder.as_str(), r.live), ("bob (pid 2)", true));
        // Released on purpose: the row goes, the lock is free at once.
        b.release().await.expect("release");
        assert!(team.refresher("wiz-prod").await.expect("row").is_none());
        let c = team
            .lead("wiz-prod", "carol (pid 3)", NOW_MS)
            .await
            .expect("lead");
        assert!(c.is_some());
        drop(other);
    });
}

/// `sitrep sync` in team mode: a source another sitrep refreshes is not fetched; once it is
/// free this sync leads it, publishes and pulls.
#[test]
fn sync_skips_a_source_another_sitrep_refreshes() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let team = migrated(&rt, &db);
    let sb = Sandbox::new();
    let sim = sim_process::SimProcess::start(&sb, "wiz", 30, 4);
    let toml = sim.source_toml();
    let name = toml
        .lines()
        .find_map(|l| l.trim().strip_prefix("name = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("source name");
    sb.write("home/.config/sitrep/config.toml", &toml);
    let sync = || {
        let mut c = sb.cmd();
        c.env("SITREP_DATABASE_URL", &db.url);
        for (k, v) in sim.env() {
            c.env(k, v);
        }
        let out = c.arg("sync").output().expect("sync");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let lease = rt
        .block_on(team.lead(&name, "bob (pid 7)", NOW_MS))
        .expect("lead")
        .expect("free");
    let (code, out, err) = sync();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!(
            "source {name} is refreshed for the team by bob (pid 7) (since 2026-11-22T00:00:00Z); pulling its results instead"
        )),
        "{out}"
    );
    assert_eq!(rt.block_on(team.alert_count()).expect("count"), 0);
    rt.block_on(lease.release()).expect("release");

    let (code, out, err) = sync();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("30 alert(s) published"), "{out}");
    assert_eq!(rt.block_on(team.alert_count()).expect("count"), 30);
    // The sync gave the source up when it finished.
    assert!(rt.block_on(team.refresher(&name)).expect("row").is_none());
}

/// `sitrep report` on a team store: who decided what, across analysts; SQLite mode unchanged.
#[test]
fn report_covers_the_shift_across_analysts() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let team = migrated(&rt, &db);
    let sb = Sandbox::new();
    import(&sb, 10, 9);
    let before = sb.ok(&["report", "--since", "1d"]);
    assert!(!before.contains("## Team"), "{before}");
    let mut cache = Store::open(&sb.db()).expect("open");
    rt.block_on(sitrep::team::publish(&mut cache, &team))
        .expect("publish");
    let ids = ids(&sb.db(), 3);
    // Lines as the team's decisions and claims write them.
    for (i, (actor, kind, reason)) in [
        ("alice", "status", Some("new → acknowledged")),
        ("alice", "note", None),
        ("bob", "claim", Some("claimed until 02:00 UTC")),
        ("sitrep", "status", Some("followed the vendor")),
    ]
    .iter()
    .enumerate()
    {
        db.query(&format!(
            "INSERT INTO history (alert_id, at, actor, kind, reason, note) VALUES ('{}', {}, '{actor}', '{kind}', {}, 'n{i}')",
            ids[i % 3],
            NOW_MS - 3_600_000 + i as i64,
            reason.map_or("NULL".to_string(), |r| format!("'{r}'"))
        ));
    }
    db.query(&format!(
        "INSERT INTO decisions (decision_id, alert_id, actor, at, action, body) VALUES ('d1', '{}', 'alice', {}, 'status', '{{}}')",
        ids[0],
        NOW_MS - 3_600_000
    ));
    // An old line, before the shift.
    db.query(&format!(
        "INSERT INTO history (alert_id, at, actor, kind, note) VALUES ('{}', {}, 'carol', 'note', 'yesterday')",
        ids[0],
        NOW_MS - 3 * 86_400_000
    ));
    let out = sb
        .cmd()
        .env("SITREP_DATABASE_URL", &db.url)
        .args(["report", "--since", "12h"])
        .output()
        .expect("report");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{md}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let team_part = md.split("## Team").nth(1).expect("a Team section");
    assert!(
        team_part.contains("| alice | 1 | 2 | 1 note, 1 status |"),
        "{team_part}"
    );
    assert!(
        team_part.contains("| bob | 0 | 1 | 1 claim |"),
        "{team_part}"
    );
    assert!(
        !team_part.contains("carol") && !team_part.contains("followed the vendor"),
        "{team_part}"
    );
    assert!(team_part.contains("new → acknowledged — n0"), "{team_part}");
    assert!(team_part.contains(&format!("`{}`", ids[2])), "{team_part}");

    // The team store away (nothing listens on port 1): the report is still written, from the
    // replica, and its Team section says what it is missing.
    let out = sb
        .cmd()
        .env(
            "SITREP_DATABASE_URL",
            "postgres://alice:hunter2@127.0.0.1:1/soc?sslmode=disable",
        )
        .arg("--db")
        .arg(sb.db())
        .args(["report", "--since", "12h"])
        .output()
        .expect("report");
    let (md, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{md}{err}");
    assert!(md.contains("# "), "{md}");
    let team_part = md.split("## Team").nth(1).expect("a Team section");
    assert!(
        team_part.contains("The team store alice@127.0.0.1:1/soc could not be reached")
            && team_part.contains("as it was last pulled"),
        "{team_part}"
    );
    assert!(
        !md.contains("hunter2") && !err.contains("hunter2"),
        "{md}{err}"
    );
    assert!(err.contains("alice@127.0.0.1:1/soc"), "{err}");
}

/// The roles of docs/team.md, made unique for this database and dropped at the end.
struct Roles<'a> {
    db: &'a TestDb,
    names: Vec<String>,
}

impl Drop for Roles<'_> {
    fn drop(&mut self) {
        let list = self.names.join(", ");
        let quoted = self
            .names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.db.query(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename IN ({quoted})"
            ));
        }));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.db.query(&format!("DROP OWNED BY {list}"));
        }));
        for n in &self.names {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.db.query(&format!("DROP ROLE IF EXISTS {n}"));
            }));
        }
    }
}

/// The SQL block after `<!-- roles: WHAT -->` in docs/team.md.
fn doc_sql(what: &str) -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/team.md"))
        .expect("docs/team.md");
    let marker = format!("<!-- roles: {what} -->");
    let rest = doc.split(&marker).nth(1).expect("marker");
    let body = rest.split("```sql").nth(1).expect("sql block");
    body.split("```").next().expect("end").to_string()
}

#[test]
fn roles_from_the_docs_an_analyst_writes_a_read_only_analyst_only_reads() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let team = migrated(&rt, &db);
    let p = db.name.clone();
    let rename = |sql: &str| {
        sql.replace("sitrep_owner", &format!("{p}_owner"))
            .replace("sitrep_analyst", &format!("{p}_analyst"))
            .replace("sitrep_reader", &format!("{p}_reader"))
            .replace("ROLE alice", &format!("ROLE {p}_alice"))
            .replace("ROLE rita", &format!("ROLE {p}_rita"))
            .replace("DATABASE soc", &format!("DATABASE {p}"))
    };
    let roles = Roles {
        db: &db,
        names: ["alice", "rita", "analyst", "reader", "owner"]
            .iter()
            .map(|r| format!("{p}_{r}"))
            .collect(),
    };
    // The database exists already (the test's, owned by the server's superuser).
    let setup: String = doc_sql("setup")
        .lines()
        .filter(|l| !l.starts_with("CREATE DATABASE"))
        .collect::<Vec<_>>()
        .join("\n");
    db.query(&rename(&setup));
    db.query(&rename(&doc_sql("grants")));
    // Some alerts to read, published by the owner's side.
    let sb = Sandbox::new();
    import(&sb, 5, 2);
    let mut cache = Store::open(&sb.db()).expect("open");
    rt.block_on(sitrep::team::publish(&mut cache, &team))
        .expect("publish");
    let rows = cache.publish_rows(i64::MIN, "", 10).expect("rows");

    let as_role = |role: &str| {
        let url = db.url.replacen("postgres@", &format!("{p}_{role}@"), 1);
        rt.block_on(TeamStore::connect(&target(&url)))
            .expect("a role with CONNECT and SELECT connects")
    };
    // The read-only analyst: reads work, a write is refused as read-only, nothing written.
    let rita = as_role("rita");
    assert_eq!(rt.block_on(rita.alert_count()).expect("read"), 5);
    assert!(rt.block_on(rita.pull(0, 10)).expect("pull").alerts.len() == 5);
    let mut changed = rows.clone();
    for r in &mut changed {
        r.content_hash.push('x');
    }
    match rt.block_on(rita.publish(&changed)) {
        Err(TeamError::ReadOnly(m)) => assert!(m.contains("may not write"), "{m}"),
        other => panic!("a read-only role published: {other:?}"),
    }
    match rt.block_on(rita.lead("wiz", "rita", NOW_MS)) {
        Err(TeamError::ReadOnly(_)) => {}
        other => panic!("a read-only role became a refresher: {other:?}"),
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM alerts WHERE content_hash LIKE '%x'"
        ),
        0
    );
    // A read-only role's config may name a SIEM: adding it is quietly not theirs to do.
    let siem = ["splunk".to_string()];
    rt.block_on(rita.add_siem_destinations(&siem, "rita", NOW_MS))
        .expect("not an error for a reader");
    assert_eq!(count(&db, "SELECT count(*) FROM siem_destinations"), 0);
    // The analyst: the same writes go through, and the ones the triggers behind them make
    // (kept counts, SIEM rows) too: a new alert, a status decision, a SIEM destination.
    let alice = as_role("alice");
    assert_eq!(rt.block_on(alice.publish(&changed)).expect("publish"), 5);
    let mut new_row = rows[0].clone();
    new_row.id = format!("{}-new", new_row.id);
    assert_eq!(rt.block_on(alice.publish(&[new_row])).expect("publish"), 1);
    rt.block_on(alice.add_siem_destinations(&siem, "alice", NOW_MS))
        .expect("siem");
    assert_eq!(count(&db, "SELECT count(*) FROM siem_destinations"), 1);
    let ack = Decision {
        alert_id: rows[1].id.clone(),
        actor: "alice".into(),
        at: NOW_MS,
        change: LocalChange::Status(StatusChange {
            status: Status::Acknowledged,
            actor: "alice".into(),
            note: None,
            at: NOW_MS,
        }),
        outbox: Vec::new(),
        audit_detail: json!({ "status": "acknowledged" }),
    };
    let key = AuditKey::from_bytes(b"roles test audit key 0123456789abcdefgh");
    let applied = rt
        .block_on(alice.record_decision("roles-1", None, &ack, Some(&key)))
        .expect("an analyst decides");
    assert!(
        matches!(applied, sitrep::store::team::TeamRecorded::Applied { .. }),
        "{applied:?}"
    );
    assert_eq!(
        count(
            &db,
            "SELECT n FROM alert_counts WHERE status = 'acknowledged'"
        ),
        1
    );
    let lease = rt
        .block_on(alice.lead("wiz", "alice", NOW_MS))
        .expect("lead")
        .expect("free");
    rt.block_on(lease.release()).expect("release");
    drop((rita, alice, team));
    drop(roles);
}

/// `sitrep demo --team URL`'s library part: a new database gets the schema and the demo's
/// alerts; seeding again writes nothing new.
#[test]
fn seed_migrates_a_new_team_store_and_publishes_the_alerts() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let sb = Sandbox::new();
    import(&sb, 12, 6);
    let mut store = Store::open(&sb.db()).expect("open");
    let seeded = rt
        .block_on(sitrep::team::seed(&mut store, &target(&db.url)))
        .expect("seed");
    assert_eq!(
        (seeded.migrated.from, seeded.migrated.to),
        (0, sitrep::store::team::MIGRATIONS.len() as i64)
    );
    assert_eq!(seeded.published, 12);
    assert_eq!(rt.block_on(seeded.team.alert_count()).expect("count"), 12);
    let again = rt
        .block_on(sitrep::team::seed(&mut store, &target(&db.url)))
        .expect("seed again");
    assert_eq!(
        (again.migrated.from, again.published),
        (sitrep::store::team::MIGRATIONS.len() as i64, 0)
    );
}
