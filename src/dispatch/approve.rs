//! Approvals of a remediation diff: bound to the diff's sha256, counted per distinct analyst,
//! with the four-eyes rule (the analyst who asked cannot be the one who approves) and a higher
//! count for production resources.

use crate::config::Config;
use crate::domain::EpochMs;
use crate::store::{ApprovalRow, Store, Verdict};

/// How many approvals a diff needs, and from whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Approvals needed (at least 1).
    pub required: usize,
    /// The analyst who requested cannot approve; the first to press approve becomes the requester.
    pub four_eyes: bool,
}

/// The approval rule for an alert: `[approvals]`, with the production count when the alert
/// matches the production filter.
pub fn approval_policy(store: &Store, config: &Config, alert_id: &str, now: EpochMs) -> Policy {
    let production = config
        .approvals
        .production
        .as_deref()
        .and_then(|q| crate::triage::query::parse(q).ok())
        .map(|q| store.matches(alert_id, &q, now).unwrap_or(false))
        .unwrap_or(false);
    Policy {
        required: config.approvals.needed(production) as usize,
        four_eyes: config.approvals.four_eyes,
    }
}

/// Where a diff's approval stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No record for this diff yet.
    None,
    /// Asked for (four-eyes) or partly approved.
    Pending {
        requester: Option<String>,
        approvers: Vec<String>,
        need: usize,
    },
    Approved {
        approvers: Vec<String>,
    },
    Rejected {
        by: String,
        note: Option<String>,
    },
}

impl State {
    /// A short phrase for a status line.
    pub fn describe(&self) -> String {
        match self {
            State::None => "not requested".into(),
            State::Pending {
                requester,
                approvers,
                need,
            } => {
                let who = requester
                    .as_deref()
                    .map(|r| format!(", requested by {r}"))
                    .unwrap_or_default();
                format!("awaiting approval: {}/{need}{who}", approvers.len())
            }
            State::Approved { approvers } => format!("approved by {}", approvers.join(", ")),
            State::Rejected { by, .. } => format!("rejected by {by}"),
        }
    }
}

/// The state of the diff `sha256` from the alert's approval records (oldest first). Records for
/// other diffs (an earlier version of the fix) do not count.
pub fn state(rows: &[ApprovalRow], sha256: &str, policy: &Policy) -> State {
    let mut requester: Option<String> = None;
    let mut approvers: Vec<String> = Vec::new();
    let mut seen_any = false;
    for r in rows.iter().filter(|r| r.diff_sha256 == sha256) {
        seen_any = true;
        match r.verdict {
            Verdict::Request => {
                requester.get_or_insert_with(|| r.actor.clone());
            }
            Verdict::Approve => {
                if !approvers.contains(&r.actor) {
                    approvers.push(r.actor.clone());
                }
            }
            Verdict::Reject => {
                return State::Rejected {
                    by: r.actor.clone(),
                    note: r.note.clone(),
                };
            }
        }
    }
    if !seen_any {
        return State::None;
    }
    let need = policy.required.max(1);
    if approvers.len() >= need {
        State::Approved { approvers }
    } else {
        State::Pending {
            requester,
            approvers,
            need,
        }
    }
}

/// What pressing "approve" does for `actor`: a request (four-eyes, nobody asked yet), an
/// approval, or a refusal with the reason.
pub fn verdict_for(
    rows: &[ApprovalRow],
    sha256: &str,
    policy: &Policy,
    actor: &str,
) -> Result<Verdict, String> {
    match state(rows, sha256, policy) {
        State::Approved { approvers } => Err(format!(
            "this diff is already approved (by {})",
            approvers.join(", ")
        )),
        State::Rejected { by, .. } => Err(format!(
            "this diff was rejected by {by}; a changed diff can be approved anew"
        )),
        State::None if policy.four_eyes => Ok(Verdict::Request),
        State::None => Ok(Verdict::Approve),
        State::Pending {
            requester,
            approvers,
            ..
        } => {
            if policy.four_eyes && requester.as_deref() == Some(actor) {
                Err(format!(
                    "four-eyes rule: {actor} requested this approval and cannot approve it; another analyst must"
                ))
            } else if approvers.iter().any(|a| a == actor) {
                Err(format!("{actor} already approved this diff"))
            } else {
                Ok(Verdict::Approve)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(verdict: Verdict, actor: &str, sha: &str) -> ApprovalRow {
        ApprovalRow {
            seq: 0,
            alert_id: "a".into(),
            diff_sha256: sha.into(),
            verdict,
            actor: actor.into(),
            at: 0,
            note: None,
        }
    }

    #[test]
    fn four_eyes_makes_the_first_press_a_request_and_refuses_self_approval() {
        let p = Policy {
            required: 1,
            four_eyes: true,
        };
        assert_eq!(verdict_for(&[], "d1", &p, "alice"), Ok(Verdict::Request));
        let rows = vec![row(Verdict::Request, "alice", "d1")];
        assert!(
            verdict_for(&rows, "d1", &p, "alice")
                .unwrap_err()
                .contains("four-eyes")
        );
        assert_eq!(verdict_for(&rows, "d1", &p, "bob"), Ok(Verdict::Approve));
        let rows = vec![
            row(Verdict::Request, "alice", "d1"),
            row(Verdict::Approve, "bob", "d1"),
        ];
        assert_eq!(
            state(&rows, "d1", &p),
            State::Approved {
                approvers: vec!["bob".into()]
            }
        );
        // A changed diff starts over.
        assert_eq!(state(&rows, "d2", &p), State::None);
    }

    #[test]
    fn production_needs_distinct_approvers_and_a_rejection_stops_it() {
        let p = Policy {
            required: 2,
            four_eyes: false,
        };
        let mut rows = vec![row(Verdict::Approve, "bob", "d")];
        assert!(matches!(
            state(&rows, "d", &p),
            State::Pending { need: 2, .. }
        ));
        assert!(verdict_for(&rows, "d", &p, "bob").is_err());
        rows.push(row(Verdict::Approve, "bob", "d"));
        assert!(matches!(state(&rows, "d", &p), State::Pending { .. }));
        rows.push(row(Verdict::Approve, "carol", "d"));
        assert!(matches!(state(&rows, "d", &p), State::Approved { .. }));
        let rows = vec![
            row(Verdict::Approve, "bob", "d"),
            row(Verdict::Reject, "carol", "d"),
        ];
        assert!(matches!(state(&rows, "d", &p), State::Rejected { .. }));
        assert!(verdict_for(&rows, "d", &p, "dave").is_err());
    }
}
