//! The headless commands.

use std::io::{IsTerminal, Write};

use super::env::{
    AtomicFile, CliError, Env, configured, io_err, open_store, runtime, write_private,
};
use super::listing::{id_candidates, list, open_existing, parse_filter, scored, store_err};
use super::render;
use super::{
    Cli, Command, ConfigCommand, ExportArgs, ExportFormat, NarrateArgs, ShowArgs, ShowFormat,
    SimArgs, SyncArgs, triage,
};
use crate::config::{self, Config};
use crate::domain::{EpochMs, Vendor};
use crate::paths::Paths;
use crate::sanitize;
use crate::store::{ListRequest, Store};

/// Run one parsed command line.
pub fn run(cli: Cli, env: &mut Env<'_>) -> Result<(), CliError> {
    let explicit_db = cli.db.clone();
    let mut paths =
        Paths::resolve(cli.db, cli.config).map_err(|e| CliError::input(e.to_string()))?;
    let Some(command) = cli.command else {
        let config = Config::load(&paths.config, paths.config_explicit)
            .map_err(|e| CliError::input(e.to_string()))?;
        let team = super::team::use_replica(&mut paths, &config, explicit_db.is_some())?;
        return super::console::console(&paths, &config, team, cli.readonly);
    };
    if let Command::Demo(a) = command {
        return super::console::demo(a, explicit_db, &paths, cli.readonly);
    }
    if cli.readonly {
        // Refused rather than ignored: whoever asked for read-only must not get a write.
        return Err(CliError::input(
            "--readonly applies to the console only (sitrep, sitrep demo); leave it out of headless commands",
        ));
    }
    if let Command::Config(c) = &command {
        return config_cmd(c, &paths, env);
    }
    if let Command::Sim(a) = command {
        return sim(a, env);
    }
    if let Command::Completions(a) = &command {
        // Needs neither a config nor a database: shells source it at start-up.
        use clap::CommandFactory as _;
        // Generated into memory first: clap_complete panics on a failed write (a closed
        // pipe, `| head`), where every other command reports the error.
        let mut script = Vec::new();
        clap_complete::generate(a.shell, &mut Cli::command(), "sitrep", &mut script);
        return env.out.write_all(&script).map_err(io_err);
    }
    let config = Config::load(&paths.config, paths.config_explicit)
        .map_err(|e| CliError::input(e.to_string()))?;
    if let Command::Store(c) = command {
        // Before the replica takes --db's place: `store copy` reads the analyst's own cache.
        return super::store_cmd::store_cmd(c, &paths, &config, env);
    }
    // Team mode: every command below reads and writes this analyst's replica.
    let team = super::team::use_replica(&mut paths, &config, explicit_db.is_some())?;
    match command {
        Command::Import(a) => {
            let now_ms = env.now_ms;
            // Keyed: statuses that follow the vendor's close are audited with the import.
            let open = || {
                audited(
                    scored(open_store(&paths)?, &config, now_ms)?,
                    &config,
                    &paths,
                )
            };
            super::import::import(a, env, &open)
        }
        Command::List(a) => list(a, &paths, &config, team.as_ref(), env),
        Command::Show(a) => show(a, &paths, &config, env),
        Command::Export(a) => export(a, &paths, &config, env),
        Command::Sync(a) => sync(a, &paths, &config, team.as_ref(), env),
        Command::Listen(a) => {
            let now_ms = env.now_ms;
            super::listen::listen(a, &config, &|| pushed_into(&paths, &config, now_ms), env)
        }
        Command::Source(c) => super::source::source_cmd(c, &paths, &config, env),
        Command::Intel(c) => {
            let mut store = scored(open_store(&paths)?, &config, env.now_ms)?;
            triage::intel_cmd(c, &mut store, &config, env)
        }
        Command::Suppress(c) => {
            let mut store = scored(open_existing(&paths)?, &config, env.now_ms)?;
            triage::suppress_cmd(c, &mut store, &config, env)
        }
        Command::Narrate(a) => narrate(a, &paths, &config, env),
        Command::Ask(a) => super::ask::ask(a, &paths, &config, env),
        Command::Mark(a) => decide(&paths, &config, team.as_ref(), env, |s, r, env| {
            super::decisions::mark(a, s, r, &config, env)
        }),
        Command::Note(a) => decide(&paths, &config, team.as_ref(), env, |s, r, env| {
            super::decisions::note(a, s, r, &config, env)
        }),
        Command::Approve(a) => decide(&paths, &config, team.as_ref(), env, |s, r, env| {
            super::decisions::approve(a, s, r, &config, env)
        }),
        Command::Reject(a) => decide(&paths, &config, team.as_ref(), env, |s, r, env| {
            super::decisions::reject(a, s, r, &config, env)
        }),
        Command::Ticket(a) => decide(&paths, &config, team.as_ref(), env, |s, r, env| {
            super::decisions::ticket(a, s, r, &config, env)
        }),
        Command::Notify(a) => decide(&paths, &config, team.as_ref(), env, |s, r, env| {
            super::decisions::notify(a, s, r, &config, env)
        }),
        Command::Pr(a) => decide(&paths, &config, team.as_ref(), env, |s, r, env| {
            super::pr::pr(a, s, r, &config, env)
        }),
        Command::Report(a) => {
            if let Some(name) = &a.compliance {
                super::report::framework(name)?;
            }
            // Team mode: the replica pulled up to date, and the team's shift across analysts;
            // with the team store away, the replica as last pulled, saying so.
            let shift = match (&team, &a.compliance) {
                (Some(t), None) => match super::team::link(&paths, &config, t, env.now_ms)? {
                    super::team::Link::Online(ctx) => super::report::TeamShift::Online(ctx),
                    super::team::Link::Offline { reason, .. } => {
                        eprintln!("sitrep: {}", sanitize::one_line(&reason));
                        super::report::TeamShift::Offline {
                            label: t.label(),
                            reason,
                        }
                    }
                },
                _ => super::report::TeamShift::None,
            };
            let mut store = scored(open_existing(&paths)?, &config, env.now_ms)?;
            super::report::report(a, &mut store, &config, &paths, &shift, env)
        }
        Command::Outbox(c) => {
            // Team mode: the team's shared outbox, not this replica's.
            if let Some(target) = &team {
                let mut ctx = super::team::connect(&paths, &config, target, env.now_ms)?;
                return super::decisions::team_outbox_cmd(c, &mut ctx, &config, env);
            }
            let mut store = for_decisions(&paths, &config, env.now_ms)?;
            super::decisions::outbox_cmd(c, &mut store, &config, env)
        }
        Command::Audit(c) => super::audit::audit_cmd(c, &paths, &config, team.as_ref(), env),
        Command::Team(c) => super::team::team_cmd(c, &paths, &config, team.as_ref(), env),
        Command::Claim(a) => super::claims::claim(a, &paths, &config, env),
        Command::Release(a) => super::claims::release(a, &paths, &config, env),
        Command::Next(a) => super::claims::next(a, &paths, &config, env),
        Command::Config(_)
        | Command::Sim(_)
        | Command::Demo(_)
        | Command::Completions(_)
        | Command::Store(_) => Ok(()),
    }
}

