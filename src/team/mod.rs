//! Team mode (docs/team.md): a SOC on shift shares one PostgreSQL store, and every sitrep
//! keeps its SQLite store as a replica of it. This module moves changes between the two —
//! a publisher sends its synced alerts up, every replica pulls the team's changes down —
//! and is what the CLI and the console call; the SQL of both sides lives in `store`.

pub mod decide;
pub mod link;
pub mod outbox;

use std::path::PathBuf;

use crate::config::Config;
use crate::domain::{EpochMs, Vendor};
use crate::store::team::{Pulled, TeamError, TeamStore, TeamTarget};
use crate::store::{Store, StoreError};

pub use outbox::TeamOutbox;

/// The environment variable that names the team store (a whole URL; it may carry the
/// password, unlike the config file's `[store] url`).
pub const URL_VAR: &str = "SITREP_DATABASE_URL";

/// Alerts per publish statement and per pull page.
pub const BATCH: usize = 1_000;

/// Why team work failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Team(#[from] TeamError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
}

impl LinkError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, LinkError::Team(e) if e.is_unreachable())
    }
}

/// The environment variable the team store's password comes from when `[store] password`
/// names none.
pub const PASSWORD_VAR: &str = "SITREP_DATABASE_PASSWORD";

/// The team store's password: `[store] password`, else `SITREP_DATABASE_PASSWORD`, else none
/// (trust auth, a password in `SITREP_DATABASE_URL`, or `.pgpass`-free setups).
pub fn password(config: &Config) -> Result<Option<crate::config::Secret>, LinkError> {
    match &config.store.password {
        Some(c) => c
            .resolve(&|k| std::env::var(k).ok())
            .map(Some)
            .map_err(|e| LinkError::Config(format!("[store] password: {e}"))),
        None => Ok(std::env::var(PASSWORD_VAR)
            .ok()
            .filter(|p| !p.is_empty())
            .map(crate::config::Secret::new)),
    }
}

/// The team store this configuration names: `SITREP_DATABASE_URL`, else `[store] url`;
/// None when neither is set (the embedded SQLite store alone).
pub fn target(config: &Config) -> Result<Option<TeamTarget>, LinkError> {
    target_from(config, std::env::var(URL_VAR).ok())
}

/// [`target`] with the environment's URL given.
fn target_from(config: &Config, env_url: Option<String>) -> Result<Option<TeamTarget>, LinkError> {
    let (url, from_file) = match env_url.filter(|u| !u.trim().is_empty()) {
        Some(u) => (u, false),
        None => match &config.store.url {
            Some(u) => (u.clone(), true),
            None => return Ok(None),
        },
    };
    let password = password(config)?;
    let target = TeamTarget::parse(&url, password, config.store.ca_file.clone(), from_file)?;
    Ok(Some(target))
}

/// The replica's file for a team store: beside the personal cache, named after the team
/// store, so that an analyst's own cache and their team's never mix.
pub fn replica_path(data_dir: &std::path::Path, target: &TeamTarget) -> PathBuf {
    let name: String = target
        .label()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir.join("team").join(format!("{name}.db"))
}

/// Send every alert of `store` whose vendor side changed since the last publish to the team
/// store (the cursor is kept in the store's kv). Returns how many rows the team store wrote.
///
/// A team store migrated from before version 4 holds rows without the queue's columns: the first
/// publish after that scans this store from the start (once), so every alert it holds fills
/// them in (`publish_on` writes a row lacking them even when its content is unchanged).
pub async fn publish(store: &mut Store, team: &TeamStore) -> Result<u64, LinkError> {
    let key = cursor_key("published", team);
    let backfill = cursor_key("queue-columns", team);
    let (mut after_ms, mut after_id) = match store.get_value(&key)? {
        Some(v) => match v.split_once(' ') {
            Some((ms, id)) => (ms.parse().unwrap_or(0), id.to_string()),
            None => (0, String::new()),
        },
        None => (0, String::new()),
    };
    let filled = store.get_value(&backfill)?.is_some();
    if !filled && team.unmapped_count().await? > 0 {
        (after_ms, after_id) = (i64::MIN, String::new());
    }
    let mut written = 0;
    loop {
        let rows = store.publish_rows(after_ms, &after_id, BATCH)?;
        let Some(last) = rows.last() else {
            if !filled {
                store.set_value(&backfill, "done")?;
            }
            return Ok(written);
        };
        written += team.publish(&rows).await?;
        after_ms = last.changed_at;
        after_id = last.id.clone();
        store.set_value(&key, &format!("{after_ms} {after_id}"))?;
    }
}

/// Bring `store` up to date with the team store: vendor rows that changed (mapped here by
/// their vendor's kit) and every alert's analyst side, page by page. Returns the alerts
/// whose rows changed.
pub async fn pull(store: &mut Store, team: &TeamStore, now: EpochMs) -> Result<usize, LinkError> {
    let key = cursor_key("pulled", team);
    let mut seq: i64 = store
        .get_value(&key)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut changed = 0;
    loop {
        let mut page = team.pull(seq, BATCH).await?;
        if page.alerts.is_empty()
            && page.history.is_empty()
            && page.approvals.is_empty()
            && page.tickets.is_empty()
        {
            return Ok(changed);
        }
        // Computed before the await: a &Store cannot be held across one (not Sync).
        let missing = if seq > 0 {
            let ids: Vec<&str> = page.alerts.iter().map(|a| a.state.id.as_str()).collect();
            store.missing_ids(&ids)?
        } else {
            Vec::new()
        };
        catch_up(team, &mut page, &missing, seq).await?;
        changed += apply(store, &page, &key, now)?;
        seq = page.seq;
        if !page.more {
            return Ok(changed);
        }
    }
}

