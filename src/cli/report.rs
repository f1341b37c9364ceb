//! `sitrep report`: the shift hand-off in Markdown — what was triaged, what awaits approval,
//! tickets opened, hot alerts still open, and what the outbox still owes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::env::{AtomicFile, CliError, Env};
use crate::config::Config;
use crate::dispatch::approve;
use crate::domain::{EpochMs, SortKey};
use crate::present::{age, iso};
use crate::sanitize::markdown_cell as cell;
use crate::store::{ListRequest, OutboxState, Store, StoreError};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The shift's start: 12h, 8h, 1d ago, or a date / time (default 12h; with --compliance,
    /// alerts seen since then, default all)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// How many hot open alerts to list
    #[arg(long, default_value_t = 10)]
    pub hot: usize,
    /// Write the report to this file (atomically) instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Compliance evidence for a framework instead of the shift hand-off: pci-dss, hipaa,
    /// soc2, cis, nist-800-53 or iso-27001 (docs/compliance.md)
    #[arg(long, value_name = "FRAMEWORK")]
    pub compliance: Option<String>,
    /// md or html (html: compliance reports only; default md, or html for an -o FILE.html)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<ReportFormat>,
    /// Only alerts in this cloud account (compliance reports)
    #[arg(long, value_name = "ACCOUNT", requires = "compliance")]
    pub account: Option<String>,
    /// Only alerts with this tag, KEY or KEY=VALUE (compliance reports)
    #[arg(long, value_name = "TAG", requires = "compliance")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
}

/// `12h` / `2d` ago, or an absolute date or time.
fn parse_since(s: &str, now: EpochMs) -> Result<EpochMs, CliError> {
    let t = s.trim();
    if let Some(d) = t
        .strip_suffix('d')
        .and_then(|n| n.trim().parse::<i64>().ok())
    {
        return Ok(now - d.saturating_mul(86_400_000));
    }
    if let Some(d) = crate::config::sources::parse_duration(t) {
        return Ok(now - d.as_millis() as i64);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(dt) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(dt.and_utc().timestamp_millis());
    }
    crate::sources::json::parse_time(t).ok_or_else(|| {
        CliError::input(format!(
            "--since '{}': use 12h, 1d or a date like 2026-11-30",
            crate::sanitize::one_line(t)
        ))
    })
}

/// What a shift report says about the team (team mode only).
pub(super) enum TeamShift {
    /// Not in team mode, or a compliance report.
    None,
    Online(Box<super::team::TeamCtx>),
    /// The team store could not be reached: the report is the replica's, as last pulled.
    Offline {
        label: String,
        reason: String,
    },
}

pub(super) fn report(
    a: ReportArgs,
    store: &mut Store,
    config: &Config,
    paths: &crate::paths::Paths,
    team: &TeamShift,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let format = a.format.unwrap_or_else(|| {
        let html = a
            .output
            .as_ref()
            .and_then(|p| p.extension())
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
        if html && a.compliance.is_some() {
            ReportFormat::Html
        } else {
            ReportFormat::Md
        }
    });
    let (text, what, done) = match &a.compliance {
        Some(name) => {
            let (text, done) = compliance(&a, name, format, store, config, paths, env)?;
            (text, "compliance report", Some(done))
        }
        None => {
            if format == ReportFormat::Html {
                return Err(CliError::input(
                    "--format html is for compliance reports (--compliance FRAMEWORK); the shift report is Markdown",
                ));
            }
            let since = parse_since(a.since.as_deref().unwrap_or("12h"), env.now_ms)?;
            let mut text = build(store, config, since, env.now_ms, a.hot)
                .map_err(|e| CliError::runtime(e.to_string()))?;
            match team {
                TeamShift::None => {}
                TeamShift::Online(ctx) => {
                    let shift = ctx
                        .rt
                        .block_on(ctx.team.shift(since, TEAM_LINES))
                        .map_err(|e| CliError::runtime(e.to_string()))?;
                    text.push_str(
                        &team_section(store, &ctx.team.label(), &shift)
                            .map_err(|e| CliError::runtime(e.to_string()))?,
                    );
                }
                TeamShift::Offline { label, reason } => {
                    text.push_str(&format!(
                        "\n## Team\n\nThe team store {} could not be reached ({}). This report \
                         is this machine's replica as it was last pulled: teammates' decisions \
                         since then are not in it, and the per-analyst table needs the team \
                         store. Run `sitrep report` again when it is back.\n",
                        cell(label),
                        cell(reason)
                    ));
                }
            }
            (text, "shift report", None)
        }
    };
    match &a.output {
        Some(p) => {
            let mut f = AtomicFile::create(p)?;
            if let Err(e) = f.file.write_all(text.as_bytes()) {
                f.abort();
                return Err(CliError::runtime(format!(
                    "cannot write {}: {e}",
                    p.display()
                )));
            }
            f.commit()?;
            eprintln!("wrote the {what} to {}", p.display());
        }
        None => {
            let _ = env.out.write_all(text.as_bytes());
        }
    }
    if let Some((req, report)) = done {
        super::compliance::record(store, &req, &report)
            .map_err(|e| CliError::runtime(e.to_string()))?;
    }
    Ok(())
}

