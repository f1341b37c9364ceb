//! Prisma Cloud Compute client (the Compute Console API, ex-Twistlock).
//!
//! Auth: `POST /api/<ver>/authenticate` `{username, password}` → `{token}`, sent as
//! `Authorization: Bearer`. Compute has no extension call: the client logs in again after
//! `options.token_renew_after` (default 5 minutes: a SaaS token lives 60 minutes but wraps a
//! 10-minute platform token, and Palo Alto recommends renewing every 5) and after a 401 (one
//! single-flight re-login, one replay). `<ver>` is `options.api_version` (default `v34.04`;
//! `v1` and bare numbers such as `34.04` are accepted).
//!
//! Reading, in this order, every list paged by `offset` / `limit` (at most 250) with the
//! total from the `Total-Count` header. `offset` advances by the objects received, not by
//! `limit`: a console may serve fewer than asked (older ones cap at 50). Pages after the first
//! are fetched `concurrency` at a time in steps of what a page held, delivered in order;
//! without the header the client pages until an empty page:
//! - `GET /audits/incidents` — runtime incidents. Incremental: `from` = since, `to` = until
//!   (RFC 3339). No `acknowledged` filter: archived incidents are fetched so the store sees
//!   them close.
//! - `GET /images`, `/containers`, `/hosts`, `/serverless` — scan results, one alert per
//!   vulnerability and per compliance issue. Compute has no "changed since" filter for scan
//!   results, so every sync reads them in full. These endpoints allow 30 requests per 30 s
//!   each: the client paces itself to stay under that. Each scan list is announced to the
//!   sink as a complete listing of its native-id prefix (`image/`, `container/`, `host/`,
//!   `function/`) and confirmed only when its objects add up to an unchanged `Total-Count`: a
//!   fixed vulnerability drops out of the list rather than closing, so the sync marks what a
//!   complete list no longer holds resolved.
//!
//! Writing: incidents only — `PATCH /audits/incidents/acknowledge/{id}`
//! `{"acknowledged": true}` (archive: resolved or dismissed in sitrep) or `false` (reopen).
//! Runtime audits, vulnerabilities and compliance issues have no status API; nothing in
//! Compute takes a comment.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::sources::parse_duration;
use crate::config::{Secret, SourceConfig};
use crate::domain::{Status, Vendor};
use crate::sources::api::LoginFuture;
use crate::sources::api::{
    ApiError, AuthToken, PageSink, Session, Transport, Window, WriteBack, WriteOutcome,
};

pub const DEFAULT_API_VERSION: &str = "v34.04";
/// Compute's documented maximum `limit`.
pub const MAX_PAGE_SIZE: u32 = 250;
pub const DEFAULT_PAGE_SIZE: u32 = 250;
pub const DEFAULT_RENEW_AFTER: Duration = Duration::from_secs(300);
/// The scan-result endpoints allow 30 requests per 30 s; the client keeps a margin for
/// retries the server also counts and for clock skew between send and arrival.
const SCAN_BUDGET: usize = 27;
const SCAN_WINDOW: Duration = Duration::from_secs(31);

const NO_COMMENT: &str =
    "Prisma Cloud Compute has no API to comment on an incident, an audit or a vulnerability";
const NO_SCAN_STATUS: &str = "Compute vulnerabilities and compliance issues have no status API (they are handled by policy exceptions and CVE allow-lists)";
const NO_AUDIT_STATUS: &str =
    "Compute runtime audits are point events with no status API; incidents can be archived";
const NO_INCIDENT_STATE: &str = "a Compute incident is either active or archived (acknowledged); acknowledging archives it, so only resolve/dismiss (archive) and reopen can be written back";

/// The lists a sync reads, in order, with the native-id prefix of a scan list's alerts
/// (None: incidents, read by time window).
const LISTS: [(&str, Option<&str>); 5] = [
    ("audits/incidents", None),
    ("images", Some("image/")),
    ("containers", Some("container/")),
    ("hosts", Some("host/")),
    ("serverless", Some("function/")),
];

