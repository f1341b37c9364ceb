//! What deciding returns and the proposal an approval is about: shared by decide.rs and pr.rs
//! (which decide.rs calls for pull requests), so pr.rs need not import decide.rs.

use crate::config::Config;
use crate::store::{StoreError, StoredAlert};

/// What deciding on one alert did, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub alert_id: String,
    /// Deliveries queued in the outbox.
    pub queued: usize,
    /// Lines worth telling the analyst ("local only: source 'x' is not configured").
    pub notes: Vec<String>,
    /// Team mode: how sending the decision to the team store ended (None: SQLite mode).
    pub team: Option<crate::team::decide::Sent>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
    /// The team store or the replica's journal failed (one line, no secret).
    #[error("{0}")]
    Team(String),
}

/// The remediation proposal an approval is about: (sha256, title, text).
pub(super) fn chosen_proposal(
    config: &Config,
    alert: &StoredAlert,
    index: Option<usize>,
) -> Result<(String, String, crate::remediate::Proposal), DecideError> {
    let rem = crate::remediate::propose(&alert.alert, &config.iac);
    let chosen = match index {
        Some(i) => rem
            .proposals
            .get(i.saturating_sub(1))
            .cloned()
            .ok_or_else(|| {
                DecideError::Refused(format!(
                    "--proposal {i}: this alert has {} proposal(s)",
                    rem.proposals.len()
                ))
            })?,
        None => rem
            .proposals
            .iter()
            .find(|p| p.is_diff())
            .or_else(|| rem.proposals.first())
            .cloned()
            .ok_or_else(|| {
                DecideError::Refused(format!(
                    "nothing to approve: {}",
                    crate::sanitize::one_line(&rem.summary)
                ))
            })?,
    };
    Ok((chosen.sha256.clone(), chosen.title.clone(), chosen))
}
