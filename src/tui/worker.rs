//! The console's store worker: runs the effects that read or write the database on its own
//! thread (its own SQLite connection), so the drawing loop never waits on a query.

use crate::app::{Detail, Effect, Msg};
use crate::domain::EpochMs;
use crate::highlight::{Highlighter, Lang, PLAIN_THEME, StyledLine};
use crate::sanitize;
use crate::store::{ListRequest, StatusChange, Store};

/// Key of the "last looked at the queue" time in the store's `kv` table.
pub const LAST_LOOKED: &str = "console.last_looked";

pub struct Worker {
    pub store: Store,
    pub actor: String,
    pub clock: fn() -> EpochMs,
    /// The highlighter for the current syntax theme, made on first use.
    pub highlighter: Option<Highlighter>,
}

impl Worker {
    pub fn new(store: Store, actor: String, clock: fn() -> EpochMs) -> Worker {
        Worker {
            store,
            actor,
            clock,
            highlighter: None,
        }
    }

    /// Highlight `text` in the syntax theme `theme` (an unknown theme: no colours).
    fn highlight(&mut self, theme: &str, text: &str, lang: Lang) -> Vec<StyledLine> {
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
        match &self.highlighter {
            Some(h) => h.highlight(text, lang),
            None => sanitize::text(text)
                .lines()
                .map(|l| StyledLine {
                    spans: vec![(Default::default(), l.replace('\t', "    "))],
                })
                .collect(),
        }
    }
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
                let list = ListRequest {
                    filter: filter.as_ref(),
                    include_closed: false,
                    sort,
                    limit: len,
                    offset: start,
                    now_ms: now,
                };
                let result = self
                    .store
                    .list(&list)
                    .and_then(|rows| Ok((rows, self.store.count(&list)?)));
                Some(match result {
                    Ok((rows, total)) => {
                        let anchor = anchor
                            .and_then(|id| rows.iter().position(|r| r.id == id).map(|i| start + i));
                        Msg::Window {
                            req,
                            start,
                            rows,
                            total,
                            anchor,
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
                        let evidence = self.highlight(
                            &syntax_theme,
                            &evidence_text(&alert.alert.raw),
                            Lang::Json,
                        );
                        let remediation = match alert.alert.remediation.as_deref() {
                            Some(r) => self.highlight(&syntax_theme, r, Lang::Shell),
                            None => Vec::new(),
                        };
                        Box::new(Detail {
                            alert,
                            evidence,
                            remediation,
                        })
                    }),
                },
                Err(e) => Msg::Failed {
                    text: format!("cannot read {}: {e}", sanitize::one_line(&id)),
                },
            }),
            Effect::Decide {
                ids,
                status,
                note,
                done,
            } => {
                let change = StatusChange {
                    status,
                    actor: self.actor.clone(),
                    note,
                    at: now,
                };
                for id in &ids {
                    if let Err(e) = self.store.set_status(id, &change) {
                        return Some(Msg::Failed {
                            text: format!(
                                "could not record the decision on {}: {e}",
                                sanitize::one_line(id)
                            ),
                        });
                    }
                }
                Some(Msg::Applied { text: done })
            }
            Effect::Note { ids, note } => {
                for id in &ids {
                    if let Err(e) = self.store.add_note(id, &self.actor, &note, now) {
                        return Some(Msg::Failed {
                            text: format!("could not add the note: {e}"),
                        });
                    }
                }
                Some(Msg::Applied {
                    text: format!(
                        "note added to {}",
                        if ids.len() == 1 {
                            "1 alert".to_string()
                        } else {
                            format!("{} alerts", ids.len())
                        }
                    ),
                })
            }
            Effect::SaveLastLooked(at) => {
                if let Err(e) = self.store.set_value(LAST_LOOKED, &at.to_string()) {
                    tracing::warn!("cannot save the last-looked time: {e}");
                }
                None
            }
            Effect::SyncNow | Effect::LoadTheme(_) => None,
        }
    }
}

/// The raw payload pretty-printed, sanitized (escape sequences and invisible characters out).
pub fn evidence_text(raw: &serde_json::Value) -> String {
    let mut findings = sanitize::Findings::default();
    let clean = sanitize::json(raw, &mut findings);
    serde_json::to_string_pretty(&clean).unwrap_or_default()
}
