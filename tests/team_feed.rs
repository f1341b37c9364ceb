//! The team change feed against the real PostgreSQL (tests/common/pg.rs): a pull never skips
//! a change that committed after a later seq; approvals, tickets and status changes (from, to)
//! reach the replica; and four-eyes works across two analysts' replicas (issue 20).

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::path::Path;
use std::time::Duration;

use common::Sandbox;
use pg::TestDb;
use sitrep::domain::Status;
use sitrep::store::team::{TeamStore, TeamTarget};
use sitrep::store::{Decision, LocalChange, StatusChange, Store, Verdict};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn target(db: &TestDb) -> TeamTarget {
    TeamTarget::parse(&db.url, None, None, false).expect("target")
}

/// A store holding `n` generated Prisma alerts, imported through the CLI into `sb`'s cache.
fn imported(sb: &Sandbox, n: usize) -> Store {
    sb.import_generated(11, n);
    Store::open(&sb.db()).expect("store")
}

/// A migrated team store with `n` alerts published from `sb`'s cache, and their ids.
fn seeded(rt: &tokio::runtime::Runtime, db: &TestDb, sb: &Sandbox, n: usize) -> Vec<String> {
    let team = db.migrated_team(rt);
    let mut store = imported(sb, n);
    let ids = db.published(rt, &mut store, &team);
    assert_eq!(ids.len(), n);
    ids
}

/// A plain connection of the test's own (its driver task spawned on the runtime).
async fn raw(db: &TestDb) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// T1 takes a seq and stays open; T2 (a claim, through the team store's own code) takes a
/// later one; a replica pulls; T1 commits; the next pull must bring T1's line. Without the
/// change lock T2 commits at once, the first pull moves the cursor past T1's seq and T1's
/// line is never pulled. With it, T2 waits for T1, and both arrive.
#[test]
fn a_pull_never_skips_a_change_that_commits_after_a_later_seq() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let sb = Sandbox::new();
    let ids = seeded(&rt, &db, &sb, 3);
    rt.block_on(async {
        let team = TeamStore::connect(&target(&db)).await.expect("connect");
        let mut replica = Store::open_in_memory().expect("replica");
        sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("first pull");
        assert_eq!(replica.total().expect("total"), 3);

        // T1: a history line written by hand (only the schema's trigger orders it), open.
        let mut t1 = raw(&db).await;
        let tx1 = t1.transaction().await.expect("begin");
        let t1_seq: i64 = tx1
            .query_one(
                "INSERT INTO history (alert_id, at, actor, kind, note) \
                 VALUES ($1, $2, 'carol', 'note', 'written by T1') RETURNING seq",
                &[&ids[0], &common::NOW_MS],
            )
            .await
            .expect("T1 insert")
            .get(0);

        // T2: bob claims another alert, on a connection of the pool.
        let t2 = {
            let team = team.clone();
            let id = ids[1].clone();
            tokio::spawn(async move {
                team.claim(&id, "bob", common::NOW_MS, 3_600_000, None, false)
                    .await
            })
        };
        // Until T2 has either committed or is waiting for a lock: without the change lock it
        // commits, with it it waits; either way the race is set before the pull.
        let watcher = raw(&db).await;
        loop {
            if t2.is_finished() {
                break;
            }
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                    &[],
                )
                .await
                .expect("pg_locks")
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("pull while T1 is open");
        tx1.commit().await.expect("T1 commit");
        t2.await.expect("T2 task").expect("T2 claim");
        let t2_seq: i64 = db.query(&format!("SELECT seq FROM alerts WHERE id = '{}'", ids[1]))[0]
            .as_deref()
            .expect("seq")
            .parse()
            .expect("number");
        assert!(t1_seq < t2_seq, "T1 took the earlier seq");

        sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("pull after T1");
        let lines = replica.history(&ids[0]).expect("history");
        assert!(
            lines
                .iter()
                .any(|h| h.note.as_deref() == Some("written by T1")),
            "T1's line was skipped: {lines:?}"
        );
        let bobs = replica.get(&ids[1]).expect("get").expect("there");
        assert_eq!(bobs.assignee.as_deref(), Some("bob"));
        // And every history line of the team store is in the replica, once.
        let team_lines: i64 = db.query("SELECT count(*) FROM history")[0]
            .as_deref()
            .expect("count")
            .parse()
            .expect("number");
        let mut here = 0;
        for id in &ids {
            here += replica
                .history(id)
                .expect("history")
                .iter()
                .filter(|h| h.kind != "imported")
                .count();
        }
        assert_eq!(here as i64, team_lines);
    });
}

