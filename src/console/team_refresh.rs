//! One refresher per source for the whole team (docs/team.md, "One refresher per source"):
//! at start the console takes the lead for each configured source it can; it refreshes those
//! and publishes what they bring to the team store, and pulls the rest from whoever leads
//! them. Every 30 s it tries again for the sources it does not lead, so when a leader goes
//! away (its lock dies with its connection) another console takes over.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::SourceConfig;
use crate::domain::EpochMs;
use crate::sources::sync::Refresher;
use crate::store::Store;
use crate::store::team::{Lease, TeamError, TeamStore};
use crate::team::Leading;

/// How long the console waits for the team store at start before refreshing on its own.
const START_WAIT: Duration = Duration::from_secs(5);
/// How often a follower asks again for the sources it does not lead.
const RETRY: Duration = Duration::from_secs(30);

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

/// After every page the refresher commits, send the replica's changed alerts to the team
/// store (a second at most between sends) and renew the leases' heartbeats.
pub fn spawn_publisher(
    team: TeamStore,
    db: PathBuf,
    mut changed: tokio::sync::watch::Receiver<u64>,
    leases: Vec<Lease>,
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
/// went away is refreshed (and published) from here on, its refresher put in `adopted`.
pub fn spawn_takeover(
    team: TeamStore,
    mut waiting: Vec<SourceConfig>,
    db: PathBuf,
    prepare: Prepare,
    adopted: Adopted,
    actor: String,
    clock: fn() -> EpochMs,
) {
    if waiting.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let holder = crate::team::holder_name(&actor);
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
                            store,
                            clock,
                        );
                        spawn_publisher(
                            team.clone(),
                            db.clone(),
                            r.changed.clone(),
                            vec![lease],
                            clock,
                        );
                        adopted
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(r);
                    }
                    _ => still.push(s),
                }
            }
            waiting = still;
        }
    });
}
