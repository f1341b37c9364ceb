//! `sitrep source status` and `sitrep source check`.

use super::SourceCommand;
use super::env::{CliError, Env, configured, io_err, open_store, runtime};
use crate::config::{Config, SourceConfig};
use crate::domain::EpochMs;
use crate::paths::Paths;
use crate::sanitize::one_line;
use crate::sources::sync::{full_due, utc_minute};
use crate::store::SourceState;

pub fn source_cmd(
    c: SourceCommand,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    match c {
        SourceCommand::Status { json } => status(paths, config, json, env),
        SourceCommand::Check { name, json } => check(name.as_deref(), config, json, env),
    }
}

fn when(t: Option<EpochMs>) -> String {
    t.map_or_else(|| "never".to_string(), utc_minute)
}

/// Every configured source's state, then any the store remembers that is no longer configured.
fn status(paths: &Paths, config: &Config, json: bool, env: &mut Env<'_>) -> Result<(), CliError> {
    let store = open_store(paths)?;
    let states = store
        .all_source_states()
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let mut rows: Vec<(Option<&SourceConfig>, String, Option<&SourceState>)> = config
        .sources
        .iter()
        .map(|c| {
            (
                Some(c),
                c.name.clone(),
                states.iter().find(|s| s.name == c.name),
            )
        })
        .collect();
    for s in &states {
        if config.source(&s.name).is_none() {
            rows.push((None, s.name.clone(), Some(s)));
        }
    }
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(cfg, name, st)| {
                serde_json::json!({
                    "name": one_line(name),
                    "configured": cfg.is_some(),
                    "full_every_secs": cfg.map(|c| c.full_every.as_secs()),
                    "full_due": cfg.map(|c| full_due(c, st.and_then(|s| s.last_full_at), env.now_ms)),
                    "state": st,
                })
            })
            .collect();
        writeln!(
            env.out,
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        )
        .map_err(io_err)?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(
            env.out,
            "no sources configured ([[source]] tables) and none synced"
        )
        .map_err(io_err)?;
        return Ok(());
    }
    for (cfg, name, st) in rows {
        let vendor = cfg
            .map(|c| c.vendor.as_str().to_string())
            .or_else(|| st.map(|s| s.vendor.clone()))
            .unwrap_or_default();
        writeln!(
            env.out,
            "{} ({}){}",
            one_line(&name),
            one_line(&vendor),
            if cfg.is_none() {
                " — no longer configured"
            } else {
                ""
            }
        )
        .map_err(io_err)?;
        let last_full = st.and_then(|s| s.last_full_at);
        let lines = [
            ("last run", when(st.and_then(|s| s.last_run_at))),
            ("last success", when(st.and_then(|s| s.last_success_at))),
            (
                "last full run",
                match cfg {
                    Some(c) => format!(
                        "{} (every {}; {})",
                        when(last_full),
                        humantime(c.full_every),
                        if full_due(c, last_full, env.now_ms) {
                            "the next run is full"
                        } else {
                            "not due"
                        }
                    ),
                    None => when(last_full),
                },
            ),
            ("watermark", when(st.and_then(|s| s.watermark))),
            (
                "last error",
                st.and_then(|s| s.last_error.as_deref())
                    .map_or_else(|| "none".to_string(), one_line),
            ),
        ];
        for (k, v) in lines {
            writeln!(env.out, "  {k:<14} {v}").map_err(io_err)?;
        }
        let failed = st.map(|s| s.failed_filters.as_slice()).unwrap_or_default();
        if failed.is_empty() {
            writeln!(env.out, "  {:<14} none", "failed filters").map_err(io_err)?;
        }
        for f in failed {
            writeln!(
                env.out,
                "  {:<14} {} — refused {}: {}",
                "failed filter",
                one_line(&f.filter),
                utc_minute(f.at),
                one_line(&f.detail)
            )
            .map_err(io_err)?;
        }
    }
    Ok(())
}

/// `24h`, `90m`, `45s`.
fn humantime(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn check(
    name: Option<&str>,
    config: &Config,
    json: bool,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let chosen: Vec<SourceConfig> = match name {
        Some(n) => vec![config.source(n).cloned().ok_or_else(|| {
            CliError::input(format!(
                "no source named '{}'; configured: {}",
                one_line(n),
                configured(config)
            ))
        })?],
        None if config.sources.is_empty() => {
            return Err(CliError::input(
                "no sources configured ([[source]] tables in the config; docs/configuration.md)",
            ));
        }
        None => config.sources.clone(),
    };
    let rt = runtime()?;
    let now = env.now_ms;
    let checks: Vec<crate::sources::check::Check> = rt.block_on(async {
        let mut out = Vec::new();
        for cfg in &chosen {
            let kinds = crate::vendors::kit(cfg.vendor).write_backs;
            out.push(crate::sources::check::check(crate::vendors::connect, cfg, kinds, now).await);
        }
        out
    });
    if json {
        writeln!(
            env.out,
            "{}",
            serde_json::to_string_pretty(&checks).unwrap_or_default()
        )
        .map_err(io_err)?;
    } else {
        for c in &checks {
            writeln!(env.out, "{} ({})", one_line(&c.source), c.vendor).map_err(io_err)?;
            let w = c
                .capabilities
                .iter()
                .map(|k| k.name.chars().count())
                .max()
                .unwrap_or(0);
            for k in &c.capabilities {
                writeln!(
                    env.out,
                    "  {:<w$}  {:<9}  {}",
                    one_line(&k.name),
                    k.verdict.word(),
                    one_line(k.verdict.detail())
                )
                .map_err(io_err)?;
            }
        }
    }
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| !c.reads())
        .map(|c| c.source.as_str())
        .collect();
    if failing.is_empty() {
        Ok(())
    } else {
        Err(CliError::runtime(format!(
            "reading does not work for: {}",
            one_line(&failing.join(", "))
        )))
    }
}
