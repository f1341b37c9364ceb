//! Cortex XDR: the client against its loopback simulator, over real HTTP.

#[path = "common/sync_orcaxdr.rs"]
mod helper;

use helper::{CountSink, StoreSink, assert_store_equals_truth, c, config, now_ms, s};
use serde_json::{Value, json};
use sitrep::config::{CredentialRef, Secret};
use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
use sitrep::sim::server::{Faults, SimOptions};
use sitrep::sim::world::SimStatus;
use sitrep::sources::api::{ApiError, Window, WriteBack, WriteOutcome};
use sitrep::vendors::connect;
use sitrep::vendors::cortex_xdr::sim::server as xdr_sim;
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
        Vendor::CortexXdr,
        SimOptions {
            alerts: 5000,
            seed: 21,
            faults: Faults::standard(),
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let cfg = config(&handle);
    assert_eq!(cfg.option("key_type"), Some("advanced"));
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    client.fetch(everything(), &mut sink).await.expect("fetch");

    assert_eq!(sink.received.len(), 5000, "alerts delivered");
    assert_eq!(sink.unique(), 5000, "no alert delivered twice");
    assert_eq!(sink.pages, 50, "windows of 100");
    let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::CortexXdr).await;
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
    // Keys have no login: the expiry fault is one refused request, re-signed and replayed.
    assert_eq!(c(&k.unauthorized), 1);
    let st = client.stats();
    assert_eq!(s(&st.reauths), 1, "one replay after the 401");
    assert_eq!(s(&st.rate_limited), 3);
    assert!(s(&st.retries) >= 7, "retries: {}", s(&st.retries));
    // 50 windows + 3 × 429 + 3 × 503 + 1 truncated + 1 refused.
    assert_eq!(c(&k.data_requests), 58);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sync_asks_only_for_the_window() {
    let handle = start(
        Vendor::CortexXdr,
        SimOptions {
            alerts: 5000,
            seed: 22,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&handle);
    cfg.concurrency = 4;
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    client.fetch(everything(), &mut sink).await.expect("full");
    assert_eq!(sink.unique(), 5000);
    let watermark = sink.max_updated.expect("watermark");

    handle.evolve(500, 100).await;
    sink.reset_counts();
    let before = c(&handle.state.counters.data_requests);
    client
        .fetch(
            Window {
                since: Some(watermark - cfg.overlap.as_millis() as i64),
                until: now_ms(),
            },
            &mut sink,
        )
        .await
        .expect("incremental");
    let requests = c(&handle.state.counters.data_requests) - before;
    assert!(
        (550..1500).contains(&sink.received.len()),
        "the window held {} alerts",
        sink.received.len()
    );
    assert_eq!(sink.received.len(), sink.unique(), "each once");
    assert!(requests <= 15, "{requests} requests for the window");
    let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::CortexXdr).await;
    assert_eq!(n, 5100);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_are_fetched_in_parallel_and_delivered_once_in_order() {
    let handle = start(
        Vendor::CortexXdr,
        SimOptions {
            alerts: 1234,
            faults: Faults::parse("latency=150ms").expect("faults"),
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let timed = |concurrency: u32| {
        let mut cfg = config(&handle);
        cfg.concurrency = concurrency;
        async move {
            let mut client = connect(&cfg).expect("client");
            let mut sink = CountSink::default();
            let t = std::time::Instant::now();
            client.fetch(everything(), &mut sink).await.expect("fetch");
            (t.elapsed(), sink)
        }
    };
    let (sequential, _) = timed(1).await;
    let before = c(&handle.state.counters.data_requests);
    let (parallel, sink) = timed(4).await;
    assert_eq!(sink.pages, 13);
    assert_eq!(sink.received.len(), 1234);
    assert_eq!(sink.unique(), 1234);
    // Oldest first, as asked (sort creation_time asc): the delivery order is the world's.
    let want: Vec<String> = {
        let world = handle.state.world.read().await;
        let mut f: Vec<_> = world.findings_for(Vendor::CortexXdr).collect();
        f.sort_by_key(|f| (f.created_ms, f.seq));
        f.iter()
            .map(|f| sitrep::vendors::cortex_xdr::sim::emit::native_id(&world, f))
            .collect()
    };
    assert_eq!(sink.received, want);
    assert_eq!(c(&handle.state.counters.data_requests) - before, 13);
    // 13 windows × 150 ms of latency one after the other, or four at a time.
    assert!(
        parallel * 4 < sequential * 3,
        "parallel {parallel:?} vs sequential {sequential:?}"
    );
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_one_replay_then_a_clear_error() {
    let handle = start(Vendor::CortexXdr, SimOptions::default())
        .await
        .expect("sim");
    let mut cfg = config(&handle);
    let wrong = "0123456789abcdef".repeat(8);
    cfg.credentials
        .insert("key".into(), CredentialRef::Literal(Secret::new(&wrong)));
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let err = client
        .fetch(everything(), &mut sink)
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, ApiError::Unauthorized(_)), "{err:?}");
    assert!(text.contains(&cfg.name), "names the source: {text}");
    assert!(!text.contains(&wrong), "no secret in: {text}");
    let (_, right) = xdr_sim::advanced_key(1);
    assert!(!text.contains(&right), "no secret in: {text}");
    let k = &handle.state.counters;
    assert_eq!(c(&k.unauthorized), 2, "the request and one replay");
    assert_eq!(c(&k.data_requests), 2, "no retry storm");
    assert_eq!(sink.pages, 0);

    // The right advanced key sent as a standard key is refused too.
    let mut standard = config(&handle);
    standard
        .options
        .insert("key_type".into(), "standard".into());
    let mut client = connect(&standard).expect("client");
    let err = client
        .fetch(everything(), &mut sink)
        .await
        .expect_err("refused");
    assert!(matches!(err, ApiError::Unauthorized(_)), "{err:?}");
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_key_works_and_stale_or_replayed_signatures_do_not() {
    let handle = start(
        Vendor::CortexXdr,
        SimOptions {
            alerts: 250,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let (id, key) = xdr_sim::standard_key(1);
    let mut cfg = config(&handle);
    cfg.options.insert("key_type".into(), "standard".into());
    cfg.credentials
        .insert("key_id".into(), CredentialRef::Literal(Secret::new(&id)));
    cfg.credentials
        .insert("key".into(), CredentialRef::Literal(Secret::new(&key)));
    let mut client = connect(&cfg).expect("client");
    let mut sink = CountSink::default();
    client.fetch(everything(), &mut sink).await.expect("fetch");
    assert_eq!(sink.unique(), 250);

    // Hand-signed requests: fresh is fine, five minutes late is not, a nonce is good once.
    let (adv_id, adv_key) = xdr_sim::advanced_key(1);
    let http = reqwest::Client::new();
    let url = format!(
        "{}/public_api/v2/alerts/get_alerts_multi_events",
        handle.base_url
    );
    let send = |ts: i64, nonce: String| {
        let ts = ts.to_string();
        http.post(url.as_str())
            .header("x-xdr-auth-id", adv_id.as_str())
            .header("x-xdr-nonce", nonce.as_str())
            .header("x-xdr-timestamp", ts.as_str())
            .header("Authorization", xdr_sim::signature(&adv_key, &nonce, &ts))
            .json(&json!({"request_data": {"search_from": 0, "search_to": 1}}))
            .send()
    };
    let nonce = "A".repeat(64);
    let ok = send(now_ms(), nonce.clone()).await.expect("send");
    assert_eq!(ok.status().as_u16(), 200);
    let replayed = send(now_ms(), nonce).await.expect("send");
    assert_eq!(replayed.status().as_u16(), 401);
    let stale = send(now_ms() - 6 * 60_000, "B".repeat(64))
        .await
        .expect("send");
    assert_eq!(stale.status().as_u16(), 401);
    let body: Value = stale.json().await.expect("json");
    assert_eq!(body["reply"]["err_code"], 401);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_that_stays_malformed_fails_after_earlier_windows_were_kept() {
    let handle = start(
        Vendor::CortexXdr,
        SimOptions {
            alerts: 500,
            faults: Faults::parse("truncate@2,truncate@3,truncate@4").expect("faults"),
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&handle);
    cfg.max_retries = 2;
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let err = client
        .fetch(everything(), &mut sink)
        .await
        .expect_err("malformed");
    assert!(matches!(err, ApiError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains(&cfg.name), "{err}");
    assert_eq!(sink.pages, 1, "the first window was delivered");
    assert_eq!(sink.store.total().expect("total"), 100);
    assert_eq!(c(&handle.state.counters.data_requests), 4);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_and_incident_write_back_change_the_world() {
    let handle = start(
        Vendor::CortexXdr,
        SimOptions {
            alerts: 300,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let cfg = config(&handle);
    let mut client = connect(&cfg).expect("client");
    let (ids, case) = {
        let world = handle.state.world.read().await;
        let open: Vec<_> = world
            .findings_for(Vendor::CortexXdr)
            .filter(|f| f.status == SimStatus::Open)
            .collect();
        let ids: Vec<String> = open
            .iter()
            .take(4)
            .map(|f| sitrep::vendors::cortex_xdr::sim::emit::native_id(&world, f))
            .collect();
        // An incident none of those alerts belongs to.
        let cases: Vec<Value> = sitrep::vendors::cortex_xdr::sim::emit::items(&world, &open[..4])
            .into_iter()
            .map(|i| i["case_id"].clone())
            .collect();
        let all: Vec<_> = world.findings_for(Vendor::CortexXdr).collect();
        let case = sitrep::vendors::cortex_xdr::sim::emit::items(&world, &all)
            .into_iter()
            .map(|i| i["case_id"].clone())
            .find(|c| !cases.contains(c))
            .expect("another incident");
        (ids, case)
    };
    let set = |id: &str, status: Status, note: Option<&str>| WriteBack::SetStatus {
        native_id: id.to_string(),
        status,
        note: note.map(str::to_string),
    };
    let writes = [
        set(&ids[0], Status::InProgress, None),
        set(
            &ids[1],
            Status::Resolved {
                reason: "contained".into(),
            },
            Some("host reimaged"),
        ),
        set(
            &ids[2],
            Status::Dismissed {
                reason: DismissReason::FalsePositive,
                note: None,
                until: None,
            },
            None,
        ),
        WriteBack::Comment {
            native_id: ids[3].clone(),
            text: "asked the owner".into(),
        },
        set(
            &format!("incident-{case}"),
            Status::Dismissed {
                reason: DismissReason::AcceptedRisk,
                note: None,
                until: None,
            },
            Some("known scanner"),
        ),
    ];
    for w in &writes {
        assert_eq!(
            client.write_back(w).await.expect("write"),
            WriteOutcome::Done,
            "{w:?}"
        );
    }
    let mut sink = StoreSink::new();
    client
        .fetch(everything(), &mut sink)
        .await
        .expect("refetch");
    let stored = helper::stored(&sink.store, &cfg.name);
    assert_eq!(stored[&ids[0]].0, VendorState::InProgress);
    assert_eq!(stored[&ids[1]].0, VendorState::Resolved);
    assert_eq!(stored[&ids[2]].0, VendorState::Dismissed);
    let raw = |id: &str| {
        sink.store
            .get(&format!("{}:{id}", cfg.name))
            .expect("get")
            .expect("stored")
            .alert
            .raw
    };
    assert_eq!(raw(&ids[1])["resolution_comment"], "host reimaged");
    assert_eq!(raw(&ids[3])["resolution_comment"], "asked the owner");
    // Every alert of the incident is resolved as a known issue.
    let members: Vec<String> = {
        let world = handle.state.world.read().await;
        let all: Vec<_> = world.findings_for(Vendor::CortexXdr).collect();
        sitrep::vendors::cortex_xdr::sim::emit::items(&world, &all)
            .into_iter()
            .filter(|i| i["case_id"] == case)
            .map(|i| format!("alert-{}", i["alert_id"].as_str().expect("id")))
            .collect()
    };
    assert!(!members.is_empty());
    for m in &members {
        assert_eq!(stored[m].0, VendorState::Dismissed, "{m}");
        assert_eq!(raw(m)["resolution_comment"], "known scanner");
    }
    assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::CortexXdr).await;

    let before = c(&handle.state.counters.data_requests);
    for w in [
        set(&ids[0], Status::Acknowledged, None),
        set(
            &ids[0],
            Status::Snoozed {
                until: now_ms() + 3_600_000,
                note: None,
            },
            None,
        ),
    ] {
        match client.write_back(&w).await.expect("answer") {
            WriteOutcome::Unsupported(reason) => {
                assert!(reason.contains("Cortex XDR"), "{reason}")
            }
            other => panic!("{w:?} gave {other:?}"),
        }
    }
    assert_eq!(
        c(&handle.state.counters.data_requests),
        before,
        "nothing sent"
    );

    let err = client
        .write_back(&set("alert-999999999", Status::InProgress, None))
        .await
        .expect_err("unknown alert");
    assert!(matches!(err, ApiError::Vendor { .. }), "{err:?}");
    handle.stop().await;
}