fn decision(alert: &str, actor: &str, change: LocalChange) -> Decision {
    Decision {
        alert_id: alert.to_string(),
        actor: actor.to_string(),
        at: common::NOW_MS,
        change,
        outbox: Vec::new(),
        audit_detail: serde_json::json!({}),
    }
}

/// Approvals, tickets and status lines with their change arrive in a replica, and a ticket's
/// new status arrives again.
#[test]
fn approvals_tickets_and_status_changes_reach_the_replica() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let sb = Sandbox::new();
    let ids = seeded(&rt, &db, &sb, 2);
    rt.block_on(async {
        let team = TeamStore::connect(&target(&db)).await.expect("connect");
        let sha = "ab".repeat(32);
        for (n, d) in [
            decision(
                &ids[0],
                "alice",
                LocalChange::Approval {
                    verdict: Verdict::Request,
                    diff_sha256: sha.clone(),
                    note: Some("please look".into()),
                },
            ),
            decision(
                &ids[0],
                "bob",
                LocalChange::Approval {
                    verdict: Verdict::Approve,
                    diff_sha256: sha.clone(),
                    note: None,
                },
            ),
            decision(
                &ids[1],
                "alice",
                LocalChange::Status(StatusChange {
                    status: Status::Acknowledged,
                    actor: "alice".into(),
                    note: None,
                    at: common::NOW_MS,
                }),
            ),
        ]
        .iter()
        .enumerate()
        {
            team.record_decision(&format!("d{n}"), None, d, None)
                .await
                .expect("decision");
        }
        db.query(&format!(
            "INSERT INTO tickets (fingerprint, system, key, native_id, url, created, at) \
             VALUES ('fp-1', 'jira', 'SEC-7', '10007', 'https://jira.example/SEC-7', true, {})",
            common::NOW_MS
        ));

        let mut replica = Store::open_in_memory().expect("replica");
        sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("pull");
        let approvals = replica.approvals(&ids[0]).expect("approvals");
        let got: Vec<(Verdict, &str)> = approvals
            .iter()
            .map(|a| (a.verdict, a.actor.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(Verdict::Request, "alice"), (Verdict::Approve, "bob")]
        );
        assert!(approvals.iter().all(|a| a.diff_sha256 == sha));
        let ticket = replica.ticket("fp-1").expect("ticket").expect("pulled");
        assert_eq!(
            (ticket.key.as_str(), ticket.status.as_deref()),
            ("SEC-7", None)
        );
        let status = replica
            .history(&ids[1])
            .expect("history")
            .into_iter()
            .find(|h| h.kind == "status")
            .expect("a status line");
        assert_eq!(
            (status.from_status.as_deref(), status.to_status.as_deref()),
            (Some("new"), Some("acknowledged"))
        );

        // A ticket's polled status moves its seq: the next pull brings it; pulling again
        // brings nothing twice.
        assert!(
            team.set_ticket_status("fp-1", "Done", true, common::NOW_MS + 1)
                .await
                .expect("status")
        );
        sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("pull");
        sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("pull again");
        let ticket = replica.ticket("fp-1").expect("ticket").expect("there");
        assert_eq!(
            (ticket.status.as_deref(), ticket.done),
            (Some("Done"), true)
        );
        assert_eq!(replica.approvals(&ids[0]).expect("approvals").len(), 2);
        assert_eq!(replica.tickets(false).expect("tickets").len(), 1);
    });
}

