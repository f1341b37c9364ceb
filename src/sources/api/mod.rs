//! Talking to the vendor APIs: one resilient HTTP transport, single-flight sessions, and a
//! client per vendor (auth, paging, incremental windows, write-back).
//!
//! The transport owns the manners every vendor needs: a per-source request-rate limit, 429
//! handling that waits at least what `Retry-After` / `X-RateLimit-Reset` say (else full-jitter
//! exponential backoff with a cap), retries of 5xx, timeouts and connection errors, and
//! re-sending a request whose body was cut short. Authentication failures are returned to the
//! [`Session`], which re-authenticates once (single-flight) and replays once.

pub mod cortex_xdr;
pub mod lacework;
pub mod orca;
pub mod prisma_compute;
pub mod prisma_cspm;
pub mod wiz;

mod session;
mod transport;

pub use session::{AuthToken, LoginFuture, Session};
pub use transport::{Reply, RetryPolicy, Stats, Transport};

use crate::config::SourceConfig;
use crate::domain::{Alert, EpochMs, Status, Vendor};

/// Why a source's run failed. Messages never carry a secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// Credentials were refused, also after one fresh login.
    #[error("authentication failed: {0}")]
    Unauthorized(String),
    /// A status the client cannot recover from (4xx other than 401/403/429, or 5xx after
    /// every retry).
    #[error("HTTP {status} from {what}: {detail}")]
    Http {
        status: u16,
        what: String,
        detail: String,
    },
    #[error("cannot reach {what}: {detail}")]
    Network { what: String, detail: String },
    /// A 429 asked for a longer wait than this run allows.
    #[error(
        "rate limited by {what}: asked to wait {secs}s, longer than the {max}s this run allows"
    )]
    RateLimited { what: String, secs: u64, max: u64 },
    /// A response that did not parse, also after retries.
    #[error("malformed response from {what}: {detail}")]
    Malformed { what: String, detail: String },
    /// An error the vendor reported inside a successful response (GraphQL `errors`).
    #[error("{what} reported an error: {detail}")]
    Vendor { what: String, detail: String },
    #[error("{0}")]
    Config(String),
    /// The alerts of a page could not be stored.
    #[error("cannot store a page: {0}")]
    Store(String),
}

/// Where fetched pages go. The sync engine commits each page in one transaction.
/// The page size the client asks for when its source sets no `page_size`; None for Lacework,
/// whose API chooses.
pub fn default_page_size(vendor: Vendor) -> Option<u32> {
    Some(match vendor {
        Vendor::PrismaCspm => prisma_cspm::DEFAULT_PAGE_SIZE,
        Vendor::PrismaCompute => prisma_compute::DEFAULT_PAGE_SIZE,
        Vendor::Wiz => wiz::MAX_PAGE,
        Vendor::Lacework => return None,
        Vendor::Orca => orca::MAX_PAGE,
        Vendor::CortexXdr => cortex_xdr::MAX_WINDOW,
    })
}

pub trait PageSink: Send {
    /// One page of alerts. An error stops the run (earlier pages stay committed).
    fn page(&mut self, alerts: Vec<Alert>) -> Result<(), ApiError>;

    /// The client starts listing, in full, every alert whose native id starts with `prefix`
    /// (a vendor whose findings vanish when fixed instead of closing: Prisma Cloud Compute's
    /// scan results). Pages until [`PageSink::listing_complete`] belong to that listing.
    fn listing_begins(&mut self, _prefix: &'static str) {}

    /// The listing begun last read to its end and held everything the vendor has under its
    /// prefix: a stored alert under it that the run did not deliver (in any listing) is gone
    /// at the vendor. Not called for a listing that failed or changed while being paged.
    fn listing_complete(&mut self, _prefix: &'static str) {}
}

/// What to fetch: changes since `since` (None: everything), up to `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: Option<EpochMs>,
    pub until: EpochMs,
}

/// A decision to write back to the vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteBack {
    /// Move the vendor's alert to the state matching the analyst's status.
    SetStatus {
        native_id: String,
        status: Status,
        note: Option<String>,
    },
    /// Add a comment / note to the vendor's alert.
    Comment { native_id: String, text: String },
}

/// What a write-back did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Done,
    /// The vendor has no API for this; the reason is shown to the analyst.
    Unsupported(&'static str),
    /// The vendor reports the alert is already past this change (a redelivery after a lost
    /// response, or it was changed there): nothing left to do; the reason is shown.
    Already(&'static str),
}

/// A connected client of one configured source.
pub enum Client {
    PrismaCspm(prisma_cspm::Client),
    PrismaCompute(prisma_compute::Client),
    Wiz(wiz::Client),
    Lacework(lacework::Client),
    Orca(orca::Client),
    CortexXdr(cortex_xdr::Client),
}

impl Client {
    /// Build the client for `cfg` (credentials are resolved now; nothing is sent yet).
    pub fn new(cfg: &SourceConfig) -> Result<Client, ApiError> {
        let transport = Transport::new(cfg)?;
        Ok(match cfg.vendor {
            Vendor::PrismaCspm => Client::PrismaCspm(prisma_cspm::Client::new(cfg, transport)?),
            Vendor::PrismaCompute => {
                Client::PrismaCompute(prisma_compute::Client::new(cfg, transport)?)
            }
            Vendor::Wiz => Client::Wiz(wiz::Client::new(cfg, transport)?),
            Vendor::Lacework => Client::Lacework(lacework::Client::new(cfg, transport)?),
            Vendor::Orca => Client::Orca(orca::Client::new(cfg, transport)?),
            Vendor::CortexXdr => Client::CortexXdr(cortex_xdr::Client::new(cfg, transport)?),
        })
    }

    /// Fetch every alert changed in `window`, page by page into `sink`.
    pub async fn fetch(&mut self, window: Window, sink: &mut dyn PageSink) -> Result<(), ApiError> {
        match self {
            Client::PrismaCspm(c) => c.fetch(window, sink).await,
            Client::PrismaCompute(c) => c.fetch(window, sink).await,
            Client::Wiz(c) => c.fetch(window, sink).await,
            Client::Lacework(c) => c.fetch(window, sink).await,
            Client::Orca(c) => c.fetch(window, sink).await,
            Client::CortexXdr(c) => c.fetch(window, sink).await,
        }
    }

    /// Write a decision back to the vendor, where its API allows.
    pub async fn write_back(&mut self, action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        match self {
            Client::PrismaCspm(c) => c.write_back(action).await,
            Client::PrismaCompute(c) => c.write_back(action).await,
            Client::Wiz(c) => c.write_back(action).await,
            Client::Lacework(c) => c.write_back(action).await,
            Client::Orca(c) => c.write_back(action).await,
            Client::CortexXdr(c) => c.write_back(action).await,
        }
    }

    pub fn stats(&self) -> &Stats {
        match self {
            Client::PrismaCspm(c) => c.transport().stats(),
            Client::PrismaCompute(c) => c.transport().stats(),
            Client::Wiz(c) => c.transport().stats(),
            Client::Lacework(c) => c.transport().stats(),
            Client::Orca(c) => c.transport().stats(),
            Client::CortexXdr(c) => c.transport().stats(),
        }
    }
}
