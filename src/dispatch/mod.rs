//! Delivering decisions: vendor write-back, tickets (Jira, ServiceNow), notifications (Slack,
//! Teams, signed webhooks) and approved patches, driven by the outbox worker.
//!
//! Every destination makes **one attempt** per call and classifies its failure: the outbox
//! worker owns retries, backoff and the visible state of each entry. A destination that creates
//! something (a ticket) is idempotent by a stable key it searches for before creating.

pub mod approve;
pub mod content;
pub mod decide;
pub mod forge;
pub mod http;
pub mod notice;
pub mod outcome;
pub mod patch;
pub mod payload;
pub mod pr;
pub mod queue;
pub mod recorder;
pub mod route;
pub mod score_back;
pub mod siem;
pub mod slack;
pub mod teams;
pub mod ticket;
pub mod webhook;
pub mod worker;

use std::time::Duration;

/// Why one delivery attempt failed. Messages never carry a secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DispatchError {
    /// Worth another attempt later: network failure, timeout, 429, 5xx, a lost response.
    /// `retry_after` is the server's minimum wait, when it gave one.
    #[error("{detail}")]
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// Retrying will not help: refused credentials, a rejected request, missing configuration.
    #[error("{detail}")]
    Permanent { detail: String },
}

impl DispatchError {
    pub fn transient(detail: impl Into<String>) -> DispatchError {
        DispatchError::Transient {
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn permanent(detail: impl Into<String>) -> DispatchError {
        DispatchError::Permanent {
            detail: detail.into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, DispatchError::Transient { .. })
    }
}
