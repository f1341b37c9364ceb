//! The console's state and its one `update` function: messages in, effects out.
//!
//! No I/O here: [`update`] never awaits and never touches the disk or the network. Keys arrive
//! already turned into [`KeyChord`]s; the keymap turns them into [`Action`]s; the runtime
//! ([`super::runtime`]) runs the returned [`Effect`]s on worker threads and feeds their results back as
//! [`Msg`]s tagged with a request number, so a stale result is dropped.

pub mod layout;
pub mod modal;

use std::collections::{BTreeSet, HashSet};

use crate::config::keymap::{Action, Key, KeyChord, Keymap};
use crate::config::theme::Theme;
use crate::domain::{DismissReason, EpochMs, Intent, Status};
use crate::sources::sync::SourceStatus;
use crate::store::{QueueRow, SortKey, StoredAlert};
use crate::triage::query::{self, Query};

pub use modal::{DecisionKind, DecisionModal, Field, Prompt, PromptKind, parse_until};

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Queue,
    Detail,
    Remediation,
}

/// The detail pane's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Narrative,
    Score,
    AttackPath,
    Evidence,
    History,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Narrative,
        Tab::Score,
        Tab::AttackPath,
        Tab::Evidence,
        Tab::History,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Narrative => "Narrative",
            Tab::Score => "Score",
            Tab::AttackPath => "Attack path",
            Tab::Evidence => "Evidence",
            Tab::History => "History",
        }
    }

    fn step(self, back: bool) -> Tab {
        let i = Tab::ALL.iter().position(|t| *t == self).unwrap_or(0);
        let n = Tab::ALL.len();
        Tab::ALL[if back { (i + n - 1) % n } else { (i + 1) % n }]
    }
}

/// What the worker loads for the selected alert.
#[derive(Debug, Clone)]
pub struct Detail {
    pub alert: StoredAlert,
    /// The Overview tab's text (`show`'s text without the history), made once per load rather
    /// than on every frame.
    pub overview: String,
    /// The raw payload, pretty-printed, sanitized and highlighted as JSON.
    pub evidence: Vec<crate::highlight::StyledLine>,
    /// sitrep's remediation proposals (diffs / snippets) and the vendor's text, highlighted.
    pub remediation: Vec<crate::highlight::StyledLine>,
    /// What the remediation pane holds, for its title.
    pub remediation_title: String,
    /// The score with its reasons (as stored; None when the store has none).
    pub score: Option<crate::domain::Score>,
    /// The attack paths the alert is part of.
    pub paths: Vec<crate::domain::AttackPath>,
    /// The narrative when it is at hand without a model call: the offline narrator's, or a
    /// cached model narrative for this alert's current content.
    pub narrative: Option<crate::narrate::Narrative>,
}

/// Where the selected alert's narrative is.
#[derive(Debug, Clone)]
pub enum Narration {
    /// Not asked for yet (the model is called when the Narrative tab is opened).
    NotAsked,
    Streaming {
        label: String,
        text: String,
    },
    Ready(crate::narrate::Narrative),
    Failed {
        reason: String,
        fallback: crate::narrate::Narrative,
    },
}

/// A one-line message at the bottom of the screen until the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
}

/// Everything that arrives at the loop.
#[derive(Debug)]
pub enum Msg {
    Key(KeyChord),
    Resize(u16, u16),
    /// The slow clock ("5m ago" texts).
    Tick(EpochMs),
    Window {
        req: u64,
        start: usize,
        rows: Vec<QueueRow>,
        total: usize,
        /// False: counting stopped at `total` (an arbitrary filter at scale): "total+".
        exact: bool,
        /// Where the anchored alert now is (absolute index), when it is still in the queue.
        anchor: Option<usize>,
        /// Alerts that left the queue because the vendor closed them since the analyst last
        /// looked (status bar).
        closed_at_vendor: usize,
    },
    Detail {
        req: u64,
        detail: Option<Box<Detail>>,
    },
    /// A decision was recorded; `text` says what was done.
    Applied {
        text: String,
    },
    Failed {
        text: String,
    },
    /// The store changed under us (a sync page landed).
    StoreChanged,
    /// The outbox's depth changed (pending, retrying, failed deliveries).
    Outbox(crate::store::OutboxDepth),
    Source {
        index: usize,
        status: SourceStatus,
    },
    Theme(Result<Theme, String>),
    /// Progress of the model narrating the alert of detail request `req`.
    Narration {
        req: u64,
        event: Box<crate::narrate::NarrateEvent>,
    },
    /// The team store's link came up or went away (team mode only).
    Team(TeamLine),
    /// A claim, release or `next` was done: what to say, and the alert to select (the one
    /// `next` handed out).
    Claimed {
        text: String,
        select: Option<String>,
    },
    /// SIGTERM / SIGHUP: leave cleanly.
    Terminate,
    /// The answer to `:ask` request `req`: a filter to show, editable, before it runs.
    Asked {
        req: u64,
        answer: Box<crate::narrate::ask::Answer>,
    },
}

/// The team store as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamLine {
    /// `user@host:port/db`.
    pub label: String,
    /// Connected and listening; false: the replica is shown as last pulled.
    pub live: bool,
    /// Why it is not live (one line).
    pub error: Option<String>,
}

