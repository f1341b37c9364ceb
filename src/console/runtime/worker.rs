//! The console's store worker: runs the effects that read or write the database on its own
//! thread (its own SQLite connection), so the drawing loop never waits on a query.

use crate::config::IacConfig;
use crate::console::model::{Detail, Effect, Msg};
use crate::dispatch::decide;
use crate::domain::{EpochMs, Intent};
use crate::highlight::{Highlighter, Lang, PLAIN_THEME, SpanStyle, StyledLine};
use crate::sanitize;
use crate::store::Store;
use crate::team::decide::{OFFLINE_NOTE, Sent};

/// Key of the "last looked at the queue" time in the store's `kv` table.
pub const LAST_LOOKED: &str = "console.last_looked";

/// What recording decisions did, for the status line.
struct Decided {
    queued: usize,
    notes: Vec<String>,
    /// Team mode: the team store could not be reached; the decisions wait in the journal.
    offline: bool,
}

pub struct Worker {
    pub store: Store,
    pub actor: String,
    pub clock: fn() -> EpochMs,
    /// The highlighter for the current syntax theme, made on first use.
    pub highlighter: Option<Highlighter>,
    /// Where the analyst's IaC checkouts are (remediation diffs).
    pub iac: IacConfig,
    /// Who writes narratives (the offline narrator unless `[llm]` names a model).
    pub narrator: crate::narrate::Narrator,
    /// Sources, tickets and notifications: where decisions are delivered.
    pub config: crate::config::Config,
    /// Wakes the outbox task after a decision queued deliveries.
    pub outbox_wake: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// When the analyst last looked, as the console started from (None: the store's
    /// [`LAST_LOOKED`]), for "N closed at the vendor since you last looked".
    pub last_looked: Option<EpochMs>,
    /// Reads queue windows from the nearest known position.
    pub pager: super::pager::Pager,
    /// Team mode: the team store (claims, `next`) and the runtime its connections live on.
    pub team: Option<(crate::store::team::TeamStore, tokio::runtime::Handle)>,
}

impl Worker {
    pub fn new(store: Store, actor: String, clock: fn() -> EpochMs) -> Worker {
        Worker {
            store,
            actor,
            clock,
            highlighter: None,
            iac: IacConfig::default(),
            narrator: crate::narrate::Narrator::offline(),
            config: crate::config::Config::defaults(),
            outbox_wake: None,
            last_looked: None,
            pager: super::pager::Pager::default(),
            team: None,
        }
    }

    /// Record `intent` on every id (the same path as the headless commands): the deliveries
    /// queued and what the decisions had to say.
    fn decide(&mut self, ids: &[String], intent: &Intent, now: EpochMs) -> Result<Decided, String> {
        let mut queued = 0;
        let mut notes = Vec::new();
        let mut conflicts = Vec::new();
        let mut offline = false;
        // Team mode: journaled in the replica, then sent to the team store (held in the
        // journal while it is unreachable); SQLite mode: this store.
        let team = self.team.clone();
        let mut rec = match &team {
            Some((t, rt)) => crate::dispatch::recorder::Recorder::Team { team: Some(t), rt },
            None => crate::dispatch::recorder::Recorder::Local,
        };
        for id in ids {
            let out = decide::decide_with(
                &mut rec,
                &mut self.store,
                &self.config,
                &self.actor,
                id,
                intent,
                now,
            )
            .map_err(|e| {
                format!(
                    "could not record the decision on {}: {e}",
                    sanitize::one_line(id)
                )
            })?;
            queued += out.queued;
            match out.team {
                // Not applied: said as a failure, never as done (docs/team.md, "Offline and
                // conflicts").
                Some(Sent::Conflict { journal_id, detail }) => conflicts.push(format!(
                    "{} not applied (#{journal_id}): {}",
                    sanitize::one_line(id),
                    sanitize::one_line(&detail)
                )),
                Some(Sent::Pending) => {
                    // The team store did not answer: the rest of a bulk decision goes to the
                    // journal at once instead of each waiting out the connect timeout.
                    offline = true;
                    if let (Some((_, rt)), crate::dispatch::recorder::Recorder::Team { .. }) =
                        (&team, &rec)
                    {
                        rec = crate::dispatch::recorder::Recorder::Team { team: None, rt };
                    }
                }
                _ => notes.extend(out.notes),
            }
        }
        // Also with nothing queued: the decision's audit entry may be owed to a SIEM
        // (rows a trigger writes, docs/siem.md); an idle wake finds nothing due.
        if let Some(w) = &self.outbox_wake {
            w.notify_one();
        }
        if let Some(first) = conflicts.first() {
            return Err(format!(
                "{} of {} decisions not applied, someone changed the alert meanwhile: {first} (sitrep team conflicts)",
                conflicts.len(),
                ids.len()
            ));
        }
        Ok(Decided {
            queued,
            notes,
            offline,
        })
    }

