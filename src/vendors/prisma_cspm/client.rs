//! Prisma Cloud CSPM client (Enterprise API, "RedLock").
//!
//! Auth: `POST /login` with the access key id and secret → a JWT sent as `x-redlock-auth`.
//! The JWT lives 10 minutes; the client renews it through `GET /auth_token/extend` after
//! `options.token_renew_after` (default 590 s, as pcapi does) and logs in again when the
//! extension is refused or a request gets a 401 (one single-flight re-login, one replay).
//!
//! Reading: `POST /v2/alert?detailed=true` with a `FilterModel` body, sorted by id. A full sync
//! asks for `timeRange` `to_now`/`epoch` (all alerts, every status); an incremental one for an
//! absolute `timeRange` `{startTime: since, endTime: until}` with the filter
//! `timeRange.type = ALERT_UPDATED`, so alerts whose status changed are fetched too. Later
//! pages send only `{"pageToken": <nextPageToken>}`. Prisma returns a `nextPageToken` on every
//! page with items, the last data page included, and none on the empty page after it
//! (corpus `prisma-cspm/elastic-v2-alert-post-page*.json`): the client stops at whichever
//! comes first of `totalRows` items held, an empty `items` or a page without a token.
//!
//! Errors: Prisma names the reason in the `x-redlock-status` header (`invalid_credentials`,
//! `alert_no_longer_in_expected_state`, `permission_error`, …), which the transport puts in
//! the error; a 403 is final ([`ApiError::Forbidden`]), never a reason to log in again.
//!
//! Writing: dismiss (`POST /alert/dismiss`), snooze (the same with `dismissalTimeRange`) and
//! reopen (`POST /alert/reopen`). Prisma has no API to resolve, acknowledge, comment on or
//! assign an alert.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::sources::parse_duration;
use crate::config::{Secret, SourceConfig};
use crate::domain::{Status, Vendor};
use crate::sources::api::LoginFuture;
use crate::sources::api::{
    ApiError, AuthToken, PageSink, Session, Transport, Window, WriteBack, WriteOutcome,
};

/// Page size when the source sets none.
pub const DEFAULT_PAGE_SIZE: u32 = 1_000;
/// Largest page the client asks for (pcapi / XSOAR cap `limit` at 10,000).
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// When to renew the 10-minute JWT (pcapi: 590 s).
pub const DEFAULT_RENEW_AFTER: Duration = Duration::from_secs(590);

/// The client; its state lives on the heap so that moving it stays cheap.
pub struct Client(Box<Inner>);

struct Inner {
    name: String,
    base: String,
    access_key: Secret,
    secret_key: Secret,
    transport: Transport,
    session: Session,
    page_size: u32,
    renew_after: Duration,
}

/// The reason the API gave for an unsupported write.
const NO_RESOLVE: &str = "Prisma Cloud resolves an alert itself when its resource passes the policy; there is no API to resolve one";
const NO_STATE: &str = "Prisma Cloud alerts have no acknowledged or in-progress state; only dismiss, snooze and reopen can be written back";
const NO_COMMENT: &str =
    "Prisma Cloud has no API to comment on an alert; a note travels only as a dismissal note";

impl Client {
    pub fn new(cfg: &SourceConfig, transport: Transport) -> Result<Client, ApiError> {
        let access_key = cfg.secret("access_key").map_err(ApiError::Config)?;
        let secret_key = cfg.secret("secret_key").map_err(ApiError::Config)?;
        Client::with_secrets(cfg, transport, access_key, secret_key)
    }

    /// As [`Client::new`], with the credentials already resolved.
    pub fn with_secrets(
        cfg: &SourceConfig,
        transport: Transport,
        access_key: Secret,
        secret_key: Secret,
    ) -> Result<Client, ApiError> {
        let renew_after = match cfg.option("token_renew_after") {
            None => DEFAULT_RENEW_AFTER,
            Some(s) => parse_duration(s).ok_or_else(|| {
                ApiError::Config(format!(
                    "source '{}': options.token_renew_after '{}' is not a duration (like 590s or 9m)",
                    cfg.name,
                    crate::sanitize::one_line(s)
                ))
            })?,
        };
        Ok(Client(Box::new(Inner {
            name: cfg.name.clone(),
            base: cfg.base_url.clone(),
            access_key,
            secret_key,
            transport,
            session: Session::new(),
            page_size: cfg
                .page_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            renew_after,
        })))
    }

