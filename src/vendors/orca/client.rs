//! Orca Security: the legacy alert-query API with a static API token.
//!
//! - Auth: `Authorization: Token <token>` on every request (no login, no expiry). A 401 gets
//!   one replay through the [`Session`] (counted as a re-authentication); a second 401 is a
//!   clear [`ApiError::Unauthorized`] naming the source.
//! - Base: `base_url` is the API host (`https://api.orcasecurity.io`); `/api` is appended
//!   unless `base_url` already ends with it.
//! - List: `POST /api/rules/query/alerts` with form fields `limit`, `dsl_filter` (a JSON list)
//!   and `next_page_token`, as XSOAR's fetch does. This is the call whose filter on
//!   `state.last_updated` is documented, which is what an incremental sync needs. Option
//!   `list_endpoint = "query"` uses `GET /api/query/alerts` instead (the event collector's
//!   call, with `dsl_filter = {"filter": [...]}` as a query parameter).
//! - Window: `state.last_updated` `gte` the watermark (whole seconds, rounded down), the one
//!   incremental filter ([`FILTER`]); a 4xx/5xx to the first filtered page is
//!   [`ApiError::FilterRefused`] (the engine runs in full instead). Every query also asks for
//!   every score (`state.score` includes 1-4: informational alerts are score 4), as XSOAR's
//!   fetch does. Nothing else is sent: `show_all_statuses_alerts` /
//!   `show_informational_alerts` appear in no public integration's call to these endpoints.
//!   Closed alerts sync the way XSOAR's fetch implies: a `dsl_filter` without a
//!   `state.status` condition does not filter by status, and closing an alert moves its
//!   `state.last_updated` (UNCONFIRMED; the full reconciliation catches it if not).
//! - Paging: `next_page_token` until it is empty or `has_next_page_token` is false (either
//!   may be missing). A query returns at most `total_supported_items` (10,000) alerts: when
//!   `total_items` is larger, the time window is split in two (by `state.last_updated`) until
//!   each part fits; a part that cannot be split further fails the run with a clear error.
//! - Write-back: `PUT /api/alerts/{id}/status/{status}` (`open`, `in_progress`, `closed`,
//!   `dismissed`; on a 400/404/422 the verb spelling `close` / `dismiss` is tried once,
//!   since XSOAR lists both and which one the API takes is UNCONFIRMED). Comments, snooze and
//!   "acknowledged" have no documented API.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::{Secret, SourceConfig};
use crate::domain::{EpochMs, Status, Vendor};
use crate::sources::api::LoginFuture;
use crate::sources::api::{
    ApiError, AuthToken, PageSink, Session, Transport, Window, WriteBack, WriteOutcome,
};

/// The incremental filter: `state.last_updated` `gte` the window's start.
pub const FILTER: &str = "state.last_updated";
/// Largest `limit` asked for (XSOAR caps its calls at 500).
pub const MAX_PAGE: u32 = 500;
/// Results one query can return when the response does not say.
pub const DEFAULT_CAP: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListEndpoint {
    /// `POST /api/rules/query/alerts`, form body.
    Rules,
    /// `GET /api/query/alerts`, query parameters.
    Query,
}

pub struct Client {
    name: String,
    api: String,
    token: Secret,
    page_size: u32,
    endpoint: ListEndpoint,
    transport: Transport,
    session: Session,
}

/// A time range of `state.last_updated` (epoch ms, whole seconds; `None`: open).
#[derive(Debug, Clone, Copy)]
struct Range {
    gte: Option<EpochMs>,
    lt: Option<EpochMs>,
}

fn iso(ms: EpochMs) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn floor_s(ms: EpochMs) -> EpochMs {
    ms - ms.rem_euclid(1000)
}

