//! Never silently stale (issue 18): scheduled full reconciliation, incremental filters the
//! vendor refuses (fall back once, remember, move on), and `sitrep source check` against every
//! simulator: healthy, with a refused filter, with a 403, with a bad key.

use std::sync::{Arc, Mutex};

#[path = "common/sim_source.rs"]
mod sim_source;

use sitrep::config::{Config, CredentialRef, Secret, SourceConfig};
use sitrep::domain::{Vendor, VendorState};
use sitrep::sim::server::{Faults, SimHandle, SimOptions};
use sitrep::sources::check::{Check, Verdict};
use sitrep::sources::sync::{ProgressFn, RunReport, run};
use sitrep::store::Store;
use sitrep::vendors::{connect, kit};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const HOUR: i64 = 3_600_000;

async fn sim(vendor: Vendor, alerts: usize, faults: &str) -> SimHandle {
    sitrep::vendors::sim::start(
        vendor,
        SimOptions {
            alerts,
            seed: 18,
            faults: Faults::parse(faults).expect("faults"),
            now_ms: now_ms(),
            ..Default::default()
        },
    )
    .await
    .expect("sim")
}

/// The simulator's `[[source]]`, credentials as literals, one retry (a refused filter that
/// answers 500 is retried once, not five times).
fn config(h: &SimHandle) -> SourceConfig {
    let mut s = sim_source::source_config(h);
    s.max_retries = 1;
    s
}

use sim_source::wrong_secret;

fn quiet() -> ProgressFn {
    Arc::new(|_| {})
}

async fn sync_at(cfg: &SourceConfig, store: &Arc<Mutex<Store>>, at: i64) -> RunReport {
    run(connect, cfg, store, false, at, quiet()).await
}

fn memory_store() -> Arc<Mutex<Store>> {
    Arc::new(Mutex::new(Store::open_in_memory().expect("store")))
}

/// A sync against a simulator that refuses the incremental filter completes by running in
/// full, records the filter, and the next run uses the client's next candidate (or runs in
/// full when none is left). Before: Cortex XDR's 500 and Wiz's errors in other words failed
/// every incremental run; nothing was recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_incremental_filter_falls_back_to_full_and_is_not_used_again() {
    // (vendor, refused field, the filter names the runs should refuse in turn, then use)
    let cases: [(Vendor, &str, &[&str], Option<&str>); 3] = [
        (
            Vendor::CortexXdr,
            "server_creation_time",
            &["server_creation_time"],
            Some("creation_time"),
        ),
        (
            Vendor::Wiz,
            "statusChangedAt",
            &[
                sitrep::vendors::wiz::client::BY_STATUS_CHANGE,
                sitrep::vendors::wiz::client::ISSUES_ONLY,
            ],
            None,
        ),
        (
            Vendor::Orca,
            "state.last_updated",
            &["state.last_updated"],
            None,
        ),
    ];
    for (vendor, field, refused, then) in cases {
        let h = sim(vendor, 300, &format!("refuse={field}")).await;
        let cfg = config(&h);
        let store = memory_store();
        let t0 = now_ms();
        let first = sync_at(&cfg, &store, t0).await;
        assert!(first.error.is_none(), "{vendor:?}: {}", first.line());
        assert!(
            first.stats.full,
            "{vendor:?}: the first run reads everything"
        );
        assert_eq!(first.stats.alerts, 300, "{vendor:?}");
        for (i, f) in refused.iter().enumerate() {
            let r = sync_at(&cfg, &store, t0 + 1 + i as i64).await;
            assert!(r.error.is_none(), "{vendor:?}: {}", r.line());
            assert_eq!(r.stats.refused_filter.as_deref(), Some(*f), "{vendor:?}");
            assert!(r.stats.full && r.stats.filter.is_none(), "{vendor:?}");
            assert!(
                r.stats.alerts >= 300,
                "{vendor:?}: the fallback read everything"
            );
            assert!(
                r.line().contains("refused incremental filter"),
                "{}",
                r.line()
            );
        }
        let state = store
            .lock()
            .expect("lock")
            .source_state(&cfg.name)
            .expect("state")
            .expect("recorded");
        let names: Vec<&str> = state
            .failed_filters
            .iter()
            .map(|f| f.filter.as_str())
            .collect();
        assert_eq!(names, refused, "{vendor:?}");
        assert!(
            state.failed_filters.iter().all(|f| !f.detail.is_empty()),
            "{vendor:?}: the vendor's words are kept"
        );
        let next = sync_at(&cfg, &store, t0 + 10).await;
        assert!(next.error.is_none(), "{vendor:?}: {}", next.line());
        assert_eq!(
            next.stats.refused_filter, None,
            "{vendor:?}: not asked again"
        );
        assert_eq!(next.stats.filter.as_deref(), then, "{vendor:?}");
        assert_eq!(next.stats.full, then.is_none(), "{vendor:?}");
        h.stop().await;
    }
}

