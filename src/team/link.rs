//! The console's link to its team store: connect, LISTEN, and pull every committed change
//! into the replica (whose watcher then reloads the screen with "changed" markers). When
//! the team store goes away the replica keeps serving, and the link reconnects with
//! backoff; on every (re)connect it pulls what it missed.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::EpochMs;
use crate::store::Store;
use crate::store::team::TeamStore;

/// What the link reports to whoever shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Connected and listening.
    Live { label: String },
    /// The team store cannot be reached; the replica is shown as it is.
    Unreachable { label: String, error: String },
}

/// Backoff between reconnect attempts: 1 s doubling to 30 s.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// What a link works with.
pub struct Link {
    /// The console's pool (connects when first used; LISTEN gets a connection of its own).
    pub team: TeamStore,
    /// The replica file; the link writes it through a connection of its own.
    pub db: PathBuf,
    pub clock: fn() -> EpochMs,
    /// Sets that connection up like the console's others (scoring, owners, and the audit key
    /// journaled decisions are sent with).
    pub prepare: Box<dyn Fn(Store) -> Store + Send + Sync>,
    /// Woken on every change the link hears of (the outbox task: a teammate may have queued
    /// deliveries).
    pub changed: Option<std::sync::Arc<tokio::sync::Notify>>,
}

/// Run until `report` returns false (the console went away).
pub async fn run(link: Link, report: impl Fn(LinkState) -> bool + Send) {
    let label = link.team.label();
    let mut wait = FIRST_RETRY;
    loop {
        let error = match session(&link, &label, &report).await {
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
    link: &Link,
    label: &str,
    report: &(impl Fn(LinkState) -> bool + Send),
) -> Result<(), String> {
    let clock = link.clock;
    let team = &link.team;
    team.check_schema().await.map_err(|e| e.to_string())?;
    // Listen before the catch-up pull, so nothing committed between the two is missed.
    let mut listener = team.listen().await.map_err(|e| e.to_string())?;
    let mut store = (link.prepare)(Store::open(&link.db).map_err(|e| e.to_string())?);
    super::pull(&mut store, team, clock())
        .await
        .map_err(|e| e.to_string())?;
    // Decisions made while the store was away go out now, in the order they were made.
    let sent = super::decide::replay(&mut store, team, clock())
        .await
        .map_err(|e| e.to_string())?;
    if !sent.rows.is_empty() {
        tracing::info!("team: sent {} journaled decisions", sent.rows.len());
    }
    if !report(LinkState::Live {
        label: label.to_string(),
    }) {
        return Ok(());
    }
    loop {
        if let Some(w) = &link.changed {
            w.notify_one();
        }
        if !listener.changed().await {
            return Err("the connection to the team store closed".into());
        }
        super::pull(&mut store, team, clock())
            .await
            .map_err(|e| e.to_string())?;
    }
}
