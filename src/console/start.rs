//! Starting the console over a database: the theme, the audit key, the first state, the store
//! worker, the background refresh, then the event loop on the real terminal.
//!
//! `sitrep` and `sitrep demo` both come through [`run`]; the CLI keeps only its arguments and,
//! for the demo, the simulators (so this module never needs `sim`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::model::{Init, State};
use super::runtime::{self, Services, worker::LAST_LOOKED, worker::Worker};
use crate::config::Config;
use crate::config::theme::Theme;
use crate::domain::EpochMs;
use crate::sources::sync::Refresher;
use crate::store::{Store, StoreError};

/// Why the console did not start (or stopped on an error), split the way the CLI's exit codes
/// are: the analyst's input or config, or a failure at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    Input(String),
    Runtime(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Input(m) | StartError::Runtime(m) => f.write_str(m),
        }
    }
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> StartError {
        StartError::Runtime(e.to_string())
    }
}

/// How long the console's runtime may take to wind down after the terminal is restored: whatever
/// a task still holds (a vendor request mid-flight), the process does not wait on it for long.
pub const RUNTIME_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub fn wall_clock() -> EpochMs {
    chrono::Utc::now().timestamp_millis()
}

/// The console draws on a terminal; anything else gets pointed at the headless commands.
pub fn require_terminal() -> Result<(), StartError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(StartError::Input(
            "the console needs a terminal, and stdin/stdout are not one; for scripts use the \
             headless commands: sitrep list, show, export, sync (see sitrep --help)"
                .into(),
        ));
    }
    Ok(())
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The configured theme (user themes from `theme_dir`), or none at all under `NO_COLOR`.
pub fn load_theme(config: &Config, theme_dir: &Path) -> Result<Theme, StartError> {
    if no_color() {
        return Ok(Theme::no_color());
    }
    Theme::load(&config.theme, theme_dir).map_err(|e| StartError::Input(format!("[ui] theme: {e}")))
}

/// What one console run works on.
pub struct Launch<'a> {
    pub config: &'a Config,
    pub theme: Theme,
    /// Where user theme files live (`<config dir>/themes`), for `:theme NAME`.
    pub theme_dir: PathBuf,
    pub db: PathBuf,
    /// Names the database in the status bar.
    pub label: String,
    /// The directory holding the audit key file.
    pub audit_dir: PathBuf,
    /// When the analyst last looked, if the store has never been told (the demo: its start).
    pub default_last_looked: Option<EpochMs>,
    /// The connection the background refresh writes through (the demo reuses the one its
    /// first sync used); None: a connection of its own, when sources are configured.
    pub refresh_store: Option<Arc<Mutex<Store>>>,
    /// Team mode: `db` is this analyst's replica of that team store.
    pub team: Option<crate::store::team::TeamTarget>,
    /// Browse and narrate only (`--readonly`).
    pub readonly: bool,
}

struct Prepared {
    state: State,
    worker: Worker,
    narrator: crate::narrate::Narrator,
    /// Shared by the worker (after a decision) and the outbox task.
    wake: std::sync::Arc<tokio::sync::Notify>,
    audit_key: crate::audit::AuditKey,
}

fn prepare(l: &Launch<'_>, audit_key: crate::audit::AuditKey) -> Result<Prepared, StartError> {
    let config = l.config;
    let narrator = crate::narrate::Narrator::from_config(config)
        .map_err(|e| StartError::Input(e.to_string()))?;
    let mut store = Store::open(&l.db)?;
    store.set_siem_destinations(&crate::dispatch::siem::names(&config.siem))?;
    store.set_audit_key(audit_key.clone());
    let now = wall_clock();
    store.set_scoring(config.scoring.clone());
    store.ensure_scored(now)?;
    store.set_owners(config.owners.rules.clone());
    store.ensure_owners()?;
    let last_looked = store
        .get_value(LAST_LOOKED)?
        .and_then(|v| v.parse::<EpochMs>().ok())
        .or(l.default_last_looked);
    // The next run marks what arrives after this one started, if it ends abnormally.
    if last_looked.is_none() {
        store.set_value(LAST_LOOKED, &now.to_string())?;
    }
    let state = State::new(Init {
        keymap: config.keymap.clone(),
        theme: l.theme.clone(),
        actor: config.actor(),
        now_ms: now,
        size: (80, 24),
        filter_text: config.filter.clone(),
        sort: config.sort,
        sources: config.sources.iter().map(|s| s.name.clone()).collect(),
        last_looked,
        label: l.label.clone(),
        narrator_label: narrator.label(),
        narrator_offline: narrator.is_offline(),
        team_mode: l.team.is_some(),
        readonly: l.readonly,
    });
    let looked_since = state.last_looked;
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    Ok(Prepared {
        state,
        worker: {
            let mut w = Worker::new(store, config.actor(), wall_clock);
            w.iac = config.iac.clone();
            w.narrator = narrator.clone();
            w.config = config.clone();
            w.outbox_wake = Some(wake.clone());
            w.last_looked = Some(looked_since);
            w
        },
        wake,
        audit_key,
        narrator,
    })
}

