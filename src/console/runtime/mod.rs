//! The terminal side of the console: entering and leaving the terminal, the event loop, and
//! the threads and tasks that feed it.
//!
//! Keys (from a blocking reader thread), the refresher's state, a slow clock tick and worker
//! results all arrive on one channel as [`Msg`]s. After draining the channel the loop draws
//! once if anything arrived — no timer redraws, so an idle console sleeps.

pub mod harness;
pub mod pager;
pub mod watch;
pub mod worker;

use std::path::PathBuf;
use std::sync::PoisonError;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::config::keymap::{Key, KeyChord};
use crate::config::theme::Theme;
use crate::console::model::{self, Effect, Msg, State};
use crate::console::view;
use crate::domain::EpochMs;
use crate::sources::sync::Refresher;
use worker::Worker;

/// A crossterm key as the keymap knows it.
pub fn chord(k: &event::KeyEvent) -> Option<KeyChord> {
    let key = match k.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Delete => Key::Delete,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::F(n) => Key::F(n),
        _ => return None,
    };
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    Some(KeyChord {
        key: match key {
            Key::Char(c) if ctrl => Key::Char(c.to_ascii_lowercase()),
            other => other,
        },
        ctrl,
        alt: k.modifiers.contains(KeyModifiers::ALT),
    })
}

/// What the console runs with besides its state.
pub struct Services {
    pub worker: Worker,
    pub refresher: Option<Refresher>,
    /// Where user theme files live (`<config dir>/themes`).
    pub theme_dir: PathBuf,
    /// `NO_COLOR` is set: themes cannot turn colours back on.
    pub no_color: bool,
    pub clock: fn() -> EpochMs,
    /// Who writes narratives, and the database its results are saved to.
    pub narrator: crate::narrate::Narrator,
    pub db: PathBuf,
    /// Deliver the outbox in the background (the configuration, and the worker's wake-up).
    pub outbox: Option<(crate::config::Config, std::sync::Arc<tokio::sync::Notify>)>,
    /// The audit log's key for the connections the console opens (outbox, narration).
    pub audit_key: Option<crate::audit::AuditKey>,
    /// Team mode: the team store `db` is a replica of (a link task keeps it current).
    pub team: Option<TeamServices>,
}

/// What team mode adds to the console's services.
pub struct TeamServices {
    /// The console's one pool of connections to the team store.
    pub team: crate::store::team::TeamStore,
    /// How every replica connection is set up (the link's pulls score and own like the rest).
    pub prepare: crate::console::team_refresh::Prepare,
    /// Refreshers of sources taken over after the start: `s` and the stop at exit reach them.
    pub adopted: crate::console::team_refresh::Adopted,
}