/// Work for the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Team mode: take (or, `release`, give back) the alert.
    Claim {
        id: String,
        release: bool,
    },
    /// Team mode: take the best unclaimed alert.
    NextUnclaimed,
    LoadWindow {
        req: u64,
        start: usize,
        len: usize,
        filter: Option<Query>,
        sort: SortKey,
        /// Keep this alert where it is on screen: the worker reports its new index.
        anchor: Option<String>,
    },
    LoadDetail {
        req: u64,
        id: String,
        /// The syntect theme for the evidence and remediation ("none": no colours).
        syntax_theme: String,
    },
    /// Record `intent` on each alert, the same path as the headless commands.
    Decide {
        ids: Vec<String>,
        intent: Intent,
        /// What to say when done ("dismissed 3 alerts (false_positive)", "ticket").
        done: String,
    },
    SyncNow,
    LoadTheme(String),
    /// Ask the model for the narrative of this alert (the runtime cancels any earlier one).
    Narrate {
        req: u64,
        alert: Box<StoredAlert>,
    },
    /// Remember when the analyst last looked (at quit).
    SaveLastLooked(EpochMs),
    /// Turn a question into a filter (`:ask`), off the UI thread: the model when one is
    /// configured, else the offline translator. Only a newer ask supersedes it.
    Ask {
        req: u64,
        question: String,
    },
    /// Put a recommended command on the terminal's clipboard (OSC 52). Only `:copy` makes
    /// one, and a labelled command only after a confirmation.
    Copy(String),
}

/// The queue's rows as currently loaded: a window of the whole (virtualized) list.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub start: usize,
    pub rows: Vec<QueueRow>,
}

impl Window {
    pub fn get(&self, i: usize) -> Option<&QueueRow> {
        i.checked_sub(self.start).and_then(|j| self.rows.get(j))
    }

    fn covers(&self, from: usize, to: usize, total: usize) -> bool {
        let end = self.start + self.rows.len();
        from >= self.start && (to.min(total) <= end)
    }
}

/// The console's whole state.
pub struct State {
    pub keymap: Keymap,
    pub theme: Theme,
    /// Who decisions are recorded for.
    pub actor: String,
    pub now_ms: EpochMs,
    pub size: (u16, u16),
    pub window: Window,
    /// Rows in the queue under the filter (at least, when not `total_exact`).
    pub total: usize,
    pub total_exact: bool,
    /// Whether the first window has arrived.
    pub loaded: bool,
    pub offset: usize,
    pub selected: usize,
    pub marked: BTreeSet<String>,
    pub focus: Focus,
    pub tab: Tab,
    pub zoom: bool,
    pub filter_text: String,
    pub filter: Option<Query>,
    pub sort: SortKey,
    pub detail: Option<Box<Detail>>,
    pub narration: Narration,
    /// Who writes narratives: "offline narrator" or the model's label.
    pub narrator_label: String,
    pub narrator_offline: bool,
    pub detail_scroll: u16,
    pub remediation_scroll: u16,
    pub prompt: Option<Prompt>,
    pub modal: Option<DecisionModal>,
    pub help: Option<u16>,
    pub flash: Option<Flash>,
    /// (source name, its refresher's state). Empty: no sources configured.
    pub sources: Vec<(String, SourceStatus)>,
    /// Deliveries waiting in the outbox (status bar).
    pub outbox: crate::store::OutboxDepth,
    /// Alerts new or changed after this time are marked (until the analyst opens them).
    pub last_looked: EpochMs,
    /// Alerts that left the queue because the vendor closed them since `last_looked`.
    pub closed_at_vendor: usize,
    pub seen: HashSet<String>,
    /// Shown in the header: "demo" or the database's name.
    pub label: String,
    /// Team mode: the team store's state (None until its link reports, or no team store).
    pub team: Option<TeamLine>,
    /// This console works on a team store's replica (claims and `next` are possible).
    pub team_mode: bool,
    /// Browse and narrate only (`--readonly`, or a role that may not write).
    pub readonly: bool,
    pub quit: bool,
    req: u64,
    window_req: u64,
    /// The window request in flight and the range it will cover.
    pending: Option<(usize, usize)>,
    detail_req: u64,
    detail_for: Option<String>,
    /// The `:ask` in flight; an answer to an older one is dropped.
    ask_req: u64,
}

/// What a fresh console starts from.
pub struct Init {
    pub keymap: Keymap,
    pub theme: Theme,
    pub actor: String,
    pub now_ms: EpochMs,
    pub size: (u16, u16),
    pub filter_text: String,
    pub sort: SortKey,
    pub sources: Vec<String>,
    pub last_looked: Option<EpochMs>,
    pub label: String,
    pub narrator_label: String,
    pub narrator_offline: bool,
    /// Team mode (the queue is a team store's replica).
    pub team_mode: bool,
    /// Decisions, claims and notes refused (`--readonly`).
    pub readonly: bool,
}

impl State {
    pub fn new(init: Init) -> State {
        let filter = query::parse(&init.filter_text)
            .ok()
            .filter(|q| !q.is_empty())
            .map(|q| q.with_analyst(&init.actor));
        State {
            keymap: init.keymap,
            theme: init.theme,
            actor: init.actor,
            now_ms: init.now_ms,
            size: init.size,
            window: Window::default(),
            total: 0,
            total_exact: true,
            loaded: false,
            offset: 0,
            selected: 0,
            marked: BTreeSet::new(),
            focus: Focus::Queue,
            tab: Tab::Overview,
            zoom: false,
            filter_text: if filter.is_some() {
                init.filter_text
            } else {
                String::new()
            },
            filter,
            sort: init.sort,
            detail: None,
            narration: Narration::NotAsked,
            narrator_label: init.narrator_label,
            narrator_offline: init.narrator_offline,
            detail_scroll: 0,
            remediation_scroll: 0,
            prompt: None,
            modal: None,
            help: None,
            flash: None,
            outbox: Default::default(),
            sources: init
                .sources
                .into_iter()
                .map(|n| {
                    (
                        n,
                        SourceStatus::Syncing {
                            pages: 0,
                            alerts: 0,
                        },
                    )
                })
                .collect(),
            last_looked: init.last_looked.unwrap_or(init.now_ms),
            closed_at_vendor: 0,
            seen: HashSet::new(),
            label: init.label,
            team: None,
            team_mode: init.team_mode,
            readonly: init.readonly,
            quit: false,
            req: 0,
            window_req: 0,
            pending: None,
            detail_req: 0,
            detail_for: None,
            ask_req: 0,
        }
    }