    async fn fetch(&mut self, window: Window, sink: &mut dyn PageSink) -> Result<(), ApiError> {
        self.0.fetch(window, sink).await
    }

    async fn write_back(&mut self, action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        self.0.write_back(action).await
    }
}

impl Inner {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Log in, or extend `previous` when there is one (a refused extension logs in again).
    async fn login(&self, previous: Option<String>) -> Result<AuthToken, ApiError> {
        if let Some(old) = previous {
            let url = self.url("/auth_token/extend");
            let extended = self
                .transport
                .json(&|| {
                    self.transport
                        .http()
                        .get(&url)
                        .header("x-redlock-auth", &old)
                        .header("accept", "application/json")
                })
                .await;
            match extended {
                Ok((_, v)) => {
                    if let Some(t) = v.get("token").and_then(Value::as_str) {
                        return Ok(self.token(t));
                    }
                    tracing::debug!(source = %self.name, "token extension carried no token; logging in");
                }
                Err(ApiError::Unauthorized(_)) => {
                    tracing::debug!(source = %self.name, "token extension refused; logging in");
                }
                Err(e) => return Err(e),
            }
        }
        let url = self.url("/login");
        let body = json!({
            "username": self.access_key.expose(),
            "password": self.secret_key.expose(),
        });
        let refused = format!(
            "source '{}': Prisma Cloud refused the access key at /login",
            self.name
        );
        let token = self
            .transport
            .login_token(&url, "/login", &body, &refused)
            .await?;
        Ok(self.token(&token))
    }

    fn token(&self, value: &str) -> AuthToken {
        AuthToken::expiring(value.to_string(), Some(self.renew_after), Duration::ZERO)
    }

    /// POST `body` to `path` with the session token: a list reply, its items kept for
    /// mapping one by one.
    async fn post_page(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &Value,
    ) -> Result<crate::sources::Page, ApiError> {
        let url = self.url(path);
        let login = |prev: Option<String>| -> LoginFuture<'_> { Box::pin(self.login(prev)) };
        let build = |token: &str| {
            self.transport
                .http()
                .post(&url)
                .query(query)
                .header("x-redlock-auth", token)
                .header("accept", "application/json")
                .json(body)
        };
        let (_, v) = self
            .session
            .page(super::map::ITEM_PATHS, &self.transport, &login, &build)
            .await?;
        Ok(v)
    }

    /// The first page's `FilterModel` for `window`.
    fn first_body(&self, window: Window) -> Value {
        match window.since {
            None => json!({
                "timeRange": { "type": "to_now", "value": "epoch" },
                "filters": [],
                "limit": self.page_size,
                "sortBy": ["id:asc"],
                "detailed": true,
            }),
            Some(since) => json!({
                "timeRange": {
                    "type": "absolute",
                    "value": { "startTime": since, "endTime": window.until.max(since) },
                },
                "filters": [{ "name": "timeRange.type", "operator": "=", "value": "ALERT_UPDATED" }],
                "limit": self.page_size,
                "sortBy": ["id:asc"],
                "detailed": true,
            }),
        }
    }

    async fn fetch(&self, window: Window, sink: &mut dyn PageSink) -> Result<(), ApiError> {
        let mut body = self.first_body(window);
        let mut received: u64 = 0;
        let mut pages = 0u64;
        loop {
            let v = self
                .post_page("/v2/alert", &[("detailed", "true")], &body)
                .await?;
            pages += 1;
            let Some(items) = v.get("items").and_then(Value::as_array) else {
                return Err(self.malformed(pages, "the page has no `items` array"));
            };
            if items.is_empty() {
                break;
            }
            let n = items.len() as u64;
            let total = v.get("totalRows").and_then(Value::as_u64);
            let next = v
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let alerts = crate::vendors::map_page(Vendor::PrismaCspm, &self.name, v)
                .map_err(|e| self.malformed(pages, &e.to_string()))?;
            sink.page(alerts)?;
            received += n;
            if total.is_some_and(|t| received >= t) {
                break;
            }
            match next {
                Some(t) => body = json!({ "pageToken": t }),
                None => break,
            }
        }
        Ok(())
    }