/// Run the console over `l.db` on a runtime the caller owns (and shuts down, within
/// [`RUNTIME_GRACE`]), until the analyst quits.
pub fn run(rt: &tokio::runtime::Runtime, l: Launch<'_>) -> Result<(), StartError> {
    let config = l.config;
    if let Some(dir) = l.db.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| StartError::Runtime(format!("cannot create {}: {e}", dir.display())))?;
    }
    let key = crate::audit::AuditKey::load(&config.audit, &l.audit_dir)
        .map_err(|e| StartError::Input(e.to_string()))?;
    let mut p = prepare(&l, key)?;
    // Every connection to the replica is set up alike (scoring, owners, the audit key).
    let prep: super::team_refresh::Prepare = {
        let (scoring, owners, key) = (
            config.scoring.clone(),
            config.owners.rules.clone(),
            p.audit_key.clone(),
        );
        Arc::new(move |mut s: Store| {
            s.set_scoring(scoring.clone());
            s.set_owners(owners.clone());
            s.set_audit_key(key.clone());
            s
        })
    };
    // Team mode: one pool for the whole console (worker, refresh, publish, outbox, link).
    let team = match &l.team {
        Some(t) => Some(
            crate::store::team::TeamStore::lazy(t).map_err(|e| StartError::Input(e.to_string()))?,
        ),
        None => None,
    };
    if let Some(team) = &team {
        p.worker.team = Some((team.clone(), rt.handle().clone()));
    }
    // Team mode: this console refreshes the sources it leads and pulls the others; a
    // read-only console refreshes nothing (it could not publish).
    let mut sources = config.sources.clone();
    let mut team_split = None;
    if let Some(team) = &team
        && !sources.is_empty()
    {
        let split = if l.readonly {
            super::team_refresh::Split {
                led: Vec::new(),
                leases: Vec::new(),
                elsewhere: sources
                    .iter()
                    .map(|s| (s.clone(), "the team (read-only console)".to_string()))
                    .collect(),
                unreachable: None,
            }
        } else {
            rt.block_on(super::team_refresh::split(
                team,
                &sources,
                &config.actor(),
                wall_clock(),
            ))
        };
        sources = split.led.clone();
        // The status bar shows the sources refreshed here (their refresher reports by index).
        p.state
            .sources
            .retain(|(name, _)| sources.iter().any(|s| &s.name == name));
        if !split.elsewhere.is_empty() {
            let names: Vec<String> = split
                .elsewhere
                .iter()
                .map(|(s, who)| format!("{} by {who}", s.name))
                .collect();
            p.state.flash = Some(super::model::Flash {
                text: format!(
                    "refreshed for the team elsewhere, pulled here: {}",
                    crate::sanitize::one_line(&names.join(", "))
                ),
                error: false,
            });
        }
        if let Some(why) = &split.unreachable {
            tracing::warn!("team store: {why}; refreshing the remaining sources here");
        }
        team_split = Some(split);
    }
    // The leases won at start, shared by the refreshers, publishers and the takeover loop.
    let leases = team_split.as_mut().map(|split| {
        let (lost_tx, lost_rx) = tokio::sync::mpsc::unbounded_channel();
        let leases = super::team_refresh::Leases::new(
            std::mem::take(&mut split.leases),
            &split.led,
            lost_tx,
        );
        (leases, lost_rx)
    });
    let refresher = if sources.is_empty() {
        None
    } else {
        // The refresher's store holds the audit key too, so the statuses its syncs set when a
        // vendor closes or reopens alerts are audited right after each import commits.
        let store = match l.refresh_store {
            Some(s) => {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .set_audit_key(p.audit_key.clone());
                s
            }
            None => Arc::new(Mutex::new(prep(Store::open(&l.db)?))),
        };
        let _guard = rt.enter();
        // Team mode: a source is refreshed only while this console holds its lease.
        let permit = leases.as_ref().map(|(l, _)| l.permit(wall_clock));
        let r = Refresher::spawn_with(
            crate::vendors::connect,
            sources.clone(),
            store,
            wall_clock,
            permit,
        );
        if let (Some(team), Some((leases, _))) = (&team, &leases) {
            super::team_refresh::spawn_publisher(
                team.clone(),
                l.db.clone(),
                r.changed.clone(),
                leases.clone(),
                wall_clock,
            );
        }
        Some(r)
    };
    let adopted = super::team_refresh::Adopted::default();
    if let (Some(team), Some(split), Some((leases, lost))) = (&team, team_split, leases)
        && !l.readonly
    {
        let _guard = rt.enter();
        super::team_refresh::spawn_takeover(
            super::team_refresh::Takeover {
                team: team.clone(),
                leases,
                lost,
                db: l.db.clone(),
                prepare: prep.clone(),
                adopted: adopted.clone(),
                actor: config.actor(),
                clock: wall_clock,
            },
            split.elsewhere.into_iter().map(|(s, _)| s).collect(),
        );
    }
    runtime::run_in(
        rt,
        p.state,
        Services {
            worker: p.worker,
            refresher,
            theme_dir: l.theme_dir,
            no_color: no_color(),
            clock: wall_clock,
            narrator: p.narrator,
            db: l.db,
            outbox: Some((config.clone(), p.wake)),
            audit_key: Some(p.audit_key),
            team: team.map(|team| runtime::TeamServices {
                team,
                prepare: prep,
                adopted,
            }),
        },
    )
    .map_err(StartError::Runtime)
}
