//! Prisma Cloud CSPM: the client against its simulator over real HTTP on loopback.

#[path = "common/sync_prisma.rs"]
mod sync_prisma;

use std::collections::HashSet;
use std::time::Duration;

use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
use sitrep::sim::server::{Faults, SimHandle, SimOptions};
use sitrep::sim::world::SimStatus;
use sitrep::sources::api::{ApiError, Window, WriteBack, WriteOutcome};
use sitrep::vendors::connect;
use sitrep::vendors::emit;
use sync_prisma::{StoreSink, counter, now_ms, source_config, with_credential};

const V: Vendor = Vendor::PrismaCspm;

async fn start(alerts: usize, faults: Faults) -> SimHandle {
    sitrep::vendors::sim::start(
        V,
        SimOptions {
            alerts,
            faults,
            seed: 42,
            ..SimOptions::default()
        },
    )
    .await
    .expect("simulator starts")
}

fn vendor_state(s: SimStatus) -> VendorState {
    match s {
        SimStatus::Open => VendorState::Open,
        SimStatus::InProgress => VendorState::InProgress,
        SimStatus::Resolved => VendorState::Resolved,
        SimStatus::Dismissed => VendorState::Dismissed,
    }
}

/// The store holds exactly the simulator's alerts, with their statuses and severities.
async fn assert_store_equals_world(handle: &SimHandle, sink: &StoreSink, source: &str) {
    let world = handle.state.world.read().await;
    let want: HashSet<String> = world
        .findings_for(V)
        .map(|f| emit::native_id(V, &world, f))
        .collect();
    let have = sink.stored_ids(source);
    let missing = want.difference(&have).count();
    let extra = have.difference(&want).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "missing / extra alerts in the store"
    );
    for f in world.findings_for(V) {
        let id = emit::native_id(V, &world, f);
        let a = sink
            .latest
            .get(&id)
            .map(|a| (a.vendor_status.clone(), a.severity.clone()));
        if let Some((status, severity)) = a {
            assert_eq!(status, vendor_state(f.status), "{id}");
            assert_eq!(severity, f.severity.severity(), "{id}");
        }
    }
    // A sample straight from the store.
    for f in world.findings_for(V).step_by(97) {
        let id = emit::native_id(V, &world, f);
        let s = sink.stored(source, &id);
        assert_eq!(s.alert.vendor_status, vendor_state(f.status), "{id}");
        assert_eq!(s.alert.severity, f.severity.severity(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_5000_alerts_through_faults() {
    let handle = start(5000, Faults::standard()).await;
    let mut cfg = source_config(&handle);
    cfg.page_size = Some(250);
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let started = std::time::Instant::now();
    client
        .fetch(
            Window {
                since: None,
                until: now_ms(),
            },
            &mut sink,
        )
        .await
        .expect("sync through faults");
    assert_eq!(sink.delivered.len(), 5000);
    assert_eq!(sink.duplicates(), 0);
    assert_store_equals_world(&handle, &sink, &cfg.name).await;

    let c = &handle.state.counters;
    assert_eq!(counter(&c.early_requests), 0, "requests before Retry-After");
    assert!(counter(&c.rate_limited) >= 3, "429s served");
    assert_eq!(counter(&c.expiries), 1);
    assert_eq!(
        counter(&c.logins),
        2,
        "one login, one re-login after expiry"
    );
    assert_eq!(counter(&c.unauthorized), 1);
    assert_eq!(
        counter(&c.server_errors),
        3,
        "the 5xx burst was served and retried"
    );
    assert_eq!(
        counter(&c.truncated),
        1,
        "the truncated page was served and re-fetched"
    );
    let stats = client.stats();
    assert_eq!(sitrep::sources::api::Stats::get(&stats.reauths), 1);
    assert!(sitrep::sources::api::Stats::get(&stats.rate_limited) >= 3);
    // 20 pages, 3 × 429, 1 × 401, 3 × 503, 1 truncated: every one of them was answered.
    assert_eq!(counter(&c.data_requests), 20 + 3 + 1 + 3 + 1);
    eprintln!(
        "5,000 CSPM alerts through faults in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sync_fetches_only_the_window() {
    let handle = start(5000, Faults::none()).await;
    let mut cfg = source_config(&handle);
    cfg.page_size = Some(1000);
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let started = std::time::Instant::now();
    client
        .fetch(
            Window {
                since: None,
                until: now_ms(),
            },
            &mut sink,
        )
        .await
        .expect("first sync");
    eprintln!(
        "5,000 CSPM alerts without faults in {:?} (store import {:?})",
        started.elapsed(),
        sink.import_time
    );
    assert_eq!(sink.delivered.len(), 5000);
    let watermark = sink.max_updated.expect("a watermark");

    tokio::time::sleep(Duration::from_millis(5)).await;
    handle.evolve(500, 100).await;
    let requests_before = counter(&handle.state.counters.data_requests);
    sink.reset_counts();
    let since = watermark - cfg.overlap.as_millis() as i64;
    client
        .fetch(
            Window {
                since: Some(since),
                until: now_ms(),
            },
            &mut sink,
        )
        .await
        .expect("incremental sync");
    let served = sink.delivered.len();
    let changed: usize = {
        let world = handle.state.world.read().await;
        world
            .findings_for(V)
            .filter(|f| f.updated_ms >= since)
            .count()
    };
    // Only the window was asked for and served: the changed and new alerts (plus any the
    // overlap re-reads), far fewer than the 5,100.
    assert_eq!(
        served, changed,
        "served exactly the alerts updated since the watermark"
    );
    assert!((100..1000).contains(&served), "served {served}");
    assert_eq!(sink.duplicates(), 0);
    let requests = counter(&handle.state.counters.data_requests) - requests_before;
    assert!(requests <= 2, "{requests} requests for the window");
    assert_store_equals_world(&handle, &sink, &cfg.name).await;
    assert_eq!(sink.stored_ids(&cfg.name).len(), 5100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_clearly() {
    let handle = start(50, Faults::none()).await;
    let cfg = source_config(&handle);
    let wrong = "not-the-secret-Zq9";
    let bad = with_credential(&cfg, "secret_key", wrong);
    let mut client = connect(&bad).expect("client");
    let mut sink = StoreSink::new();
    let err = client
        .fetch(
            Window {
                since: None,
                until: now_ms(),
            },
            &mut sink,
        )
        .await
        .expect_err("wrong secret");
    let text = err.to_string();
    assert!(matches!(err, ApiError::Unauthorized(_)), "{err:?}");
    assert!(text.contains(&cfg.name), "{text}");
    assert!(
        text.contains("invalid_credentials") || text.contains("401"),
        "{text}"
    );
    assert!(!text.contains(wrong), "the secret leaked: {text}");
    assert!(counter(&handle.state.counters.auth_requests) <= 2);
    assert_eq!(counter(&handle.state.counters.data_requests), 0);
    assert_eq!(sink.pages, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_stays_malformed_fails_the_run_and_keeps_earlier_pages() {
    let mut faults = Faults::none();
    faults.truncate_at = (3..=12).collect();
    let handle = start(500, faults).await;
    let mut cfg = source_config(&handle);
    cfg.page_size = Some(100);
    cfg.max_retries = 2;
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let err = client
        .fetch(
            Window {
                since: None,
                until: now_ms(),
            },
            &mut sink,
        )
        .await
        .expect_err("a page that never parses");
    assert!(matches!(err, ApiError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains(&cfg.name), "{err}");
    assert_eq!(sink.pages, 2, "the two good pages were delivered");
    assert_eq!(sink.stored_ids(&cfg.name).len(), 200);
    // The third page: the first try and two retries.
    assert_eq!(counter(&handle.state.counters.truncated), 3);
}

async fn full(client: &mut dyn sitrep::sources::api::SourceClient) -> StoreSink {
    let mut sink = StoreSink::new();
    client
        .fetch(
            Window {
                since: None,
                until: now_ms(),
            },
            &mut sink,
        )
        .await
        .expect("fetch");
    sink
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_back_dismiss_snooze_reopen_and_the_unsupported() {
    let handle = start(200, Faults::none()).await;
    let mut cfg = source_config(&handle);
    cfg.options.insert("token_renew_after".into(), "1s".into());
    let mut client = connect(&cfg).expect("client");
    let open: Vec<String> = {
        let world = handle.state.world.read().await;
        world
            .findings_for(V)
            .filter(|f| f.status == SimStatus::Open)
            .take(2)
            .map(|f| emit::native_id(V, &world, f))
            .collect()
    };
    let (a, b) = (open[0].clone(), open[1].clone());

    let dismiss = WriteBack::SetStatus {
        native_id: a.clone(),
        status: Status::Dismissed {
            reason: DismissReason::AcceptedRisk,
            note: Some("compensating control".into()),
            until: None,
        },
        note: None,
    };
    assert_eq!(
        client.write_back(&dismiss).await.expect("dismiss"),
        WriteOutcome::Done
    );
    let until = now_ms() + 7 * 86_400_000;
    let snooze = WriteBack::SetStatus {
        native_id: b.clone(),
        status: Status::Snoozed { until, note: None },
        note: Some("waiting for the change window".into()),
    };
    assert_eq!(
        client.write_back(&snooze).await.expect("snooze"),
        WriteOutcome::Done
    );

    let sink = full(&mut client).await;
    let got_a = &sink.latest[&a];
    assert_eq!(got_a.vendor_status, VendorState::Dismissed);
    assert_eq!(got_a.raw["dismissalNote"], "compensating control");
    let got_b = &sink.latest[&b];
    assert_eq!(got_b.vendor_status, VendorState::Snoozed);
    let snoozed_until = got_b.raw["dismissalUntilTs"].as_i64().expect("snooze end");
    assert!(snoozed_until >= until && snoozed_until < until + 3_600_000 + 60_000);
    assert_eq!(
        sink.stored(&cfg.name, &a).alert.vendor_status,
        VendorState::Dismissed
    );

    // Dismissing it again (a redelivery): the alert is no longer open — Prisma's 404
    // alert_no_longer_in_expected_state — which the client reports as already done.
    match client.write_back(&dismiss).await {
        Ok(WriteOutcome::Already(reason)) => assert!(reason.contains("no longer"), "{reason}"),
        other => panic!("expected Already, got {other:?}"),
    }

    // The token is renewed through /auth_token/extend, not a new login.
    let logins = counter(&handle.state.counters.logins);
    let auths = counter(&handle.state.counters.auth_requests);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reopen = WriteBack::SetStatus {
        native_id: a.clone(),
        status: Status::New,
        note: None,
    };
    assert_eq!(
        client.write_back(&reopen).await.expect("reopen"),
        WriteOutcome::Done
    );
    assert_eq!(
        counter(&handle.state.counters.logins),
        logins,
        "extended, not logged in"
    );
    assert_eq!(counter(&handle.state.counters.auth_requests), auths + 1);

    let sink = full(&mut client).await;
    assert_eq!(sink.latest[&a].vendor_status, VendorState::Open);
    assert_eq!(sink.latest[&b].vendor_status, VendorState::Snoozed);

    for (action, what) in [
        (
            WriteBack::SetStatus {
                native_id: a.clone(),
                status: Status::Resolved {
                    reason: "fixed".into(),
                },
                note: None,
            },
            "resolve",
        ),
        (
            WriteBack::SetStatus {
                native_id: a.clone(),
                status: Status::Acknowledged,
                note: None,
            },
            "acknowledge",
        ),
        (
            WriteBack::SetStatus {
                native_id: a.clone(),
                status: Status::InProgress,
                note: None,
            },
            "in progress",
        ),
        (
            WriteBack::Comment {
                native_id: a.clone(),
                text: "looked at it".into(),
            },
            "comment",
        ),
    ] {
        match client.write_back(&action).await.expect(what) {
            WriteOutcome::Unsupported(reason) => assert!(reason.len() > 20, "{what}: {reason}"),
            other => panic!("{what} should be unsupported, got {other:?}"),
        }
    }
    let after = full(&mut client).await;
    assert_eq!(after.latest[&a].vendor_status, VendorState::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_page_token_is_not_followed_past_total_rows() {
    // 250 alerts in pages of 100: pages 1-3 hold them all; the token on page 3 is ignored.
    let handle = start(250, Faults::none()).await;
    let mut cfg = source_config(&handle);
    cfg.page_size = Some(100);
    let mut client = connect(&cfg).expect("client");
    let sink = full(&mut client).await;
    assert_eq!(sink.delivered.len(), 250);
    assert_eq!(sink.pages, 3);
    assert_eq!(counter(&handle.state.counters.data_requests), 3);
    // Exactly 300: a page boundary on the total; the client stops without asking again.
    let handle = start(300, Faults::none()).await;
    let mut cfg = source_config(&handle);
    cfg.page_size = Some(100);
    let mut client = connect(&cfg).expect("client");
    let sink = full(&mut client).await;
    assert_eq!(sink.delivered.len(), 300);
    assert_eq!(counter(&handle.state.counters.data_requests), 3);
}
