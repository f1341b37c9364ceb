//! `sitrep store copy`: an analyst's cache moved into a team store, in ONE transaction on a
//! connection of its own (a failure anywhere leaves the team store as it was).
//!
//! Into an empty team store everything goes: the alerts (the vendor side as a publish writes
//! it, then the analyst side: status, ticket, holder), history, approvals, the outbox (pending
//! and finished rows with their dedup keys, so nothing already delivered is delivered again),
//! tickets and the audit log verbatim, seq for seq, so the chain's macs still hold. With a key
//! the copied chain is checked inside the transaction before it commits.
//!
//! `merge` copies into a team store that already holds alerts: the alerts only (a second
//! audit chain cannot join the team's one, and decisions without their audit entries would be
//! unaccounted for). Alerts the team already has keep the team's analyst side.

use super::lease::dedicated;
use super::{TeamError, TeamStore};
use crate::audit::AuditKey;
use crate::store::{Store, StoreError};

/// Rows per statement.
const PAGE: usize = 1_000;

/// What `copy_from` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Copy the alerts into a team store that already holds some (alerts only).
    pub merge: bool,
    /// The analyst's audit key: the copied chain is verified with it before the commit.
    pub audit_key: Option<AuditKey>,
}

/// What a copy wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CopyReport {
    /// Alerts whose vendor side was written (a merge skips the unchanged).
    pub alerts: u64,
    /// Alerts whose analyst side (status, ticket, holder) was written.
    pub decided: u64,
    pub history: u64,
    pub approvals: u64,
    pub outbox: u64,
    pub tickets: u64,
    pub audit: u64,
    /// Whether the copied chain was recomputed with the key and found intact.
    pub audit_verified: bool,
}

fn cache_err(e: StoreError) -> TeamError {
    TeamError::Invalid(format!("reading the cache: {e}"))
}

