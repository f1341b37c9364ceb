//! Lacework / FortiCNAPP API v2.
//!
//! - Token: `POST {base_url}/api/v2/access/tokens` with `X-LW-UAKS: <secret>` and
//!   `{"keyId": <key_id>, "expiryTime": 3600}` → `{"token", "expiresAt"}` (the older
//!   `{"data": [{token, expiresAt}]}` envelope is read too). Renewed a minute before
//!   `expiresAt`. Data calls send `Authorization: Bearer <token>` and, when
//!   `options.sub_account` is set, `Account-Name`.
//! - List: `GET /api/v2/Alerts?startTime=..&endTime=..` (RFC 3339 with ms). The window is
//!   `[since, until]` split into chunks of at most 7 days (oldest first); a full sync (no
//!   `since`) and any `since` older than that go back 92 days, the API's history limit. Each
//!   page's `paging.urls.nextPage` (an absolute URL) is fetched with GET until it is null (or a
//!   page comes back empty); a nextPage on another origin than `base_url` is refused, since the
//!   bearer token would go with it. An alert that two chunks both return is delivered once.
//! - Details: the list items carry no `entityMap` (resource, account, region, CVE live there),
//!   so each alert delivered is enriched with `GET /api/v2/Alerts/{id}?scope=Details` — one
//!   request per alert, at most `options.details_limit` (default 500) per run;
//!   `options.details = "false"` turns it off. A details call that 404s or stays malformed
//!   leaves that alert un-enriched; other failures fail the run.
//! - Write-back: comment (`POST /api/v2/Alerts/{id}/comment`) and close
//!   (`POST /api/v2/Alerts/{id}/close` with a reason: false positive → 1, every other
//!   dismissal and a resolution → 0 "Other" with a comment naming it). Reopen, in progress,
//!   acknowledge, snooze and time-limited dismissals have no API.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use crate::config::{Secret, SourceConfig};
use crate::domain::{DismissReason, EpochMs, Status, Vendor};
use crate::sources::api::{
    ApiError, AuthToken, PageSink, Session, Transport, Window, WriteBack, WriteOutcome,
};

const DAY_MS: i64 = 86_400_000;
/// Longest window one request may ask for.
pub const MAX_WINDOW_MS: i64 = 7 * DAY_MS;
/// How far back the API keeps alerts, less an hour, so a request is never refused because it
/// travelled or because the client's clock runs a little ahead of the server's.
pub const MAX_HISTORY_MS: i64 = 92 * DAY_MS - 3_600_000;
const TOKEN_EXPIRY_SECS: u64 = 3600;
pub const DEFAULT_DETAILS_LIMIT: usize = 500;

pub struct Client {
    transport: Transport,
    session: Session,
    name: String,
    base_url: String,
    /// scheme://host[:port] of base_url: where nextPage URLs may point.
    origin: String,
    key_id: Secret,
    secret: Secret,
    sub_account: Option<String>,
    details: bool,
    details_limit: usize,
}

impl Client {
    pub fn new(cfg: &SourceConfig, transport: Transport) -> Result<Client, ApiError> {
        let key_id = cfg.secret("key_id").map_err(ApiError::Config)?;
        let secret = cfg.secret("secret").map_err(ApiError::Config)?;
        let base_url = cfg.base_url.trim_end_matches('/').to_string();
        let details = !matches!(
            cfg.option("details").map(str::trim),
            Some("false" | "no" | "0")
        );
        let details_limit = match cfg.option("details_limit") {
            None => DEFAULT_DETAILS_LIMIT,
            Some(s) => s.trim().parse().map_err(|_| {
                ApiError::Config(format!(
                    "source '{}': options.details_limit must be a whole number",
                    cfg.name
                ))
            })?,
        };
        Ok(Client {
            transport,
            session: Session::new(),
            name: cfg.name.clone(),
            origin: origin(&base_url),
            base_url,
            key_id,
            secret,
            sub_account: cfg
                .option("sub_account")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            details,
            details_limit,
        })
    }

