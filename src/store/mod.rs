//! The local cache: one SQLite file (WAL), numbered migrations embedded in the binary.
//!
//! Vendor fields and analyst fields live side by side in `alerts`; an import writes the vendor
//! fields, so the analyst's status, notes and history survive every re-import. The one status an
//! import sets is sitrep's own: following the vendor's close of an alert nobody decided on, and
//! undoing that when the vendor reopens it (`closed.rs`).

mod alerts;
mod audit;
mod closed;
mod compliance;
mod delivery;
mod export_rows;
mod filter;
mod history;
mod intel;
mod journal;
mod kv;
mod migrate;
mod narratives;
mod outbox;
mod owners;
mod packed;
mod pr;
mod queue;
mod replica;
mod rows;
mod sources;
mod suppress;
pub mod team;
mod triage;
mod words;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use alerts::{ImportStats, Importing, PreparedRow, StatusChange, StoredAlert, prepare};
// Re-exported: the console and the tests name the queue order next to `ListRequest`.
pub use crate::domain::SortKey;
pub use closed::SYSTEM_ACTOR;
pub use compliance::{ComplianceHit, ComplianceScope};
pub use export_rows::{AnalystSide, ExportCounts, HistoryRow, OutboxExport};
pub use intel::IntelStatus;
pub use journal::{JournalEntry, JournalRow, JournalState};
#[doc(hidden)]
pub use migrate::{UNDO_0010, UNDO_0011, UNDO_0012};
pub use narratives::LlmCallRecord;
pub use outbox::{
    ApprovalRow, Decision, Finish, LocalChange, OutboxDepth, OutboxItem, OutboxKind, OutboxRow,
    OutboxState, Recorded, TicketLink, TicketRow, Verdict,
};
pub use pr::{BandChange, PrLink, PrRow, ScoreBandRow};
pub use queue::{ListRequest, QueueCount, QueueKey, QueueRow, Seek, TEXT_COUNT_CAP};
pub use replica::{PublishRow, QueueColumns, TeamHistory, TeamState};
pub use sources::{FailedFilter, SourceState};
pub use triage::GroupRow;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// Another connection held the file past the busy timeout (5 s) while this one opened it:
    /// most often an import into a new store, which holds it until its commit.
    #[error(
        "database {path} is busy: another sitrep is writing it (an import into a new store \
         holds it until the import ends); try again when that is done"
    )]
    Busy { path: PathBuf },
    #[error("cannot create directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "database {path} was written by a newer sitrep (schema {found}, this build knows up to {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("no alert with id '{0}'")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("corrupt row for {id}: {detail}")]
    Corrupt { id: String, detail: String },
    #[error("{0}")]
    Audit(#[from] crate::audit::AuditError),
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The scoring model imports and rescoring use ([`Store::set_scoring`]).
    scoring: crate::triage::score::ScoringConfig,
    /// The audit log's key ([`Store::set_audit_key`]); None: nothing is audited.
    audit_key: Option<crate::audit::AuditKey>,
    /// Sync runs holding WAL checkpoints back ([`Store::hold_checkpoints`]).
    checkpoint_holds: usize,
    /// Who owns an alert ([`Store::set_owners`]); imports fill the owner column with them.
    owners: Option<crate::triage::owner::OwnerRules>,
    /// The last capped count's statement, parameters and whether it reached the walk
    /// threshold: a page of the same listing right after (the console's window, `list`'s
    /// table) decides how to read without counting again. Only a plan choice hangs on it.
    walk_memo: std::cell::RefCell<Option<(String, Vec<rusqlite::types::Value>, bool)>>,
}

