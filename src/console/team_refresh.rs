//! One refresher per source for the whole team (docs/team.md, "One refresher per source"):
//! at start the console takes the lead for each configured source it can; it refreshes those
//! and publishes what they bring to the team store, and pulls the rest from whoever leads
//! them. Every 30 s it tries again for the sources it does not lead, so when a leader goes
//! away (its lock dies with its connection) another console takes over.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::SourceConfig;
use crate::domain::EpochMs;
use crate::sources::sync::Refresher;
use crate::store::Store;
use crate::store::team::{Lease, TeamStore, TeamTarget};
use crate::team::Leading;

/// How long the console waits for the team store at start before refreshing on its own.
const START_WAIT: Duration = Duration::from_secs(5);
/// How often a follower asks again for the sources it does not lead.
const RETRY: Duration = Duration::from_secs(30);

/// The sources this console refreshes, and what it tells the analyst about the others.
pub struct Split {
    pub led: Vec<SourceConfig>,
    pub leases: Vec<Lease>,
    /// (source, who leads it): pulled, not refreshed here.
    pub elsewhere: Vec<(SourceConfig, String)>,
    /// The team store could not be asked: every source is refreshed here (published when the
    /// team store is back).
    pub unreachable: Option<String>,
}

/// Ask for the lead of every source.
pub async fn split(
    target: &TeamTarget,
    sources: &[SourceConfig],
    actor: &str,
    now: EpochMs,
) -> Split {
    let mut out = Split {
        led: Vec::new(),
        leases: Vec::new(),
        elsewhere: Vec::new(),
        unreachable: None,
    };
    let team = match TeamStore::lazy(target) {
        Ok(t) => t,
        Err(e) => {
            out.led = sources.to_vec();
            out.unreachable = Some(e.to_string());
            return out;
        }
    };
    let holder = crate::team::holder_name(actor);
    for s in sources {
        let asked = tokio::time::timeout(
            START_WAIT,
            crate::team::lead_source(&team, &s.name, &holder, now),
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

/// After every page the refresher commits, send the replica's changed alerts to the team
/// store (a second at most between sends) and renew the leases' heartbeats.
pub fn spawn_publisher(
    target: TeamTarget,
    store: Arc<Mutex<Store>>,
    mut changed: tokio::sync::watch::Receiver<u64>,
    leases: Vec<Lease>,
    clock: fn() -> EpochMs,
) {
    tokio::spawn(async move {
        let Ok(team) = TeamStore::lazy(&target) else {
            return;
        };
        while changed.changed().await.is_ok() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // The publish reads the replica through its own connection: the refresher's
            // connection stays free for the next page.
            let db = match store.lock() {
                Ok(s) => s.path().to_path_buf(),
                Err(_) => return,
            };
            let Ok(mut reader) = Store::open(&db) else {
                continue;
            };
            if let Err(e) = crate::team::publish(&mut reader, &team).await {
                // Unreachable: the cursor stays, and the next change sends everything since.
                tracing::warn!("team publish: {e}");
                continue;
            }
            for lease in &leases {
                if let Err(e) = lease.heartbeat(clock()).await {
                    tracing::warn!("team lease: {e}");
                }
            }
        }
        drop(leases);
    });
}

/// Every [`RETRY`], ask again for the sources another sitrep leads; a source whose leader
/// went away is refreshed (and published) from here on.
pub fn spawn_takeover(
    target: TeamTarget,
    mut waiting: Vec<SourceConfig>,
    db: std::path::PathBuf,
    prepare: impl Fn(Store) -> Store + Send + 'static,
    actor: String,
    clock: fn() -> EpochMs,
) {
    if waiting.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let Ok(team) = TeamStore::lazy(&target) else {
            return;
        };
        let holder = crate::team::holder_name(&actor);
        // Refreshers started here live as long as the console.
        let mut started: Vec<Refresher> = Vec::new();
        while !waiting.is_empty() {
            tokio::time::sleep(RETRY).await;
            let mut still = Vec::new();
            for s in waiting {
                match crate::team::lead_source(&team, &s.name, &holder, clock()).await {
                    Ok(Leading::Lead(lease)) => {
                        tracing::info!("team: now refreshing source {}", s.name);
                        let Ok(store) = Store::open(&db) else {
                            still.push(s);
                            continue;
                        };
                        let store = Arc::new(Mutex::new(prepare(store)));
                        let r = Refresher::spawn(
                            crate::vendors::connect,
                            vec![s.clone()],
                            store.clone(),
                            clock,
                        );
                        spawn_publisher(
                            target.clone(),
                            store,
                            r.changed.clone(),
                            vec![lease],
                            clock,
                        );
                        started.push(r);
                    }
                    _ => still.push(s),
                }
            }
            waiting = still;
        }
        // Keep the refreshers (and so their tasks) for the console's life.
        std::future::pending::<()>().await;
        drop(started);
    });
}
