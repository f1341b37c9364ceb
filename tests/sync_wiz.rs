//! Wiz client against its loopback simulator: 5,000 issues through faults, an incremental
//! sync, refused credentials, a page that stays malformed, and write-back.

#[path = "common/sync_wizlw.rs"]
mod helper;

use std::time::Instant;

use helper::{StoreSink, assert_store_equals_truth, config, truth};
use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
use sitrep::sim::server::{Counters, Faults, SimOptions};
use sitrep::sim::world::SimStatus;
use sitrep::sources::api::{ApiError, Stats, Window, WriteBack, WriteOutcome};
use sitrep::vendors::connect;
use sitrep::vendors::sim::start;

fn wiz_status(s: SimStatus) -> VendorState {
    match s {
        SimStatus::Open => VendorState::Open,
        SimStatus::InProgress => VendorState::InProgress,
        SimStatus::Resolved => VendorState::Resolved,
        SimStatus::Dismissed => VendorState::Dismissed,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_5000_through_faults_then_incrementally() {
    // The standard plan's GraphQL error (request 16) falls inside its 5xx burst (14..16), so
    // one more is added where it is served.
    let mut faults = Faults::standard();
    faults.graphql_error_at.push(22);
    let h = start(
        Vendor::Wiz,
        SimOptions {
            alerts: 5000,
            faults,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&h);
    cfg.page_size = Some(100);
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let t = Instant::now();
    client
        .fetch(everything(), &mut sink)
        .await
        .expect("full sync");
    let elapsed = t.elapsed();

    let c = &h.state.counters;
    let checked = assert_store_equals_truth(&sink, &h, &cfg.name, Vendor::Wiz, wiz_status).await;
    assert_eq!(checked, 5000);
    assert_eq!(sink.delivered, 5000, "every node delivered once");
    assert_eq!(sink.duplicates, 0);
    assert_eq!(
        Counters::get(&c.early_requests),
        0,
        "no request before Retry-After allowed it"
    );
    assert!(Counters::get(&c.rate_limited) >= 3);
    assert_eq!(Counters::get(&c.expiries), 1);
    assert_eq!(
        Counters::get(&c.logins),
        2,
        "one re-login for the one expiry"
    );
    assert_eq!(Stats::get(&client.stats().reauths), 1);
    assert_eq!(
        Counters::get(&c.server_errors),
        3,
        "the 5xx burst was served and retried"
    );
    assert_eq!(
        Counters::get(&c.truncated),
        1,
        "the truncated page was served and re-fetched"
    );
    assert_eq!(
        Counters::get(&c.graphql_errors),
        1,
        "the GraphQL error was served and retried"
    );
    // 3 waits after 429s, 3 after 503s, the truncated page, the GraphQL error.
    assert!(Stats::get(&client.stats().retries) >= 8);
    // 5000 nodes / 100 a page, two connections, plus the retried requests.
    let data = Counters::get(&c.data_requests);
    eprintln!("wiz full sync: {data} data requests, {elapsed:?}");
    assert!((51..=70).contains(&data), "data requests: {data}");

    // Incremental: 10% changed, 100 added; ask only for what changed since the watermark.
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
    let checked = assert_store_equals_truth(&sink, &h, &cfg.name, Vendor::Wiz, wiz_status).await;
    assert_eq!(checked, 5100);
    // The changed and added ones (a changed one may be picked twice), plus what was already
    // inside the overlap: far fewer than 5,000.
    assert!(
        (550..=1200).contains(&sink.delivered),
        "incremental delivered {}",
        sink.delivered
    );
    let requests = Counters::get(&c.data_requests) - before;
    eprintln!(
        "wiz incremental: {} delivered, {requests} data requests",
        sink.delivered
    );
    assert!(requests <= 16, "incremental requests: {requests}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_cleanly() {
    let h = start(Vendor::Wiz, SimOptions::default())
        .await
        .expect("sim");
    let mut cfg = config(&h);
    let wrong = "definitely-not-the-secret-4242";
    cfg.credentials.insert(
        "client_secret".into(),
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
    let right = &h.env[1].1;
    assert!(!err.to_string().contains(right.as_str()));
    let c = &h.state.counters;
    assert!(Counters::get(&c.auth_requests) <= 2);
    assert_eq!(Counters::get(&c.data_requests), 0);
    assert_eq!(sink.pages, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_stays_malformed_fails_after_earlier_pages() {
    let faults = Faults {
        truncate_at: vec![3, 4, 5],
        ..Faults::none()
    };
    let h = start(
        Vendor::Wiz,
        SimOptions {
            alerts: 1000,
            faults,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let mut cfg = config(&h);
    cfg.page_size = Some(100);
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
    assert_eq!(sink.store.total().expect("total"), 200);
    assert_eq!(Counters::get(&h.state.counters.truncated), 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graphql_validation_error_fails_with_its_message() {
    let h = start(Vendor::Wiz, SimOptions::default())
        .await
        .expect("sim");
    let cfg = config(&h);
    let mut client = connect(&cfg).expect("client");
    let err = client
        .write_back(&WriteBack::Comment {
            native_id: "00000000-0000-4000-8000-000000000000".into(),
            text: "hello".into(),
        })
        .await
        .expect_err("unknown issue");
    assert!(matches!(err, ApiError::Vendor { .. }), "{err:?}");
    assert!(err.to_string().contains("Issue not found"), "{err}");
    // Not retried: one request.
    assert_eq!(Counters::get(&h.state.counters.data_requests), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_back_changes_the_simulator() {
    let h = start(
        Vendor::Wiz,
        SimOptions {
            alerts: 300,
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim");
    let cfg = config(&h);
    let mut client = connect(&cfg).expect("client");
    let all = truth(&h, Vendor::Wiz).await;
    let issues: Vec<&(String, sitrep::sim::world::SimFinding)> = all
        .iter()
        .filter(|(_, f)| {
            f.cve.is_none() || f.rule.category != sitrep::sim::world::RuleCategory::Vulnerability
        })
        .collect();
    let open: Vec<&String> = issues
        .iter()
        .filter(|(_, f)| f.status == SimStatus::Open)
        .map(|(id, _)| id)
        .take(3)
        .collect();
    let (a, b, c) = (open[0].clone(), open[1].clone(), open[2].clone());
    let done = |o: WriteOutcome| assert_eq!(o, WriteOutcome::Done);

    done(
        client
            .write_back(&WriteBack::SetStatus {
                native_id: a.clone(),
                status: Status::InProgress,
                note: Some("looking".into()),
            })
            .await
            .expect("in progress"),
    );
    done(
        client
            .write_back(&WriteBack::SetStatus {
                native_id: b.clone(),
                status: Status::Dismissed {
                    reason: DismissReason::FalsePositive,
                    note: Some("test account".into()),
                    until: None,
                },
                note: None,
            })
            .await
            .expect("reject"),
    );
    done(
        client
            .write_back(&WriteBack::Comment {
                native_id: c.clone(),
                text: "owner paged".into(),
            })
            .await
            .expect("note"),
    );

    let mut sink = StoreSink::new();
    client
        .fetch(everything(), &mut sink)
        .await
        .expect("refetch");
    let get = |id: &str| {
        sink.store
            .get(&format!("{}:{id}", cfg.name))
            .expect("get")
            .expect("present")
    };
    assert_eq!(get(&a).alert.vendor_status, VendorState::InProgress);
    assert_eq!(get(&b).alert.vendor_status, VendorState::Dismissed);
    let notes = |id: &str| get(id).alert.raw["notes"].to_string();
    assert!(notes(&a).contains("looking"));
    assert!(notes(&b).contains("Dismissed (false_positive): test account"));
    assert!(notes(&c).contains("owner paged"));

    // Reopen.
    done(
        client
            .write_back(&WriteBack::SetStatus {
                native_id: b.clone(),
                status: Status::New,
                note: None,
            })
            .await
            .expect("reopen"),
    );
    let world = h.state.world.read().await;
    let f = world
        .findings_for(Vendor::Wiz)
        .find(|f| sitrep::vendors::wiz::sim::emit::native_id(&world, f) == b)
        .expect("finding");
    assert_eq!(f.status, SimStatus::Open);
    drop(world);

    for status in [
        Status::Resolved {
            reason: "patched".into(),
        },
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

/// A GraphQL server that does not know `updatedAt` as a filter field: the client must fall
/// back to `statusChangedAt` for issues and to no time filter for vulnerability findings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_updated_at_filter_falls_back() {
    use axum::{Json, Router, routing::post};
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new()
        .route(
            "/oauth/token",
            post(|| async { Json(json!({"access_token": "t", "expires_in": 3600, "token_type": "Bearer"})) }),
        )
        .route(
            "/graphql",
            post(move |Json(req): Json<Value>| {
                let log = log.clone();
                async move {
                    let q = req["query"].as_str().unwrap_or("");
                    let root = if q.contains("vulnerabilityFindings(") { "vulnerabilityFindings" } else { "issues" };
                    let keys: Vec<String> = req["variables"]["filterBy"]
                        .as_object()
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default();
                    log.lock().expect("lock").push(format!("{root}:{}", keys.join(",")));
                    if keys.iter().any(|k| k == "updatedAt") {
                        return Json(json!({"data": null, "errors": [{
                            "message": "Variable \"$filterBy\" got invalid value; Field \"updatedAt\" is not defined by type \"IssueFilters\".",
                            "extensions": {"code": "BAD_USER_INPUT"}}]}));
                    }
                    Json(json!({"data": {root: {"nodes": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}}}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let toml = sitrep::vendors::wiz::sim::server::source_toml("wiz-old", &base);
    let mut cfg = sitrep::config::Config::from_text(None, &toml)
        .expect("toml")
        .sources
        .remove(0);
    for k in ["client_id", "client_secret"] {
        cfg.credentials.insert(
            k.into(),
            sitrep::config::CredentialRef::Literal(sitrep::config::Secret::new("x")),
        );
    }
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    let window = Window {
        since: Some(now_ms() - 3_600_000),
        until: now_ms(),
    };
    client.fetch(window, &mut sink).await.expect("falls back");
    client.fetch(window, &mut sink).await.expect("remembers");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [
            "issues:updatedAt",
            "issues:statusChangedAt",
            "vulnerabilityFindings:updatedAt",
            "vulnerabilityFindings:",
            "issues:statusChangedAt",
            "vulnerabilityFindings:",
        ]
    );
    server.abort();
}