impl Store {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy {
                    path: path.to_path_buf(),
                }
            }
            _ => StoreError::Open {
                path: path.to_path_buf(),
                source,
            },
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        // Probe: an unreadable or non-database file fails here with a clear error.
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // A 64 MiB page cache (allocated as used): a sync page or an import of thousands of
        // 2–5 KB payloads stays in memory until its commit instead of spilling to the WAL
        // mid-transaction (the default is 2 MiB).
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(open_err)?;
        words::register(&conn).map_err(open_err)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            scoring: Default::default(),
            audit_key: None,
            checkpoint_holds: 0,
            walk_memo: Default::default(),
            owners: None,
        };
        migrate::run(&mut store.conn, path)?;
        Ok(store)
    }

    /// A private in-memory store (tests, benches).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let mut conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        words::register(&conn).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        migrate::run(&mut conn, &path)?;
        Ok(Store {
            conn,
            path,
            scoring: Default::default(),
            audit_key: None,
            checkpoint_holds: 0,
            walk_memo: Default::default(),
            owners: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA data_version`: changes when another connection commits to the file (not on
    /// this connection's own commits), so a reader knows its cached positions may be stale.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check` — "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// The audit log's append, for a decision's transaction (wired to `crate::audit`).
    fn audit_hook(&self) -> Option<outbox::AuditHook> {
        let key = self.audit_key.clone()?;
        Some(Box::new(move |tx, at, actor, action, subject, detail| {
            crate::audit::append(
                tx,
                &key,
                &crate::audit::AuditEntry {
                    at,
                    actor,
                    action,
                    subject,
                    detail,
                },
            )?;
            Ok(())
        }))
    }

    /// After a decision commits: bring the audit head anchor up to date. A failure leaves the
    /// head behind the table, which `audit verify` accepts; it is logged.
    fn audit_after_commit(&self) {
        if let Some(key) = &self.audit_key
            && let Err(e) = crate::audit::write_head(&self.path, &self.conn, key)
        {
            tracing::warn!("audit head: {e}");
        }
    }
}

/// SQLite's default: a checkpoint once the WAL holds this many pages.
const AUTO_CHECKPOINT_PAGES: i64 = 1_000;
/// While a sync holds checkpoints back, the WAL still checkpoints at 64 MiB (about 12,000
/// alerts), so a long first sync does not grow it without bound.
const HELD_CHECKPOINT_PAGES: i64 = 16_384;

impl Store {
    /// Hold automatic WAL checkpoints back (to every 64 MiB of WAL) while a sync run commits
    /// its pages: with SQLite's default, every commit of a page of alerts (over 1,000 WAL
    /// pages of 4–5 KB rows) copied the WAL into the database and synced both files, so the
    /// index and FTS pages every commit touches were copied again each time. Readers are
    /// unaffected (they read through the WAL). Each hold ends with
    /// [`Store::release_checkpoints`].
    pub fn hold_checkpoints(&mut self) {
        if self.checkpoint_holds == 0 {
            // A connection setting; cannot fail on an open connection, and if it did the
            // store would only keep checkpointing as before.
            let _ = self
                .conn
                .pragma_update(None, "wal_autocheckpoint", HELD_CHECKPOINT_PAGES);
        }
        self.checkpoint_holds += 1;
    }

    /// A second connection to this file store for a [`Checkpointer`]; None for an in-memory
    /// store, or when the file cannot be opened again (the checkpoint at
    /// [`Store::release_checkpoints`] then does all the copying, as it would anyway).
    pub fn checkpointer(&self) -> Option<Checkpointer> {
        if self.path.as_os_str() == ":memory:" {
            return None;
        }
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).ok()?;
        Some(Checkpointer { conn })
    }

    /// End a hold; the last one checkpoints once (passive: it never blocks a reader) and
    /// restores automatic checkpoints.
    pub fn release_checkpoints(&mut self) {
        self.checkpoint_holds = self.checkpoint_holds.saturating_sub(1);
        if self.checkpoint_holds == 0 {
            // A checkpoint that cannot finish now (a reader holds old pages) is retried by
            // the next automatic one; nothing is lost either way.
            let _ = passive_checkpoint(&self.conn);
            let _ = self
                .conn
                .pragma_update(None, "wal_autocheckpoint", AUTO_CHECKPOINT_PAGES);
        }
    }
}

/// Copies committed WAL frames into the database file from a connection of its own, so a
/// sync's writer keeps committing (and the console keeps reading) while the copy and its
/// fsyncs run: a sync run's checkpoints happen beside its commits instead of after them.
pub struct Checkpointer {
    conn: Connection,
}

impl Checkpointer {
    /// One passive checkpoint: copies what is committed and not read by an older snapshot,
    /// never waits for readers or the writer. Returns the WAL's frames and how many of them
    /// are now in the database.
    pub fn checkpoint(&self) -> Result<(i64, i64), StoreError> {
        Ok(passive_checkpoint(&self.conn)?)
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)` on `conn`: the WAL's frames and how many are now in the
/// database file.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}