/// Cortex XDR's incremental filter (a documented creation-time field) cannot see an old
/// alert closed at the vendor; the scheduled full reconciliation does. Before: no run was
/// ever full unless asked for with `--full`, so the closure stayed invisible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_old_alert_is_stored_after_the_next_full_reconciliation() {
    let h = sim(Vendor::CortexXdr, 400, "none").await;
    let cfg = config(&h);
    let store = memory_store();
    let t0 = now_ms();
    let first = sync_at(&cfg, &store, t0).await;
    assert!(
        first.error.is_none() && first.stats.full,
        "{}",
        first.line()
    );
    assert_eq!(first.stats.last_full_at, Some(t0));

    let closed = sitrep::sim::server::close_findings(&h.state, 5).await;
    assert_eq!(closed.len(), 5);
    let ids: Vec<String> = {
        let world = h.state.world.read().await;
        world
            .findings
            .iter()
            .filter(|f| f.vendor == Vendor::CortexXdr && closed.contains(&f.seq))
            .map(|f| {
                format!(
                    "{}:{}",
                    cfg.name,
                    (kit(Vendor::CortexXdr).emit_native_id)(&world, f)
                )
            })
            .collect()
    };
    assert_eq!(ids.len(), 5);
    let state_of = |id: &str| {
        store
            .lock()
            .expect("lock")
            .get(id)
            .expect("get")
            .expect("stored")
            .alert
            .vendor_status
    };

    let before: Vec<VendorState> = ids.iter().map(|id| state_of(id)).collect();
    assert!(
        before
            .iter()
            .all(|s| matches!(s, VendorState::Open | VendorState::InProgress)),
        "{before:?}"
    );

    // An hour later: incremental, and blind to the closures.
    let inc = sync_at(&cfg, &store, t0 + HOUR).await;
    assert!(inc.error.is_none(), "{}", inc.line());
    assert!(!inc.stats.full, "{}", inc.line());
    assert_eq!(inc.stats.filter.as_deref(), Some("server_creation_time"));
    assert!(inc.line().contains("last full run"), "{}", inc.line());
    for (id, was) in ids.iter().zip(&before) {
        assert_eq!(&state_of(id), was, "{id}: seen by an incremental run?");
    }

    // A day after the last full run: this run is full, and sees them.
    let full = sync_at(&cfg, &store, t0 + 24 * HOUR).await;
    assert!(full.error.is_none(), "{}", full.line());
    assert!(full.stats.full, "{}", full.line());
    assert_eq!(full.stats.last_full_at, Some(t0 + 24 * HOUR));
    for id in &ids {
        let now = state_of(id);
        assert!(
            matches!(now, VendorState::Resolved | VendorState::Dismissed),
            "{id}: {now:?}"
        );
    }
    let st = store
        .lock()
        .expect("lock")
        .source_state(&cfg.name)
        .expect("state")
        .expect("recorded");
    assert_eq!(st.last_full_at, Some(t0 + 24 * HOUR));
    h.stop().await;
}

