//! A delivery a decision owes, before the outbox stores it: built by outbox.rs and pr.rs
//! (score-band changes), so it sits below both.

use serde::{Deserialize, Serialize};

/// What kind of delivery an outbox row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// A status change or comment written back to the vendor.
    Vendor,
    /// Open (or link) a ticket for the alert's resource group.
    Ticket,
    /// A comment on the alert's ticket (e.g. an approval).
    TicketComment,
    /// Slack, Teams or a signed webhook.
    Notify,
    /// An approved diff committed on a new branch of the mapped IaC checkout.
    Patch,
    /// An audit entry forwarded to a SIEM (`[[siem]]`); written by a trigger on the audit log.
    Siem,
    /// An approved diff pushed to the checkout's remote and opened as a pull / merge request.
    PullRequest,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Vendor => "vendor",
            OutboxKind::Ticket => "ticket",
            OutboxKind::TicketComment => "ticket_comment",
            OutboxKind::Notify => "notify",
            OutboxKind::Patch => "patch",
            OutboxKind::Siem => "siem",
            OutboxKind::PullRequest => "pull_request",
        }
    }

    /// Every kind this build delivers.
    pub const ALL: [OutboxKind; 7] = [
        OutboxKind::Vendor,
        OutboxKind::Ticket,
        OutboxKind::TicketComment,
        OutboxKind::Notify,
        OutboxKind::Patch,
        OutboxKind::Siem,
        OutboxKind::PullRequest,
    ];

    pub fn parse(s: &str) -> Option<OutboxKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A delivery a decision owes, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Stable for the decision and destination: enqueueing it twice is a no-op.
    pub dedup_key: String,
    pub alert_id: Option<String>,
    pub kind: OutboxKind,
    pub destination: String,
    pub payload: serde_json::Value,
}
