//! `sitrep pr ID`: push an approved fix and open its pull / merge request (the console's `P`);
//! `sitrep pr --list [--refresh]`: the requests sitrep opened and where they stand.

use clap::Args;

use super::decisions::{DeliveryArgs, apply, resolve_ids};
use super::env::{CliError, Env, runtime};
use crate::config::Config;
use crate::dispatch::recorder::Recorder;
use crate::domain::Intent;
use crate::sanitize;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct PrArgs {
    /// The alert whose approved remediation diff becomes a pull request
    #[arg(value_name = "ID", required_unless_present = "list")]
    pub id: Option<String>,
    /// Which proposal (1-based, as `sitrep show` lists them); default: the first diff
    #[arg(long, value_name = "N", conflicts_with = "list")]
    pub proposal: Option<usize>,
    /// List the pull / merge requests sitrep opened, with their state
    #[arg(long, conflicts_with = "id")]
    pub list: bool,
    /// With --list: ask the forges for the state of the open ones first
    #[arg(long, requires = "list")]
    pub refresh: bool,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

pub fn pr(
    a: PrArgs,
    store: &mut Store,
    rec: &mut Recorder<'_>,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    if a.list {
        return list(a.refresh, store, config, env);
    }
    let Some(id) = &a.id else {
        return Err(CliError::input("give the alert id (or --list)"));
    };
    let ids = resolve_ids(store, std::slice::from_ref(id))?;
    let intent = Intent::PullRequest {
        proposal: a.proposal,
    };
    apply(store, rec, config, &ids, &intent, a.delivery, env)?;
    for row in store
        .pull_requests_for(&ids[0])
        .map_err(|e| CliError::runtime(e.to_string()))?
    {
        let _ = writeln!(env.out, "{}", line(&row));
    }
    Ok(())
}

fn list(
    refresh: bool,
    store: &mut Store,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    if refresh {
        let rt = runtime()?;
        let (polled, changed) = rt
            .block_on(crate::dispatch::pr::poll(
                store,
                config,
                crate::dispatch::worker::wall_clock_ms,
            ))
            .map_err(|e| CliError::runtime(e.to_string()))?;
        let _ = writeln!(
            env.out,
            "pull requests: {polled} polled, {changed} changed state"
        );
    }
    let rows = store
        .pull_requests(false)
        .map_err(|e| CliError::runtime(e.to_string()))?;
    if rows.is_empty() {
        let _ = writeln!(env.out, "no pull requests yet (sitrep pr ID opens one)");
    }
    for row in &rows {
        let _ = writeln!(env.out, "{}", line(row));
    }
    Ok(())
}

fn line(r: &crate::store::PrRow) -> String {
    let l = &r.link;
    format!(
        "{:<7} {} {} #{} {}  alert {}  branch {}{}",
        l.state,
        l.forge,
        sanitize::one_line(&l.repo),
        l.number,
        sanitize::one_line(&l.url),
        sanitize::one_line(&r.alert_id),
        sanitize::one_line(&l.branch),
        l.ticket
            .as_deref()
            .map(|t| format!("  ticket {}", sanitize::one_line(t)))
            .unwrap_or_default()
    )
}
