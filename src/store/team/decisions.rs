//! Decisions on the team store: the same changes as the SQLite `Store::record_decision`
//! (status columns, history, approvals, ticket link, outbox rows, one audit entry), in one
//! PostgreSQL transaction that also bumps the alert's `version` and `seq`.
//!
//! Each decision carries the id its client gave it before sending (`decisions.decision_id`),
//! so a decision sent twice — a replay after a crash or an outage — is applied once. And it
//! carries the version the analyst decided on: when someone else changed the alert since,
//! nothing is written and the caller is told (a conflict), never applied over theirs.

use super::alerts::{STATE_COLUMNS, state_from};
use super::{TeamError, TeamStore};
use crate::audit::{AuditEntry, AuditKey};
use crate::domain::EpochMs;
use crate::store::{Decision, LocalChange, TeamState, Verdict};

/// What recording a decision on the team store did.
#[derive(Debug, Clone, PartialEq)]
pub enum TeamRecorded {
    Applied {
        /// The alert's version after it.
        version: i64,
        /// Outbox rows created / already queued under the same key.
        queued: usize,
        already_queued: usize,
        /// The audit entry's seq (None: no key was given).
        audit_seq: Option<i64>,
    },
    /// This decision id was applied before: nothing was written.
    AlreadyApplied,
    /// Someone else changed the alert after `base_version`: nothing was written.
    Conflict {
        theirs: TeamState,
        /// Who made the last change, and when (from the alert's history).
        by: Option<String>,
        at: Option<EpochMs>,
    },
}

impl TeamStore {
    /// Record `d` once under `decision_id` (see the module comment). `base_version`: the
    /// alert's version the analyst saw (None: apply whatever the version). `audit`: the key
    /// the team's chain is written with (None: no audit entry, for tests of the rest).
    pub async fn record_decision(
        &self,
        decision_id: &str,
        base_version: Option<i64>,
        d: &Decision,
        audit: Option<&AuditKey>,
    ) -> Result<TeamRecorded, TeamError> {
        if decision_id.is_empty() {
            return Err(TeamError::Invalid("a decision needs an id".into()));
        }
        let body =
            serde_json::to_string(d).map_err(|e| TeamError::Invalid(format!("decision: {e}")))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // First: every writer of a pulled table commits in seq order (feed.rs).
        super::feed::change_lock(&tx).await?;
        // The row lock orders every change to this alert, and makes the version we compare
        // the one we bump.
        let row = tx
            .query_opt(
                &format!("SELECT {STATE_COLUMNS} FROM alerts WHERE id = $1 FOR UPDATE"),
                &[&d.alert_id],
            )
            .await?;
        let Some(row) = row else {
            return Err(TeamError::NotFound(d.alert_id.clone()));
        };
        let theirs = state_from(&row, 0);
        // First the id: an id seen before wins over everything (the version moved because of
        // this very decision). A concurrent sender of the same id waits on our row lock.
        let inserted = tx
            .execute(
                "INSERT INTO decisions (decision_id, alert_id, actor, at, action, body) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (decision_id) DO NOTHING",
                &[
                    &decision_id,
                    &d.alert_id,
                    &d.actor,
                    &d.at,
                    &d.action(),
                    &body,
                ],
            )
            .await?;
        if inserted == 0 {
            return Ok(TeamRecorded::AlreadyApplied);
        }
        if let Some(base) = base_version
            && base != theirs.version
        {
            // Someone else's analyst change after the version decided on. The analyst's own
            // earlier decisions (sent in order ahead of this one) moved the version too and
            // are not; neither are changes no analyst made (a ticket linked by delivery).
            // Every line, not just the last: a note of the analyst's own after a
            // teammate's status change must not hide that change.
            let other = tx
                .query_opt(
                    "SELECT actor, at FROM history WHERE alert_id = $1 AND version > $2 \
                     AND actor <> $3 ORDER BY seq DESC LIMIT 1",
                    &[&d.alert_id, &base, &d.actor],
                )
                .await?;
            if let Some(r) = other {
                let (by, at) = (Some(r.get::<_, String>(0)), Some(r.get::<_, i64>(1)));
                return Ok(TeamRecorded::Conflict { theirs, by, at });
            }
        }
        // The row is locked: this decision makes exactly the next version, and its history
        // lines say so.
        let next = theirs.version + 1;
        apply_change(&tx, d, &theirs.status, next).await?;
        let version: i64 = tx
            .query_one(
                "UPDATE alerts SET version = version + 1, seq = nextval('change_seq') \
                 WHERE id = $1 RETURNING version",
                &[&d.alert_id],
            )
            .await?
            .get(0);
        let q = super::outbox::enqueue(&tx, d.at, &d.actor, &d.outbox).await?;
        let audit_seq = match audit {
            Some(key) => {
                let detail = audit_detail(d);
                Some(
                    super::audit::append(
                        &tx,
                        key,
                        &AuditEntry {
                            at: d.at,
                            actor: &d.actor,
                            action: d.action(),
                            subject: &d.alert_id,
                            detail: &detail,
                        },
                    )
                    .await?,
                )
            }
            None => None,
        };
        tx.commit().await?;
        Ok(TeamRecorded::Applied {
            version,
            queued: q.queued,
            already_queued: q.already_queued,
            audit_seq,
        })
    }
}

