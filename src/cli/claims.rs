//! `sitrep claim`, `sitrep release` and `sitrep next`: claims on the team store
//! (docs/team.md, "Claims"). Each talks to PostgreSQL, then pulls so this analyst's replica
//! shows the change.
//!
//! Exit codes beyond the usual: 3 when the team said no — `next` found no alert to hand
//! out, or a claim / release was refused because another analyst holds the alert.

use clap::{Args, ValueEnum};

use super::env::{CliError, Env, io_err};
use super::render::json_value;
use super::team::{TeamCtx, connect};
use crate::config::Config;
use crate::domain::EpochMs;
use crate::paths::Paths;
use crate::sanitize::one_line;
use crate::store::Store;
use crate::store::team::{
    ClaimOutcome, ClaimRow, ReleaseOutcome, TeamTarget, claim_clock as clock,
};

/// The exit code for "the team said no" (nothing left, or held by someone else).
pub const EXIT_REFUSED: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClaimFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The alert id (`<source>:<native id>`); a unique prefix, native id or REF also works
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    pub id: Option<String>,
    /// Why (kept with the claim; required with --take-over)
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Take the alert from the analyst who holds it (needs --note)
    #[arg(long, conflicts_with = "list")]
    pub take_over: bool,
    /// How long the claim lasts, 1m to 7d (default: [store] claim_ttl, 2h)
    #[arg(long, value_name = "DURATION", conflicts_with = "list")]
    pub ttl: Option<String>,
    /// List the claims that hold now instead
    #[arg(long)]
    pub list: bool,
    /// With --list: only this analyst's claims
    #[arg(long, requires = "list")]
    pub mine: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ClaimFormat,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The alert id (`<source>:<native id>`); a unique prefix, native id or REF also works
    pub id: String,
    /// Why (kept in the alert's history)
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// Hand out up to N alerts (each claimed in its own transaction)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub count: usize,
    /// How long each claim lasts, 1m to 7d (default: [store] claim_ttl, 2h)
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ClaimFormat,
}

pub fn claim(
    a: ClaimArgs,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let ttl = ttl_ms(a.ttl.as_deref(), config)?;
    let target = team_target(config)?;
    let actor = config.actor();
    let mut ctx = connect(paths, config, &target, env.now_ms)?;
    if a.list {
        return list(&ctx, a.mine.then_some(actor.as_str()), a.format, env);
    }
    let given = a.id.as_deref().unwrap_or_default();
    let id = resolve(&ctx.store, given)?;
    let outcome = ctx
        .rt
        .block_on(
            ctx.team
                .claim(&id, &actor, env.now_ms, ttl, a.note.as_deref(), a.take_over),
        )
        .map_err(CliError::from)?;
    match outcome {
        ClaimOutcome::Refused { holder, until } => Err(CliError {
            code: EXIT_REFUSED,
            message: format!(
                "{} is claimed by {} until {}; --take-over --note TEXT takes it over",
                one_line(&id),
                one_line(&holder),
                clock(until, env.now_ms)
            ),
        }),
        ClaimOutcome::Claimed {
            state,
            took_over_from,
            extended,
        } => {
            let until = clock(state.claim_until.unwrap_or_default(), env.now_ms);
            let line = match (took_over_from, extended) {
                (Some(prev), _) => format!(
                    "{}: taken over from {}, yours until {until}",
                    one_line(&id),
                    one_line(&prev)
                ),
                (None, true) => format!("{}: claim extended until {until}", one_line(&id)),
                (None, false) => format!("{}: claimed until {until}", one_line(&id)),
            };
            writeln!(env.out, "{line}").map_err(io_err)?;
            refresh(&mut ctx, env.now_ms);
            Ok(())
        }
    }
}

pub fn release(
    a: ReleaseArgs,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let target = team_target(config)?;
    let mut ctx = connect(paths, config, &target, env.now_ms)?;
    let id = resolve(&ctx.store, &a.id)?;
    let outcome = ctx
        .rt
        .block_on(
            ctx.team
                .release(&id, &config.actor(), env.now_ms, a.note.as_deref()),
        )
        .map_err(CliError::from)?;
    match outcome {
        ReleaseOutcome::Refused { holder, until } => Err(CliError {
            code: EXIT_REFUSED,
            message: format!(
                "{} is claimed by {} until {}; only they can release it (or claim --take-over)",
                one_line(&id),
                one_line(&holder),
                clock(until, env.now_ms)
            ),
        }),
        ReleaseOutcome::NotClaimed => writeln!(
            env.out,
            "{}: not claimed; nothing to release",
            one_line(&id)
        )
        .map_err(io_err),
        ReleaseOutcome::Released { holder, .. } => {
            if holder == config.actor() {
                writeln!(env.out, "{}: released", one_line(&id)).map_err(io_err)?;
            } else {
                writeln!(
                    env.out,
                    "{}: released {}'s lapsed claim",
                    one_line(&id),
                    one_line(&holder)
                )
                .map_err(io_err)?;
            }
            refresh(&mut ctx, env.now_ms);
            Ok(())
        }
    }
}

