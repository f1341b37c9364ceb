//! The exploit-intelligence tables: CISA KEV and FIRST EPSS, replaced whole on each load.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::EpochMs;
use crate::triage::intel::{EpssFile, KevCatalog};

/// What one feed holds (`sitrep intel status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntelStatus {
    /// `kev` or `epss`.
    pub feed: String,
    /// KEV catalogVersion, EPSS model_version.
    pub version: String,
    /// KEV dateReleased, EPSS score_date.
    pub released: String,
    pub entries: usize,
    pub imported_at: EpochMs,
    /// The file or URL it came from.
    pub origin: String,
}

impl Store {
    /// Replace the KEV table with `catalog` and rescore every alert, in one transaction.
    /// Returns how many alerts were rescored.
    pub fn import_kev(
        &mut self,
        catalog: &KevCatalog,
        origin: &str,
        now_ms: EpochMs,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM kev", [])?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO kev (cve, vendor_project, product, name, date_added, \
                 due_date, ransomware) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?;
            for e in &catalog.entries {
                ins.execute(params![
                    e.cve,
                    e.vendor_project,
                    e.product,
                    e.name,
                    e.date_added,
                    e.due_date,
                    i64::from(e.ransomware)
                ])?;
            }
        }
        set_meta(
            &tx,
            "kev",
            &catalog.version,
            &catalog.released,
            catalog.entries.len(),
            now_ms,
            origin,
        )?;
        tx.commit()?;
        self.rescore(now_ms)
    }

    /// Replace the EPSS table with `file` and rescore every alert. Returns how many alerts
    /// were rescored.
    pub fn import_epss(
        &mut self,
        file: &EpssFile,
        origin: &str,
        now_ms: EpochMs,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM epss", [])?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO epss (cve, epss, percentile) VALUES (?, ?, ?)",
            )?;
            for (cve, s) in &file.scores {
                ins.execute(params![cve, s.epss, s.percentile])?;
            }
        }
        set_meta(
            &tx,
            "epss",
            &file.model_version,
            &file.score_date,
            file.scores.len(),
            now_ms,
            origin,
        )?;
        tx.commit()?;
        self.rescore(now_ms)
    }

    /// Both feeds' status (a feed never loaded is absent).
    pub fn intel_status(&self) -> Result<Vec<IntelStatus>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT feed, version, released, entries, imported_at, origin FROM intel_meta \
             ORDER BY feed DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(IntelStatus {
                feed: r.get(0)?,
                version: r.get(1)?,
                released: r.get(2)?,
                entries: r.get::<_, i64>(3)? as usize,
                imported_at: r.get(4)?,
                origin: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The KEV entry for a CVE, if listed.
    pub fn kev_entry(
        &self,
        cve: &str,
    ) -> Result<Option<crate::triage::intel::KevEntry>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT cve, vendor_project, product, name, date_added, due_date, ransomware \
                 FROM kev WHERE cve = ?",
                [cve.to_ascii_uppercase()],
                |r| {
                    Ok(crate::triage::intel::KevEntry {
                        cve: r.get(0)?,
                        vendor_project: r.get(1)?,
                        product: r.get(2)?,
                        name: r.get(3)?,
                        date_added: r.get(4)?,
                        due_date: r.get(5)?,
                        ransomware: r.get::<_, i64>(6)? != 0,
                    })
                },
            )
            .optional()?)
    }
}

fn set_meta(
    conn: &rusqlite::Connection,
    feed: &str,
    version: &str,
    released: &str,
    entries: usize,
    now_ms: EpochMs,
    origin: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO intel_meta (feed, version, released, entries, imported_at, origin) \
         VALUES (?, ?, ?, ?, ?, ?)",
        params![feed, version, released, entries as i64, now_ms, origin],
    )?;
    Ok(())
}
