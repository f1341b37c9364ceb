//! Team mode for the headless commands: the team store this config names, and this
//! analyst's replica of it (docs/team.md).

use super::env::{CliError, runtime};
use crate::config::Config;
use crate::domain::EpochMs;
use crate::paths::Paths;
use crate::store::Store;
use crate::store::team::{TeamStore, TeamTarget};

/// A connected team store, this analyst's replica (pulled up to date) and the runtime the
/// team store's connections live on.
pub(super) struct TeamCtx {
    pub rt: tokio::runtime::Runtime,
    pub team: TeamStore,
    pub store: Store,
}

/// The team store the config names (None: SQLite alone). A bad URL or password reference is
/// an input error naming the key.
pub(super) fn target(config: &Config) -> Result<Option<TeamTarget>, CliError> {
    crate::team::target(config).map_err(|e| CliError::input(e.to_string()))
}

/// In team mode the store every command opens is the replica of the team store, unless
/// `--db` named a file. Returns the target when team mode is on.
pub(super) fn use_replica(
    paths: &mut Paths,
    config: &Config,
    explicit_db: bool,
) -> Result<Option<TeamTarget>, CliError> {
    let Some(target) = target(config)? else {
        return Ok(None);
    };
    if !explicit_db {
        paths.db = crate::team::replica_path(&paths.data_dir, &target);
    }
    Ok(Some(target))
}

/// Connect to the team store (its schema must be this build's), bring the replica at
/// `paths.db` up to date and send the decisions journaled while it was away (or before a
/// crash). Fails with one line when the store cannot be reached.
pub(super) fn connect(
    paths: &Paths,
    config: &Config,
    target: &TeamTarget,
    now: EpochMs,
) -> Result<TeamCtx, CliError> {
    match link(paths, config, target, now)? {
        Link::Online(ctx) => Ok(*ctx),
        Link::Offline { reason, .. } => Err(CliError::runtime(reason)),
    }
}

/// The team store, or this analyst's replica alone when the store cannot be reached (the
/// decision commands then journal for later).
pub(super) enum Link {
    Online(Box<TeamCtx>),
    Offline {
        rt: tokio::runtime::Runtime,
        /// Why, one line (no password).
        reason: String,
    },
}

/// [`connect`], telling an unreachable store apart from other failures.
pub(super) fn link(
    paths: &Paths,
    config: &Config,
    target: &TeamTarget,
    now: EpochMs,
) -> Result<Link, CliError> {
    let rt = runtime()?;
    let team = match rt.block_on(TeamStore::connect(target)) {
        Ok(t) => t,
        Err(e) if e.is_unreachable() => {
            return Ok(Link::Offline {
                rt,
                reason: e.to_string(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(dir) = paths.db.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::runtime(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut store = Store::open(&paths.db).map_err(|e| CliError::runtime(e.to_string()))?;
    // Journaled decisions are sent with their audit entries: the key must be at hand when
    // some wait, or a conflict may be sent again (`team resolve --keep-mine`); a read-only
    // command with nothing to send needs none. Only an existing key: connecting must not
    // create one (a decision command does).
    let count = |state| {
        store
            .journal_count(state)
            .map_err(|e| CliError::runtime(e.to_string()))
    };
    let waiting =
        count(crate::store::JournalState::Pending)? + count(crate::store::JournalState::Conflict)?;
    if waiting > 0
        && let Some(key) = crate::audit::AuditKey::load_existing(&config.audit, &paths.data_dir)
            .map_err(|e| CliError::input(e.to_string()))?
    {
        store.set_audit_key(key);
    }
    // The team's SIEM destinations include this analyst's.
    let siem = crate::dispatch::siem::names(&config.siem);
    if let Err(e) = rt.block_on(team.add_siem_destinations(&siem, &config.actor(), now)) {
        tracing::warn!("team SIEM destinations: {e}");
    }
    let link_err = |e: crate::team::LinkError| CliError::runtime(e.to_string());
    rt.block_on(crate::team::pull(&mut store, &team, now))
        .map_err(link_err)?;
    rt.block_on(crate::team::decide::replay(&mut store, &team, now))
        .map_err(link_err)?;
    Ok(Link::Online(Box::new(TeamCtx { rt, team, store })))
}

/// `sitrep team conflicts` / `sitrep team resolve N --keep-mine|--discard`.
pub(super) fn team_cmd(
    c: super::TeamCommand,
    paths: &Paths,
    config: &Config,
    target: Option<&TeamTarget>,
    env: &mut super::env::Env<'_>,
) -> Result<(), CliError> {
    let Some(target) = target else {
        return Err(CliError::input(
            "this needs a team store: set [store] url or SITREP_DATABASE_URL (docs/team.md)",
        ));
    };
    let sanitize = crate::sanitize::one_line;
    match c {
        super::TeamCommand::Conflicts => {
            // The replica alone: conflicts are listed even while the team store is away.
            if !paths.db.exists() {
                writeln!(env.out, "no conflicts").map_err(super::env::io_err)?;
                return Ok(());
            }
            let store = Store::open(&paths.db).map_err(|e| CliError::runtime(e.to_string()))?;
            let rows = store
                .journal_rows(crate::store::JournalState::Conflict)
                .map_err(|e| CliError::runtime(e.to_string()))?;
            let pending = store
                .journal_count(crate::store::JournalState::Pending)
                .map_err(|e| CliError::runtime(e.to_string()))?;
            if rows.is_empty() {
                writeln!(env.out, "no conflicts").map_err(super::env::io_err)?;
            }
            for r in &rows {
                writeln!(
                    env.out,
                    "#{:<5} {} {:<16} {}: {}",
                    r.id,
                    crate::present::iso(r.at),
                    sanitize(&r.action),
                    sanitize(&r.alert_id),
                    sanitize(r.detail.as_deref().unwrap_or("changed by someone else"))
                )
                .map_err(super::env::io_err)?;
            }
            if pending > 0 {
                writeln!(
                    env.out,
                    "{pending} decision{} waiting to be sent to the team store",
                    if pending == 1 { "" } else { "s" }
                )
                .map_err(super::env::io_err)?;
            }
            Ok(())
        }
        super::TeamCommand::Resolve {
            id,
            keep_mine,
            discard: _,
        } => {
            let mut ctx = connect(paths, config, target, env.now_ms)?;
            let sent = ctx
                .rt
                .block_on(crate::team::decide::resolve(
                    &mut ctx.store,
                    &ctx.team,
                    id,
                    keep_mine,
                    env.now_ms,
                ))
                .map_err(|e| CliError::input(e.to_string()))?;
            use crate::team::decide::Sent;
            let written = match (keep_mine, sent) {
                (false, _) => writeln!(env.out, "#{id} discarded; the team's state stays"),
                (true, Sent::Applied { .. }) => {
                    writeln!(env.out, "#{id} sent again on the current version: applied")
                }
                (true, Sent::Pending) => {
                    writeln!(env.out, "#{id} {}", crate::team::decide::OFFLINE_NOTE)
                }
                (true, Sent::Conflict { detail, .. }) => {
                    return Err(CliError::runtime(format!(
                        "#{id} conflicts again: {}",
                        sanitize(&detail)
                    )));
                }
            };
            written.map_err(super::env::io_err)
        }
    }
}
