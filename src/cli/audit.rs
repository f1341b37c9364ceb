//! `sitrep audit verify|export`.

use serde_json::{Value, json};

use super::env::{CliError, Env};
use super::{AuditCommand, AuditFormat};
use crate::audit::{self, AuditKey, HeadFile, StoredEntry};
use crate::config::Config;
use crate::paths::Paths;
use crate::sanitize;
use crate::store::Store;

fn out_err(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError {
            code: 0,
            message: String::new(),
        }
    } else {
        CliError::runtime(format!("cannot write output: {e}"))
    }
}

fn store_err(e: crate::store::StoreError) -> CliError {
    CliError::runtime(e.to_string())
}

pub fn audit_cmd(
    c: AuditCommand,
    paths: &Paths,
    config: &Config,
    team: Option<&crate::store::team::TeamTarget>,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    match (team, &c) {
        (Some(target), AuditCommand::Verify) => return verify_team(target, paths, config, env),
        (Some(target), AuditCommand::Export { format, since }) => {
            return export_team(target, *format, *since, env);
        }
        _ => {}
    }
    if !paths.db.exists() {
        // A deleted database is the largest truncation of all.
        if let Some(p) = audit::head_path(&paths.db)
            && let Ok(HeadFile::Present(h)) = audit::head::read(&p)
            && h.count > 0
        {
            return Err(CliError::runtime(format!(
                "audit log broken: the database {} is missing but its head file records {} entries",
                paths.db.display(),
                h.count
            )));
        }
        return Err(CliError::input(format!(
            "no database at {} yet",
            paths.db.display()
        )));
    }
    let store = Store::open(&paths.db).map_err(store_err)?;
    match c {
        AuditCommand::Verify => verify(store, paths, config, env),
        AuditCommand::Export { format, since } => export(&store, format, since, env),
    }
}

fn verify(
    mut store: Store,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let key = AuditKey::load_existing(&config.audit, &paths.data_dir)
        .map_err(|e| CliError::input(e.to_string()))?;
    let Some(key) = key else {
        let n = store.audit_count().map_err(store_err)?;
        let head = store.audit_head().map_err(store_err)?;
        if n == 0 && head == HeadFile::Missing {
            writeln!(env.out, "audit log ok: 0 entries").map_err(out_err)?;
            return Ok(());
        }
        return Err(CliError::input(format!(
            "no audit key: [audit] key is not set and {} does not exist, so the log ({n} entries) cannot be verified",
            paths.data_dir.join(audit::KEY_FILE).display()
        )));
    };
    store.set_audit_key(key);
    let report = store.audit_verify().map_err(store_err)?;
    if !report.is_ok() {
        return Err(CliError::runtime(report.to_string()));
    }
    writeln!(env.out, "{report}").map_err(out_err)?;
    Ok(())
}

/// Team mode: the team's one chain, with this analyst's key (the team's key).
fn verify_team(
    target: &crate::store::team::TeamTarget,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let rt = super::env::runtime()?;
    let team = rt
        .block_on(crate::store::team::TeamStore::connect(target))
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let key = AuditKey::load_existing(&config.audit, &paths.data_dir)
        .map_err(|e| CliError::input(e.to_string()))?;
    let Some(key) = key else {
        let n = rt
            .block_on(team.audit_count())
            .map_err(|e| CliError::runtime(e.to_string()))?;
        if n == 0 {
            writeln!(env.out, "audit log ok: 0 entries").map_err(out_err)?;
            return Ok(());
        }
        return Err(CliError::input(format!(
            "no audit key: [audit] key is not set and {} does not exist, so the team's log ({n} entries) cannot be verified",
            paths.data_dir.join(audit::KEY_FILE).display()
        )));
    };
    let report = rt
        .block_on(team.audit_verify(&key))
        .map_err(|e| CliError::runtime(e.to_string()))?;
    if !report.is_ok() {
        return Err(CliError::runtime(format!("team store: {report}")));
    }
    writeln!(env.out, "team store {}: {report}", team.label()).map_err(out_err)?;
    Ok(())
}

/// The stored detail as JSON with every string sanitized (kept as sanitized text when it
/// does not parse, which only a tampered row can cause).
fn detail_value(detail: &str) -> Value {
    match serde_json::from_str::<Value>(detail) {
        Ok(v) => sanitize::json(&v, &mut Default::default()),
        Err(_) => Value::String(sanitize::text(detail).into_owned()),
    }
}

fn entry_json(e: &StoredEntry) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "time": crate::present::iso(e.at),
        "actor": sanitize::one_line(&e.actor),
        "action": sanitize::one_line(&e.action),
        "subject": sanitize::one_line(&e.subject),
        "detail": detail_value(&e.detail),
        "prev_mac": sanitize::one_line(&e.prev_mac),
        "mac": sanitize::one_line(&e.mac),
    })
}

