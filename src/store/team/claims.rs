//! Claims on the team store: who is working an alert, until when (docs/team.md, "Claims").
//!
//! A claim is the four `claimed_*` / `claim_until` columns of an alert; it lapses by time
//! alone (no sweeper), so every test here is "held by someone else and `claim_until > now`".
//! Each change bumps the alert's `version`, takes a new `seq` (replicas pull it) and writes a
//! `history` line, in one transaction.

use deadpool_postgres::Transaction;

use super::alerts::{STATE_COLUMNS, state_from};
use super::{TeamError, TeamStore};
use crate::domain::EpochMs;
use crate::store::TeamState;

/// What `claim` did.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The actor holds the alert until `state.claim_until`.
    Claimed {
        state: TeamState,
        /// Whose unexpired claim this took over (`take_over` with a note).
        took_over_from: Option<String>,
        /// The actor held it already: the claim was extended.
        extended: bool,
    },
    /// Someone else holds an unexpired claim (and `take_over` was not asked).
    Refused { holder: String, until: EpochMs },
}

/// What `release` did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseOutcome {
    /// The claim is gone; `holder` had it (the actor, or someone whose claim had lapsed).
    Released { state: TeamState, holder: String },
    /// Nobody held the alert: nothing written.
    NotClaimed,
    /// Someone else holds an unexpired claim: only they may release it (or take it over).
    Refused { holder: String, until: EpochMs },
}

/// One current claim, for `sitrep claim --list`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClaimRow {
    pub id: String,
    pub claimed_by: String,
    pub claimed_at: Option<EpochMs>,
    pub claim_until: EpochMs,
    pub note: Option<String>,
    pub status: String,
    /// The publisher's score (`next`'s order).
    pub score: f64,
}

/// The claim columns of a locked row.
struct Held {
    by: Option<String>,
    until: Option<EpochMs>,
}

impl Held {
    /// The holder of a claim that still holds at `now`.
    fn live(&self, now: EpochMs) -> Option<(&str, EpochMs)> {
        match (&self.by, self.until) {
            (Some(by), Some(until)) if until > now => Some((by.as_str(), until)),
            _ => None,
        }
    }
}