    /// The first effects: load the queue.
    pub fn start(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.request_window(None, &mut fx);
        fx
    }

    fn next_req(&mut self) -> u64 {
        self.req += 1;
        self.req
    }

    /// Queue rows that fit on screen now.
    pub fn viewport(&self) -> usize {
        layout::queue_rows(self.size, self.zoom).max(1)
    }

    pub fn selected_row(&self) -> Option<&QueueRow> {
        self.window.get(self.selected)
    }

    /// The rows a decision applies to: the marked ones, else the selected one.
    pub fn targets(&self) -> Vec<String> {
        if !self.marked.is_empty() {
            return self.marked.iter().cloned().collect();
        }
        self.selected_row()
            .map(|r| vec![r.id.clone()])
            .unwrap_or_default()
    }

    /// New since the analyst last looked, changed since, or neither.
    pub fn freshness(&self, row: &QueueRow) -> Freshness {
        if self.seen.contains(&row.id) {
            Freshness::Seen
        } else if row.imported_at > self.last_looked {
            Freshness::New
        } else if row.changed_at > self.last_looked {
            Freshness::Changed
        } else {
            Freshness::Seen
        }
    }

    pub fn online(&self) -> Option<bool> {
        if self.sources.is_empty() {
            return None;
        }
        Some(
            !self
                .sources
                .iter()
                .all(|(_, s)| matches!(s, SourceStatus::Failed { .. })),
        )
    }

    /// The queue's size as shown: `1234`, or `10,000+` when counting stopped there.
    pub fn total_text(&self) -> String {
        crate::store::QueueCount {
            n: self.total,
            exact: self.total_exact,
        }
        .to_string()
    }

    /// Load the viewport with a margin of `max(viewport, 100)` rows on each side; near the
    /// top the margin above is cut off, not moved below (a filter's first window reads about
    /// 145 rows, not 245: at 1M alerts a frequent word's page walks eight rows per match).
    fn request_window(&mut self, anchor: Option<String>, fx: &mut Vec<Effect>) {
        let vp = self.viewport();
        let margin = vp.max(100);
        let start = self.offset.saturating_sub(margin);
        let len = self.offset + vp + margin - start;
        self.window_req = self.next_req();
        self.pending = Some((start, start + len));
        fx.push(Effect::LoadWindow {
            req: self.window_req,
            start,
            len,
            filter: self.filter.clone(),
            sort: self.sort,
            anchor,
        });
    }

    /// Ask for rows when the visible range is not loaded (and not on its way).
    fn ensure_window(&mut self, fx: &mut Vec<Effect>) {
        let vp = self.viewport();
        let (from, to) = (self.offset, self.offset + vp);
        if self.window.covers(from, to, self.total) {
            return;
        }
        if let Some((s, e)) = self.pending
            && from >= s
            && to <= e
        {
            return;
        }
        self.request_window(None, fx);
    }

    /// Reload keeping the selected alert where it is on screen.
    fn reload_anchored(&mut self, fx: &mut Vec<Effect>) {
        let anchor = self.selected_row().map(|r| r.id.clone());
        self.request_window(anchor, fx);
    }

    fn clamp(&mut self) {
        if self.total == 0 {
            self.selected = 0;
            self.offset = 0;
            return;
        }
        self.selected = self.selected.min(self.total - 1);
        let vp = self.viewport();
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + vp {
            self.offset = self.selected + 1 - vp;
        }
        let max_offset = self.total.saturating_sub(vp);
        self.offset = self.offset.min(max_offset);
    }

    /// Load the selected alert's detail when the selection moved to another alert.
    fn follow_selection(&mut self, fx: &mut Vec<Effect>) {
        let id = self.selected_row().map(|r| r.id.clone());
        if id == self.detail_for {
            return;
        }
        self.detail_for = id.clone();
        self.detail_scroll = 0;
        self.remediation_scroll = 0;
        match id {
            Some(id) => {
                self.detail_req = self.next_req();
                fx.push(Effect::LoadDetail {
                    req: self.detail_req,
                    id,
                    syntax_theme: if self.theme.monochrome {
                        "none".into()
                    } else {
                        self.theme.syntax_theme.clone()
                    },
                });
            }
            None => self.detail = None,
        }
    }

    fn move_to(&mut self, index: usize, fx: &mut Vec<Effect>) {
        self.selected = index;
        self.clamp();
        self.ensure_window(fx);
        self.follow_selection(fx);
    }

    /// On the Narrative tab with no narrative at hand: ask the model.
    fn ask_narrative(&mut self, fx: &mut Vec<Effect>) {
        if self.tab != Tab::Narrative || !matches!(self.narration, Narration::NotAsked) {
            return;
        }
        if let Some(d) = &self.detail {
            self.narration = Narration::Streaming {
                label: self.narrator_label.clone(),
                text: String::new(),
            };
            fx.push(Effect::Narrate {
                req: self.detail_req,
                alert: Box::new(d.alert.clone()),
            });
        }
    }

