//! The outbox worker: delivers due rows at least once, in order per alert and destination,
//! with backoff; destinations de-duplicate by each row's stable key.
//!
//! A crash at any point is safe: an attempt is counted before it is made, a row is marked done
//! only after its destination accepted it, and a row that was delivered but not yet marked done
//! is delivered again — which the destinations absorb (vendor status changes are idempotent,
//! tickets are searched by fingerprint first, webhooks carry a stable `webhook-id`).

use std::collections::HashMap;
use std::time::Duration;

use crate::config::Config;
use crate::domain::EpochMs;
use crate::sources::api::{ApiError, SourceClient, WriteBack, WriteOutcome};
use crate::store::{Finish, OutboxKind, OutboxRow, Store, StoreError, TicketLink};

use super::ticket::{Ensured, TicketClient, TicketRef, TicketSystem};

use super::DispatchError;
use super::queue::OutboxQueue;
// Re-exported: the payload types lived here before they moved below decide.rs and pr.rs.
pub use super::payload::{
    NotifyPayload, PatchPayload, TicketNotePayload, TicketPayload, VendorAction, VendorPayload,
    notify_rows, notify_rows_with,
};

/// First retry after this long; doubling per attempt up to [`BACKOFF_CAP`], with full jitter.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
pub const BACKOFF_CAP: Duration = Duration::from_secs(600);

/// The wall clock in epoch milliseconds (delivery schedules are real time even when a
/// command's "now" is pinned by `SITREP_NOW`).
pub fn wall_clock_ms() -> EpochMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as EpochMs)
        .unwrap_or(0)
}

/// What a delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassStats {
    pub delivered: usize,
    pub unsupported: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl PassStats {
    pub fn attempted(&self) -> usize {
        self.delivered + self.unsupported + self.retrying + self.failed
    }
}

/// The destinations, built from the configuration; clients are made on first use.
pub struct Dispatcher {
    config: Config,
    vendors: HashMap<String, Box<dyn SourceClient>>,
    tickets: HashMap<&'static str, TicketClient>,
    http: Option<reqwest::Client>,
    siem: super::siem::Clients,
}

fn payload<T: serde::de::DeserializeOwned>(row: &OutboxRow) -> Result<T, DispatchError> {
    serde_json::from_value(row.payload.clone())
        .map_err(|e| DispatchError::permanent(format!("unreadable outbox entry: {e}")))
}

impl Dispatcher {
    pub fn new(config: &Config) -> Dispatcher {
        Dispatcher {
            config: config.clone(),
            vendors: HashMap::new(),
            tickets: HashMap::new(),
            http: None,
            siem: Default::default(),
        }
    }

    /// One attempt at one row.
    pub async fn attempt(&mut self, row: &OutboxRow) -> Result<Finish, DispatchError> {
        match row.kind {
            OutboxKind::Vendor => self.vendor(row).await,
            OutboxKind::Ticket => self.ticket(row).await,
            OutboxKind::TicketComment => self.ticket_note(row).await,
            OutboxKind::Notify => self.notify(row).await,
            OutboxKind::Patch => self.patch(row).await,
            OutboxKind::Siem => self.siem(row).await,
            OutboxKind::PullRequest => super::pr::deliver(&self.config, row).await,
        }
    }

    fn http(&mut self) -> Result<reqwest::Client, DispatchError> {
        if let Some(c) = &self.http {
            return Ok(c.clone());
        }
        let c = super::http::client(crate::config::tickets::TIMEOUT)?;
        self.http = Some(c.clone());
        Ok(c)
    }

    fn ticket_client(&mut self, system: &str) -> Result<&TicketClient, DispatchError> {
        let Some(sys) = TicketSystem::parse(system) else {
            return Err(DispatchError::permanent(format!(
                "unknown ticket system '{}'",
                crate::sanitize::one_line(system)
            )));
        };
        if !self.tickets.contains_key(sys.as_str()) {
            let c = TicketClient::new(&self.config.tickets, sys)?;
            self.tickets.insert(sys.as_str(), c);
        }
        self.tickets
            .get(sys.as_str())
            .ok_or_else(|| DispatchError::permanent("ticket client vanished"))
    }

