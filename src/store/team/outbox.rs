//! The team's outbox: deliveries owed to the outside world, shared by every analyst's sitrep.
//! One row per dedup key for the whole team, so two analysts asking for the same ticket at
//! the same moment queue one delivery.
//!
//! Exactly-once across people rests on three things here: a worker *leases* a row
//! (`FOR UPDATE SKIP LOCKED`, then `lease_owner` / `lease_until`) before it attempts it, so
//! one process at a time sends it; a finished row is never attempted again; and `tickets` is
//! keyed by the resource fingerprint, so a second ticket row for one resource cannot exist.
//! A lease that runs out (its worker was killed) makes the row due again for anyone.

use deadpool_postgres::Transaction;

use super::{TeamError, TeamStore};
use crate::domain::EpochMs;
use crate::store::{
    Finish, OutboxDepth, OutboxItem, OutboxKind, OutboxRow, OutboxState, TicketLink, TicketRow,
};

/// What queueing did: rows created, and rows whose key was already queued (or delivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queued {
    pub queued: usize,
    pub already_queued: usize,
}

/// Queue `items` inside the caller's transaction. A key seen before: a failed or dropped row
/// is put back in the queue (the analyst asked again); a pending or finished one is left
/// alone (the SQLite outbox's rule).
///
/// Two statements, not one upsert: `ON CONFLICT DO UPDATE … WHERE` locks the existing row
/// even when its WHERE is false, so every analyst asking again for a pending ticket held
/// that row until their transaction ended, and a worker leasing it (`SKIP LOCKED`) passed
/// it over — with two analysts ticketing one resource in a loop, the one pass that should
/// have delivered it never did. `DO NOTHING` and an UPDATE that matches only failed or
/// dropped rows lock nothing that is pending.
pub async fn enqueue(
    tx: &Transaction<'_>,
    at: EpochMs,
    actor: &str,
    items: &[OutboxItem],
) -> Result<Queued, TeamError> {
    let mut out = Queued::default();
    let insert = tx
        .prepare_cached(
            "INSERT INTO outbox (dedup_key, created_at, actor, alert_id, kind, destination, \
             payload, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $2) \
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .await?;
    let requeue = tx
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $2, \
             last_error = NULL, lease_owner = NULL, lease_until = NULL \
             WHERE dedup_key = $1 AND state IN ('failed', 'dropped')",
        )
        .await?;
    for item in items {
        let payload = serde_json::to_string(&item.payload)
            .map_err(|e| TeamError::Invalid(format!("outbox payload: {e}")))?;
        let mut n = tx
            .execute(
                &insert,
                &[
                    &item.dedup_key,
                    &at,
                    &actor,
                    &item.alert_id,
                    &item.kind.as_str(),
                    &item.destination,
                    &payload,
                ],
            )
            .await?;
        if n == 0 {
            n = tx.execute(&requeue, &[&item.dedup_key, &at]).await?;
        }
        if n == 0 {
            out.already_queued += 1;
        } else {
            out.queued += 1;
        }
    }
    Ok(out)
}

/// How long a worker holds a row it attempts unless it says otherwise: far longer than one
/// attempt can take (every destination's client times out within a minute), so a live
/// worker never loses its lease mid-attempt, and short enough that a killed worker's rows
/// go out again within minutes.
pub const LEASE_MS: EpochMs = 5 * 60 * 1000;

/// What finishing an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The row took this attempt's outcome.
    Recorded,
    /// The row had moved on without this worker (its lease ran out and another worker
    /// settled or holds it, or an analyst dropped it): nothing was written.
    Stale,
}

const COLUMNS: &str = "id, dedup_key, created_at, actor, alert_id, kind, destination, payload, \
    state, attempts::int8, next_attempt_at, last_error, result, done_at";

/// Earlier pending rows for the same alert and destination hold a row back, so a vendor sees
/// one analyst's decisions in order (the SQLite outbox's rule).
const IN_ORDER: &str = "NOT EXISTS (SELECT 1 FROM outbox p WHERE p.state = 'pending' \
    AND p.id < o.id AND p.destination = o.destination \
    AND p.alert_id IS NOT DISTINCT FROM o.alert_id)";