/// `--compliance FRAMEWORK`: the evidence report's text (docs/compliance.md), and what
/// [`super::compliance::record`] keeps once it is written.
fn compliance(
    a: &ReportArgs,
    name: &str,
    format: ReportFormat,
    store: &mut Store,
    config: &Config,
    paths: &crate::paths::Paths,
    env: &Env<'_>,
) -> Result<
    (
        String,
        (super::compliance::Request, super::compliance::Report),
    ),
    CliError,
> {
    let framework = framework(name)?;
    let since = a
        .since
        .as_deref()
        .map(|s| parse_since(s, env.now_ms))
        .transpose()?;
    let tag = a
        .tag
        .as_deref()
        .map(super::compliance::parse_tag)
        .transpose()?;
    let mut words = Vec::new();
    if let (Some(s), Some(t)) = (&a.since, since) {
        words.push(format!("alerts seen since {} (--since {s})", iso(t)));
    }
    if let Some(acc) = &a.account {
        words.push(format!("account {acc}"));
    }
    if let Some((k, v)) = &tag {
        words.push(match v {
            Some(v) => format!("tag {k}={v}"),
            None => format!("tag {k}"),
        });
    }
    let scope_text = if words.is_empty() {
        "every alert in the store".to_string()
    } else {
        words.join(", ")
    };
    // Keyed by what was typed (`--since 30d`, not the time it resolved to), so the next
    // report of the same scope finds this one's counts.
    let scope_key = serde_json::json!({
        "since": a.since,
        "account": a.account,
        "tag": tag,
    })
    .to_string();
    let req = super::compliance::Request {
        framework,
        scope: crate::store::ComplianceScope {
            since,
            account: a.account.clone(),
            tag,
        },
        scope_key,
        scope_text,
        now: env.now_ms,
        data_dir: paths.data_dir.clone(),
    };
    let report = super::compliance::gather(store, config, &req)
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let text = match format {
        ReportFormat::Md => super::compliance::markdown(&report),
        ReportFormat::Html => super::compliance::html(&report),
    };
    Ok((text, (req, report)))
}