    fn flash(&mut self, text: impl Into<String>, error: bool) {
        self.flash = Some(Flash {
            text: text.into(),
            error,
        });
    }

    fn set_filter(&mut self, text: &str, fx: &mut Vec<Effect>) -> Result<(), String> {
        let q = query::parse(text).map_err(|e| e.to_string())?;
        // `mine` is whoever this console records decisions for.
        let q = q.with_analyst(&self.actor);
        self.filter = (!q.is_empty()).then_some(q);
        self.filter_text = if self.filter.is_some() {
            text.trim().to_string()
        } else {
            String::new()
        };
        self.selected = 0;
        self.offset = 0;
        self.window = Window::default();
        self.loaded = false;
        self.request_window(None, fx);
        Ok(())
    }

    fn set_sort(&mut self, sort: SortKey, fx: &mut Vec<Effect>) {
        self.sort = sort;
        self.reload_anchored(fx);
    }
}

/// How a row is marked for the analyst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    New,
    Changed,
    Seen,
}

/// Apply one message. Returns the work the runtime must do.
pub fn update(s: &mut State, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(k) => on_key(s, k, &mut fx),
        Msg::Resize(w, h) => {
            s.size = (w, h);
            s.clamp();
            s.ensure_window(&mut fx);
        }
        Msg::Tick(now) => s.now_ms = now,
        Msg::Window {
            req,
            start,
            rows,
            total,
            exact,
            anchor,
            closed_at_vendor,
        } => {
            if req != s.window_req {
                return fx;
            }
            s.closed_at_vendor = closed_at_vendor;
            let screen_pos = s.selected.saturating_sub(s.offset);
            s.pending = None;
            s.window = Window { start, rows };
            s.total = total;
            s.total_exact = exact;
            s.loaded = true;
            if let Some(a) = anchor {
                s.selected = a;
                s.offset = a.saturating_sub(screen_pos);
            }
            s.clamp();
            s.ensure_window(&mut fx);
            // The marks of alerts that left the queue are dropped.
            if !s.marked.is_empty() && s.window.start == 0 && s.window.rows.len() >= s.total {
                let present: HashSet<&str> = s.window.rows.iter().map(|r| r.id.as_str()).collect();
                s.marked.retain(|m| present.contains(m.as_str()));
            }
            s.follow_selection(&mut fx);
        }
        Msg::Detail { req, detail } => {
            if req == s.detail_req {
                s.narration = match detail.as_ref().and_then(|d| d.narrative.clone()) {
                    Some(n) => Narration::Ready(n),
                    None => Narration::NotAsked,
                };
                s.detail = detail;
                s.ask_narrative(&mut fx);
            }
        }
        Msg::Narration { req, event } => {
            if req != s.detail_req {
                return fx;
            }
            use crate::narrate::NarrateEvent as E;
            s.narration = match (
                std::mem::replace(&mut s.narration, Narration::NotAsked),
                *event,
            ) {
                (_, E::Started { label }) => Narration::Streaming {
                    label,
                    text: String::new(),
                },
                (Narration::Streaming { label, mut text }, E::Delta(d)) => {
                    text.push_str(&d);
                    Narration::Streaming { label, text }
                }
                (other, E::Delta(_)) => other,
                (_, E::Done(n)) => Narration::Ready(n),
                (_, E::Failed { reason, fallback }) => Narration::Failed { reason, fallback },
            };
        }
        Msg::Asked { req, answer } => {
            if req == s.ask_req {
                asked(s, &answer);
            }
        }
        Msg::Applied { text } => {
            s.flash(text, false);
            s.marked.clear();
            s.detail_for = None;
            s.reload_anchored(&mut fx);
        }
        Msg::Failed { text } => s.flash(text, true),
        Msg::StoreChanged => {
            s.detail_for = None;
            s.reload_anchored(&mut fx);
        }
        Msg::Outbox(depth) => {
            s.outbox = depth;
        }
        Msg::Claimed { text, select } => {
            s.flash(text, false);
            match select {
                Some(id) => {
                    s.detail_for = None;
                    s.request_window(Some(id), &mut fx);
                }
                None => s.reload_anchored(&mut fx),
            }
        }
        Msg::Team(line) => {
            let was_live = s.team.as_ref().is_none_or(|t| t.live);
            if !line.live && was_live {
                let why = line.error.clone().unwrap_or_default();
                s.flash(
                    format!(
                        "team store unreachable ({why}): showing the replica's last data; decisions are kept and sent when it is back"
                    ),
                    true,
                );
            } else if line.live && !was_live {
                s.flash(format!("team store {} is back", line.label), false);
            }
            s.team = Some(line);
        }
        Msg::Source { index, status } => {
            if let Some(x) = s.sources.get_mut(index) {
                x.1 = status;
            }
        }
        Msg::Theme(Ok(t)) => {
            s.flash(format!("theme {}", t.name), false);
            s.theme = t;
            // Highlight the evidence again in the new syntax theme.
            s.detail_for = None;
            s.follow_selection(&mut fx);
        }
        Msg::Theme(Err(e)) => s.flash(e, true),
        Msg::Terminate => quit(s, &mut fx),
    }
    fx
}

fn quit(s: &mut State, fx: &mut Vec<Effect>) {
    s.quit = true;
    fx.push(Effect::SaveLastLooked(s.now_ms));
}