impl Client {
    pub fn new(cfg: &SourceConfig, transport: Transport) -> Result<Client, ApiError> {
        let token = cfg.secret("token").map_err(ApiError::Config)?;
        let base = cfg.base_url.trim_end_matches('/');
        let api = if base.ends_with("/api") {
            base.to_string()
        } else {
            format!("{base}/api")
        };
        let endpoint = match cfg.option("list_endpoint") {
            None | Some("rules") => ListEndpoint::Rules,
            Some("query") => ListEndpoint::Query,
            Some(other) => {
                return Err(ApiError::Config(format!(
                    "source '{}': options.list_endpoint '{}' is not 'rules' or 'query'",
                    cfg.name,
                    crate::sanitize::one_line(other)
                )));
            }
        };
        Ok(Client {
            name: cfg.name.clone(),
            api,
            token,
            page_size: cfg.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE),
            endpoint,
            transport,
            session: Session::new(),
        })
    }

    /// The "login" of a static token: the token itself, never due for renewal.
    async fn login(&self) -> Result<AuthToken, ApiError> {
        Ok(AuthToken::expiring(
            self.token.expose().to_string(),
            None,
            Duration::ZERO,
        ))
    }

    fn unauthorized(&self, e: ApiError) -> ApiError {
        match e {
            ApiError::Unauthorized(d) => ApiError::Unauthorized(format!(
                "{d}; check the API token of source '{}' (credentials.token)",
                self.name
            )),
            other => other,
        }
    }

    /// Fetch every alert changed in `window`, page by page.
    async fn fetch(&mut self, window: Window, sink: &mut dyn PageSink) -> Result<(), ApiError> {
        let mut todo = vec![Range {
            gte: window.since.map(floor_s),
            lt: None,
        }];
        // Only the first request can tell that the filter itself is refused.
        let mut refusable = window.pick(&[FILTER]);
        while let Some(range) = todo.pop() {
            let split = self
                .fetch_range(range, window.until, refusable.take(), sink)
                .await?;
            if let Some((lower, upper)) = split {
                // Either order is complete; the older half first keeps progress monotonic.
                todo.push(upper);
                todo.push(lower);
            }
        }
        Ok(())
    }

    fn filter(&self, range: Range) -> Value {
        let mut conds = Vec::new();
        if range.gte.is_some() || range.lt.is_some() {
            let mut r = serde_json::Map::new();
            if let Some(t) = range.gte {
                r.insert("gte".into(), json!(iso(t)));
            }
            if let Some(t) = range.lt {
                r.insert("lt".into(), json!(iso(t)));
            }
            conds.push(json!({"field": "state.last_updated", "range": r}));
        }
        conds.push(json!({"field": "state.score", "includes": [1, 2, 3, 4]}));
        Value::Array(conds)
    }

    /// Page through one range. Returns the two halves instead when the range holds more
    /// alerts than one query can return.
    ///
    /// `refusable`: the incremental filter the range's lower bound expresses, when an error
    /// on its first page is that filter refused.
    async fn fetch_range(
        &self,
        range: Range,
        until: EpochMs,
        refusable: Option<&'static str>,
        sink: &mut dyn PageSink,
    ) -> Result<Option<(Range, Range)>, ApiError> {
        let filter = self.filter(range);
        let mut token: Option<String> = None;
        let mut first = true;
        loop {
            let body = match (self.page(&filter, token.as_deref()).await, refusable) {
                (Err(e), Some(f)) if first => return Err(e.as_filter_refusal(f)),
                (r, _) => r?,
            };
            if let Some(err) = vendor_error(&body) {
                return Err(ApiError::Vendor {
                    what: self.transport.what().to_string(),
                    detail: err,
                });
            }
            if first {
                first = false;
                let total = body.get("total_items").and_then(Value::as_u64);
                let cap = body
                    .get("total_supported_items")
                    .and_then(Value::as_u64)
                    .filter(|c| *c > 0)
                    .unwrap_or(DEFAULT_CAP);
                if let Some(total) = total
                    && total > cap
                {
                    return self.split(range, until, total, cap).map(Some);
                }
            }
            let next = body
                .get("next_page_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let more = body
                .get("has_next_page_token")
                .and_then(Value::as_bool)
                .unwrap_or(next.is_some());
            let alerts = crate::vendors::map_page(Vendor::Orca, &self.name, body).map_err(|e| {
                ApiError::Malformed {
                    what: self.transport.what().to_string(),
                    detail: format!("an alert page did not map: {e}"),
                }
            })?;
            let n = alerts.len();
            sink.page(alerts)?;
            match next {
                Some(t) if more && n > 0 => {
                    if token.as_deref() == Some(t.as_str()) {
                        return Err(ApiError::Malformed {
                            what: self.transport.what().to_string(),
                            detail:
                                "the same next_page_token came back twice; paging would never end"
                                    .into(),
                        });
                    }
                    token = Some(t);
                }
                _ => return Ok(None),
            }
        }
    }

    fn split(
        &self,
        range: Range,
        until: EpochMs,
        total: u64,
        cap: u64,
    ) -> Result<(Range, Range), ApiError> {
        let lo = range.gte.unwrap_or(0);
        let hi = range.lt.unwrap_or(floor_s(until) + 1000);
        let mid = floor_s(lo + (hi - lo) / 2);
        if mid <= lo || mid >= hi {
            return Err(ApiError::Vendor {
                what: self.transport.what().to_string(),
                detail: format!(
                    "{total} alerts were last updated within one second ({}); an Orca query \
                     returns at most {cap}, so some of them cannot be fetched",
                    iso(lo)
                ),
            });
        }
        tracing::debug!(source = %self.name, total, cap, "window over the query cap; splitting");
        Ok((
            Range {
                gte: range.gte,
                lt: Some(mid),
            },
            Range {
                gte: Some(mid),
                lt: range.lt,
            },
        ))
    }

    async fn page(
        &self,
        filter: &Value,
        token: Option<&str>,
    ) -> Result<crate::sources::Page, ApiError> {
        let http = self.transport.http();
        let limit = self.page_size.to_string();
        let login = |_prev: Option<String>| -> LoginFuture<'_> { Box::pin(self.login()) };
        let build = |tok: &str| {
            let auth = format!("Token {tok}");
            match self.endpoint {
                ListEndpoint::Rules => {
                    let mut form: Vec<(&str, String)> =
                        vec![("limit", limit.clone()), ("dsl_filter", filter.to_string())];
                    if let Some(t) = token {
                        form.push(("next_page_token", t.to_string()));
                    }
                    http.post(format!("{}/rules/query/alerts", self.api))
                        .header("Authorization", auth)
                        .form(&form)
                }
                ListEndpoint::Query => {
                    let mut q: Vec<(&str, String)> = vec![
                        ("limit", limit.clone()),
                        ("dsl_filter", json!({ "filter": filter }).to_string()),
                    ];
                    if let Some(t) = token {
                        q.push(("next_page_token", t.to_string()));
                    }
                    http.get(format!("{}/query/alerts", self.api))
                        .header("Authorization", auth)
                        .query(&q)
                }
            }
        };
        self.session
            .page(super::map::ITEM_PATHS, &self.transport, &login, &build)
            .await
            .map(|(_, v)| v)
            .map_err(|e| self.unauthorized(e))
    }

    async fn put_status(&self, alert_id: &str, word: &str) -> Result<(), ApiError> {
        let http = self.transport.http();
        let login = |_prev: Option<String>| -> LoginFuture<'_> { Box::pin(self.login()) };
        let url = format!(
            "{}/alerts/{}/status/{word}",
            self.api,
            path_segment(alert_id)
        );
        let build = |tok: &str| {
            http.put(url.as_str())
                .header("Authorization", format!("Token {tok}"))
        };
        self.session
            .send(&self.transport, &login, &build)
            .await
            .map(|_| ())
            .map_err(|e| self.unauthorized(e))
    }

    /// Write a decision back: the alert's status; everything else is unsupported.
    async fn write_back(&mut self, action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        let (native_id, status) = match action {
            WriteBack::Comment { .. } => {
                return Ok(WriteOutcome::Unsupported(
                    "Orca's API has no documented call to comment on an alert",
                ));
            }
            WriteBack::SetStatus {
                native_id, status, ..
            } => (native_id, status),
        };
        let (word, fallback) = match status {
            Status::New => ("open", None),
            Status::InProgress => ("in_progress", None),
            Status::Resolved { .. } => ("closed", Some("close")),
            Status::Dismissed { .. } => ("dismissed", Some("dismiss")),
            Status::Acknowledged => {
                return Ok(WriteOutcome::Unsupported(
                    "Orca has no 'acknowledged' alert status (use in progress)",
                ));
            }
            Status::Snoozed { .. } => {
                return Ok(WriteOutcome::Unsupported(
                    "Orca's API has no documented call to snooze an alert",
                ));
            }
        };
        match (self.put_status(native_id, word).await, fallback) {
            (Ok(()), _) => Ok(WriteOutcome::Done),
            (
                Err(ApiError::Http {
                    status: 400 | 404 | 422,
                    ..
                }),
                Some(alt),
            ) => {
                self.put_status(native_id, alt).await?;
                Ok(WriteOutcome::Done)
            }
            (Err(e), _) => Err(e),
        }
    }
}

/// `{"status": "failure", "error": "..."}` inside a 2xx.
fn vendor_error(body: &Value) -> Option<String> {
    let status = body.get("status").and_then(Value::as_str)?;
    if status.eq_ignore_ascii_case("success") {
        return None;
    }
    Some(crate::sanitize::one_line(
        body.get("error").and_then(Value::as_str).unwrap_or(status),
    ))
}

/// Percent-encode one URL path segment.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
        self.transport.stats()
    }

    fn incremental_filters(&self) -> Vec<&'static str> {
        vec![FILTER]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_is_whole_seconds_utc() {
        assert_eq!(iso(1_700_000_000_999), "2023-11-14T22:13:20Z");
        assert_eq!(floor_s(1_700_000_000_999), 1_700_000_000_000);
        assert_eq!(path_segment("orca-12/x"), "orca-12%2Fx");
    }

    #[test]
    fn failures_inside_a_200_are_vendor_errors() {
        assert_eq!(
            vendor_error(&json!({"status": "failure", "error": "bad filter"})).as_deref(),
            Some("bad filter")
        );
        assert_eq!(
            vendor_error(&json!({"status": "success", "data": []})),
            None
        );
        assert_eq!(vendor_error(&json!({"data": []})), None);
    }
}
