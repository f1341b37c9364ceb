//! The team's side of `sitrep report`: who decided what during the shift, across analysts,
//! from the team store's `history` and `decisions` tables.

use std::collections::BTreeMap;

use super::{TeamError, TeamStore};
use crate::domain::EpochMs;
use crate::store::SYSTEM_ACTOR;

/// One analyst's shift in numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct AnalystShift {
    pub actor: String,
    /// Decisions recorded through the team store (the `decisions` ledger).
    pub decisions: i64,
    /// History lines by kind (status, note, claim, release, ticket, approval, …).
    pub by_kind: BTreeMap<String, i64>,
}

/// One line of what happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TeamLine {
    pub seq: i64,
    pub alert_id: String,
    pub at: EpochMs,
    pub actor: String,
    pub kind: String,
    pub reason: Option<String>,
    pub note: Option<String>,
}

/// The shift across analysts.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct TeamShift {
    /// By analyst name.
    pub analysts: Vec<AnalystShift>,
    /// The analysts' lines, oldest first, at most the limit asked for.
    pub lines: Vec<TeamLine>,
    /// Whether more lines than the limit exist.
    pub more: bool,
}

impl TeamStore {
    /// Analysts' history lines and decisions since `since` (sitrep's own lines — imports,
    /// vendor updates, statuses that followed the vendor — are not an analyst's).
    pub async fn shift(&self, since: EpochMs, limit: usize) -> Result<TeamShift, TeamError> {
        let client = self.client().await?;
        let mut analysts: BTreeMap<String, AnalystShift> = BTreeMap::new();
        let kinds = client
            .query(
                "SELECT actor, kind, count(*) FROM history WHERE at >= $1 AND actor <> $2 \
                 AND kind NOT IN ('imported', 'vendor_update') GROUP BY actor, kind",
                &[&since, &SYSTEM_ACTOR],
            )
            .await?;
        for r in &kinds {
            let actor: String = r.get(0);
            let a = analysts
                .entry(actor.clone())
                .or_insert_with(|| AnalystShift {
                    actor,
                    ..Default::default()
                });
            a.by_kind.insert(r.get(1), r.get(2));
        }
        let decided = client
            .query(
                "SELECT actor, count(*) FROM decisions WHERE at >= $1 AND actor <> $2 \
                 GROUP BY actor",
                &[&since, &SYSTEM_ACTOR],
            )
            .await?;
        for r in &decided {
            let actor: String = r.get(0);
            analysts
                .entry(actor.clone())
                .or_insert_with(|| AnalystShift {
                    actor,
                    ..Default::default()
                })
                .decisions = r.get(1);
        }
        let rows = client
            .query(
                // A status line says what it changed ("new → dismissed; false_positive"),
                // as the SQLite report's lines do.
                "SELECT seq, alert_id, at, actor, kind, CASE WHEN to_status IS NULL THEN reason \
                 ELSE coalesce(from_status, '?') || ' → ' || to_status || \
                 coalesce('; ' || reason, '') END, note FROM history \
                 WHERE at >= $1 AND actor <> $2 AND kind NOT IN ('imported', 'vendor_update') \
                 ORDER BY seq LIMIT $3",
                &[&since, &SYSTEM_ACTOR, &(limit as i64 + 1)],
            )
            .await?;
        let more = rows.len() > limit;
        let lines = rows
            .iter()
            .take(limit)
            .map(|r| TeamLine {
                seq: r.get(0),
                alert_id: r.get(1),
                at: r.get(2),
                actor: r.get(3),
                kind: r.get(4),
                reason: r.get(5),
                note: r.get(6),
            })
            .collect();
        Ok(TeamShift {
            analysts: analysts.into_values().collect(),
            lines,
            more,
        })
    }
}