fn on_key(s: &mut State, k: KeyChord, fx: &mut Vec<Effect>) {
    s.flash = None;
    if s.modal.is_some() {
        return modal_key(s, k, fx);
    }
    if s.prompt.is_some() {
        return prompt_key(s, k, fx);
    }
    if let Some(scroll) = s.help {
        let action = s.keymap.action(&k);
        s.help = match (k.key, action) {
            (Key::Esc, _) | (Key::Char('q'), _) | (_, Some(Action::Help | Action::Back)) => None,
            (_, Some(Action::MoveDown)) => Some(scroll.saturating_add(1)),
            (_, Some(Action::MoveUp)) => Some(scroll.saturating_sub(1)),
            (_, Some(Action::PageDown | Action::HalfPageDown)) => Some(scroll.saturating_add(10)),
            (_, Some(Action::PageUp | Action::HalfPageUp)) => Some(scroll.saturating_sub(10)),
            (_, Some(Action::Top)) => Some(0),
            (_, Some(Action::Quit)) => {
                quit(s, fx);
                None
            }
            _ => Some(scroll),
        };
        return;
    }
    let Some(action) = s.keymap.action(&k) else {
        if let Key::Char(c) = k.key
            && !k.ctrl
        {
            let hint = s
                .keymap
                .key_for(Action::Help)
                .map(|h| format!("; {h} shows the keys"))
                .unwrap_or_default();
            s.flash(format!("'{c}' is not bound{hint}"), false);
        }
        return;
    };
    apply(s, action, fx);
}

/// Whether an action records something (refused in a read-only console). Exhaustive, so a
/// new action has to say which it is.
fn writes(action: Action) -> bool {
    match action {
        Action::Acknowledge
        | Action::InProgress
        | Action::Reopen
        | Action::Approve
        | Action::Reject
        | Action::OpenTicket
        | Action::Notify
        | Action::PullRequest
        | Action::Resolve
        | Action::Dismiss
        | Action::Snooze
        | Action::AddNote
        | Action::Claim
        | Action::NextUnclaimed => true,
        Action::Quit
        | Action::MoveDown
        | Action::MoveUp
        | Action::PageDown
        | Action::PageUp
        | Action::HalfPageDown
        | Action::HalfPageUp
        | Action::Top
        | Action::Bottom
        | Action::FocusNext
        | Action::FocusPrev
        | Action::OpenDetail
        | Action::Back
        | Action::NextTab
        | Action::PrevTab
        | Action::ToggleMark
        | Action::MarkAllVisible
        | Action::ClearMarks
        | Action::Filter
        | Action::ClearFilter
        | Action::ShowClosed
        | Action::Command
        | Action::Help
        | Action::SyncNow
        | Action::CycleSort => false,
    }
}