/// Run a decision command: on this store (SQLite mode), or in team mode on the replica with
/// the decision journaled and sent to the team store — or journaled only, with the replica
/// as it was last pulled, when the team store cannot be reached.
fn decide(
    paths: &Paths,
    config: &Config,
    team: Option<&crate::store::team::TeamTarget>,
    env: &mut Env<'_>,
    f: impl FnOnce(
        &mut Store,
        &mut crate::dispatch::recorder::Recorder<'_>,
        &mut Env<'_>,
    ) -> Result<(), CliError>,
) -> Result<(), CliError> {
    use crate::dispatch::recorder::Recorder;
    let Some(target) = team else {
        let mut store = for_decisions(paths, config, env.now_ms)?;
        return f(&mut store, &mut Recorder::Local, env);
    };
    match super::team::link(paths, config, target, env.now_ms)? {
        super::team::Link::Online(ctx) => {
            let mut store = audited(scored(ctx.store, config, env.now_ms)?, config, paths)?;
            f(
                &mut store,
                &mut Recorder::Team {
                    team: Some(&ctx.team),
                    rt: ctx.rt.handle(),
                },
                env,
            )
        }
        super::team::Link::Offline { rt, reason } => {
            if !paths.db.exists() {
                return Err(CliError::runtime(format!(
                    "{reason}; and there is no replica of the team store at {} yet to record on",
                    paths.db.display()
                )));
            }
            eprintln!("sitrep: {}", sanitize::one_line(&reason));
            let mut store = for_decisions(paths, config, env.now_ms)?;
            f(
                &mut store,
                &mut Recorder::Team {
                    team: None,
                    rt: rt.handle(),
                },
                env,
            )
        }
    }
}

/// The store a decision command works on: an existing database, scores up to date, and the
/// audit key set so every decision and delivery is recorded in the audit log.
fn for_decisions(paths: &Paths, config: &Config, now_ms: EpochMs) -> Result<Store, CliError> {
    audited(
        scored(open_existing(paths)?, config, now_ms)?,
        config,
        paths,
    )
}

