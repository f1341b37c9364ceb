//! Prisma Cloud Compute: the client against its simulator over real HTTP on loopback.

#[path = "common/sync_prisma.rs"]
mod sync_prisma;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
use sitrep::sim::emit;
use sitrep::sim::server::prisma_compute::{Endpoint, endpoint_of};
use sitrep::sim::server::{self, Faults, SimHandle, SimOptions};
use sitrep::sim::world::{RuleCategory, SimStatus};
use sitrep::sources::api::{ApiError, Client, Stats, Window, WriteBack, WriteOutcome};
use sync_prisma::{StoreSink, counter, fetch_all, now_ms, source_config, with_credential};

const V: Vendor = Vendor::PrismaCompute;

async fn start(alerts: usize, faults: Faults) -> SimHandle {
    server::start(
        V,
        SimOptions {
            alerts,
            faults,
            seed: 7,
            ..SimOptions::default()
        },
    )
    .await
    .expect("simulator starts")
}

/// What the mapper makes of a finding's state: incidents are open or archived (resolved);
/// a vulnerability or compliance issue listed in a scan result is open.
fn vendor_state(category: RuleCategory, s: SimStatus) -> VendorState {
    match (category, s) {
        (RuleCategory::Runtime, SimStatus::Resolved | SimStatus::Dismissed) => {
            VendorState::Resolved
        }
        _ => VendorState::Open,
    }
}

/// native id → (expected state, severity, endpoint) for every finding in the world.
async fn truth(
    handle: &SimHandle,
) -> HashMap<String, (VendorState, sitrep::domain::Severity, Endpoint)> {
    let world = handle.state.world.read().await;
    world
        .findings_for(V)
        .map(|f| {
            (
                emit::native_id(V, &world, f),
                (
                    vendor_state(f.rule.category, f.status),
                    f.severity.severity(),
                    endpoint_of(&world, f),
                ),
            )
        })
        .collect()
}