impl TeamStore {
    /// `actor` takes alert `id` for `ttl_ms` from `now`. Refused while another analyst's
    /// claim holds, unless `take_over` with a non-empty `note` (the note says why, for the
    /// analyst who loses it). Claiming an alert you hold extends it; a lapsed claim is free.
    pub async fn claim(
        &self,
        id: &str,
        actor: &str,
        now: EpochMs,
        ttl_ms: i64,
        note: Option<&str>,
        take_over: bool,
    ) -> Result<ClaimOutcome, TeamError> {
        check_actor(actor)?;
        check_ttl(ttl_ms)?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if take_over && note.is_none() {
            return Err(TeamError::Invalid(
                "taking over a claim needs a note saying why (--note TEXT)".into(),
            ));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // First: every writer of a pulled table commits in seq order (feed.rs).
        super::feed::change_lock(&tx).await?;
        let held = lock(&tx, id).await?;
        let until = now.saturating_add(ttl_ms);
        let (reason, took_over_from, extended) = match held.live(now) {
            Some((holder, _)) if holder == actor => (
                format!("claim extended until {}", clock(until, now)),
                None,
                true,
            ),
            Some((holder, held_until)) if !take_over => {
                return Ok(ClaimOutcome::Refused {
                    holder: holder.to_string(),
                    until: held_until,
                });
            }
            Some((holder, _)) => (
                format!(
                    "took over from {holder}; claimed until {}",
                    clock(until, now)
                ),
                Some(holder.to_string()),
                false,
            ),
            None => (format!("claimed until {}", clock(until, now)), None, false),
        };
        let state = set_claim(&tx, id, actor, now, until, note).await?;
        history(&tx, id, state.version, now, actor, "claim", &reason, note).await?;
        tx.commit().await?;
        Ok(ClaimOutcome::Claimed {
            state,
            took_over_from,
            extended,
        })
    }

    /// End a claim on `id`: the holder may, and anyone may once it has lapsed.
    pub async fn release(
        &self,
        id: &str,
        actor: &str,
        now: EpochMs,
        note: Option<&str>,
    ) -> Result<ReleaseOutcome, TeamError> {
        check_actor(actor)?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // First: every writer of a pulled table commits in seq order (feed.rs).
        super::feed::change_lock(&tx).await?;
        let held = lock(&tx, id).await?;
        let Some(holder) = held.by.clone() else {
            return Ok(ReleaseOutcome::NotClaimed);
        };
        let reason = match held.live(now) {
            Some((h, _)) if h == actor => "released".to_string(),
            Some((h, until)) => {
                return Ok(ReleaseOutcome::Refused {
                    holder: h.to_string(),
                    until,
                });
            }
            None if holder == actor => "released (the claim had lapsed)".to_string(),
            None => format!("released {holder}'s lapsed claim"),
        };
        let row = tx
            .query_one(
                &format!(
                    "UPDATE alerts SET claimed_by = NULL, claimed_at = NULL, claim_until = NULL, \
                     claim_note = NULL, version = version + 1, seq = nextval('change_seq') \
                     WHERE id = $1 RETURNING {STATE_COLUMNS}"
                ),
                &[&id],
            )
            .await?;
        let state = state_from(&row, 0);
        history(&tx, id, state.version, now, actor, "release", &reason, note).await?;
        tx.commit().await?;
        Ok(ReleaseOutcome::Released { state, holder })
    }

    /// Hand `actor` the highest-scoring open alert nobody holds, claimed for `ttl_ms`, or None
    /// when there is none. Concurrent callers never get the same alert: the row is locked with
    /// `FOR UPDATE SKIP LOCKED` (a caller passes over rows another is taking) and claimed in
    /// the same transaction; a row claimed and committed meanwhile fails the claim test when
    /// PostgreSQL re-reads it under the lock.
    ///
    /// An alert whose last claim event is this actor's own release is passed over: releasing
    /// says "not for me", so `next` should not hand it straight back (anyone else still gets
    /// it, and `claim ID` takes it explicitly).
    pub async fn next(
        &self,
        actor: &str,
        now: EpochMs,
        ttl_ms: i64,
    ) -> Result<Option<TeamState>, TeamError> {
        check_actor(actor)?;
        check_ttl(ttl_ms)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // First: every writer of a pulled table commits in seq order (feed.rs).
        super::feed::change_lock(&tx).await?;
        let picked = tx
            .query_opt(
                "SELECT a.id, a.claimed_by FROM alerts a \
                 WHERE a.status IN ('new', 'acknowledged') \
                 AND (a.claimed_by IS NULL OR a.claim_until IS NULL OR a.claim_until <= $1) \
                 AND (SELECT h.kind = 'release' AND h.actor = $2 FROM history h \
                      WHERE h.alert_id = a.id AND h.kind IN ('claim', 'release') \
                      ORDER BY h.seq DESC LIMIT 1) IS NOT TRUE \
                 ORDER BY a.score DESC, a.id LIMIT 1 FOR UPDATE OF a SKIP LOCKED",
                &[&now, &actor],
            )
            .await?;
        let Some(row) = picked else {
            return Ok(None);
        };
        let id: String = row.get(0);
        let lapsed: Option<String> = row.get(1);
        let until = now.saturating_add(ttl_ms);
        let reason = match lapsed {
            Some(prev) if prev != actor => format!(
                "claimed until {} by next ({prev}'s claim had lapsed)",
                clock(until, now)
            ),
            _ => format!("claimed until {} by next", clock(until, now)),
        };
        let state = set_claim(&tx, &id, actor, now, until, None).await?;
        history(&tx, &id, state.version, now, actor, "claim", &reason, None).await?;
        tx.commit().await?;
        Ok(Some(state))
    }

    /// The claims that hold at `now` (only `actor`'s when given), soonest to lapse first.
    pub async fn claims(
        &self,
        actor: Option<&str>,
        now: EpochMs,
    ) -> Result<Vec<ClaimRow>, TeamError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, claimed_by, claimed_at, claim_until, claim_note, status, score \
                 FROM alerts WHERE claimed_by IS NOT NULL AND claim_until > $1 \
                 AND ($2::text IS NULL OR claimed_by = $2) ORDER BY claim_until, id",
                &[&now, &actor],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ClaimRow {
                id: r.get(0),
                claimed_by: r.get(1),
                claimed_at: r.get(2),
                claim_until: r.get(3),
                note: r.get(4),
                status: r.get(5),
                score: r.get(6),
            })
            .collect())
    }
}