    async fn login(&self) -> Result<AuthToken, ApiError> {
        let url = format!("{}/api/v2/access/tokens", self.base_url);
        let body = json!({"keyId": self.key_id.expose(), "expiryTime": TOKEN_EXPIRY_SECS});
        let build = || {
            let mut uaks = HeaderValue::from_str(self.secret.expose())
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            uaks.set_sensitive(true);
            let mut rb = self
                .transport
                .http()
                .post(&url)
                .header("X-LW-UAKS", uaks)
                .json(&body);
            if let Some(a) = &self.sub_account {
                rb = rb.header("Account-Name", a);
            }
            rb
        };
        let (_, v) = match self.transport.json(&build).await {
            Ok(r) => r,
            Err(ApiError::Unauthorized(d)) => {
                return Err(ApiError::Unauthorized(format!(
                    "source '{}': Lacework refused the API key (key_id / secret) at {url} ({d})",
                    self.name
                )));
            }
            Err(e) => return Err(e),
        };
        let data = match v.get("data") {
            Some(Value::Array(a)) => a.first().unwrap_or(&Value::Null),
            Some(d @ Value::Object(_)) => d,
            _ => &v,
        };
        let token = data
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Malformed {
                what: self.transport.what().to_string(),
                detail: "no token in the access token response".into(),
            })?;
        let lifetime = data
            .get("expiresAt")
            .and_then(Value::as_str)
            .and_then(crate::sources::json::parse_time)
            .map(|t| t - chrono::Utc::now().timestamp_millis())
            .filter(|ms| *ms > 0)
            .map(|ms| Duration::from_millis(ms as u64))
            .unwrap_or(Duration::from_secs(TOKEN_EXPIRY_SECS));
        let margin = Duration::from_secs(60).min(lifetime / 10);
        Ok(AuthToken::expiring(
            token.to_string(),
            Some(lifetime),
            margin,
        ))
    }

    /// An authenticated request (one re-login and replay on 401), parsed as JSON.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let build = |token: &str| {
            let mut rb = self
                .transport
                .http()
                .request(method.clone(), url)
                .bearer_auth(token);
            if let Some(a) = &self.sub_account {
                rb = rb.header("Account-Name", a);
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            rb
        };
        let (_, v) = self
            .session
            .json(&self.transport, &|_previous| Box::pin(self.login()), &build)
            .await?;
        Ok(v)
    }

    async fn fetch(&mut self, window: Window, sink: &mut dyn PageSink) -> Result<(), ApiError> {
        let until = window.until;
        let floor = until - MAX_HISTORY_MS;
        let start = match window.since {
            Some(s) if s >= floor => s,
            Some(_) => {
                tracing::warn!(source = %self.name, "the watermark is older than Lacework's 92 days of history; fetching those 92 days");
                floor
            }
            None => floor,
        }
        .min(until - 1);
        let mut seen: HashSet<String> = HashSet::new();
        let mut details_left = if self.details { self.details_limit } else { 0 };
        let mut chunk_start = start;
        while chunk_start < until {
            let chunk_end = (chunk_start + MAX_WINDOW_MS).min(until);
            let mut url = format!(
                "{}/api/v2/Alerts?startTime={}&endTime={}",
                self.base_url,
                rfc3339(chunk_start),
                rfc3339(chunk_end)
            );
            loop {
                let v = self.call(reqwest::Method::GET, &url, None).await?;
                let malformed = |detail: String| ApiError::Malformed {
                    what: self.transport.what().to_string(),
                    detail,
                };
                let items = v
                    .get("data")
                    .and_then(Value::as_array)
                    .ok_or_else(|| malformed("an Alerts page without a data[] array".into()))?;
                let page_len = items.len();
                let mut fresh = Vec::with_capacity(page_len);
                for item in items {
                    let id = match item.get("alertId") {
                        Some(Value::Number(n)) => n.to_string(),
                        Some(Value::String(s)) => s.clone(),
                        _ => return Err(malformed("an alert without an alertId".into())),
                    };
                    if !seen.insert(id.clone()) {
                        continue;
                    }
                    let mut item = item.clone();
                    if details_left > 0 && item.get("entityMap").is_none() {
                        details_left -= 1;
                        if let Some(map) = self.entity_map(&id).await? {
                            item["entityMap"] = map;
                        }
                    }
                    fresh.push(item);
                }
                let body = json!({"paging": v.get("paging").cloned().unwrap_or(Value::Null), "data": fresh});
                let alerts = crate::vendors::map_payload(Vendor::Lacework, &self.name, &body)
                    .map_err(|e| malformed(format!("an Alerts page does not map: {e}")))?;
                sink.page(alerts)?;
                let next = v
                    .pointer("/paging/urls/nextPage")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                let Some(next) = next else { break };
                if page_len == 0 {
                    break;
                }
                if !same_origin(next, &self.origin) {
                    return Err(malformed(format!(
                        "paging.urls.nextPage points outside {} ({}); not sending the token there",
                        self.origin,
                        crate::sanitize::one_line(&origin(next))
                    )));
                }
                if next == url {
                    return Err(malformed(
                        "paging.urls.nextPage repeats the page just read".into(),
                    ));
                }
                url = next.to_string();
            }
            chunk_start = chunk_end;
        }
        Ok(())
    }

    /// The `entityMap` of an alert's Details scope (None when the alert is gone or the
    /// details stay unreadable).
    async fn entity_map(&self, id: &str) -> Result<Option<Value>, ApiError> {
        let url = format!("{}/api/v2/Alerts/{id}?scope=Details", self.base_url);
        match self.call(reqwest::Method::GET, &url, None).await {
            Ok(v) => Ok(v
                .pointer("/data/entityMap")
                .filter(|m| m.is_object())
                .cloned()),
            Err(ApiError::Http { status: 404, .. }) => Ok(None),
            Err(ApiError::Malformed { detail, .. }) => {
                tracing::warn!(source = %self.name, alert = %id, %detail, "alert details unreadable; keeping the list item");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn write_back(&mut self, action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        match action {
            WriteBack::Comment { native_id, text } => {
                let url = format!(
                    "{}/api/v2/Alerts/{}/comment",
                    self.base_url,
                    path_id(native_id)?
                );
                self.call(reqwest::Method::POST, &url, Some(&json!({"comment": text})))
                    .await?;
                Ok(WriteOutcome::Done)
            }
            WriteBack::SetStatus {
                native_id,
                status,
                note,
            } => {
                let extra = note.as_deref().map(str::trim).filter(|n| !n.is_empty());
                let (reason, comment) = match status {
                    Status::Dismissed { until: Some(_), .. } => {
                        return Ok(WriteOutcome::Unsupported(
                            "Lacework closes alerts for good; it has no time-limited dismissal",
                        ));
                    }
                    Status::Dismissed {
                        reason: DismissReason::FalsePositive,
                        note: n,
                        ..
                    } => (1, join(n.as_deref(), extra)),
                    Status::Dismissed {
                        reason, note: n, ..
                    } => (
                        0,
                        Some(format!(
                            "Dismissed ({}){}",
                            reason.as_str(),
                            suffix(join(n.as_deref(), extra))
                        )),
                    ),
                    Status::Resolved { reason } => (
                        0,
                        Some(format!(
                            "Resolved: {reason}{}",
                            suffix(extra.map(str::to_string))
                        )),
                    ),
                    Status::New => {
                        return Ok(WriteOutcome::Unsupported(
                            "Lacework has no API to reopen a closed alert",
                        ));
                    }
                    Status::Acknowledged | Status::InProgress => {
                        return Ok(WriteOutcome::Unsupported(
                            "Lacework alerts are only Open or Closed; there is no in-progress or acknowledged state",
                        ));
                    }
                    Status::Snoozed { .. } => {
                        return Ok(WriteOutcome::Unsupported(
                            "Lacework has no API to snooze an alert",
                        ));
                    }
                };
                let mut body = json!({"reason": reason});
                if let Some(c) = comment {
                    body["comment"] = Value::String(c);
                }
                let url = format!(
                    "{}/api/v2/Alerts/{}/close",
                    self.base_url,
                    path_id(native_id)?
                );
                self.call(reqwest::Method::POST, &url, Some(&body)).await?;
                Ok(WriteOutcome::Done)
            }
        }
    }
}

fn join(a: Option<&str>, b: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [a, b]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn suffix(s: Option<String>) -> String {
    s.map(|s| format!(": {s}")).unwrap_or_default()
}

/// Lacework alert ids are integers: refuse anything else rather than build a strange path.
fn path_id(id: &str) -> Result<&str, ApiError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(ApiError::Config(format!(
            "'{}' is not a Lacework alert id (a whole number)",
            crate::sanitize::one_line(id)
        )))
    }
}

fn rfc3339(ms: EpochMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// `scheme://host[:port]` of a URL (lower-cased), or the text itself.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_string(),
    }
}

fn same_origin(url: &str, origin_: &str) -> bool {
    origin(url) == origin_
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://Acme.lacework.net/api/v2/Alerts?x=1"),
            "https://acme.lacework.net"
        );
        assert!(same_origin(
            "http://127.0.0.1:4000/api/v2/Alerts?page=1",
            "http://127.0.0.1:4000"
        ));
        assert!(!same_origin(
            "https://evil.example/api/v2/Alerts",
            "https://acme.lacework.net"
        ));
        assert!(!same_origin(
            "https://acme.lacework.net.evil.example/x",
            "https://acme.lacework.net"
        ));
    }

    #[test]
    fn times_and_ids() {
        assert_eq!(rfc3339(1_664_467_200_000), "2022-09-29T16:00:00.000Z");
        assert!(path_id("970001").is_ok());
        assert!(path_id("../x").is_err());
    }
}
