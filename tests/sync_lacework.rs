//! Lacework client against its loopback simulator: 5,000 alerts through faults (in 7-day
//! windows, with Details enrichment), an incremental sync, refused credentials, a page that
//! stays malformed, and write-back.

#[path = "common/sync_wizlw.rs"]
mod helper;

use std::time::Instant;

use helper::{StoreSink, assert_store_equals_truth, config, truth};
use serde_json::Value;
use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
use sitrep::sim::server::{Counters, Faults, SimOptions};
use sitrep::sim::world::SimStatus;
use sitrep::sources::api::{ApiError, Stats, Window, WriteBack, WriteOutcome};
use sitrep::vendors::connect;
use sitrep::vendors::sim::start;

fn lw_status(s: SimStatus) -> VendorState {
    match s {
        SimStatus::Open | SimStatus::InProgress => VendorState::Open,
        SimStatus::Resolved | SimStatus::Dismissed => VendorState::Resolved,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn everything() -> Window {
    Window {
        since: None,
        until: now_ms(),
    }
}

fn with_resource(
    sink: &StoreSink,
    source: &str,
    ids: &[(String, sitrep::sim::world::SimFinding)],
) -> usize {
    ids.iter()
        .filter(|(id, _)| {
            sink.store
                .get(&format!("{source}:{id}"))
                .ok()
                .flatten()
                .is_some_and(|s| s.alert.resource.id.is_some())
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_5000_through_faults_then_incrementally() {
    let h = start(
        Vendor::Lacework,
        SimOptions {
            alerts: 5000,
            faults: Faults::standard(),
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&h);
    cfg.options.insert("details_limit".into(), "300".into());
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let t = Instant::now();
    client
        .fetch(everything(), &mut sink)
        .await
        .expect("full sync");
    let elapsed = t.elapsed();

    let c = &h.state.counters;
    let checked =
        assert_store_equals_truth(&sink, &h, &cfg.name, Vendor::Lacework, lw_status).await;
    assert_eq!(checked, 5000);
    assert_eq!(
        sink.delivered, 5000,
        "alerts two windows share are delivered once"
    );
    assert_eq!(sink.duplicates, 0);
    assert_eq!(Counters::get(&c.early_requests), 0);
    assert!(Counters::get(&c.rate_limited) >= 3);
    assert_eq!(Counters::get(&c.expiries), 1);
    assert_eq!(
        Counters::get(&c.logins),
        2,
        "one re-login for the one expiry"
    );
    assert_eq!(Stats::get(&client.stats().reauths), 1);
    assert_eq!(Counters::get(&c.server_errors), 3);
    assert_eq!(Counters::get(&c.truncated), 1);
    // Details: exactly the per-run budget of alerts carry their entityMap's resource.
    let all = truth(&h, Vendor::Lacework).await;
    assert_eq!(with_resource(&sink, &cfg.name, &all), 300);
    let data = Counters::get(&c.data_requests);
    eprintln!(
        "lacework full sync: {data} data requests ({} pages), {elapsed:?}",
        sink.pages
    );
    // 92 days in 14 windows, a page or two each, 300 details, the retried requests.
    assert!((314..=360).contains(&data), "data requests: {data}");

    h.evolve(500, 100).await;
    let before = Counters::get(&c.data_requests);
    let since = sink.max_updated.expect("watermark") - cfg.overlap.as_millis() as i64;
    sink.new_run();
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
    let checked =
        assert_store_equals_truth(&sink, &h, &cfg.name, Vendor::Lacework, lw_status).await;
    assert_eq!(checked, 5100);
    let requests = Counters::get(&c.data_requests) - before;
    eprintln!(
        "lacework incremental: {} delivered, {requests} data requests",
        sink.delivered
    );
    assert!(
        (550..=1200).contains(&sink.delivered),
        "incremental delivered {}",
        sink.delivered
    );
    // One window, a page or three, and the details budget.
    assert!(requests <= 3 + 300, "incremental requests: {requests}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_cleanly() {
    let h = start(Vendor::Lacework, SimOptions::default())
        .await
        .expect("sim");
    let mut cfg = config(&h);
    let wrong = "_definitely0not0the0secret4242";
    cfg.credentials.insert(
        "secret".into(),
        sitrep::config::CredentialRef::Literal(sitrep::config::Secret::new(wrong)),
    );
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let err = client
        .fetch(everything(), &mut sink)
        .await
        .expect_err("refused");
    let ApiError::Unauthorized(msg) = &err else {
        panic!("expected Unauthorized, got {err:?}");
    };
    assert!(msg.contains(&cfg.name), "names the source: {msg}");
    assert!(!err.to_string().contains(wrong));
    assert!(!err.to_string().contains(h.env[1].1.as_str()));
    let c = &h.state.counters;
    assert!(Counters::get(&c.auth_requests) <= 2);
    assert_eq!(Counters::get(&c.data_requests), 0);
    assert_eq!(sink.pages, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_stays_malformed_fails_after_earlier_pages() {
    let h = start(
        Vendor::Lacework,
        SimOptions {
            alerts: 1000,
            faults: Faults {
                truncate_at: vec![3, 4, 5],
                ..Faults::none()
            },
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&h);
    cfg.options.insert("details".into(), "false".into());
    cfg.max_retries = 2;
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let err = client
        .fetch(everything(), &mut sink)
        .await
        .expect_err("malformed");
    assert!(matches!(err, ApiError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains(&cfg.name), "{err}");
    assert_eq!(sink.pages, 2, "the two good pages stay delivered");
    assert!(sink.store.total().expect("total") > 0);
    assert_eq!(Counters::get(&h.state.counters.truncated), 3);
    h.stop().await;
}

/// A token and a GET, as a plain HTTP client would do it.
async fn timeline(h: &sitrep::sim::server::SimHandle, id: &str) -> Value {
    let http = reqwest::Client::new();
    let tok: Value = http
        .post(format!("{}/api/v2/access/tokens", h.base_url))
        .header("X-LW-UAKS", &h.env[1].1)
        .json(&serde_json::json!({"keyId": h.env[0].1, "expiryTime": 3600}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    http.get(format!("{}/api/v2/Alerts/{id}?scope=Timeline", h.base_url))
        .bearer_auth(tok["token"].as_str().expect("token"))
        .send()
        .await
        .expect("timeline")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_back_changes_the_simulator() {
    let h = start(
        Vendor::Lacework,
        SimOptions {
            alerts: 300,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&h);
    cfg.options.insert("details".into(), "false".into());
    let mut client = connect(&cfg).expect("client");
    let all = truth(&h, Vendor::Lacework).await;
    let open: Vec<String> = all
        .iter()
        .filter(|(_, f)| f.status == SimStatus::Open)
        .map(|(id, _)| id.clone())
        .take(3)
        .collect();
    let (a, b, c) = (&open[0], &open[1], &open[2]);

    let out = client
        .write_back(&WriteBack::Comment {
            native_id: a.clone(),
            text: "owner paged".into(),
        })
        .await
        .expect("comment");
    assert_eq!(out, WriteOutcome::Done);
    let out = client
        .write_back(&WriteBack::SetStatus {
            native_id: b.clone(),
            status: Status::Dismissed {
                reason: DismissReason::FalsePositive,
                note: Some("scanner noise".into()),
                until: None,
            },
            note: None,
        })
        .await
        .expect("close fp");
    assert_eq!(out, WriteOutcome::Done);
    let out = client
        .write_back(&WriteBack::SetStatus {
            native_id: c.clone(),
            status: Status::Resolved {
                reason: "rotated the key".into(),
            },
            note: None,
        })
        .await
        .expect("close other");
    assert_eq!(out, WriteOutcome::Done);

    let tl = timeline(&h, a).await.to_string();
    assert!(tl.contains("owner paged"), "{tl}");
    let tl = timeline(&h, b).await.to_string();
    assert!(tl.contains("scanner noise"), "{tl}");
    let tl = timeline(&h, c).await.to_string();
    assert!(tl.contains("Resolved: rotated the key"), "{tl}");

    let mut sink = StoreSink::new();
    client
        .fetch(everything(), &mut sink)
        .await
        .expect("refetch");
    for id in [b, c] {
        let s = sink
            .store
            .get(&format!("{}:{id}", cfg.name))
            .expect("get")
            .expect("present");
        assert_eq!(s.alert.vendor_status, VendorState::Resolved, "{id} closed");
    }
    let world = h.state.world.read().await;
    let f = world
        .findings_for(Vendor::Lacework)
        .find(|f| sitrep::vendors::lacework::sim::emit::native_id(&world, f) == *b)
        .expect("finding");
    assert_eq!(f.status, SimStatus::Dismissed);
    drop(world);

    for status in [
        Status::New,
        Status::InProgress,
        Status::Acknowledged,
        Status::Snoozed {
            until: now_ms() + 86_400_000,
            note: None,
        },
        Status::Dismissed {
            reason: DismissReason::AcceptedRisk,
            note: None,
            until: Some(now_ms() + 86_400_000),
        },
    ] {
        let out = client
            .write_back(&WriteBack::SetStatus {
                native_id: a.clone(),
                status: status.clone(),
                note: None,
            })
            .await
            .expect("outcome");
        assert!(
            matches!(out, WriteOutcome::Unsupported(r) if !r.is_empty()),
            "{status:?} → {out:?}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_enforces_the_window_rules() {
    let h = start(Vendor::Lacework, SimOptions::default())
        .await
        .expect("sim");
    let http = reqwest::Client::new();
    let tok: Value = http
        .post(format!("{}/api/v2/access/tokens", h.base_url))
        .header("X-LW-UAKS", &h.env[1].1)
        .json(&serde_json::json!({"keyId": h.env[0].1, "expiryTime": 3600}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let tok = tok["token"].as_str().expect("token").to_string();
    let get = |q: String| {
        let http = http.clone();
        let tok = tok.clone();
        let url = format!("{}/api/v2/Alerts?{q}", h.base_url);
        async move {
            let r = http.get(url).bearer_auth(tok).send().await.expect("send");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    };
    let t = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    let now = now_ms();
    let day = 86_400_000;
    let (s, body) = get(format!("startTime={}&endTime={}", t(now - 8 * day), t(now))).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = get(format!(
        "startTime={}&endTime={}",
        t(now - 95 * day),
        t(now - 90 * day)
    ))
    .await;
    assert_eq!(s, 400);
    let (s, body) = get(format!("startTime={}&endTime={}", t(now - 7 * day), t(now))).await;
    assert_eq!(s, 200);
    assert!(
        body["data"]
            .as_array()
            .is_some_and(|d| d.iter().all(|i| i.get("entityMap").is_none()))
    );
    h.stop().await;
}