    fn malformed(&self, page: u64, detail: &str) -> ApiError {
        ApiError::Malformed {
            what: self.transport.what().to_string(),
            detail: format!("/v2/alert page {page}: {detail}"),
        }
    }

    async fn write_back(&self, action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        let (native_id, status, note) = match action {
            WriteBack::Comment { .. } => return Ok(WriteOutcome::Unsupported(NO_COMMENT)),
            WriteBack::SetStatus {
                native_id,
                status,
                note,
            } => (native_id, status, note),
        };
        // Every change request needs a filter; the alert ids do the selecting.
        let filter = json!({ "timeRange": { "type": "to_now", "value": "epoch" }, "filters": [] });
        let now = chrono::Utc::now().timestamp_millis();
        let (path, body) = match status {
            Status::New => (
                "/alert/reopen",
                json!({ "alerts": [native_id], "filter": filter }),
            ),
            Status::Dismissed {
                reason,
                note: n,
                until,
            } => {
                let text = note
                    .clone()
                    .or_else(|| n.clone())
                    .unwrap_or_else(|| format!("Dismissed in sitrep: {}", reason.as_str()));
                let mut b =
                    json!({ "alerts": [native_id], "dismissalNote": text, "filter": filter });
                if let Some(u) = until {
                    b["dismissalTimeRange"] = snooze_range(*u, now);
                }
                ("/alert/dismiss", b)
            }
            Status::Snoozed { until, note: n } => {
                let text = note
                    .clone()
                    .or_else(|| n.clone())
                    .unwrap_or_else(|| "Snoozed in sitrep".to_string());
                (
                    "/alert/dismiss",
                    json!({
                        "alerts": [native_id],
                        "dismissalNote": text,
                        "dismissalTimeRange": snooze_range(*until, now),
                        "filter": filter,
                    }),
                )
            }
            Status::Resolved { .. } => return Ok(WriteOutcome::Unsupported(NO_RESOLVE)),
            Status::Acknowledged | Status::InProgress => {
                return Ok(WriteOutcome::Unsupported(NO_STATE));
            }
        };
        let url = self.url(path);
        let login = |prev: Option<String>| -> LoginFuture<'_> { Box::pin(self.login(prev)) };
        let sent = self
            .session
            .send(&self.transport, &login, &|token: &str| {
                self.transport
                    .http()
                    .post(&url)
                    .header("x-redlock-auth", token)
                    .header("accept", "application/json")
                    .json(&body)
            })
            .await;
        match sent {
            Ok(_) => Ok(WriteOutcome::Done),
            // Dismissing an alert that is no longer open (or reopening one that is not
            // dismissed): Prisma answers 404 `alert_no_longer_in_expected_state`. After a lost
            // response this is our own earlier request having worked.
            Err(ApiError::Http {
                status: 404,
                detail,
                ..
            }) if detail.contains("alert_no_longer_in_expected_state") => {
                Ok(WriteOutcome::Already(
                    "Prisma Cloud says the alert is no longer in the state this change applies to (already changed there)",
                ))
            }
            Err(e) => Err(e),
        }
    }
}

/// A snooze as Prisma's UI sends it: relative, in whole hours (at least one) from now.
fn snooze_range(until: i64, now: i64) -> Value {
    let hours = ((until - now).max(1) + 3_599_999) / 3_600_000;
    json!({ "type": "relative", "value": { "amount": hours.max(1), "unit": "hour" } })
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
        self.0.transport.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snooze_is_whole_hours_rounded_up() {
        let now = 1_700_000_000_000;
        assert_eq!(snooze_range(now + 1, now)["value"]["amount"], 1);
        assert_eq!(snooze_range(now + 3_600_000, now)["value"]["amount"], 1);
        assert_eq!(snooze_range(now + 3_600_001, now)["value"]["amount"], 2);
        assert_eq!(snooze_range(now - 5, now)["value"]["amount"], 1);
        assert_eq!(snooze_range(now, now)["value"]["unit"], "hour");
    }
}
