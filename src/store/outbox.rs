//! Decisions and the outbox: a decision's local change, its outbox rows and its audit entry
//! commit in one transaction with `synchronous=FULL`, so a committed decision survives a crash
//! or power loss together with every delivery it owes.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::alerts::{StatusChange, apply_status};
use super::{Store, StoreError};
// Re-exported: `store::OutboxItem` and `store::OutboxKind` come from here (store/mod.rs).
pub use super::delivery::{OutboxItem, OutboxKind};
use super::history::history;
use crate::domain::EpochMs;

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its next attempt.
    Pending,
    Done,
    /// Will not be retried automatically (`sitrep outbox retry` puts it back).
    Failed,
    /// The destination has no API for it; the alert says so.
    Unsupported,
    /// An analyst dropped it (`sitrep outbox drop`).
    Dropped,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Done => "done",
            OutboxState::Failed => "failed",
            OutboxState::Unsupported => "unsupported",
            OutboxState::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        [
            OutboxState::Pending,
            OutboxState::Done,
            OutboxState::Failed,
            OutboxState::Unsupported,
            OutboxState::Dropped,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub dedup_key: String,
    pub created_at: EpochMs,
    pub actor: String,
    pub alert_id: Option<String>,
    pub kind: OutboxKind,
    pub destination: String,
    pub payload: serde_json::Value,
    pub state: OutboxState,
    pub attempts: i64,
    pub next_attempt_at: EpochMs,
    pub last_error: Option<String>,
    pub result: Option<String>,
    pub done_at: Option<EpochMs>,
}

/// The verdict of an approval record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The first analyst to press approve under the four-eyes rule: a request, not an approval.
    Request,
    Approve,
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Request => "request",
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
        }
    }

    /// A stored word; anything unknown (a newer sitrep's) reads as a request, which never
    /// counts as an approval.
    pub fn parse(s: &str) -> Verdict {
        match s {
            "approve" => Verdict::Approve,
            "reject" => Verdict::Reject,
            _ => Verdict::Request,
        }
    }
}

/// One approval record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRow {
    pub seq: i64,
    pub alert_id: String,
    pub diff_sha256: String,
    pub verdict: Verdict,
    pub actor: String,
    pub at: EpochMs,
    pub note: Option<String>,
}

/// What a decision changes locally. (Serialized into the team-mode journal.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalChange {
    Status(StatusChange),
    Note(String),
    Approval {
        verdict: Verdict,
        diff_sha256: String,
        note: Option<String>,
    },
    /// A ticket was asked for; the row is the outbox's.
    TicketRequest,
    /// An existing ticket was linked to the alert.
    TicketLink {
        key: String,
    },
    /// A notification was asked for.
    NotifyRequest,
    /// A pull request for the approved diff was asked for; the row is the outbox's.
    PullRequest {
        diff_sha256: String,
    },
}

/// One analyst decision on one alert. (Serialized into the team-mode journal.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub alert_id: String,
    pub actor: String,
    pub at: EpochMs,
    pub change: LocalChange,
    pub outbox: Vec<OutboxItem>,
    /// What the audit entry records beyond actor/action/subject (never a secret).
    pub audit_detail: serde_json::Value,
}

impl Decision {
    /// The audit log's action name.
    pub fn action(&self) -> &'static str {
        match &self.change {
            LocalChange::Status(_) => "status",
            LocalChange::Note(_) => "note",
            LocalChange::Approval { verdict, .. } => match verdict {
                Verdict::Request => "approval_request",
                Verdict::Approve => "approve",
                Verdict::Reject => "reject",
            },
            LocalChange::TicketRequest | LocalChange::TicketLink { .. } => "ticket",
            LocalChange::NotifyRequest => "notify",
            LocalChange::PullRequest { .. } => "pull_request",
        }
    }
}

