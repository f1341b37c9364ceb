//! Opening, scoring and listing the store: shared by `list` and the commands that answer
//! with a list (`ask`), so those modules import it rather than each other.

use super::env::{CliError, Env, io_err, open_store};
use super::{ListArgs, ListFormat, render, triage};
use crate::config::Config;
use crate::domain::{EpochMs, SortKey};
use crate::paths::Paths;
use crate::store::team::{TeamStore, TeamTarget};
use crate::store::{ListRequest, QueueCount, QueueRow, Store};
use crate::triage::query::{self, Query};

/// Give the store the config's scoring model and bring stored scores up to date with it.
pub(super) fn scored(
    mut store: Store,
    config: &Config,
    now_ms: EpochMs,
) -> Result<Store, CliError> {
    store.set_scoring(config.scoring.clone());
    store
        .ensure_scored(now_ms)
        .map_err(|e| CliError::runtime(e.to_string()))?;
    store.set_owners(config.owners.rules.clone());
    store
        .ensure_owners()
        .map_err(|e| CliError::runtime(e.to_string()))?;
    Ok(store)
}

/// Open the store for reading: a database that does not exist yet is an error that says
/// how to fill it, not a silently created empty file.
pub(super) fn open_existing(paths: &Paths) -> Result<Store, CliError> {
    if !paths.db.exists() {
        return Err(CliError::input(format!(
            "no database at {} yet; import alerts first (sitrep import --vendor V FILE)",
            paths.db.display()
        )));
    }
    open_store(paths)
}

pub(super) fn parse_filter(text: &str) -> Result<Query, CliError> {
    query::parse(text).map_err(|e| CliError::input(format!("bad filter: {e}")))
}

pub(super) fn sort_key(arg: Option<&str>, config: &Config) -> Result<SortKey, CliError> {
    match arg {
        Some(s) => SortKey::parse(s).ok_or_else(|| {
            CliError::input(format!(
                "--sort '{s}': unknown field; expected one of {}",
                SortKey::NAMES.join(", ")
            ))
        }),
        None => Ok(config.sort),
    }
}

pub(super) fn list(
    a: ListArgs,
    paths: &Paths,
    config: &Config,
    team: Option<&TeamTarget>,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let filter_text = a.filter.clone().unwrap_or_else(|| config.filter.clone());
    // `mine` / `assignee:me`: the configured analyst.
    let filter = parse_filter(&filter_text)?.with_analyst(&config.actor());
    let sort = sort_key(a.sort.as_deref(), config)?;
    if a.limit == Some(0) {
        return Err(CliError::input("--limit 0: the limit must be at least 1"));
    }
    let req = ListRequest {
        filter: Some(&filter),
        include_closed: a.all || filter.decides_statuses(),
        sort,
        limit: a.limit.unwrap_or(config.limit),
        offset: 0,
        now_ms: env.now_ms,
    };
    if a.direct {
        let Some(target) = team else {
            return Err(CliError::input(
                "--direct reads the team store: set [store] url or SITREP_DATABASE_URL (docs/team.md)",
            ));
        };
        if a.groups {
            return Err(CliError::input(
                "--groups reads the replica (correlation runs there); drop --direct",
            ));
        }
        return list_direct(&a, &req, target, env);
    }
    if team.is_some() && !paths.db.exists() {
        // Team mode, and this machine has not pulled the team store yet: importing is not
        // the way in.
        return Err(CliError::input(format!(
            "no replica of the team store at {} yet: `sitrep list --direct` reads the team \
             store itself; `sitrep sync` or the console fills the replica",
            paths.db.display()
        )));
    }
    let store = scored(open_existing(paths)?, config, env.now_ms)?;
    if a.groups {
        let groups = store.list_groups(&req).map_err(store_err)?;
        return match a.format {
            ListFormat::Table if groups.is_empty() => {
                writeln!(env.out, "No alerts match.").map_err(io_err)
            }
            ListFormat::Table => env
                .out
                .write_all(triage::groups_table(&groups, env.width).as_bytes())
                .map_err(io_err),
            ListFormat::Json => {
                serde_json::to_writer_pretty(&mut *env.out, &render::json_value(&groups))
                    .map_err(|e| io_err(e.into()))?;
                writeln!(env.out).map_err(io_err)
            }
            ListFormat::Csv => Err(CliError::input(
                "--groups prints a table or JSON (--format table|json); CSV is per alert",
            )),
        };
    }
    // Exact for the default queue, status/vendor/severity filters and one tag or account
    // with them (kept counts); other filters stop counting at 10,000 ("10,000+"), or 5,000
    // when text drives the count. Counted before the page, which then reads the store's
    // memory of this count instead of counting again to choose its plan.
    let matching = match a.format {
        ListFormat::Table => Some(
            store
                .count_upto(&req, req.count_cap(10_000))
                .map_err(store_err)?,
        ),
        _ => None,
    };
    let rows = store.list(&req).map_err(store_err)?;
    print_rows(
        &a,
        &rows,
        matching,
        &filter,
        || store.total().map_err(store_err),
        env,
    )
}

