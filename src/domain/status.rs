use std::fmt;

use serde::{Deserialize, Serialize};

use super::EpochMs;

/// Why an alert was dismissed (docs/keys.md, the dismiss dialog; `sitrep mark --reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DismissReason {
    FalsePositive,
    AcceptedRisk,
    Duplicate,
    NotApplicable,
    Other,
}

impl DismissReason {
    pub const ALL: [DismissReason; 5] = [
        DismissReason::FalsePositive,
        DismissReason::AcceptedRisk,
        DismissReason::Duplicate,
        DismissReason::NotApplicable,
        DismissReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DismissReason::FalsePositive => "false_positive",
            DismissReason::AcceptedRisk => "accepted_risk",
            DismissReason::Duplicate => "duplicate",
            DismissReason::NotApplicable => "not_applicable",
            DismissReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<DismissReason> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        DismissReason::ALL.into_iter().find(|r| r.as_str() == norm)
    }
}

/// The analyst's status of an alert, without its payload: what the queue filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    New,
    Acknowledged,
    InProgress,
    Resolved,
    Dismissed,
    Snoozed,
}

impl StatusKind {
    pub const ALL: [StatusKind; 6] = [
        StatusKind::New,
        StatusKind::Acknowledged,
        StatusKind::InProgress,
        StatusKind::Resolved,
        StatusKind::Dismissed,
        StatusKind::Snoozed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::New => "new",
            StatusKind::Acknowledged => "acknowledged",
            StatusKind::InProgress => "in_progress",
            StatusKind::Resolved => "resolved",
            StatusKind::Dismissed => "dismissed",
            StatusKind::Snoozed => "snoozed",
        }
    }

    pub fn parse(s: &str) -> Option<StatusKind> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        if norm == "ack" {
            return Some(StatusKind::Acknowledged);
        }
        StatusKind::ALL.into_iter().find(|k| k.as_str() == norm)
    }

    /// Still in the analyst's queue (not closed one way or another).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            StatusKind::New | StatusKind::Acknowledged | StatusKind::InProgress
        )
    }
}

impl fmt::Display for StatusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The analyst's status with what each state carries (docs/cli.md, the JSON `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    InProgress,
    Resolved {
        reason: String,
    },
    Dismissed {
        reason: DismissReason,
        note: Option<String>,
        until: Option<EpochMs>,
    },
    Snoozed {
        until: EpochMs,
        note: Option<String>,
    },
}

impl Status {
    pub fn kind(&self) -> StatusKind {
        match self {
            Status::New => StatusKind::New,
            Status::Acknowledged => StatusKind::Acknowledged,
            Status::InProgress => StatusKind::InProgress,
            Status::Resolved { .. } => StatusKind::Resolved,
            Status::Dismissed { .. } => StatusKind::Dismissed,
            Status::Snoozed { .. } => StatusKind::Snoozed,
        }
    }
}

/// One recorded change to an alert: who, when, what and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: EpochMs,
    pub actor: String,
    /// `status`, `note`, `vendor_update`, `imported`.
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

/// What the analyst asked for on an alert. The console's model emits it and the headless
/// commands build it; `dispatch::decide` turns it into a recorded decision. It lives here, below
/// both, so the model never has to import dispatch.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    Mark {
        status: Status,
        note: Option<String>,
    },
    Note(String),
    /// Approve the remediation proposal (1-based index; None: the first diff, else the first).
    Approve {
        note: Option<String>,
        proposal: Option<usize>,
    },
    Reject {
        note: String,
        proposal: Option<usize>,
    },
    /// Open (or link) a ticket in `system` (None: `[tickets] default`).
    Ticket {
        system: Option<String>,
    },
    /// Send the alert to the configured chat channels and webhooks.
    Notify,
    /// Push the approved diff (1-based proposal; None: the first diff) and open a pull / merge
    /// request for it on the checkout's forge.
    PullRequest {
        proposal: Option<usize>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_parse() {
        assert_eq!(
            StatusKind::parse("in-progress"),
            Some(StatusKind::InProgress)
        );
        assert_eq!(StatusKind::parse("ack"), Some(StatusKind::Acknowledged));
        assert_eq!(StatusKind::parse("closed"), None);
        assert_eq!(
            DismissReason::parse("accepted-risk"),
            Some(DismissReason::AcceptedRisk)
        );
        assert!(StatusKind::InProgress.is_active());
        assert!(!StatusKind::Snoozed.is_active());
    }
}