/// The store `sitrep listen` upserts into: scored, and keyed like an import's (statuses that
/// follow a vendor's close are audited).
fn pushed_into(paths: &Paths, config: &Config, now_ms: EpochMs) -> Result<Store, CliError> {
    audited(scored(open_store(paths)?, config, now_ms)?, config, paths)
}

/// Give the store the audit key: its decisions and deliveries are then recorded in the
/// hash-chained audit log (a key is generated on first use, docs/audit.md).
fn audited(mut store: Store, config: &Config, paths: &Paths) -> Result<Store, CliError> {
    let key = crate::audit::AuditKey::load(&config.audit, &paths.data_dir)
        .map_err(|e| CliError::input(e.to_string()))?;
    // Audit entries from here on (also those the key lets the store write at once) are
    // owed to the configured SIEMs (docs/siem.md).
    store
        .set_siem_destinations(&crate::dispatch::siem::names(&config.siem))
        .map_err(store_err)?;
    store.set_audit_key(key);
    Ok(store)
}

/// Exact id, else a REF from the table, else a unique native id or id prefix.
fn resolve_id(store: &Store, id: &str) -> Result<String, CliError> {
    let id = id.trim();
    let mut candidates = id_candidates(store, id)?;
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => Err(CliError::input(format!(
            "no alert with id '{}' (ids look like wiz:ISSUE-ID; see sitrep list)",
            sanitize::one_line(id)
        ))),
        _ => Err(CliError::input(format!(
            "'{}' matches several alerts: {}{}",
            sanitize::one_line(id),
            candidates
                .iter()
                .take(5)
                .map(|c| sanitize::one_line(c))
                .collect::<Vec<_>>()
                .join(", "),
            if candidates.len() > 5 { ", …" } else { "" }
        ))),
    }
}

fn show(a: ShowArgs, paths: &Paths, config: &Config, env: &mut Env<'_>) -> Result<(), CliError> {
    let store = scored(open_existing(paths)?, config, env.now_ms)?;
    let id = resolve_id(&store, &a.id)?;
    let stored = store.get(&id).map_err(store_err)?.ok_or_else(|| {
        CliError::input(format!("no alert with id '{}'", sanitize::one_line(&id)))
    })?;
    if a.diff {
        let rem = crate::remediate::propose(&stored.alert, &config.iac);
        let out = match a.format {
            ShowFormat::Text => {
                use std::io::IsTerminal;
                let color = crate::highlight::use_color(
                    std::io::stdout().is_terminal(),
                    std::env::var_os("NO_COLOR").as_deref(),
                );
                render::remediation_text(&id, &rem, color)
            }
            ShowFormat::Json => {
                let mut s = serde_json::to_string_pretty(&render::remediation_json(&id, &rem))
                    .map_err(|e| io_err(e.into()))?;
                s.push('\n');
                s
            }
        };
        return env.out.write_all(out.as_bytes()).map_err(io_err);
    }
    let score = store
        .score_breakdown(&id, &config.scoring)
        .map_err(store_err)?
        .unwrap_or_default();
    let attack_paths = store.attack_paths_for(&id).map_err(store_err)?;
    let muted = store.suppression_of(&id).map_err(store_err)?;
    match a.format {
        ShowFormat::Text => {
            let mut text = crate::present::show_text(&stored, env.now_ms);
            text.push_str(&triage::score_text(&score));
            for p in &attack_paths {
                text.push_str(&triage::path_text(p));
            }
            if let Some(m) = &muted {
                let state = match m.expires_at {
                    Some(e) if e <= env.now_ms => "lapsed; resurfaced",
                    _ => "muted",
                };
                text.push_str(&format!(
                    "\nSuppression #{} ({state}): {} — by {}\n",
                    m.id,
                    sanitize::one_line(&m.reason),
                    sanitize::one_line(&m.author)
                ));
            }
            env.out.write_all(text.as_bytes()).map_err(io_err)
        }
        ShowFormat::Json => {
            let mut v = render::json_value(&stored);
            if let Some(o) = v.as_object_mut() {
                o.insert("score".into(), render::json_value(&score));
                o.insert("attack_paths".into(), render::json_value(&attack_paths));
                o.insert("suppression".into(), render::json_value(&muted));
            }
            serde_json::to_writer_pretty(&mut *env.out, &v).map_err(|e| io_err(e.into()))?;
            writeln!(env.out).map_err(io_err)
        }
    }
}

