//! One refresher per source for the whole team (docs/team.md, "One refresher per source"):
//! at start the console takes the lead for each configured source it can; it refreshes those
//! and publishes what they bring to the team store, and pulls the rest from whoever leads
//! them. Every 30 s it tries again for the sources it does not lead, so when a leader goes
//! away (its lock dies with its connection) another console takes over.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::config::SourceConfig;
use crate::domain::EpochMs;
use crate::sources::sync::{Permit, Refresher};
use crate::store::Store;
use crate::store::team::{Lease, TeamError, TeamStore};
use crate::team::Leading;

/// How long the console waits for the team store at start before refreshing on its own.
const START_WAIT: Duration = Duration::from_secs(5);
/// How often a follower asks again for the sources it does not lead.
const RETRY: Duration = Duration::from_secs(30);
/// How long a lease's heartbeat may take before the lease counts as lost (a half-open
/// connection answers nothing, ever).
const HEARTBEAT_WAIT: Duration = Duration::from_secs(5);

/// Sets a replica connection up as every connection of this console is (scoring, owners,
/// the audit key), so an alert is scored the same whichever connection imported it.
pub type Prepare = Arc<dyn Fn(Store) -> Store + Send + Sync>;

/// Refreshers started after the console's start (a source taken over), handed back to the
/// event loop: `s` reaches them and they are stopped with the console.
pub type Adopted = Arc<Mutex<Vec<Refresher>>>;

/// The sources this console refreshes, and what it tells the analyst about the others.
pub struct Split {
    pub led: Vec<SourceConfig>,
    pub leases: Vec<Lease>,
    /// (source, who leads it): pulled, not refreshed here.
    pub elsewhere: Vec<(SourceConfig, String)>,
    /// The team store could not be asked: these sources are refreshed here (published when the
    /// team store is back).
    pub unreachable: Option<String>,
}

/// Ask for the lead of every source. Once the team store fails to answer, the remaining
/// sources are refreshed here without asking (one wait at start, not one per source); a role
/// that may not write refreshes nothing (it could not publish) and pulls everything.
pub async fn split(team: &TeamStore, sources: &[SourceConfig], actor: &str, now: EpochMs) -> Split {
    let mut out = Split {
        led: Vec::new(),
        leases: Vec::new(),
        elsewhere: Vec::new(),
        unreachable: None,
    };
    let holder = crate::team::holder_name(actor);
    for s in sources {
        if out.unreachable.is_some() {
            out.led.push(s.clone());
            continue;
        }
        let asked = tokio::time::timeout(
            START_WAIT,
            crate::team::lead_source(team, &s.name, &holder, now),
        )
        .await;
        match asked {
            Ok(Ok(Leading::Lead(lease))) => {
                out.led.push(s.clone());
                out.leases.push(lease);
            }
            Ok(Ok(Leading::Elsewhere(r))) => {
                let who = r.map_or_else(|| "another sitrep".to_string(), |r| r.holder);
                out.elsewhere
                    .push((s.clone(), crate::sanitize::one_line(&who)));
            }
            Ok(Err(crate::team::LinkError::Team(TeamError::ReadOnly(_)))) => {
                out.elsewhere
                    .push((s.clone(), "the team (this role may not write)".into()));
            }
            Ok(Err(e)) => {
                out.led.push(s.clone());
                out.unreachable = Some(e.to_string());
            }
            Err(_) => {
                out.led.push(s.clone());
                out.unreachable = Some("no answer within 5 s".into());
            }
        }
    }
    out
}

/// The leases this console holds, by source, shared by its refreshers (asked before every
/// run: [`Leases::permit`]), its publishers (heartbeats) and the takeover loop (which adds
/// the leases it wins). A lease whose connection is gone took its lock with it: it is dropped
/// at once, the source stops being refreshed here, and the takeover loop asks for it again —
/// so a console cut off for a moment never refreshes a source beside the one that took over.
#[derive(Clone)]
pub struct Leases {
    inner: Arc<tokio::sync::Mutex<Held>>,
    lost: UnboundedSender<SourceConfig>,
}

