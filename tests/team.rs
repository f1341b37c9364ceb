//! Team mode against the machine's real PostgreSQL (tests/common/pg.rs): migrations, a
//! publisher's alerts reaching another replica, the analyst side pulled down, and LISTEN
//! waking a listener on a teammate's commit.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::time::Duration;

use sitrep::store::Store;
use sitrep::store::team::{MIGRATIONS, TeamStore, TeamTarget};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn target(db: &pg::TestDb) -> TeamTarget {
    TeamTarget::parse(&db.url, None, None, false).expect("target")
}

/// A store holding the corpus's Prisma CSPM page (a few real alerts); None (the test skips)
/// without the corpus, which `corpus_dir` says (under CI it fails there).
fn publisher() -> Option<Store> {
    let corpus = common::corpus_dir()?;
    let text = std::fs::read_to_string(corpus.join("prisma-cspm/elastic-v2-alert-post-page1.json"))
        .expect("corpus file");
    let body: serde_json::Value = serde_json::from_str(&text).expect("json");
    let alerts =
        (sitrep::vendors::kit(sitrep::domain::Vendor::PrismaCspm).map)(&body).expect("map");
    assert!(!alerts.is_empty());
    let mut s = Store::open_in_memory().expect("store");
    s.import(&alerts, common::NOW_MS).expect("import");
    Some(s)
}

#[test]
fn migrate_is_versioned_and_a_second_run_changes_nothing() {
    let Some(db) = pg::TestDb::create() else {
        return;
    };
    let rt = rt();
    rt.block_on(async {
        let t = target(&db);
        let e = TeamStore::connect(&t).await.expect_err("empty database");
        assert!(e.to_string().contains("sitrep store migrate"), "{e}");
        let team = TeamStore::connect_unchecked(&t).await.expect("connect");
        let first = team.migrate().await.expect("migrate");
        let n = MIGRATIONS.len() as i64;
        assert_eq!((first.from, first.to), (0, n));
        let again = team.migrate().await.expect("again");
        assert_eq!((again.from, again.to), (n, n));
        TeamStore::connect(&t).await.expect("schema is current");
    });
}

/// A team store made by a sitrep that knew only the first migration, with alerts in it, is
/// brought up to date: refused until migrated, then every later version applies (the history
/// lines' versions, the SIEM table, the queue's columns), and its rows get a number and wait,
/// unmapped, for the next publish to fill the queue's columns.
#[test]
fn a_store_at_version_one_is_brought_up_to_date() {
    let Some(db) = pg::TestDb::create() else {
        return;
    };
    db.query(MIGRATIONS[0].1);
    db.query(
        "CREATE TABLE sitrep_schema (version integer NOT NULL); \
         INSERT INTO sitrep_schema VALUES (1); \
         INSERT INTO alerts (id, source, vendor, raw, content_hash, imported_at) \
         VALUES ('wiz:1', 'wiz', 'wiz', '{}', 'h1', 1), ('wiz:2', 'wiz', 'wiz', '{}', 'h2', 2)",
    );
    let rt = rt();
    rt.block_on(async {
        let t = target(&db);
        let e = TeamStore::connect(&t).await.expect_err("older schema");
        assert!(e.to_string().contains("sitrep store migrate"), "{e}");
        let team = TeamStore::connect_unchecked(&t).await.expect("connect");
        let up = team.migrate().await.expect("migrate");
        assert_eq!((up.from, up.to), (1, MIGRATIONS.len() as i64));
        TeamStore::connect(&t).await.expect("schema is current");
        assert_eq!(team.unmapped_count().await.expect("count"), 2);
    });
    assert_eq!(
        db.query("SELECT count(DISTINCT num) FROM alerts WHERE num IS NOT NULL"),
        vec![Some("2".to_string())]
    );
    let cols = db.query(
        "SELECT count(*)::text FROM information_schema.columns \
         WHERE table_name = 'history' AND column_name = 'version'",
    );
    assert_eq!(cols[0].as_deref(), Some("1"));
    assert_eq!(
        db.query("SELECT to_regclass('siem_destinations') IS NOT NULL"),
        vec![Some("t".to_string())]
    );
}

#[test]
fn an_unreachable_store_is_one_line_naming_it_without_a_password() {
    let rt = rt();
    let t = TeamTarget::parse(
        "postgres://alice:hunter2@127.0.0.1:1/soc?sslmode=disable",
        None,
        None,
        false,
    )
    .expect("target");
    let e = rt
        .block_on(TeamStore::connect(&t))
        .expect_err("nothing listens on port 1");
    let msg = e.to_string();
    assert!(e.is_unreachable(), "{msg}");
    assert!(msg.contains("alice@127.0.0.1:1/soc"), "{msg}");
    assert!(!msg.contains("hunter2") && !msg.contains('\n'), "{msg}");
}

#[test]
fn a_publishers_alerts_and_the_teams_state_reach_another_replica() {
    let Some(db) = pg::TestDb::create() else {
        return;
    };
    let rt = rt();
    rt.block_on(async {
        let t = target(&db);
        let team = TeamStore::connect_unchecked(&t).await.expect("connect");
        team.migrate().await.expect("migrate");
        let Some(mut pubs) = publisher() else {
            return;
        };
        let n = pubs.total().expect("total");
        let written = sitrep::team::publish(&mut pubs, &team)
            .await
            .expect("publish");
        assert_eq!(written as usize, n);
        // Nothing changed: a second publish writes nothing.
        assert_eq!(
            sitrep::team::publish(&mut pubs, &team)
                .await
                .expect("again"),
            0
        );

        let mut replica = Store::open_in_memory().expect("replica");
        sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("pull");
        assert_eq!(replica.total().expect("total"), n);
        let id = pubs.ids_like("", 1).expect("ids")[0].clone();
        let mine = pubs.get(&id).expect("get").expect("there");
        let theirs = replica.get(&id).expect("get").expect("pulled");
        assert_eq!(mine.alert, theirs.alert, "the replica maps the same alert");

        // A teammate's claim (the analyst side) arrives without the vendor row again.
        db.query(&format!(
            "UPDATE alerts SET claimed_by = 'bob', claim_until = {}, version = version + 1, \
             seq = nextval('change_seq') WHERE id = '{id}'",
            common::NOW_MS + 3_600_000
        ));
        let changed = sitrep::team::pull(&mut replica, &team, common::NOW_MS)
            .await
            .expect("pull");
        assert_eq!(changed, 1);
        let theirs = replica.get(&id).expect("get").expect("there");
        assert_eq!(theirs.assignee.as_deref(), Some("bob"));
        assert_eq!(theirs.claim_until, Some(common::NOW_MS + 3_600_000));
        assert_eq!(replica.team_version(&id).expect("version"), Some(1));
    });
}

#[test]
fn a_commit_wakes_a_listener() {
    let Some(db) = pg::TestDb::create() else {
        return;
    };
    let rt = rt();
    rt.block_on(async {
        let t = target(&db);
        let team = TeamStore::connect_unchecked(&t).await.expect("connect");
        team.migrate().await.expect("migrate");
        let mut listener = team.listen().await.expect("listen");
        let Some(mut pubs) = publisher() else {
            return;
        };
        sitrep::team::publish(&mut pubs, &team)
            .await
            .expect("publish");
        let woke = tokio::time::timeout(Duration::from_secs(5), listener.changed())
            .await
            .expect("woken within 5 s");
        assert!(woke);
        // Nothing else committed: no second wake-up.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), listener.changed())
                .await
                .is_err()
        );
    });
}
