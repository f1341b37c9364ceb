//! Starting the console: `sitrep` on the configured database and sources, and `sitrep demo` on
//! six in-process simulators with a temporary database and config.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::DemoArgs;
use super::commands::CliError;
use super::commands::runtime;
use crate::app::{Init, State};
use crate::config::Config;
use crate::config::theme::Theme;
use crate::domain::{EpochMs, Vendor};
use crate::paths::Paths;
use crate::sources::sync::{self, Refresher};
use crate::store::Store;
use crate::tui::{self, Services, worker::LAST_LOOKED, worker::Worker};

fn wall_clock() -> EpochMs {
    chrono::Utc::now().timestamp_millis()
}

/// The console draws on a terminal; anything else gets pointed at the headless commands.
fn require_terminal() -> Result<(), CliError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(CliError::input(
            "the console needs a terminal, and stdin/stdout are not one; for scripts use the \
             headless commands: sitrep list, show, export, sync (see sitrep --help)",
        ));
    }
    Ok(())
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn theme(config: &Config, paths: &Paths) -> Result<Theme, CliError> {
    if no_color() {
        return Ok(Theme::no_color());
    }
    Theme::load(&config.theme, &paths.config_dir.join("themes"))
        .map_err(|e| CliError::input(format!("[ui] theme: {e}")))
}

fn store_err(e: crate::store::StoreError) -> CliError {
    CliError::runtime(e.to_string())
}

struct Prepared {
    state: State,
    worker: Worker,
    narrator: crate::narrate::Narrator,
    /// Shared by the worker (after a decision) and the outbox task.
    wake: std::sync::Arc<tokio::sync::Notify>,
    audit_key: crate::audit::AuditKey,
}