/// Four-eyes across analysts: alice's approval of a diff is a request; bob, on his own
/// replica, approves it as the second pair of eyes; alice cannot approve her own request.
#[test]
fn a_second_analyst_completes_four_eyes() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let sb = Sandbox::new();
    let ids = seeded(&rt, &db, &sb, 40);
    let run = |user: &str, replica: &Path, args: &[&str]| {
        sb.cmd()
            .env("SITREP_DATABASE_URL", &db.url)
            .env("USER", user)
            .env("SITREP_DB", replica)
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
    let alice_db = sb.db();
    let bob_db = sb.path("bob/replica.db");
    // The first alert sitrep can propose a fix for.
    let mut picked = None;
    for id in &ids {
        let o = run("alice", &alice_db, &["approve", id, "--no-deliver"]);
        if o.status.success() {
            assert!(
                text(&o).contains("awaiting approval: 0/1, requested by alice"),
                "{}",
                text(&o)
            );
            picked = Some(id.clone());
            break;
        }
        assert!(text(&o).contains("nothing to approve"), "{}", text(&o));
    }
    let id = picked.expect("an alert with a remediation proposal");

    // Alice's own replica holds her request (pulled back): she cannot approve it herself.
    let o = run("alice", &alice_db, &["approve", &id, "--no-deliver"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("four-eyes rule: alice requested"),
        "{}",
        text(&o)
    );

    // Bob, on his own replica, sees alice's request and approves as the second pair of eyes.
    let o = run("bob", &bob_db, &["approve", &id, "--no-deliver"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("approved by bob"), "{}", text(&o));
    let verdicts = db.query(&format!(
        "SELECT actor || ':' || verdict FROM approvals WHERE alert_id = '{id}' ORDER BY seq"
    ));
    let verdicts: Vec<&str> = verdicts.iter().flatten().map(String::as_str).collect();
    assert_eq!(verdicts, vec!["alice:request", "bob:approve"]);
    // Alice's replica learns it is approved: a late rejection is refused.
    let o = run("alice", &alice_db, &["reject", &id, "--note", "too late"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already approved"), "{}", text(&o));
}

/// A fresh replica pulling a team store of more than one page: an alert claimed between two
/// publishes and released after them sits past the first page's cursor with its vendor
/// object unchanged since, and its claim line sits before that cursor. It arrives whole:
/// the alert (vendor side and claim state) and both lines.
#[test]
fn a_first_pull_of_several_pages_brings_alerts_touched_in_between_whole() {
    let Some(db) = TestDb::create() else { return };
    let rt = rt();
    let sb = Sandbox::new();
    let store = imported(&sb, 1_200);
    let rows = store.publish_rows(i64::MIN, "", 2_000).expect("rows");
    assert_eq!(rows.len(), 1_200);
    rt.block_on(async {
        let target = target(&db);
        let team = TeamStore::connect_unchecked(&target)
            .await
            .expect("connect");
        team.migrate().await.expect("migrate");
        team.publish(&rows[..600]).await.expect("publish");
        let a = rows[0].id.clone();
        team.claim(&a, "bob", common::NOW_MS, 3_600_000, None, false)
            .await
            .expect("claim");
        team.publish(&rows[600..]).await.expect("publish");
        team.release(&a, "bob", common::NOW_MS + 1, None)
            .await
            .expect("release");

        let mut replica = Store::open_in_memory().expect("replica");
        sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("pull");
        assert_eq!(replica.total().expect("total"), 1_200);
        assert!(replica.get(&a).expect("get").is_some(), "{a} never arrived");
        let kinds: Vec<String> = replica
            .history(&a)
            .expect("history")
            .into_iter()
            .map(|h| h.kind)
            .filter(|k| k != "imported")
            .collect();
        assert_eq!(kinds, vec!["claim", "release"]);
        assert_eq!(replica.team_version(&a).expect("version"), Some(2));
    });
}