/// The audit detail as the SQLite path records it: the decision's own detail plus the outbox
/// keys it queued.
fn audit_detail(d: &Decision) -> serde_json::Value {
    let mut detail = d.audit_detail.clone();
    if let serde_json::Value::Object(m) = &mut detail {
        m.insert(
            "outbox".into(),
            serde_json::Value::Array(
                d.outbox
                    .iter()
                    .map(|i| serde_json::Value::String(i.dedup_key.clone()))
                    .collect(),
            ),
        );
    }
    detail
}

async fn history(
    tx: &deadpool_postgres::Transaction<'_>,
    d: &Decision,
    version: i64,
    kind: &str,
    reason: Option<&str>,
    note: Option<&str>,
) -> Result<(), TeamError> {
    status_history(tx, d, version, kind, None, reason, note).await
}

/// A history line with a status change (`from`, `to`) when it is one.
async fn status_history(
    tx: &deadpool_postgres::Transaction<'_>,
    d: &Decision,
    version: i64,
    kind: &str,
    change: Option<(&str, &str)>,
    reason: Option<&str>,
    note: Option<&str>,
) -> Result<(), TeamError> {
    let (from, to) = (change.map(|c| c.0), change.map(|c| c.1));
    tx.execute(
        "INSERT INTO history (alert_id, at, actor, kind, from_status, to_status, reason, note, \
         version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &d.alert_id,
            &d.at,
            &d.actor,
            &kind,
            &from,
            &to,
            &reason,
            &note,
            &version,
        ],
    )
    .await?;
    Ok(())
}

/// The decision's own change: what `Store::record_decision` writes for it in SQLite.
/// `from`: the alert's status before it (read under the row lock).
async fn apply_change(
    tx: &deadpool_postgres::Transaction<'_>,
    d: &Decision,
    from: &str,
    version: i64,
) -> Result<(), TeamError> {
    match &d.change {
        LocalChange::Status(change) => {
            let (kind, reason, note, until) = crate::store::alerts::status_columns(change);
            tx.execute(
                "UPDATE alerts SET status = $2, status_reason = $3, status_note = $4, \
                 status_until = $5, status_by = $6, status_at = $7 WHERE id = $1",
                &[
                    &d.alert_id,
                    &kind.as_str(),
                    &reason,
                    &note,
                    &until,
                    &change.actor,
                    &change.at,
                ],
            )
            .await?;
            status_history(
                tx,
                d,
                version,
                "status",
                Some((from, kind.as_str())),
                reason.as_deref(),
                note.as_deref(),
            )
            .await
        }
        LocalChange::Note(note) => history(tx, d, version, "note", None, Some(note)).await,
        LocalChange::Approval {
            verdict,
            diff_sha256,
            note,
        } => {
            tx.execute(
                "INSERT INTO approvals (alert_id, diff_sha256, verdict, actor, at, note) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &d.alert_id,
                    diff_sha256,
                    &verdict.as_str(),
                    &d.actor,
                    &d.at,
                    note,
                ],
            )
            .await?;
            let kind = match verdict {
                Verdict::Request => "approval_request",
                Verdict::Approve => "approval",
                Verdict::Reject => "rejection",
            };
            let short = diff_sha256.get(..12).unwrap_or(diff_sha256);
            let reason = format!("diff sha256 {short}");
            history(tx, d, version, kind, Some(&reason), note.as_deref()).await
        }
        LocalChange::TicketRequest => {
            history(tx, d, version, "ticket", Some("ticket requested"), None).await
        }
        LocalChange::TicketLink { key } => {
            tx.execute(
                "UPDATE alerts SET ticket = $2 WHERE id = $1",
                &[&d.alert_id, key],
            )
            .await?;
            let line = format!("linked existing ticket {key}");
            history(tx, d, version, "ticket", Some(&line), None).await
        }
        // The SQLite log writes no history line for a notification; the team's does, so that
        // everyone sees who notified and the alert's last change has an author.
        LocalChange::NotifyRequest => {
            history(
                tx,
                d,
                version,
                "notify",
                Some("notification requested"),
                None,
            )
            .await
        }
        LocalChange::PullRequest { diff_sha256 } => {
            let short = diff_sha256.get(..12).unwrap_or(diff_sha256);
            let reason = format!("pull request requested for diff sha256 {short}");
            history(tx, d, version, "pull_request", Some(&reason), None).await
        }
    }
}
