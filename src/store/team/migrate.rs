//! The team store's numbered migrations, embedded like the SQLite store's. The version lives
//! in `sitrep_schema`; each migration runs in one transaction under an advisory lock, so two
//! analysts running `sitrep store migrate` at once apply it once.

use super::{TeamError, TeamStore};

/// Every migration, in order. Version N is `MIGRATIONS[N-1]`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_team", include_str!("migrations/0001_team.sql")),
    (
        "0002_history_versions",
        include_str!("migrations/0002_history_versions.sql"),
    ),
    ("0003_siem", include_str!("migrations/0003_siem.sql")),
    ("0004_queue", include_str!("migrations/0004_queue.sql")),
    ("0005_counts", include_str!("migrations/0005_counts.sql")),
];

/// The advisory lock key `store migrate` holds (an arbitrary constant: "sitrep" in ASCII).
const MIGRATE_LOCK: i64 = 0x7369_7472_6570;

/// What `migrate` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrateOutcome {
    pub from: i64,
    pub to: i64,
}

impl TeamStore {
    /// The schema version (0: an empty database).
    pub async fn schema_version(&self) -> Result<i64, TeamError> {
        let client = self.client().await?;
        let exists: bool = client
            .query_one("SELECT to_regclass('sitrep_schema') IS NOT NULL", &[])
            .await?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let row = client
            .query_opt("SELECT version FROM sitrep_schema", &[])
            .await?;
        Ok(row.map_or(0, |r| i64::from(r.get::<_, i32>(0))))
    }

    /// Apply every migration this database lacks.
    pub async fn migrate(&self) -> Result<MigrateOutcome, TeamError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS sitrep_schema (version integer NOT NULL)")
            .await?;
        let from = tx
            .query_opt("SELECT version FROM sitrep_schema", &[])
            .await?
            .map_or(0, |r| i64::from(r.get::<_, i32>(0)));
        let known = MIGRATIONS.len() as i64;
        if from > known {
            return Err(TeamError::TooNew {
                target: self.label(),
                found: from,
                known,
            });
        }
        for (_name, sql) in MIGRATIONS.iter().skip(from as usize) {
            tx.batch_execute(sql).await?;
        }
        let to = known as i32;
        if from == 0 {
            tx.execute("INSERT INTO sitrep_schema (version) VALUES ($1)", &[&to])
                .await?;
        } else {
            tx.execute("UPDATE sitrep_schema SET version = $1", &[&to])
                .await?;
        }
        tx.commit().await?;
        Ok(MigrateOutcome { from, to: known })
    }
}
