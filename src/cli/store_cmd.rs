//! `sitrep store migrate|status|copy`: the team store's schema, what it holds, and moving an
//! analyst's cache into it (docs/team.md).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::env::{CliError, Env, io_err, runtime};
use crate::config::Config;
use crate::paths::Paths;
use crate::present::iso;
use crate::sanitize::one_line;
use crate::store::Store;
use crate::store::team::{CopyOptions, TeamStore, TeamTarget};

use crate::team::PASSWORD_VAR;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Apply the team store's schema migrations ([store] url or SITREP_DATABASE_URL)
    Migrate,
    /// The team store: schema, alerts, open claims, refreshers, outbox and audit entries
    Status {
        #[arg(long, value_enum, default_value = "text")]
        format: StatusFormat,
    },
    /// Move an analyst's SQLite cache (alerts, history, approvals, outbox, tickets, audit
    /// log) into an empty team store, in one transaction
    Copy(CopyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The cache to copy: sqlite:PATH (default: this analyst's cache, --db)
    #[arg(long, value_name = "sqlite:PATH")]
    pub from: Option<String>,
    /// The team store: postgres://USER@HOST/DB (default: [store] url or SITREP_DATABASE_URL).
    /// Give the password in SITREP_DATABASE_PASSWORD or [store] password, not here
    #[arg(long, value_name = "postgres://…")]
    pub to: Option<String>,
    /// The team store already holds alerts: add the cache's alerts only (their vendor side,
    /// and the analyst side of alerts the team has not touched); nothing else is copied
    #[arg(long)]
    pub merge: bool,
}

pub fn store_cmd(
    c: StoreCommand,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    match c {
        StoreCommand::Migrate => migrate(paths, config, env),
        StoreCommand::Status { format } => status(config, format, env),
        StoreCommand::Copy(a) => copy(a, paths, config, env),
    }
}

fn migrate(paths: &Paths, config: &Config, env: &mut Env<'_>) -> Result<(), CliError> {
    let Some(target) = super::team::target(config)? else {
        return writeln!(
            env.out,
            "no team store is configured ([store] url or SITREP_DATABASE_URL); the SQLite store {} migrates itself when it is opened",
            paths.db.display()
        )
        .map_err(io_err);
    };
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let team = TeamStore::connect_unchecked(&target).await?;
        team.migrate().await
    });
    let outcome = outcome.map_err(CliError::from)?;
    let line = if outcome.from == outcome.to {
        format!(
            "team store {}: schema {}, up to date",
            target.label(),
            outcome.to
        )
    } else {
        format!(
            "team store {}: schema {} → {}",
            target.label(),
            outcome.from,
            outcome.to
        )
    };
    writeln!(env.out, "{line}").map_err(io_err)
}

fn configured_target(config: &Config) -> Result<TeamTarget, CliError> {
    super::team::target(config)?.ok_or_else(|| {
        CliError::input(
            "no team store is configured: set [store] url or SITREP_DATABASE_URL (docs/team.md)",
        )
    })
}

fn status(config: &Config, format: StatusFormat, env: &mut Env<'_>) -> Result<(), CliError> {
    let target = configured_target(config)?;
    let rt = runtime()?;
    let now = env.now_ms;
    let s = rt
        .block_on(async {
            let team = TeamStore::connect_unchecked(&target).await?;
            team.status(now).await
        })
        .map_err(CliError::from)?;
    if format == StatusFormat::Json {
        // Holder names come from other analysts' configs: every string one clean line.
        let v = super::render::json_value(&s);
        serde_json::to_writer_pretty(&mut *env.out, &v).map_err(|e| io_err(e.into()))?;
        return writeln!(env.out).map_err(io_err);
    }
    let mut out = String::new();
    let schema = if s.schema == s.schema_known {
        format!("{} (this build's)", s.schema)
    } else if s.schema < s.schema_known {
        format!(
            "{} (this build needs {}: run `sitrep store migrate`)",
            s.schema, s.schema_known
        )
    } else {
        format!("{} (newer than this build's {})", s.schema, s.schema_known)
    };
    out.push_str(&format!("team store  {}\n", s.target));
    out.push_str(&format!("schema      {schema}\n"));
    if s.schema == s.schema_known {
        out.push_str(&format!(
            "alerts      {} ({} open)\n",
            s.alerts, s.open_alerts
        ));
        out.push_str(&format!("claims      {} open\n", s.open_claims));
        out.push_str(&format!(
            "outbox      {} pending, {} failed, {} delivered\n",
            s.outbox_pending, s.outbox_failed, s.outbox_done
        ));
        out.push_str(&format!("audit log   {} entries\n", s.audit_entries));
        if s.refreshers.is_empty() {
            out.push_str("refreshers  none yet\n");
        }
        for r in &s.refreshers {
            out.push_str(&format!(
                "refresher   {}: {} since {}, last seen {}{}\n",
                one_line(&r.source),
                one_line(&r.holder),
                iso(r.since),
                iso(r.heartbeat),
                if r.live {
                    ""
                } else {
                    " (gone: nobody refreshes it)"
                }
            ));
        }
    }
    env.out.write_all(out.as_bytes()).map_err(io_err)
}

