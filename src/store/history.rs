//! The alert history writer: every change the outbox and pull-request rows record.

use rusqlite::{Transaction, params};

use super::StoreError;
use crate::domain::EpochMs;

pub(super) fn history(
    tx: &Transaction<'_>,
    alert_id: &str,
    at: EpochMs,
    actor: &str,
    kind: &str,
    reason: Option<&str>,
    note: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO history (alert_id, at, actor, kind, reason, note) VALUES (?, ?, ?, ?, ?, ?)",
        params![alert_id, at, actor, kind, reason, note],
    )?;
    Ok(())
}
