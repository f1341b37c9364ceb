//! The rows `sitrep store copy` reads from an analyst's cache to move it into a team store
//! (store/team/copy.rs writes them): each table verbatim, in its own order, a keyset page at
//! a time so that a cache of a million alerts is never held in memory at once.
//! The vendor side of the alerts comes from [`Store::publish_rows`] and the audit log from
//! [`Store::audit_for_each`]; what is here is everything else.

use rusqlite::params;

use super::{Store, StoreError};
use crate::domain::EpochMs;

/// The analyst side of one cached alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalystSide {
    /// The cache's rowid: the page cursor.
    pub rowid: i64,
    pub id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub status_note: Option<String>,
    pub status_until: Option<EpochMs>,
    pub ticket: Option<String>,
    /// In a team replica the claim's holder; in a personal cache nothing sets it.
    pub assignee: Option<String>,
    pub claim_until: Option<EpochMs>,
    /// Who set the status and when: the alert's last `status` history line (None: nobody
    /// decided on it here).
    pub status_by: Option<String>,
    pub status_at: Option<EpochMs>,
}

/// One history line as the cache holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub seq: i64,
    pub alert_id: String,
    pub at: EpochMs,
    pub actor: String,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

/// One outbox row, every column but the local id's meaning (kept as the page cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxExport {
    pub id: i64,
    pub dedup_key: String,
    pub created_at: EpochMs,
    pub actor: String,
    pub alert_id: Option<String>,
    pub kind: String,
    pub destination: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: EpochMs,
    pub last_error: Option<String>,
    pub result: Option<String>,
    pub done_at: Option<EpochMs>,
}

/// How many rows of each kind a cache holds (what a copy will move).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportCounts {
    pub alerts: i64,
    pub history: i64,
    pub approvals: i64,
    pub outbox: i64,
    pub tickets: i64,
    pub audit: i64,
}

impl Store {
    /// Up to `limit` alerts' analyst side after `after_rowid`, in rowid order.
    pub fn export_analyst_sides(
        &self,
        after_rowid: i64,
        limit: usize,
    ) -> Result<Vec<AnalystSide>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.rowid, a.id, a.status, a.status_reason, a.status_note, a.status_until, \
             a.ticket, a.assignee, a.claim_until, h.actor, h.at FROM alerts a \
             LEFT JOIN history h ON h.seq = (SELECT max(seq) FROM history \
               WHERE alert_id = a.id AND kind = 'status') \
             WHERE a.rowid > ?1 ORDER BY a.rowid LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_rowid, limit as i64], |r| {
            Ok(AnalystSide {
                rowid: r.get(0)?,
                id: r.get(1)?,
                status: r.get(2)?,
                status_reason: r.get(3)?,
                status_note: r.get(4)?,
                status_until: r.get(5)?,
                ticket: r.get(6)?,
                assignee: r.get(7)?,
                claim_until: r.get(8)?,
                status_by: r.get(9)?,
                status_at: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Up to `limit` history lines after `after_seq`, in seq order (every kind: imports and
    /// vendor updates are part of an alert's story too).
    pub fn export_history(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, alert_id, at, actor, kind, from_status, to_status, reason, note \
             FROM history WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_seq, limit as i64], |r| {
            Ok(HistoryRow {
                seq: r.get(0)?,
                alert_id: r.get(1)?,
                at: r.get(2)?,
                actor: r.get(3)?,
                kind: r.get(4)?,
                from_status: r.get(5)?,
                to_status: r.get(6)?,
                reason: r.get(7)?,
                note: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Up to `limit` outbox rows after local id `after_id`, in id order (pending and
    /// finished alike: a finished row's dedup key is what stops the team delivering it again).
    pub fn export_outbox(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<OutboxExport>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, dedup_key, created_at, actor, alert_id, kind, destination, payload, \
             state, attempts, next_attempt_at, last_error, result, done_at FROM outbox \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_id, limit as i64], |r| {
            Ok(OutboxExport {
                id: r.get(0)?,
                dedup_key: r.get(1)?,
                created_at: r.get(2)?,
                actor: r.get(3)?,
                alert_id: r.get(4)?,
                kind: r.get(5)?,
                destination: r.get(6)?,
                payload: r.get(7)?,
                state: r.get(8)?,
                attempts: r.get(9)?,
                next_attempt_at: r.get(10)?,
                last_error: r.get(11)?,
                result: r.get(12)?,
                done_at: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every approval record, in seq order (a cache holds few: one per diff and analyst).
    pub fn export_approvals(&self) -> Result<Vec<super::ApprovalRow>, StoreError> {
        self.approvals_since(i64::MIN)
    }

    /// Up to `limit` audit entries after seq `after_seq`, in seq order, as stored.
    pub fn export_audit(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<crate::audit::StoredEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, actor, action, subject, detail, prev_mac, mac FROM audit_log \
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_seq, limit as i64], |r| {
            Ok(crate::audit::StoredEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                detail: r.get(5)?,
                prev_mac: r.get(6)?,
                mac: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many rows a copy of this cache moves.
    pub fn export_counts(&self) -> Result<ExportCounts, StoreError> {
        let n = |table: &str| -> Result<i64, StoreError> {
            Ok(self
                .conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
        };
        Ok(ExportCounts {
            alerts: n("alerts")?,
            history: n("history")?,
            approvals: n("approvals")?,
            outbox: n("outbox")?,
            tickets: n("tickets")?,
            audit: n("audit_log")?,
        })
    }
}