fn export(
    a: ExportArgs,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let filter_text = a.filter.clone().unwrap_or_else(|| config.filter.clone());
    let filter = parse_filter(&filter_text)?.with_analyst(&config.actor());
    let store = scored(open_existing(paths)?, config, env.now_ms)?;
    let req = ListRequest {
        filter: Some(&filter),
        include_closed: !a.active,
        sort: config.sort,
        limit: usize::MAX >> 1,
        offset: 0,
        now_ms: env.now_ms,
    };
    let rows = store.list(&req).map_err(store_err)?;
    let mut file = match &a.output {
        Some(p) => Some(AtomicFile::create(p)?),
        None => None,
    };
    let result = (|| -> Result<(), CliError> {
        let out: &mut dyn Write = match file.as_mut() {
            Some(f) => &mut f.file,
            None => &mut *env.out,
        };
        match a.format {
            ExportFormat::Markdown => out
                .write_all(render::markdown(&rows, &filter_text, env.now_ms).as_bytes())
                .map_err(io_err),
            ExportFormat::Csv => {
                writeln!(out, "{}", render::CSV_HEADER).map_err(io_err)?;
                for r in &rows {
                    writeln!(out, "{}", render::csv_row(r)).map_err(io_err)?;
                }
                Ok(())
            }
            ExportFormat::Json => {
                // Full alerts, streamed one at a time.
                out.write_all(b"[\n").map_err(io_err)?;
                for (i, r) in rows.iter().enumerate() {
                    let Some(s) = store.get(&r.id).map_err(store_err)? else {
                        continue;
                    };
                    if i > 0 {
                        out.write_all(b",\n").map_err(io_err)?;
                    }
                    serde_json::to_writer(&mut *out, &render::json_value(&s))
                        .map_err(|e| io_err(e.into()))?;
                }
                out.write_all(b"\n]\n").map_err(io_err)
            }
            ExportFormat::Sarif => {
                // Runs group results by vendor, so the alerts are read in full first.
                let mut alerts = Vec::with_capacity(rows.len());
                for r in &rows {
                    if let Some(s) = store.get(&r.id).map_err(store_err)? {
                        alerts.push(s);
                    }
                }
                let log = super::sarif::log(&alerts, &config.iac);
                serde_json::to_writer_pretty(&mut *out, &log).map_err(|e| io_err(e.into()))?;
                out.write_all(b"\n").map_err(io_err)
            }
        }
    })();
    match (result, file) {
        (Ok(()), Some(f)) => {
            f.commit()?;
            if let Some(p) = &a.output {
                eprintln!("wrote {} alert(s) to {}", rows.len(), p.display());
            }
            Ok(())
        }
        (Ok(()), None) => Ok(()),
        (Err(e), Some(f)) => {
            f.abort();
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

fn config_cmd(c: &ConfigCommand, paths: &Paths, env: &mut Env<'_>) -> Result<(), CliError> {
    match c {
        ConfigCommand::Init { force } => {
            if paths.config.exists() && !force {
                return Err(CliError::input(format!(
                    "{} already exists; pass --force to overwrite it",
                    paths.config.display()
                )));
            }
            if let Some(dir) = paths.config.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    CliError::runtime(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            write_private(&paths.config, config::TEMPLATE.as_bytes()).map_err(|e| {
                CliError::runtime(format!("cannot write {}: {e}", paths.config.display()))
            })?;
            writeln!(env.out, "wrote {}", paths.config.display()).map_err(io_err)
        }
        ConfigCommand::Check => {
            let exists = paths.config.exists();
            let cfg = Config::load(&paths.config, paths.config_explicit)
                .map_err(|e| CliError::input(e.to_string()))?;
            if exists {
                writeln!(env.out, "config   {} (ok)", paths.config.display()).map_err(io_err)?;
            } else {
                writeln!(
                    env.out,
                    "config   {} (not present: built-in defaults)",
                    paths.config.display()
                )
                .map_err(io_err)?;
            }
            writeln!(env.out, "database {}", paths.db.display()).map_err(io_err)?;
            writeln!(env.out, "analyst  {}", cfg.actor()).map_err(io_err)?;
            if let Some(e) = crate::dispatch::score_back::check(&cfg).into_iter().next() {
                return Err(CliError::input(e));
            }
            check_credentials(&cfg, env)
        }
        ConfigCommand::SetSecret { entry } => {
            let entry = config::keyring::KeyringEntry::parse(entry).map_err(CliError::input)?;
            let secret = read_secret(&entry)?;
            config::keyring::store(&entry, &secret).map_err(CliError::runtime)?;
            writeln!(
                env.out,
                "stored keyring entry {entry} in {}; use it as {{ keyring = \"{entry}\" }}",
                config::keyring::backend_name()
            )
            .map_err(io_err)
        }
    }
}

/// One line per source credential: where it comes from and whether it is there (never its
/// value). Any credential that cannot be found fails the check (exit 2).
fn check_credentials(cfg: &Config, env: &mut Env<'_>) -> Result<(), CliError> {
    let mut missing = 0;
    // "ok", or why not (counted as missing); never the value.
    let mut state =
        |cred: &crate::config::CredentialRef| match cred.resolve(&|v| std::env::var(v).ok()) {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                missing += 1;
                format!("MISSING: {e}")
            }
        };
    for s in &cfg.sources {
        for (key, cred) in &s.credentials {
            let state = state(cred);
            writeln!(
                env.out,
                "source   {} credential {key}: {} ({state})",
                s.name,
                cred.describe()
            )
            .map_err(io_err)?;
        }
    }
    // The HEC tokens of [[siem]] tables, the same way (docs/siem.md).
    for d in &cfg.siem {
        if let crate::config::siem::SiemKind::Hec(h) = &d.kind {
            let state = state(&h.token);
            writeln!(
                env.out,
                "siem     {} token: {} ({state})",
                d.name,
                h.token.describe()
            )
            .map_err(io_err)?;
        }
    }
    if missing > 0 {
        return Err(CliError::input(format!(
            "{missing} credential(s) cannot be found; see the lines above"
        )));
    }
    Ok(())
}

/// The secret for `set-secret`: typed without echo on a terminal, else all of stdin (one
/// trailing newline dropped).
fn read_secret(entry: &config::keyring::KeyringEntry) -> Result<config::Secret, CliError> {
    let secret = if std::io::stdin().is_terminal() {
        read_hidden(&format!("secret for {entry}: "))?
    } else {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::input(format!("cannot read the secret from stdin: {e}")))?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string()
    };
    if secret.trim().is_empty() {
        return Err(CliError::input("the secret is empty; nothing stored"));
    }
    if secret.contains(['\n', '\r']) {
        return Err(CliError::input(
            "the secret spans several lines; give one line (a trailing newline is fine)",
        ));
    }
    Ok(config::Secret::new(secret))
}

/// Read one line from the terminal with echo off (raw mode), prompting on stderr.
fn read_hidden(prompt: &str) -> Result<String, CliError> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use ratatui::crossterm::terminal;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let term_err = |e: std::io::Error| CliError::runtime(format!("cannot read the terminal: {e}"));
    terminal::enable_raw_mode().map_err(term_err)?;
    let mut secret = String::new();
    let outcome = loop {
        match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    break Err(CliError::input("cancelled; nothing stored"));
                }
                KeyCode::Char(c) => secret.push(c),
                KeyCode::Backspace => {
                    secret.pop();
                }
                KeyCode::Esc => break Err(CliError::input("cancelled; nothing stored")),
                _ => {}
            },
            Ok(_) => {}
            Err(e) => break Err(term_err(e)),
        }
    };
    let _ = terminal::disable_raw_mode();
    eprintln!();
    outcome.map(|()| secret)
}