fn prepare(
    db: &Path,
    config: &Config,
    theme: Theme,
    label: String,
    default_last_looked: Option<EpochMs>,
    audit_key: crate::audit::AuditKey,
) -> Result<Prepared, CliError> {
    let narrator = crate::narrate::Narrator::from_config(config)
        .map_err(|e| CliError::input(e.to_string()))?;
    let mut store = Store::open(db).map_err(store_err)?;
    store.set_audit_key(audit_key.clone());
    let now = wall_clock();
    store.set_scoring(config.scoring.clone());
    store.ensure_scored(now).map_err(store_err)?;
    let last_looked = store
        .get_value(LAST_LOOKED)
        .map_err(store_err)?
        .and_then(|v| v.parse::<EpochMs>().ok())
        .or(default_last_looked);
    // The next run marks what arrives after this one started, if it ends abnormally.
    if last_looked.is_none() {
        store
            .set_value(LAST_LOOKED, &now.to_string())
            .map_err(store_err)?;
    }
    let state = State::new(Init {
        keymap: config.keymap.clone(),
        theme,
        actor: config.actor(),
        now_ms: now,
        size: (80, 24),
        filter_text: config.filter.clone(),
        sort: config.sort,
        sources: config.sources.iter().map(|s| s.name.clone()).collect(),
        last_looked,
        label,
        narrator_label: narrator.label(),
        narrator_offline: narrator.is_offline(),
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

/// `sitrep` with no command: the console over the configured database and sources.
pub fn console(paths: &Paths, config: &Config) -> Result<(), CliError> {
    require_terminal()?;
    let theme = theme(config, paths)?;
    if let Some(dir) = paths.db.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::runtime(format!("cannot create {}: {e}", dir.display())))?;
    }
    let label = paths
        .db
        .file_name()
        .map(|n| crate::sanitize::one_line(&n.to_string_lossy()))
        .unwrap_or_default();
    let key = crate::audit::AuditKey::load(&config.audit, &paths.data_dir)
        .map_err(|e| CliError::input(e.to_string()))?;
    let p = prepare(&paths.db, config, theme, label, None, key)?;
    let rt = runtime()?;
    let refresher = if config.sources.is_empty() {
        None
    } else {
        let mut store = Store::open(&paths.db).map_err(store_err)?;
        store.set_scoring(config.scoring.clone());
        let _guard = rt.enter();
        Some(Refresher::spawn(
            config.sources.clone(),
            Arc::new(Mutex::new(store)),
            wall_clock,
        ))
    };
    let result = tui::run_in(
        &rt,
        p.state,
        Services {
            worker: p.worker,
            refresher,
            theme_dir: paths.config_dir.join("themes"),
            no_color: no_color(),
            clock: wall_clock,
            narrator: p.narrator,
            db: paths.db.clone(),
            outbox: Some((config.clone(), p.wake)),
            audit_key: Some(p.audit_key),
        },
    );
    // Whatever a task still holds (a vendor request mid-flight), the process does not wait
    // on it for long once the console is gone.
    rt.shutdown_timeout(RUNTIME_GRACE);
    result.map_err(CliError::runtime)
}

/// How long the console's runtime may take to wind down after the terminal is restored.
const RUNTIME_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> Result<TempDir, CliError> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let p = base.join(format!(
                "sitrep-demo-{}-{}-{attempt}",
                std::process::id(),
                wall_clock()
            ));
            let mut b = std::fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            match b.create(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(CliError::runtime(format!(
                        "cannot create a temporary directory in {}: {e}",
                        base.display()
                    )));
                }
            }
        }
        Err(CliError::runtime("cannot create a temporary directory"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// TOML basic string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `sitrep demo`: six simulated tenants on loopback, synced into a temporary database (or
/// `--db`, kept afterwards), and the console with the background refresh running.
pub fn demo(a: DemoArgs, db: Option<PathBuf>, paths: &Paths) -> Result<(), CliError> {
    use crate::sim::server::{self, SimOptions};
    require_terminal()?;
    if a.alerts == 0 || a.alerts > 20_000 {
        return Err(CliError::input("--alerts: between 1 and 20000 per vendor"));
    }
    let interval = crate::config::sources::parse_duration(&a.interval)
        .filter(|d| *d >= Duration::from_secs(10))
        .ok_or_else(|| CliError::input("--interval: a duration of at least 10s, e.g. 20s"))?;
    let tmp = TempDir::create()?;
    let db = db.unwrap_or_else(|| tmp.0.join("demo.db"));
    let rt = runtime()?;
    let now = wall_clock();
    eprintln!(
        "sitrep demo: starting simulators of six vendor APIs on 127.0.0.1 ({} alerts each)…",
        a.alerts
    );
    let handles = rt.block_on(async {
        let mut hs = Vec::new();
        for v in Vendor::ALL {
            let opts = SimOptions {
                alerts: a.alerts,
                seed: a.seed,
                now_ms: now,
                source_name: Some(v.as_str().to_string()),
                ..SimOptions::default()
            };
            hs.push(
                server::start(v, opts)
                    .await
                    .map_err(|e| CliError::runtime(e.to_string()))?,
            );
        }
        Ok::<_, CliError>(hs)
    })?;
    // A ticket system and chat destinations to decide into: simulated Jira Cloud, Slack,
    // Teams and a signed webhook, also on loopback.
    let (jira, chat) = rt.block_on(async {
        let jira = crate::sim::server::jira::start(crate::sim::server::jira::JiraSimOptions {
            seed: a.seed,
            ..Default::default()
        })
        .await
        .map_err(|e| CliError::runtime(e.to_string()))?;
        let chat = crate::sim::server::chat::start(crate::sim::server::chat::ChatSimOptions {
            port: 0,
            seed: a.seed,
            latency: Duration::ZERO,
        })
        .await
        .map_err(|e| CliError::runtime(e.to_string()))?;
        Ok::<_, CliError>((jira, chat))
    })?;
    // A private config file: the simulators' demo credentials inline, each source refreshing
    // on the demo's interval.
    let mut text = String::from("# sitrep demo: generated, removed at exit\n");
    for h in &handles {
        let mut t = h.source_toml.replacen(
            "[source.credentials]",
            &format!(
                "interval = \"{}s\"\n[source.credentials]",
                interval.as_secs()
            ),
            1,
        );
        for (name, value) in &h.env {
            t = t.replace(&format!("{{ env = \"{name}\" }}"), &toml_str(value));
        }
        text.push_str(&t);
        text.push('\n');
    }
    let mut dest = format!(
        "[tickets]\ndefault = \"jira\"\n{}\n{}\n\
         # One analyst at the demo: approvals need no second person here (the default is four-eyes).\n\
         [approvals]\nfour_eyes = false\non_approve = [\"ticket_comment\", \"webhook\"]\n",
        jira.tickets_toml(false),
        chat.notify_toml()
    );
    for (name, value) in jira.env().into_iter().chain(chat.env()) {
        dest = dest.replace(&format!("{{ env = \"{name}\" }}"), &toml_str(&value));
    }
    text.push_str(&dest);
    let config_path = tmp.0.join("config.toml");
    super::commands::write_private(&config_path, text.as_bytes())
        .map_err(|e| CliError::runtime(format!("cannot write the demo config: {e}")))?;
    let mut config =
        Config::load(&config_path, true).map_err(|e| CliError::runtime(e.to_string()))?;
    if let Ok(user) = Config::load(&paths.config, false) {
        // The analyst's own keys, theme and name still apply.
        config.keymap = user.keymap;
        config.theme = user.theme;
        config.analyst = user.analyst;
        config.iac = user.iac;
        config.scoring = user.scoring;
        config.sort = user.sort;
        config.filter = user.filter;
        config.llm = user.llm;
    }
    let theme = theme(&config, paths)?;
    let store = {
        let mut s = Store::open(&db).map_err(store_err)?;
        s.set_scoring(config.scoring.clone());
        Arc::new(Mutex::new(s))
    };
    eprintln!(
        "sitrep demo: syncing {} into {}…",
        Vendor::ALL.map(|v| v.as_str()).join(", "),
        db.display()
    );
    let reports = rt.block_on(async {
        let mut tasks = Vec::new();
        for cfg in config.sources.clone() {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                sync::run(
                    &cfg,
                    &store,
                    false,
                    wall_clock(),
                    Arc::new(|_: &sync::Progress| {}),
                )
                .await
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out
    });
    for r in &reports {
        eprintln!("  {}", r.line());
    }
    let key = crate::audit::AuditKey::load(&config.audit, &tmp.0)
        .map_err(|e| CliError::input(e.to_string()))?;
    let p = prepare(&db, &config, theme, "demo".into(), Some(wall_clock()), key)?;
    let refresher = {
        let _guard = rt.enter();
        Refresher::spawn(config.sources.clone(), store, wall_clock)
    };
    // The simulated tenants keep changing, so the refresh has something to show.
    let churn = {
        let states: Vec<_> = handles.iter().map(|h| h.state.clone()).collect();
        let every = Duration::from_secs(a.churn.max(5));
        let per = (a.alerts / 100).max(1);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                for st in &states {
                    server::churn_state(st, per * 2, per).await;
                }
            }
        })
    };
    let result = tui::run_in(
        &rt,
        p.state,
        Services {
            worker: p.worker,
            refresher: Some(refresher),
            theme_dir: paths.config_dir.join("themes"),
            no_color: no_color(),
            clock: wall_clock,
            narrator: p.narrator,
            db: db.clone(),
            outbox: Some((config.clone(), p.wake)),
            audit_key: Some(p.audit_key),
        },
    );
    churn.abort();
    rt.block_on(async {
        for h in handles {
            h.stop().await;
        }
    });
    rt.shutdown_timeout(RUNTIME_GRACE);
    if !db.starts_with(&tmp.0) {
        eprintln!("sitrep demo: the database is kept at {}", db.display());
    }
    result.map_err(CliError::runtime)
}
