//! The console's link to its team store: connect, LISTEN, and pull every committed change
//! into the replica (whose watcher then reloads the screen with "changed" markers). When
//! the team store goes away the replica keeps serving, and the link reconnects with
//! backoff; on every (re)connect it pulls what it missed.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::EpochMs;
use crate::store::Store;
use crate::store::team::{TeamStore, TeamTarget};

/// What the link reports to whoever shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Connected and listening; `pulled` alerts changed in the last pull.
    Live { label: String },
    /// The team store cannot be reached; the replica is shown as it is.
    Unreachable { label: String, error: String },
}

/// Backoff between reconnect attempts: 1 s doubling to 30 s.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Run until `report` returns false (the console went away). `db` is the replica file; the
/// link writes it through a connection of its own.
pub async fn run(
    target: TeamTarget,
    db: PathBuf,
    clock: fn() -> EpochMs,
    report: impl Fn(LinkState) -> bool + Send,
) {
    let label = target.label();
    let mut wait = FIRST_RETRY;
    loop {
        let error = match session(&target, &db, clock, &label, &report).await {
            Ok(()) => return,
            Err(e) => e,
        };
        if !report(LinkState::Unreachable {
            label: label.clone(),
            error,
        }) {
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// One connection's life: Ok when the console went away, Err(why) when the store did.
async fn session(
    target: &TeamTarget,
    db: &std::path::Path,
    clock: fn() -> EpochMs,
    label: &str,
    report: &(impl Fn(LinkState) -> bool + Send),
) -> Result<(), String> {
    let team = TeamStore::connect(target)
        .await
        .map_err(|e| e.to_string())?;
    // Listen before the catch-up pull, so nothing committed between the two is missed.
    let mut listener = team.listen().await.map_err(|e| e.to_string())?;
    let mut store = Store::open(db).map_err(|e| e.to_string())?;
    super::pull(&mut store, &team, clock())
        .await
        .map_err(|e| e.to_string())?;
    if !report(LinkState::Live {
        label: label.to_string(),
    }) {
        return Ok(());
    }
    loop {
        if !listener.changed().await {
            return Err("the connection to the team store closed".into());
        }
        super::pull(&mut store, &team, clock())
            .await
            .map_err(|e| e.to_string())?;
    }
}
