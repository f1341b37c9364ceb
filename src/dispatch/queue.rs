//! The queue a delivery worker drains: this analyst's SQLite outbox, or in team mode the
//! team's PostgreSQL outbox shared by everyone's sitrep. `worker::deliver_due` and
//! `worker::poll_tickets` run the same loop over either.

use std::future::Future;

use crate::domain::EpochMs;
use crate::store::team::TeamError;
use crate::store::{Finish, OutboxRow, Store, StoreError, TicketRow};
use crate::team::TeamOutbox;

/// An outbox and the tickets its deliveries made.
pub trait OutboxQueue {
    type Error: std::fmt::Display;

    /// Rows due at `now`, oldest first, in order per alert and destination.
    fn due(
        &mut self,
        now: EpochMs,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, Self::Error>> + Send;

    /// Count an attempt at `row` before it is made and take the row for this worker.
    /// False: another worker has it (or it stopped being due); skip it.
    fn begin(
        &mut self,
        row: &OutboxRow,
        now: EpochMs,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Record how the attempt ended.
    fn finish(
        &mut self,
        row: &OutboxRow,
        finish: &Finish,
        now: EpochMs,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Tickets, newest first; `open_only` skips those reported done.
    fn tickets(
        &mut self,
        open_only: bool,
    ) -> impl Future<Output = Result<Vec<TicketRow>, Self::Error>> + Send;

    /// Record a ticket's polled status; returns whether it changed.
    fn set_ticket_status(
        &mut self,
        fingerprint: &str,
        status: &str,
        done: bool,
        now: EpochMs,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// The SQLite outbox: one process's worker owns it, so `begin` always takes the row.
impl OutboxQueue for Store {
    type Error = StoreError;

    fn due(
        &mut self,
        now: EpochMs,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, StoreError>> + Send {
        std::future::ready(self.outbox_due(now, limit))
    }

    fn begin(
        &mut self,
        row: &OutboxRow,
        _now: EpochMs,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(self.outbox_begin(row.id).map(|()| true))
    }

    fn finish(
        &mut self,
        row: &OutboxRow,
        finish: &Finish,
        now: EpochMs,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(self.outbox_finish(row, finish, now))
    }

    fn tickets(
        &mut self,
        open_only: bool,
    ) -> impl Future<Output = Result<Vec<TicketRow>, StoreError>> + Send {
        std::future::ready(Store::tickets(self, open_only))
    }

    fn set_ticket_status(
        &mut self,
        fingerprint: &str,
        status: &str,
        done: bool,
        now: EpochMs,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Store::set_ticket_status(
            self,
            fingerprint,
            status,
            done,
            now,
        ))
    }
}

/// The team's outbox: rows are leased, so of several workers across processes one attempts
/// each row; an attempt whose lease another worker took over is not recorded over theirs.
impl OutboxQueue for TeamOutbox {
    type Error = TeamError;

    async fn due(&mut self, now: EpochMs, limit: usize) -> Result<Vec<OutboxRow>, TeamError> {
        self.team().outbox_due(now, limit, self.siem()).await
    }

    async fn begin(&mut self, row: &OutboxRow, now: EpochMs) -> Result<bool, TeamError> {
        let leased = self
            .team()
            .outbox_lease(row.id, self.owner(), now, self.lease_ms(), self.siem())
            .await?;
        Ok(leased.is_some())
    }

    async fn finish(
        &mut self,
        row: &OutboxRow,
        finish: &Finish,
        now: EpochMs,
    ) -> Result<(), TeamError> {
        let settled = self
            .team()
            .outbox_finish(row, self.owner(), finish, now)
            .await?;
        if settled == crate::store::team::outbox::Settled::Stale {
            tracing::info!(
                "outbox #{}: another worker took it over; this attempt's outcome is not recorded",
                row.id
            );
        }
        Ok(())
    }

    async fn tickets(&mut self, open_only: bool) -> Result<Vec<TicketRow>, TeamError> {
        self.team().tickets(open_only).await
    }

    async fn set_ticket_status(
        &mut self,
        fingerprint: &str,
        status: &str,
        done: bool,
        now: EpochMs,
    ) -> Result<bool, TeamError> {
        self.team()
            .set_ticket_status(fingerprint, status, done, now)
            .await
    }
}
