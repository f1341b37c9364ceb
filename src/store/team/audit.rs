//! The team's audit log: one hash chain for everybody, with the same entry bytes and MACs as
//! the SQLite log (`crate::audit`). An append takes `pg_advisory_xact_lock(AUDIT_LOCK)` first,
//! so concurrent appenders extend the chain one at a time in commit order; the keyed head
//! record (the SQLite log's head file) lives in `team_kv` and moves in the same transaction,
//! so a cut tail shows, and an analyst whose key is not the team's is refused before writing.

use deadpool_postgres::Transaction;

use super::{TeamError, TeamStore};
use crate::audit::{
    self, AuditEntry, AuditKey, ChainCheck, Head, HeadFile, HeadLabel, StoredEntry, VerifyReport,
    canonical,
};

/// The advisory lock every append holds (an arbitrary constant: "audit" in ASCII).
pub const AUDIT_LOCK: i64 = 0x61_7564_6974;

/// The `team_kv` key of the head record.
const HEAD_KEY: &str = "audit.head";

/// Entries per page when walking the log.
const PAGE: i64 = 5_000;

fn head_from(value: Option<String>) -> HeadFile {
    match value {
        None => HeadFile::Missing,
        Some(v) => match serde_json::from_str::<Head>(&v) {
            Ok(h) => HeadFile::Present(h),
            Err(_) => HeadFile::Damaged("not a head record".into()),
        },
    }
}

async fn read_head(client: &tokio_postgres::Client) -> Result<HeadFile, TeamError> {
    let v = client
        .query_opt("SELECT value FROM team_kv WHERE key = $1", &[&HEAD_KEY])
        .await?
        .map(|r| r.get::<_, String>(0));
    Ok(head_from(v))
}

async fn write_head(
    tx: &tokio_postgres::Transaction<'_>,
    key: &AuditKey,
    seq: i64,
    mac: &str,
) -> Result<(), TeamError> {
    let head = serde_json::to_string(&Head::new(key, seq, mac))
        .map_err(|e| TeamError::Invalid(format!("audit head: {e}")))?;
    tx.execute(
        "INSERT INTO team_kv (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&HEAD_KEY, &head],
    )
    .await?;
    Ok(())
}

/// Append one entry inside the caller's transaction; returns its seq. Refuses a key that did
/// not write the team's chain (its entries would break it for everyone).
pub async fn append(
    tx: &Transaction<'_>,
    key: &AuditKey,
    e: &AuditEntry<'_>,
) -> Result<i64, TeamError> {
    let detail = canonical::json(e.detail);
    if detail.len() > audit::MAX_DETAIL {
        return Err(TeamError::Invalid(format!(
            "audit entry: {} detail is {} bytes; at most {}",
            crate::sanitize::one_line(e.action),
            detail.len(),
            audit::MAX_DETAIL
        )));
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    let head = tx
        .query_opt("SELECT value FROM team_kv WHERE key = $1", &[&HEAD_KEY])
        .await?
        .map(|r| r.get::<_, String>(0));
    if let HeadFile::Present(h) = head_from(head)
        && h.key_id != key.id()
    {
        return Err(TeamError::Invalid(format!(
            "this analyst's audit key (id {}) is not the key the team's audit log is written with (id {}): set [audit] key to the team's key (docs/team.md)",
            key.id(),
            crate::sanitize::fit(&crate::sanitize::one_line(&h.key_id), 16)
        )));
    }
    let last = tx
        .query_opt(
            "SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    let (seq, prev) = match last {
        Some(r) => (r.get::<_, i64>(0) + 1, r.get::<_, String>(1)),
        None => (1, canonical::GENESIS.to_string()),
    };
    let mac = key.mac_hex(&canonical::entry_bytes(
        seq, e.at, e.actor, e.action, e.subject, &detail, &prev,
    ));
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_mac, mac) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &seq, &e.at, &e.actor, &e.action, &e.subject, &detail, &prev, &mac,
        ],
    )
    .await?;
    write_head(tx, key, seq, &mac).await?;
    Ok(seq)
}

fn entry_from(r: &tokio_postgres::Row) -> StoredEntry {
    StoredEntry {
        seq: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        subject: r.get(4),
        detail: r.get(5),
        prev_mac: r.get(6),
        mac: r.get(7),
    }
}