    /// Make sure the highlighter is the one for `theme` (an unknown theme: no colours).
    fn use_theme(&mut self, theme: &str) {
        if self
            .highlighter
            .as_ref()
            .is_none_or(|h| h.theme_name() != theme)
        {
            self.highlighter = Highlighter::new(theme)
                .or_else(|e| {
                    tracing::warn!("syntax theme: {e}; highlighting off");
                    Highlighter::new(PLAIN_THEME)
                })
                .ok();
        }
    }

    fn highlight(&self, text: &str, lang: Lang, diff: bool) -> Vec<StyledLine> {
        match &self.highlighter {
            Some(h) if diff => h.highlight_diff(text, lang),
            Some(h) => h.highlight(text, lang),
            None => plain_lines(text),
        }
    }

    /// The remediation pane's content: sitrep's proposals (diffs against the mapped IaC
    /// checkouts, or labelled standalone snippets), then the vendor's own text.
    fn remediation(&self, alert: &crate::domain::Alert) -> (String, Vec<StyledLine>) {
        let rem = crate::remediate::propose(alert, &self.iac);
        let heading = |t: &str| StyledLine {
            spans: vec![(
                SpanStyle {
                    bold: true,
                    ..SpanStyle::default()
                },
                format!("▸ {}", sanitize::one_line(t)),
            )],
        };
        let mut lines = plain_lines(&rem.summary);
        lines.push(StyledLine::default());
        for p in &rem.proposals {
            lines.push(heading(&p.title));
            lines.extend(self.highlight(&p.text, p.lang, p.is_diff()));
            lines.push(StyledLine::default());
        }
        if let Some(v) = alert.remediation.as_deref() {
            lines.push(heading("From the vendor"));
            lines.extend(self.highlight(v, Lang::Shell, false));
        }
        let diffs = rem.proposals.iter().filter(|p| p.is_diff()).count();
        let title = match (rem.generator, rem.proposals.len()) {
            (None, _) | (_, 0) => "from the vendor".to_string(),
            (Some(g), n) if diffs > 0 => format!("{g}: {diffs} diff(s), {n} proposal(s)"),
            (Some(g), n) => format!("{g}: {n} standalone snippet(s)"),
        };
        (title, lines)
    }
}

/// Sanitized text as unstyled lines.
fn plain_lines(text: &str) -> Vec<StyledLine> {
    sanitize::text(text)
        .lines()
        .map(|l| StyledLine {
            spans: vec![(SpanStyle::default(), l.replace('\t', "    "))],
        })
        .collect()
}

