//! Issue 23: the queue is what still needs someone. Alerts the vendor closed leave the default
//! queue (their status follows the vendor's unless an analyst decided), stay one filter away
//! (`vstate:closed`), and come back marked resurfaced when the vendor reopens them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use common::Sandbox;
use sitrep::config::Config;
use sitrep::config::sources::{CredentialRef, Secret};
use sitrep::domain::{DismissReason, Status, Vendor};
use sitrep::sim::server;
use sitrep::sources::sync;
use sitrep::store::{ListRequest, StatusChange, Store};
use sitrep::vendors::{self, emit};

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

/// What the simulated vendor holds now, as sitrep maps it: id → closed at the vendor.
async fn vendor_truth(sim: &server::SimHandle, source: &str) -> BTreeMap<String, bool> {
    let world = sim.state.world.read().await;
    let body = emit::vendor_body(sim.vendor, &world);
    vendors::map_payload(sim.vendor, source, &body)
        .expect("map")
        .into_iter()
        .map(|a| (a.id(), a.vendor_status.is_closed()))
        .collect()
}

fn queue(store: &Arc<Mutex<Store>>, filter: Option<&str>, at: i64) -> Vec<sitrep::store::QueueRow> {
    let q = filter.map(|f| sitrep::triage::query::parse(f).expect("filter"));
    let s = store.lock().expect("lock");
    s.list(&ListRequest {
        filter: q.as_ref(),
        include_closed: q.as_ref().is_some_and(|q| q.decides_statuses()),
        limit: 100_000,
        now_ms: at,
        ..Default::default()
    })
    .expect("list")
}

fn ids(rows: &[sitrep::store::QueueRow]) -> BTreeSet<String> {
    rows.iter().map(|r| r.id.clone()).collect()
}

fn status_of(store: &Arc<Mutex<Store>>, id: &str) -> Status {
    store
        .lock()
        .expect("lock")
        .get(id)
        .expect("get")
        .expect("stored")
        .status
}

async fn sync_once(cfg: &sitrep::config::sources::SourceConfig, store: &Arc<Mutex<Store>>) {
    let report = sync::run(
        vendors::connect,
        cfg,
        store,
        false,
        now(),
        Arc::new(|_: &sync::Progress| {}),
    )
    .await;
    assert!(report.error.is_none(), "{}", report.line());
}