impl TeamStore {
    /// Up to `limit` entries from seq `from_seq` on (inclusive), oldest first.
    pub async fn audit_entries(
        &self,
        from_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredEntry>, TeamError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT seq, at, actor, action, subject, detail, prev_mac, mac FROM audit_log \
                 WHERE seq >= $1 ORDER BY seq LIMIT $2",
                &[&from_seq, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(entry_from).collect())
    }

    /// The log's head as an export states it: the last seq, the last entry's MAC (the
    /// genesis value when empty) and the keyed head record, read in one snapshot.
    pub async fn audit_head(&self) -> Result<(i64, String, HeadFile), TeamError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let last = tx
            .query_opt(
                "SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await?;
        let (n, mac) = match last {
            Some(r) => (r.get::<_, i64>(0), r.get::<_, String>(1)),
            None => (0, crate::audit::canonical::GENESIS.to_string()),
        };
        let v = tx
            .query_opt("SELECT value FROM team_kv WHERE key = $1", &[&HEAD_KEY])
            .await?
            .map(|r| r.get::<_, String>(0));
        tx.commit().await?;
        Ok((n, mac, head_from(v)))
    }

    /// Entries in the team's log (the last seq; 0 when empty).
    pub async fn audit_count(&self) -> Result<i64, TeamError> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT coalesce(max(seq), 0) FROM audit_log", &[])
            .await?
            .get(0))
    }

    /// Walk the whole team chain with `key` (the SQLite verifier's per-entry rules) and check
    /// it against the head record. `Err` only when the log cannot be read.
    pub async fn audit_verify(&self, key: &AuditKey) -> Result<VerifyReport, TeamError> {
        let client = self.client().await?;
        // The head first: entries appended while we walk only make the log longer than it.
        let head = read_head(&client).await?;
        drop(client);
        let present = match &head {
            HeadFile::Present(h) => Some(h),
            _ => None,
        };
        let hint = audit::wrong_key_hint(present, key, "the team's head record");
        let mut check = ChainCheck::new(key, present.map(|h| h.count), hint.clone());
        let mut from = 1;
        'pages: loop {
            let page = self.audit_entries(from, PAGE as usize).await?;
            let full = page.len() as i64 == PAGE;
            for e in &page {
                if !check.push(e) {
                    break 'pages;
                }
                from = e.seq + 1;
            }
            if !full {
                break;
            }
        }
        let (mut report, mac_at_anchor) = check.finish();
        audit::check_head(
            &mut report,
            head,
            key,
            mac_at_anchor.as_deref(),
            &hint,
            &HeadLabel {
                long: "the team's head record (team_kv audit.head)",
                short: "the team's head record",
                missing: " (deleted: sitrep store copy and every append write it)",
            },
        );
        Ok(report)
    }
}

/// Verify the chain as it stands inside `tx` (a `store copy` inserted an analyst's entries
/// as they were) and anchor it: the keyed head record, so `audit verify` checks the tail and
/// an analyst with another key is refused from then on. A broken chain is refused.
pub(super) async fn anchor_in(
    tx: &tokio_postgres::Transaction<'_>,
    key: &AuditKey,
) -> Result<VerifyReport, TeamError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    let mut check = ChainCheck::new(key, None, String::new());
    let mut from: i64 = 1;
    'pages: loop {
        let rows = tx
            .query(
                "SELECT seq, at, actor, action, subject, detail, prev_mac, mac FROM audit_log \
                 WHERE seq >= $1 ORDER BY seq LIMIT $2",
                &[&from, &PAGE],
            )
            .await?;
        for r in &rows {
            let e = entry_from(r);
            from = e.seq + 1;
            if !check.push(&e) {
                break 'pages;
            }
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    let (report, _) = check.finish();
    if let Some(b) = &report.broken {
        let at = b
            .entry
            .map(|e| format!(" at entry {e}"))
            .unwrap_or_default();
        return Err(TeamError::Invalid(format!(
            "does not verify{at}: {}",
            crate::sanitize::one_line(&b.reason)
        )));
    }
    let (n, mac) = report
        .head
        .clone()
        .unwrap_or((0, canonical::GENESIS.to_string()));
    write_head(tx, key, n, &mac).await?;
    Ok(report)
}