struct Inner {
    name: String,
    /// `<base_url>/api/<ver>`.
    api: String,
    username: Secret,
    password: Secret,
    transport: Transport,
    session: Session,
    renew_after: Duration,
    /// Request instants per scan endpoint, to stay under 30 per 30 s.
    scan_calls: tokio::sync::Mutex<HashMap<&'static str, VecDeque<Instant>>>,
}

pub struct Client {
    inner: Arc<Inner>,
    page_size: u32,
    concurrency: usize,
}

/// `v34.04`, `34.04`, `v1`, `1` → `v34.04` / `v1`.
fn api_version(s: &str) -> Option<String> {
    let s = s.trim();
    let digits = s.strip_prefix('v').unwrap_or(s);
    let ok = !digits.is_empty()
        && digits.split('.').count() <= 2
        && digits
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    ok.then(|| format!("v{digits}"))
}

impl Client {
    pub fn new(cfg: &SourceConfig, transport: Transport) -> Result<Client, ApiError> {
        let username = cfg.secret("username").map_err(ApiError::Config)?;
        let password = cfg.secret("password").map_err(ApiError::Config)?;
        Client::with_secrets(cfg, transport, username, password)
    }

    /// As [`Client::new`], with the credentials already resolved.
    pub fn with_secrets(
        cfg: &SourceConfig,
        transport: Transport,
        username: Secret,
        password: Secret,
    ) -> Result<Client, ApiError> {
        let raw = cfg.option("api_version").unwrap_or(DEFAULT_API_VERSION);
        let ver = api_version(raw).ok_or_else(|| {
            ApiError::Config(format!(
                "source '{}': options.api_version '{}' is not a Compute API version (like v34.04 or v1)",
                cfg.name,
                crate::sanitize::one_line(raw)
            ))
        })?;
        let renew_after = match cfg.option("token_renew_after") {
            None => DEFAULT_RENEW_AFTER,
            Some(s) => parse_duration(s).ok_or_else(|| {
                ApiError::Config(format!(
                    "source '{}': options.token_renew_after '{}' is not a duration (like 5m)",
                    cfg.name,
                    crate::sanitize::one_line(s)
                ))
            })?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                name: cfg.name.clone(),
                api: format!("{}/api/{ver}", cfg.base_url),
                username,
                password,
                transport,
                session: Session::new(),
                renew_after,
                scan_calls: tokio::sync::Mutex::new(HashMap::new()),
            }),
            page_size: cfg
                .page_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            concurrency: cfg.concurrency.max(1) as usize,
        })
    }

    async fn fetch(&mut self, window: Window, sink: &mut dyn PageSink) -> Result<(), ApiError> {
        for (path, prefix) in LISTS {
            let mut query: Vec<(String, String)> = Vec::new();
            if prefix.is_none()
                && let Some(since) = window.since
            {
                query.push(("from".into(), rfc3339(since)));
                query.push(("to".into(), rfc3339(window.until.max(since))));
            }
            if let Some(prefix) = prefix {
                sink.listing_begins(prefix);
            }
            let complete = self.fetch_list(path, prefix.is_some(), query, sink).await?;
            // A scan list is read in full every time: what it no longer holds was fixed or
            // its workload is gone (Compute drops it rather than closing it). Only when the
            // list held as many objects as it said it had while we paged it.
            if let Some(prefix) = prefix
                && complete
            {
                sink.listing_complete(prefix);
            }
        }
        Ok(())
    }

    /// Page through one list into `sink`. True when the objects delivered are as many as
    /// every page's `Total-Count` said (or, without the header, the list ended on a short
    /// page): the list did not change under the paging, so it is known complete.
    async fn fetch_list(
        &self,
        path: &'static str,
        scan: bool,
        query: Vec<(String, String)>,
        sink: &mut dyn PageSink,
    ) -> Result<bool, ApiError> {
        let limit = self.page_size as usize;
        let at = |offset: usize| {
            let mut q = query.clone();
            q.push(("offset".into(), offset.to_string()));
            q.push(("limit".into(), limit.to_string()));
            q
        };
        let (total, first) = self.inner.page(path, scan, at(0)).await?;
        let n = self.deliver(path, 0, first, sink)?;
        match total {
            Some(total) => {
                // Offsets advance by the objects actually received: a console that serves
                // fewer than `limit` (older ones cap a page at 50) would otherwise have us
                // skip the rest of each step. Pages are fetched `concurrency` at a time in
                // steps of what a full page held; a short page before the end means the
                // console's page is smaller still, so the step shrinks to it and the pages
                // already under way are dropped and asked again from where it ended.
                let (mut delivered, mut stable) = (n, true);
                let mut step = n.min(limit);
                let mut next = n;
                let mut running: VecDeque<(usize, tokio::task::JoinHandle<_>)> = VecDeque::new();
                loop {
                    while step > 0 && running.len() < self.concurrency && next < total {
                        let inner = self.inner.clone();
                        let q = at(next);
                        running.push_back((
                            next,
                            tokio::spawn(async move { inner.page(path, scan, q).await }),
                        ));
                        next += step;
                    }
                    let Some((off, handle)) = running.pop_front() else {
                        break;
                    };
                    let result = handle.await.map_err(|e| ApiError::Network {
                        what: self.inner.transport.what().to_string(),
                        detail: format!("page task failed: {e}"),
                    });
                    match result.and_then(|r| r) {
                        Ok((page_total, body)) => {
                            let got = self.deliver(path, off, body, sink)?;
                            delivered += got;
                            stable &= page_total == Some(total);
                            if got < step && off + got < total {
                                for (_, h) in running.drain(..) {
                                    h.abort();
                                }
                                // An empty page before the end: the list shrank under us.
                                stable &= got > 0;
                                step = got;
                                next = off + got;
                            }
                        }
                        Err(e) => {
                            for (_, h) in running {
                                h.abort();
                            }
                            return Err(e);
                        }
                    }
                }
                Ok(stable && delivered == total)
            }
            None => {
                // No Total-Count: page by what each page held until an empty page (a short
                // page may be the console's own cap, not the end).
                let mut offset = 0;
                let mut got = n;
                while got > 0 {
                    offset += got;
                    let (_, body) = self.inner.page(path, scan, at(offset)).await?;
                    got = self.deliver(path, offset, body, sink)?;
                }
                Ok(true)
            }
        }
    }

    /// Map one page and hand it to the sink; the number of objects it held.
    fn deliver(
        &self,
        path: &str,
        offset: usize,
        body: crate::sources::Page,
        sink: &mut dyn PageSink,
    ) -> Result<usize, ApiError> {
        let n = match &*body {
            Value::Null => 0,
            Value::Array(a) => a.len(),
            _ => {
                return Err(self.inner.malformed(path, offset, "expected a JSON array"));
            }
        };
        if n == 0 {
            return Ok(0);
        }
        let alerts = crate::vendors::map_page(Vendor::PrismaCompute, &self.inner.name, body)
            .map_err(|e| self.inner.malformed(path, offset, &e.to_string()))?;
        sink.page(alerts)?;
        Ok(n)
    }

    async fn write_back(&mut self, action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        let (native_id, status) = match action {
            WriteBack::Comment { .. } => return Ok(WriteOutcome::Unsupported(NO_COMMENT)),
            WriteBack::SetStatus {
                native_id, status, ..
            } => (native_id, status),
        };
        let Some(id) = native_id.strip_prefix("incident/") else {
            return Ok(WriteOutcome::Unsupported(
                if native_id.starts_with("audit/") {
                    NO_AUDIT_STATUS
                } else {
                    NO_SCAN_STATUS
                },
            ));
        };
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ApiError::Config(format!(
                "source '{}': '{}' is not a Compute incident id",
                self.inner.name,
                crate::sanitize::one_line(native_id)
            )));
        }
        let acknowledged = match status {
            Status::Resolved { .. } | Status::Dismissed { .. } => true,
            Status::New => false,
            Status::Acknowledged | Status::InProgress | Status::Snoozed { .. } => {
                return Ok(WriteOutcome::Unsupported(NO_INCIDENT_STATE));
            }
        };
        let inner = &self.inner;
        let url = format!("{}/audits/incidents/acknowledge/{id}", inner.api);
        let body = json!({ "acknowledged": acknowledged });
        let login = |_prev: Option<String>| -> LoginFuture<'_> { Box::pin(inner.login()) };
        inner
            .session
            .send(&inner.transport, &login, &|token: &str| {
                inner
                    .transport
                    .http()
                    .patch(&url)
                    .bearer_auth(token)
                    .header("accept", "application/json")
                    .json(&body)
            })
            .await?;
        Ok(WriteOutcome::Done)
    }
}