/// `full_every` is a per-source key: validated, and a shorter one makes runs full sooner.
#[test]
fn full_every_is_configurable_per_source() {
    let base = "[[source]]\nname = \"o\"\nvendor = \"orca\"\nbase_url = \"http://127.0.0.1:9\"\n";
    let creds = "[source.credentials]\ntoken = { env = \"T\" }\n";
    let c = Config::from_text(None, &format!("{base}{creds}")).expect("default");
    assert_eq!(c.sources[0].full_every.as_secs(), 24 * 3600);
    let c = Config::from_text(None, &format!("{base}full_every = \"6h\"\n{creds}")).expect("6h");
    assert_eq!(c.sources[0].full_every.as_secs(), 6 * 3600);
    let cfg = &c.sources[0];
    assert!(!sitrep::sources::sync::full_due(cfg, Some(0), 5 * HOUR));
    assert!(sitrep::sources::sync::full_due(cfg, Some(0), 6 * HOUR));
    assert!(sitrep::sources::sync::full_due(cfg, None, 0));
    let err = Config::from_text(None, &format!("{base}full_every = \"soon\"\n{creds}"))
        .expect_err("bad duration")
        .to_string();
    assert!(err.contains("full_every"), "{err}");
    let err = Config::from_text(None, &format!("{base}full_every = \"1m\"\n{creds}"))
        .expect_err("shorter than the interval")
        .to_string();
    assert!(err.contains("full_every"), "{err}");
}

fn verdicts(c: &Check) -> Vec<(String, &'static str)> {
    c.capabilities
        .iter()
        .map(|k| (k.name.clone(), k.verdict.word()))
        .collect()
}

async fn check(cfg: &SourceConfig) -> Check {
    sitrep::sources::check::check(connect, cfg, kit(cfg.vendor).write_backs, now_ms()).await
}

/// Healthy: reading works, each incremental filter works, write-back kinds are not tried; a
/// bad key or a 403 refuses reading (in the vendor's words) and nothing else is tried. And
/// nothing is written to the vendor: the simulator's world is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_check_against_every_simulator() {
    for vendor in Vendor::ALL {
        let h = sim(vendor, 120, "none").await;
        let cfg = config(&h);
        let before: Vec<(u64, i64)> = {
            let w = h.state.world.read().await;
            w.findings.iter().map(|f| (f.seq, f.updated_ms)).collect()
        };
        let c = check(&cfg).await;
        assert!(c.reads(), "{vendor:?}: {c:?}");
        let v = verdicts(&c);
        assert_eq!(v[0], ("read".to_string(), "works"), "{vendor:?}");
        let filters: Vec<_> = v
            .iter()
            .filter(|(n, _)| n.starts_with("incremental "))
            .collect();
        assert!(!filters.is_empty(), "{vendor:?}");
        assert!(
            filters.iter().all(|(_, w)| *w == "works"),
            "{vendor:?}: {v:?}"
        );
        let writes: Vec<_> = v
            .iter()
            .filter(|(n, _)| n.starts_with("write-back "))
            .collect();
        assert!(!writes.is_empty(), "{vendor:?}");
        assert!(writes.iter().all(|(_, w)| *w == "not tried"), "{vendor:?}");
        let after: Vec<(u64, i64)> = {
            let w = h.state.world.read().await;
            w.findings.iter().map(|f| (f.seq, f.updated_ms)).collect()
        };
        assert_eq!(before, after, "{vendor:?}: the check changed the tenant");

        // A wrong key: reading refused, incremental not tried.
        let (key, wrong) = wrong_secret(vendor);
        let mut bad = cfg.clone();
        bad.credentials.insert(
            key.into(),
            CredentialRef::Literal(Secret::new(wrong.clone())),
        );
        let c = check(&bad).await;
        assert!(!c.reads(), "{vendor:?}: {c:?}");
        assert_eq!(
            c.capabilities[0].verdict.word(),
            "refused",
            "{vendor:?}: {c:?}"
        );
        assert!(
            !c.capabilities[0].verdict.detail().contains(&wrong),
            "{vendor:?}: the secret is in the report"
        );
        assert!(
            c.capabilities
                .iter()
                .filter(|k| k.name.starts_with("incremental "))
                .all(|k| matches!(k.verdict, Verdict::NotTried(_))),
            "{vendor:?}: {c:?}"
        );
        h.stop().await;

        // Every data request answered 403: reading refused, the status named.
        let h = sim(vendor, 50, "403@1x100000").await;
        let c = check(&config(&h)).await;
        assert!(!c.reads(), "{vendor:?}: {c:?}");
        assert_eq!(
            c.capabilities[0].verdict.word(),
            "refused",
            "{vendor:?}: {c:?}"
        );
        h.stop().await;
    }
}