/// The kinds this build can deliver. A row of any other kind (queued by a newer sitrep on the
/// team) is never due here: a worker that read it as something it knows would deliver it
/// wrongly; it waits for a worker that knows it.
fn known_kinds() -> Vec<&'static str> {
    OutboxKind::ALL.iter().map(|k| k.as_str()).collect()
}

fn row_from(r: &tokio_postgres::Row) -> OutboxRow {
    let kind: String = r.get(5);
    let payload: String = r.get(7);
    let state: String = r.get(8);
    OutboxRow {
        id: r.get(0),
        dedup_key: r.get(1),
        created_at: r.get(2),
        actor: r.get(3),
        alert_id: r.get(4),
        // Unknown words (a newer sitrep's) read as rows this build will not send.
        kind: OutboxKind::parse(&kind).unwrap_or(OutboxKind::Notify),
        destination: r.get(6),
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        state: OutboxState::parse(&state).unwrap_or(OutboxState::Failed),
        attempts: r.get(9),
        next_attempt_at: r.get(10),
        last_error: r.get(11),
        result: r.get(12),
        done_at: r.get(13),
    }
}

pub(super) const TICKET_COLUMNS: &str =
    "fingerprint, system, key, native_id, url, status, done, created, at, polled_at";

fn ticket_from(r: &tokio_postgres::Row) -> TicketRow {
    ticket_at(r, 0)
}

/// A ticket from [`TICKET_COLUMNS`] starting at column `i`.
pub(super) fn ticket_at(r: &tokio_postgres::Row, i: usize) -> TicketRow {
    TicketRow {
        fingerprint: r.get(i),
        system: r.get(i + 1),
        key: r.get(i + 2),
        native_id: r.get(i + 3),
        url: r.get(i + 4),
        status: r.get(i + 5),
        done: r.get(i + 6),
        created: r.get(i + 7),
        at: r.get(i + 8),
        polled_at: r.get(i + 9),
    }
}

/// A history line for an alert, and the alert's seq moved so replicas see it changed. An
/// alert the team store does not hold (a row queued by an older copy) gets no line.
async fn history(
    tx: &Transaction<'_>,
    alert_id: &str,
    at: EpochMs,
    kind: &str,
    line: &str,
) -> Result<(), TeamError> {
    tx.execute(
        "INSERT INTO history (alert_id, at, actor, kind, reason) \
         SELECT id, $2::int8, $5::text, $3::text, $4::text FROM alerts WHERE id = $1",
        &[&alert_id, &at, &kind, &line, &crate::store::SYSTEM_ACTOR],
    )
    .await?;
    tx.execute(
        "UPDATE alerts SET seq = nextval('change_seq') WHERE id = $1",
        &[&alert_id],
    )
    .await?;
    Ok(())
}

/// Remember the ticket (the first one recorded for a fingerprint stays: the key is the
/// primary key) and put its key on the alert. The alert's `version` moves with its ticket:
/// the ticket is part of the analyst side every replica shows.
async fn link_ticket(
    tx: &Transaction<'_>,
    t: &TicketLink,
    alert_id: Option<&str>,
    now: EpochMs,
) -> Result<(), TeamError> {
    tx.execute(
        "INSERT INTO tickets (fingerprint, system, key, native_id, url, created, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (fingerprint) DO NOTHING",
        &[
            &t.fingerprint,
            &t.system,
            &t.key,
            &t.native_id,
            &t.url,
            &t.created,
            &now,
        ],
    )
    .await?;
    let key: String = tx
        .query_one(
            "SELECT key FROM tickets WHERE fingerprint = $1",
            &[&t.fingerprint],
        )
        .await?
        .get(0);
    if let Some(id) = alert_id {
        tx.execute(
            "UPDATE alerts SET ticket = $2, version = version + 1, \
             seq = nextval('change_seq') WHERE id = $1 AND ticket IS DISTINCT FROM $2",
            &[&id, &key],
        )
        .await?;
    }
    Ok(())
}

