//! The team store: one PostgreSQL database a SOC on shift shares (docs/team.md).
//!
//! PostgreSQL holds what the team must agree on: the alerts' analyst side (status, claims,
//! tickets), the decisions, the shared outbox and one audit chain. Every console keeps its
//! own SQLite store as a replica of it (the queue's filters, full-text search and keyset
//! pages run there, and it is what the analyst sees while the team store is unreachable);
//! `crate::team` moves changes between the two. `queue.rs` reads the queue from the team
//! store itself (`list --direct`). All PostgreSQL SQL lives under this folder.

mod alerts;
pub mod audit;
mod claims;
mod connect;
mod copy;
mod decisions;
mod feed;
mod lease;
mod listen;
mod migrate;
pub mod outbox;
mod queue;
mod report;
mod status;
mod text;

use deadpool_postgres::Pool;

pub use alerts::{CaughtUp, Pulled, PulledAlert};
pub use claims::{ClaimOutcome, ClaimRow, ReleaseOutcome, clock as claim_clock};
pub use connect::{TeamTarget, TlsMode};
pub use copy::{CopyOptions, CopyReport};
pub use decisions::TeamRecorded;
pub use feed::CHANGE_LOCK;
pub use lease::{Lease, Refresher, refresher_key};
pub use listen::Listener;
pub use migrate::{MIGRATIONS, MigrateOutcome};
pub use report::{AnalystShift, TeamLine, TeamShift};
pub use status::TeamStatus;

/// Why the team store could not do what was asked. Never carries a password.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("team store {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error("team store url: {0}")]
    Url(String),
    #[error(
        "team store {target} is at schema {found}; this build knows up to {known} (a newer sitrep wrote it)"
    )]
    TooNew {
        target: String,
        found: i64,
        known: i64,
    },
    #[error(
        "team store {target} is at schema {found}, this build needs {known}: run `sitrep store migrate`"
    )]
    Behind {
        target: String,
        found: i64,
        known: i64,
    },
    /// The role this analyst connects as may not write (a read-only analyst).
    #[error("read-only: {0}")]
    ReadOnly(String),
    #[error("no alert with id '{0}' in the team store")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("team store: {0}")]
    Sql(String),
}

impl TeamError {
    /// Whether the store could not be reached at all (the console then works from its
    /// replica and records decisions for later).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, TeamError::Connect { .. })
    }
}

impl From<tokio_postgres::Error> for TeamError {
    fn from(e: tokio_postgres::Error) -> TeamError {
        sql_error(&e)
    }
}

/// One line for a PostgreSQL error: the server's message (and its code for a permission
/// refusal, which a read-only role gets on every write), or the client's.
fn sql_error(e: &tokio_postgres::Error) -> TeamError {
    if let Some(db) = e.as_db_error() {
        let msg = crate::sanitize::one_line(db.message());
        if *db.code() == tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE {
            return TeamError::ReadOnly(format!(
                "this analyst's database role may not write to the team store ({msg})"
            ));
        }
        return TeamError::Sql(msg);
    }
    if e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()) {
        return TeamError::Connect {
            target: "connection".into(),
            detail: crate::sanitize::one_line(&chain(e)),
        };
    }
    TeamError::Sql(crate::sanitize::one_line(&chain(e)))
}

/// An error and its causes on one line ("error connecting to server: Connection refused"):
/// the driver's and the pool's own texts name no cause.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// An open team store: a small pool of connections to one database.
#[derive(Clone)]
pub struct TeamStore {
    pool: Pool,
    target: TeamTarget,
}

impl std::fmt::Debug for TeamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamStore")
            .field("target", &self.target.label())
            .finish()
    }
}

impl TeamStore {
    /// Connect (one probe query, so a wrong host, database or password fails here with one
    /// line) and check the schema is this build's. `sitrep store migrate` is the one caller
    /// that skips the check, through [`TeamStore::connect_unchecked`].
    pub async fn connect(target: &TeamTarget) -> Result<TeamStore, TeamError> {
        let store = TeamStore::connect_unchecked(target).await?;
        store.check_schema().await?;
        Ok(store)
    }

    /// The schema is this build's (a newer or an unmigrated store is refused by name).
    pub async fn check_schema(&self) -> Result<(), TeamError> {
        let found = self.schema_version().await?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(TeamError::TooNew {
                target: self.label(),
                found,
                known,
            });
        }
        if found < known {
            return Err(TeamError::Behind {
                target: self.label(),
                found,
                known,
            });
        }
        Ok(())
    }

    /// A pool that connects when first used (a console starting while the team store is
    /// down still starts; each call then fails with [`TeamError::Connect`] until it is back).
    pub fn lazy(target: &TeamTarget) -> Result<TeamStore, TeamError> {
        Ok(TeamStore {
            pool: target.pool()?,
            target: target.clone(),
        })
    }

    /// Connect without looking at the schema.
    pub async fn connect_unchecked(target: &TeamTarget) -> Result<TeamStore, TeamError> {
        let pool = target.pool()?;
        let store = TeamStore {
            pool,
            target: target.clone(),
        };
        store
            .client()
            .await
            .map_err(|e| store.unreachable(e))?
            .simple_query("SELECT 1")
            .await
            .map_err(|e| store.unreachable(TeamError::from(e)))?;
        Ok(store)
    }

    /// The target without its password, for messages.
    pub fn label(&self) -> String {
        self.target.label()
    }

    pub fn target(&self) -> &TeamTarget {
        &self.target
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, TeamError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) if e.as_db_error().is_some() => sql_error(&e),
            other => TeamError::Connect {
                target: self.target.label(),
                detail: crate::sanitize::one_line(&chain(&other)),
            },
        })
    }

    fn unreachable(&self, e: TeamError) -> TeamError {
        match e {
            TeamError::Connect { detail, .. } => TeamError::Connect {
                target: self.target.label(),
                detail,
            },
            other => other,
        }
    }
}

/// The NOTIFY channel a committed change is announced on (payload: the change's seq).
pub const CHANNEL: &str = "sitrep_changes";