impl TeamStore {
    /// Copy `src` into this team store (see the module's comment).
    pub async fn copy_from(
        &self,
        src: &Store,
        opts: &CopyOptions,
    ) -> Result<CopyReport, TeamError> {
        let mut conn = dedicated(&self.target).await?;
        let tx = conn.client.transaction().await?;
        // First the change lock (feed.rs), then the tables: a writer holding the lock and
        // waiting for our table locks while we wait for its lock would deadlock.
        super::feed::change_lock(&tx).await?;
        // Nobody writes while the store is checked and filled (readers go on).
        tx.batch_execute(
            "LOCK TABLE alerts, history, decisions, approvals, outbox, tickets, audit_log \
             IN SHARE ROW EXCLUSIVE MODE",
        )
        .await?;
        // The copied audit entries were forwarded to the SIEM from the cache they come from:
        // the team's trigger (migration 0003) does not owe them again.
        tx.batch_execute("SELECT set_config('sitrep.copying', 'on', true)")
            .await?;
        let held = tx
            .query_one(
                "SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM history), \
                 (SELECT count(*) FROM decisions), (SELECT count(*) FROM approvals), \
                 (SELECT count(*) FROM outbox), (SELECT count(*) FROM tickets), \
                 (SELECT count(*) FROM audit_log)",
                &[],
            )
            .await?;
        let names = [
            "alerts",
            "history lines",
            "decisions",
            "approvals",
            "outbox rows",
            "tickets",
            "audit entries",
        ];
        let holding: Vec<String> = names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let n: i64 = held.get(i);
                (n > 0).then(|| format!("{n} {name}"))
            })
            .collect();
        if !holding.is_empty() && !opts.merge {
            return Err(TeamError::Invalid(format!(
                "team store {} is not empty ({}); copy into an empty one, or pass --merge to add the cache's alerts only",
                self.label(),
                holding.join(", ")
            )));
        }
        let alerts = copy_alerts(&tx, src).await?;
        let decided = copy_analyst_side(&tx, src).await?;
        let mut report = CopyReport {
            alerts,
            decided,
            ..CopyReport::default()
        };
        if !opts.merge {
            report.history = copy_history(&tx, src).await?;
            report.approvals = copy_approvals(&tx, src).await?;
            report.outbox = copy_outbox(&tx, src).await?;
            report.tickets = copy_tickets(&tx, src).await?;
            report.audit = copy_audit(&tx, src).await?;
            if let Some(key) = &opts.audit_key {
                let verified = super::audit::anchor_in(&tx, key).await.map_err(|e| {
                    TeamError::Invalid(format!("the copied audit log {e}; nothing was copied"))
                })?;
                let n = verified.entries as u64;
                if n != report.audit {
                    return Err(TeamError::Invalid(format!(
                        "the copied audit log has {n} entries, the cache {}; nothing was copied",
                        report.audit
                    )));
                }
                report.audit_verified = true;
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// The vendor side, as a publish writes it.
async fn copy_alerts(tx: &tokio_postgres::Transaction<'_>, src: &Store) -> Result<u64, TeamError> {
    let (mut after_ms, mut after_id) = (i64::MIN, String::new());
    let mut written = 0;
    loop {
        let rows = src
            .publish_rows(after_ms, &after_id, PAGE)
            .map_err(cache_err)?;
        let Some(last) = rows.last() else {
            return Ok(written);
        };
        written += super::alerts::publish_on(tx, &rows).await?;
        after_ms = last.changed_at;
        after_id = last.id.clone();
    }
}

/// Status, ticket and holder of every alert an analyst touched, onto team rows nobody has
/// touched yet (all of them in an empty store). Each bumps the row's version and seq, so
/// replicas pull it.
async fn copy_analyst_side(
    tx: &tokio_postgres::Transaction<'_>,
    src: &Store,
) -> Result<u64, TeamError> {
    let stmt = tx
        .prepare(
            "UPDATE alerts AS a SET status = u.status, status_reason = u.reason, \
             status_note = u.note, status_until = u.until, ticket = u.ticket, \
             claimed_by = u.holder, claim_until = u.claim_until, status_by = u.by, \
             status_at = u.at, version = a.version + 1, seq = nextval('change_seq') \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
               $6::text[], $7::text[], $8::int8[], $9::text[], $10::int8[]) \
               AS u(id, status, reason, note, until, ticket, holder, claim_until, by, at) \
             WHERE a.id = u.id AND a.version = 0 AND a.claimed_by IS NULL",
        )
        .await?;
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = src.export_analyst_sides(after, PAGE).map_err(cache_err)?;
        let Some(last) = page.last() else {
            return Ok(written);
        };
        after = last.rowid;
        // Untouched alerts stay as the publish left them (version 0: nobody decided).
        let touched: Vec<_> = page
            .iter()
            .filter(|s| {
                s.status != "new"
                    || s.status_reason.is_some()
                    || s.status_note.is_some()
                    || s.status_until.is_some()
                    || s.ticket.is_some()
                    || s.assignee.is_some()
            })
            .collect();
        if touched.is_empty() {
            continue;
        }
        let ids: Vec<&str> = touched.iter().map(|s| s.id.as_str()).collect();
        let status: Vec<&str> = touched.iter().map(|s| s.status.as_str()).collect();
        let reason: Vec<Option<&str>> =
            touched.iter().map(|s| s.status_reason.as_deref()).collect();
        let note: Vec<Option<&str>> = touched.iter().map(|s| s.status_note.as_deref()).collect();
        let until: Vec<Option<i64>> = touched.iter().map(|s| s.status_until).collect();
        let ticket: Vec<Option<&str>> = touched.iter().map(|s| s.ticket.as_deref()).collect();
        let holder: Vec<Option<&str>> = touched.iter().map(|s| s.assignee.as_deref()).collect();
        let claim_until: Vec<Option<i64>> = touched.iter().map(|s| s.claim_until).collect();
        let by: Vec<Option<&str>> = touched.iter().map(|s| s.status_by.as_deref()).collect();
        let at: Vec<Option<i64>> = touched.iter().map(|s| s.status_at).collect();
        written += tx
            .execute(
                &stmt,
                &[
                    &ids,
                    &status,
                    &reason,
                    &note,
                    &until,
                    &ticket,
                    &holder,
                    &claim_until,
                    &by,
                    &at,
                ],
            )
            .await?;
    }
}