/// Lock alert `id`'s row for this transaction and read its claim.
async fn lock(tx: &Transaction<'_>, id: &str) -> Result<Held, TeamError> {
    let row = tx
        .query_opt(
            "SELECT claimed_by, claim_until FROM alerts WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(|| TeamError::NotFound(crate::sanitize::one_line(id)))?;
    Ok(Held {
        by: row.get(0),
        until: row.get(1),
    })
}

async fn set_claim(
    tx: &Transaction<'_>,
    id: &str,
    actor: &str,
    now: EpochMs,
    until: EpochMs,
    note: Option<&str>,
) -> Result<TeamState, TeamError> {
    let row = tx
        .query_one(
            &format!(
                "UPDATE alerts SET claimed_by = $2, claimed_at = $3, claim_until = $4, \
                 claim_note = $5, version = version + 1, seq = nextval('change_seq') \
                 WHERE id = $1 RETURNING {STATE_COLUMNS}"
            ),
            &[&id, &actor, &now, &until, &note],
        )
        .await?;
    Ok(state_from(&row, 0))
}

/// A claim's history line; `version` is the alert's version the claim made (a decision
/// journaled on an earlier version conflicts with it: decisions.rs).
#[allow(clippy::too_many_arguments)]
async fn history(
    tx: &Transaction<'_>,
    id: &str,
    version: i64,
    at: EpochMs,
    actor: &str,
    kind: &str,
    reason: &str,
    note: Option<&str>,
) -> Result<(), TeamError> {
    tx.execute(
        "INSERT INTO history (alert_id, at, actor, kind, reason, note, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&id, &at, &actor, &kind, &reason, &note, &version],
    )
    .await?;
    Ok(())
}

fn check_actor(actor: &str) -> Result<(), TeamError> {
    if actor.trim().is_empty() {
        return Err(TeamError::Invalid(
            "a claim needs the analyst's name ([analyst] in the config)".into(),
        ));
    }
    Ok(())
}

fn check_ttl(ttl_ms: i64) -> Result<(), TeamError> {
    if ttl_ms <= 0 {
        return Err(TeamError::Invalid(format!(
            "a claim must last a positive time (got {ttl_ms} ms)"
        )));
    }
    Ok(())
}

/// "16:30 UTC" when `at` falls on `now`'s UTC day, else "2026-11-23 16:30 UTC".
pub fn clock(at: EpochMs, now: EpochMs) -> String {
    let (Some(t), Some(n)) = (
        chrono::DateTime::from_timestamp_millis(at),
        chrono::DateTime::from_timestamp_millis(now),
    ) else {
        return format!("{at} ms");
    };
    if t.date_naive() == n.date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::clock;

    #[test]
    fn clock_names_the_day_only_when_it_is_not_today() {
        let now = 1_795_305_600_000; // 2026-11-22T00:00:00Z
        assert_eq!(clock(now + 16 * 3_600_000 + 30 * 60_000, now), "16:30 UTC");
        assert_eq!(clock(now + 26 * 3_600_000, now), "2026-11-23 02:00 UTC");
    }
}