impl Worker {
    /// Run one store effect; the message to feed back, if any. Effects that are not the
    /// store's (sync, theme) are ignored here.
    pub fn run(&mut self, effect: Effect) -> Option<Msg> {
        let now = (self.clock)();
        match effect {
            Effect::LoadWindow {
                req,
                start,
                len,
                filter,
                sort,
                anchor,
            } => {
                let result = self
                    .pager
                    .window(&self.store, filter.as_ref(), sort, start, len, now);
                let closed_at_vendor = self.closed_at_vendor();
                Some(match result {
                    Ok(page) => {
                        let rows = page.rows;
                        let anchor = anchor
                            .and_then(|id| rows.iter().position(|r| r.id == id).map(|i| start + i));
                        Msg::Window {
                            req,
                            start,
                            rows,
                            total: page.total.n,
                            exact: page.total.exact,
                            anchor,
                            closed_at_vendor,
                        }
                    }
                    Err(e) => Msg::Failed {
                        text: format!("cannot read the queue: {e}"),
                    },
                })
            }
            Effect::LoadDetail {
                req,
                id,
                syntax_theme,
            } => Some(match self.store.get(&id) {
                Ok(found) => Msg::Detail {
                    req,
                    detail: found.map(|alert| {
                        self.use_theme(&syntax_theme);
                        let evidence =
                            self.highlight(&evidence_text(&alert.alert.raw), Lang::Json, false);
                        let (remediation_title, remediation) = self.remediation(&alert.alert);
                        let score = self
                            .store
                            .score_breakdown(&alert.id, &self.store.scoring().clone())
                            .unwrap_or_else(|e| {
                                tracing::warn!("score breakdown: {e}");
                                None
                            });
                        let paths = self.store.attack_paths_for(&alert.id).unwrap_or_else(|e| {
                            tracing::warn!("attack paths: {e}");
                            Vec::new()
                        });
                        let narrative = if self.narrator.is_offline() {
                            Some(crate::narrate::offline_narrative(&alert))
                        } else {
                            self.narrator.cached(&self.store, &alert)
                        };
                        let overview = {
                            let mut copy = alert.clone();
                            copy.history.clear();
                            crate::present::show_text(&copy, now)
                        };
                        Box::new(Detail {
                            overview,
                            narrative,
                            alert,
                            evidence,
                            remediation,
                            remediation_title,
                            score,
                            paths,
                        })
                    }),
                },
                Err(e) => Msg::Failed {
                    text: format!("cannot read {}: {e}", sanitize::one_line(&id)),
                },
            }),
            Effect::Decide { ids, intent, done } => {
                // Its own writes do not move `data_version`: the pager's keys may be stale.
                self.pager.forget();
                Some(self.decided(&ids, &intent, now, &done))
            }
            Effect::Claim { id, release } => Some(self.claim(&id, release, now)),
            Effect::NextUnclaimed => Some(self.next_unclaimed(now)),
            Effect::SaveLastLooked(at) => {
                if let Err(e) = self.store.set_value(LAST_LOOKED, &at.to_string()) {
                    tracing::warn!("cannot save the last-looked time: {e}");
                }
                None
            }
            Effect::SyncNow
            | Effect::LoadTheme(_)
            | Effect::Narrate { .. }
            | Effect::Ask { .. }
            | Effect::Copy(_) => None,
        }
    }
}

impl Worker {
    /// Claim or release `id` on the team store, then pull so the queue shows it.
    fn claim(&mut self, id: &str, release: bool, now: EpochMs) -> Msg {
        use crate::store::team::{ClaimOutcome, ReleaseOutcome};
        let Some((team, rt)) = self.team.clone() else {
            return Msg::Failed {
                text: "claims need a team store (docs/team.md)".into(),
            };
        };
        let ttl = self.config.store.claim_ttl.as_millis() as i64;
        let short = sanitize::one_line(id);
        let text = if release {
            match rt.block_on(team.release(id, &self.actor, now, None)) {
                Ok(ReleaseOutcome::Released { .. }) => format!("released {short}"),
                Ok(ReleaseOutcome::NotClaimed) => format!("{short} was not claimed"),
                Ok(ReleaseOutcome::Refused { holder, .. }) => {
                    return Msg::Failed {
                        text: format!("{short} is held by {}", sanitize::one_line(&holder)),
                    };
                }
                Err(e) => {
                    return Msg::Failed {
                        text: format!("release: {e}"),
                    };
                }
            }
        } else {
            match rt.block_on(team.claim(id, &self.actor, now, ttl, None, false)) {
                Ok(ClaimOutcome::Claimed { .. }) => format!(
                    "claimed {short} for {}",
                    crate::present::age(now + ttl, now)
                ),
                Ok(ClaimOutcome::Refused { holder, until }) => {
                    return Msg::Failed {
                        text: format!(
                            "{short} is held by {} for {} more (sitrep claim --take-over --note … takes it over)",
                            sanitize::one_line(&holder),
                            crate::present::age(until, now)
                        ),
                    };
                }
                Err(e) => {
                    return Msg::Failed {
                        text: format!("claim: {e}"),
                    };
                }
            }
        };
        self.pull_team(&team, &rt, now);
        Msg::Claimed { text, select: None }
    }