async fn assert_store_equals_world(handle: &SimHandle, sink: &StoreSink, source: &str) {
    let want = truth(handle).await;
    let have = sink.stored_ids(source);
    let want_ids: HashSet<String> = want.keys().cloned().collect();
    let missing: Vec<&String> = want_ids.difference(&have).take(5).collect();
    let extra: Vec<&String> = have.difference(&want_ids).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (id, (state, severity, _)) in &want {
        if let Some(a) = sink.latest.get(id) {
            assert_eq!(&a.vendor_status, state, "{id}");
            assert_eq!(&a.severity, severity, "{id}");
        }
    }
    for (id, (state, severity, _)) in want.iter().step_by(89) {
        let s = sink.stored(source, id);
        assert_eq!(&s.alert.vendor_status, state, "{id}");
        assert_eq!(&s.alert.severity, severity, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_5000_alerts_through_faults() {
    let handle = start(5000, Faults::standard()).await;
    let mut cfg = source_config(&handle);
    cfg.page_size = Some(100);
    let mut client = Client::new(&cfg).expect("client");
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
    eprintln!(
        "5,000 Compute findings through faults in {:?} (store import {:?}, {} pages)",
        started.elapsed(),
        sink.import_time,
        sink.pages
    );
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
    assert_eq!(counter(&c.server_errors), 3);
    assert_eq!(counter(&c.truncated), 1);
    assert_eq!(Stats::get(&client.stats().reauths), 1);
    // Every page was answered once, plus 3 × 429, 1 × 401, 3 × 503 and 1 truncated body.
    assert_eq!(counter(&c.data_requests), sink.pages as u64 + 3 + 1 + 3 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sync_fetches_only_the_window_of_incidents() {
    let handle = start(5000, Faults::none()).await;
    let mut cfg = source_config(&handle);
    cfg.concurrency = 4;
    let mut client = Client::new(&cfg).expect("client");
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
        .expect("first sync");
    assert_eq!(sink.delivered.len(), 5000);
    assert_eq!(sink.duplicates(), 0);
    let watermark = sink.max_updated.expect("a watermark");

    tokio::time::sleep(Duration::from_millis(5)).await;
    handle.evolve(500, 100).await;
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
    assert_eq!(sink.duplicates(), 0);
    let (incidents_total, incidents_in_window, scan_total) = {
        let world = handle.state.world.read().await;
        let runtime = || {
            world
                .findings_for(V)
                .filter(|f| f.rule.category == RuleCategory::Runtime)
        };
        (
            runtime().count(),
            runtime().filter(|f| f.updated_ms >= since).count(),
            world
                .findings_for(V)
                .filter(|f| f.rule.category != RuleCategory::Runtime)
                .count(),
        )
    };
    let incidents_served = sink
        .delivered
        .iter()
        .filter(|id| id.starts_with("incident/"))
        .count();
    // Incidents: only the window. Scan results: all of them (Compute has no changed-since
    // filter for them).
    assert_eq!(incidents_served, incidents_in_window);
    assert!(
        incidents_served * 4 < incidents_total,
        "{incidents_served} of {incidents_total} incidents"
    );
    assert_eq!(sink.delivered.len() - incidents_served, scan_total);
    assert_store_equals_world(&handle, &sink, &cfg.name).await;
    assert_eq!(sink.stored_ids(&cfg.name).len(), 5100);
    assert_eq!(counter(&handle.state.counters.early_requests), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_clearly() {
    let handle = start(50, Faults::none()).await;
    let cfg = source_config(&handle);
    let wrong = "not-the-password-Zq9";
    let bad = with_credential(&cfg, "password", wrong);
    let mut client = Client::new(&bad).expect("client");
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
        .expect_err("wrong password");
    let text = err.to_string();
    assert!(matches!(err, ApiError::Unauthorized(_)), "{err:?}");
    assert!(text.contains(&cfg.name), "{text}");
    assert!(!text.contains(wrong), "the secret leaked: {text}");
    assert!(counter(&handle.state.counters.auth_requests) <= 2);
    assert_eq!(counter(&handle.state.counters.data_requests), 0);

    // An unknown API version is a configuration error, found before anything is sent.
    let mut odd = cfg.clone();
    odd.options.insert("api_version".into(), "latest".into());
    match Client::new(&odd) {
        Err(ApiError::Config(m)) => assert!(m.contains("api_version"), "{m}"),
        Err(e) => panic!("expected a config error, got {e:?}"),
        Ok(_) => panic!("expected a config error"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_stays_malformed_fails_the_run_and_keeps_earlier_pages() {
    let mut faults = Faults::none();
    faults.truncate_at = (2..=12).collect();
    let handle = start(500, faults).await;
    let mut cfg = source_config(&handle);
    cfg.page_size = Some(50);
    cfg.max_retries = 2;
    let mut client = Client::new(&cfg).expect("client");
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
    assert_eq!(sink.pages, 1, "the first page was delivered");
    assert_eq!(sink.stored_ids(&cfg.name).len(), 50);
    assert_eq!(counter(&handle.state.counters.truncated), 3);
}

async fn full(client: &mut Client) -> StoreSink {
    let mut sink = StoreSink::new();
    fetch_all(client, &mut sink).await.expect("fetch");
    sink
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_back_acknowledges_incidents_and_says_what_is_unsupported() {
    let handle = start(200, Faults::none()).await;
    let mut cfg = source_config(&handle);
    cfg.options.insert("api_version".into(), "v1".into());
    let mut client = Client::new(&cfg).expect("client");
    let truth = truth(&handle).await;
    let incident = truth
        .iter()
        .filter(|(id, (state, _, _))| id.starts_with("incident/") && *state == VendorState::Open)
        .map(|(id, _)| id.clone())
        .min()
        .expect("an open incident");
    let vuln = truth
        .keys()
        .filter(|id| !id.starts_with("incident/"))
        .min()
        .cloned()
        .expect("a scan-result finding");

    let resolve = WriteBack::SetStatus {
        native_id: incident.clone(),
        status: Status::Resolved {
            reason: "contained".into(),
        },
        note: None,
    };
    assert_eq!(
        client.write_back(&resolve).await.expect("ack"),
        WriteOutcome::Done
    );
    let sink = full(&mut client).await;
    assert_eq!(sink.latest[&incident].vendor_status, VendorState::Resolved);
    assert_eq!(sink.latest[&incident].raw["acknowledged"], true);

    let reopen = WriteBack::SetStatus {
        native_id: incident.clone(),
        status: Status::New,
        note: None,
    };
    assert_eq!(
        client.write_back(&reopen).await.expect("unack"),
        WriteOutcome::Done
    );
    let sink = full(&mut client).await;
    assert_eq!(sink.latest[&incident].vendor_status, VendorState::Open);

    let dismiss = WriteBack::SetStatus {
        native_id: incident.clone(),
        status: Status::Dismissed {
            reason: DismissReason::FalsePositive,
            note: None,
            until: None,
        },
        note: None,
    };
    assert_eq!(
        client.write_back(&dismiss).await.expect("ack"),
        WriteOutcome::Done
    );
    let sink = full(&mut client).await;
    assert_eq!(sink.latest[&incident].vendor_status, VendorState::Resolved);

    // An incident the console does not know: 404.
    let ghost = WriteBack::SetStatus {
        native_id: "incident/000000000000000000000000".into(),
        status: Status::New,
        note: None,
    };
    match client.write_back(&ghost).await {
        Err(ApiError::Http { status: 404, .. }) => {}
        other => panic!("expected a 404, got {other:?}"),
    }

    let unsupported = [
        WriteBack::SetStatus {
            native_id: vuln.clone(),
            status: Status::Resolved {
                reason: "patched".into(),
            },
            note: None,
        },
        WriteBack::SetStatus {
            native_id: "audit/636a952a5a293a6ea06cbb87".into(),
            status: Status::Dismissed {
                reason: DismissReason::FalsePositive,
                note: None,
                until: None,
            },
            note: None,
        },
        WriteBack::SetStatus {
            native_id: incident.clone(),
            status: Status::Acknowledged,
            note: None,
        },
        WriteBack::SetStatus {
            native_id: incident.clone(),
            status: Status::Snoozed {
                until: now_ms() + 86_400_000,
                note: None,
            },
            note: None,
        },
        WriteBack::Comment {
            native_id: incident.clone(),
            text: "seen".into(),
        },
    ];
    let requests = counter(&handle.state.counters.data_requests);
    for action in &unsupported {
        match client.write_back(action).await.expect("no error") {
            WriteOutcome::Unsupported(reason) => assert!(reason.len() > 20, "{reason}"),
            other => panic!("{action:?} should be unsupported, got {other:?}"),
        }
    }
    assert_eq!(
        counter(&handle.state.counters.data_requests),
        requests,
        "unsupported writes send nothing"
    );
    let sink = full(&mut client).await;
    assert_eq!(sink.latest[&incident].vendor_status, VendorState::Resolved);
    assert_eq!(sink.latest[&vuln].vendor_status, VendorState::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_endpoints_are_limited_to_30_requests_per_30_seconds() {
    use reqwest::StatusCode;
    let handle = start(100, Faults::none()).await;
    let cfg = source_config(&handle);
    let http = reqwest::Client::new();
    let (user, pass) = (&handle.env[0].1, &handle.env[1].1);
    let token = http
        .post(format!("{}/api/v34.04/authenticate", handle.base_url))
        .json(&serde_json::json!({ "username": user, "password": pass }))
        .send()
        .await
        .expect("auth")
        .json::<serde_json::Value>()
        .await
        .expect("token")["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let mut statuses = Vec::new();
    for _ in 0..31 {
        let r = http
            .get(format!("{}/api/v34.04/hosts?limit=1", handle.base_url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("hosts");
        statuses.push((r.status(), r.headers().get("retry-after").is_some()));
    }
    assert!(statuses[..30].iter().all(|(s, _)| *s == StatusCode::OK));
    assert_eq!(statuses[30], (StatusCode::TOO_MANY_REQUESTS, true));
    // Another scan endpoint has its own budget, and the incidents list has none.
    let r = http
        .get(format!("{}/api/v34.04/images?limit=1", handle.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("images");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("total-count").is_some());
    let _ = cfg;
}

/// One `sync::run` of `cfg` into `store`, as `sitrep sync` does it.
async fn run_once(
    cfg: &sitrep::config::SourceConfig,
    store: &std::sync::Arc<std::sync::Mutex<sitrep::store::Store>>,
) -> sitrep::sources::sync::RunReport {
    sitrep::sources::sync::run(
        cfg,
        store,
        false,
        now_ms(),
        std::sync::Arc::new(|_: &sitrep::sources::sync::Progress| {}),
    )
    .await
}

/// Compute drops a fixed vulnerability (or a deleted workload's findings) from its scan
/// results instead of closing it: a sync that read a scan list in full marks what the list no
/// longer holds resolved by the vendor, with a history entry, and leaves everything else
/// alone; a finding that comes back (a rollback) is open again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_findings_resolve_and_reintroduced_ones_reopen() {
    use sitrep::sim::server::prisma_compute::{fix_findings, reintroduce_findings};
    let handle = start(2000, Faults::none()).await;
    let cfg = source_config(&handle);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(std::sync::Mutex::new(
        sitrep::store::Store::open(&dir.path().join("s.db")).expect("store"),
    ));
    let first = run_once(&cfg, &store).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!((first.stats.new, first.stats.vanished), (2000, 0));

    let fixed: HashSet<String> = fix_findings(&handle.state, 60).await.into_iter().collect();
    assert!(fixed.len() >= 50, "{} fixed", fixed.len());
    let second = run_once(&cfg, &store).await;
    assert!(second.error.is_none(), "{:?}", second.error);
    assert_eq!(second.stats.vanished, fixed.len());
    assert!(
        second
            .line()
            .contains(&format!("{} resolved (gone from the vendor)", fixed.len())),
        "{}",
        second.line()
    );
    // Scan findings the store holds as closed by the vendor (the queue's `vstate:` filter).
    let closed = sitrep::triage::query::parse("vstate:resolved").expect("parse");
    let resolved_ids = |store: &sitrep::store::Store| -> HashSet<String> {
        let rows = store
            .list(&sitrep::store::ListRequest {
                filter: Some(&closed),
                include_closed: true,
                limit: 100_000,
                now_ms: now_ms(),
                ..Default::default()
            })
            .expect("list");
        rows.into_iter()
            .filter_map(|r| {
                let native = r.id.strip_prefix(&format!("{}:", cfg.name))?.to_string();
                (!native.starts_with("incident/")).then_some(native)
            })
            .collect()
    };
    // The newest vendor-state entry of a stored finding (a status sitrep set after it, when
    // the finding was still new here, is checked below).
    let last_entry = |store: &sitrep::store::Store, native: &str| {
        let a = store
            .get(&format!("{}:{native}", cfg.name))
            .expect("get")
            .expect("kept, not deleted");
        let last = a
            .history
            .iter()
            .rev()
            .find(|h| h.kind == "vendor_update")
            .cloned()
            .expect("a vendor-state entry");
        (a.alert.vendor_status, last)
    };
    let status_of = |store: &sitrep::store::Store, native: &str| {
        let a = store
            .get(&format!("{}:{native}", cfg.name))
            .expect("get")
            .expect("stored");
        a.status.kind().as_str()
    };
    {
        let s = store.lock().expect("lock");
        assert_eq!(
            resolved_ids(&s),
            fixed,
            "exactly the fixed findings are resolved"
        );
        let (_, last) = last_entry(&s, fixed.iter().next().expect("one"));
        assert_eq!(
            (last.kind.as_str(), last.to_status.as_deref()),
            ("vendor_update", Some("resolved"))
        );
        assert!(
            last.note
                .as_deref()
                .is_some_and(|n| n.contains("no longer listed")),
            "{last:?}"
        );
        // Nobody had decided on them: their status followed the vendor's (issue 23).
        for native in &fixed {
            assert_eq!(status_of(&s, native), "resolved", "{native}");
        }
    }

    // A third sync with nothing changed marks nothing again.
    let third = run_once(&cfg, &store).await;
    assert_eq!((third.stats.vanished, third.stats.updated), (0, 0));

    let back: HashSet<String> = reintroduce_findings(&handle.state, 20)
        .await
        .into_iter()
        .collect();
    assert!(!back.is_empty());
    let fourth = run_once(&cfg, &store).await;
    assert!(fourth.error.is_none(), "{:?}", fourth.error);
    assert!(fourth.stats.updated >= back.len(), "{:?}", fourth.stats);
    let s = store.lock().expect("lock");
    let still: HashSet<String> = fixed.difference(&back).cloned().collect();
    let now_resolved = resolved_ids(&s);
    assert_eq!(
        (
            now_resolved.difference(&still).collect::<Vec<_>>(),
            still.difference(&now_resolved).collect::<Vec<_>>()
        ),
        (vec![], vec![]),
        "the reintroduced findings are open again, the others still resolved"
    );
    let (state, last) = last_entry(&s, back.iter().next().expect("one"));
    assert_eq!(state, VendorState::Open);
    assert_eq!(
        (last.from_status.as_deref(), last.to_status.as_deref()),
        (Some("resolved"), Some("open"))
    );
    // …and back in the queue as new.
    for native in &back {
        assert_eq!(status_of(&s, native), "new", "{native}");
    }
}

/// Records the listings a client announces, and removes whole image scan results from the
/// simulator after the first page of images (as a deleted image would between two pages).
struct ShiftingSink {
    state: std::sync::Arc<sitrep::sim::server::SimState>,
    begun: Vec<&'static str>,
    complete: Vec<&'static str>,
    removed: bool,
}

impl sitrep::sources::api::PageSink for ShiftingSink {
    fn page(&mut self, alerts: Vec<sitrep::domain::Alert>) -> Result<(), ApiError> {
        if !self.removed && alerts.iter().any(|a| a.native_id.starts_with("image/")) {
            self.removed = true;
            let state = self.state.clone();
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    let mut world = state.world.write().await;
                    let mut rng = sitrep::sim::rng::Rng::new(3);
                    // Every vulnerability of the first few workloads: their images vanish.
                    let workloads: Vec<usize> = world
                        .findings_for(V)
                        .filter(|f| f.rule.category == RuleCategory::Vulnerability)
                        .map(|f| f.resource)
                        .filter(|&r| {
                            world.resources[r].kind == sitrep::sim::world::ResourceKind::Workload
                        })
                        .take(3)
                        .collect();
                    world.retire(&mut rng, V, usize::MAX, |f| {
                        f.rule.category == RuleCategory::Vulnerability
                            && workloads.contains(&f.resource)
                    });
                })
            });
        }
        Ok(())
    }

    fn listing_begins(&mut self, prefix: &'static str) {
        self.begun.push(prefix);
    }

    fn listing_complete(&mut self, prefix: &'static str) {
        self.complete.push(prefix);
    }
}

/// Compute pages scan results by offset: when the list shrinks while it is paged, an object
/// slides onto a page already read and is skipped. Such a listing (its Total-Count changed)
/// is not taken as complete, so nothing it missed is marked resolved; the others are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_list_that_changes_while_paged_is_not_complete() {
    let handle = start(2000, Faults::none()).await;
    let mut cfg = source_config(&handle);
    cfg.page_size = Some(20);
    cfg.concurrency = 1;
    let mut client = Client::new(&cfg).expect("client");
    let mut sink = ShiftingSink {
        state: handle.state.clone(),
        begun: Vec::new(),
        complete: Vec::new(),
        removed: false,
    };
    fetch_all(&mut client, &mut sink).await.expect("sync");
    assert!(sink.removed, "the images list had a first page");
    assert_eq!(sink.begun, ["image/", "container/", "host/", "function/"]);
    assert_eq!(sink.complete, ["container/", "host/", "function/"]);
}