/// The report's Markdown.
pub fn build(
    store: &Store,
    config: &Config,
    since: EpochMs,
    now: EpochMs,
    hot: usize,
) -> Result<String, StoreError> {
    let mut md = String::new();
    let line = |md: &mut String, s: String| {
        md.push_str(&s);
        md.push('\n');
    };
    line(&mut md, "# Shift hand-off".into());
    line(&mut md, String::new());
    line(
        &mut md,
        format!(
            "{} → {} (UTC), prepared by {}",
            iso(since),
            iso(now),
            cell(&config.actor())
        ),
    );
    line(&mut md, String::new());

    // Triaged: the analysts' own entries (status changes, notes, approvals, tickets).
    let history = store.history_since(since)?;
    let mine: Vec<_> = history
        .iter()
        .filter(|(_, h)| h.actor != "sitrep")
        .collect();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for (_, h) in &mine {
        if h.kind == "status"
            && let Some(to) = &h.to_status
        {
            *by_status.entry(to.clone()).or_default() += 1;
        }
    }
    let alerts: std::collections::BTreeSet<&String> = mine.iter().map(|(id, _)| id).collect();
    line(&mut md, "## Summary".into());
    line(&mut md, String::new());
    let counts = if by_status.is_empty() {
        "no status changes".to_string()
    } else {
        by_status
            .iter()
            .map(|(k, v)| format!("{v} {}", k.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    line(
        &mut md,
        format!(
            "- {} decision(s) on {} alert(s): {counts}",
            mine.len(),
            alerts.len()
        ),
    );

    // Awaiting approval: the latest diff of every alert with approval records.
    let approvals = store.approvals_since(0)?;
    let mut per_alert: BTreeMap<&str, Vec<crate::store::ApprovalRow>> = BTreeMap::new();
    for r in &approvals {
        per_alert.entry(&r.alert_id).or_default().push(r.clone());
    }
    let mut waiting = Vec::new();
    for (alert_id, rows) in &per_alert {
        let Some(last) = rows.last() else { continue };
        let policy = crate::dispatch::decide::approval_policy(store, config, alert_id, now);
        if let approve::State::Pending {
            requester,
            approvers,
            need,
        } = approve::state(rows, &last.diff_sha256, &policy)
        {
            waiting.push((alert_id.to_string(), requester, approvers, need, last.at));
        }
    }
    let tickets: Vec<_> = store
        .tickets(false)?
        .into_iter()
        .filter(|t| t.at >= since)
        .collect();
    let depth = store.outbox_depth()?;
    line(&mut md, format!("- {} awaiting approval", waiting.len()));
    line(
        &mut md,
        format!(
            "- {} ticket(s) opened, {} linked",
            tickets.iter().filter(|t| t.created).count(),
            tickets.iter().filter(|t| !t.created).count()
        ),
    );
    line(
        &mut md,
        format!(
            "- outbox: {} pending ({} retrying), {} failed",
            depth.pending, depth.retrying, depth.failed
        ),
    );
    line(&mut md, String::new());

    line(&mut md, "## Triaged".into());
    line(&mut md, String::new());
    if mine.is_empty() {
        line(&mut md, "Nothing was triaged in this window.".into());
    } else {
        line(
            &mut md,
            "| When | Alert | Title | Decision | By | Reason / note |".into(),
        );
        line(&mut md, "|---|---|---|---|---|---|".into());
        for (id, h) in &mine {
            let title = store
                .get(id)?
                .map(|a| a.alert.title.clone())
                .unwrap_or_default();
            let decision = match (h.kind.as_str(), &h.to_status) {
                ("status", Some(to)) => to.replace('_', " "),
                (k, _) => k.replace('_', " "),
            };
            let why = [h.reason.as_deref(), h.note.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" — ");
            line(
                &mut md,
                format!(
                    "| {} | `{}` | {} | {} | {} | {} |",
                    iso(h.at),
                    cell(id).replace('`', "'"),
                    vendor_cell(&title, 60),
                    cell(&decision),
                    cell(&h.actor),
                    cell(&truncate(&why, 80))
                ),
            );
        }
    }
    line(&mut md, String::new());

    line(&mut md, "## Awaiting approval".into());
    line(&mut md, String::new());
    if waiting.is_empty() {
        line(&mut md, "No remediation is waiting for approval.".into());
    } else {
        line(
            &mut md,
            "| Alert | Title | Requested by | Approvals | Since |".into(),
        );
        line(&mut md, "|---|---|---|---|---|".into());
        for (id, requester, approvers, need, at) in &waiting {
            let title = store
                .get(id)?
                .map(|a| a.alert.title.clone())
                .unwrap_or_default();
            line(
                &mut md,
                format!(
                    "| `{}` | {} | {} | {}/{need} {} | {} |",
                    cell(id).replace('`', "'"),
                    vendor_cell(&title, 60),
                    cell(requester.as_deref().unwrap_or("-")),
                    approvers.len(),
                    cell(&approvers.join(", ")),
                    age(now, *at)
                ),
            );
        }
    }
    line(&mut md, String::new());

    line(&mut md, "## Tickets".into());
    line(&mut md, String::new());
    if tickets.is_empty() {
        line(
            &mut md,
            "No ticket was opened or linked in this window.".into(),
        );
    } else {
        line(
            &mut md,
            "| Ticket | System | Status | Opened or linked |".into(),
        );
        line(&mut md, "|---|---|---|---|".into());
        for t in &tickets {
            line(
                &mut md,
                format!(
                    "| {} | {} | {} | {} {} |",
                    cell(&t.key),
                    cell(&t.system),
                    cell(t.status.as_deref().unwrap_or("unknown")),
                    if t.created { "opened" } else { "linked" },
                    iso(t.at)
                ),
            );
        }
    }
    line(&mut md, String::new());

    line(&mut md, "## Hot alerts still open".into());
    line(&mut md, String::new());
    let filter = crate::triage::query::parse("sev:>=high").ok();
    let rows = store.list(&ListRequest {
        filter: filter.as_ref(),
        include_closed: false,
        sort: SortKey::Score,
        limit: hot,
        offset: 0,
        now_ms: now,
    })?;
    if rows.is_empty() {
        line(&mut md, "No high or critical alert is open.".into());
    } else {
        line(
            &mut md,
            "| Score | Severity | Vendor | Title | Resource | Age | Status | Ticket |".into(),
        );
        line(&mut md, "|---|---|---|---|---|---|---|---|".into());
        for r in &rows {
            line(
                &mut md,
                format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.score,
                    r.severity.as_str(),
                    cell(&r.vendor),
                    vendor_cell(&r.title, 60),
                    vendor_cell(r.resource.as_deref().unwrap_or("-"), 40),
                    r.first_seen.map(|t| age(now, t)).unwrap_or_default(),
                    cell(&r.status),
                    cell(r.ticket.as_deref().unwrap_or("-"))
                ),
            );
        }
    }
    line(&mut md, String::new());

    line(&mut md, "## Outbox".into());
    line(&mut md, String::new());
    let owed = store.outbox_list(&[OutboxState::Pending, OutboxState::Failed], 50)?;
    if owed.is_empty() {
        line(&mut md, "Every decision has been delivered.".into());
    } else {
        line(
            &mut md,
            "| # | State | Kind | Destination | Alert | Attempts | Last error |".into(),
        );
        line(&mut md, "|---|---|---|---|---|---|---|".into());
        for r in &owed {
            line(
                &mut md,
                format!(
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    r.id,
                    r.state.as_str(),
                    r.kind.as_str(),
                    cell(&r.destination),
                    cell(r.alert_id.as_deref().unwrap_or("-")),
                    r.attempts,
                    cell(&truncate(r.last_error.as_deref().unwrap_or("-"), 100))
                ),
            );
        }
    }
    Ok(md)
}

/// Team lines the report lists at most (the counts cover them all).
const TEAM_LINES: usize = 500;

/// The shift across the team's analysts (team mode only): per analyst counts, then who did
/// what, oldest first. Titles come from this analyst's replica.
fn team_section(
    store: &Store,
    label: &str,
    shift: &crate::store::team::TeamShift,
) -> Result<String, StoreError> {
    let mut md = String::from("\n## Team\n\n");
    md.push_str(&format!(
        "Every analyst on the team store {}.\n\n",
        cell(label)
    ));
    if shift.analysts.is_empty() {
        md.push_str("Nobody on the team decided anything in this window.\n");
        return Ok(md);
    }
    md.push_str("| Analyst | Decisions | Lines | By kind |\n|---|---|---|---|\n");
    for a in &shift.analysts {
        let lines: i64 = a.by_kind.values().sum();
        let kinds = a
            .by_kind
            .iter()
            .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(", ");
        md.push_str(&format!(
            "| {} | {} | {lines} | {} |\n",
            cell(&a.actor),
            a.decisions,
            cell(&kinds)
        ));
    }
    md.push_str(
        "\n| When | Alert | Title | What | By | Reason / note |\n|---|---|---|---|---|---|\n",
    );
    for l in &shift.lines {
        let title = store
            .get(&l.alert_id)?
            .map(|a| a.alert.title.clone())
            .unwrap_or_default();
        let why = [l.reason.as_deref(), l.note.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" — ");
        md.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} |\n",
            iso(l.at),
            cell(&l.alert_id).replace('`', "'"),
            vendor_cell(&title, 60),
            cell(&l.kind.replace('_', " ")),
            cell(&l.actor),
            cell(&truncate(&why, 80))
        ));
    }
    if shift.more {
        md.push_str(&format!(
            "\nOnly the first {} lines are listed; the counts above cover them all.\n",
            shift.lines.len()
        ));
    }
    Ok(md)
}

/// A vendor value in a table cell: cut to `max`, and quoted and marked (`«…» [suspicious
/// text]`) when it reads like an instruction to a model or a reader, so a hostile resource
/// name reads as data in the hand-off too.
fn vendor_cell(s: &str, max: usize) -> String {
    if crate::narrate::hostile::suspicious(s).is_some() {
        cell(&crate::narrate::hostile::quoted(s, max))
    } else {
        cell(&truncate(s, max))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `--compliance NAME` as a framework, or the one-line error naming the accepted ones (checked
/// before the store is opened, so a typo is named even where no database exists yet).
pub(super) fn framework(name: &str) -> Result<crate::triage::compliance::Framework, CliError> {
    use crate::triage::compliance::Framework;
    Framework::parse(name).ok_or_else(|| {
        CliError::input(format!(
            "--compliance '{}': unknown framework; use one of {}",
            crate::sanitize::one_line(name),
            Framework::accepted()
        ))
    })
}
