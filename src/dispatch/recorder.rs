//! Where a decision is recorded: the local store (SQLite mode, the console) or, in team mode,
//! the replica's journal and the team store (`crate::team::decide`). decide.rs and pr.rs build
//! the same [`Decision`] either way; only this last step differs.

use super::outcome::{DecideError, Outcome};
use crate::store::team::TeamStore;
use crate::store::{Decision, Store};
use crate::team::decide::{OFFLINE_NOTE, Sent};

/// How to record decisions.
pub enum Recorder<'a> {
    /// This store records them (`Store::record_decision`): SQLite mode.
    Local,
    /// Team mode: journal in the replica, then send to the team store (None: unreachable,
    /// the decision waits in the journal). `rt` runs the team store's connections.
    Team {
        team: Option<&'a TeamStore>,
        rt: &'a tokio::runtime::Handle,
    },
}

impl Recorder<'_> {
    pub fn is_team(&self) -> bool {
        matches!(self, Recorder::Team { .. })
    }

    /// The team store and its runtime, when in team mode and the store is reachable: what a
    /// decision reads team-wide facts from (the team's tickets) and what delivers the team's
    /// outbox afterwards.
    pub fn team(&self) -> Option<(&TeamStore, &tokio::runtime::Handle)> {
        match self {
            Recorder::Team { team: Some(t), rt } => Some((*t, *rt)),
            _ => None,
        }
    }

    /// Record `d` and say what happened in `out`.
    pub(super) fn record(
        &mut self,
        store: &mut Store,
        d: &Decision,
        out: &mut Outcome,
    ) -> Result<(), DecideError> {
        match self {
            Recorder::Local => {
                let rec = store.record_decision(d)?;
                out.queued = rec.queued;
            }
            Recorder::Team { team, rt } => {
                let sent = rt
                    .block_on(crate::team::decide::record(store, *team, d, d.at))
                    .map_err(|e| DecideError::Team(e.to_string()))?;
                match &sent {
                    Sent::Applied { queued } => out.queued = *queued,
                    Sent::Pending => out.notes.push(OFFLINE_NOTE.to_string()),
                    Sent::Conflict { .. } => {}
                }
                out.team = Some(sent);
            }
        }
        Ok(())
    }
}
