//! The team-mode decision journal in this replica (`team_journal`, migration 0017): every
//! decision is written here durably, with the id the team store will know it by, before it is
//! sent; `crate::team::decide` sends pending rows in order and records how each ended. A crash
//! between the two, or a team store that cannot be reached, loses nothing: the row is still
//! pending and is sent again with the same id (the team store applies an id once).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::EpochMs;

/// Where a journaled decision stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalState {
    /// Not known to have reached the team store yet.
    Pending,
    /// Applied by the team store (or found there already).
    Sent,
    /// Someone else changed the alert after the analyst decided: not applied, waiting for
    /// `sitrep team resolve`.
    Conflict,
    /// The analyst gave it up after a conflict.
    Discarded,
}

impl JournalState {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalState::Pending => "pending",
            JournalState::Sent => "sent",
            JournalState::Conflict => "conflict",
            JournalState::Discarded => "discarded",
        }
    }

    fn parse(s: &str) -> JournalState {
        match s {
            "sent" => JournalState::Sent,
            "conflict" => JournalState::Conflict,
            "discarded" => JournalState::Discarded,
            _ => JournalState::Pending,
        }
    }
}

/// One journaled decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub id: i64,
    /// 128 random bits, hex: the team store's key for this decision.
    pub decision_id: String,
    pub alert_id: String,
    /// The alert's team version the analyst decided on.
    pub base_version: i64,
    pub at: EpochMs,
    pub action: String,
    /// The decision as JSON (`store::Decision`).
    pub body: String,
    pub state: JournalState,
    /// For a conflict: what the team store holds, one line.
    pub detail: Option<String>,
}

/// A decision to journal.
#[derive(Debug, Clone, Copy)]
pub struct JournalEntry<'a> {
    pub decision_id: &'a str,
    pub alert_id: &'a str,
    pub base_version: i64,
    pub at: EpochMs,
    pub action: &'a str,
    pub body: &'a str,
}

const COLUMNS: &str = "id, decision_id, alert_id, base_version, at, action, body, state, detail";

fn journal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JournalRow> {
    let state: String = r.get(7)?;
    Ok(JournalRow {
        id: r.get(0)?,
        decision_id: r.get(1)?,
        alert_id: r.get(2)?,
        base_version: r.get(3)?,
        at: r.get(4)?,
        action: r.get(5)?,
        body: r.get(6)?,
        state: JournalState::parse(&state),
        detail: r.get(8)?,
    })
}

impl Store {
    /// Journal a decision, committed with `synchronous=FULL` before this returns (it must
    /// survive a crash or power loss right after). Returns the row.
    pub fn journal_add(&mut self, e: &JournalEntry<'_>) -> Result<JournalRow, StoreError> {
        let id = self.durable(|tx| {
            tx.execute(
                "INSERT INTO team_journal (decision_id, alert_id, base_version, at, action, body) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    e.decision_id,
                    e.alert_id,
                    e.base_version,
                    e.at,
                    e.action,
                    e.body
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })?;
        self.journal_row(id)?
            .ok_or_else(|| StoreError::Invalid(format!("journal row {id} vanished")))
    }

    /// One journal row.
    pub fn journal_row(&self, id: i64) -> Result<Option<JournalRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM team_journal WHERE id = ?"),
                [id],
                journal_row,
            )
            .optional()?)
    }

    /// Rows in one state, oldest first (the order they were decided in).
    pub fn journal_rows(&self, state: JournalState) -> Result<Vec<JournalRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM team_journal WHERE state = ? ORDER BY id"
        ))?;
        let rows = stmt.query_map([state.as_str()], journal_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many rows are in a state.
    pub fn journal_count(&self, state: JournalState) -> Result<usize, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM team_journal WHERE state = ?",
            [state.as_str()],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// Record how sending a row ended (durably: a sent row must not be sent as new work
    /// after a crash, though sending it again would be harmless).
    pub fn journal_mark(
        &mut self,
        id: i64,
        state: JournalState,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        self.durable(|tx| {
            let n = tx.execute(
                "UPDATE team_journal SET state = ?, detail = ? WHERE id = ?",
                params![state.as_str(), detail, id],
            )?;
            if n == 0 {
                return Err(StoreError::Invalid(format!("no journal entry {id}")));
            }
            Ok(())
        })
    }

    /// Put a conflicted row back in the queue on a new base version (`keep-mine`).
    pub fn journal_rebase(&mut self, id: i64, base_version: i64) -> Result<(), StoreError> {
        self.durable(|tx| {
            let n = tx.execute(
                "UPDATE team_journal SET state = 'pending', base_version = ?, detail = NULL \
                 WHERE id = ? AND state = 'conflict'",
                params![base_version, id],
            )?;
            if n == 0 {
                return Err(StoreError::Invalid(format!(
                    "journal entry {id} is not a conflict"
                )));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(id: &'a str, alert: &'a str) -> JournalEntry<'a> {
        JournalEntry {
            decision_id: id,
            alert_id: alert,
            base_version: 3,
            at: 10,
            action: "note",
            body: "{}",
        }
    }

    #[test]
    fn rows_keep_their_order_and_states() {
        let mut s = Store::open_in_memory().expect("store");
        let a = s.journal_add(&entry("aa", "wiz:1")).expect("add");
        let b = s.journal_add(&entry("bb", "wiz:2")).expect("add");
        assert_eq!(a.state, JournalState::Pending);
        assert_eq!(a.base_version, 3);
        let pending = s.journal_rows(JournalState::Pending).expect("rows");
        assert_eq!(
            pending
                .iter()
                .map(|r| r.decision_id.as_str())
                .collect::<Vec<_>>(),
            ["aa", "bb"]
        );
        s.journal_mark(a.id, JournalState::Sent, None)
            .expect("mark");
        s.journal_mark(b.id, JournalState::Conflict, Some("bob changed it"))
            .expect("mark");
        assert_eq!(s.journal_count(JournalState::Pending).expect("n"), 0);
        let c = s.journal_rows(JournalState::Conflict).expect("rows");
        assert_eq!(c[0].detail.as_deref(), Some("bob changed it"));
        s.journal_rebase(b.id, 7).expect("rebase");
        let back = s.journal_row(b.id).expect("row").expect("present");
        assert_eq!((back.state, back.base_version), (JournalState::Pending, 7));
        assert!(
            s.journal_rebase(a.id, 7).is_err(),
            "a sent row is no conflict"
        );
        assert!(s.journal_mark(99, JournalState::Sent, None).is_err());
    }

    #[test]
    fn a_decision_id_is_journaled_once() {
        let mut s = Store::open_in_memory().expect("store");
        s.journal_add(&entry("aa", "wiz:1")).expect("add");
        assert!(s.journal_add(&entry("aa", "wiz:1")).is_err());
    }
}
