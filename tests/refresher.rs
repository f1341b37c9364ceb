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

/// The simulator's `[[source]]`, with its credentials as literal values.
fn source_for(sim: &server::SimHandle) -> sitrep::config::sources::SourceConfig {
    let mut cfg = Config::from_text(Some(std::path::Path::new("t.toml")), &sim.source_toml)
        .expect("source_toml parses")
        .sources
        .remove(0);
    for c in cfg.credentials.values_mut() {
        if let CredentialRef::Env(var) = c.clone() {
            let value = sim
                .env
                .iter()
                .find(|(n, _)| *n == var)
                .map(|(_, v)| v.clone())
                .expect("env value");
            *c = CredentialRef::Literal(Secret::new(value));
        }
    }
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_picks_up_new_alerts_and_publishes_its_state() {
    let sim = sitrep::vendors::sim::start(
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
    let mut cfg = source_for(&sim);
    cfg.interval = Duration::from_secs(1);
    let store = Arc::new(Mutex::new(Store::open_in_memory().expect("store")));
    let refresher = Refresher::spawn(sitrep::vendors::connect, vec![cfg], store.clone(), now);
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
    refresher.stop(Duration::from_secs(5)).await;
    sim.stop().await;
}

/// The console's way out (quit, SIGTERM, SIGHUP) stops the refresher and then drops the
/// runtime. A run stopped while it commits pages sits in a blocking section that cannot be
/// cancelled; if the runtime went away meanwhile, the run resumed without timers and
/// panicked, and the panic hook then hung the process (found as an orphaned `sitrep demo`
/// spinning after the SIGTERM test). `stop` waits for the tasks, so nothing runs on after.
/// The race needs a run to be inside that section at the moment the runtime goes, so this
/// test stops runs at several points of their paging; it cannot force the moment.
#[test]
fn stopping_in_the_middle_of_a_run_then_dropping_the_runtime_panics_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let shutdown_panics = Arc::new(AtomicUsize::new(0));
    let previous = std::panic::take_hook();
    {
        let n = shutdown_panics.clone();
        std::panic::set_hook(Box::new(move |info| {
            if info.to_string().contains("shut") {
                n.fetch_add(1, Ordering::SeqCst);
            }
            previous(info)
        }));
    }
    for round in 0..6 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt
            .block_on(sitrep::vendors::sim::start(
                Vendor::CortexXdr,
                SimOptions {
                    alerts: 4_000,
                    seed: round,
                    faults: Faults::none(),
                    now_ms: now(),
                    ..Default::default()
                },
            ))
            .expect("sim");
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(Mutex::new(
            Store::open(&dir.path().join("r.db")).expect("store"),
        ));
        let refresher = {
            let _guard = rt.enter();
            Refresher::spawn(
                sitrep::vendors::connect,
                vec![source_for(&sim)],
                store.clone(),
                now,
            )
        };
        let mut status = refresher.status[0].1.clone();
        let paging = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), async {
                loop {
                    if let SourceStatus::Syncing { pages, .. } = &*status.borrow_and_update()
                        && *pages >= 2 + round as usize * 3
                    {
                        return;
                    }
                    status.changed().await.expect("status channel");
                }
            })
            .await
        });
        assert!(paging.is_ok(), "round {round}: the run never got going");
        rt.block_on(refresher.stop(Duration::from_secs(10)));
        // The run's writer thread commits what it was handed, then lets go of the store.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&store) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "round {round}: the store is still held"
        );
        drop(rt);
        drop(sim);
    }
    assert_eq!(shutdown_panics.load(Ordering::SeqCst), 0);
}
