//! This store as a replica of a team store (docs/team.md): the rows a publisher sends up,
//! and the team's analyst side (status, claim, ticket, version) written down after a pull.
//! `crate::team` moves them; the PostgreSQL side is `store/team/`.

use rusqlite::{OptionalExtension, params};

use super::{Importing, Store, StoreError};
use crate::domain::EpochMs;

/// One alert as a publisher sends it to the team store.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRow {
    pub id: String,
    pub source: String,
    pub vendor: String,
    /// The vendor's object verbatim (compact JSON text).
    pub raw: String,
    pub content_hash: String,
    pub score: f64,
    pub severity_rank: i16,
    pub imported_at: EpochMs,
    /// Where the publisher's scan stands after this row (keyset: changed_at, id).
    pub changed_at: EpochMs,
}

/// The team's analyst side of one alert, as pulled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TeamState {
    pub id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub status_note: Option<String>,
    pub status_until: Option<EpochMs>,
    pub ticket: Option<String>,
    /// The claim's holder (None: unclaimed or lapsed).
    pub claimed_by: Option<String>,
    pub claim_until: Option<EpochMs>,
    pub version: i64,
}

/// One history line pulled from the team store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamHistory {
    pub alert_id: String,
    pub at: EpochMs,
    pub actor: String,
    pub kind: String,
    pub reason: Option<String>,
    pub note: Option<String>,
}

impl Store {
    /// Up to `limit` alerts whose vendor fields changed after `(after_ms, after_id)`, in
    /// (changed_at, id) order: what a publisher has not sent yet.
    pub fn publish_rows(
        &self,
        after_ms: EpochMs,
        after_id: &str,
        limit: usize,
    ) -> Result<Vec<PublishRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, source, vendor, alert_body.raw_json, content_hash, score, \
             severity_rank, imported_at, changed_at FROM alerts \
             LEFT JOIN alert_body ON alert_body.rowid = alerts.rowid \
             WHERE changed_at > ?1 OR (changed_at = ?1 AND id > ?2) \
             ORDER BY changed_at, id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![after_ms, after_id, limit as i64], |r| {
            let id: String = r.get(0)?;
            let raw = super::packed::unpack(r.get_ref(3)?).map_err(|detail| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Blob,
                    detail.into(),
                )
            })?;
            Ok(PublishRow {
                id,
                source: r.get(1)?,
                vendor: r.get(2)?,
                raw,
                content_hash: r.get(4)?,
                score: f64::from(r.get::<_, i64>(5)? as i32),
                severity_rank: r.get::<_, i64>(6)? as i16,
                imported_at: r.get(7)?,
                changed_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The team version this replica last pulled for an alert (None: not here).
    pub fn team_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT team_version FROM alerts WHERE id = ?", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Write the team's analyst side over this replica's (alerts not here are skipped;
    /// their vendor rows arrive with the same pull). Returns how many rows changed.
    pub fn apply_team_state(&mut self, states: &[TeamState]) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let n = write_states(&tx, states)?;
        tx.commit()?;
        Ok(n)
    }

    /// Append pulled history lines (the team's, after this replica's own).
    pub fn append_team_history(&mut self, lines: &[TeamHistory]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO history (alert_id, at, actor, kind, reason, note) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM alerts WHERE id = ?1)",
            )?;
            for h in lines {
                ins.execute(params![h.alert_id, h.at, h.actor, h.kind, h.reason, h.note])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl Importing<'_> {
    /// The team's analyst side, written in this import's transaction (a pull writes the
    /// vendor rows and the team's state together, so a console never shows one without the
    /// other).
    pub fn team_state(&mut self, states: &[TeamState]) -> Result<usize, StoreError> {
        write_states(self.conn(), states)
    }
}

fn write_states(conn: &rusqlite::Connection, states: &[TeamState]) -> Result<usize, StoreError> {
    let mut up = conn.prepare_cached(
        "UPDATE alerts SET status = ?2, status_reason = ?3, status_note = ?4, \
         status_until = ?5, ticket = ?6, assignee = ?7, claim_until = ?8, team_version = ?9 \
         WHERE id = ?1 AND (status IS NOT ?2 OR status_reason IS NOT ?3 OR \
         status_note IS NOT ?4 OR status_until IS NOT ?5 OR ticket IS NOT ?6 OR \
         assignee IS NOT ?7 OR claim_until IS NOT ?8 OR team_version IS NOT ?9)",
    )?;
    let mut n = 0;
    for s in states {
        n += up.execute(params![
            s.id,
            s.status,
            s.status_reason,
            s.status_note,
            s.status_until,
            s.ticket,
            s.claimed_by,
            s.claim_until,
            s.version
        ])?;
    }
    Ok(n)
}