/// History lines in the cache's order, a status line with its change (from, to).
async fn copy_history(tx: &tokio_postgres::Transaction<'_>, src: &Store) -> Result<u64, TeamError> {
    let stmt = tx
        .prepare(
            "INSERT INTO history (seq, alert_id, at, actor, kind, from_status, to_status, \
             reason, note) \
             SELECT nextval('change_seq'), alert_id, at, actor, kind, from_status, to_status, \
             reason, note FROM ( \
               SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY \
                 AS u(alert_id, at, actor, kind, from_status, to_status, reason, note, n) \
                 ORDER BY n) o",
        )
        .await?;
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = src.export_history(after, PAGE).map_err(cache_err)?;
        let Some(last) = page.last() else {
            return Ok(written);
        };
        after = last.seq;
        let ids: Vec<&str> = page.iter().map(|h| h.alert_id.as_str()).collect();
        let at: Vec<i64> = page.iter().map(|h| h.at).collect();
        let actor: Vec<&str> = page.iter().map(|h| h.actor.as_str()).collect();
        let kind: Vec<&str> = page.iter().map(|h| h.kind.as_str()).collect();
        let from: Vec<Option<&str>> = page.iter().map(|h| h.from_status.as_deref()).collect();
        let to: Vec<Option<&str>> = page.iter().map(|h| h.to_status.as_deref()).collect();
        let reason: Vec<Option<&str>> = page.iter().map(|h| h.reason.as_deref()).collect();
        let note: Vec<Option<&str>> = page.iter().map(|h| h.note.as_deref()).collect();
        written += tx
            .execute(
                &stmt,
                &[&ids, &at, &actor, &kind, &from, &to, &reason, &note],
            )
            .await?;
    }
}

async fn copy_approvals(
    tx: &tokio_postgres::Transaction<'_>,
    src: &Store,
) -> Result<u64, TeamError> {
    let rows = src.export_approvals().map_err(cache_err)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.alert_id.as_str()).collect();
    let sha: Vec<&str> = rows.iter().map(|r| r.diff_sha256.as_str()).collect();
    let verdict: Vec<&str> = rows.iter().map(|r| r.verdict.as_str()).collect();
    let actor: Vec<&str> = rows.iter().map(|r| r.actor.as_str()).collect();
    let at: Vec<i64> = rows.iter().map(|r| r.at).collect();
    let note: Vec<Option<&str>> = rows.iter().map(|r| r.note.as_deref()).collect();
    Ok(tx
        .execute(
            "INSERT INTO approvals (seq, alert_id, diff_sha256, verdict, actor, at, note) \
             SELECT nextval('change_seq'), alert_id, sha, verdict, actor, at, note FROM ( \
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                 $5::int8[], $6::text[]) WITH ORDINALITY \
                 AS u(alert_id, sha, verdict, actor, at, note, n) ORDER BY n) o",
            &[&ids, &sha, &verdict, &actor, &at, &note],
        )
        .await?)
}

