//! `sitrep store status`: what a team store holds, read in one snapshot.

use super::{MIGRATIONS, Refresher, TeamError, TeamStore};
use crate::domain::EpochMs;

/// The team store at a glance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TeamStatus {
    pub target: String,
    /// The schema the database is at, and the one this build knows.
    pub schema: i64,
    pub schema_known: i64,
    /// Everything below is zero / empty when the schema is not this build's.
    pub alerts: i64,
    /// Alerts still in the queue (new or acknowledged or in progress).
    pub open_alerts: i64,
    /// Claims that hold now.
    pub open_claims: i64,
    pub refreshers: Vec<Refresher>,
    pub outbox_pending: i64,
    pub outbox_failed: i64,
    pub outbox_done: i64,
    pub audit_entries: i64,
    /// The change feed's newest seq.
    pub head_seq: i64,
}

impl TeamStore {
    /// Read the status (schema first: a store this build cannot read shows only that).
    pub async fn status(&self, now: EpochMs) -> Result<TeamStatus, TeamError> {
        let schema = self.schema_version().await?;
        let mut s = TeamStatus {
            target: self.label(),
            schema,
            schema_known: MIGRATIONS.len() as i64,
            alerts: 0,
            open_alerts: 0,
            open_claims: 0,
            refreshers: Vec::new(),
            outbox_pending: 0,
            outbox_failed: 0,
            outbox_done: 0,
            audit_entries: 0,
            head_seq: 0,
        };
        if schema != s.schema_known {
            return Ok(s);
        }
        let mut client = self.client().await?;
        // One snapshot for the counts, so they agree with each other.
        let tx = super::feed::snapshot(&mut client).await?;
        let r = tx
            .query_one(
                &format!(
                "SELECT (SELECT count(*) FROM alerts), \
                 (SELECT count(*) FROM alerts WHERE status IN ('new', 'acknowledged', 'in_progress')), \
                 (SELECT count(*) FROM alerts WHERE claimed_by IS NOT NULL AND claim_until > $1), \
                 (SELECT count(*) FROM outbox WHERE state = 'pending'), \
                 (SELECT count(*) FROM outbox WHERE state = 'failed'), \
                 (SELECT count(*) FROM outbox WHERE state = 'done'), \
                 (SELECT count(*) FROM audit_log), \
                 {}",
                super::alerts::HEAD_SEQ
                ),
                &[&now],
            )
            .await?;
        s.alerts = r.get(0);
        s.open_alerts = r.get(1);
        s.open_claims = r.get(2);
        s.outbox_pending = r.get(3);
        s.outbox_failed = r.get(4);
        s.outbox_done = r.get(5);
        s.audit_entries = r.get(6);
        s.head_seq = r.get::<_, Option<i64>>(7).unwrap_or(0);
        tx.commit().await?;
        drop(client);
        s.refreshers = self.refreshers().await?;
        Ok(s)
    }
}
