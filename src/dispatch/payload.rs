//! The payloads of outbox rows and the notification rows a decision queues: written by
//! decide.rs and pr.rs, read by the worker, so they sit below all three.

use crate::config::Config;
use crate::domain::Status;
use crate::store::{OutboxItem, OutboxKind};

use super::notice::Notice;
use super::ticket::TicketContent;

/// The payload of a ticket row: what the ticket says, built when the analyst asked.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TicketPayload {
    pub system: String,
    pub content: TicketContent,
    /// The owner's route (`dispatch/route.rs`): project, component or assignment group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::config::owners::Route>,
}

/// The payload of a ticket comment or transition row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TicketNotePayload {
    pub system: String,
    pub key: String,
    pub id: String,
    pub url: String,
    pub text: String,
    /// Marker that makes the comment idempotent (`[a-z0-9-]`, ≤ 64).
    pub dedup: String,
    /// Also move the ticket to its done state.
    pub resolve: bool,
}

/// The payload of a notification row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NotifyPayload {
    pub notice: Notice,
    /// The owner's route (`dispatch/route.rs`): the Slack channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::config::owners::Route>,
}

/// The payload of an approved patch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PatchPayload {
    pub repo: std::path::PathBuf,
    pub branch: String,
    pub diff: String,
    pub message: String,
    pub author: String,
}

/// Notification rows for `event` about an alert, one per configured destination that wants
/// it (`[notify] events`, `min_severity`). `base` makes the dedup keys (and the Standard
/// Webhooks `webhook-id`) stable for the decision. The notice is a plain one naming the alert;
/// [`notify_rows_with`] takes the notice to send.
pub fn notify_rows(
    config: &Config,
    base: &str,
    alert_id: &str,
    event: &str,
    text: &str,
    severity: Option<crate::domain::Severity>,
    link: Option<(String, String)>,
) -> Vec<OutboxItem> {
    notify_rows_with(config, base, alert_id, event, severity.as_ref(), |id| {
        Notice {
            id,
            event: event.to_string(),
            title: text.to_string(),
            severity: severity.clone(),
            facts: vec![("Alert".into(), alert_id.to_string())],
            text: text.to_string(),
            link: link.clone(),
            data: serde_json::json!({ "alert_id": alert_id, "event": event }),
        }
    })
}

/// As [`notify_rows`], with the notice built by `notice` from each row's message id.
pub fn notify_rows_with(
    config: &Config,
    base: &str,
    alert_id: &str,
    event: &str,
    severity: Option<&crate::domain::Severity>,
    notice: impl Fn(String) -> Notice,
) -> Vec<OutboxItem> {
    let explicit = event == "alert.notify";
    if !explicit && !config.notify.wants(event, severity) {
        return Vec::new();
    }
    let mut dests: Vec<String> = Vec::new();
    if config.notify.slack.is_some() {
        dests.push("slack".into());
    }
    if config.notify.teams.is_some() {
        dests.push("teams".into());
    }
    for w in &config.notify.webhooks {
        dests.push(format!("webhook:{}", w.name));
    }
    dests
        .into_iter()
        .map(|dest| {
            let dedup_key = format!("notify:{dest}:{event}:{base}");
            let id = format!(
                "msg_{}",
                &crate::remediate::sha256_hex(dedup_key.as_bytes())[..24]
            );
            OutboxItem {
                dedup_key,
                alert_id: Some(alert_id.to_string()),
                kind: OutboxKind::Notify,
                destination: dest,
                payload: serde_json::to_value(NotifyPayload {
                    notice: notice(id),
                    route: None,
                })
                .unwrap_or(serde_json::Value::Null),
            }
        })
        .collect()
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
