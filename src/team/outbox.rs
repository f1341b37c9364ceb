//! The team's outbox as one delivery worker sees it: the team store plus who this worker is
//! and how long it holds a row it attempts. `dispatch::worker` drives it (through
//! `dispatch::queue::OutboxQueue`) exactly as it drives the SQLite outbox.

use crate::domain::EpochMs;
use crate::store::TicketRow;
use crate::store::team::outbox::LEASE_MS;
use crate::store::team::{TeamError, TeamStore};

/// One worker on the team's outbox. Two of them never attempt the same row at once, even in
/// one process: each has its own lease owner name.
#[derive(Debug, Clone)]
pub struct TeamOutbox {
    team: TeamStore,
    owner: String,
    lease_ms: EpochMs,
    /// The SIEM destinations (`siem:<name>`) this worker's config can deliver to.
    siem: Vec<String>,
}

impl TeamOutbox {
    /// A worker for `actor` (the name is shown as the lease holder of a row in flight).
    pub fn new(team: TeamStore, actor: &str) -> TeamOutbox {
        let mut b = [0u8; 6];
        // Without randomness the process id still tells this machine's workers apart; the
        // actor and host tell the team's.
        let nonce = match getrandom::fill(&mut b) {
            Ok(()) => b.iter().map(|x| format!("{x:02x}")).collect(),
            Err(_) => String::from("0"),
        };
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let owner = format!(
            "{}@{}:{}:{nonce}",
            crate::sanitize::one_line(actor),
            crate::sanitize::one_line(&host),
            std::process::id()
        );
        TeamOutbox {
            team,
            owner,
            lease_ms: LEASE_MS,
            siem: Vec::new(),
        }
    }

    /// This worker also delivers the team's rows for these SIEM destinations (`siem:<name>`
    /// of its `[[siem]]` tables; the others' rows wait for a worker whose config has them).
    pub fn delivering_siem(mut self, destinations: Vec<String>) -> TeamOutbox {
        self.siem = destinations;
        self
    }

    /// The SIEM destinations this worker delivers to.
    pub fn siem(&self) -> &[String] {
        &self.siem
    }

    pub fn team(&self) -> &TeamStore {
        &self.team
    }

    /// The lease owner name this worker writes on the rows it attempts.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn lease_ms(&self) -> EpochMs {
        self.lease_ms
    }
}

/// The team's ticket for a resource fingerprint, from synchronous code (a decision): runs
/// the query on `rt`. Refused, not deadlocked, when called from inside an async task.
pub fn ticket_blocking(
    team: &TeamStore,
    rt: &tokio::runtime::Handle,
    fingerprint: &str,
) -> Result<Option<TicketRow>, TeamError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(TeamError::Invalid(
            "internal error: the team's ticket lookup was called inside an async task".into(),
        ));
    }
    rt.block_on(team.ticket(fingerprint))
}