/// What recording a decision did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recorded {
    /// Outbox rows created (a row whose key was already queued is not counted).
    pub queued: usize,
    /// Outbox rows that were already queued for the same key.
    pub already_queued: usize,
    /// The history entry's seq, when the decision wrote one.
    pub history_seq: Option<i64>,
}

/// How one delivery attempt ended, as the worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Done {
        result: Option<String>,
        /// A line for the alert's history ("ticket SEC-17 created in Jira").
        history: Option<String>,
        /// A ticket the delivery created or found.
        ticket: Option<TicketLink>,
        /// A pull request the delivery opened or found.
        pull_request: Option<Box<super::pr::PrLink>>,
        /// Deliveries this one leads to (a "ticket created" notification), queued in the same
        /// transaction.
        follow: Vec<OutboxItem>,
    },
    Unsupported {
        reason: String,
    },
    Retry {
        error: String,
        next_attempt_at: EpochMs,
    },
    Failed {
        error: String,
    },
}

/// A ticket to link to every alert of a fingerprint's resource group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLink {
    pub fingerprint: String,
    pub system: String,
    pub key: String,
    pub native_id: String,
    pub url: String,
    pub created: bool,
}

/// A ticket sitrep knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketRow {
    pub fingerprint: String,
    pub system: String,
    pub key: String,
    pub native_id: String,
    pub url: String,
    pub status: Option<String>,
    pub done: bool,
    pub created: bool,
    pub at: EpochMs,
    pub polled_at: Option<EpochMs>,
}

/// Counts for the status bar and `outbox list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct OutboxDepth {
    pub pending: usize,
    pub failed: usize,
    /// The pending rows that have failed at least once (offline or a destination down).
    pub retrying: usize,
}

const OUTBOX_COLUMNS: &str = "id, dedup_key, created_at, actor, alert_id, kind, destination, \
    payload, state, attempts, next_attempt_at, last_error, result, done_at";

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    let kind: String = r.get(5)?;
    let payload: String = r.get(7)?;
    let state: String = r.get(8)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        dedup_key: r.get(1)?,
        created_at: r.get(2)?,
        actor: r.get(3)?,
        alert_id: r.get(4)?,
        kind: OutboxKind::parse(&kind).unwrap_or(OutboxKind::Notify),
        destination: r.get(6)?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        state: OutboxState::parse(&state).unwrap_or(OutboxState::Failed),
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        last_error: r.get(11)?,
        result: r.get(12)?,
        done_at: r.get(13)?,
    })
}