    async fn ticket(&mut self, row: &OutboxRow) -> Result<Finish, DispatchError> {
        let p: TicketPayload = payload(row)?;
        // A routed ticket gets a client for its team's project / group (not cached: routes
        // are few and a ticket is created once).
        let routed;
        let client = match &p.route {
            Some(route) => {
                let sys = TicketSystem::parse(&p.system).ok_or_else(|| {
                    DispatchError::permanent(format!(
                        "unknown ticket system '{}'",
                        crate::sanitize::one_line(&p.system)
                    ))
                })?;
                routed = TicketClient::routed(&self.config.tickets, sys, route)?;
                &routed
            }
            None => self.ticket_client(&p.system)?,
        };
        let ensured = client.ensure(&p.content).await?;
        let (created, t) = match &ensured {
            Ensured::Created(t) => (true, t.clone()),
            Ensured::Existing(t) => (false, t.clone()),
        };
        let system_name = match t.system {
            TicketSystem::Jira => "Jira",
            TicketSystem::ServiceNow => "ServiceNow",
        };
        let line = if created {
            format!("ticket {} created in {system_name}", t.key)
        } else {
            format!("linked existing {system_name} ticket {}", t.key)
        };
        let event = if created {
            "ticket.created"
        } else {
            "ticket.linked"
        };
        let mut follow = row
            .alert_id
            .as_deref()
            .map(|alert| {
                notify_rows(
                    &self.config,
                    &row.dedup_key,
                    alert,
                    event,
                    &format!("{}: {}", line, p.content.summary),
                    Some(p.content.severity.clone()),
                    Some((t.key.clone(), t.url.clone())),
                )
            })
            .unwrap_or_default();
        // The ticket's follow-up notice goes to the same team's channel.
        if let Some(route) = &p.route {
            super::route::apply(&mut follow, route);
        }
        Ok(Finish::Done {
            result: Some(t.key.clone()),
            history: Some(line),
            pull_request: None,
            ticket: Some(TicketLink {
                fingerprint: p.content.fingerprint.clone(),
                system: t.system.as_str().to_string(),
                key: t.key.clone(),
                native_id: t.id.clone(),
                url: t.url.clone(),
                created,
            }),
            follow,
        })
    }

    async fn ticket_note(&mut self, row: &OutboxRow) -> Result<Finish, DispatchError> {
        let p: TicketNotePayload = payload(row)?;
        let client = self.ticket_client(&p.system)?;
        let t = TicketRef {
            system: client.system(),
            key: p.key.clone(),
            id: p.id.clone(),
            url: p.url.clone(),
        };
        if p.resolve {
            client.resolve(&t, &p.text).await?;
        } else {
            client.comment(&t, &p.text, &p.dedup).await?;
        }
        Ok(Finish::Done {
            result: Some(p.key.clone()),
            history: Some(if p.resolve {
                format!("ticket {} moved to done", p.key)
            } else {
                format!("commented on ticket {}", p.key)
            }),
            ticket: None,
            pull_request: None,
            follow: Vec::new(),
        })
    }

    async fn notify(&mut self, row: &OutboxRow) -> Result<Finish, DispatchError> {
        let p: NotifyPayload = payload(row)?;
        let http = self.http()?;
        let n = &p.notice;
        let dest = row.destination.as_str();
        let secret = |c: &crate::config::CredentialRef, what: &str| {
            c.resolve(&|k| std::env::var(k).ok())
                .map_err(|e| DispatchError::permanent(format!("{what}: {e}")))
        };
        if dest == "slack" {
            let Some(c) = &self.config.notify.slack else {
                return Err(DispatchError::permanent(
                    "[notify.slack] is no longer configured",
                ));
            };
            let channel = p.route.as_ref().and_then(|r| r.slack_channel.as_deref());
            super::slack::send_to(&http, &secret(c, "[notify.slack] webhook_url")?, n, channel)
                .await?;
        } else if dest == "teams" {
            let Some(c) = &self.config.notify.teams else {
                return Err(DispatchError::permanent(
                    "[notify.teams] is no longer configured",
                ));
            };
            super::teams::send(&http, &secret(c, "[notify.teams] workflow_url")?, n).await?;
        } else if let Some(name) = dest.strip_prefix("webhook:") {
            let Some(w) = self.config.notify.webhook(name) else {
                return Err(DispatchError::permanent(format!(
                    "webhook '{}' is no longer configured",
                    crate::sanitize::one_line(name)
                )));
            };
            let url = secret(&w.url, "[[notify.webhook]] url")?;
            let key = secret(&w.secret, "[[notify.webhook]] secret")?;
            let now_s = wall_clock_ms() / 1000;
            super::webhook::send(&http, &url, &key, n, now_s).await?;
        } else {
            return Err(DispatchError::permanent(format!(
                "unknown notification destination '{}'",
                crate::sanitize::one_line(dest)
            )));
        }
        Ok(Finish::Done {
            result: None,
            history: Some(format!("sent to {dest} ({})", n.event)),
            ticket: None,
            pull_request: None,
            follow: Vec::new(),
        })
    }

