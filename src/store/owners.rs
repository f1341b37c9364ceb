//! The owner column (migration 0013): the team `[owners]` names for each alert, written by
//! imports for the alerts they touch and recomputed in full when the rules change (their
//! fingerprint is kept in `triage_meta`), like the scores in `triage.rs`.
//!
//! `NULL` means not computed yet (an import by a store that was given no rules); the next
//! [`Store::ensure_owners`] fills those. `''` means computed: no rule names a team.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};
use crate::triage::owner::OwnerRules;

const FINGERPRINT_KEY: &str = "owners_fingerprint";

/// Compute and write the owner of every alert matching `where_sql`; returns how many.
fn write_owners(
    conn: &Connection,
    where_sql: &str,
    rules: &OwnerRules,
) -> Result<usize, StoreError> {
    let mut read = conn.prepare(&format!(
        "SELECT rowid, tags_json, account, coalesce(owner, char(1)) FROM alerts WHERE {where_sql}"
    ))?;
    let rows = read
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut update = conn.prepare_cached("UPDATE alerts SET owner = ? WHERE rowid = ?")?;
    let mut n = 0;
    for (rowid, tags_json, account, stored) in rows {
        // `stored` is char(1) for NULL: never a team name (those are sanitized).
        // tags_json is written by the import from a BTreeMap; a row that does not read back
        // has no usable tags, which only costs it a tag-based owner.
        let tags: BTreeMap<String, String> = tags_json
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let owner = rules
            .owner_of(&tags, account.as_deref())
            .map(|(team, _)| team)
            .unwrap_or_default();
        if owner != stored {
            update.execute(params![owner, rowid])?;
        }
        n += 1;
    }
    Ok(n)
}

/// The owners of the alerts an import touched, inside its transaction (nothing when the
/// store was given no rules: those rows stay NULL for the next [`Store::ensure_owners`]).
pub(super) fn after_import(
    conn: &Connection,
    touched: &[(i64, Option<usize>)],
    rules: &Option<OwnerRules>,
) -> Result<(), StoreError> {
    let Some(rules) = rules else { return Ok(()) };
    if touched.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = touched.iter().map(|(r, _)| r.to_string()).collect();
    // Integers only: safe to inline, and one statement instead of one per row.
    for chunk in ids.chunks(500) {
        write_owners(conn, &format!("rowid IN ({})", chunk.join(",")), rules)?;
    }
    Ok(())
}

impl Store {
    /// Use these rules (from the config's `[owners]`) for imports and [`Store::ensure_owners`].
    pub fn set_owners(&mut self, rules: OwnerRules) {
        self.owners = Some(rules);
    }

    /// Bring the owner column up to date: every alert when the rules differ from the ones it
    /// was computed with, else only the alerts never computed. Returns how many were computed.
    pub fn ensure_owners(&mut self) -> Result<usize, StoreError> {
        let Some(rules) = self.owners.clone() else {
            return Ok(0);
        };
        let fp = rules.fingerprint();
        let tx = self.conn.transaction()?;
        let stored: Option<String> = tx
            .query_row(
                "SELECT value FROM triage_meta WHERE key = ?",
                [FINGERPRINT_KEY],
                |r| r.get(0),
            )
            .optional()?;
        let n = if stored.as_deref() == Some(fp.as_str()) {
            write_owners(&tx, "owner IS NULL", &rules)?
        } else {
            let n = write_owners(&tx, "1", &rules)?;
            tx.execute(
                "INSERT INTO triage_meta (key, value) VALUES (?, ?) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![FINGERPRINT_KEY, fp],
            )?;
            n
        };
        tx.commit()?;
        Ok(n)
    }

    /// Alerts per owner (`''` for none), most first: `sitrep owners`-style summaries and tests.
    pub fn owner_counts(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT coalesce(owner, ''), count(*) FROM alerts GROUP BY 1 ORDER BY 2 DESC, 1",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