/// The outbox task: deliver what is due, publish the depth, sleep until the next row is due,
/// a decision wakes it, or 30 s pass (the network may be back).
fn spawn_outbox(
    db: PathBuf,
    audit_key: Option<crate::audit::AuditKey>,
    config: crate::config::Config,
    wake: std::sync::Arc<tokio::sync::Notify>,
    tx: UnboundedSender<Msg>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut store = match crate::store::Store::open(&db) {
            Ok(mut s) => {
                if let Some(k) = audit_key {
                    s.set_audit_key(k);
                }
                s
            }
            Err(e) => {
                let _ = tx.send(Msg::Failed {
                    text: format!("outbox: {e}"),
                });
                return;
            }
        };
        let mut dispatcher = crate::dispatch::worker::Dispatcher::new(&config);
        let clock = crate::dispatch::worker::wall_clock_ms;
        let mut last = None;
        let mut polled_at: Option<std::time::Instant> = None;
        loop {
            // Ticket statuses flow back onto the alerts every 5 minutes.
            if polled_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(300)) {
                polled_at = Some(std::time::Instant::now());
                match crate::dispatch::worker::poll_tickets(&mut store, &mut dispatcher).await {
                    Ok((_, changed)) if changed > 0 => {
                        let _ = tx.send(Msg::StoreChanged);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("ticket poll: {e}"),
                }
                // Pull requests follow on the same beat; score bands changed by the refresher
                // go out as vendor comments (score_back sources only).
                match crate::dispatch::worker::poll_pull_requests(&mut store, &mut dispatcher).await
                {
                    Ok((_, changed)) if changed > 0 => {
                        let _ = tx.send(Msg::StoreChanged);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("pull request poll: {e}"),
                }
                if let Err(e) = crate::dispatch::score_back::queue(&mut store, &config, clock()) {
                    tracing::warn!("score back: {e}");
                }
            }
            if let Err(e) =
                crate::dispatch::worker::deliver_due(&mut store, &mut dispatcher, clock, 64).await
            {
                tracing::warn!("outbox: {e}");
            }
            if let Ok(depth) = store.outbox_depth()
                && last != Some(depth)
            {
                last = Some(depth);
                if tx.send(Msg::Outbox(depth)).is_err() {
                    return;
                }
            }
            let wait = match store.outbox_next_due() {
                Ok(Some(at)) => Duration::from_millis((at - clock()).clamp(50, 30_000) as u64),
                _ => Duration::from_secs(30),
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// The team outbox task: deliveries the team owes, leased one row at a time so no other
/// analyst's sitrep attempts the same row; woken by a decision here or any change the link
/// hears of, else every 30 s (a destination may be back).
fn spawn_team_outbox(
    team: crate::store::team::TeamStore,
    config: crate::config::Config,
    wake: std::sync::Arc<tokio::sync::Notify>,
    tx: UnboundedSender<Msg>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut queue = crate::team::outbox::TeamOutbox::new(team.clone(), &config.actor())
            .delivering_siem(crate::dispatch::siem::destinations(&config.siem));
        let mut dispatcher = crate::dispatch::worker::Dispatcher::new(&config);
        let clock = crate::dispatch::worker::wall_clock_ms;
        let mut last = None;
        let mut polled_at: Option<std::time::Instant> = None;
        // The team's SIEM destinations include this analyst's: asked until the store answers.
        let mut siem = crate::dispatch::siem::names(&config.siem);
        loop {
            if !siem.is_empty() {
                match team
                    .add_siem_destinations(&siem, &config.actor(), clock())
                    .await
                {
                    Ok(()) => siem.clear(),
                    Err(e) => tracing::warn!("team SIEM destinations: {e}"),
                }
            }
            if polled_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(300)) {
                polled_at = Some(std::time::Instant::now());
                if let Err(e) =
                    crate::dispatch::worker::poll_tickets(&mut queue, &mut dispatcher).await
                {
                    tracing::warn!("team ticket poll: {e}");
                }
            }
            if let Err(e) =
                crate::dispatch::worker::deliver_due(&mut queue, &mut dispatcher, clock, 64).await
            {
                tracing::warn!("team outbox: {e}");
            }
            if let Ok(depth) = team.outbox_depth().await
                && last != Some(depth)
            {
                last = Some(depth);
                if tx.send(Msg::Outbox(depth)).is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    })
}

/// Run the console on the real terminal, on a runtime the caller owns (the demo's simulators
/// live on it), until the analyst quits (or SIGTERM / SIGHUP). The terminal is restored on
/// every way out, panics included (ratatui's hook).
pub fn run_in(
    rt: &tokio::runtime::Runtime,
    mut state: State,
    services: Services,
) -> Result<(), String> {
    // Syntax definitions load once per process: do it before the first alert is opened.
    std::thread::spawn(crate::highlight::preload);
    let mut terminal =
        ratatui::try_init().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    if let Ok(size) = terminal.size() {
        state.size = (size.width, size.height);
    }
    let result = rt.block_on(event_loop(&mut terminal, state, services));
    ratatui::restore();
    // The terminal is back: a later panic (a task winding down) prints as usual instead of
    // running ratatui's hook, which writes terminal controls through a locked stdout.
    drop(std::panic::take_hook());
    result.map_err(|e| format!("terminal error: {e}"))
}

/// The status bar's view of the team link.
fn team_line(state: crate::team::link::LinkState) -> model::TeamLine {
    use crate::team::link::LinkState;
    match state {
        LinkState::Live { label } => model::TeamLine {
            label,
            live: true,
            error: None,
        },
        LinkState::Unreachable { label, error } => model::TeamLine {
            label,
            live: false,
            error: Some(crate::sanitize::one_line(&error)),
        },
    }
}

/// Put `text` on the clipboard through the terminal: OSC 52, which xterm, kitty, WezTerm,
/// iTerm2, tmux (`set-clipboard on`) and most others honour, also over SSH. The text is a
/// sanitized one-line command, base64-encoded, so it cannot end the sequence early.
fn copy_to_clipboard(text: &str) -> std::io::Result<()> {
    use base64::Engine as _;
    use std::io::Write as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut out = std::io::stdout().lock();
    write!(out, "\x1b]52;c;{b64}\x07")?;
    out.flush()
}

/// Forward terminal input to the loop (a blocking reader on its own thread).
fn spawn_input(tx: UnboundedSender<Msg>) {
    std::thread::spawn(move || {
        loop {
            let msg = match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match chord(&k) {
                    Some(c) => Msg::Key(c),
                    None => continue,
                },
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    });
}

/// Watch the refresher: each source's state, and "the store changed" (throttled).
fn watch_refresher(r: &Refresher, tx: &UnboundedSender<Msg>) {
    for (index, (_, rx)) in r.status.iter().enumerate() {
        let mut rx = rx.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let status = rx.borrow_and_update().clone();
                if tx.send(Msg::Source { index, status }).is_err() {
                    break;
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        });
    }
    let mut changed = r.changed.clone();
    let tx = tx.clone();
    tokio::spawn(async move {
        while changed.changed().await.is_ok() {
            if tx.send(Msg::StoreChanged).is_err() {
                break;
            }
            // Pages land in bursts during a sync: reload at most a few times a second.
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
}

/// SIGTERM and SIGHUP end the loop (so the terminal is restored). The handlers are installed
/// here, before the first frame, not in the spawned task: a task that had not run yet when a
/// SIGTERM came (a busy start: six first syncs) left the default action to kill the process
/// with the terminal still on the alternate screen.
fn spawn_signals(tx: UnboundedSender<Msg>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            let _ = tx.send(Msg::Terminate);
        });
    }
    #[cfg(not(unix))]
    drop(tx);
}

/// The store worker thread: effects in, messages out.
fn spawn_worker(
    mut worker: Worker,
    tx: UnboundedSender<Msg>,
) -> (std::sync::mpsc::Sender<Effect>, std::thread::JoinHandle<()>) {
    let (etx, erx) = std::sync::mpsc::channel::<Effect>();
    let handle = std::thread::spawn(move || {
        while let Ok(first) = erx.recv() {
            // Everything queued meanwhile, in order; a window or detail read that a later one
            // replaces is skipped (the model would drop its answer anyway), so keys pressed
            // faster than the store answers cost one read, not one each.
            let batch: Vec<Effect> = std::iter::once(first).chain(erx.try_iter()).collect();
            let stale: Vec<bool> = (0..batch.len())
                .map(|i| {
                    batch[i + 1..]
                        .iter()
                        .any(|later| supersedes(later, &batch[i]))
                })
                .collect();
            for (e, stale) in batch.into_iter().zip(stale) {
                if stale {
                    continue;
                }
                if let Some(msg) = worker.run(e)
                    && tx.send(msg).is_err()
                {
                    return;
                }
            }
        }
    });
    (etx, handle)
}

/// Does `later` make `earlier`'s answer stale before it is read?
fn supersedes(later: &Effect, earlier: &Effect) -> bool {
    matches!(
        (later, earlier),
        (Effect::LoadWindow { .. }, Effect::LoadWindow { .. })
            | (Effect::LoadDetail { .. }, Effect::LoadDetail { .. })
    )
}

async fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    mut state: State,
    services: Services,
) -> Result<(), B::Error> {
    let (tx, mut rx): (UnboundedSender<Msg>, UnboundedReceiver<Msg>) = unbounded_channel();
    spawn_input(tx.clone());
    spawn_signals(tx.clone());
    if let Some(r) = &services.refresher {
        watch_refresher(r, &tx);
    }
    watch::spawn(services.db.clone(), tx.clone());
    if let Some(t) = &services.team {
        let tx = tx.clone();
        let prepare = t.prepare.clone();
        tokio::spawn(crate::team::link::run(
            crate::team::link::Link {
                team: t.team.clone(),
                db: services.db.clone(),
                clock: services.clock,
                prepare: Box::new(move |s| prepare(s)),
                // A teammate's decision may have queued deliveries: the outbox task looks.
                changed: services.outbox.as_ref().map(|(_, wake)| wake.clone()),
            },
            move |state| tx.send(Msg::Team(team_line(state))).is_ok(),
        ));
    }
    let clock = services.clock;
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            tick.tick().await;
            loop {
                tick.tick().await;
                if tx.send(Msg::Tick(clock())).is_err() {
                    break;
                }
            }
        });
    }
    let outbox_task = services
        .outbox
        .clone()
        .map(|(config, wake)| match &services.team {
            // Team mode: the team's outbox, shared with every analyst's sitrep.
            Some(t) => spawn_team_outbox(t.team.clone(), config, wake, tx.clone()),
            None => spawn_outbox(
                services.db.clone(),
                services.audit_key.clone(),
                config,
                wake,
                tx.clone(),
            ),
        });
    let (etx, worker_thread) = spawn_worker(services.worker, tx.clone());
    // The narration in flight: moving the selection (a new detail) cancels it.
    let narration: std::cell::RefCell<Option<tokio::task::JoinHandle<()>>> =
        std::cell::RefCell::new(None);
    let cancel = || {
        if let Some(h) = narration.borrow_mut().take() {
            h.abort();
        }
    };
    let dispatch = |effects: Vec<Effect>| {
        for e in effects {
            match e {
                Effect::Narrate { req, alert } => {
                    cancel();
                    let narrator = services.narrator.clone();
                    let db = services.db.clone();
                    let audit_key = services.audit_key.clone();
                    let tx = tx.clone();
                    let clock = services.clock;
                    *narration.borrow_mut() = Some(tokio::spawn(async move {
                        let (ntx, mut nrx) = unbounded_channel();
                        let fwd = {
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                while let Some(event) = nrx.recv().await {
                                    if tx
                                        .send(Msg::Narration {
                                            req,
                                            event: Box::new(event),
                                        })
                                        .is_err()
                                    {
                                        break;
                                    }
                                }
                            })
                        };
                        let n = narrator.narrate(&alert, ntx).await;
                        let _ = fwd.await;
                        // Record the calls and cache a model narrative (audit, offline review).
                        match crate::store::Store::open(&db) {
                            Ok(mut store) => {
                                if let Some(k) = audit_key {
                                    store.set_audit_key(k);
                                }
                                if let Err(e) = crate::narrate::persist(
                                    &mut store,
                                    &narrator,
                                    &alert,
                                    &n,
                                    clock(),
                                ) {
                                    tracing::warn!("cannot save the narrative: {e}");
                                }
                            }
                            Err(e) => tracing::warn!("cannot save the narrative: {e}"),
                        }
                    }));
                }
                e @ Effect::LoadDetail { .. } => {
                    cancel();
                    let _ = etx.send(e);
                }
                Effect::Ask { req, question } => {
                    // The model (or the offline translator) answers off the UI thread; its
                    // calls are recorded and audited like a narrative's. The model drops an
                    // answer to an older ask.
                    let narrator = services.narrator.clone();
                    let db = services.db.clone();
                    let audit_key = services.audit_key.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let answer = narrator.ask(&question).await;
                        if !answer.calls.is_empty() {
                            let saved = crate::store::Store::open(&db).and_then(|mut store| {
                                if let Some(k) = audit_key {
                                    store.set_audit_key(k);
                                }
                                crate::narrate::ask::persist(&mut store, &answer)
                            });
                            if let Err(e) = saved {
                                tracing::warn!("cannot record the ask's model calls: {e}");
                            }
                        }
                        let _ = tx.send(Msg::Asked {
                            req,
                            answer: Box::new(answer),
                        });
                    });
                }
                Effect::SyncNow => {
                    if let Some(r) = &services.refresher {
                        r.sync_now();
                    }
                    if let Some(t) = &services.team {
                        for r in t
                            .adopted
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .iter()
                        {
                            r.sync_now();
                        }
                    }
                }
                Effect::Copy(text) => {
                    let msg = match copy_to_clipboard(&text) {
                        Ok(()) => None,
                        Err(e) => Some(Msg::Failed {
                            text: format!("cannot write to the clipboard: {e}"),
                        }),
                    };
                    if let Some(m) = msg {
                        let _ = tx.send(m);
                    }
                }
                Effect::LoadTheme(name) => {
                    let msg = if services.no_color {
                        Err("NO_COLOR is set: colours stay off".to_string())
                    } else {
                        Theme::load(&name, &services.theme_dir)
                    };
                    let _ = tx.send(Msg::Theme(msg));
                }
                other => {
                    let _ = etx.send(other);
                }
            }
        }
    };
    let first = state.start();
    dispatch(first);
    terminal.draw(|f| view::draw(f, &state))?;
    while let Some(msg) = rx.recv().await {
        let mut effects = model::update(&mut state, msg);
        // Drain what else is waiting, then draw once.
        while let Ok(more) = rx.try_recv() {
            effects.extend(model::update(&mut state, more));
        }
        dispatch(effects);
        if state.quit {
            break;
        }
        terminal.draw(|f| view::draw(f, &state))?;
    }
    cancel();
    if let Some(t) = outbox_task {
        t.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
    }
    // Let the worker finish what it was given (the last-looked time) before the process goes.
    drop(etx);
    let _ = worker_thread.join();
    // Stopped while the runtime runs: a sync that is committing finishes its pages and stops.
    if let Some(r) = services.refresher {
        r.stop(Duration::from_secs(5)).await;
    }
    if let Some(t) = &services.team {
        let adopted =
            std::mem::take(&mut *t.adopted.lock().unwrap_or_else(PoisonError::into_inner));
        for r in adopted {
            r.stop(Duration::from_secs(5)).await;
        }
    }
    Ok(())
}