    /// An audit entry to a `[[siem]]` destination. No history line: the row belongs to no
    /// alert, and the SIEM's own record is the trail.
    async fn siem(&mut self, row: &OutboxRow) -> Result<Finish, DispatchError> {
        let entry: super::siem::Entry = payload(row)?;
        let result =
            super::siem::deliver(&self.config.siem, &mut self.siem, &row.destination, &entry)
                .await?;
        Ok(Finish::Done {
            result: Some(result),
            history: None,
            ticket: None,
            pull_request: None,
            follow: Vec::new(),
        })
    }

    async fn patch(&mut self, row: &OutboxRow) -> Result<Finish, DispatchError> {
        let p: PatchPayload = payload(row)?;
        let out = tokio::task::spawn_blocking(move || {
            super::patch::apply(&p.repo, None, &p.branch, &p.diff, &p.message, &p.author)
        })
        .await
        .map_err(|e| DispatchError::permanent(format!("patch task failed: {e}")))??;
        let short = out.commit.get(..12).unwrap_or(&out.commit).to_string();
        Ok(Finish::Done {
            result: Some(format!("{} {short}", out.branch)),
            history: Some(if out.already {
                format!(
                    "the approved diff was already on branch {} ({short})",
                    out.branch
                )
            } else {
                format!(
                    "the approved diff is committed on branch {} ({short}); not pushed",
                    out.branch
                )
            }),
            ticket: None,
            pull_request: None,
            follow: Vec::new(),
        })
    }

    async fn vendor(&mut self, row: &OutboxRow) -> Result<Finish, DispatchError> {
        let payload: VendorPayload = serde_json::from_value(row.payload.clone())
            .map_err(|e| DispatchError::permanent(format!("unreadable outbox entry: {e}")))?;
        if !self.vendors.contains_key(&row.destination) {
            let Some(cfg) = self
                .config
                .sources
                .iter()
                .find(|s| s.name == row.destination)
            else {
                return Err(DispatchError::permanent(format!(
                    "source '{}' is no longer configured",
                    row.destination
                )));
            };
            // The outbox owns retries: one quick transport retry, then the row's backoff.
            let mut cfg = cfg.clone();
            cfg.max_retries = cfg.max_retries.min(1);
            let client =
                crate::vendors::connect(&cfg).map_err(|e| api_error(&row.destination, e))?;
            self.vendors.insert(row.destination.clone(), client);
        }
        let Some(client) = self.vendors.get_mut(&row.destination) else {
            return Err(DispatchError::permanent("client vanished"));
        };
        let action = match payload.action {
            VendorAction::SetStatus { status, note } => WriteBack::SetStatus {
                native_id: payload.native_id,
                status,
                note,
            },
            VendorAction::Comment { text } => WriteBack::Comment {
                native_id: payload.native_id,
                text,
            },
        };
        match client.write_back(&action).await {
            Ok(WriteOutcome::Done) => Ok(Finish::Done {
                result: None,
                history: Some(format!("written back to {}", row.destination)),
                ticket: None,
                pull_request: None,
                follow: Vec::new(),
            }),
            Ok(WriteOutcome::Unsupported(reason)) => Ok(Finish::Unsupported {
                reason: reason.to_string(),
            }),
            Ok(WriteOutcome::Already(reason)) => Ok(Finish::Done {
                result: Some("already".into()),
                history: Some(format!("{}: {reason}", row.destination)),
                ticket: None,
                pull_request: None,
                follow: Vec::new(),
            }),
            Err(e) => Err(api_error(&row.destination, e)),
        }
    }
}

fn api_error(source: &str, e: ApiError) -> DispatchError {
    let detail = format!("{source}: {e}");
    match e {
        ApiError::Network { .. }
        | ApiError::RateLimited { .. }
        | ApiError::Malformed { .. }
        | ApiError::Vendor { .. }
        | ApiError::Store(_) => DispatchError::transient(detail),
        ApiError::Http { status, .. } if status == 408 || status == 429 || status >= 500 => {
            DispatchError::transient(detail)
        }
        ApiError::Http { .. }
        | ApiError::Unauthorized(_)
        | ApiError::Forbidden { .. }
        | ApiError::Config(_)
        | ApiError::FilterRefused { .. } => DispatchError::permanent(detail),
    }
}

/// When to try a row again after `attempts` failed attempts: full jitter over an exponential
/// window, never earlier than the server asked.
pub fn next_attempt(
    now: EpochMs,
    attempts: i64,
    retry_after: Option<Duration>,
    jitter: f64,
) -> EpochMs {
    let exp = attempts.clamp(0, 20) as u32;
    let window = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(exp))
        .min(BACKOFF_CAP);
    let base_ms = BACKOFF_BASE.as_millis() as f64;
    let jittered =
        base_ms + (window.as_millis() as f64 - base_ms).max(0.0) * jitter.clamp(0.0, 1.0);
    let wait = retry_after
        .map(|r| r.as_millis() as f64)
        .unwrap_or(0.0)
        .max(jittered);
    now.saturating_add(wait as EpochMs)
}

