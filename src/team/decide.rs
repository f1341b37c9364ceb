//! Team-mode decisions, crash- and outage-safe (docs/team.md "Offline and conflicts").
//!
//! A decision is journaled durably in the replica first, under a random 128-bit id and the
//! alert's team version the analyst saw, and only then sent. The team store applies an id
//! once, so a decision sent twice (the process died after the commit, before marking the
//! row) is harmless; a pending row is sent again at the next connect ([`replay`], in the
//! order decided). When someone else changed the alert meanwhile the team store writes
//! nothing and the row becomes a conflict for the analyst to resolve ([`resolve`]).

use super::LinkError;
use crate::domain::EpochMs;
use crate::store::team::{TeamError, TeamRecorded, TeamStore};
use crate::store::{
    Decision, JournalEntry, JournalRow, JournalState, LocalChange, Store, StoreError,
};

/// What the analyst is told when the team store could not be reached.
pub const OFFLINE_NOTE: &str =
    "recorded locally; the team store is unreachable: will be sent when it is back";

/// How sending one decision ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Applied by the team store (now, or by an earlier send of the same id).
    Applied { queued: usize },
    /// Journaled here only: the team store could not be reached.
    Pending,
    /// Not applied: someone else changed the alert (`detail`, one line, says who and what).
    Conflict { journal_id: i64, detail: String },
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// (journal id, how it ended) for every row sent, in order.
    pub rows: Vec<(i64, Sent)>,
    /// Rows still pending (the store went away during the replay).
    pub pending: usize,
}

impl Replayed {
    pub fn applied(&self) -> usize {
        self.rows
            .iter()
            .filter(|(_, s)| matches!(s, Sent::Applied { .. }))
            .count()
    }

    pub fn conflicts(&self) -> usize {
        self.rows
            .iter()
            .filter(|(_, s)| matches!(s, Sent::Conflict { .. }))
            .count()
    }
}

/// A new decision id: 128 random bits, hex. No fallback: an id that could repeat would make
/// the team store drop a decision as already applied.
pub fn decision_id() -> Result<String, LinkError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| LinkError::Config(format!("no randomness for a decision id: {e}")))?;
    Ok(crate::audit::canonical::hex(&b))
}

/// Journal `d` durably in the replica, on the team version the replica holds for its alert.
pub fn journal(store: &mut Store, d: &Decision) -> Result<JournalRow, LinkError> {
    let base = store
        .team_version(&d.alert_id)?
        .ok_or_else(|| StoreError::NotFound(d.alert_id.clone()))?;
    let body = serde_json::to_string(d)
        .map_err(|e| StoreError::Invalid(format!("decision journal: {e}")))?;
    let id = decision_id()?;
    Ok(store.journal_add(&JournalEntry {
        decision_id: &id,
        alert_id: &d.alert_id,
        base_version: base,
        at: d.at,
        action: d.action(),
        body: &body,
    })?)
}

/// Record a decision in team mode: journal it, then (when `team` is reachable) send every
/// pending row in order, this one last, and pull what changed.
pub async fn record(
    store: &mut Store,
    team: Option<&TeamStore>,
    d: &Decision,
    now: EpochMs,
) -> Result<Sent, LinkError> {
    // A decision that could never be sent is refused before it is journaled.
    if store.audit_key().is_none() {
        return Err(no_key());
    }
    let row = journal(store, d)?;
    // The analyst sees their status decision in the queue at once, offline too; the team's
    // state replaces it at the next pull that brings the alert, and a decision the team store
    // does not apply is undone (`send`).
    if let LocalChange::Status(change) = &d.change {
        store.show_journaled_status(&d.alert_id, change)?;
    }
    let Some(team) = team else {
        return Ok(Sent::Pending);
    };
    let done = replay(store, team, now).await?;
    Ok(done
        .rows
        .into_iter()
        .find(|(id, _)| *id == row.id)
        .map_or(Sent::Pending, |(_, s)| s))
}