/// Perform a named action (keys and tests come through here).
pub fn apply(s: &mut State, action: Action, fx: &mut Vec<Effect>) {
    if s.readonly && writes(action) {
        s.flash(
            "read-only console: browse and narrate; decisions, claims and notes are refused (--readonly)",
            true,
        );
        return;
    }
    let vp = s.viewport();
    let scroll = |v: &mut u16, d: i32| {
        *v = (i32::from(*v) + d).clamp(0, i32::from(u16::MAX)) as u16;
    };
    let step: Option<i64> = match action {
        Action::MoveDown => Some(1),
        Action::MoveUp => Some(-1),
        Action::PageDown => Some(vp as i64),
        Action::PageUp => Some(-(vp as i64)),
        Action::HalfPageDown => Some((vp / 2).max(1) as i64),
        Action::HalfPageUp => Some(-((vp / 2).max(1) as i64)),
        _ => None,
    };
    if let Some(d) = step {
        match s.focus {
            Focus::Queue => {
                let to = (s.selected as i64 + d).clamp(0, s.total.saturating_sub(1) as i64);
                s.move_to(to as usize, fx);
            }
            Focus::Detail => scroll(&mut s.detail_scroll, d as i32),
            Focus::Remediation => scroll(&mut s.remediation_scroll, d as i32),
        }
        return;
    }
    match action {
        Action::Top => match s.focus {
            Focus::Queue => s.move_to(0, fx),
            Focus::Detail => s.detail_scroll = 0,
            Focus::Remediation => s.remediation_scroll = 0,
        },
        Action::Bottom => match s.focus {
            Focus::Queue => s.move_to(s.total.saturating_sub(1), fx),
            Focus::Detail => s.detail_scroll = u16::MAX / 2,
            Focus::Remediation => s.remediation_scroll = u16::MAX / 2,
        },
        Action::Quit => quit(s, fx),
        Action::FocusNext | Action::FocusPrev => {
            let order = if s.zoom {
                vec![Focus::Detail, Focus::Remediation]
            } else {
                vec![Focus::Queue, Focus::Detail, Focus::Remediation]
            };
            let i = order.iter().position(|f| *f == s.focus).unwrap_or(0);
            let n = order.len();
            s.focus = order[if action == Action::FocusPrev {
                (i + n - 1) % n
            } else {
                (i + 1) % n
            }];
        }
        Action::OpenDetail => {
            if let Some(r) = s.selected_row() {
                let id = r.id.clone();
                s.seen.insert(id);
                s.zoom = true;
                s.focus = Focus::Detail;
            }
        }
        Action::Back => {
            if s.zoom {
                s.zoom = false;
                s.focus = Focus::Queue;
                s.clamp();
                s.ensure_window(fx);
            } else if s.focus != Focus::Queue {
                s.focus = Focus::Queue;
            } else if !s.marked.is_empty() {
                s.marked.clear();
                s.flash("marks cleared", false);
            }
        }
        Action::NextTab | Action::PrevTab => {
            s.tab = s.tab.step(action == Action::PrevTab);
            s.detail_scroll = 0;
            s.ask_narrative(fx);
            if let Some(r) = s.selected_row() {
                let id = r.id.clone();
                s.seen.insert(id);
            }
        }
        Action::ToggleMark => {
            if let Some(r) = s.selected_row() {
                let id = r.id.clone();
                if !s.marked.remove(&id) {
                    s.marked.insert(id);
                }
                let to = (s.selected + 1).min(s.total.saturating_sub(1));
                s.move_to(to, fx);
            }
        }
        Action::MarkAllVisible => {
            for i in s.offset..(s.offset + vp).min(s.total) {
                if let Some(r) = s.window.get(i) {
                    s.marked.insert(r.id.clone());
                }
            }
            s.flash(format!("{} marked", s.marked.len()), false);
        }
        Action::ClearMarks => {
            s.marked.clear();
            s.flash("marks cleared", false);
        }
        Action::Filter => s.prompt = Some(Prompt::new(PromptKind::Filter, &s.filter_text)),
        Action::ClearFilter => {
            if let Err(e) = s.set_filter("", fx) {
                s.flash(e, true);
            } else {
                s.flash("filter cleared", false);
            }
        }
        Action::ShowClosed => show_closed(s, fx),
        Action::Command => s.prompt = Some(Prompt::new(PromptKind::Command, "")),
        Action::Help => s.help = Some(0),
        Action::CycleSort => {
            let next = match s.sort {
                SortKey::Score => SortKey::Severity,
                SortKey::Severity => SortKey::Recent,
                SortKey::Recent => SortKey::Oldest,
                SortKey::Oldest => SortKey::Vendor,
                _ => SortKey::Score,
            };
            s.flash(format!("sorted by {}", sort_name(next)), false);
            s.set_sort(next, fx);
        }
        Action::Acknowledge => decide_now(s, Status::Acknowledged, "acknowledged", fx),
        Action::InProgress => decide_now(s, Status::InProgress, "set in progress", fx),
        Action::Reopen => decide_now(s, Status::New, "reopened", fx),
        Action::Approve => open_single(s, DecisionKind::Approve),
        Action::Reject => open_single(s, DecisionKind::Reject),
        Action::OpenTicket => {
            let ids = s.targets();
            if ids.is_empty() {
                s.flash("nothing selected", true);
            } else {
                fx.push(Effect::Decide {
                    ids,
                    intent: Intent::Ticket { system: None },
                    done: "ticket".into(),
                });
            }
        }
        Action::Notify => {
            let ids = s.targets();
            if ids.is_empty() {
                s.flash("nothing selected", true);
            } else {
                fx.push(Effect::Decide {
                    ids,
                    intent: Intent::Notify,
                    done: "notification".into(),
                });
            }
        }
        Action::PullRequest => match s.selected_row().map(|r| r.id.clone()) {
            Some(id) => fx.push(Effect::Decide {
                ids: vec![id],
                intent: Intent::PullRequest { proposal: None },
                done: "pull request".into(),
            }),
            None => s.flash("nothing selected", true),
        },
        Action::Claim | Action::NextUnclaimed if !s.team_mode => s.flash(
            "claims need a team store: set [store] url or SITREP_DATABASE_URL (docs/team.md)",
            true,
        ),
        // The worker would wait out the connect timeout while the queue could not scroll.
        Action::Claim | Action::NextUnclaimed if s.team.as_ref().is_some_and(|t| !t.live) => s
            .flash(
                "the team store is unreachable: claims wait until it is back",
                true,
            ),
        Action::Claim => match s.selected_row() {
            Some(r) => {
                // Pressed on one's own live claim: give it back.
                let release = r.assignee.as_deref() == Some(s.actor.as_str())
                    && r.claim_until.is_some_and(|u| u > s.now_ms);
                fx.push(Effect::Claim {
                    id: r.id.clone(),
                    release,
                });
            }
            None => s.flash("nothing selected", true),
        },
        Action::NextUnclaimed => fx.push(Effect::NextUnclaimed),
        Action::Resolve => open_modal(s, DecisionKind::Resolve),
        Action::Dismiss => open_modal(s, DecisionKind::Dismiss),
        Action::Snooze => open_modal(s, DecisionKind::Snooze),
        Action::AddNote => open_modal(s, DecisionKind::Note),
        Action::SyncNow => {
            if s.sources.is_empty() {
                s.flash(
                    "no sources configured: add [[source]] tables to the config (docs/configuration.md)",
                    true,
                );
            } else {
                fx.push(Effect::SyncNow);
                s.flash("sync requested", false);
            }
        }
        Action::MoveDown
        | Action::MoveUp
        | Action::PageDown
        | Action::PageUp
        | Action::HalfPageDown
        | Action::HalfPageUp => {}
    }
}

pub fn sort_name(k: SortKey) -> &'static str {
    match k {
        SortKey::Score => "score",
        SortKey::Severity => "severity",
        SortKey::Recent => "recent",
        SortKey::Oldest => "oldest",
        SortKey::Vendor => "vendor",
        SortKey::Title => "title",
        SortKey::Resource => "resource",
        SortKey::Account => "account",
        SortKey::Status => "status",
    }
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 alert".into()
    } else {
        format!("{n} alerts")
    }
}