/// Every outbox row, states and dedup keys as they are (a row a worker was attempting when
/// the cache was copied is pending again: leases are the team's, not the cache's).
async fn copy_outbox(tx: &tokio_postgres::Transaction<'_>, src: &Store) -> Result<u64, TeamError> {
    let stmt = tx
        .prepare(
            "INSERT INTO outbox (dedup_key, created_at, actor, alert_id, kind, destination, \
             payload, state, attempts, next_attempt_at, last_error, result, done_at) \
             SELECT k, c, a, al, ki, d, p, s, t, na, le, r, da FROM ( \
               SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::int4[], $10::int8[], \
                 $11::text[], $12::text[], $13::int8[]) WITH ORDINALITY \
                 AS u(k, c, a, al, ki, d, p, s, t, na, le, r, da, n) ORDER BY n) o",
        )
        .await?;
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = src.export_outbox(after, PAGE).map_err(cache_err)?;
        let Some(last) = page.last() else {
            return Ok(written);
        };
        after = last.id;
        let key: Vec<&str> = page.iter().map(|r| r.dedup_key.as_str()).collect();
        let created: Vec<i64> = page.iter().map(|r| r.created_at).collect();
        let actor: Vec<&str> = page.iter().map(|r| r.actor.as_str()).collect();
        let alert: Vec<Option<&str>> = page.iter().map(|r| r.alert_id.as_deref()).collect();
        let kind: Vec<&str> = page.iter().map(|r| r.kind.as_str()).collect();
        let dest: Vec<&str> = page.iter().map(|r| r.destination.as_str()).collect();
        let payload: Vec<&str> = page.iter().map(|r| r.payload.as_str()).collect();
        let state: Vec<&str> = page.iter().map(|r| r.state.as_str()).collect();
        let attempts: Vec<i32> = page
            .iter()
            .map(|r| i32::try_from(r.attempts).unwrap_or(i32::MAX))
            .collect();
        let next: Vec<i64> = page.iter().map(|r| r.next_attempt_at).collect();
        let error: Vec<Option<&str>> = page.iter().map(|r| r.last_error.as_deref()).collect();
        let result: Vec<Option<&str>> = page.iter().map(|r| r.result.as_deref()).collect();
        let done: Vec<Option<i64>> = page.iter().map(|r| r.done_at).collect();
        written += tx
            .execute(
                &stmt,
                &[
                    &key, &created, &actor, &alert, &kind, &dest, &payload, &state, &attempts,
                    &next, &error, &result, &done,
                ],
            )
            .await?;
    }
}

async fn copy_tickets(tx: &tokio_postgres::Transaction<'_>, src: &Store) -> Result<u64, TeamError> {
    let rows = src.tickets(false).map_err(cache_err)?;
    let stmt = tx
        .prepare(
            "INSERT INTO tickets (fingerprint, system, key, native_id, url, status, done, \
             created, at, polled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .await?;
    let mut written = 0;
    for t in &rows {
        written += tx
            .execute(
                &stmt,
                &[
                    &t.fingerprint,
                    &t.system,
                    &t.key,
                    &t.native_id,
                    &t.url,
                    &t.status,
                    &t.done,
                    &t.created,
                    &t.at,
                    &t.polled_at,
                ],
            )
            .await?;
    }
    Ok(written)
}

/// The audit log verbatim, in seq order.
async fn copy_audit(tx: &tokio_postgres::Transaction<'_>, src: &Store) -> Result<u64, TeamError> {
    let stmt = tx
        .prepare(
            "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_mac, mac) \
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], \
               $6::text[], $7::text[], $8::text[])",
        )
        .await?;
    let mut written = 0;
    let mut after = 0;
    loop {
        let page = src.export_audit(after, PAGE).map_err(cache_err)?;
        let Some(last) = page.last() else {
            return Ok(written);
        };
        after = last.seq;
        let seq: Vec<i64> = page.iter().map(|e| e.seq).collect();
        let at: Vec<i64> = page.iter().map(|e| e.at).collect();
        let actor: Vec<&str> = page.iter().map(|e| e.actor.as_str()).collect();
        let action: Vec<&str> = page.iter().map(|e| e.action.as_str()).collect();
        let subject: Vec<&str> = page.iter().map(|e| e.subject.as_str()).collect();
        let detail: Vec<&str> = page.iter().map(|e| e.detail.as_str()).collect();
        let prev: Vec<&str> = page.iter().map(|e| e.prev_mac.as_str()).collect();
        let mac: Vec<&str> = page.iter().map(|e| e.mac.as_str()).collect();
        written += tx
            .execute(
                &stmt,
                &[&seq, &at, &actor, &action, &subject, &detail, &prev, &mac],
            )
            .await?;
    }
}