struct Held {
    leases: HashMap<String, Lease>,
    /// Every source a refresher of this console runs, led right now or not.
    here: HashMap<String, SourceConfig>,
    /// Sources refreshed here without a lease: the team store could not be asked at start.
    /// Each keeps being refreshed until the team store answers: with the lease (then it is
    /// led) or with someone else's name (then it stops here).
    unleased: std::collections::HashSet<String>,
}

impl Leases {
    /// The leases won at start for `led` (a led source without one was not asked: the team
    /// store was unreachable); a lost one's source goes to `lost` (the takeover loop).
    pub fn new(
        leases: Vec<Lease>,
        led: &[SourceConfig],
        lost: UnboundedSender<SourceConfig>,
    ) -> Leases {
        let leases: HashMap<String, Lease> = leases
            .into_iter()
            .map(|l| (l.source().to_string(), l))
            .collect();
        let held = Held {
            unleased: led
                .iter()
                .filter(|s| !leases.contains_key(&s.name))
                .map(|s| s.name.clone())
                .collect(),
            leases,
            here: led.iter().map(|s| (s.name.clone(), s.clone())).collect(),
        };
        Leases {
            inner: Arc::new(tokio::sync::Mutex::new(held)),
            lost,
        }
    }

    /// Whether `source` may be refreshed now: its lease answers a heartbeat within
    /// [`HEARTBEAT_WAIT`]. A lease that does not is dropped and its source handed to the
    /// takeover loop.
    pub async fn check(&self, source: &str, now: EpochMs) -> Result<(), String> {
        let mut held = self.inner.lock().await;
        if held.unleased.contains(source) {
            return Ok(());
        }
        let Some(lease) = held.leases.get(source) else {
            return Err("refreshed for the team elsewhere".into());
        };
        let why = match tokio::time::timeout(HEARTBEAT_WAIT, lease.heartbeat(now)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", HEARTBEAT_WAIT.as_secs()),
        };
        tracing::warn!("team lease for {source} lost ({why}); asking for it again");
        held.leases.remove(source);
        if let Some(cfg) = held.here.get(source) {
            let _ = self.lost.send(cfg.clone());
        }
        Err("lead lost; asking the team again".into())
    }

    /// Heartbeat every lease held (after a publish), dropping the ones that are gone.
    pub async fn heartbeat_all(&self, now: EpochMs) {
        let sources: Vec<String> = self.inner.lock().await.leases.keys().cloned().collect();
        for s in sources {
            let _ = self.check(&s, now).await;
        }
    }

    /// A lease won by the takeover loop. True when a refresher here already runs its source
    /// (it resumes at its next run); false when one must be started for it.
    async fn won(&self, source: &SourceConfig, lease: Lease) -> bool {
        let mut held = self.inner.lock().await;
        held.unleased.remove(&source.name);
        held.leases.insert(source.name.clone(), lease);
        held.here
            .insert(source.name.clone(), source.clone())
            .is_some()
    }

    /// Someone else leads `source`: stop refreshing it here without a lease.
    pub async fn led_elsewhere(&self, source: &str) {
        self.inner.lock().await.unleased.remove(source);
    }

    /// The sources refreshed here without a lease (the takeover loop asks for them).
    pub async fn unleased(&self) -> Vec<SourceConfig> {
        let held = self.inner.lock().await;
        held.unleased
            .iter()
            .filter_map(|s| held.here.get(s).cloned())
            .collect()
    }

    /// The [`Permit`] a refresher asks before each run.
    pub fn permit(&self, clock: fn() -> EpochMs) -> Permit {
        let leases = self.clone();
        Arc::new(move |source: String| {
            let leases = leases.clone();
            Box::pin(async move { leases.check(&source, clock()).await })
        })
    }

