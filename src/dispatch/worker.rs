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
use crate::domain::{EpochMs, Status};
use crate::sources::api::{ApiError, Client, WriteBack, WriteOutcome};
use crate::store::{Finish, OutboxKind, OutboxRow, Store, StoreError};

use super::DispatchError;

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
    vendors: HashMap<String, Client>,
}

impl Dispatcher {
    pub fn new(config: &Config) -> Dispatcher {
        Dispatcher {
            config: config.clone(),
            vendors: HashMap::new(),
        }
    }

    /// One attempt at one row.
    pub async fn attempt(&mut self, row: &OutboxRow) -> Result<Finish, DispatchError> {
        match row.kind {
            OutboxKind::Vendor => self.vendor(row).await,
            other => Err(DispatchError::permanent(format!(
                "{} deliveries are not configured in this build",
                other.as_str()
            ))),
        }
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
            let client = Client::new(&cfg).map_err(|e| api_error(&row.destination, e))?;
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
            }),
            Ok(WriteOutcome::Unsupported(reason)) => Ok(Finish::Unsupported {
                reason: reason.to_string(),
            }),
            Ok(WriteOutcome::Already(reason)) => Ok(Finish::Done {
                result: Some("already".into()),
                history: Some(format!("{}: {reason}", row.destination)),
                ticket: None,
            }),
            Err(e) => Err(api_error(&row.destination, e)),
        }
    }
}

/// The payload of a vendor write-back row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VendorPayload {
    pub native_id: String,
    pub action: VendorAction,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VendorAction {
    SetStatus {
        status: Status,
        note: Option<String>,
    },
    Comment {
        text: String,
    },
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
        ApiError::Http { .. } | ApiError::Unauthorized(_) | ApiError::Config(_) => {
            DispatchError::permanent(detail)
        }
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
/// `max` attempts were made.
pub async fn deliver_due(
    store: &mut Store,
    dispatcher: &mut Dispatcher,
    now: fn() -> EpochMs,
    max: usize,
) -> Result<PassStats, StoreError> {
    let mut stats = PassStats::default();
    let mut tried = std::collections::HashSet::new();
    loop {
        let due: Vec<OutboxRow> = store
            .outbox_due(now(), tried.len() + 64)?
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
            store.outbox_begin(row.id)?;
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
            store.outbox_finish(&row, &finish, now())?;
        }
    }
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