/// A filter the simulator refuses shows as refused, with the vendor's words; the others as
/// working; reading still works (exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_check_names_a_refused_filter() {
    let cases = [
        (
            Vendor::CortexXdr,
            "server_creation_time",
            "incremental server_creation_time",
        ),
        (
            Vendor::Orca,
            "state.last_updated",
            "incremental state.last_updated",
        ),
        (
            Vendor::Wiz,
            "updatedAt",
            "incremental issues.statusChangedAt+vulnerabilityFindings.updatedAt",
        ),
    ];
    for (vendor, field, refused_row) in cases {
        let h = sim(vendor, 80, &format!("refuse={field}")).await;
        let c = check(&config(&h)).await;
        assert!(c.reads(), "{vendor:?}: {c:?}");
        for k in &c.capabilities {
            if k.name == refused_row {
                assert_eq!(k.verdict.word(), "refused", "{vendor:?}: {c:?}");
                assert!(
                    k.verdict.detail().contains(field),
                    "{vendor:?}: the vendor's words name the field: {}",
                    k.verdict.detail()
                );
            } else if k.name.starts_with("incremental ") {
                assert_eq!(k.verdict.word(), "works", "{vendor:?}: {c:?}");
            }
        }
        assert!(
            c.capabilities.iter().any(|k| k.name == refused_row),
            "{vendor:?}: {c:?}"
        );
        h.stop().await;
    }
}

/// A native id of each Wiz kind in the simulator: (an issue, a vulnerability finding).
async fn wiz_ids(h: &SimHandle) -> (String, String) {
    let world = h.state.world.read().await;
    let k = kit(Vendor::Wiz);
    let mut issue = None;
    let mut vuln = None;
    for f in world.findings.iter().filter(|f| {
        f.vendor == Vendor::Wiz && matches!(f.status, sitrep::sim::world::SimStatus::Open)
    }) {
        let item = (k.emit_items)(&world, &[f]).remove(0);
        let id = (k.emit_native_id)(&world, f);
        if item.get("vulnerableAsset").is_some() {
            vuln.get_or_insert(id);
        } else {
            issue.get_or_insert(id);
        }
    }
    (
        issue.expect("an open issue"),
        vuln.expect("an open vulnerability finding"),
    )
}

