//! The background refresher: a task per source on its interval, publishing its state, and new
//! alerts from the vendor showing up in the store without anyone asking.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sitrep::config::Config;
use sitrep::config::sources::{CredentialRef, Secret};
use sitrep::domain::Vendor;
use sitrep::sim::server::{self, Faults, SimOptions};
use sitrep::sources::sync::{Refresher, SourceStatus};
use sitrep::store::Store;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_picks_up_new_alerts_and_publishes_its_state() {
    let sim = server::start(
        Vendor::Orca,
        SimOptions {
            alerts: 200,
            seed: 3,
            faults: Faults::none(),
            now_ms: now(),
            ..Default::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = Config::from_text(Some(std::path::Path::new("t.toml")), &sim.source_toml)
        .expect("source_toml parses")
        .sources
        .remove(0);
    // Literal credentials for the test (the simulator's values), and a short interval.
    for (k, c) in cfg.credentials.iter_mut() {
        if let CredentialRef::Env(var) = c.clone() {
            let value = sim
                .env
                .iter()
                .find(|(n, _)| *n == var)
                .map(|(_, v)| v.clone())
                .expect("env value");
            *c = CredentialRef::Literal(Secret::new(value));
        }
        let _ = k;
    }
    cfg.interval = Duration::from_secs(1);
    let store = Arc::new(Mutex::new(Store::open_in_memory().expect("store")));
    let refresher = Refresher::spawn(vec![cfg], store.clone(), now);
    let mut status = refresher.status[0].1.clone();

    // First run completes.
    let idle = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            status.changed().await.expect("status channel");
            if let SourceStatus::Idle {
                last_success: Some(_),
                ..
            } = &*status.borrow()
            {
                return;
            }
        }
    })
    .await;
    assert!(
        idle.is_ok(),
        "no successful run; status {:?}",
        *status.borrow()
    );
    let first = store.lock().expect("lock").total().expect("total");
    assert_eq!(first, 200);

    // The vendor gains alerts; the next scheduled run brings them in.
    sim.evolve(5, 7).await;
    let grown = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if store.lock().expect("lock").total().expect("total") == 207 {
                return;
            }
        }
    })
    .await;
    assert!(grown.is_ok(), "the refresher did not fetch the new alerts");
    refresher.stop();
    sim.stop().await;
}