    /// How many leases are held (tests, and the log).
    pub async fn count(&self) -> usize {
        self.inner.lock().await.leases.len()
    }
}

/// After every page the refresher commits, send the replica's changed alerts to the team
/// store (a second at most between sends) and renew the leases' heartbeats.
pub fn spawn_publisher(
    team: TeamStore,
    db: PathBuf,
    mut changed: tokio::sync::watch::Receiver<u64>,
    leases: Leases,
    clock: fn() -> EpochMs,
) {
    tokio::spawn(async move {
        // The publish reads the replica through a connection of its own, opened once: the
        // refresher's connection stays free for the next page.
        let mut reader = match Store::open(&db) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("team publish: {e}");
                return;
            }
        };
        while changed.changed().await.is_ok() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Err(e) = crate::team::publish(&mut reader, &team).await {
                // Unreachable: the cursor stays, and the next change sends everything since.
                tracing::warn!("team publish: {e}");
                continue;
            }
            leases.heartbeat_all(clock()).await;
        }
    });
}

/// What the takeover loop needs besides the sources it waits for.
pub struct Takeover {
    pub team: TeamStore,
    pub leases: Leases,
    /// Sources whose lease this console lost ([`Leases::check`] sends them).
    pub lost: UnboundedReceiver<SourceConfig>,
    pub db: PathBuf,
    pub prepare: Prepare,
    pub adopted: Adopted,
    pub actor: String,
    pub clock: fn() -> EpochMs,
}

/// Every [`RETRY`], ask again for the sources another sitrep leads (`waiting`) and for those
/// whose lease this console lost. A source a refresher here already runs resumes with the
/// lease won; any other is refreshed (and published) by a new refresher put in `adopted`.
pub fn spawn_takeover(mut t: Takeover, waiting: Vec<SourceConfig>) {
    tokio::spawn(async move {
        let holder = crate::team::holder_name(&t.actor);
        let mut waiting = waiting;
        waiting.extend(t.leases.unleased().await);
        loop {
            if waiting.is_empty() {
                // Nothing to ask for until a lease is lost (or the console goes).
                match t.lost.recv().await {
                    Some(s) => waiting.push(s),
                    None => return,
                }
            }
            tokio::time::sleep(RETRY).await;
            while let Ok(s) = t.lost.try_recv() {
                if !waiting.iter().any(|w| w.name == s.name) {
                    waiting.push(s);
                }
            }
            let mut still = Vec::new();
            for s in waiting {
                let asked = crate::team::lead_source(&t.team, &s.name, &holder, (t.clock)()).await;
                let lease = match asked {
                    Ok(Leading::Lead(lease)) => lease,
                    Ok(Leading::Elsewhere(_)) => {
                        t.leases.led_elsewhere(&s.name).await;
                        still.push(s);
                        continue;
                    }
                    // Still unreachable (or this role may not write): ask again later.
                    Err(_) => {
                        still.push(s);
                        continue;
                    }
                };
                if t.leases.won(&s, lease).await {
                    tracing::info!("team: refreshing source {} again", s.name);
                    continue;
                }
                tracing::info!("team: now refreshing source {}", s.name);
                let store = match Store::open(&t.db) {
                    Ok(store) => Arc::new(Mutex::new((t.prepare)(store))),
                    Err(e) => {
                        tracing::warn!("team: cannot open the replica for {}: {e}", s.name);
                        continue;
                    }
                };
                let r = Refresher::spawn_with(
                    crate::vendors::connect,
                    vec![s.clone()],
                    store,
                    t.clock,
                    Some(t.leases.permit(t.clock)),
                );
                spawn_publisher(
                    t.team.clone(),
                    t.db.clone(),
                    r.changed.clone(),
                    t.leases.clone(),
                    t.clock,
                );
                t.adopted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(r);
            }
            waiting = still;
        }
    });
}
