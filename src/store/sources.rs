//! Per-source sync state: the watermark incremental syncs start from, how the last run went,
//! when the last full reconciliation ran, and which incremental filters the vendor refused.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::EpochMs;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceState {
    pub name: String,
    pub vendor: String,
    /// Newest vendor update time a successful run has seen.
    pub watermark: Option<EpochMs>,
    pub last_run_at: Option<EpochMs>,
    pub last_success_at: Option<EpochMs>,
    pub last_error: Option<String>,
    pub last_stats: Option<serde_json::Value>,
    /// When the last full run (no incremental filter) succeeded.
    pub last_full_at: Option<EpochMs>,
    /// Incremental filters the vendor refused, oldest first (never used again).
    pub failed_filters: Vec<FailedFilter>,
}

/// An incremental filter a source's vendor refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedFilter {
    pub filter: String,
    pub at: EpochMs,
    /// The vendor's answer, one line, sanitized.
    pub detail: String,
}

impl Store {
    pub fn source_state(&self, name: &str) -> Result<Option<SourceState>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, vendor, watermark, last_run_at, last_success_at, last_error, \
                 last_stats_json, last_full_at, failed_filters_json FROM source_state \
                 WHERE name = ?",
                [name],
                |r| {
                    Ok(SourceState {
                        name: r.get(0)?,
                        vendor: r.get(1)?,
                        watermark: r.get(2)?,
                        last_run_at: r.get(3)?,
                        last_success_at: r.get(4)?,
                        last_error: r.get(5)?,
                        last_stats: r
                            .get::<_, Option<String>>(6)?
                            .and_then(|t| serde_json::from_str(&t).ok()),
                        last_full_at: r.get(7)?,
                        failed_filters: r
                            .get::<_, Option<String>>(8)?
                            .and_then(|t| serde_json::from_str(&t).ok())
                            .unwrap_or_default(),
                    })
                },
            )
            .optional()?)
    }

    /// Record a successful run: the watermark only moves forward.
    pub fn record_success(
        &mut self,
        name: &str,
        vendor: &str,
        at: EpochMs,
        watermark: Option<EpochMs>,
        stats: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO source_state (name, vendor, watermark, last_run_at, last_success_at, \
             last_error, last_stats_json) VALUES (?1, ?2, ?3, ?4, ?4, NULL, ?5) \
             ON CONFLICT(name) DO UPDATE SET vendor = ?2, \
               watermark = max(coalesce(watermark, ?3), coalesce(?3, watermark)), \
               last_run_at = ?4, last_success_at = ?4, last_error = NULL, last_stats_json = ?5",
            params![name, vendor, watermark, at, stats.to_string()],
        )?;
        Ok(())
    }

    /// Record a failed run (the watermark stays where it was).
    pub fn record_failure(
        &mut self,
        name: &str,
        vendor: &str,
        at: EpochMs,
        error: &str,
        stats: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO source_state (name, vendor, last_run_at, last_error, last_stats_json) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(name) DO UPDATE SET vendor = ?2, last_run_at = ?3, last_error = ?4, \
               last_stats_json = ?5",
            params![name, vendor, at, error, stats.to_string()],
        )?;
        Ok(())
    }

    /// Record that a full run of `name` succeeded at `at` (after [`Store::record_success`]).
    pub fn record_full_run(&mut self, name: &str, at: EpochMs) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE source_state SET last_full_at = max(coalesce(last_full_at, ?2), ?2) \
             WHERE name = ?1",
            params![name, at],
        )?;
        Ok(())
    }

    /// Record that the vendor of `name` refused the incremental filter `filter` (once per
    /// filter; the first refusal is kept).
    pub fn record_filter_failure(
        &mut self,
        name: &str,
        vendor: &str,
        filter: &str,
        detail: &str,
        at: EpochMs,
    ) -> Result<(), StoreError> {
        let mut failed = self
            .source_state(name)?
            .map(|s| s.failed_filters)
            .unwrap_or_default();
        if failed.iter().any(|f| f.filter == filter) {
            return Ok(());
        }
        let mut detail = crate::sanitize::one_line(detail);
        detail.truncate(detail.chars().take(300).map(char::len_utf8).sum());
        failed.push(FailedFilter {
            filter: filter.to_string(),
            at,
            detail,
        });
        let json =
            serde_json::to_string(&failed).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO source_state (name, vendor, failed_filters_json) VALUES (?1, ?2, ?3) \
             ON CONFLICT(name) DO UPDATE SET failed_filters_json = ?3",
            params![name, vendor, json],
        )?;
        Ok(())
    }

    /// Every source that has run, by name.
    pub fn all_source_states(&self) -> Result<Vec<SourceState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM source_state ORDER BY name")?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for n in names {
            if let Some(s) = self.source_state(&n)? {
                out.push(s);
            }
        }
        Ok(out)
    }
}
