//! The team's outbox: deliveries owed to the outside world, shared by every analyst's sitrep.
//! One row per dedup key for the whole team, so two analysts asking for the same ticket at
//! the same moment queue one delivery.

use deadpool_postgres::Transaction;

use super::TeamError;
use crate::domain::EpochMs;
use crate::store::OutboxItem;

/// What queueing did: rows created, and rows whose key was already queued (or delivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queued {
    pub queued: usize,
    pub already_queued: usize,
}

/// Queue `items` inside the caller's transaction. A key seen before: a failed or dropped row
/// is put back in the queue (the analyst asked again); a pending or finished one is left
/// alone (the SQLite outbox's rule).
pub async fn enqueue(
    tx: &Transaction<'_>,
    at: EpochMs,
    actor: &str,
    items: &[OutboxItem],
) -> Result<Queued, TeamError> {
    let mut out = Queued::default();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox AS o (dedup_key, created_at, actor, alert_id, kind, destination, \
             payload, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $2) \
             ON CONFLICT (dedup_key) DO UPDATE SET state = 'pending', attempts = 0, \
             next_attempt_at = excluded.next_attempt_at, last_error = NULL, \
             lease_owner = NULL, lease_until = NULL \
             WHERE o.state IN ('failed', 'dropped')",
        )
        .await?;
    for item in items {
        let payload = serde_json::to_string(&item.payload)
            .map_err(|e| TeamError::Invalid(format!("outbox payload: {e}")))?;
        let n = tx
            .execute(
                &stmt,
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
            out.already_queued += 1;
        } else {
            out.queued += 1;
        }
    }
    Ok(out)
}
