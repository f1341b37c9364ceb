//! Pull requests opened for approved fixes (issue 22 part 4) and the score band last written
//! back to each alert's vendor (part 6), migration 0015.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::delivery::OutboxItem;
use super::history::history;
use super::{Store, StoreError};
use crate::domain::EpochMs;

/// A pull / merge request a delivery opened or found, linked to its alert in the delivery's
/// transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrLink {
    pub forge: String,
    pub api_url: String,
    pub repo: String,
    pub number: u64,
    pub url: String,
    pub branch: String,
    pub commit: String,
    /// open | merged | closed
    pub state: String,
    /// The alert's ticket key when the request was opened.
    pub ticket: Option<String>,
    /// sitrep opened it (false: an existing one for the branch was found and linked).
    pub created: bool,
}

/// A pull request sitrep knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrRow {
    pub id: i64,
    pub dedup_key: String,
    pub alert_id: String,
    pub link: PrLink,
    pub at: EpochMs,
    pub polled_at: Option<EpochMs>,
}

/// An alert of a `score_back` source with its current score and the band last sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreBandRow {
    pub alert_id: String,
    pub source: String,
    pub native_id: String,
    pub score: u8,
    pub last_band: Option<String>,
    pub changes: i64,
}

/// One band change to queue: the alert's new band and the comment's outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct BandChange {
    pub alert_id: String,
    pub band: String,
    pub score: u8,
    pub outbox: OutboxItem,
}

const PR_COLUMNS: &str = "id, dedup_key, alert_id, forge, api_url, repo, number, url, branch, \
    commit_id, state, ticket, created, at, polled_at";

fn pr_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PrRow> {
    Ok(PrRow {
        id: r.get(0)?,
        dedup_key: r.get(1)?,
        alert_id: r.get(2)?,
        link: PrLink {
            forge: r.get(3)?,
            api_url: r.get(4)?,
            repo: r.get(5)?,
            number: r.get::<_, i64>(6)?.max(0) as u64,
            url: r.get(7)?,
            branch: r.get(8)?,
            commit: r.get(9)?,
            state: r.get(10)?,
            ticket: r.get(11)?,
            created: r.get(12)?,
        },
        at: r.get(13)?,
        polled_at: r.get(14)?,
    })
}

/// Remember the pull request of a delivery (a redelivery of the same row updates it).
pub(super) fn link_pr(
    tx: &Transaction<'_>,
    dedup_key: &str,
    alert_id: &str,
    l: &PrLink,
    now: EpochMs,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO pull_requests (dedup_key, alert_id, forge, api_url, repo, number, url, \
         branch, commit_id, state, ticket, created, at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedup_key) DO UPDATE SET \
         number = excluded.number, url = excluded.url, commit_id = excluded.commit_id, \
         state = excluded.state",
        params![
            dedup_key,
            alert_id,
            l.forge,
            l.api_url,
            l.repo,
            l.number as i64,
            l.url,
            l.branch,
            l.commit,
            l.state,
            l.ticket,
            l.created,
            now
        ],
    )?;
    Ok(())
}

impl Store {
    /// Pull requests, newest first; `open_only` keeps those not merged or closed.
    pub fn pull_requests(&self, open_only: bool) -> Result<Vec<PrRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {PR_COLUMNS} FROM pull_requests {} ORDER BY id DESC",
            if open_only {
                "WHERE state = 'open'"
            } else {
                ""
            }
        ))?;
        let rows = stmt.query_map([], pr_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The pull requests of one alert, oldest first.
    pub fn pull_requests_for(&self, alert_id: &str) -> Result<Vec<PrRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PR_COLUMNS} FROM pull_requests WHERE alert_id = ? ORDER BY id"
        ))?;
        let rows = stmt.query_map([alert_id], pr_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Record a polled state. When it changed, the alert's history says so and the change is
    /// audited (actor `sitrep`). Returns whether it changed.
    pub fn set_pr_state(&mut self, id: i64, state: &str, now: EpochMs) -> Result<bool, StoreError> {
        let audit = self.audit_hook();
        let changed = self.durable(|tx| {
            let old: Option<(String, String, i64, String)> = tx
                .query_row(
                    "SELECT state, alert_id, number, url FROM pull_requests WHERE id = ?",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((old, alert, number, url)) = old else {
                return Ok(false);
            };
            tx.execute(
                "UPDATE pull_requests SET state = ?, polled_at = ? WHERE id = ?",
                params![state, now, id],
            )?;
            if old == state {
                return Ok(false);
            }
            let line = format!("pull request #{number} is now {state} ({url})");
            history(tx, &alert, now, "sitrep", "pull_request", Some(&line), None)?;
            if let Some(hook) = &audit {
                let detail = serde_json::json!({
                    "pull_request": url, "number": number, "from": old, "to": state,
                });
                hook(tx, now, "sitrep", "pull_request.state", &alert, &detail)?;
            }
            Ok(true)
        })?;
        self.audit_after_commit();
        Ok(changed)
    }

    /// Open alerts of the named sources with their score and the band last sent, at most
    /// `limit`, in rowid order.
    pub fn score_band_candidates(
        &self,
        sources: &[String],
        limit: usize,
    ) -> Result<Vec<ScoreBandRow>, StoreError> {
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; sources.len()].join(",");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT a.id, a.source, a.native_id, a.score, b.band, coalesce(b.changes, 0) \
             FROM alerts a LEFT JOIN score_bands b ON b.alert_id = a.id \
             WHERE a.source IN ({marks}) AND a.status IN ('new','acknowledged','in_progress') \
             AND a.scored_at IS NOT NULL ORDER BY a.rowid LIMIT {limit}"
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(sources), |r| {
            Ok(ScoreBandRow {
                alert_id: r.get(0)?,
                source: r.get(1)?,
                native_id: r.get(2)?,
                score: r.get::<_, i64>(3)?.clamp(0, 100) as u8,
                last_band: r.get(4)?,
                changes: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Queue band changes: each alert's new band and its comment's outbox row commit together,
    /// so a band is never recorded as sent without its delivery, nor queued twice.
    pub fn record_band_changes(
        &mut self,
        changes: &[BandChange],
        now: EpochMs,
    ) -> Result<usize, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        self.durable(|tx| {
            let mut queued = 0;
            for c in changes {
                let payload = serde_json::to_string(&c.outbox.payload)
                    .map_err(|e| StoreError::Invalid(format!("outbox payload: {e}")))?;
                queued += tx.execute(
                    "INSERT OR IGNORE INTO outbox (dedup_key, created_at, actor, alert_id, kind, \
                     destination, payload, next_attempt_at) VALUES (?, ?, 'sitrep', ?, ?, ?, ?, ?)",
                    params![
                        c.outbox.dedup_key,
                        now,
                        c.outbox.alert_id,
                        c.outbox.kind.as_str(),
                        c.outbox.destination,
                        payload,
                        now
                    ],
                )?;
                tx.execute(
                    "INSERT INTO score_bands (alert_id, band, score, changes, at) \
                     VALUES (?, ?, ?, 1, ?) ON CONFLICT(alert_id) DO UPDATE SET \
                     band = excluded.band, score = excluded.score, changes = changes + 1, \
                     at = excluded.at",
                    params![c.alert_id, c.band, c.score, now],
                )?;
            }
            Ok(queued)
        })
    }
}