/// `--from`: `sqlite:PATH` or a plain path; the analyst's cache when absent.
fn from_path(from: Option<&str>, paths: &Paths) -> Result<PathBuf, CliError> {
    let Some(f) = from else {
        return Ok(paths.db.clone());
    };
    let p = f.strip_prefix("sqlite:").unwrap_or(f);
    let p = p.strip_prefix("//").unwrap_or(p);
    if p.is_empty() {
        return Err(CliError::input("--from: give sqlite:PATH"));
    }
    if f.contains("://") && !f.starts_with("sqlite:") {
        return Err(CliError::input(format!(
            "--from '{}': copy reads a SQLite cache (sqlite:PATH)",
            one_line(f)
        )));
    }
    Ok(PathBuf::from(p))
}

/// `--to`: a URL given here (its password, if any, only when no other is configured), else
/// the configured team store.
fn to_target(to: Option<&str>, config: &Config) -> Result<TeamTarget, CliError> {
    let Some(url) = to else {
        return configured_target(config);
    };
    let password = crate::team::password(config).map_err(|e| CliError::input(e.to_string()))?;
    let had_other = password.is_some();
    let target = TeamTarget::parse(url, password, config.store.ca_file.clone(), false)
        .map_err(CliError::from)?;
    if !had_other && crate::config::team::has_password(url) {
        eprintln!(
            "sitrep: warning: a password on the command line is visible to other users of this machine; set {PASSWORD_VAR} instead"
        );
    }
    Ok(target)
}

fn copy(a: CopyArgs, paths: &Paths, config: &Config, env: &mut Env<'_>) -> Result<(), CliError> {
    let from = from_path(a.from.as_deref(), paths)?;
    if !from.exists() {
        return Err(CliError::input(format!(
            "--from: no SQLite cache at {}",
            from.display()
        )));
    }
    let target = to_target(a.to.as_deref(), config)?;
    let mut src = Store::open(&from).map_err(|e| CliError::runtime(e.to_string()))?;
    let counts = src
        .export_counts()
        .map_err(|e| CliError::runtime(e.to_string()))?;
    // The chain must verify after the copy: with the key that wrote it, checked here first
    // (so a cache already broken is named as such) and again inside the copy's transaction.
    let key = crate::audit::AuditKey::load_existing(&config.audit, &paths.data_dir)
        .map_err(|e| CliError::input(e.to_string()))?;
    let audit_key = if counts.audit > 0 && !a.merge {
        let Some(key) = key else {
            return Err(CliError::input(format!(
                "the cache {} has {} audit entries but no audit key is configured or in {}; the copied chain could not be verified",
                from.display(),
                counts.audit,
                paths.data_dir.display()
            )));
        };
        src.set_audit_key(key.clone());
        let report = src
            .audit_verify()
            .map_err(|e| CliError::runtime(e.to_string()))?;
        if !report.is_ok() {
            return Err(CliError::runtime(format!(
                "the cache's {report}; nothing was copied"
            )));
        }
        Some(key)
    } else {
        None
    };
    let rt = runtime()?;
    let opts = CopyOptions {
        merge: a.merge,
        audit_key,
    };
    let report = rt
        .block_on(async {
            let team = TeamStore::connect(&target).await?;
            team.copy_from(&src, &opts).await
        })
        .map_err(CliError::from)?;
    let mut line = format!(
        "copied {} into team store {}: {} alert(s), {} with an analyst's status",
        from.display(),
        target.label(),
        report.alerts,
        report.decided
    );
    if a.merge {
        line.push_str(" (merge: alerts only)");
    } else {
        line.push_str(&format!(
            ", {} history line(s), {} approval(s), {} outbox row(s), {} ticket(s), {} audit entr{}",
            report.history,
            report.approvals,
            report.outbox,
            report.tickets,
            report.audit,
            if report.audit == 1 { "y" } else { "ies" }
        ));
        if report.audit_verified {
            line.push_str(" (chain verified)");
        }
    }
    writeln!(env.out, "{line}").map_err(io_err)
}