impl Inner {
    async fn login(&self) -> Result<AuthToken, ApiError> {
        let url = format!("{}/authenticate", self.api);
        let body = json!({
            "username": self.username.expose(),
            "password": self.password.expose(),
        });
        let refused = format!(
            "source '{}': Prisma Cloud Compute refused the username and password at /authenticate",
            self.name
        );
        let token = self
            .transport
            .login_token(&url, "/authenticate", &body, &refused)
            .await?;
        Ok(AuthToken::expiring(
            token,
            Some(self.renew_after),
            Duration::ZERO,
        ))
    }

    /// Wait until one more request to scan endpoint `path` stays under its rate.
    async fn pace(&self, path: &'static str) {
        loop {
            let wait = {
                let mut calls = self.scan_calls.lock().await;
                let q = calls.entry(path).or_default();
                let now = Instant::now();
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= SCAN_WINDOW)
                {
                    q.pop_front();
                }
                if q.len() < SCAN_BUDGET {
                    q.push_back(now);
                    return;
                }
                q.front().map_or(Duration::ZERO, |t| {
                    (*t + SCAN_WINDOW).saturating_duration_since(now)
                })
            };
            tracing::debug!(source = %self.name, path, ?wait, "pacing a scan-result endpoint (30 requests / 30 s)");
            tokio::time::sleep(wait).await;
        }
    }

    /// GET one page: its `Total-Count` and JSON body.
    async fn page(
        &self,
        path: &'static str,
        scan: bool,
        query: Vec<(String, String)>,
    ) -> Result<(Option<usize>, crate::sources::Page), ApiError> {
        if scan {
            self.pace(path).await;
        }
        let url = format!("{}/{path}", self.api);
        let login = |_prev: Option<String>| -> LoginFuture<'_> { Box::pin(self.login()) };
        let (reply, body) = self
            .session
            .page(
                super::map::ITEM_PATHS,
                &self.transport,
                &login,
                &|token: &str| {
                    self.transport
                        .http()
                        .get(&url)
                        .query(&query)
                        .bearer_auth(token)
                        .header("accept", "application/json")
                },
            )
            .await?;
        let total = reply
            .headers
            .get("total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<usize>().ok());
        Ok((total, body))
    }

    fn malformed(&self, path: &str, offset: usize, detail: &str) -> ApiError {
        ApiError::Malformed {
            what: self.transport.what().to_string(),
            detail: format!("/{path} at offset {offset}: {detail}"),
        }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl crate::sources::api::SourceClient for Client {
    fn fetch<'a>(
        &'a mut self,
        window: Window,
        sink: &'a mut dyn PageSink,
    ) -> futures_util::future::BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(Client::fetch(self, window, sink))
    }

    fn write_back<'a>(
        &'a mut self,
        action: &'a WriteBack,
    ) -> futures_util::future::BoxFuture<'a, Result<WriteOutcome, ApiError>> {
        Box::pin(Client::write_back(self, action))
    }

    fn stats(&self) -> &crate::sources::api::Stats {
        self.inner.transport.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        assert_eq!(api_version("v34.04").as_deref(), Some("v34.04"));
        assert_eq!(api_version("34.04").as_deref(), Some("v34.04"));
        assert_eq!(api_version("v1").as_deref(), Some("v1"));
        assert_eq!(api_version(" 1 ").as_deref(), Some("v1"));
        assert_eq!(api_version("v34.04.1"), None);
        assert_eq!(api_version("latest"), None);
        assert_eq!(api_version("v"), None);
        assert_eq!(api_version("v34."), None);
    }

    #[test]
    fn windows_are_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