/// Alerts of `page` this replica does not hold yet (`missing`: a first pull of more than one page, or
/// one whose vendor object did not map before) come without their vendor object when it did
/// not change after the cursor `after`, and their lines up to the cursor were passed over:
/// fetch both, so the page brings the whole alert. Lines after the cursor are in the page.
async fn catch_up(
    team: &TeamStore,
    page: &mut Pulled,
    missing: &[String],
    after: i64,
) -> Result<(), LinkError> {
    if missing.is_empty() {
        return Ok(());
    }
    let mut got = team.catch_up(missing, after).await?;
    for a in &mut page.alerts {
        if a.raw.is_none()
            && let Some(raw) = got.raws.remove(&a.state.id)
        {
            a.raw = Some(raw);
        }
    }
    got.history.append(&mut page.history);
    page.history = got.history;
    got.approvals.append(&mut page.approvals);
    page.approvals = got.approvals;
    Ok(())
}

/// Write one pulled page into the replica in ONE transaction: the vendor rows, the analyst
/// side, the history lines, approvals and tickets, and the cursor `key` after the page (a
/// crash never leaves a page half applied, nor applied without its cursor moving).
fn apply(store: &mut Store, page: &Pulled, key: &str, now: EpochMs) -> Result<usize, LinkError> {
    let mut alerts = Vec::new();
    for p in &page.alerts {
        let Some(raw) = &p.raw else { continue };
        match map_one(&p.vendor, &p.source, raw) {
            Ok(a) => alerts.push(a),
            // One row that no longer maps (a newer publisher's vendor) must not stop the
            // team's other changes from arriving.
            Err(e) => tracing::warn!("team pull: {}: {e}", crate::sanitize::one_line(&p.state.id)),
        }
    }
    let states: Vec<_> = page.alerts.iter().map(|p| p.state.clone()).collect();
    let mut imp = store.begin_import(now)?;
    imp.write(&alerts)?;
    let n = imp.team_state(&states)?;
    let cursor = page.seq.to_string();
    imp.team_page(
        &page.history,
        &page.approvals,
        &page.tickets,
        (key, &cursor),
    )?;
    imp.commit()?;
    Ok(n.max(alerts.len()))
}

/// Map one vendor object as its kit does for a pushed item.
fn map_one(vendor: &str, source: &str, raw: &str) -> Result<crate::domain::Alert, String> {
    let v = Vendor::parse(vendor).ok_or_else(|| format!("unknown vendor '{vendor}'"))?;
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let mut alerts = (crate::vendors::kit(v).map)(&value).map_err(|e| e.to_string())?;
    if alerts.len() != 1 {
        return Err(format!("{} alerts in one item", alerts.len()));
    }
    let mut a = alerts.remove(0);
    a.source = source.to_string();
    Ok(a)
}

/// A replica's cursor key for one team store (a replica file belongs to one, but a cursor
/// named after it cannot be mistaken for another's).
fn cursor_key(what: &str, team: &TeamStore) -> String {
    format!("team.{what}.{}", team.label())
}

/// Who refreshes a source for the team.
#[derive(Debug)]
pub enum Leading {
    /// This process: fetch from the vendor, publish, and keep the lease while refreshing.
    Lead(crate::store::team::Lease),
    /// Another sitrep (its `refreshers` row, when it has written one yet): pull instead.
    Elsewhere(Option<crate::store::team::Refresher>),
}

/// The name a refresher shows to the team: the analyst and this process.
pub fn holder_name(actor: &str) -> String {
    format!(
        "{} (pid {})",
        crate::sanitize::one_line(actor),
        std::process::id()
    )
}

/// Take the lead for `source`, or say who has it.
///
/// For a long-running refresher (the console): call this per source at start; while it
/// returns `Lead`, keep the [`Lease`](crate::store::team::Lease) for as long as the process
/// refreshes that source, call `lease.heartbeat(now)` after each refresh, then [`publish`];
/// a heartbeat error means the lease's connection is gone and the lock with it: stop
/// refreshing that source and call `lead_source` again. On `Elsewhere`, do not call the
/// vendor: the leader's publishes arrive with [`pull`]; try again now and then (the lock
/// frees when the leader exits or dies, and the next caller gets it).
pub async fn lead_source(
    team: &TeamStore,
    source: &str,
    holder: &str,
    now: EpochMs,
) -> Result<Leading, LinkError> {
    if let Some(lease) = team.lead(source, holder, now).await? {
        return Ok(Leading::Lead(lease));
    }
    Ok(Leading::Elsewhere(team.refresher(source).await?))
}

/// What [`seed`] did.
#[derive(Debug)]
pub struct Seeded {
    pub team: TeamStore,
    pub migrated: crate::store::team::MigrateOutcome,
    /// Alerts the team store wrote.
    pub published: u64,
}

/// Put a local store's alerts into the team store at `target`: migrate it (a new database
/// gets the schema), then publish. `sitrep demo --team URL` calls this after its sync, then
/// starts the console on the team store.
pub async fn seed(store: &mut Store, target: &TeamTarget) -> Result<Seeded, LinkError> {
    let team = TeamStore::connect_unchecked(target).await?;
    let migrated = team.migrate().await?;
    let published = publish(store, &team).await?;
    Ok(Seeded {
        team,
        migrated,
        published,
    })
}