fn head_json(store: &Store) -> Result<Value, CliError> {
    let n = store.audit_count().map_err(store_err)?;
    let last = match n {
        0 => audit::canonical::GENESIS.to_string(),
        n => store
            .audit_entries(Some(n))
            .map_err(store_err)?
            .first()
            .map(|e| sanitize::one_line(&e.mac))
            .unwrap_or_default(),
    };
    let file = head_record_json(&store.audit_head().map_err(store_err)?);
    Ok(json!({ "head": { "entries": n, "mac": last }, "head_file": file }))
}

/// The keyed head record (the SQLite store's head file, the team store's `team_kv` row) as
/// an export's head line shows it.
fn head_record_json(head: &HeadFile) -> Value {
    match head {
        HeadFile::Present(h) => json!({
            "count": h.count,
            "mac": sanitize::one_line(&h.mac),
            "key_id": sanitize::one_line(&h.key_id),
            "head_mac": sanitize::one_line(&h.head_mac),
        }),
        HeadFile::Missing => Value::Null,
        HeadFile::Damaged(why) => json!({ "damaged": why }),
    }
}

fn export(
    store: &Store,
    format: AuditFormat,
    since: Option<i64>,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let head = head_json(store)?;
    write_export(format, head, env, |visit| {
        store
            .audit_for_each(since, |e| {
                visit(e).map_err(|()| crate::store::StoreError::Invalid("output closed".into()))
            })
            .map_err(|e| e.to_string())
    })
}

/// Team mode: the team's one chain, paged from the team store (1,000 entries at a time),
/// with the team's head record. Read-only: any role that may read the log may export it.
fn export_team(
    target: &crate::store::team::TeamTarget,
    format: AuditFormat,
    since: Option<i64>,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    const PAGE: usize = 1_000;
    let rt = super::env::runtime()?;
    let team = rt.block_on(crate::store::team::TeamStore::connect(target))?;
    // The head first: entries appended while we page only make the log longer than it says.
    let (n, last, record) = rt.block_on(team.audit_head())?;
    let head = json!({
        "head": { "entries": n, "mac": sanitize::one_line(&last) },
        "team_store": team.label(),
        "head_record": head_record_json(&record),
    });
    write_export(format, head, env, |visit| {
        let mut from = since.unwrap_or(1).max(1);
        while from <= n {
            let page = rt
                .block_on(team.audit_entries(from, PAGE))
                .map_err(|e| e.to_string())?;
            let Some(next) = page.last().map(|e| e.seq + 1) else {
                break;
            };
            for e in page.into_iter().take_while(|e| e.seq <= n) {
                if visit(e).is_err() {
                    return Err("output closed".into());
                }
            }
            from = next;
        }
        Ok(())
    })
}

/// Write the entries `each` visits in `format`, then `head` (the last JSON line, or the CSV's
/// `head` row). `each` stops early when a visit fails (the output closed).
fn write_export(
    format: AuditFormat,
    head: Value,
    env: &mut Env<'_>,
    each: impl FnOnce(&mut dyn FnMut(StoredEntry) -> Result<(), ()>) -> Result<(), String>,
) -> Result<(), CliError> {
    let out = &mut *env.out;
    let mut failed: Option<CliError> = None;
    if format == AuditFormat::Csv {
        writeln!(out, "seq,at,time,actor,action,subject,detail,prev_mac,mac").map_err(out_err)?;
    }
    let res = each(&mut |e| {
        let line = match format {
            AuditFormat::Jsonl => entry_json(&e).to_string(),
            AuditFormat::Csv => {
                let detail = audit::canonical::json(&detail_value(&e.detail));
                [
                    e.seq.to_string(),
                    e.at.to_string(),
                    crate::present::iso(e.at),
                    sanitize::csv_field(&e.actor),
                    sanitize::csv_field(&e.action),
                    sanitize::csv_field(&e.subject),
                    sanitize::csv_field(&detail),
                    sanitize::csv_field(&e.prev_mac),
                    sanitize::csv_field(&e.mac),
                ]
                .join(",")
            }
        };
        if let Err(err) = writeln!(out, "{line}") {
            failed = Some(out_err(err));
            return Err(());
        }
        Ok(())
    });
    if let Some(f) = failed {
        return Err(f);
    }
    res.map_err(|e| {
        CliError::runtime(format!(
            "{e} (the log may be damaged; run sitrep audit verify)"
        ))
    })?;
    match format {
        AuditFormat::Jsonl => writeln!(out, "{head}").map_err(out_err)?,
        AuditFormat::Csv => {
            // The last row is the head: seq "head", the entry count, the last mac.
            let entries = head["head"]["entries"].as_i64().unwrap_or(0);
            let mac = head["head"]["mac"].as_str().unwrap_or("");
            writeln!(out, "head,,,,head,{entries},,,{}", sanitize::csv_field(mac))
                .map_err(out_err)?;
        }
    }
    Ok(())
}
