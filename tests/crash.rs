//! SIGKILL at random points while decisions are recorded and while the outbox delivers them:
//! no committed decision is lost, a decision is never half-written (status without its outbox
//! row or the reverse), `PRAGMA integrity_check` passes after every kill, and once the process
//! is allowed to finish every decision has reached the vendor (redeliveries absorbed).

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::Sandbox;
use sitrep::domain::Vendor;
use sitrep::sim::server::{SimHandle, SimOptions};
use sitrep::sim::world::SimStatus;
use sitrep::store::{OutboxState, Store};
use sitrep::vendors::emit;

/// Kills in each phase (decisions, then deliveries): 200 in all.
const KILLS_PER_PHASE: usize = 100;

struct Rig {
    sb: Sandbox,
    rt: tokio::runtime::Runtime,
    cfg: PathBuf,
    vars: Vec<(String, String)>,
    sim: SimHandle,
}

impl Rig {
    fn new(alerts: usize) -> Rig {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt
            .block_on(sitrep::vendors::sim::start(
                Vendor::PrismaCspm,
                SimOptions {
                    alerts,
                    seed: 5,
                    source_name: Some("tenant".into()),
                    ..SimOptions::default()
                },
            ))
            .expect("sim");
        let a = sim.announcement();
        let vars = a["env"]
            .as_object()
            .expect("env")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("str").to_string()))
            .collect();
        let sb = Sandbox::new();
        let cfg = sb.write("config.toml", a["source_toml"].as_str().expect("toml"));
        Rig {
            sb,
            rt,
            cfg,
            vars,
            sim,
        }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &self.cfg);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) {
        let st = self.cmd(args).status().expect("run");
        assert!(st.success(), "sitrep {args:?}: {st:?}");
    }

    fn open_ids(&self, n: usize) -> Vec<String> {
        self.rt.block_on(async {
            let world = self.sim.state.world.read().await;
            world
                .findings_for(Vendor::PrismaCspm)
                .filter(|f| f.status == SimStatus::Open)
                .take(n)
                .map(|f| emit::native_id(Vendor::PrismaCspm, &world, f))
                .collect()
        })
    }

    fn dismissed_at_vendor(&self) -> HashSet<String> {
        self.rt.block_on(async {
            let world = self.sim.state.world.read().await;
            world
                .findings_for(Vendor::PrismaCspm)
                .filter(|f| f.status == SimStatus::Dismissed)
                .map(|f| emit::native_id(Vendor::PrismaCspm, &world, f))
                .collect()
        })
    }
}

/// A small deterministic generator for kill delays.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

fn kill_after(mut child: Child, delay: Duration) -> bool {
    std::thread::sleep(delay);
    let finished = matches!(child.try_wait(), Ok(Some(_)));
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
    finished
}

/// What the database says after a kill: integrity, and the decided alerts with their rows.
fn check(db: &std::path::Path) -> (HashSet<String>, usize) {
    let store = Store::open(db).expect("reopen after kill");
    assert_eq!(store.integrity_check().expect("check"), "ok");
    let rows = store.outbox_list(&[], 100_000).expect("outbox");
    let with_row: HashSet<String> = rows.iter().filter_map(|r| r.alert_id.clone()).collect();
    let mut dismissed = HashSet::new();
    for id in store.ids_like("tenant:", 100_000).expect("ids") {
        let a = store.get(&id).expect("get").expect("alert");
        // An analyst's dismissal (sitrep's own, following a vendor's dismissal, owes nothing).
        let by_analyst = a
            .history
            .iter()
            .rev()
            .find(|h| h.kind == "status")
            .is_some_and(|h| h.actor != sitrep::store::SYSTEM_ACTOR);
        if matches!(a.status, sitrep::domain::Status::Dismissed { .. }) && by_analyst {
            dismissed.insert(id);
        }
    }
    // Atomic: a decision's status change and its outbox row exist together or not at all.
    assert_eq!(dismissed, with_row, "status and outbox disagree");
    for r in &rows {
        assert!(
            matches!(r.state, OutboxState::Pending | OutboxState::Done),
            "unexpected state {:?}: {:?}",
            r.state,
            r.last_error
        );
    }
    (dismissed, rows.len())
}

#[test]
fn sigkill_during_decisions_and_delivery_loses_nothing() {
    let rig = Rig::new(160);
    rig.ok(&["sync"]);
    let ids = rig.open_ids(KILLS_PER_PHASE + 20);
    assert!(ids.len() >= KILLS_PER_PHASE, "{}", ids.len());
    let db = rig.sb.db();
    let mut rng = Lcg(0x5eed);

    // Phase 1: kill `sitrep mark` at random points. A mark that exited on its own committed;
    // a killed one may or may not have — but never half.
    let mut committed = HashSet::new();
    for (i, native) in ids.iter().take(KILLS_PER_PHASE).enumerate() {
        let id = format!("tenant:{native}");
        let child = rig
            .cmd(&[
                "mark",
                &id,
                "--status",
                "accepted-risk",
                "--note",
                &format!("kill test {i}"),
                "--no-deliver",
            ])
            .spawn()
            .expect("spawn");
        if kill_after(child, Duration::from_millis(rng.below(60))) {
            committed.insert(id);
        }
        let (decided, _) = check(&db);
        assert!(
            committed.is_subset(&decided),
            "a committed decision was lost"
        );
    }
    let (decided, rows) = check(&db);
    assert!(!decided.is_empty() && rows == decided.len());

    // Phase 2: kill `sitrep outbox deliver` at random points.
    let mut interrupted = 0;
    for _ in 0..KILLS_PER_PHASE {
        let child = rig.cmd(&["outbox", "deliver"]).spawn().expect("spawn");
        if !kill_after(child, Duration::from_millis(rng.below(120))) {
            interrupted += 1;
        }
        let (after, n) = check(&db);
        assert_eq!(after, decided, "decisions changed under kill");
        assert_eq!(n, rows, "outbox rows lost or added");
    }
    eprintln!(
        "{} decisions committed before a kill or on their own, {interrupted} of {KILLS_PER_PHASE} deliveries interrupted",
        decided.len()
    );

    // Let it finish: everything delivered, exactly the decided alerts dismissed at the vendor.
    rig.ok(&["outbox", "deliver"]);
    let store = Store::open(&db).expect("open");
    let rows = store.outbox_list(&[], 100_000).expect("rows");
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Done),
        "{rows:?}"
    );
    let at_vendor = rig.dismissed_at_vendor();
    for id in &decided {
        let native = id.trim_start_matches("tenant:");
        assert!(
            at_vendor.contains(native),
            "{id} not dismissed at the vendor"
        );
    }
}