/// Deciding on a Wiz vulnerability finding records the decision locally and queues no
/// write-back, saying why (`updateIssue` / `createIssueNote` take issue ids); an issue still
/// gets its outbox row. The console and `sitrep mark` / `note` both decide through
/// `dispatch::decide`. Before: the row was queued and failed at Wiz on every attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiz_vulnerability_findings_are_refused_write_back_up_front() {
    use sitrep::domain::{DismissReason, Intent, Status};
    let h = sim(Vendor::Wiz, 200, "none").await;
    let cfg = config(&h);
    let store = memory_store();
    let r = sync_at(&cfg, &store, now_ms()).await;
    assert!(r.error.is_none(), "{}", r.line());
    let config = Config::from_text(None, &h.source_toml).expect("config");
    let (issue, vuln) = wiz_ids(&h).await;
    // Out of its mutex: nothing else holds it now, and no lock is held across an await.
    let store = Arc::try_unwrap(store)
        .ok()
        .expect("the run let go of the store")
        .into_inner()
        .expect("lock");
    let mut s = store;
    let dismiss = Intent::Mark {
        status: Status::Dismissed {
            reason: DismissReason::AcceptedRisk,
            note: Some("compensating control".into()),
            until: None,
        },
        note: None,
    };
    for intent in [dismiss.clone(), Intent::Note("looked at it".into())] {
        let id = format!("{}:{vuln}", cfg.name);
        let out = sitrep::dispatch::decide::decide(&mut s, &config, "ana", &id, &intent, now_ms())
            .expect("decided locally");
        assert_eq!(out.queued, 0, "{intent:?}: {out:?}");
        assert!(
            out.notes
                .iter()
                .any(|n| n.contains("vulnerability finding") && n.contains("issue ids")),
            "{out:?}"
        );
    }
    let id = format!("{}:{vuln}", cfg.name);
    assert_eq!(
        s.get(&id).expect("get").expect("stored").status.kind(),
        sitrep::domain::StatusKind::Dismissed,
        "the local decision stands"
    );
    let id = format!("{}:{issue}", cfg.name);
    let out = sitrep::dispatch::decide::decide(&mut s, &config, "ana", &id, &dismiss, now_ms())
        .expect("decided");
    assert_eq!(out.queued, 1, "an issue is written back: {out:?}");
    h.stop().await;
}

