//! Headless decisions (`mark`, `note`) and the outbox (`outbox list|deliver|retry|drop`): the
//! console's decision path, for scripts and SOAR playbooks.

use clap::{Args, Subcommand};

use super::env::{CliError, Env, runtime};
use crate::config::Config;
use crate::dispatch::decide;
use crate::dispatch::recorder::Recorder;
use crate::dispatch::worker::{self, Dispatcher, PassStats};
use crate::domain::{DismissReason, EpochMs, Intent, Status, StatusKind};
use crate::sanitize;
use crate::store::{OutboxRow, OutboxState, Store};
use crate::team::decide::Sent;

#[derive(Debug, Args)]
pub struct MarkArgs {
    /// Alert ids (or unique prefixes)
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// new, acknowledged, in-progress, resolved, dismissed, snoozed — or a dismiss reason as
    /// shorthand: false-positive, accepted-risk, duplicate, not-applicable
    #[arg(long, value_name = "STATUS")]
    pub status: String,
    /// Why: a dismiss reason (false-positive, accepted-risk, duplicate, not-applicable, other)
    /// or, for resolved, free text
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
    /// A note recorded with the decision
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Until when a dismissal or snooze holds: 3d, 12h, 2w or a date (2026-12-31)
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    /// Alert ids (or unique prefixes)
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// The note (also written back to vendors that take comments)
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub text: String,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The alert whose remediation diff is approved
    #[arg(value_name = "ID")]
    pub id: String,
    /// A note recorded with the approval
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Which proposal (1-based, as `sitrep show` lists them); default: the first diff
    #[arg(long, value_name = "N")]
    pub proposal: Option<usize>,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The alert whose remediation diff is rejected
    #[arg(value_name = "ID")]
    pub id: String,
    /// Why (required)
    #[arg(long, value_name = "TEXT")]
    pub note: String,
    /// Which proposal (1-based); default: the first diff
    #[arg(long, value_name = "N")]
    pub proposal: Option<usize>,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct TicketArgs {
    /// Alert ids (or unique prefixes); alerts on the same resource share one ticket
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// jira or servicenow (default: [tickets] default)
    #[arg(long, value_name = "SYSTEM")]
    pub system: Option<String>,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Alert ids (or unique prefixes)
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct DeliveryArgs {
    /// Only queue the deliveries (the console, `sitrep sync` or `sitrep outbox deliver` send them)
    #[arg(long)]
    pub no_deliver: bool,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Deliveries owed to vendors, ticket systems and chat (pending and failed unless --all)
    List {
        /// Also list delivered, unsupported and dropped entries
        #[arg(long)]
        all: bool,
        /// At most this many entries
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output as JSON lines
        #[arg(long)]
        json: bool,
    },
    /// Deliver every entry that is due now
    Deliver,
    /// Deliver now: the given entries, or every failed and every waiting entry
    Retry {
        #[arg(value_name = "OUTBOX_ID")]
        ids: Vec<i64>,
    },
    /// Give up on pending or failed entries (recorded in the audit log)
    Drop {
        #[arg(required = true, value_name = "OUTBOX_ID")]
        ids: Vec<i64>,
    },
}

/// The status the flags describe.
pub fn status_from_flags(
    status: &str,
    reason: Option<&str>,
    note: Option<&str>,
    until: Option<&str>,
    now: EpochMs,
) -> Result<Status, CliError> {
    let until = until
        .map(|u| crate::console::model::parse_until(u, now))
        .transpose()
        .map_err(|e| CliError::input(format!("--until: {e}")))?;
    let bad_reason = |r: &str| {
        CliError::input(format!(
            "--reason '{}': use one of {}",
            sanitize::one_line(r),
            DismissReason::ALL
                .iter()
                .map(|r| r.as_str().replace('_', "-"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let dismissed = |reason: DismissReason| Status::Dismissed {
        reason,
        note: note.map(str::to_string),
        until,
    };
    if let Some(r) = DismissReason::parse(status).filter(|r| *r != DismissReason::Other) {
        if reason.is_some() {
            return Err(CliError::input(format!(
                "--status {} already says why; leave out --reason",
                sanitize::one_line(status)
            )));
        }
        return Ok(dismissed(r));
    }
    let Some(kind) = StatusKind::parse(status) else {
        return Err(CliError::input(format!(
            "--status '{}': use new, acknowledged, in-progress, resolved, dismissed, snoozed, or false-positive, accepted-risk, duplicate, not-applicable",
            sanitize::one_line(status)
        )));
    };
    if until.is_some() && !matches!(kind, StatusKind::Dismissed | StatusKind::Snoozed) {
        return Err(CliError::input(
            "--until applies to dismissed and snoozed only",
        ));
    }
    Ok(match kind {
        StatusKind::New => Status::New,
        StatusKind::Acknowledged => Status::Acknowledged,
        StatusKind::InProgress => Status::InProgress,
        StatusKind::Resolved => Status::Resolved {
            reason: reason.unwrap_or("resolved").to_string(),
        },
        StatusKind::Dismissed => {
            let Some(r) = reason else {
                return Err(CliError::input(
                    "--status dismissed needs --reason (false-positive, accepted-risk, duplicate, not-applicable, other)",
                ));
            };
            dismissed(DismissReason::parse(r).ok_or_else(|| bad_reason(r))?)
        }
        StatusKind::Snoozed => {
            let Some(until) = until else {
                return Err(CliError::input("--status snoozed needs --until"));
            };
            Status::Snoozed {
                until,
                note: note.map(str::to_string),
            }
        }
    })
}

/// Resolve ids and unique prefixes to alert ids, all or nothing.
pub fn resolve_ids(store: &Store, ids: &[String]) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for id in ids {
        if store
            .get(id)
            .map_err(|e| CliError::runtime(e.to_string()))?
            .is_some()
        {
            out.push(id.clone());
            continue;
        }
        let found = store
            .ids_like(id, 2)
            .map_err(|e| CliError::runtime(e.to_string()))?;
        match found.as_slice() {
            [one] => out.push(one.clone()),
            [] => {
                return Err(CliError::input(format!(
                    "no alert with id '{}'",
                    sanitize::one_line(id)
                )));
            }
            _ => {
                return Err(CliError::input(format!(
                    "'{}' matches several alerts; give more of the id",
                    sanitize::one_line(id)
                )));
            }
        }
    }
    Ok(out)
}

pub fn mark(
    a: MarkArgs,
    store: &mut Store,
    rec: &mut Recorder<'_>,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let status = status_from_flags(
        &a.status,
        a.reason.as_deref(),
        a.note.as_deref(),
        a.until.as_deref(),
        env.now_ms,
    )?;
    let ids = resolve_ids(store, &a.ids)?;
    let intent = Intent::Mark {
        status,
        note: a.note.clone(),
    };
    apply(store, rec, config, &ids, &intent, a.delivery, env)
}

pub fn note(
    a: NoteArgs,
    store: &mut Store,
    rec: &mut Recorder<'_>,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    if a.text.trim().is_empty() {
        return Err(CliError::input("--text: the note is empty"));
    }
    let ids = resolve_ids(store, &a.ids)?;
    apply(
        store,
        rec,
        config,
        &ids,
        &Intent::Note(a.text.clone()),
        a.delivery,
        env,
    )
}

pub fn approve(
    a: ApproveArgs,
    store: &mut Store,
    rec: &mut Recorder<'_>,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let ids = resolve_ids(store, std::slice::from_ref(&a.id))?;
    let intent = Intent::Approve {
        note: a.note.clone(),
        proposal: a.proposal,
    };
    apply(store, rec, config, &ids, &intent, a.delivery, env)
}

pub fn reject(
    a: RejectArgs,
    store: &mut Store,
    rec: &mut Recorder<'_>,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    if a.note.trim().is_empty() {
        return Err(CliError::input("--note: a rejection needs a reason"));
    }
    let ids = resolve_ids(store, std::slice::from_ref(&a.id))?;
    let intent = Intent::Reject {
        note: a.note.clone(),
        proposal: a.proposal,
    };
    apply(store, rec, config, &ids, &intent, a.delivery, env)
}

pub fn ticket(
    a: TicketArgs,
    store: &mut Store,
    rec: &mut Recorder<'_>,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let ids = resolve_ids(store, &a.ids)?;
    let intent = Intent::Ticket {
        system: a.system.clone(),
    };
    apply(store, rec, config, &ids, &intent, a.delivery, env)
}

pub fn notify(
    a: NotifyArgs,
    store: &mut Store,
    rec: &mut Recorder<'_>,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let ids = resolve_ids(store, &a.ids)?;
    apply(store, rec, config, &ids, &Intent::Notify, a.delivery, env)
}

/// Record `intent` on every id, then (unless told not to) deliver what it queued.
pub fn apply(
    store: &mut Store,
    rec: &mut Recorder<'_>,
    config: &Config,
    ids: &[String],
    intent: &Intent,
    delivery: DeliveryArgs,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let mut queued = 0;
    let mut conflicts = 0;
    for id in ids {
        let out = decide::decide_with(rec, store, config, &config.actor(), id, intent, env.now_ms)
            .map_err(|e| match e {
                decide::DecideError::Refused(m) => {
                    CliError::runtime(format!("{}: {m}", sanitize::one_line(id)))
                }
                other => CliError::runtime(other.to_string()),
            })?;
        queued += out.queued;
        match &out.team {
            Some(Sent::Conflict { journal_id, detail }) => {
                conflicts += 1;
                let _ = writeln!(
                    env.out,
                    "{}: not applied (conflict #{journal_id}): {}",
                    sanitize::one_line(&out.alert_id),
                    sanitize::one_line(detail)
                );
            }
            Some(Sent::Pending) => {
                let _ = writeln!(
                    env.out,
                    "{}: recorded locally",
                    sanitize::one_line(&out.alert_id)
                );
            }
            _ => {
                let _ = writeln!(env.out, "{}: recorded", sanitize::one_line(&out.alert_id));
            }
        }
        for n in &out.notes {
            let _ = writeln!(env.out, "  {}", sanitize::one_line(n));
        }
    }
    if conflicts > 0 {
        return Err(CliError::runtime(format!(
            "{conflicts} decision{} not applied: someone else changed the alert meanwhile (sitrep team conflicts; sitrep team resolve N --keep-mine|--discard)",
            if conflicts == 1 { "" } else { "s" }
        )));
    }
    if rec.is_team() {
        // The team's outbox, not this replica's (which holds none of these rows): a pass
        // here leases each row first, so analysts delivering at once never send one twice.
        // Unreachable (the decision waits in the journal) or --no-deliver: only queued.
        let online = rec.team().filter(|_| !delivery.no_deliver);
        let Some((team, rt)) = online else {
            if queued > 0 {
                let _ = writeln!(
                    env.out,
                    "{queued} deliver{} queued in the team outbox",
                    if queued == 1 { "y" } else { "ies" }
                );
            }
            return Ok(());
        };
        if queued == 0 {
            return Ok(());
        }
        let stats = deliver_team_on(store, team, rt, config, env.now_ms)?;
        let depth = rt
            .block_on(team.outbox_depth())
            .map_err(|e| CliError::runtime(e.to_string()))?;
        let waiting = if stats.failed > 0 || stats.retrying > 0 {
            rt.block_on(team.outbox_list(&[OutboxState::Failed, OutboxState::Pending], 5))
                .map_err(|e| CliError::runtime(e.to_string()))?
        } else {
            Vec::new()
        };
        return report_lines(env, &stats, depth, &waiting);
    }
    // Each decision's audit entry is owed to every [[siem]] destination too (docs/siem.md):
    // rows a trigger writes, not counted in `queued`.
    let forwards = !config.siem.is_empty();
    if queued == 0 && !forwards {
        return Ok(());
    }
    if delivery.no_deliver {
        if queued == 0 {
            return Ok(());
        }
        let _ = writeln!(
            env.out,
            "{queued} deliver{} queued (sitrep outbox deliver sends {})",
            if queued == 1 { "y" } else { "ies" },
            if queued == 1 { "it" } else { "them" }
        );
        return Ok(());
    }
    let stats = deliver(store, config)?;
    report_pass(env, &stats, store)
}

/// One delivery pass over everything due.
pub fn deliver(store: &mut Store, config: &Config) -> Result<PassStats, CliError> {
    let rt = runtime()?;
    let mut dispatcher = Dispatcher::new(config);
    rt.block_on(async {
        worker::deliver_due(store, &mut dispatcher, worker::wall_clock_ms, 10_000).await
    })
    .map_err(|e| CliError::runtime(e.to_string()))
}

fn report_pass(env: &mut Env<'_>, s: &PassStats, store: &Store) -> Result<(), CliError> {
    let depth = store
        .outbox_depth()
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let waiting = if s.failed > 0 || s.retrying > 0 {
        store
            .outbox_list(&[OutboxState::Failed, OutboxState::Pending], 5)
            .map_err(|e| CliError::runtime(e.to_string()))?
    } else {
        Vec::new()
    };
    report_lines(env, s, depth, &waiting)
}

/// The pass's summary line, the last errors of `waiting` (failed and pending rows, newest
/// first) when something failed or waits, and an error when a delivery failed.
fn report_lines(
    env: &mut Env<'_>,
    s: &PassStats,
    depth: crate::store::OutboxDepth,
    waiting: &[OutboxRow],
) -> Result<(), CliError> {
    let _ = writeln!(
        env.out,
        "outbox: {} delivered, {} not supported by the destination, {} to retry, {} failed; {} pending, {} failed in total",
        s.delivered, s.unsupported, s.retrying, s.failed, depth.pending, depth.failed
    );
    if s.failed > 0 || s.retrying > 0 {
        for row in waiting {
            if let Some(err) = &row.last_error {
                let _ = writeln!(
                    env.out,
                    "  #{} {} → {}: {}",
                    row.id,
                    row.kind.as_str(),
                    sanitize::one_line(&row.destination),
                    sanitize::one_line(err)
                );
            }
        }
    }
    if s.failed > 0 {
        return Err(CliError::runtime(format!(
            "{} deliver{} failed (sitrep outbox list shows why; sitrep outbox retry tries again)",
            s.failed,
            if s.failed == 1 { "y" } else { "ies" }
        )));
    }
    Ok(())
}

pub fn outbox_cmd(
    c: OutboxCommand,
    store: &mut Store,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let rt_err = |e: crate::store::StoreError| CliError::runtime(e.to_string());
    match c {
        OutboxCommand::List { all, limit, json } => {
            let states: &[OutboxState] = if all {
                &[]
            } else {
                &[OutboxState::Pending, OutboxState::Failed]
            };
            let rows = store.outbox_list(states, limit).map_err(rt_err)?;
            if json {
                for r in &rows {
                    let line = serde_json::to_string(&clean_row(r)).unwrap_or_default();
                    let _ = writeln!(env.out, "{line}");
                }
                return Ok(());
            }
            let depth = store.outbox_depth().map_err(rt_err)?;
            let _ = writeln!(
                env.out,
                "outbox: {} pending ({} retrying), {} failed",
                depth.pending, depth.retrying, depth.failed
            );
            for r in &rows {
                let _ = writeln!(env.out, "{}", row_line(r, env.now_ms));
            }
            Ok(())
        }
        OutboxCommand::Deliver => {
            let stats = deliver(store, config)?;
            report_pass(env, &stats, store)
        }
        OutboxCommand::Retry { ids } => {
            let n = store
                .outbox_retry(&ids, &config.actor(), env.now_ms)
                .map_err(|e| CliError::input(e.to_string()))?;
            let _ = writeln!(env.out, "{n} entr{} back in the queue", plural_y(n));
            let stats = deliver(store, config)?;
            report_pass(env, &stats, store)
        }
        OutboxCommand::Drop { ids } => {
            let n = store
                .outbox_drop(&ids, &config.actor(), env.now_ms)
                .map_err(|e| CliError::input(e.to_string()))?;
            let _ = writeln!(env.out, "{n} entr{} dropped", plural_y(n));
            Ok(())
        }
    }
}

/// `sitrep outbox …` in team mode: the team's outbox, which every analyst's sitrep shares
/// (docs/team.md). The same output as the SQLite outbox's; a delivery pass leases each row,
/// so passes run by several analysts at once never send one row twice.
pub(super) fn team_outbox_cmd(
    c: OutboxCommand,
    ctx: &mut super::team::TeamCtx,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    match c {
        OutboxCommand::List { all, limit, json } => {
            let states: &[OutboxState] = if all {
                &[]
            } else {
                &[OutboxState::Pending, OutboxState::Failed]
            };
            let rows = ctx
                .rt
                .block_on(ctx.team.outbox_list(states, limit))
                .map_err(CliError::from)?;
            if json {
                for r in &rows {
                    let line = serde_json::to_string(&clean_row(r)).unwrap_or_default();
                    let _ = writeln!(env.out, "{line}");
                }
                return Ok(());
            }
            let depth = ctx
                .rt
                .block_on(ctx.team.outbox_depth())
                .map_err(CliError::from)?;
            let _ = writeln!(
                env.out,
                "outbox: {} pending ({} retrying), {} failed",
                depth.pending, depth.retrying, depth.failed
            );
            for r in &rows {
                let _ = writeln!(env.out, "{}", row_line(r, env.now_ms));
            }
            Ok(())
        }
        OutboxCommand::Deliver => {
            let stats = deliver_team(ctx, config, env.now_ms)?;
            report_team_pass(env, &stats, ctx)
        }
        OutboxCommand::Retry { ids } => {
            let n = ctx
                .rt
                .block_on(ctx.team.outbox_retry(&ids, env.now_ms))
                .map_err(CliError::from)?
                .len();
            let _ = writeln!(env.out, "{n} entr{} back in the queue", plural_y(n));
            let stats = deliver_team(ctx, config, env.now_ms)?;
            report_team_pass(env, &stats, ctx)
        }
        OutboxCommand::Drop { ids } => {
            let n = ctx
                .rt
                .block_on(ctx.team.outbox_drop(&ids, env.now_ms))
                .map_err(CliError::from)?;
            let _ = writeln!(env.out, "{n} entr{} dropped", plural_y(n));
            Ok(())
        }
    }
}

/// One delivery pass over the team's outbox, then the replica pulled so this analyst sees
/// the tickets and history lines the pass wrote.
pub(super) fn deliver_team(
    ctx: &mut super::team::TeamCtx,
    config: &Config,
    now: EpochMs,
) -> Result<PassStats, CliError> {
    deliver_team_on(&mut ctx.store, &ctx.team, ctx.rt.handle(), config, now)
}

/// [`deliver_team`] on its parts: a decision command holds the replica and the team store
/// apart (the recorder borrows the latter).
fn deliver_team_on(
    store: &mut Store,
    team: &crate::store::team::TeamStore,
    rt: &tokio::runtime::Handle,
    config: &Config,
    now: EpochMs,
) -> Result<PassStats, CliError> {
    let mut queue = crate::team::TeamOutbox::new(team.clone(), &config.actor())
        .delivering_siem(crate::dispatch::siem::destinations(&config.siem));
    let mut dispatcher = Dispatcher::new(config);
    let stats = rt
        .block_on(worker::deliver_due(
            &mut queue,
            &mut dispatcher,
            worker::wall_clock_ms,
            10_000,
        ))
        .map_err(|e| CliError::runtime(e.to_string()))?;
    rt.block_on(crate::team::pull(store, team, now))
        .map_err(|e| CliError::runtime(e.to_string()))?;
    Ok(stats)
}

fn report_team_pass(
    env: &mut Env<'_>,
    s: &PassStats,
    ctx: &super::team::TeamCtx,
) -> Result<(), CliError> {
    let depth = ctx.rt.block_on(ctx.team.outbox_depth())?;
    let waiting = if s.failed > 0 || s.retrying > 0 {
        ctx.rt
            .block_on(
                ctx.team
                    .outbox_list(&[OutboxState::Failed, OutboxState::Pending], 5),
            )
            .map_err(CliError::from)?
    } else {
        Vec::new()
    };
    report_lines(env, s, depth, &waiting)
}

fn plural_y(n: usize) -> &'static str {
    if n == 1 { "y" } else { "ies" }
}

fn clean_row(r: &OutboxRow) -> serde_json::Value {
    let mut f = sanitize::Findings::default();
    let v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
    sanitize::json(&v, &mut f)
}

fn row_line(r: &OutboxRow, now: EpochMs) -> String {
    let when = match r.state {
        OutboxState::Pending if r.next_attempt_at > now => {
            format!("next try in {}s", (r.next_attempt_at - now + 999) / 1000)
        }
        OutboxState::Pending => "due now".to_string(),
        s => s.as_str().to_string(),
    };
    let mut line = format!(
        "#{:<5} {:<8} {:<14} {:<28} {:<11} attempts {:<3} {}",
        r.id,
        r.state.as_str(),
        r.kind.as_str(),
        sanitize::one_line(&r.destination),
        sanitize::one_line(r.alert_id.as_deref().unwrap_or("-")),
        r.attempts,
        when
    );
    if let Some(res) = &r.result {
        line.push_str(&format!("  → {}", sanitize::one_line(res)));
    }
    if let Some(e) = &r.last_error {
        line.push_str(&format!("  ({})", sanitize::one_line(e)));
    }
    line
}
