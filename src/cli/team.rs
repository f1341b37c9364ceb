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
#[allow(dead_code)] // used by the claims, decisions and store commands (issue 20)
pub(super) struct TeamCtx {
    pub rt: tokio::runtime::Runtime,
    pub team: TeamStore,
    pub store: Store,
    pub target: TeamTarget,
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

/// Connect to the team store (its schema must be this build's) and bring the replica at
/// `paths.db` up to date. Fails with one line when the store cannot be reached.
#[allow(dead_code)]
pub(super) fn connect(
    paths: &Paths,
    target: &TeamTarget,
    now: EpochMs,
) -> Result<TeamCtx, CliError> {
    let rt = runtime()?;
    let team = rt
        .block_on(TeamStore::connect(target))
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let mut store = Store::open(&paths.db).map_err(|e| CliError::runtime(e.to_string()))?;
    rt.block_on(crate::team::pull(&mut store, &team, now))
        .map_err(|e| CliError::runtime(e.to_string()))?;
    Ok(TeamCtx {
        rt,
        team,
        store,
        target: target.clone(),
    })
}
