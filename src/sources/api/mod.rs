//! Talking to the vendor APIs: one resilient HTTP transport, single-flight sessions, and the
//! [`SourceClient`] trait every vendor's client (`vendors/<v>/client.rs`: auth, paging,
//! incremental windows, write-back) implements.
//!
//! The transport owns the manners every vendor needs: a per-source request-rate limit, 429
//! handling that waits at least what `Retry-After` / `X-RateLimit-Reset` say (else full-jitter
//! exponential backoff with a cap), retries of 5xx, timeouts and connection errors, and
//! re-sending a request whose body was cut short. Authentication failures (401) are returned to
//! the [`Session`], which re-authenticates once (single-flight) and replays once; a 403 is a
//! refusal of this credential's permissions, final at once ([`ApiError::Forbidden`]).

mod session;
mod transport;

pub use session::{AuthToken, LoginFuture, Session};
pub use transport::{Reply, RetryPolicy, Stats, Transport};

use crate::config::SourceConfig;
use futures_util::future::BoxFuture;

use crate::domain::{Alert, EpochMs, Status};

/// Why a source's run failed. Messages never carry a secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// Credentials were refused, also after one fresh login.
    #[error("authentication failed: {0}")]
    Unauthorized(String),
    /// HTTP 403: the credential works but may not do this (Prisma Cloud's `permission_error`,
    /// a role without the permission). Final: logging in again would not change the role.
    /// `detail` is the vendor's own words (sanitized, bounded).
    #[error("permission denied by {what}: {detail}")]
    Forbidden { what: String, detail: String },
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
    /// The vendor refused the incremental filter `filter` (the run's [`Window::filter`]).
    /// The sync engine falls back to a full run and stops using that filter for the source.
    #[error("{what} refused the incremental filter {filter}: {detail}")]
    FilterRefused {
        what: String,
        filter: String,
        detail: String,
    },
}

impl ApiError {
    /// Does this error, met on a run with an incremental filter, mean the vendor refused the
    /// filter? A 4xx other than 401 / 403 / 429 does, and so does a 5xx: the transport has
    /// already retried it, so it repeated on the same request (Cortex XDR answers an unknown
    /// filter field with a 500). Authentication, rate limits and network trouble do not.
    pub fn refuses_filter(&self) -> bool {
        match self {
            ApiError::FilterRefused { .. } => true,
            ApiError::Http { status, .. } => {
                (400..600).contains(status) && !matches!(status, 401 | 403 | 429)
            }
            _ => false,
        }
    }

    /// This error as a [`ApiError::FilterRefused`] of `filter` when [`ApiError::refuses_filter`]
    /// says so; any other error unchanged. Clients call it on the first request that carries
    /// the filter, so a vendor's answer to a bad filter reaches the engine typed.
    pub fn as_filter_refusal(self, filter: &str) -> ApiError {
        match self {
            ApiError::Http {
                status,
                what,
                detail,
            } if (400..600).contains(&status) && !matches!(status, 401 | 403 | 429) => {
                ApiError::FilterRefused {
                    what,
                    filter: filter.to_string(),
                    detail: format!("HTTP {status}: {detail}"),
                }
            }
            other => other,
        }
    }
}

/// Where fetched pages go. The sync engine commits each page in one transaction.
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
    /// Which of the client's [`SourceClient::incremental_filters`] expresses `since` (the
    /// engine picks the first one the vendor has not refused). None with `since` set: the
    /// client's first candidate.
    pub filter: Option<&'static str>,
}

impl Window {
    /// Everything, up to `until` (a full run).
    pub fn full(until: EpochMs) -> Window {
        Window {
            since: None,
            until,
            filter: None,
        }
    }

    /// Changes since `since`, expressed with `filter`.
    pub fn since(since: EpochMs, until: EpochMs, filter: &'static str) -> Window {
        Window {
            since: Some(since),
            until,
            filter: Some(filter),
        }
    }

    /// The filter this window asks for, among `candidates` (None on a full window).
    pub fn pick(&self, candidates: &[&'static str]) -> Option<&'static str> {
        self.since?;
        self.filter.or_else(|| candidates.first().copied())
    }
}

/// The name of the incremental filter of a client that declares none of its own.
pub const DEFAULT_FILTER: &str = "changed-since";

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

/// A connected client of one configured source: what the sync engine and the outbox need of
/// any vendor. `vendors::connect` builds one for a `[[source]]`.
pub trait SourceClient: Send {
    /// Fetch every alert changed in `window`, page by page into `sink`.
    fn fetch<'a>(
        &'a mut self,
        window: Window,
        sink: &'a mut dyn PageSink,
    ) -> BoxFuture<'a, Result<(), ApiError>>;

    /// Write a decision back to the vendor, where its API allows.
    fn write_back<'a>(
        &'a mut self,
        action: &'a WriteBack,
    ) -> BoxFuture<'a, Result<WriteOutcome, ApiError>>;

    /// The transport's request counters.
    fn stats(&self) -> &Stats;

    /// The ways this client can express "changed since" to its vendor, best first. The
    /// engine passes one in [`Window::filter`]; when the vendor refuses it (the client
    /// returns [`ApiError::FilterRefused`], or an error that [`ApiError::refuses_filter`]),
    /// the engine records it, falls back to a full run, and uses the next one from then on.
    fn incremental_filters(&self) -> Vec<&'static str> {
        vec![DEFAULT_FILTER]
    }
}

/// A boxed client is a client (what `vendors::connect` returns can go where one is expected).
impl<C: SourceClient + ?Sized> SourceClient for Box<C> {
    fn fetch<'a>(
        &'a mut self,
        window: Window,
        sink: &'a mut dyn PageSink,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        (**self).fetch(window, sink)
    }

    fn write_back<'a>(
        &'a mut self,
        action: &'a WriteBack,
    ) -> BoxFuture<'a, Result<WriteOutcome, ApiError>> {
        (**self).write_back(action)
    }

    fn stats(&self) -> &Stats {
        (**self).stats()
    }

    fn incremental_filters(&self) -> Vec<&'static str> {
        (**self).incremental_filters()
    }
}

/// Builds the client of a configured source (credentials resolved now; nothing sent yet).
/// The sync engine is handed one (`vendors::connect`) so that it never names a vendor.
pub type Connect = fn(&SourceConfig) -> Result<Box<dyn SourceClient>, ApiError>;