pub fn next(
    a: NextArgs,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    if a.count == 0 {
        return Err(CliError::input("--count 0: hand out at least 1"));
    }
    let ttl = ttl_ms(a.ttl.as_deref(), config)?;
    let target = team_target(config)?;
    let actor = config.actor();
    let mut ctx = connect(paths, config, &target, env.now_ms)?;
    let mut handed = Vec::new();
    for _ in 0..a.count {
        // One transaction per alert: each is claimed (and visible to the team) as soon as
        // it is handed out, and a failure part-way keeps the ones already taken.
        match ctx.rt.block_on(ctx.team.next(&actor, env.now_ms, ttl)) {
            Ok(Some(state)) => handed.push(state),
            Ok(None) => break,
            Err(e) if handed.is_empty() => return Err(e.into()),
            Err(e) => {
                eprintln!(
                    "sitrep: stopped after {} alert(s): {}",
                    handed.len(),
                    one_line(&e.to_string())
                );
                break;
            }
        }
    }
    if !handed.is_empty() {
        refresh(&mut ctx, env.now_ms);
    }
    // Scores as the team store orders them (the publisher's), read back in one query.
    let scores: std::collections::HashMap<String, f64> = ctx
        .rt
        .block_on(ctx.team.claims(Some(&actor), env.now_ms))
        .map(|rows| rows.into_iter().map(|r| (r.id, r.score)).collect())
        .unwrap_or_default();
    let rows: Vec<serde_json::Value> = handed
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "score": scores.get(&s.id).copied(),
                "title": title(&ctx.store, &s.id),
                "claim_until": s.claim_until,
            })
        })
        .collect();
    match a.format {
        ClaimFormat::Json => {
            let text = serde_json::to_string_pretty(&json_value(&rows))
                .map_err(|e| CliError::runtime(e.to_string()))?;
            writeln!(env.out, "{text}").map_err(io_err)?;
        }
        ClaimFormat::Table => {
            for (s, r) in handed.iter().zip(&rows) {
                let score = r["score"]
                    .as_f64()
                    .map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
                writeln!(
                    env.out,
                    "{:<40} {:>5}  {}",
                    one_line(&s.id),
                    score,
                    one_line(r["title"].as_str().unwrap_or("-"))
                )
                .map_err(io_err)?;
            }
        }
    }
    if handed.is_empty() {
        return Err(CliError {
            code: EXIT_REFUSED,
            message: "no open unclaimed alert left to hand out (alerts you released are \
                      skipped by next; claim them by id)"
                .into(),
        });
    }
    if handed.len() < a.count {
        eprintln!(
            "sitrep: handed out {} of {}: no open unclaimed alert left",
            handed.len(),
            a.count
        );
    }
    Ok(())
}

fn list(
    ctx: &TeamCtx,
    actor: Option<&str>,
    format: ClaimFormat,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let rows = ctx
        .rt
        .block_on(ctx.team.claims(actor, env.now_ms))
        .map_err(CliError::from)?;
    match format {
        ClaimFormat::Json => {
            let out: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("title".into(), title(&ctx.store, &r.id).into());
                    }
                    v
                })
                .collect();
            let text = serde_json::to_string_pretty(&json_value(&out))
                .map_err(|e| CliError::runtime(e.to_string()))?;
            writeln!(env.out, "{text}").map_err(io_err)
        }
        ClaimFormat::Table => {
            if rows.is_empty() {
                return writeln!(env.out, "no claims hold now").map_err(io_err);
            }
            for r in &rows {
                writeln!(env.out, "{}", list_line(r, &ctx.store, env.now_ms)).map_err(io_err)?;
            }
            Ok(())
        }
    }
}

fn list_line(r: &ClaimRow, store: &Store, now: EpochMs) -> String {
    let mut line = format!(
        "{:<40} {:<16} until {:<22} {}",
        one_line(&r.id),
        one_line(&r.claimed_by),
        clock(r.claim_until, now),
        one_line(title(store, &r.id).as_deref().unwrap_or("-"))
    );
    if let Some(n) = &r.note {
        line.push_str(&format!("  ({})", one_line(n)));
    }
    line
}

/// The alert's title as the replica maps it (None: not pulled yet).
fn title(store: &Store, id: &str) -> Option<String> {
    store.get(id).ok().flatten().map(|a| a.alert.title)
}

/// Pull again so the replica shows the change. The change itself is committed; a failed
/// pull only delays what this replica shows, so it is a note, not a failure.
fn refresh(ctx: &mut TeamCtx, now: EpochMs) {
    if let Err(e) = ctx
        .rt
        .block_on(crate::team::pull(&mut ctx.store, &ctx.team, now))
    {
        eprintln!(
            "sitrep: note: the local replica was not refreshed: {}",
            one_line(&e.to_string())
        );
    }
}

fn team_target(config: &Config) -> Result<TeamTarget, CliError> {
    super::team::target(config)?.ok_or_else(|| {
        CliError::input(
            "claims need a team store: set [store] url or SITREP_DATABASE_URL (docs/team.md)",
        )
    })
}

/// `--ttl`, else `[store] claim_ttl`, in milliseconds.
fn ttl_ms(arg: Option<&str>, config: &Config) -> Result<i64, CliError> {
    let d = match arg {
        None => config.store.claim_ttl,
        Some(t) => crate::config::duration::parse_duration(t)
            .filter(|d| d.as_secs() >= 60 && d.as_secs() <= 7 * 86_400)
            .ok_or_else(|| {
                CliError::input(format!(
                    "--ttl '{}': give a duration from 1m to 168h (like 30m or 2h)",
                    one_line(t)
                ))
            })?,
    };
    i64::try_from(d.as_millis()).map_err(|_| CliError::input("--ttl: too long"))
}

/// An id as given, a REF from `sitrep list`, or a unique id prefix, via the replica; text
/// the replica does not know goes to the team store as it is (which names it if unknown).
fn resolve(store: &Store, given: &str) -> Result<String, CliError> {
    let given = given.trim();
    if given.is_empty() {
        return Err(CliError::input("give an alert id"));
    }
    // Not in the replica yet (it may lag the team): the team store decides.
    let mut found = super::listing::id_candidates(store, given)?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Ok(given.to_string()),
        _ => Err(CliError::input(format!(
            "'{}' matches several alerts; give more of the id",
            one_line(given)
        ))),
    }
}
