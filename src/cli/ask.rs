//! `sitrep ask "…"`: a question in plain words → the filter it means (docs/ai.md, "Ask").
//!
//! Prints the filter, what it means, the words that were not understood and who answered;
//! with `--run`, then the alerts it matches, exactly as `sitrep list --filter` would. The
//! answer is only ever a filter: nothing here changes an alert.

use std::io::Write;

use clap::Args;

use super::env::{CliError, Env, io_err, open_store, runtime};
use super::listing::{list, open_existing, scored, sort_key};
use super::{ListArgs, ListFormat, render};
use crate::config::Config;
use crate::narrate::Narrator;
use crate::narrate::ask::{self as asking, Answer};
use crate::paths::Paths;
use crate::sanitize::one_line;
use crate::store::ListRequest;
use crate::triage::query;

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question, e.g. "critical runtime alerts on prod from the last 24 hours"
    #[arg(required = true, num_args = 1.., value_name = "QUESTION")]
    pub question: Vec<String>,
    /// Also list the alerts the filter matches (as `sitrep list --filter` does)
    #[arg(long)]
    pub run: bool,
    /// table (the default), json, or csv (csv needs --run: it prints the alerts)
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Use the offline translator even when a model is configured
    #[arg(long)]
    pub offline: bool,
    /// With --run: at most N rows
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
    /// With --run: the order (as `sitrep list --sort`)
    #[arg(long, value_name = "FIELD")]
    pub sort: Option<String>,
    /// With --run: include resolved, dismissed and snoozed alerts
    #[arg(long, short = 'a')]
    pub all: bool,
}

pub fn ask(a: AskArgs, paths: &Paths, config: &Config, env: &mut Env<'_>) -> Result<(), CliError> {
    let question = a.question.join(" ");
    if question.trim().is_empty() {
        return Err(CliError::input("ask: the question is empty"));
    }
    if a.format == ListFormat::Csv && !a.run {
        return Err(CliError::input(
            "--format csv prints the matching alerts; add --run (or use --format table|json)",
        ));
    }
    let use_model = !a.offline && config.llm.provider != crate::config::ProviderKind::None;
    let answer = if use_model {
        let narrator = Narrator::from_config(config).map_err(|e| CliError::input(e.to_string()))?;
        let answer = runtime()?.block_on(narrator.ask(&question));
        // Model calls are recorded and audited like a narrative's (the question may name
        // hosts and people: only its hash is kept).
        let mut store = open_store(paths)?;
        let key = crate::audit::AuditKey::load(&config.audit, &paths.data_dir)
            .map_err(|e| CliError::input(e.to_string()))?;
        store.set_audit_key(key);
        asking::persist(&mut store, &answer).map_err(|e| CliError::runtime(e.to_string()))?;
        answer
    } else {
        runtime()?.block_on(Narrator::offline().ask(&question))
    };
    // Both translators' filters parse; checked again here so a bad one is never run.
    query::parse(&answer.filter)
        .map_err(|e| CliError::runtime(format!("the answer's filter does not parse: {e}")))?;
    match a.format {
        ListFormat::Json => json(&a, &answer, &question, paths, config, env),
        ListFormat::Table => {
            write_answer(&mut *env.out, &answer).map_err(io_err)?;
            if !a.run {
                return writeln!(
                    env.out,
                    "\nrun it: sitrep list --filter '{}'",
                    one_line(&answer.filter).replace('\'', "'\\''")
                )
                .map_err(io_err);
            }
            writeln!(env.out).map_err(io_err)?;
            list(list_args(&a, &answer), paths, config, None, env)
        }
        ListFormat::Csv => {
            // The CSV on stdout stays clean; what the filter means goes to stderr.
            write_answer(&mut std::io::stderr(), &answer).map_err(io_err)?;
            list(list_args(&a, &answer), paths, config, None, env)
        }
    }
}

fn list_args(a: &AskArgs, answer: &Answer) -> ListArgs {
    ListArgs {
        filter: Some(answer.filter.clone()),
        format: a.format,
        limit: a.limit,
        sort: a.sort.clone(),
        groups: false,
        all: a.all,
        direct: false,
    }
}

fn write_answer(out: &mut dyn Write, answer: &Answer) -> std::io::Result<()> {
    let filter = if answer.filter.is_empty() {
        "(empty: the whole queue)".to_string()
    } else {
        one_line(&answer.filter)
    };
    writeln!(out, "filter: {filter}")?;
    writeln!(out, "means:  {}", one_line(&answer.explanation))?;
    if !answer.not_understood.is_empty() {
        let words: Vec<String> = answer.not_understood.iter().map(|w| one_line(w)).collect();
        writeln!(out, "not understood: {}", words.join(", "))?;
    }
    write!(out, "answered by: {}", answer.label())?;
    match &answer.unavailable {
        Some(why) => writeln!(
            out,
            " (the model's answer is unavailable: {})",
            one_line(why)
        ),
        None => writeln!(out),
    }
}

fn json(
    a: &AskArgs,
    answer: &Answer,
    question: &str,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let mut v = serde_json::json!({
        "question": one_line(question),
        "filter": one_line(&answer.filter),
        "explanation": one_line(&answer.explanation),
        "not_understood": answer.not_understood.iter().map(|w| one_line(w)).collect::<Vec<_>>(),
        "answered_by": answer.label(),
        "unavailable": answer.unavailable.as_deref().map(one_line),
    });
    if a.run {
        if a.limit == Some(0) {
            return Err(CliError::input("--limit 0: the limit must be at least 1"));
        }
        let filter = query::parse(&answer.filter)
            .map_err(|e| CliError::runtime(format!("the answer's filter does not parse: {e}")))?
            .with_analyst(&config.actor());
        let sort = sort_key(a.sort.as_deref(), config)?;
        let store = scored(open_existing(paths)?, config, env.now_ms)?;
        let req = ListRequest {
            filter: Some(&filter),
            include_closed: a.all || filter.decides_statuses(),
            sort,
            limit: a.limit.unwrap_or(config.limit),
            offset: 0,
            now_ms: env.now_ms,
        };
        let rows = store
            .list(&req)
            .map_err(|e| CliError::input(format!("bad filter: {e}")))?;
        v["alerts"] = render::json_value(&rows);
    }
    serde_json::to_writer_pretty(&mut *env.out, &v).map_err(|e| io_err(e.into()))?;
    writeln!(env.out).map_err(io_err)
}