impl TeamStore {
    /// Add the `[[siem]]` names of this analyst's config to the team's SIEM destinations
    /// (migration 0003): every audit entry from now on is owed to each. Never removes one.
    /// A read-only role's refusal is not an error (nothing it does is audited).
    pub async fn add_siem_destinations(
        &self,
        names: &[String],
        actor: &str,
        now: EpochMs,
    ) -> Result<(), TeamError> {
        if names.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        let added = client
            .execute(
                "INSERT INTO siem_destinations (name, added_by, added_at) \
                 SELECT n, $2, $3 FROM unnest($1::text[]) AS n ON CONFLICT (name) DO NOTHING",
                &[&names, &actor, &now],
            )
            .await;
        match added.map_err(TeamError::from) {
            // A read-only role may not add them, and need not: it records no audit entry.
            Ok(_) | Err(TeamError::ReadOnly(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Rows due at `now` that no live lease holds, oldest first, in order per alert and
    /// destination. A read: [`TeamStore::outbox_lease`] decides who attempts each.
    /// `siem`: the SIEM destinations (`siem:<name>`) this worker can deliver to; another's
    /// rows wait for a worker whose config has it.
    pub async fn outbox_due(
        &self,
        now: EpochMs,
        limit: usize,
        siem: &[String],
    ) -> Result<Vec<OutboxRow>, TeamError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM outbox o WHERE state = 'pending' \
                     AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) \
                     AND kind = ANY($3) AND (kind <> 'siem' OR destination = ANY($4)) \
                     AND {IN_ORDER} ORDER BY id LIMIT $2"
                ),
                &[&now, &(limit as i64), &known_kinds(), &siem],
            )
            .await?;
        Ok(rows.iter().map(row_from).collect())
    }