/// Send one journal row and record how it ended in the journal.
async fn send(store: &mut Store, team: &TeamStore, row: &JournalRow) -> Result<Sent, LinkError> {
    let d: Decision = match serde_json::from_str(&row.body) {
        Ok(d) => d,
        // Not sendable as it is; kept for the analyst to see and discard.
        Err(e) => {
            return park(
                store,
                row,
                format!("the journaled decision cannot be read ({e})"),
            );
        }
    };
    let Some(key) = store.audit_key().cloned() else {
        return Err(no_key());
    };
    let base = version_checked(&d.change).then_some(row.base_version);
    let res = team
        .record_decision(&row.decision_id, base, &d, Some(&key))
        .await;
    let sent = settle(store, row, res)?;
    if let (Sent::Conflict { .. }, LocalChange::Status(_)) = (&sent, &d.change) {
        // Not applied: the status this replica showed for it gives way to the team's.
        match team.state(&d.alert_id).await {
            Ok(Some(state)) => store.restore_team_state(&state)?,
            Ok(None) => {}
            Err(e) => tracing::warn!("team state of {} after a refusal: {e}", d.alert_id),
        }
    }
    Ok(sent)
}

/// Record in the journal how sending one row ended.
fn settle(
    store: &mut Store,
    row: &JournalRow,
    res: Result<TeamRecorded, TeamError>,
) -> Result<Sent, LinkError> {
    match res {
        Ok(TeamRecorded::Applied { queued, .. }) => {
            store.journal_mark(row.id, JournalState::Sent, None)?;
            Ok(Sent::Applied { queued })
        }
        Ok(TeamRecorded::AlreadyApplied) => {
            store.journal_mark(row.id, JournalState::Sent, None)?;
            Ok(Sent::Applied { queued: 0 })
        }
        Ok(TeamRecorded::Conflict { theirs, by, at }) => {
            let detail = conflict_line(row, &theirs, by.as_deref(), at);
            store.journal_mark(row.id, JournalState::Conflict, Some(&detail))?;
            Ok(Sent::Conflict {
                journal_id: row.id,
                detail,
            })
        }
        Err(e) if e.is_unreachable() => Ok(Sent::Pending),
        Err(TeamError::NotFound(id)) => park(
            store,
            row,
            format!(
                "the team store has no alert '{}'",
                crate::sanitize::one_line(&id)
            ),
        ),
        // Refusals that sending again cannot change (this analyst's key is not the team's, or
        // the role may not write): parked with the reason, so one such row never stops the
        // rows after it or every later connect; `team resolve` settles it.
        Err(e @ (TeamError::Invalid(_) | TeamError::ReadOnly(_))) => {
            park(store, row, e.to_string())
        }
        Err(e) => Err(e.into()),
    }
}

/// Keep a journal row out of the replay, as a conflict the analyst resolves.
fn park(store: &mut Store, row: &JournalRow, detail: String) -> Result<Sent, LinkError> {
    let detail = crate::sanitize::one_line(&detail);
    store.journal_mark(row.id, JournalState::Conflict, Some(&detail))?;
    Ok(Sent::Conflict {
        journal_id: row.id,
        detail,
    })
}

fn no_key() -> LinkError {
    LinkError::Config(
        "no audit key: a team decision is sent with its audit entry ([audit] key, docs/team.md)"
            .into(),
    )
}

/// Whether a decision is refused when the alert changed since the analyst's replica saw it.
/// A status replaces the team's, and an approval or pull request rests on the approvals the
/// analyst saw: those could undo or misjudge a teammate's change. A note, a notification or a
/// ticket adds to the alert (and the outbox's dedup key and the team's `tickets` keep one
/// ticket per resource), so it stands whatever happened meanwhile: two analysts ticketing one
/// resource at once both succeed, with one ticket.
fn version_checked(change: &LocalChange) -> bool {
    match change {
        LocalChange::Status(_) | LocalChange::Approval { .. } | LocalChange::PullRequest { .. } => {
            true
        }
        LocalChange::Note(_)
        | LocalChange::TicketRequest
        | LocalChange::TicketLink { .. }
        | LocalChange::NotifyRequest => false,
    }
}