fn decide_now(s: &mut State, status: Status, verb: &str, fx: &mut Vec<Effect>) {
    let ids = s.targets();
    if ids.is_empty() {
        s.flash("nothing selected", true);
        return;
    }
    let done = format!("{verb} {}", plural(ids.len()));
    fx.push(Effect::Decide {
        ids,
        intent: Intent::Mark { status, note: None },
        done,
    });
}

/// Approvals are per diff: the selected alert only, never the marked rows in bulk.
fn open_single(s: &mut State, kind: DecisionKind) {
    let Some(id) = s.selected_row().map(|r| r.id.clone()) else {
        s.flash("nothing selected", true);
        return;
    };
    if !s.marked.is_empty() {
        s.flash(
            "approvals are one diff at a time: the selected alert, not the marked rows",
            false,
        );
    }
    s.modal = Some(DecisionModal::new(kind, vec![id]));
}

fn open_modal(s: &mut State, kind: DecisionKind) {
    let ids = s.targets();
    if ids.is_empty() {
        s.flash("nothing selected", true);
        return;
    }
    s.modal = Some(DecisionModal::new(kind, ids));
}

fn modal_key(s: &mut State, k: KeyChord, fx: &mut Vec<Effect>) {
    let now = s.now_ms;
    let Some(m) = s.modal.as_mut() else { return };
    m.error = None;
    let submit = (k.ctrl && k.key == Key::Char('s'))
        || (k.key == Key::Enter && !k.alt && m.field != Field::Note);
    if k.key == Key::Esc {
        s.modal = None;
        s.flash("cancelled", false);
        return;
    }
    if k.key == Key::Tab || k.key == Key::BackTab {
        m.next_field(k.key == Key::BackTab);
        return;
    }
    if submit {
        let note = m.note_text();
        let until = match m.until_ms(now) {
            Ok(u) => u,
            Err(e) => {
                m.error = Some(e);
                m.field = Field::Until;
                return;
            }
        };
        let reason = m.reasons.get(m.reason).copied().unwrap_or("other");
        let ids = m.targets.clone();
        let n = plural(ids.len());
        let effect = match m.kind {
            DecisionKind::Note => match note {
                Some(note) => Effect::Decide {
                    done: format!("note added to {n}"),
                    ids,
                    intent: Intent::Note(note),
                },
                None => {
                    m.error = Some("the note is empty".into());
                    return;
                }
            },
            DecisionKind::Dismiss => Effect::Decide {
                ids,
                intent: Intent::Mark {
                    status: Status::Dismissed {
                        reason: DismissReason::parse(reason).unwrap_or(DismissReason::Other),
                        note: note.clone(),
                        until,
                    },
                    note,
                },
                done: format!("dismissed {n} ({reason})"),
            },
            DecisionKind::Snooze => {
                let Some(until) = until else {
                    m.error = Some("a snooze needs an end".into());
                    return;
                };
                Effect::Decide {
                    ids,
                    intent: Intent::Mark {
                        status: Status::Snoozed {
                            until,
                            note: note.clone(),
                        },
                        note,
                    },
                    done: format!("snoozed {n}"),
                }
            }
            // The dialog for these opened on the selected alert alone (`open_single`).
            DecisionKind::Approve => Effect::Decide {
                ids,
                intent: Intent::Approve {
                    note,
                    proposal: None,
                },
                done: "approval recorded".into(),
            },
            DecisionKind::Reject => match note {
                Some(note) => Effect::Decide {
                    ids,
                    intent: Intent::Reject {
                        note,
                        proposal: None,
                    },
                    done: "rejection recorded".into(),
                },
                None => {
                    m.error = Some("a rejection needs a note saying why".into());
                    return;
                }
            },
            DecisionKind::Resolve => Effect::Decide {
                ids,
                intent: Intent::Mark {
                    status: Status::Resolved {
                        reason: reason.to_string(),
                    },
                    note,
                },
                done: format!("resolved {n} ({reason})"),
            },
        };
        fx.push(effect);
        s.modal = None;
        return;
    }
    match m.field {
        Field::Reason => match k.key {
            Key::Down | Key::Char('j') => m.reason = (m.reason + 1).min(m.reasons.len() - 1),
            Key::Up | Key::Char('k') => m.reason = m.reason.saturating_sub(1),
            Key::Char(c) if c.is_ascii_digit() => {
                let i = (c as usize).saturating_sub('1' as usize);
                if i < m.reasons.len() {
                    m.reason = i;
                }
            }
            _ => {}
        },
        Field::Note => {
            m.note.input(modal::textarea_input(&k));
        }
        Field::Until => {
            if k.key != Key::Enter {
                m.until.input(modal::textarea_input(&k));
            }
        }
    }
}

fn prompt_key(s: &mut State, k: KeyChord, fx: &mut Vec<Effect>) {
    let Some(p) = s.prompt.as_mut() else { return };
    match k.key {
        Key::Esc => s.prompt = None,
        Key::Char('u') if k.ctrl => {
            p.input = ratatui_textarea::TextArea::default();
            p.error = None;
            p.note = None;
            p.revalidate();
        }
        Key::Enter => {
            let text = p.text();
            let kind = p.kind;
            match kind {
                PromptKind::Filter => {
                    if p.error.is_some() {
                        return;
                    }
                    s.prompt = None;
                    if let Err(e) = s.set_filter(&text, fx) {
                        s.flash(e, true);
                    }
                }
                PromptKind::Command => match run_command(s, &text, fx) {
                    Ok(()) => s.prompt = None,
                    Err(e) => {
                        if let Some(p) = s.prompt.as_mut() {
                            p.error = Some(e);
                        }
                    }
                },
            }
        }
        _ => {
            if !(k.key == Key::Tab || k.key == Key::BackTab || (k.ctrl && k.key == Key::Char('m')))
            {
                p.input.input(modal::textarea_input(&k));
                p.error = None;
                p.note = None;
                p.revalidate();
            }
        }
    }
}

