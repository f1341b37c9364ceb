//! One refresher per source, when the lease goes away under a running console (issue 20):
//! the lease's connection dies (a network blip, a restarted server), its advisory lock with
//! it, and another sitrep may take the source over. The console must stop calling the vendor
//! for that source at once and ask for the lead again, never refresh it beside the new
//! leader. Real PostgreSQL (tests/common/pg.rs), a real vendor simulator over HTTP.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/sim_source.rs"]
mod sim_source;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sitrep::console::team_refresh::Leases;
use sitrep::domain::Vendor;
use sitrep::sim::server::{Faults, SimOptions};
use sitrep::sources::sync::{Refresher, SourceStatus};
use sitrep::store::Store;
use sitrep::store::team::{TeamStore, TeamTarget};

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn migrated(db: &pg::TestDb) -> TeamStore {
    let target = TeamTarget::parse(&db.url, None, None, false).expect("url");
    let team = TeamStore::connect_unchecked(&target)
        .await
        .expect("connect");
    team.migrate().await.expect("migrate");
    team
}

/// A vendor simulator serving `alerts` alerts, without faults.
async fn sim(vendor: Vendor, alerts: usize) -> sitrep::sim::server::SimHandle {
    sitrep::vendors::sim::start(
        vendor,
        SimOptions {
            alerts,
            seed: 5,
            faults: Faults::none(),
            now_ms: now(),
            ..Default::default()
        },
    )
    .await
    .expect("sim")
}

/// Wait (at most 20 s) until the source's status satisfies `ok`.
async fn status_until(
    status: &mut tokio::sync::watch::Receiver<SourceStatus>,
    ok: impl Fn(&SourceStatus) -> bool,
) -> SourceStatus {
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if ok(&status.borrow_and_update()) {
                return status.borrow().clone();
            }
            status.changed().await.expect("status channel");
        }
    })
    .await;
    got.unwrap_or_else(|_| panic!("status never matched; last {:?}", *status.borrow()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_the_refresh_and_the_source_is_asked_for_again() {
    let Some(db) = pg::TestDb::create() else {
        return;
    };
    let team = migrated(&db).await;
    let sim = sim(Vendor::Orca, 50).await;
    let mut cfg = sim_source::source_config(&sim);
    cfg.interval = Duration::from_secs(1);
    let lease = team
        .lead(&cfg.name, "alice (pid 1)", now())
        .await
        .expect("lead")
        .expect("the lock is free");
    let (lost_tx, mut lost_rx) = tokio::sync::mpsc::unbounded_channel();
    let leases = Leases::new(vec![lease], std::slice::from_ref(&cfg), lost_tx);
    let store = Arc::new(Mutex::new(Store::open_in_memory().expect("store")));
    let refresher = Refresher::spawn_with(
        sitrep::vendors::connect,
        vec![cfg.clone()],
        store.clone(),
        now,
        Some(leases.permit(now)),
    );
    let mut status = refresher.status[0].1.clone();
    // Led: it refreshes.
    status_until(&mut status, |s| {
        matches!(
            s,
            SourceStatus::Idle {
                last_success: Some(_),
                ..
            }
        )
    })
    .await;
    assert_eq!(store.lock().expect("lock").total().expect("total"), 50);

    // The lease's connection is cut from the server's side (this test's database only:
    // other tests hold advisory locks too); the lock goes with it.
    db.query(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
         WHERE l.locktype = 'advisory' AND l.pid <> pg_backend_pid() \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    // The vendor gains alerts, but this console no longer leads the source: at its next run
    // it finds the lease gone, stands by, and hands the source to the takeover loop.
    sim.evolve(5, 7).await;
    let standby = status_until(&mut status, |s| matches!(s, SourceStatus::Standby { .. })).await;
    assert!(
        matches!(&standby, SourceStatus::Standby { why } if why.contains("lead lost")),
        "{standby:?}"
    );
    let asked = tokio::time::timeout(Duration::from_secs(5), lost_rx.recv())
        .await
        .expect("the lost source is handed on")
        .expect("channel open");
    assert_eq!(asked.name, cfg.name);
    assert_eq!(leases.count().await, 0);
    // Another sitrep takes the source over, and this one keeps its hands off: three more
    // intervals, no fetch.
    let bob = team
        .lead(&cfg.name, "bob (pid 2)", now())
        .await
        .expect("lead")
        .expect("the lock was freed with the connection");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        store.lock().expect("lock").total().expect("total"),
        50,
        "refreshed beside the new leader"
    );
    assert!(matches!(*status.borrow(), SourceStatus::Standby { .. }));
    refresher.stop(Duration::from_secs(5)).await;
    drop(bob);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_refreshed_while_the_store_was_away_stops_when_someone_else_leads_it() {
    let Some(db) = pg::TestDb::create() else {
        return;
    };
    let team = migrated(&db).await;
    let sim = sim(Vendor::Wiz, 20).await;
    let cfg = sim_source::source_config(&sim);
    // The team store could not be asked at start: the source is refreshed here, unleased.
    let (lost_tx, _lost_rx) = tokio::sync::mpsc::unbounded_channel();
    let leases = Leases::new(Vec::new(), std::slice::from_ref(&cfg), lost_tx);
    assert!(leases.check(&cfg.name, now()).await.is_ok());
    assert_eq!(leases.unleased().await.len(), 1);
    // A source this console never refreshed is not its to refresh.
    assert!(leases.check("someone-elses", now()).await.is_err());
    // The store is back and bob leads it: this console's takeover loop hears so and stops.
    let _bob = team
        .lead(&cfg.name, "bob (pid 2)", now())
        .await
        .expect("lead")
        .expect("free");
    leases.led_elsewhere(&cfg.name).await;
    let refused = leases.check(&cfg.name, now()).await;
    assert_eq!(refused, Err("refreshed for the team elsewhere".to_string()));
    sim.stop().await;
}