/// `list --direct`: the page (and, for the table, the count) read from the team store.
fn list_direct(
    a: &ListArgs,
    req: &ListRequest<'_>,
    target: &TeamTarget,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let rt = super::env::runtime()?;
    // A refused filter is named as on the replica (`store_err`); the rest as every team
    // command names them (an unreachable or misspelt store is the user's to fix).
    let team_err = |e: crate::store::team::TeamError| match e {
        crate::store::team::TeamError::Invalid(m) => CliError::input(format!("bad filter: {m}")),
        other => CliError::from(other),
    };
    let team = rt.block_on(TeamStore::connect(target)).map_err(team_err)?;
    let unmapped = rt.block_on(team.unmapped_count()).map_err(team_err)?;
    if unmapped > 0 {
        eprintln!(
            "sitrep: {unmapped} alert(s) in the team store predate its queue columns and list \
             with empty fields until a publisher that holds them publishes (docs/team.md)"
        );
    }
    let matching = match a.format {
        ListFormat::Table => Some(
            rt.block_on(team.queue_count_upto(req, 10_000))
                .map_err(team_err)?,
        ),
        _ => None,
    };
    let rows = rt.block_on(team.queue_list(req)).map_err(team_err)?;
    let filter = req.filter.cloned().unwrap_or_default();
    let total = || {
        rt.block_on(team.alert_count())
            .map(|n| n.max(0) as usize)
            .map_err(team_err)
    };
    print_rows(a, &rows, matching, &filter, total, env)
}

/// A listing's rows as the table (with how many matched), JSON or CSV.
fn print_rows(
    a: &ListArgs,
    rows: &[QueueRow],
    matching: Option<QueueCount>,
    filter: &Query,
    total: impl FnOnce() -> Result<usize, CliError>,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    match a.format {
        ListFormat::Table => {
            if rows.is_empty() {
                let total = total()?;
                writeln!(
                    env.out,
                    "No alerts match{}. ({} in the store; --all includes closed ones.)",
                    if filter.is_empty() {
                        " the active queue"
                    } else {
                        " the filter"
                    },
                    total
                )
                .map_err(io_err)?;
                return Ok(());
            }
            env.out
                .write_all(render::table(rows, env.now_ms, env.width).as_bytes())
                .map_err(io_err)?;
            if let Some(matching) = matching.filter(|m| m.n > rows.len() || !m.exact) {
                writeln!(
                    env.out,
                    "… {} of {} shown (use --limit)",
                    rows.len(),
                    matching
                )
                .map_err(io_err)?;
            }
        }
        ListFormat::Json => {
            let v = render::json_value(&rows);
            serde_json::to_writer_pretty(&mut *env.out, &v).map_err(|e| io_err(e.into()))?;
            writeln!(env.out).map_err(io_err)?;
        }
        ListFormat::Csv => {
            writeln!(env.out, "{}", render::CSV_HEADER).map_err(io_err)?;
            for r in rows {
                writeln!(env.out, "{}", render::csv_row(r)).map_err(io_err)?;
            }
        }
    }
    Ok(())
}

pub(super) fn store_err(e: crate::store::StoreError) -> CliError {
    match e {
        crate::store::StoreError::Invalid(m) => CliError::input(format!("bad filter: {m}")),
        other => CliError::runtime(other.to_string()),
    }
}

/// The alerts an id given on the command line may mean: the id itself, a REF from `sitrep
/// list`, a prefix, or a native id under any vendor's source.
pub(super) fn id_candidates(store: &Store, id: &str) -> Result<Vec<String>, CliError> {
    if store.get(id).map_err(store_err)?.is_some() {
        return Ok(vec![id.to_string()]);
    }
    if let Ok(n) = id.parse::<i64>()
        && let Some(found) = store.id_by_ref(n).map_err(store_err)?
    {
        return Ok(vec![found]);
    }
    let mut candidates = store.ids_like(id, 6).map_err(store_err)?;
    if candidates.is_empty() && !id.contains(':') {
        for v in crate::domain::Vendor::ALL {
            candidates.extend(
                store
                    .ids_like(&format!("{}:{id}", v.as_str()), 6)
                    .map_err(store_err)?,
            );
        }
        candidates.retain(|c| c.split_once(':').is_some_and(|(_, n)| n == id));
    }
    Ok(candidates)
}