    /// Take the best unclaimed alert and select it.
    fn next_unclaimed(&mut self, now: EpochMs) -> Msg {
        let Some((team, rt)) = self.team.clone() else {
            return Msg::Failed {
                text: "next needs a team store (docs/team.md)".into(),
            };
        };
        let ttl = self.config.store.claim_ttl.as_millis() as i64;
        match rt.block_on(team.next(&self.actor, now, ttl)) {
            Ok(Some(state)) => {
                self.pull_team(&team, &rt, now);
                Msg::Claimed {
                    text: format!("yours: {}", sanitize::one_line(&state.id)),
                    select: Some(state.id),
                }
            }
            Ok(None) => Msg::Claimed {
                text: "no open alert is left unclaimed".into(),
                select: None,
            },
            Err(e) => Msg::Failed {
                text: format!("next: {e}"),
            },
        }
    }

    /// Bring the replica up to date right away (the link would too, a moment later).
    fn pull_team(
        &mut self,
        team: &crate::store::team::TeamStore,
        rt: &tokio::runtime::Handle,
        now: EpochMs,
    ) {
        self.pager.forget();
        if let Err(e) = rt.block_on(crate::team::pull(&mut self.store, team, now)) {
            tracing::warn!("team pull: {e}");
        }
    }

    /// Alerts that left the queue because the vendor closed them since the analyst last
    /// looked (the `LAST_LOOKED` time the console started from; none when it is unknown).
    fn closed_at_vendor(&self) -> usize {
        let since = match self.last_looked {
            Some(at) => Some(at),
            None => match self.store.get_value(LAST_LOOKED) {
                Ok(v) => v.and_then(|v| v.parse::<EpochMs>().ok()),
                Err(e) => {
                    tracing::warn!("last-looked time: {e}");
                    None
                }
            },
        };
        let Some(since) = since else { return 0 };
        self.store
            .closed_at_vendor_since(since)
            .unwrap_or_else(|e| {
                tracing::warn!("closed at the vendor: {e}");
                0
            })
    }

    /// Decide, and say what happened in one status-line message: `what`, then what the
    /// decisions noted, then how many deliveries they queued.
    fn decided(&mut self, ids: &[String], intent: &Intent, now: EpochMs, what: &str) -> Msg {
        // A status or a note, often on many alerts, says only what was done; the other intents
        // (one diff, a ticket, a message) also say what the decision noted.
        let with_notes = !matches!(intent, Intent::Mark { .. } | Intent::Note(_));
        match self.decide(ids, intent, now) {
            Err(text) => Msg::Failed { text },
            Ok(Decided {
                queued,
                notes,
                offline,
            }) => {
                let mut text = match notes.last() {
                    _ if offline => format!("{what}: {OFFLINE_NOTE}"),
                    Some(n) if with_notes => format!("{what}: {}", sanitize::one_line(n)),
                    _ => what.to_string(),
                };
                if queued > 0 {
                    text.push_str(&format!(
                        "; {queued} deliver{} queued",
                        if queued == 1 { "y" } else { "ies" }
                    ));
                }
                Msg::Applied { text }
            }
        }
    }
}

/// The raw payload pretty-printed, sanitized (escape sequences and invisible characters out).
pub fn evidence_text(raw: &serde_json::Value) -> String {
    let mut findings = sanitize::Findings::default();
    let clean = sanitize::json(raw, &mut findings);
    serde_json::to_string_pretty(&clean).unwrap_or_default()
}