fn sync(
    a: SyncArgs,
    paths: &Paths,
    config: &Config,
    team: Option<&crate::store::team::TeamTarget>,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    if config.sources.is_empty() {
        return Err(CliError::input(format!(
            "no [[source]] tables in {}; add one (docs/vendors.md), or try `sitrep sim --vendor wiz`, which prints a ready one",
            paths.config.display()
        )));
    }
    let mut chosen = Vec::new();
    for name in &a.source {
        match config.source(name) {
            Some(s) => chosen.push(s.clone()),
            None => {
                return Err(CliError::input(format!(
                    "--source '{}': no such source; configured: {}",
                    sanitize::one_line(name),
                    configured(config)
                )));
            }
        }
    }
    if chosen.is_empty() {
        chosen = config.sources.clone();
    }
    // Credentials first: a missing variable is a config error, reported before any request.
    for s in &chosen {
        for key in crate::config::sources::required_credentials(s.vendor) {
            s.secret(key).map_err(CliError::input)?;
        }
    }
    // The audit key too: a bad key file fails here, not after the sync's work is done. It is
    // given to the store only for the outbox pass below.
    let key = crate::audit::AuditKey::load(&config.audit, &paths.data_dir)
        .map_err(|e| CliError::input(e.to_string()))?;
    // Team mode: one refresher per source for the whole team. The sources another sitrep
    // leads are not fetched here; their results come with the pull.
    let (rt, team, leases) = match team {
        None => (runtime()?, None, Vec::new()),
        Some(target) => {
            let ctx = super::team::connect(paths, config, target, env.now_ms)?;
            let holder = crate::team::holder_name(&config.actor());
            let mut leases = Vec::new();
            let mut mine = Vec::new();
            for s in chosen {
                let leading = ctx
                    .rt
                    .block_on(crate::team::lead_source(
                        &ctx.team, &s.name, &holder, env.now_ms,
                    ))
                    .map_err(|e| CliError::runtime(e.to_string()))?;
                match leading {
                    crate::team::Leading::Lead(lease) => {
                        leases.push(lease);
                        mine.push(s);
                    }
                    crate::team::Leading::Elsewhere(who) => {
                        let by = match &who {
                            Some(r) => format!(
                                "{} (since {})",
                                sanitize::one_line(&r.holder),
                                crate::present::iso(r.since)
                            ),
                            None => "another sitrep".into(),
                        };
                        writeln!(
                            env.out,
                            "source {} is refreshed for the team by {by}; pulling its results instead",
                            s.name
                        )
                        .map_err(io_err)?;
                    }
                }
            }
            chosen = mine;
            (ctx.rt, Some(ctx.team), leases)
        }
    };
    let store = std::sync::Arc::new(std::sync::Mutex::new(scored(
        open_store(paths)?,
        config,
        env.now_ms,
    )?));
    let now = env.now_ms;
    let full = a.full;
    let tty = std::io::stderr().is_terminal();
    let reports = rt.block_on(async {
        // Every source at once, each in its own task.
        let mut set = tokio::task::JoinSet::new();
        for (i, cfg) in chosen.iter().cloned().enumerate() {
            let store = store.clone();
            set.spawn(async move {
                let progress: crate::sources::sync::ProgressFn =
                    std::sync::Arc::new(move |p: &crate::sources::sync::Progress| {
                        if tty {
                            eprint!(
                                "\r\x1b[2K{}: page {}, {} alert(s)",
                                p.source, p.pages, p.alerts
                            );
                        }
                    });
                (
                    i,
                    crate::sources::sync::run(
                        crate::vendors::connect,
                        &cfg,
                        &store,
                        full,
                        now,
                        progress,
                    )
                    .await,
                )
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(r) = joined {
                out.push(r);
            }
        }
        // A task that died (a bug) still gets a line, not silence.
        for (i, cfg) in chosen.iter().enumerate() {
            if !out.iter().any(|(j, _)| *j == i) {
                out.push((
                    i,
                    crate::sources::sync::RunReport {
                        source: cfg.name.clone(),
                        stats: Default::default(),
                        error: Some(crate::sources::api::ApiError::Config(
                            "internal error: the sync task stopped unexpectedly".into(),
                        )),
                    },
                ));
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
    });
    if tty {
        eprint!("\r\x1b[2K");
    }
    let mut failed = Vec::new();
    for r in &reports {
        writeln!(env.out, "{}", r.line()).map_err(io_err)?;
        if let Some(e) = &r.error {
            failed.push(format!(
                "{} ({})",
                r.source,
                sanitize::one_line(&e.to_string())
            ));
        }
    }
    let total: usize = reports.iter().map(|r| r.stats.alerts).sum();
    writeln!(
        env.out,
        "synced {} source(s), {} alert(s); {} failed",
        reports.len(),
        total,
        failed.len()
    )
    .map_err(io_err)?;
    // The network is up for these sources: send what the outbox owes, and bring ticket
    // statuses back onto their alerts.
    if let Ok(mutex) = std::sync::Arc::try_unwrap(store) {
        let mut store = mutex
            .into_inner()
            .map_err(|_| CliError::runtime("internal error: the store lock was poisoned"))?;
        if let Some(team) = &team {
            // What this sync fetched goes up to the team, and the team's changes (the other
            // refreshers' included) come down; then the sources are free for others.
            let (published, pulled) = rt
                .block_on(async {
                    let published = crate::team::publish(&mut store, team).await?;
                    let pulled = crate::team::pull(&mut store, team, now).await?;
                    for lease in leases {
                        lease.release().await?;
                    }
                    Ok::<_, crate::team::LinkError>((published, pulled))
                })
                .map_err(|e| CliError::runtime(e.to_string()))?;
            writeln!(
                env.out,
                "team store {}: {published} alert(s) published, {pulled} pulled",
                team.label()
            )
            .map_err(io_err)?;
        }
        store
            .set_siem_destinations(&crate::dispatch::siem::names(&config.siem))
            .map_err(store_err)?;
        store.set_audit_key(key);
        let mut dispatcher = crate::dispatch::worker::Dispatcher::new(config);
        // Score bands that changed with this sync go out as vendor comments (score_back).
        let scores = crate::dispatch::score_back::queue(&mut store, config, env.now_ms)
            .map_err(store_err)?;
        if scores.queued > 0 {
            writeln!(
                env.out,
                "score back: {} comment(s) queued for changed score bands",
                scores.queued
            )
            .map_err(io_err)?;
        }
        let (pass, tickets, prs) = rt.block_on(async {
            let pass = crate::dispatch::worker::deliver_due(
                &mut store,
                &mut dispatcher,
                crate::dispatch::worker::wall_clock_ms,
                10_000,
            )
            .await;
            let tickets = crate::dispatch::worker::poll_tickets(&mut store, &mut dispatcher).await;
            let prs =
                crate::dispatch::worker::poll_pull_requests(&mut store, &mut dispatcher).await;
            (pass, tickets, prs)
        });
        let pass = pass.map_err(store_err)?;
        if pass.attempted() > 0 {
            let depth = store.outbox_depth().map_err(store_err)?;
            writeln!(
                env.out,
                "outbox: {} delivered, {} not supported, {} to retry, {} failed; {} pending",
                pass.delivered, pass.unsupported, pass.retrying, pass.failed, depth.pending
            )
            .map_err(io_err)?;
        }
        if let Ok((polled, changed)) = tickets
            && polled > 0
        {
            writeln!(
                env.out,
                "tickets: {polled} polled, {changed} changed status"
            )
            .map_err(io_err)?;
        }
        if let Ok((polled, changed)) = prs
            && polled > 0
        {
            writeln!(
                env.out,
                "pull requests: {polled} polled, {changed} changed state"
            )
            .map_err(io_err)?;
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::runtime(format!(
            "sync failed for {}",
            failed.join("; ")
        )))
    }
}

/// `sitrep narrate ID`: the narrative, headless. A cached model narrative is reused; a
/// model failure prints "narrative unavailable: <reason>" and the offline narrative.
fn narrate(
    a: NarrateArgs,
    paths: &Paths,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    use crate::narrate::{self, NarrateEvent, Narrator};
    let mut store = open_existing(paths)?;
    if !a.offline && config.llm.provider != crate::config::ProviderKind::None {
        // Model calls are audited (model, prompt and response hashes, outcome).
        let key = crate::audit::AuditKey::load(&config.audit, &paths.data_dir)
            .map_err(|e| CliError::input(e.to_string()))?;
        store
            .set_siem_destinations(&crate::dispatch::siem::names(&config.siem))
            .map_err(store_err)?;
        store.set_audit_key(key);
    }
    let id = resolve_id(&store, &a.id)?;
    let stored = store.get(&id).map_err(store_err)?.ok_or_else(|| {
        CliError::input(format!("no alert with id '{}'", sanitize::one_line(&id)))
    })?;
    let narrator = if a.offline {
        Narrator::offline()
    } else {
        Narrator::from_config(config).map_err(|e| CliError::input(e.to_string()))?
    };
    let cached = if a.refresh {
        None
    } else {
        narrator.cached(&store, &stored)
    };
    let n = match cached {
        Some(n) => n,
        None if narrator.is_offline() => narrate::offline_narrative(&stored),
        None => {
            let rt = runtime()?;
            let tty = std::io::stderr().is_terminal();
            let n = rt.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let task = narrator.narrate(&stored, tx);
                tokio::pin!(task);
                let mut received = 0usize;
                loop {
                    tokio::select! {
                        n = &mut task => break n,
                        Some(ev) = rx.recv() => {
                            if let NarrateEvent::Delta(d) = ev {
                                received += d.len();
                                if tty {
                                    eprint!("\r\x1b[2K{}: {} bytes received", narrator.label(), received);
                                }
                            }
                        }
                    }
                }
            });
            if tty {
                eprint!("\r\x1b[2K");
            }
            narrate::persist(&mut store, &narrator, &stored, &n, env.now_ms)
                .map_err(|e| CliError::runtime(e.to_string()))?;
            n
        }
    };
    match a.format {
        ShowFormat::Text => {
            let head = format!(
                "{} — {}\n",
                sanitize::one_line(&stored.id),
                sanitize::one_line(&stored.alert.title)
            );
            env.out.write_all(head.as_bytes()).map_err(io_err)?;
            env.out.write_all(n.to_text().as_bytes()).map_err(io_err)
        }
        ShowFormat::Json => {
            let mut v = serde_json::to_value(n.sanitized())
                .map_err(|e| CliError::runtime(format!("cannot encode narrative: {e}")))?;
            v["alert_id"] = serde_json::Value::String(stored.id.clone());
            v["narrator"] = serde_json::Value::String(if n.is_offline() {
                "offline narrator".into()
            } else {
                narrator.label()
            });
            serde_json::to_writer_pretty(&mut *env.out, &v).map_err(|e| io_err(e.into()))?;
            writeln!(env.out).map_err(io_err)
        }
    }
}

/// Until Ctrl-C or SIGTERM.
async fn until_stopped() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `sitrep sim --destination D`: a Jira, ServiceNow or chat simulator; the first line is JSON
/// with `destination`, `base_url`, `env` and `toml` (a ready config table naming those variables).
fn sim_destination(a: &SimArgs, env: &mut Env<'_>) -> Result<(), CliError> {
    use super::DestinationArg as D;
    use crate::sim::server::{chat, hec, jira, servicenow};
    let Some(dest) = a.destination else {
        return Err(CliError::input("give --vendor V or --destination D"));
    };
    let rt = runtime()?;
    let announce = |env: &mut Env<'_>,
                    name: &str,
                    base: &str,
                    vars: Vec<(String, String)>,
                    toml: String| {
        let vars: serde_json::Map<String, serde_json::Value> = vars
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        let line =
            serde_json::json!({ "destination": name, "base_url": base, "env": vars, "toml": toml });
        writeln!(env.out, "{line}").map_err(io_err)?;
        env.out.flush().map_err(io_err)?;
        eprintln!("sitrep: simulating {name} at {base}; Ctrl-C stops it");
        Ok::<(), CliError>(())
    };
    let err = |e: crate::sim::server::SimError| CliError::runtime(e.to_string());
    rt.block_on(async {
        match dest {
            D::Jira | D::JiraDataCenter => {
                let h = jira::start(jira::JiraSimOptions {
                    port: a.port,
                    seed: a.seed,
                    ..Default::default()
                })
                .await
                .map_err(err)?;
                let dc = dest == D::JiraDataCenter;
                let name = if dc { "jira-data-center" } else { "jira" };
                announce(env, name, &h.base_url, h.env(), h.tickets_toml(dc))?;
                until_stopped().await;
            }
            D::Servicenow => {
                let h = servicenow::start(servicenow::ServiceNowSimOptions {
                    port: a.port,
                    seed: a.seed,
                })
                .await
                .map_err(err)?;
                announce(
                    env,
                    "servicenow",
                    &h.base_url,
                    h.env(),
                    h.tickets_toml("incident"),
                )?;
                until_stopped().await;
            }
            D::Chat => {
                let h = chat::start(chat::ChatSimOptions {
                    port: a.port,
                    seed: a.seed,
                    latency: std::time::Duration::ZERO,
                })
                .await
                .map_err(err)?;
                announce(env, "chat", &h.base_url, h.env(), h.notify_toml())?;
                until_stopped().await;
            }
            D::Hec => {
                let h = hec::start(hec::HecSimOptions {
                    port: a.port,
                    seed: a.seed,
                    ack: true,
                    ack_after: 1,
                })
                .await
                .map_err(err)?;
                announce(
                    env,
                    "hec",
                    &h.base_url,
                    h.env(),
                    h.siem_toml("splunk", hec::TOKEN_ENV),
                )?;
                until_stopped().await;
            }
        }
        Ok(())
    })
}

fn sim(a: SimArgs, env: &mut Env<'_>) -> Result<(), CliError> {
    use crate::sim::server::{Faults, SimOptions};
    let faults = Faults::parse(&a.faults).map_err(|e| CliError::input(format!("--faults: {e}")))?;
    if a.alerts == 0 || a.alerts > 1_000_000 {
        return Err(CliError::input("--alerts: between 1 and 1000000"));
    }
    let Some(vendor_arg) = a.vendor else {
        return sim_destination(&a, env);
    };
    let vendor: Vendor = vendor_arg;
    let rt = runtime()?;
    rt.block_on(async {
        let opts = SimOptions {
            port: a.port,
            alerts: a.alerts,
            seed: a.seed,
            faults,
            now_ms: env.now_ms,
            source_name: a.name.clone(),
            tls: a.tls,
        };
        let handle = crate::vendors::sim::start(vendor, opts).await.map_err(|e| CliError::runtime(e.to_string()))?;
        writeln!(env.out, "{}", handle.announcement()).map_err(io_err)?;
        env.out.flush().map_err(io_err)?;
        eprintln!(
            "sitrep: simulating {} at {} with {} alerts (seed {}); Ctrl-C stops it",
            vendor.display_name(),
            handle.base_url,
            a.alerts,
            a.seed
        );
        let churn = async {
            if a.churn == 0 {
                std::future::pending::<()>().await;
            }
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(a.churn));
            tick.tick().await;
            loop {
                tick.tick().await;
                crate::vendors::sim::churn_state(
                    &handle.state,
                    (a.alerts / 50).max(1),
                    (a.alerts / 100).max(1),
                )
                .await;
            }
        };
        let stop = async {
            #[cfg(unix)]
            {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
        };
        tokio::select! {
            _ = churn => {}
            _ = stop => {}
        }
        handle.stop().await;
        Ok(())
    })
}
