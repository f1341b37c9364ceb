//! One refresher per source for the whole team (docs/team.md): whoever holds the session
//! advisory lock of a source fetches it from the vendor and publishes; everybody else pulls.
//!
//! The lock lives on a connection of its own, outside the pool: a session lock belongs to
//! the connection, so a pooled one would keep it after the lease was "returned", and would
//! hand it to whatever borrowed the connection next. When the process dies, its connection
//! closes and PostgreSQL releases the lock; the next `lead` elsewhere gets it. The
//! `refreshers` row only says who holds it, for others to show; the lock decides.

use sha2::Digest;

use super::{TeamError, TeamStore, TeamTarget, sql_error};
use crate::domain::EpochMs;

/// A connection of its own (not pooled), closed when dropped.
pub(super) struct Dedicated {
    pub client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        // Dropping the connection's task closes the socket at once: the server ends the
        // session and with it every session lock and open transaction.
        self.task.abort();
    }
}

/// Open a dedicated connection to `target` (on the current tokio runtime).
pub(super) async fn dedicated(target: &TeamTarget) -> Result<Dedicated, TeamError> {
    let failed = |e: tokio_postgres::Error| match e.as_db_error() {
        // The server answered (a role without LOGIN, a missing database): its words.
        Some(_) => match sql_error(&e) {
            TeamError::Sql(detail) => TeamError::Connect {
                target: target.label(),
                detail,
            },
            other => other,
        },
        None => TeamError::Connect {
            target: target.label(),
            detail: crate::sanitize::one_line(&e.to_string()),
        },
    };
    let config = target.pg_config();
    let (client, task) = match target.tls_connector()? {
        None => {
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(failed)?;
            (
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        }
        Some(tls) => {
            let (client, conn) = config.connect(tls).await.map_err(failed)?;
            (
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        }
    };
    Ok(Dedicated { client, task })
}

/// The advisory lock key of a source: 64 bits of a hash of its name, so that every sitrep
/// of the team computes the same key and no two sources share one in practice.
pub fn refresher_key(source: &str) -> i64 {
    let digest = sha2::Sha256::digest(format!("sitrep refresher\0{source}").as_bytes());
    let mut b = [0u8; 8];
    for (to, from) in b.iter_mut().zip(digest.iter()) {
        *to = *from;
    }
    i64::from_be_bytes(b)
}

/// This process refreshes `source` for the team while the lease lives. Dropping it closes
/// its connection, which releases the lock (the `refreshers` row stays, showing the last
/// holder; [`TeamStore::refreshers`] tells a live holder from a gone one).
pub struct Lease {
    conn: Dedicated,
    source: String,
    holder: String,
    since: EpochMs,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("source", &self.source)
            .field("holder", &self.holder)
            .field("since", &self.since)
            .finish()
    }
}

impl Lease {
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn since(&self) -> EpochMs {
        self.since
    }

    /// Say the holder is still at it (the console calls this on each refresh). Fails when
    /// the lease's connection is gone: the lock went with it, so the caller must stop
    /// refreshing and `lead` again.
    pub async fn heartbeat(&self, now: EpochMs) -> Result<(), TeamError> {
        self.conn
            .client
            .execute(
                "UPDATE refreshers SET heartbeat = $2 WHERE source = $1 AND holder = $3",
                &[&self.source, &now, &self.holder],
            )
            .await?;
        Ok(())
    }

    /// Give the source up now: unlock, remove the row, close the connection.
    pub async fn release(self) -> Result<(), TeamError> {
        let key = refresher_key(&self.source);
        self.conn
            .client
            .execute(
                "DELETE FROM refreshers WHERE source = $1 AND holder = $2",
                &[&self.source, &self.holder],
            )
            .await?;
        self.conn
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&key])
            .await?;
        Ok(())
    }
}

/// Who refreshes a source, as the `refreshers` table says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refresher {
    pub source: String,
    pub holder: String,
    pub since: EpochMs,
    pub heartbeat: EpochMs,
    /// Whether its lock is held now (false: that sitrep is gone and nobody leads the source).
    pub live: bool,
}

impl TeamStore {
    /// Take the lead for `source` if nobody has it: a session advisory lock on a dedicated
    /// connection, and the `refreshers` row naming `holder`. None: another sitrep leads it.
    pub async fn lead(
        &self,
        source: &str,
        holder: &str,
        now: EpochMs,
    ) -> Result<Option<Lease>, TeamError> {
        let conn = dedicated(&self.target).await?;
        let key = refresher_key(source);
        let got: bool = conn
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await?
            .get(0);
        if !got {
            return Ok(None);
        }
        // On failure (a read-only role) the connection closes with `conn`, unlocking.
        conn.client
            .execute(
                "INSERT INTO refreshers (source, holder, since, heartbeat) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (source) DO UPDATE SET holder = excluded.holder, \
                 since = excluded.since, heartbeat = excluded.heartbeat",
                &[&source, &holder, &now],
            )
            .await?;
        Ok(Some(Lease {
            conn,
            source: source.to_string(),
            holder: holder.to_string(),
            since: now,
        }))
    }

    /// Every source's last refresher, and whether it still holds the lock.
    pub async fn refreshers(&self) -> Result<Vec<Refresher>, TeamError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT source, holder, since, heartbeat FROM refreshers ORDER BY source",
                &[],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let source: String = r.get(0);
            // A bigint advisory lock shows in pg_locks as (classid, objid) = its high and
            // low 32 bits, objsubid 1.
            let key = refresher_key(&source);
            let hi = (key >> 32) & 0xffff_ffff;
            let lo = key & 0xffff_ffff;
            let live: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
                     AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1 \
                     AND granted AND database = (SELECT oid FROM pg_database \
                     WHERE datname = current_database()))",
                    &[&hi, &lo],
                )
                .await?
                .get(0);
            out.push(Refresher {
                source,
                holder: r.get(1),
                since: r.get(2),
                heartbeat: r.get(3),
                live,
            });
        }
        Ok(out)
    }

    /// The recorded refresher of one source (None: nobody has led it yet).
    pub async fn refresher(&self, source: &str) -> Result<Option<Refresher>, TeamError> {
        Ok(self
            .refreshers()
            .await?
            .into_iter()
            .find(|r| r.source == source))
    }
}