/// "bob changed it (2026-11-30T14:02:00Z): now dismissed, v7; this decision was made on v5".
fn conflict_line(
    row: &JournalRow,
    theirs: &crate::store::TeamState,
    by: Option<&str>,
    at: Option<EpochMs>,
) -> String {
    let who = by.map_or_else(|| "someone".to_string(), crate::sanitize::one_line);
    let when = at
        .map(|a| format!(" ({})", crate::present::iso(a)))
        .unwrap_or_default();
    let claim = match &theirs.claimed_by {
        Some(c) => format!(", claimed by {}", crate::sanitize::one_line(c)),
        None => String::new(),
    };
    format!(
        "{who} changed it{when}: now {}{claim}, v{}; this decision was made on v{}",
        crate::sanitize::one_line(&theirs.status).replace('_', " "),
        theirs.version,
        row.base_version
    )
}

/// Send every pending journal row, in the order decided; stops (leaving the rest pending)
/// when the team store goes away. Pulls after anything was applied. Called at every connect.
pub async fn replay(
    store: &mut Store,
    team: &TeamStore,
    now: EpochMs,
) -> Result<Replayed, LinkError> {
    let pending = store.journal_rows(JournalState::Pending)?;
    let mut out = Replayed::default();
    if !pending.is_empty() && store.audit_key().is_none() {
        // Sent with their audit entries or not at all: they wait for a key, and the rest of
        // the connect (pulls, claims) goes on.
        tracing::warn!("{} journaled decisions wait: {}", pending.len(), no_key());
        out.pending = pending.len();
        return Ok(out);
    }
    for (i, row) in pending.iter().enumerate() {
        let sent = send(store, team, row).await?;
        if sent == Sent::Pending {
            out.pending = pending.len() - i;
            break;
        }
        out.rows.push((row.id, sent));
    }
    if !out.rows.is_empty() {
        // The decisions are safe in the team store; a replica that could not catch up now
        // catches up at the next pull.
        if let Err(e) = super::pull(store, team, now).await {
            tracing::warn!("team pull after sending decisions: {e}");
        }
    }
    Ok(out)
}

/// Settle a conflict: `keep_mine` sends the decision again on the alert's current team
/// version (it then applies over what the other analyst did, by the analyst's choice);
/// otherwise it is discarded and the team's state stays.
pub async fn resolve(
    store: &mut Store,
    team: &TeamStore,
    journal_id: i64,
    keep_mine: bool,
    now: EpochMs,
) -> Result<Sent, LinkError> {
    let Some(row) = store.journal_row(journal_id)? else {
        return Err(StoreError::Invalid(format!("no journal entry {journal_id}")).into());
    };
    if row.state != JournalState::Conflict {
        return Err(StoreError::Invalid(format!(
            "journal entry {journal_id} is {}, not a conflict",
            row.state.as_str()
        ))
        .into());
    }
    if !keep_mine {
        store.journal_mark(row.id, JournalState::Discarded, row.detail.as_deref())?;
        if let Err(e) = super::pull(store, team, now).await {
            tracing::warn!("team pull after a discard: {e}");
        }
        return Ok(Sent::Applied { queued: 0 });
    }
    let Some(state) = team.state(&row.alert_id).await? else {
        return Err(crate::store::team::TeamError::NotFound(row.alert_id.clone()).into());
    };
    store.journal_rebase(row.id, state.version)?;
    let done = replay(store, team, now).await?;
    Ok(done
        .rows
        .into_iter()
        .find(|(id, _)| *id == row.id)
        .map_or(Sent::Pending, |(_, s)| s))
}
