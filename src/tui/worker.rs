//! The console's store worker: runs the effects that read or write the database on its own
//! thread (its own SQLite connection), so the drawing loop never waits on a query.

use crate::app::{Detail, Effect, Msg};
use crate::domain::EpochMs;
use crate::sanitize;
use crate::store::{ListRequest, StatusChange, Store};

/// Key of the "last looked at the queue" time in the store's `kv` table.
pub const LAST_LOOKED: &str = "console.last_looked";

pub struct Worker {
    pub store: Store,
    pub actor: String,
    pub clock: fn() -> EpochMs,
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
            Effect::LoadDetail { req, id } => Some(match self.store.get(&id) {
                Ok(found) => Msg::Detail {
                    req,
                    detail: found.map(|alert| {
                        let evidence = evidence_lines(&alert.alert.raw);
                        Box::new(Detail { alert, evidence })
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
pub fn evidence_lines(raw: &serde_json::Value) -> Vec<String> {
    let mut findings = sanitize::Findings::default();
    let clean = sanitize::json(raw, &mut findings);
    serde_json::to_string_pretty(&clean)
        .unwrap_or_default()
        .lines()
        .map(|l| l.replace('\t', "    "))
        .collect()
}