impl Store {
    /// Run `f` in one transaction committed with `synchronous=FULL` (fsync of the WAL on
    /// commit): decisions and deliveries must survive a power loss, the re-fetchable cache
    /// need not.
    pub(super) fn durable<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let out = (|| {
            // IMMEDIATE: take the write lock first, so a transaction that reads before it
            // writes never fails on another connection's commit (the console's worker, its
            // outbox task and the refresher each have their own connection).
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })();
        // Back to the cache's level; a failure here only costs speed.
        let _ = self.conn.pragma_update(None, "synchronous", "NORMAL");
        out
    }

    /// Record one decision: its local change, history, outbox rows and audit entry, atomically.
    pub fn record_decision(&mut self, d: &Decision) -> Result<Recorded, StoreError> {
        let audit = self.audit_hook();
        let rec = self.durable(|tx| {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT rowid FROM alerts WHERE id = ?",
                    [&d.alert_id],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound(d.alert_id.clone()));
            }
            let mut rec = Recorded::default();
            match &d.change {
                LocalChange::Status(change) => {
                    rec.history_seq = Some(apply_status(tx, &d.alert_id, change)?);
                }
                LocalChange::Note(note) => {
                    history(tx, &d.alert_id, d.at, &d.actor, "note", None, Some(note))?;
                    rec.history_seq = Some(tx.last_insert_rowid());
                }
                LocalChange::Approval {
                    verdict,
                    diff_sha256,
                    note,
                } => {
                    tx.execute(
                        "INSERT INTO approvals (alert_id, diff_sha256, verdict, actor, at, note) \
                         VALUES (?, ?, ?, ?, ?, ?)",
                        params![
                            d.alert_id,
                            diff_sha256,
                            verdict.as_str(),
                            d.actor,
                            d.at,
                            note
                        ],
                    )?;
                    let kind = match verdict {
                        Verdict::Request => "approval_request",
                        Verdict::Approve => "approval",
                        Verdict::Reject => "rejection",
                    };
                    let short = diff_sha256.get(..12).unwrap_or(diff_sha256);
                    let reason = format!("diff sha256 {short}");
                    history(
                        tx,
                        &d.alert_id,
                        d.at,
                        &d.actor,
                        kind,
                        Some(&reason),
                        note.as_deref(),
                    )?;
                    rec.history_seq = Some(tx.last_insert_rowid());
                }
                LocalChange::TicketRequest => {
                    history(
                        tx,
                        &d.alert_id,
                        d.at,
                        &d.actor,
                        "ticket",
                        Some("ticket requested"),
                        None,
                    )?;
                    rec.history_seq = Some(tx.last_insert_rowid());
                }
                LocalChange::TicketLink { key } => {
                    tx.execute(
                        "UPDATE alerts SET ticket = ? WHERE id = ?",
                        params![key, d.alert_id],
                    )?;
                    let line = format!("linked existing ticket {key}");
                    history(tx, &d.alert_id, d.at, &d.actor, "ticket", Some(&line), None)?;
                    rec.history_seq = Some(tx.last_insert_rowid());
                }
                LocalChange::NotifyRequest => {}
                LocalChange::PullRequest { diff_sha256 } => {
                    let short = diff_sha256.get(..12).unwrap_or(diff_sha256);
                    let reason = format!("pull request requested for diff sha256 {short}");
                    history(
                        tx,
                        &d.alert_id,
                        d.at,
                        &d.actor,
                        "pull_request",
                        Some(&reason),
                        None,
                    )?;
                    rec.history_seq = Some(tx.last_insert_rowid());
                }
            }
            for item in &d.outbox {
                let payload = serde_json::to_string(&item.payload)
                    .map_err(|e| StoreError::Invalid(format!("outbox payload: {e}")))?;
                // A key seen before: a failed or dropped row is put back in the queue (the
                // analyst asked again); a pending or finished one is left alone.
                let n = tx.execute(
                    "INSERT INTO outbox (dedup_key, created_at, actor, alert_id, kind, \
                     destination, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT(dedup_key) DO UPDATE SET state = 'pending', attempts = 0, \
                     next_attempt_at = excluded.next_attempt_at, last_error = NULL \
                     WHERE outbox.state IN ('failed', 'dropped')",
                    params![
                        item.dedup_key,
                        d.at,
                        d.actor,
                        item.alert_id,
                        item.kind.as_str(),
                        item.destination,
                        payload,
                        d.at
                    ],
                )?;
                if n == 0 {
                    rec.already_queued += 1;
                } else {
                    rec.queued += 1;
                }
            }
            if let Some(hook) = &audit {
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
                hook(tx, d.at, &d.actor, d.action(), &d.alert_id, &detail)?;
            }
            Ok(rec)
        })?;
        self.audit_after_commit();
        Ok(rec)
    }

    /// The SIEM destinations every new audit entry is owed to (the `[[siem]]` names):
    /// replaces the stored list, which a trigger on the audit log reads (migration 0014).
    pub fn set_siem_destinations(&mut self, names: &[String]) -> Result<(), StoreError> {
        let stored: Vec<String> = self
            .conn
            .prepare_cached("SELECT name FROM siem_destinations ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut wanted: Vec<String> = names.to_vec();
        wanted.sort();
        wanted.dedup();
        if stored == wanted {
            return Ok(());
        }
        self.durable(|tx| {
            tx.execute("DELETE FROM siem_destinations", [])?;
            for n in &wanted {
                tx.execute("INSERT INTO siem_destinations (name) VALUES (?)", [n])?;
            }
            Ok(())
        })
    }

    /// Rows due for an attempt at `now`, oldest first. A row waits while an earlier row for
    /// the same alert and destination is still pending, so a vendor sees decisions in order.
    pub fn outbox_due(&self, now: EpochMs, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE state = 'pending' \
             AND next_attempt_at <= ?1 AND NOT EXISTS (SELECT 1 FROM outbox p \
               WHERE p.state = 'pending' AND p.id < o.id AND p.destination = o.destination \
               AND p.alert_id IS o.alert_id) \
             ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now, limit as i64], outbox_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The earliest next attempt of any pending row (None: nothing pending).
    pub fn outbox_next_due(&self) -> Result<Option<EpochMs>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Rows in `states` (all when empty), newest first, at most `limit`.
    pub fn outbox_list(
        &self,
        states: &[OutboxState],
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let filter = if states.is_empty() {
            "1".to_string()
        } else {
            let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
            format!("state IN ({})", list.join(","))
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {filter} ORDER BY id DESC LIMIT ?"
        ))?;
        let rows = stmt.query_map([limit as i64], outbox_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn outbox_get(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?"),
                [id],
                outbox_row,
            )
            .optional()?)
    }

    /// Rows of one alert, oldest first.
    pub fn outbox_for_alert(&self, alert_id: &str) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE alert_id = ? ORDER BY id"
        ))?;
        let rows = stmt.query_map([alert_id], outbox_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn outbox_depth(&self) -> Result<OutboxDepth, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'failed'), 0), \
             coalesce(sum(state = 'pending' AND attempts > 0), 0) FROM outbox \
             WHERE state IN ('pending', 'failed')",
            [],
            |r| {
                Ok(OutboxDepth {
                    pending: r.get::<_, i64>(0)? as usize,
                    failed: r.get::<_, i64>(1)? as usize,
                    retrying: r.get::<_, i64>(2)? as usize,
                })
            },
        )?)
    }

    /// Count an attempt before it is made, so a crash mid-delivery still shows it.
    pub fn outbox_begin(&mut self, id: i64) -> Result<(), StoreError> {
        self.durable(|tx| {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?",
                [id],
            )?;
            Ok(())
        })
    }

    /// Record how an attempt ended: the row's state, the alert's history and ticket, and an
    /// audit entry for a finished delivery, in one durable transaction.
    pub fn outbox_finish(
        &mut self,
        row: &OutboxRow,
        finish: &Finish,
        now: EpochMs,
    ) -> Result<(), StoreError> {
        let audit = self.audit_hook();
        self.durable(|tx| {
            match finish {
                Finish::Done {
                    result,
                    history: line,
                    ticket,
                    pull_request,
                    follow,
                } => {
                    for item in follow {
                        let payload = serde_json::to_string(&item.payload)
                            .map_err(|e| StoreError::Invalid(format!("outbox payload: {e}")))?;
                        tx.execute(
                            "INSERT OR IGNORE INTO outbox (dedup_key, created_at, actor, alert_id, \
                             kind, destination, payload, next_attempt_at) \
                             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            params![
                                item.dedup_key,
                                now,
                                row.actor,
                                item.alert_id,
                                item.kind.as_str(),
                                item.destination,
                                payload,
                                now
                            ],
                        )?;
                    }
                    tx.execute(
                        "UPDATE outbox SET state = 'done', result = ?, last_error = NULL, \
                         done_at = ? WHERE id = ?",
                        params![result, now, row.id],
                    )?;
                    if let Some(t) = ticket {
                        link_ticket(tx, t, row.alert_id.as_deref(), now)?;
                    }
                    if let (Some(p), Some(alert)) = (pull_request, &row.alert_id) {
                        super::pr::link_pr(tx, &row.dedup_key, alert, p, now)?;
                    }
                    if let (Some(alert), Some(line)) = (&row.alert_id, line) {
                        history(tx, alert, now, "sitrep", "delivery", Some(line), None)?;
                    }
                }
                Finish::Unsupported { reason } => {
                    tx.execute(
                        "UPDATE outbox SET state = 'unsupported', last_error = ?, done_at = ? \
                         WHERE id = ?",
                        params![reason, now, row.id],
                    )?;
                    if let Some(alert) = &row.alert_id {
                        let line = format!("not written back to {}: {reason}", row.destination);
                        history(tx, alert, now, "sitrep", "delivery", Some(&line), None)?;
                    }
                }
                Finish::Retry {
                    error,
                    next_attempt_at,
                } => {
                    tx.execute(
                        "UPDATE outbox SET last_error = ?, next_attempt_at = ? WHERE id = ?",
                        params![error, next_attempt_at, row.id],
                    )?;
                }
                Finish::Failed { error } => {
                    tx.execute(
                        "UPDATE outbox SET state = 'failed', last_error = ? WHERE id = ?",
                        params![error, row.id],
                    )?;
                    if let Some(alert) = &row.alert_id {
                        let line = format!("delivery to {} failed: {error}", row.destination);
                        history(tx, alert, now, "sitrep", "delivery", Some(&line), None)?;
                    }
                }
            }
            if let Some(hook) = &audit {
                let (outcome, text) = match finish {
                    Finish::Done { result, .. } => ("done", result.clone()),
                    Finish::Unsupported { reason } => ("unsupported", Some(reason.clone())),
                    Finish::Retry { error, .. } => ("retry", Some(error.clone())),
                    Finish::Failed { error } => ("failed", Some(error.clone())),
                };
                // Retries are not decisions: only the attempt that settles a row is audited.
                // Nor is forwarding an entry to a SIEM: its audit entry would be forwarded
                // in turn, without end.
                if outcome != "retry" && row.kind != OutboxKind::Siem {
                    let detail = serde_json::json!({
                        "outbox": row.dedup_key,
                        "kind": row.kind.as_str(),
                        "destination": row.destination,
                        "outcome": outcome,
                        "detail": text,
                        "attempts": row.attempts,
                    });
                    hook(
                        tx,
                        now,
                        "sitrep",
                        "dispatch",
                        row.alert_id.as_deref().unwrap_or(""),
                        &detail,
                    )?;
                }
            }
            Ok(())
        })?;
        self.audit_after_commit();
        Ok(())
    }

    /// Put rows back in the queue, due now: the given ids (failed or waiting), or with no ids
    /// every failed row and every row waiting for its next attempt (the network is back).
    /// Returns how many rows were reset.
    pub fn outbox_retry(
        &mut self,
        ids: &[i64],
        actor: &str,
        now: EpochMs,
    ) -> Result<usize, StoreError> {
        let audit = self.audit_hook();
        let n = self.durable(|tx| {
            let mut changed = Vec::new();
            if ids.is_empty() {
                let mut stmt = tx.prepare(
                    "SELECT id FROM outbox WHERE state = 'failed' \
                     OR (state = 'pending' AND next_attempt_at > ?)",
                )?;
                let rows = stmt.query_map([now], |r| r.get::<_, i64>(0))?;
                for r in rows {
                    changed.push(r?);
                }
            } else {
                for id in ids {
                    let state: Option<String> = tx
                        .query_row("SELECT state FROM outbox WHERE id = ?", [id], |r| r.get(0))
                        .optional()?;
                    match state.as_deref() {
                        None => {
                            return Err(StoreError::Invalid(format!("no outbox entry {id}")));
                        }
                        Some("done") | Some("unsupported") => {
                            return Err(StoreError::Invalid(format!(
                                "outbox entry {id} is already {}; nothing to retry",
                                state.as_deref().unwrap_or("")
                            )));
                        }
                        _ => changed.push(*id),
                    }
                }
            }
            for id in &changed {
                tx.execute(
                    "UPDATE outbox SET state = 'pending', next_attempt_at = ? WHERE id = ?",
                    params![now, id],
                )?;
            }
            if let Some(hook) = &audit
                && !changed.is_empty()
            {
                hook(
                    tx,
                    now,
                    actor,
                    "outbox.retry",
                    "",
                    &serde_json::json!({ "ids": changed }),
                )?;
            }
            Ok(changed.len())
        })?;
        self.audit_after_commit();
        Ok(n)
    }

    /// Drop rows (they will not be delivered). Finished rows cannot be dropped.
    pub fn outbox_drop(
        &mut self,
        ids: &[i64],
        actor: &str,
        now: EpochMs,
    ) -> Result<usize, StoreError> {
        let audit = self.audit_hook();
        let n = self.durable(|tx| {
            for id in ids {
                let state: Option<String> = tx
                    .query_row("SELECT state FROM outbox WHERE id = ?", [id], |r| r.get(0))
                    .optional()?;
                match state.as_deref() {
                    None => return Err(StoreError::Invalid(format!("no outbox entry {id}"))),
                    Some("pending") | Some("failed") => {}
                    Some(other) => {
                        return Err(StoreError::Invalid(format!(
                            "outbox entry {id} is {other}; only pending or failed entries can be dropped"
                        )));
                    }
                }
                tx.execute(
                    "UPDATE outbox SET state = 'dropped', done_at = ? WHERE id = ?",
                    params![now, id],
                )?;
            }
            if let Some(hook) = &audit {
                hook(
                    tx,
                    now,
                    actor,
                    "outbox.drop",
                    "",
                    &serde_json::json!({ "ids": ids }),
                )?;
            }
            Ok(ids.len())
        })?;
        self.audit_after_commit();
        Ok(n)
    }

    /// The ticket known for a fingerprint.
    pub fn ticket(&self, fingerprint: &str) -> Result<Option<TicketRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT fingerprint, system, key, native_id, url, status, done, created, at, \
                 polled_at FROM tickets WHERE fingerprint = ?",
                [fingerprint],
                ticket_row,
            )
            .optional()?)
    }

    /// Tickets, newest first; `open_only` skips those the ticket system reports done.
    pub fn tickets(&self, open_only: bool) -> Result<Vec<TicketRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT fingerprint, system, key, native_id, url, status, done, created, at, \
             polled_at FROM tickets {} ORDER BY at DESC",
            if open_only { "WHERE done = 0" } else { "" }
        ))?;
        let rows = stmt.query_map([], ticket_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Record a ticket's polled status; when it changed, every linked alert's history says so.
    /// Returns whether it changed.
    pub fn set_ticket_status(
        &mut self,
        fingerprint: &str,
        status: &str,
        done: bool,
        now: EpochMs,
    ) -> Result<bool, StoreError> {
        self.durable(|tx| {
            let old: Option<(Option<String>, String)> = tx
                .query_row(
                    "SELECT status, key FROM tickets WHERE fingerprint = ?",
                    [fingerprint],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((old, key)) = old else {
                return Ok(false);
            };
            tx.execute(
                "UPDATE tickets SET status = ?, done = ?, polled_at = ? WHERE fingerprint = ?",
                params![status, done, now, fingerprint],
            )?;
            if old.as_deref() == Some(status) {
                return Ok(false);
            }
            let line = format!("ticket {key} is now {status}");
            let mut stmt = tx.prepare("SELECT id FROM alerts WHERE ticket = ?")?;
            let ids: Vec<String> = stmt
                .query_map([&key], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                history(tx, &id, now, "sitrep", "ticket", Some(&line), None)?;
            }
            Ok(true)
        })
    }

    /// Approval records of an alert, oldest first.
    pub fn approvals(&self, alert_id: &str) -> Result<Vec<ApprovalRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, alert_id, diff_sha256, verdict, actor, at, note FROM approvals \
             WHERE alert_id = ? ORDER BY seq",
        )?;
        let rows = stmt.query_map([alert_id], approval_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every approval record since `since`, oldest first (the shift report).
    pub fn approvals_since(&self, since: EpochMs) -> Result<Vec<ApprovalRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, alert_id, diff_sha256, verdict, actor, at, note FROM approvals \
             WHERE at >= ? ORDER BY seq",
        )?;
        let rows = stmt.query_map([since], approval_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Whether the alert matches a filter query (the `[approvals] production` rule).
    pub fn matches(
        &self,
        alert_id: &str,
        q: &crate::triage::query::Query,
        now: EpochMs,
    ) -> Result<bool, StoreError> {
        let (sql, mut p) =
            super::filter::to_sql(q, now).map_err(|e| StoreError::Invalid(e.to_string()))?;
        p.push(rusqlite::types::Value::Text(alert_id.to_string()));
        let hit: Option<i64> = self
            .conn
            .query_row(
                &format!("SELECT 1 FROM alerts WHERE ({sql}) AND alerts.id = ?"),
                rusqlite::params_from_iter(p),
                |r| r.get(0),
            )
            .optional()?;
        Ok(hit.is_some())
    }

    /// The alert's resource-group key (correlation), for ticket fingerprints.
    pub fn group_key(&self, alert_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT group_key FROM alerts WHERE id = ?",
                [alert_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// History entries of every alert since `since` (the shift report), oldest first.
    pub fn history_since(
        &self,
        since: EpochMs,
    ) -> Result<Vec<(String, crate::domain::HistoryEntry)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT alert_id, at, actor, kind, from_status, to_status, reason, note FROM history \
             WHERE at >= ? AND kind NOT IN ('imported', 'vendor_update') ORDER BY seq",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok((
                r.get(0)?,
                crate::domain::HistoryEntry {
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    kind: r.get(3)?,
                    from_status: r.get(4)?,
                    to_status: r.get(5)?,
                    reason: r.get(6)?,
                    note: r.get(7)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn approval_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRow> {
    let v: String = r.get(3)?;
    Ok(ApprovalRow {
        seq: r.get(0)?,
        alert_id: r.get(1)?,
        diff_sha256: r.get(2)?,
        verdict: Verdict::parse(&v),
        actor: r.get(4)?,
        at: r.get(5)?,
        note: r.get(6)?,
    })
}

fn ticket_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRow> {
    Ok(TicketRow {
        fingerprint: r.get(0)?,
        system: r.get(1)?,
        key: r.get(2)?,
        native_id: r.get(3)?,
        url: r.get(4)?,
        status: r.get(5)?,
        done: r.get(6)?,
        created: r.get(7)?,
        at: r.get(8)?,
        polled_at: r.get(9)?,
    })
}

/// Remember the ticket and put its key on the alert and on every alert of its resource group.
fn link_ticket(
    tx: &Transaction<'_>,
    t: &TicketLink,
    alert_id: Option<&str>,
    now: EpochMs,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO tickets (fingerprint, system, key, native_id, url, created, at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET system = \
         excluded.system, key = excluded.key, native_id = excluded.native_id, url = excluded.url",
        params![
            t.fingerprint,
            t.system,
            t.key,
            t.native_id,
            t.url,
            t.created,
            now
        ],
    )?;
    if let Some(id) = alert_id {
        let group: Option<String> = tx
            .query_row("SELECT group_key FROM alerts WHERE id = ?", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
            .flatten();
        tx.execute(
            "UPDATE alerts SET ticket = ?1 WHERE id = ?2 OR (?3 IS NOT NULL AND group_key = ?3)",
            params![t.key, id, group],
        )?;
    }
    Ok(())
}

/// Appends one audit entry inside a decision's transaction.
pub(super) type AuditHook = Box<
    dyn Fn(
        &Transaction<'_>,
        EpochMs,
        &str,
        &str,
        &str,
        &serde_json::Value,
    ) -> Result<(), StoreError>,
>;
