//! `sitrep source check`: a read-only probe of one configured source, for a new tenant.
//!
//! It logs in and reads one page (read), asks for what changed since now with each of the
//! client's incremental filters (incremental), and reports each write-back kind the vendor's
//! client implements as not tried: nothing is written to the vendor, and none of the six
//! vendors has a documented read-only way to validate a status change or a comment. Nothing is
//! written to the store either: the pages go nowhere.

use super::api::{ApiError, Connect, PageSink, Window};
use crate::config::SourceConfig;
use crate::domain::{Alert, EpochMs};

/// What a probe found for one capability.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    /// It worked; what was seen.
    Works(String),
    /// The vendor refused it; in its own words (one line, sanitized).
    Refused(String),
    /// It failed for another reason (network, a malformed reply).
    Failed(String),
    /// Not tried, and why.
    NotTried(String),
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Works(_) => "works",
            Verdict::Refused(_) => "refused",
            Verdict::Failed(_) => "failed",
            Verdict::NotTried(_) => "not tried",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Verdict::Works(d) | Verdict::Refused(d) | Verdict::Failed(d) | Verdict::NotTried(d) => {
                d
            }
        }
    }
}

/// One line of the check's table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Capability {
    /// `read`, `incremental <filter>`, `write-back <kind>`.
    pub name: String,
    pub verdict: Verdict,
}

/// The check of one source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub source: String,
    pub vendor: String,
    pub capabilities: Vec<Capability>,
}

impl Check {
    /// Reading works (the exit code of `sitrep source check` is 0 when it does for every
    /// source checked).
    pub fn reads(&self) -> bool {
        self.capabilities
            .first()
            .is_some_and(|c| matches!(c.verdict, Verdict::Works(_)))
    }
}

/// Counts what arrives and, when `stop_after_one`, stops the fetch after the first page.
struct Probe {
    pages: usize,
    alerts: usize,
    stop_after_one: bool,
}

/// The sink's own stop, told apart from a real error by this text.
const STOPPED: &str = "the check stops after one page";

impl PageSink for Probe {
    fn page(&mut self, alerts: Vec<Alert>) -> Result<(), ApiError> {
        self.pages += 1;
        self.alerts += alerts.len();
        if self.stop_after_one {
            return Err(ApiError::Store(STOPPED.to_string()));
        }
        Ok(())
    }
}

/// The vendor's words, one line, at most 300 characters.
fn words(e: &ApiError) -> String {
    let mut s = crate::sanitize::one_line(&e.to_string());
    if s.chars().count() > 300 {
        s = s.chars().take(299).collect::<String>() + "…";
    }
    s
}

/// Is `e` the vendor saying no? Everything but the network, a rate limit, a reply we could not
/// read, or our own stop is: an error variant added later (a 403 of its own) counts as a
/// refusal without this list changing.
fn refused(e: &ApiError) -> bool {
    !matches!(
        e,
        ApiError::Network { .. }
            | ApiError::RateLimited { .. }
            | ApiError::Malformed { .. }
            | ApiError::Store(_)
            | ApiError::Http { status: 429, .. }
    )
}

fn verdict_of(e: &ApiError) -> Verdict {
    if refused(e) {
        Verdict::Refused(words(e))
    } else {
        Verdict::Failed(words(e))
    }
}

/// Probe `cfg` with the client `connect` builds. `write_backs`: the write-back kinds the
/// vendor's client implements (reported as not tried).
pub async fn check(
    connect: Connect,
    cfg: &SourceConfig,
    write_backs: &[&str],
    now_ms: EpochMs,
) -> Check {
    let mut caps = Vec::new();
    let vendor = cfg.vendor.display_name().to_string();
    let mut filters = Vec::new();
    let read = match connect(cfg) {
        Err(e) => verdict_of(&e),
        Ok(mut client) => {
            filters = client.incremental_filters();
            let mut probe = Probe {
                pages: 0,
                alerts: 0,
                stop_after_one: true,
            };
            match client.fetch(Window::full(now_ms), &mut probe).await {
                Err(ApiError::Store(s)) if s == STOPPED => Verdict::Works(format!(
                    "logged in; read a page of {} alert(s)",
                    probe.alerts
                )),
                Ok(()) => Verdict::Works(format!(
                    "logged in; read {} page(s), {} alert(s) (everything there is)",
                    probe.pages, probe.alerts
                )),
                Err(e) => verdict_of(&e),
            }
        }
    };
    let reads = matches!(read, Verdict::Works(_));
    caps.push(Capability {
        name: "read".into(),
        verdict: read,
    });
    for f in &filters {
        let verdict = if !reads {
            Verdict::NotTried("reading does not work".into())
        } else {
            // Changes since now: the filter goes to the vendor, and little comes back.
            match connect(cfg) {
                Err(e) => verdict_of(&e),
                Ok(mut client) => {
                    let mut probe = Probe {
                        pages: 0,
                        alerts: 0,
                        stop_after_one: false,
                    };
                    match client
                        .fetch(Window::since(now_ms, now_ms, f), &mut probe)
                        .await
                    {
                        Ok(()) => Verdict::Works(format!(
                            "the vendor took the filter ({} alert(s) changed since now)",
                            probe.alerts
                        )),
                        Err(e) => verdict_of(&e),
                    }
                }
            }
        };
        caps.push(Capability {
            name: format!("incremental {f}"),
            verdict,
        });
    }
    for kind in write_backs {
        caps.push(Capability {
            name: format!("write-back {kind}"),
            verdict: Verdict::NotTried(format!(
                "nothing is written to the vendor; {vendor} has no documented read-only way to validate it"
            )),
        });
    }
    Check {
        source: cfg.name.clone(),
        vendor: cfg.vendor.as_str().to_string(),
        capabilities: caps,
    }
}