/// Rejecting a Wiz issue sends `REJECTED` with a `resolutionReason` (false positive →
/// `FALSE_POSITIVE`, the rest → `WONT_FIX`), and the simulator refuses a REJECTED without
/// one, as public integrations imply. Before: no `resolutionReason` was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiz_reject_carries_a_resolution_reason() {
    use sitrep::domain::{DismissReason, Status};
    use sitrep::sources::api::{WriteBack, WriteOutcome};
    assert_eq!(
        sitrep::vendors::wiz::client::resolution_reason(DismissReason::FalsePositive),
        "FALSE_POSITIVE"
    );
    assert_eq!(
        sitrep::vendors::wiz::client::resolution_reason(DismissReason::AcceptedRisk),
        "WONT_FIX"
    );
    let h = sim(Vendor::Wiz, 100, "none").await;
    let cfg = config(&h);
    let (issue, _) = wiz_ids(&h).await;
    let mut client = connect(&cfg).expect("client");
    let out = client
        .write_back(&WriteBack::SetStatus {
            native_id: issue.clone(),
            status: Status::Dismissed {
                reason: DismissReason::FalsePositive,
                note: None,
                until: None,
            },
            note: None,
        })
        .await
        .expect("rejected");
    assert_eq!(out, WriteOutcome::Done);

    // The simulator, asked directly: REJECTED without a reason is an error, with one it works.
    let env = |k: &str| {
        h.env
            .iter()
            .find(|(n, _)| n.ends_with(k))
            .map(|(_, v)| v.clone())
            .expect("credential")
    };
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/oauth/token", h.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "wiz-api"),
            ("client_id", &env("CLIENT_ID")),
            ("client_secret", &env("CLIENT_SECRET")),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let update = |patch: serde_json::Value| {
        let http = http.clone();
        let token = token.clone();
        let url = format!("{}/graphql", h.base_url);
        let issue = issue.clone();
        async move {
            let body = serde_json::json!({
                "query": "mutation UpdateIssue($issueId: ID!, $patch: UpdateIssuePatch) { updateIssue(input: {id: $issueId, patch: $patch}) { issue { id status resolutionReason } } }",
                "variables": {"issueId": issue, "patch": patch},
            });
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("graphql")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let refused = update(serde_json::json!({"status": "REJECTED"})).await;
    let message = refused["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("resolutionReason"), "{refused}");
    let ok =
        update(serde_json::json!({"status": "REJECTED", "resolutionReason": "WONT_FIX"})).await;
    assert_eq!(
        ok["data"]["updateIssue"]["issue"]["status"], "REJECTED",
        "{ok}"
    );
    h.stop().await;
}

/// Orca: the rules query carries only what XSOAR's fetch sends (`limit`, `dsl_filter`, and
/// `next_page_token` when paging) — no `show_all_statuses_alerts` / `show_informational_alerts`
/// — and a closed alert in the answer is stored closed. Before: both `show_*` fields were sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orca_sends_only_what_public_integrations_send_and_closed_alerts_sync() {
    use axum::{Router, body::Bytes, routing::post};
    use sitrep::sim::world::{SimStatus, World};

    let mut world = World::generate(5, 20, now_ms());
    let k = kit(Vendor::Orca);
    let idx: Vec<usize> = (0..world.findings.len())
        .filter(|&i| world.findings[i].vendor == Vendor::Orca)
        .take(3)
        .collect();
    world.findings[idx[0]].status = SimStatus::Resolved;
    world.findings[idx[1]].status = SimStatus::Dismissed;
    world.findings[idx[2]].status = SimStatus::Open;
    let picked: Vec<_> = idx.iter().map(|&i| &world.findings[i]).collect();
    let ids: Vec<String> = picked
        .iter()
        .map(|f| (k.emit_native_id)(&world, f))
        .collect();
    let mut body = (k.emit_list_body)((k.emit_items)(&world, &picked));
    body["next_page_token"] = serde_json::Value::Null;
    body["has_next_page_token"] = serde_json::json!(false);
    body["total_items"] = serde_json::json!(3);
    let body = body.to_string();

    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/api/rules/query/alerts",
        post(move |form: Bytes| {
            let log = log.clone();
            let body = body.clone();
            async move {
                for pair in String::from_utf8_lossy(&form).split('&') {
                    let key = pair.split('=').next().unwrap_or("").to_string();
                    log.lock().expect("lock").push(key);
                }
                ([("content-type", "application/json")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let toml = sitrep::vendors::orca::sim::server::source_toml("orca", &base);
    let mut cfg = Config::from_text(None, &toml)
        .expect("toml")
        .sources
        .remove(0);
    cfg.credentials.insert(
        "token".into(),
        CredentialRef::Literal(Secret::new("orca-token-0123456789")),
    );
    let store = memory_store();
    let r = sync_at(&cfg, &store, now_ms()).await;
    assert!(r.error.is_none(), "{}", r.line());
    let mut keys = seen.lock().expect("lock").clone();
    keys.sort();
    keys.dedup();
    assert_eq!(keys, ["dsl_filter", "limit"], "form fields sent");
    let s = store.lock().expect("lock");
    let state = |id: &str| {
        s.get(&format!("orca:{id}"))
            .expect("get")
            .expect("stored")
            .alert
            .vendor_status
    };
    assert_ne!(state(&ids[0]), VendorState::Open, "closed alert");
    assert_ne!(state(&ids[1]), VendorState::Open, "dismissed alert");
    assert_eq!(state(&ids[2]), VendorState::Open);
    drop(s);
    server.abort();
}

/// The console's refresher runs the same scheduled reconciliation: its first run is full, and
/// the status it publishes (what the status bar shows) carries when that was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_publishes_the_last_full_run() {
    use sitrep::sources::sync::{Refresher, SourceStatus};
    let h = sim(Vendor::Orca, 60, "none").await;
    let store = memory_store();
    let cfg = config(&h);
    let cfg_name = cfg.name.clone();
    let refresher = Refresher::spawn(connect, vec![cfg], store.clone(), now_ms);
    let mut status = refresher.status[0].1.clone();
    let last_full = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            status.changed().await.expect("status channel");
            if let SourceStatus::Idle { last_full, .. } = &*status.borrow() {
                return *last_full;
            }
        }
    })
    .await
    .expect("the first run finishes");
    refresher.stop(std::time::Duration::from_secs(5)).await;
    let recorded = store
        .lock()
        .expect("lock")
        .source_state(&cfg_name)
        .ok()
        .flatten()
        .and_then(|s| s.last_full_at);
    assert!(last_full.is_some(), "the first run is full");
    assert_eq!(last_full, recorded);
    h.stop().await;
}