/// The filter that shows what the vendor closed (`C`, `:closed`).
pub const CLOSED_FILTER: &str = "vstate:closed";

/// Show the alerts the vendor closed, whatever their status here; from that view, back to
/// the whole queue.
fn show_closed(s: &mut State, fx: &mut Vec<Effect>) {
    let (filter, said) = if s.filter_text == CLOSED_FILTER {
        ("", "filter cleared")
    } else {
        (
            CLOSED_FILTER,
            "closed at the vendor (whatever their status here); C again: back",
        )
    };
    match s.set_filter(filter, fx) {
        Ok(()) => s.flash(said, false),
        Err(e) => s.flash(e, true),
    }
}

/// An `:ask` answered: its filter opens in the filter prompt, editable, with what it means
/// beside it; nothing runs until Enter.
fn asked(s: &mut State, answer: &crate::narrate::ask::Answer) {
    let mut note = format!("{}: {}", answer.label(), answer.explanation);
    if !answer.not_understood.is_empty() {
        note.push_str(&format!(
            " · not understood: {}",
            answer.not_understood.join(", ")
        ));
    }
    if let Some(why) = &answer.unavailable {
        note.push_str(&format!(" · model unavailable: {why}"));
    }
    let mut p = Prompt::new(PromptKind::Filter, &answer.filter);
    p.note = Some(crate::sanitize::one_line(&note));
    s.prompt = Some(p);
    s.flash = None;
}

/// The `:` command line.
fn run_command(s: &mut State, line: &str, fx: &mut Vec<Effect>) -> Result<(), String> {
    let line = line.trim();
    let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
    let arg = arg.trim();
    match cmd {
        "" => Ok(()),
        "q" | "quit" | "q!" => {
            quit(s, fx);
            Ok(())
        }
        "sort" => {
            let k = SortKey::parse(arg).ok_or_else(|| {
                format!(
                    "unknown sort '{}'; expected one of {}",
                    crate::sanitize::one_line(arg),
                    SortKey::NAMES.join(", ")
                )
            })?;
            s.set_sort(k, fx);
            s.flash(format!("sorted by {}", sort_name(k)), false);
            Ok(())
        }
        "filter" | "f" => s.set_filter(arg, fx),
        "ask" => {
            if arg.is_empty() {
                return Err(
                    "usage: :ask QUESTION, e.g. :ask critical alerts on prod nobody ticketed"
                        .into(),
                );
            }
            s.ask_req += 1;
            fx.push(Effect::Ask {
                req: s.ask_req,
                question: arg.to_string(),
            });
            s.flash(format!("asking: {}", crate::sanitize::one_line(arg)), false);
            Ok(())
        }
        "closed" => {
            show_closed(s, fx);
            Ok(())
        }
        "sync" => {
            apply(s, Action::SyncNow, fx);
            Ok(())
        }
        "theme" => {
            if arg.is_empty() {
                return Err("usage: :theme dark|light|high-contrast|NAME".into());
            }
            fx.push(Effect::LoadTheme(arg.to_string()));
            Ok(())
        }
        "help" | "h" => {
            s.help = Some(0);
            Ok(())
        }
        "top" => {
            apply(s, Action::Top, fx);
            Ok(())
        }
        "copy" | "copy!" | "yank" | "yank!" => copy_command(s, arg, cmd.ends_with('!'), fx),
        _ => Err(format!(
            "unknown command ':{}'; commands: sort KEY, filter Q, ask QUESTION, closed, sync, theme NAME, copy N, help, q",
            crate::sanitize::one_line(cmd)
        )),
    }
}

/// `:copy N`: the command of recommended action N of the narrative on screen goes to the
/// clipboard. A command labelled destructive, exfiltration or privilege (narrate::risk) is
/// not copied at the first ask: the prompt comes back as `:copy! N` with the label, and
/// only Enter on that copies it (Esc cancels).
fn copy_command(
    s: &mut State,
    arg: &str,
    confirmed: bool,
    fx: &mut Vec<Effect>,
) -> Result<(), String> {
    let n = match &s.narration {
        Narration::Ready(n) => n,
        Narration::Failed { fallback, .. } => fallback,
        _ => return Err("no narrative yet: open the Narrative tab first".into()),
    };
    let i = arg
        .parse::<usize>()
        .ok()
        .filter(|i| *i >= 1)
        .ok_or("usage: :copy N — N is the number of a recommended action with a command")?;
    let cmd = n
        .body
        .actions
        .get(i - 1)
        .and_then(|a| a.command.as_deref())
        .map(crate::sanitize::one_line)
        .ok_or_else(|| format!("recommended action {i} has no command"))?;
    let label = n.command_risk(i - 1).map(|r| r.label());
    match label {
        Some(label) if !confirmed => {
            s.prompt = Some(Prompt::new(PromptKind::Command, &format!("copy! {i}")));
            Err(format!(
                "command {i} is labelled {label}: Enter copies it anyway, Esc cancels"
            ))
        }
        label => {
            fx.push(Effect::Copy(cmd));
            s.flash(
                match label {
                    Some(l) => format!("command {i} copied to the clipboard — labelled {l}"),
                    None => format!("command {i} copied to the clipboard"),
                },
                false,
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
