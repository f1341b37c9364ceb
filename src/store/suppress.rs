//! Suppression rules in the store. A rule marks the alerts it matches (`suppressed_by`,
//! `suppressed_until`), at creation and for every alert an import touches later; the default
//! queue leaves marked alerts out until the rule's expiry, after which they show again,
//! flagged as resurfaced with the rule's reason.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::EpochMs;
use crate::triage::query;
use crate::triage::suppress::{NewSuppression, RuleKind, Suppression, validate};

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Suppression> {
    let kind: String = r.get(1)?;
    Ok(Suppression {
        id: r.get(0)?,
        kind: RuleKind::parse(&kind).unwrap_or(RuleKind::Filter),
        value: r.get(2)?,
        filter: r.get(3)?,
        reason: r.get(4)?,
        author: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
    })
}

const COLUMNS: &str = "id, kind, value, filter, reason, author, created_at, expires_at";

/// Mark alerts matched by `rule` (only those not muted by a live rule; restricted to the
/// JSON array of rowids `only`, when given). Returns how many.
fn apply(
    conn: &Connection,
    rule: &Suppression,
    now_ms: EpochMs,
    only: Option<&str>,
) -> Result<usize, StoreError> {
    let q = query::parse(&rule.filter)
        .map_err(|e| StoreError::Invalid(format!("suppression #{}: {e}", rule.id)))?;
    let (filter_sql, filter_params) = super::filter::to_sql(&q, now_ms)
        .map_err(|e| StoreError::Invalid(format!("suppression #{}: {e}", rule.id)))?;
    let mut p = vec![
        SqlValue::Integer(rule.id),
        rule.expires_at.map_or(SqlValue::Null, SqlValue::Integer),
        SqlValue::Integer(now_ms),
    ];
    p.extend(filter_params);
    let restrict = match only {
        Some(json) => {
            p.push(SqlValue::Text(json.to_string()));
            " AND alerts.rowid IN (SELECT value FROM json_each(?))"
        }
        None => "",
    };
    let n = conn.execute(
        &format!(
            "UPDATE alerts SET suppressed_by = ?, suppressed_until = ? \
             WHERE (alerts.suppressed_by IS NULL OR alerts.suppressed_until <= ?) \
             AND ({filter_sql}){restrict}"
        ),
        rusqlite::params_from_iter(p),
    )?;
    Ok(n)
}

fn active_rules(conn: &Connection, now_ms: EpochMs) -> Result<Vec<Suppression>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM suppressions WHERE removed_at IS NULL \
         AND (expires_at IS NULL OR expires_at > ?) ORDER BY id"
    ))?;
    let rows = stmt.query_map([now_ms], row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Apply every live rule (to the rowids in `only`, or to all alerts).
pub(super) fn apply_active(
    conn: &Connection,
    now_ms: EpochMs,
    only: Option<&str>,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for rule in active_rules(conn, now_ms)? {
        n += apply(conn, &rule, now_ms, only)?;
    }
    Ok(n)
}

impl Store {
    /// Add a mute rule and apply it. Returns the rule and how many alerts it muted.
    /// Bad input (no reason, expiry in the past, a filter that does not parse) is
    /// `StoreError::Invalid` with a one-line message.
    pub fn add_suppression(
        &mut self,
        new: &NewSuppression,
    ) -> Result<(Suppression, usize), StoreError> {
        let filter = validate(new, new.created_at).map_err(StoreError::Invalid)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO suppressions (kind, value, filter, reason, author, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![
                new.kind.as_str(),
                new.value.trim(),
                filter,
                new.reason.trim(),
                new.author,
                new.created_at,
                new.expires_at
            ],
        )?;
        let rule = Suppression {
            id: tx.last_insert_rowid(),
            kind: new.kind,
            value: new.value.trim().to_string(),
            filter,
            reason: new.reason.trim().to_string(),
            author: new.author.clone(),
            created_at: new.created_at,
            expires_at: new.expires_at,
        };
        let n = apply(&tx, &rule, new.created_at, None)?;
        tx.commit()?;
        Ok((rule, n))
    }

    /// Rules not removed (expired ones included: they explain resurfaced alerts), oldest
    /// first, each with how many alerts it marks.
    pub fn suppressions(&self) -> Result<Vec<(Suppression, usize)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS}, (SELECT count(*) FROM alerts WHERE suppressed_by = suppressions.id) \
             FROM suppressions WHERE removed_at IS NULL ORDER BY id"
        ))?;
        let rows = stmt.query_map([], |r| Ok((row(r)?, r.get::<_, i64>(8)? as usize)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Remove a rule: its alerts return to the queue (unless another live rule matches them).
    /// Returns how many alerts it released.
    pub fn remove_suppression(
        &mut self,
        id: i64,
        by: &str,
        now_ms: EpochMs,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT id FROM suppressions WHERE id = ? AND removed_at IS NULL",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(StoreError::Invalid(format!(
                "no suppression #{id} (see sitrep suppress list)"
            )));
        }
        tx.execute(
            "UPDATE suppressions SET removed_at = ?, removed_by = ? WHERE id = ?",
            params![now_ms, by, id],
        )?;
        let released: Vec<i64> = {
            let mut stmt = tx.prepare("SELECT rowid FROM alerts WHERE suppressed_by = ?")?;
            let rows = stmt.query_map([id], |r| r.get(0))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        tx.execute(
            "UPDATE alerts SET suppressed_by = NULL, suppressed_until = NULL WHERE suppressed_by = ?",
            [id],
        )?;
        let json = serde_json::to_string(&released).unwrap_or_else(|_| "[]".into());
        apply_active(&tx, now_ms, Some(&json))?;
        tx.commit()?;
        Ok(released.len())
    }

    /// The rule muting (or, lapsed, having muted) an alert.
    pub fn suppression_of(&self, alert_id: &str) -> Result<Option<Suppression>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM suppressions WHERE id = \
                     (SELECT suppressed_by FROM alerts WHERE id = ?)"
                ),
                [alert_id],
                row,
            )
            .optional()?)
    }
}
