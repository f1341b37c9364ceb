//! Orca: the client against its loopback simulator, over real HTTP.

#[path = "common/sync_orcaxdr.rs"]
mod helper;

use helper::{CountSink, StoreSink, assert_store_equals_truth, c, config, now_ms, s};
use sitrep::config::{CredentialRef, Secret};
use sitrep::domain::{DismissReason, Status, Vendor, VendorState};

use sitrep::sim::server::{Faults, SimOptions};
use sitrep::sim::world::SimStatus;
use sitrep::sources::api::{ApiError, Window, WriteBack, WriteOutcome};
use sitrep::vendors::connect;
use sitrep::vendors::sim::start;

fn everything() -> Window {
    Window {
        since: None,
        until: now_ms(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_5000_alerts_through_faults() {
    let handle = start(
        Vendor::Orca,
        SimOptions {
            alerts: 5000,
            seed: 11,
            faults: Faults::standard(),
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&handle);
    cfg.page_size = Some(250);
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    client.fetch(everything(), &mut sink).await.expect("fetch");

    // Every alert exactly once, and the store equals the simulator.
    assert_eq!(sink.received.len(), 5000, "alerts delivered");
    assert_eq!(sink.unique(), 5000, "no alert delivered twice");
    assert_eq!(sink.pages, 20, "5000 / 250 pages");
    let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::Orca).await;
    assert_eq!(n, 5000);

    let k = &handle.state.counters;
    assert_eq!(
        c(&k.early_requests),
        0,
        "requests before Retry-After allowed"
    );
    assert!(
        c(&k.rate_limited) >= 3,
        "429s served: {}",
        c(&k.rate_limited)
    );
    assert_eq!(c(&k.server_errors), 3, "the 5xx burst was served");
    assert_eq!(c(&k.truncated), 1, "the truncated page was served");
    // A static token has no login: the expiry fault is one refused request, replayed once.
    assert_eq!(c(&k.unauthorized), 1);
    assert_eq!(c(&k.logins), 0);
    let st = client.stats();
    assert_eq!(s(&st.reauths), 1, "one replay after the 401");
    assert_eq!(s(&st.rate_limited), 3);
    // 3 waits after 429s, 3 after 503s, 1 re-fetch of the truncated page.
    assert!(s(&st.retries) >= 7, "retries: {}", s(&st.retries));
    // 20 pages + 3 × 429 + 3 × 503 + 1 truncated + 1 refused.
    assert_eq!(c(&k.data_requests), 28);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sync_asks_only_for_the_window() {
    let handle = start(
        Vendor::Orca,
        SimOptions {
            alerts: 5000,
            seed: 12,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let cfg = config(&handle);
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    client.fetch(everything(), &mut sink).await.expect("full");
    assert_eq!(sink.unique(), 5000);
    let watermark = sink.max_updated.expect("watermark");

    handle.evolve(500, 100).await;
    sink.reset_counts();
    let before = c(&handle.state.counters.data_requests);
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
        .expect("incremental");
    let requests = c(&handle.state.counters.data_requests) - before;
    // 500 changes (some alerts drawn twice) + 100 new + what changed within the overlap.
    assert!(
        (550..1500).contains(&sink.received.len()),
        "the window held {} alerts",
        sink.received.len()
    );
    assert!(requests <= 3, "{requests} requests for the window");
    let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::Orca).await;
    assert_eq!(n, 5100);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_one_replay_then_a_clear_error() {
    let handle = start(Vendor::Orca, SimOptions::default())
        .await
        .expect("sim");
    let mut cfg = config(&handle);
    let wrong = "orca-wrong-token-0123456789";
    cfg.credentials
        .insert("token".into(), CredentialRef::Literal(Secret::new(wrong)));
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let err = client
        .fetch(everything(), &mut sink)
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, ApiError::Unauthorized(_)), "{err:?}");
    assert!(text.contains(&cfg.name), "names the source: {text}");
    assert!(!text.contains(wrong), "no secret in: {text}");
    let right = &handle.env[0].1;
    assert!(!text.contains(right.as_str()), "no secret in: {text}");
    let k = &handle.state.counters;
    assert_eq!(c(&k.unauthorized), 2, "the request and one replay");
    assert_eq!(c(&k.data_requests), 2, "no retry storm");
    assert_eq!(s(&client.stats().reauths), 1);
    assert_eq!(sink.pages, 0);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_stays_malformed_fails_after_earlier_pages_were_kept() {
    let handle = start(
        Vendor::Orca,
        SimOptions {
            alerts: 1000,
            faults: Faults::parse("truncate@2,truncate@3,truncate@4").expect("faults"),
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&handle);
    cfg.page_size = Some(250);
    cfg.max_retries = 2;
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let err = client
        .fetch(everything(), &mut sink)
        .await
        .expect_err("malformed");
    assert!(matches!(err, ApiError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains(&cfg.name), "{err}");
    assert_eq!(sink.pages, 1, "the first page was delivered");
    assert_eq!(sink.store.total().expect("total"), 250);
    assert_eq!(c(&handle.state.counters.truncated), 3);
    assert_eq!(c(&handle.state.counters.data_requests), 4);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_write_back_changes_the_world_and_the_rest_is_unsupported() {
    let handle = start(
        Vendor::Orca,
        SimOptions {
            alerts: 300,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let cfg = config(&handle);
    let mut client = connect(&cfg).expect("client");
    let ids: Vec<String> = {
        let world = handle.state.world.read().await;
        world
            .findings_for(Vendor::Orca)
            .filter(|f| f.status == SimStatus::Open)
            .take(4)
            .map(|f| sitrep::vendors::orca::sim::emit::native_id(&world, f))
            .collect()
    };
    let writes = [
        (
            Status::InProgress,
            VendorState::InProgress,
            SimStatus::InProgress,
        ),
        (
            Status::Resolved {
                reason: "patched".into(),
            },
            VendorState::Resolved,
            SimStatus::Resolved,
        ),
        (
            Status::Dismissed {
                reason: DismissReason::FalsePositive,
                note: Some("scanner noise".into()),
                until: None,
            },
            VendorState::Dismissed,
            SimStatus::Dismissed,
        ),
        (Status::New, VendorState::Open, SimStatus::Open),
    ];
    // The last id goes open → in progress → open, to show a reopen.
    let mut plan: Vec<(String, Status)> = writes
        .iter()
        .take(3)
        .zip(&ids)
        .map(|((st, _, _), id)| (id.clone(), st.clone()))
        .collect();
    plan.push((ids[3].clone(), Status::InProgress));
    plan.push((ids[3].clone(), Status::New));
    for (id, status) in &plan {
        let out = client
            .write_back(&WriteBack::SetStatus {
                native_id: id.clone(),
                status: status.clone(),
                note: None,
            })
            .await
            .expect("write");
        assert_eq!(out, WriteOutcome::Done, "{id} {status:?}");
    }
    let mut sink = StoreSink::new();
    client
        .fetch(everything(), &mut sink)
        .await
        .expect("refetch");
    let stored = helper::stored(&sink.store, &cfg.name);
    for (i, (_, want_state, want_sim)) in writes.iter().enumerate() {
        assert_eq!(&stored[&ids[i]].0, want_state, "{}", ids[i]);
        let world = handle.state.world.read().await;
        let f = world
            .findings_for(Vendor::Orca)
            .find(|f| sitrep::vendors::orca::sim::emit::native_id(&world, f) == ids[i])
            .expect("finding");
        assert_eq!(f.status, *want_sim);
    }

    let unsupported = [
        WriteBack::Comment {
            native_id: ids[0].clone(),
            text: "looked at it".into(),
        },
        WriteBack::SetStatus {
            native_id: ids[0].clone(),
            status: Status::Snoozed {
                until: now_ms() + 86_400_000,
                note: None,
            },
            note: None,
        },
        WriteBack::SetStatus {
            native_id: ids[0].clone(),
            status: Status::Acknowledged,
            note: None,
        },
    ];
    let before = c(&handle.state.counters.data_requests);
    for w in &unsupported {
        match client.write_back(w).await.expect("answer") {
            WriteOutcome::Unsupported(reason) => assert!(reason.contains("Orca"), "{reason}"),
            other => panic!("{w:?} gave {other:?}"),
        }
    }
    assert_eq!(
        c(&handle.state.counters.data_requests),
        before,
        "nothing sent"
    );

    // An unknown alert is an error, not a silent success.
    let err = client
        .write_back(&WriteBack::SetStatus {
            native_id: "orca-999999999".into(),
            status: Status::InProgress,
            note: None,
        })
        .await
        .expect_err("unknown alert");
    assert!(matches!(err, ApiError::Http { status: 404, .. }), "{err:?}");
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_over_the_10000_cap_is_split() {
    let handle = start(
        Vendor::Orca,
        SimOptions {
            alerts: 10_600,
            seed: 3,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let cfg = config(&handle);
    let mut client = connect(&cfg).expect("client");
    // Paging is the point here: count what arrives instead of storing it (faster).
    let mut sink = CountSink::default();
    client.fetch(everything(), &mut sink).await.expect("fetch");
    let want: std::collections::BTreeSet<String> = {
        let world = handle.state.world.read().await;
        world
            .findings_for(Vendor::Orca)
            .map(|f| sitrep::vendors::orca::sim::emit::native_id(&world, f))
            .collect()
    };
    assert_eq!(sink.unique(), 10_600, "every alert despite the cap");
    assert_eq!(sink.received.len(), 10_600, "each once");
    assert_eq!(sink.ids(), want);
    // More than one query was needed, and none was served past the cap.
    assert!(c(&handle.state.counters.data_requests) > 22);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_collector_query_endpoint_works_too() {
    let handle = start(
        Vendor::Orca,
        SimOptions {
            alerts: 700,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&handle);
    cfg.options.insert("list_endpoint".into(), "query".into());
    cfg.page_size = Some(300);
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    client.fetch(everything(), &mut sink).await.expect("fetch");
    assert_eq!(sink.pages, 3);
    let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::Orca).await;
    assert_eq!(n, 700);
    handle.stop().await;
}