/// The simulator closes 2% of its alerts (some of them ones an analyst already decided on),
/// one sync later exactly the undecided ones have left the default queue with a history entry
/// by sitrep, every analyst decision is as it was, and `vstate:closed` shows all of them. The
/// vendor then reopens them: exactly those whose status had followed the vendor come back,
/// new and marked resurfaced; the analysts' stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_closes_two_percent_moves_exactly_those_out_of_the_queue() {
    const N: usize = 500;
    let sim = vendors::sim::start(
        Vendor::Wiz,
        server::SimOptions {
            alerts: N,
            seed: 11,
            now_ms: now() - 60_000,
            source_name: Some("wiz".into()),
            ..Default::default()
        },
    )
    .await
    .expect("sim");
    let cfg = source_for(&sim);
    let store = Arc::new(Mutex::new(Store::open_in_memory().expect("store")));
    store
        .lock()
        .expect("lock")
        .set_audit_key(sitrep::audit::AuditKey::from_bytes(
            b"integration test audit key 0123456789",
        ));
    sync_once(&cfg, &store).await;
    let truth0 = vendor_truth(&sim, "wiz").await;
    assert_eq!(truth0.len(), N);
    // Already closed at the vendor on first sight: never in the queue.
    let closed0: BTreeSet<String> = truth0
        .iter()
        .filter(|(_, c)| **c)
        .map(|(i, _)| i.clone())
        .collect();
    assert!(!closed0.is_empty());
    let q0 = ids(&queue(&store, None, now()));
    assert!(q0.is_disjoint(&closed0));
    assert_eq!(q0.len() + closed0.len(), N);

    // The vendor closes 2%.
    let seqs = server::close_findings(&sim.state, N / 50).await;
    assert_eq!(seqs.len(), N / 50);
    let truth1 = vendor_truth(&sim, "wiz").await;
    let closing: Vec<String> = truth1
        .iter()
        .filter(|(id, c)| **c && !truth0[*id])
        .map(|(i, _)| i.clone())
        .collect();
    assert_eq!(closing.len(), N / 50);

    // Meanwhile analysts decide on some of them and on others.
    let others: Vec<String> = q0
        .iter()
        .filter(|i| !closing.contains(i))
        .take(3)
        .cloned()
        .collect();
    let decisions: Vec<(String, Status)> = vec![
        (closing[0].clone(), Status::InProgress),
        (
            closing[1].clone(),
            Status::Dismissed {
                reason: DismissReason::AcceptedRisk,
                note: Some("owned by the platform team".into()),
                until: None,
            },
        ),
        (
            closing[2].clone(),
            Status::Snoozed {
                until: now() + 7 * 86_400_000,
                note: None,
            },
        ),
        (
            closing[3].clone(),
            Status::Resolved {
                reason: "mitigated".into(),
            },
        ),
        (closing[4].clone(), Status::Acknowledged),
        (others[0].clone(), Status::InProgress),
        (others[1].clone(), Status::Acknowledged),
        (
            others[2].clone(),
            Status::Dismissed {
                reason: DismissReason::FalsePositive,
                note: None,
                until: None,
            },
        ),
    ];
    for (id, st) in &decisions {
        store
            .lock()
            .expect("lock")
            .set_status(
                id,
                &StatusChange {
                    status: st.clone(),
                    actor: "ana".into(),
                    note: None,
                    at: now(),
                },
            )
            .expect("decide");
    }
    let decided: BTreeMap<String, Status> = decisions
        .iter()
        .filter(|(_, st)| *st != Status::Acknowledged)
        .cloned()
        .collect();
    let q1 = ids(&queue(&store, None, now()));

    sync_once(&cfg, &store).await;
    let q2 = ids(&queue(&store, None, now()));
    // Followed: the closing alerts nobody had taken a decision on (new, or acknowledged).
    let followed: BTreeSet<String> = closing
        .iter()
        .filter(|id| !decided.contains_key(*id))
        .cloned()
        .collect();
    assert_eq!(followed.len(), N / 50 - 4);
    let want: BTreeSet<String> = q1.difference(&followed).cloned().collect();
    assert_eq!(q2, want, "the default queue lost exactly the followed ones");
    assert!(q2.contains(&closing[0]), "in progress stays, marked ✓");
    for (id, st) in &decided {
        assert_eq!(&status_of(&store, id), st, "{id}: an analyst's decision");
    }
    assert_eq!(status_of(&store, &others[1]), Status::Acknowledged);
    for id in &followed {
        let got = store
            .lock()
            .expect("lock")
            .get(id)
            .expect("get")
            .expect("stored");
        let want_kind = if got.alert.vendor_status == sitrep::domain::VendorState::Dismissed {
            "dismissed"
        } else {
            "resolved"
        };
        assert_eq!(got.status.kind().as_str(), want_kind, "{id}");
        let h = got.history.last().expect("history");
        assert_eq!(h.actor, sitrep::store::SYSTEM_ACTOR, "{id}");
        assert!(
            h.note
                .as_deref()
                .is_some_and(|n| n.starts_with("closed at the vendor")),
            "{h:?}"
        );
    }
    // One filter away: every alert closed at the vendor, whatever its status here.
    let shown = ids(&queue(&store, Some("vstate:closed"), now()));
    let all_closed: BTreeSet<String> = closed0.iter().chain(&closing).cloned().collect();
    assert_eq!(shown, all_closed);
    // Scores agree: nothing closed at the vendor outranks an open alert.
    let rows = queue(&store, None, now());
    let lowest_open = rows
        .iter()
        .filter(|r| !r.vendor_status.is_closed())
        .map(|r| r.score)
        .min()
        .expect("open rows");
    for r in rows.iter().filter(|r| r.vendor_status.is_closed()) {
        assert!(r.score <= lowest_open, "{} scores {}", r.id, r.score);
    }
    // The system changes are in the audit log as sitrep's: the new ones and the one an
    // analyst had only acknowledged, which followed too (the rule).
    {
        let s = store.lock().expect("lock");
        let audited: BTreeSet<String> = s
            .audit_entries(None)
            .expect("audit")
            .into_iter()
            .filter(|e| e.actor == "sitrep" && e.action == "status")
            .map(|e| e.subject)
            .collect();
        assert_eq!(audited, followed);
        assert!(s.audit_verify().expect("verify").is_ok());
    }

    // The vendor reopens everything it just closed.
    assert_eq!(server::reopen_findings(&sim.state, &seqs).await, seqs.len());
    sync_once(&cfg, &store).await;
    let rows = queue(&store, None, now());
    let resurfaced: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.resurfaced)
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(
        resurfaced, followed,
        "exactly the followed ones come back marked"
    );
    for r in rows.iter().filter(|r| r.resurfaced) {
        assert_eq!(r.status, "new");
        assert_eq!(
            r.resurfaced_reason.as_deref(),
            Some("reopened at the vendor after it had closed it")
        );
    }
    for (id, st) in &decided {
        assert_eq!(&status_of(&store, id), st, "{id}: still the analyst's");
    }
    let q3 = ids(&rows);
    assert_eq!(
        q3, q1,
        "the queue is back to what it was before the vendor closed them"
    );
    sim.stop().await;
}

/// `sitrep list` leaves the vendor-closed alerts of an import out; `--filter vstate:closed`
/// shows them, with the status that followed the vendor.
#[test]
fn list_leaves_vendor_closed_out_and_the_filter_shows_them() {
    let sb = Sandbox::new();
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/prisma-cspm.json"
    );
    sb.ok(&["import", "--vendor", "prisma-cspm", file]);
    let all = sb.ok(&["list", "--all", "--format", "json"]);
    let all: serde_json::Value = serde_json::from_str(&all).expect("json");
    let rows = all.as_array().expect("rows");
    let closed: BTreeSet<String> = rows
        .iter()
        .filter(|r| matches!(r["vendor_status"].as_str(), Some("resolved" | "dismissed")))
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    assert!(!closed.is_empty());
    for r in rows
        .iter()
        .filter(|r| closed.contains(r["id"].as_str().unwrap_or("")))
    {
        assert!(
            matches!(r["status"].as_str(), Some("resolved" | "dismissed")),
            "{r}"
        );
    }
    let listed = |args: &[&str]| -> BTreeSet<String> {
        let out = sb.ok(args);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v.as_array()
            .expect("rows")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    };
    let default = listed(&["list", "--format", "json"]);
    assert!(default.is_disjoint(&closed), "{default:?}");
    assert_eq!(default.len() + closed.len(), rows.len());
    assert_eq!(
        listed(&["list", "--filter", "vstate:closed", "--format", "json"]),
        closed
    );
    // An --active export agrees with the queue.
    let csv = sb.ok(&["export", "--active", "--format", "csv"]);
    for id in &closed {
        assert!(
            !csv.contains(&format!(",{id},")),
            "{id} in an --active export"
        );
    }
}
