//! The console's two commands, as arguments handed to [`crate::console::start`]: `sitrep` on the
//! configured database and sources, and `sitrep demo`, which first starts six in-process vendor
//! simulators (and Jira, chat) with a temporary database and config. The simulators live here
//! so that the console itself never imports `sim`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::DemoArgs;
use super::env::CliError;
use super::env::runtime;
use crate::config::Config;
use crate::console::start::{self, Launch, RUNTIME_GRACE, StartError, wall_clock};
use crate::domain::Vendor;
use crate::paths::Paths;
use crate::sources::sync;
use crate::store::Store;

impl From<StartError> for CliError {
    fn from(e: StartError) -> CliError {
        match e {
            StartError::Input(m) => CliError::input(m),
            StartError::Runtime(m) => CliError::runtime(m),
        }
    }
}

/// `sitrep` with no command: the console over the configured database and sources.
pub fn console(
    paths: &Paths,
    config: &Config,
    team: Option<crate::store::team::TeamTarget>,
    readonly: bool,
) -> Result<(), CliError> {
    start::require_terminal()?;
    let theme_dir = paths.config_dir.join("themes");
    let theme = start::load_theme(config, &theme_dir)?;
    let label = match &team {
        Some(t) => format!("team {}", t.label()),
        None => paths
            .db
            .file_name()
            .map(|n| crate::sanitize::one_line(&n.to_string_lossy()))
            .unwrap_or_default(),
    };
    let rt = runtime()?;
    let result = start::run(
        &rt,
        Launch {
            config,
            theme,
            theme_dir,
            db: paths.db.clone(),
            label,
            audit_dir: paths.data_dir.clone(),
            default_last_looked: None,
            refresh_store: None,
            team,
            readonly,
        },
    );
    rt.shutdown_timeout(RUNTIME_GRACE);
    result.map_err(CliError::from)
}

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
pub fn demo(
    a: DemoArgs,
    db: Option<PathBuf>,
    paths: &Paths,
    readonly: bool,
) -> Result<(), CliError> {
    use crate::sim::server::SimOptions;
    use crate::vendors::sim as server;
    start::require_terminal()?;
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
    super::env::write_private(&config_path, text.as_bytes())
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
        if a.team.is_some() {
            // A team's audit chain takes one key: the analyst's configured one; the password
            // and CA come from the analyst's [store] too.
            config.audit = user.audit;
            config.store = user.store;
        }
    }
    let theme_dir = paths.config_dir.join("themes");
    let theme = start::load_theme(&config, &theme_dir)?;
    let store = {
        let mut s = Store::open(&db).map_err(|e| CliError::runtime(e.to_string()))?;
        s.set_scoring(config.scoring.clone());
        s.set_owners(config.owners.rules.clone());
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
                    crate::vendors::connect,
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
    // `--team URL`: the demo's store becomes this console's replica of that team store.
    let team = match &a.team {
        None => None,
        Some(url) => {
            let password = crate::team::password(&config)
                .map_err(|e| CliError::input(format!("--team: {e}")))?;
            if password.is_none() && crate::config::team::has_password(url) {
                eprintln!(
                    "sitrep: warning: a password on the command line is visible to other users of this machine; set {} instead",
                    crate::team::PASSWORD_VAR
                );
            }
            let target = crate::store::team::TeamTarget::parse(
                url,
                password,
                config.store.ca_file.clone(),
                false,
            )
            .map_err(|e| CliError::input(format!("--team: {e}")))?;
            let seeded = {
                let mut s = store
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                rt.block_on(crate::team::seed(&mut s, &target))
                    .map_err(|e| CliError::runtime(format!("--team: {e}")))?
            };
            eprintln!(
                "sitrep demo: team store {}: schema {} → {}, {} alerts published",
                target.label(),
                seeded.migrated.from,
                seeded.migrated.to,
                seeded.published
            );
            Some(target)
        }
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
    let result = start::run(
        &rt,
        Launch {
            config: &config,
            theme,
            theme_dir,
            db: db.clone(),
            label: match &team {
                Some(t) => format!("demo · team {}", t.label()),
                None => "demo".into(),
            },
            // The audit key is the demo's own, removed with its directory; on a team store
            // every console must append with the same key: the analyst's own.
            audit_dir: if team.is_some() {
                paths.data_dir.clone()
            } else {
                tmp.0.clone()
            },
            default_last_looked: Some(wall_clock()),
            refresh_store: Some(store),
            team,
            readonly,
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
    result.map_err(CliError::from)
}