fn jitter() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// Deliver every row due now (in order), each at most once per pass, until none is due or
/// `max` attempts were made. `queue` is the SQLite outbox or, in team mode, the team's
/// (`dispatch::queue`): there a row another worker holds is skipped, not attempted twice.
pub async fn deliver_due<Q: OutboxQueue>(
    queue: &mut Q,
    dispatcher: &mut Dispatcher,
    now: fn() -> EpochMs,
    max: usize,
) -> Result<PassStats, Q::Error> {
    let mut stats = PassStats::default();
    let mut tried = std::collections::HashSet::new();
    loop {
        let due: Vec<OutboxRow> = queue
            .due(now(), tried.len() + 64)
            .await?
            .into_iter()
            .filter(|r| !tried.contains(&r.id))
            .collect();
        if due.is_empty() || stats.attempted() >= max {
            return Ok(stats);
        }
        for mut row in due {
            if stats.attempted() >= max {
                break;
            }
            tried.insert(row.id);
            if !queue.begin(&row, now()).await? {
                continue;
            }
            row.attempts += 1;
            let finish = match dispatcher.attempt(&row).await {
                Ok(f) => f,
                Err(DispatchError::Transient {
                    detail,
                    retry_after,
                }) => Finish::Retry {
                    next_attempt_at: next_attempt(now(), row.attempts - 1, retry_after, jitter()),
                    error: detail,
                },
                Err(DispatchError::Permanent { detail }) => Finish::Failed { error: detail },
            };
            match &finish {
                Finish::Done { .. } => stats.delivered += 1,
                Finish::Unsupported { .. } => stats.unsupported += 1,
                Finish::Retry { .. } => stats.retrying += 1,
                Finish::Failed { .. } => stats.failed += 1,
            }
            queue.finish(&row, &finish, now()).await?;
        }
    }
}

/// Poll the status of every open ticket sitrep knows and record changes on the linked alerts.
/// Returns (tickets polled, statuses changed); a ticket system that cannot be reached is
/// skipped until the next poll.
pub async fn poll_tickets<Q: OutboxQueue>(
    queue: &mut Q,
    dispatcher: &mut Dispatcher,
) -> Result<(usize, usize), Q::Error> {
    let mut polled = 0;
    let mut changed = 0;
    for t in queue.tickets(true).await? {
        let Ok(client) = dispatcher.ticket_client(&t.system) else {
            continue;
        };
        let r = TicketRef {
            system: client.system(),
            key: t.key.clone(),
            id: t.native_id.clone(),
            url: t.url.clone(),
        };
        match client.status(&r).await {
            Ok(st) => {
                polled += 1;
                if queue
                    .set_ticket_status(&t.fingerprint, &st.name, st.done, wall_clock_ms())
                    .await?
                {
                    changed += 1;
                }
            }
            Err(e) => tracing::debug!("ticket {}: {e}", t.key),
        }
    }
    Ok((polled, changed))
}

/// Follow every open pull / merge request sitrep opened to merged or closed (`dispatch::pr`).
pub async fn poll_pull_requests(
    store: &mut Store,
    dispatcher: &mut Dispatcher,
) -> Result<(usize, usize), StoreError> {
    super::pr::poll(store, &dispatcher.config, wall_clock_ms).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let now = 1_000_000;
        assert_eq!(next_attempt(now, 0, None, 0.0), now + 1_000);
        assert_eq!(next_attempt(now, 0, None, 1.0), now + 1_000);
        assert_eq!(next_attempt(now, 3, None, 1.0), now + 8_000);
        assert_eq!(next_attempt(now, 3, None, 0.0), now + 1_000);
        assert_eq!(next_attempt(now, 40, None, 1.0), now + 600_000);
        assert_eq!(
            next_attempt(now, 0, Some(Duration::from_secs(30)), 1.0),
            now + 30_000
        );
    }

    #[test]
    fn api_errors_split_into_transient_and_permanent() {
        let net = ApiError::Network {
            what: "x".into(),
            detail: "down".into(),
        };
        assert!(api_error("s", net).is_transient());
        assert!(!api_error("s", ApiError::Unauthorized("no".into())).is_transient());
        let h = |status| ApiError::Http {
            status,
            what: "x".into(),
            detail: "d".into(),
        };
        assert!(api_error("s", h(503)).is_transient());
        assert!(api_error("s", h(429)).is_transient());
        assert!(!api_error("s", h(404)).is_transient());
    }
}