    /// Take row `id` for `owner` until `now + lease_ms` and count the attempt, when it is
    /// still due and nobody holds it. `SKIP LOCKED`: of two workers racing for a row, the
    /// second skips it instead of waiting and then attempting it too. Returns the attempts
    /// so far (this one included), or None when another worker has it or it is no longer due.
    pub async fn outbox_lease(
        &self,
        id: i64,
        owner: &str,
        now: EpochMs,
        lease_ms: EpochMs,
        siem: &[String],
    ) -> Result<Option<i64>, TeamError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE outbox SET lease_owner = $2, lease_until = $3::int8 + $4::int8, \
                     attempts = attempts + 1 \
                     WHERE id = (SELECT o.id FROM outbox o WHERE o.id = $1 \
                       AND o.state = 'pending' AND o.next_attempt_at <= $3 \
                       AND (o.lease_until IS NULL OR o.lease_until <= $3) \
                       AND o.kind = ANY($5) AND (o.kind <> 'siem' OR o.destination = ANY($6)) \
                       AND {IN_ORDER} FOR UPDATE SKIP LOCKED) \
                     RETURNING attempts::int8"
                ),
                &[&id, &owner, &now, &lease_ms, &known_kinds(), &siem],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Record how `owner`'s attempt at `row` ended, in one transaction: the row's state and
    /// lease, the ticket (into `tickets` and onto the alert), follow-up rows, and the alert's
    /// history line. A delivery that happened is recorded even when the lease ran out
    /// meanwhile (unless the row is already finished); a retry or failure only while this
    /// worker still holds the row, so a late worker never undoes a newer attempt.
    pub async fn outbox_finish(
        &self,
        row: &OutboxRow,
        owner: &str,
        finish: &Finish,
        now: EpochMs,
    ) -> Result<Settled, TeamError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // First: every writer of a pulled table commits in seq order (feed.rs).
        super::feed::change_lock(&tx).await?;
        // The alert first, then the row: the order a decision re-queueing this row takes
        // them in, so the two never wait on each other.
        if let Some(a) = &row.alert_id {
            tx.execute("SELECT 1 FROM alerts WHERE id = $1 FOR UPDATE", &[a])
                .await?;
        }
        let current = tx
            .query_opt(
                "SELECT state, lease_owner FROM outbox WHERE id = $1 FOR UPDATE",
                &[&row.id],
            )
            .await?;
        let Some(current) = current else {
            return Ok(Settled::Stale);
        };
        let state: String = current.get(0);
        let holder: Option<String> = current.get(1);
        let finished = state == "done" || state == "unsupported";
        let holds = state == "pending" && holder.as_deref() == Some(owner);
        let settles = matches!(finish, Finish::Done { .. } | Finish::Unsupported { .. });
        if finished || (!settles && !holds) {
            return Ok(Settled::Stale);
        }
        let alert = row.alert_id.as_deref();
        match finish {
            Finish::Done {
                result,
                history: line,
                ticket,
                pull_request: _,
                follow,
            } => {
                // Pull requests are linked in the opener's replica (dispatch::pr); the team
                // store keeps the delivery's result and history line.
                enqueue(&tx, now, &row.actor, follow).await?;
                tx.execute(
                    "UPDATE outbox SET state = 'done', result = $2, last_error = NULL, \
                     done_at = $3, lease_owner = NULL, lease_until = NULL WHERE id = $1",
                    &[&row.id, result, &now],
                )
                .await?;
                if let Some(t) = ticket {
                    link_ticket(&tx, t, alert, now).await?;
                }
                if let (Some(a), Some(line)) = (alert, line) {
                    history(&tx, a, now, "delivery", line).await?;
                }
            }
            Finish::Unsupported { reason } => {
                tx.execute(
                    "UPDATE outbox SET state = 'unsupported', last_error = $2, done_at = $3, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $1",
                    &[&row.id, reason, &now],
                )
                .await?;
                if let Some(a) = alert {
                    let line = format!("not written back to {}: {reason}", row.destination);
                    history(&tx, a, now, "delivery", &line).await?;
                }
            }
            Finish::Retry {
                error,
                next_attempt_at,
            } => {
                tx.execute(
                    "UPDATE outbox SET last_error = $2, next_attempt_at = $3, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $1",
                    &[&row.id, error, next_attempt_at],
                )
                .await?;
            }
            Finish::Failed { error } => {
                tx.execute(
                    "UPDATE outbox SET state = 'failed', last_error = $2, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $1",
                    &[&row.id, error],
                )
                .await?;
                if let Some(a) = alert {
                    let line = format!("delivery to {} failed: {error}", row.destination);
                    history(&tx, a, now, "delivery", &line).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(Settled::Recorded)
    }

    /// Counts for `outbox list` and the status bar.
    pub async fn outbox_depth(&self) -> Result<OutboxDepth, TeamError> {
        let client = self.client().await?;
        let r = client
            .query_one(
                "SELECT count(*) FILTER (WHERE state = 'pending'), \
                 count(*) FILTER (WHERE state = 'failed'), \
                 count(*) FILTER (WHERE state = 'pending' AND attempts > 0) \
                 FROM outbox WHERE state IN ('pending', 'failed')",
                &[],
            )
            .await?;
        Ok(OutboxDepth {
            pending: r.get::<_, i64>(0) as usize,
            failed: r.get::<_, i64>(1) as usize,
            retrying: r.get::<_, i64>(2) as usize,
        })
    }

    /// Rows in `states` (all when empty), newest first, at most `limit`.
    pub async fn outbox_list(
        &self,
        states: &[OutboxState],
        limit: usize,
    ) -> Result<Vec<OutboxRow>, TeamError> {
        let client = self.client().await?;
        let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM outbox o WHERE cardinality($1::text[]) = 0 \
                     OR state = ANY($1) ORDER BY id DESC LIMIT $2"
                ),
                &[&states, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(row_from).collect())
    }

    /// Put rows back in the queue, due now: the given ids (failed or waiting), or with no ids
    /// every failed row and every row waiting for its next attempt. Returns the ids reset.
    pub async fn outbox_retry(&self, ids: &[i64], now: EpochMs) -> Result<Vec<i64>, TeamError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut changed = Vec::new();
        if ids.is_empty() {
            for r in tx
                .query(
                    "SELECT id FROM outbox WHERE state = 'failed' \
                     OR (state = 'pending' AND next_attempt_at > $1) ORDER BY id FOR UPDATE",
                    &[&now],
                )
                .await?
            {
                changed.push(r.get::<_, i64>(0));
            }
        } else {
            for id in ids {
                let state: Option<String> = tx
                    .query_opt("SELECT state FROM outbox WHERE id = $1 FOR UPDATE", &[id])
                    .await?
                    .map(|r| r.get(0));
                match state.as_deref() {
                    None => return Err(TeamError::Invalid(format!("no outbox entry {id}"))),
                    Some(s @ ("done" | "unsupported")) => {
                        return Err(TeamError::Invalid(format!(
                            "outbox entry {id} is already {s}; nothing to retry"
                        )));
                    }
                    _ => changed.push(*id),
                }
            }
        }
        tx.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $1 WHERE id = ANY($2)",
            &[&now, &changed],
        )
        .await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Drop rows (they will not be delivered). Finished rows cannot be dropped.
    pub async fn outbox_drop(&self, ids: &[i64], now: EpochMs) -> Result<usize, TeamError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for id in ids {
            let state: Option<String> = tx
                .query_opt("SELECT state FROM outbox WHERE id = $1 FOR UPDATE", &[id])
                .await?
                .map(|r| r.get(0));
            match state.as_deref() {
                None => return Err(TeamError::Invalid(format!("no outbox entry {id}"))),
                Some("pending" | "failed") => {}
                Some(other) => {
                    return Err(TeamError::Invalid(format!(
                        "outbox entry {id} is {other}; only pending or failed entries can be dropped"
                    )));
                }
            }
        }
        tx.execute(
            "UPDATE outbox SET state = 'dropped', done_at = $1, lease_owner = NULL, \
             lease_until = NULL WHERE id = ANY($2)",
            &[&now, &ids],
        )
        .await?;
        tx.commit().await?;
        Ok(ids.len())
    }

    /// The team's ticket for a resource fingerprint.
    pub async fn ticket(&self, fingerprint: &str) -> Result<Option<TicketRow>, TeamError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE fingerprint = $1"),
                &[&fingerprint],
            )
            .await?;
        Ok(row.as_ref().map(ticket_from))
    }

    /// The team's tickets, newest first; `open_only` skips those the ticket system reports done.
    pub async fn tickets(&self, open_only: bool) -> Result<Vec<TicketRow>, TeamError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets WHERE NOT ($1 AND done) \
                     ORDER BY at DESC, fingerprint"
                ),
                &[&open_only],
            )
            .await?;
        Ok(rows.iter().map(ticket_from).collect())
    }

    /// Record a ticket's polled status; when it changed, every alert carrying the ticket gets
    /// a history line (once, however many workers poll at the same moment: the ticket row is
    /// locked while its status is compared). Returns whether it changed.
    pub async fn set_ticket_status(
        &self,
        fingerprint: &str,
        status: &str,
        done: bool,
        now: EpochMs,
    ) -> Result<bool, TeamError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // First: every writer of a pulled table commits in seq order (feed.rs).
        super::feed::change_lock(&tx).await?;
        let Some(old) = tx
            .query_opt(
                "SELECT status, key FROM tickets WHERE fingerprint = $1 FOR UPDATE",
                &[&fingerprint],
            )
            .await?
        else {
            return Ok(false);
        };
        let old_status: Option<String> = old.get(0);
        let key: String = old.get(1);
        tx.execute(
            "UPDATE tickets SET seq = CASE WHEN status IS DISTINCT FROM $2 OR done <> $3 \
             THEN nextval('change_seq') ELSE seq END, status = $2, done = $3, polled_at = $4 \
             WHERE fingerprint = $1",
            &[&fingerprint, &status, &done, &now],
        )
        .await?;
        let changed = old_status.as_deref() != Some(status);
        if changed {
            let line = format!("ticket {key} is now {status}");
            tx.execute(
                "INSERT INTO history (alert_id, at, actor, kind, reason) \
                 SELECT id, $2::int8, $4::text, 'ticket', $3::text FROM alerts WHERE ticket = $1",
                &[&key, &now, &line, &crate::store::SYSTEM_ACTOR],
            )
            .await?;
            tx.execute(
                "UPDATE alerts SET seq = nextval('change_seq') WHERE ticket = $1",
                &[&key],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
