//! Palo Alto Cortex XDR: the public API with standard or advanced API keys.
//!
//! - Every call is `POST <base_url>/public_api/...` with `{"request_data": {...}}`.
//! - Auth on every request: `x-xdr-auth-id: <key_id>` and `Authorization`: the key itself
//!   (`options.key_type = "standard"`) or, for advanced keys (the default),
//!   `sha256_hex(key + nonce + timestamp)` with a fresh 64-alphanumeric `x-xdr-nonce` and
//!   `x-xdr-timestamp` (epoch ms) per request, retries included. Keys do not expire: a 401
//!   gets one replay (freshly signed) through the [`Session`], a second one is a clear error.
//! - Alerts: `POST /public_api/v2/alerts/get_alerts_multi_events` with windows
//!   `search_from`/`search_to` of at most 100 (`search_to` taken as exclusive; if the API
//!   counts it inclusively, windows overlap by one and nothing is missed), `sort` by
//!   `creation_time` ascending (new alerts land at the end, so offsets stay stable while
//!   paging), and `total_count` as the stop rule. After the first window, the remaining ones
//!   are fetched `concurrency` at a time and delivered in order.
//! - Window: `filters: [{field: <f>, operator: "gte", value: <ms>}]` with the incremental
//!   filter candidates `server_creation_time`, then `creation_time` — documented alert filter
//!   fields (docs-cortex "Get Alerts Multi-Events v2"; the others are `alert_id_list`,
//!   `alert_source`, `severity`, `external_id_list`). Both only see alerts *created* since the
//!   watermark: changes to older alerts (closures) arrive with the source's scheduled full
//!   reconciliation (`full_every`). `options.changed_since_field` replaces the candidates
//!   with one field (`last_modified_ts`, undocumented as a filter, sees changes if the tenant
//!   takes it). XDR answers a filter it does not take with an HTTP 500 (400/422 also seen):
//!   on the first window that is [`ApiError::FilterRefused`], and the engine runs in full and
//!   moves to the next candidate.
//! - Incidents are not synced: the emitted units are alerts, each carrying its incident as
//!   `case_id`; incidents would duplicate them in the queue.
//! - Write-back: `update_alerts` (`alert-<id>`) and `update_incident` (`incident-<id>`, for
//!   incidents imported from files) with status `new`, `under_investigation`,
//!   `resolved_other` (resolved), `resolved_false_positive` / `resolved_duplicate` /
//!   `resolved_known_issue` (dismissed, by reason; `resolved_other` when the API refuses the
//!   specific word), and comments (`update_data.comment` for alerts, a `comment` object with
//!   `comment_action: "add"` for incidents). Snooze and "acknowledged" have no API.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use reqwest::RequestBuilder;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{Secret, SourceConfig};
use crate::domain::{Alert, DismissReason, Status, Vendor};
use crate::rng::Rng;
use crate::sources::api::LoginFuture;
use crate::sources::api::{
    ApiError, AuthToken, PageSink, Session, Transport, Window, WriteBack, WriteOutcome,
};

/// Largest window the API serves.
pub const MAX_WINDOW: u32 = 100;
pub const ALERTS_PATH: &str = "/public_api/v2/alerts/get_alerts_multi_events";
pub const UPDATE_ALERTS_PATH: &str = "/public_api/v1/alerts/update_alerts";
pub const UPDATE_INCIDENT_PATH: &str = "/public_api/v1/incidents/update_incident";
/// The incremental filter candidates, best first: documented alert filter fields.
pub const FILTERS: [&str; 2] = ["server_creation_time", "creation_time"];
/// What `options.changed_since_field` may name.
const CHANGED_FIELDS: [&str; 3] = ["last_modified_ts", "server_creation_time", "creation_time"];

pub struct Client {
    name: String,
    base: String,
    key_id: Secret,
    key: Secret,
    advanced: bool,
    page: u32,
    concurrency: usize,
    /// `options.changed_since_field`: the only incremental filter when set.
    changed_field: Option<&'static str>,
    transport: Transport,
    session: Session,
    rng: std::sync::Mutex<Rng>,
}

/// One fetched window.
struct Win {
    from: u64,
    asked: u64,
    total: u64,
    alerts: Vec<Alert>,
}

/// Poll every future to completion, concurrently on this task; results in input order.
async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// `sha256_hex(key + nonce + timestamp)`.
fn signature(key: &str, nonce: &str, timestamp: &str) -> String {
    let digest = Sha256::digest(format!("{key}{nonce}{timestamp}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Client {
    pub fn new(cfg: &SourceConfig, transport: Transport) -> Result<Client, ApiError> {
        let key_id = cfg.secret("key_id").map_err(ApiError::Config)?;
        let key = cfg.secret("key").map_err(ApiError::Config)?;
        let advanced = match cfg.option("key_type") {
            None | Some("advanced") => true,
            Some("standard") => false,
            Some(other) => {
                return Err(ApiError::Config(format!(
                    "source '{}': options.key_type '{}' is not 'advanced' or 'standard'",
                    cfg.name,
                    crate::sanitize::one_line(other)
                )));
            }
        };
        let changed_field = match cfg.option("changed_since_field") {
            None => None,
            Some(f) if CHANGED_FIELDS.contains(&f) => {
                CHANGED_FIELDS.iter().copied().find(|c| *c == f)
            }
            Some(other) => {
                return Err(ApiError::Config(format!(
                    "source '{}': options.changed_since_field '{}' is not one of \
                     last_modified_ts, server_creation_time, creation_time",
                    cfg.name,
                    crate::sanitize::one_line(other)
                )));
            }
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        Ok(Client {
            name: cfg.name.clone(),
            base: cfg.base_url.trim_end_matches('/').to_string(),
            key_id,
            key,
            advanced,
            page: cfg.page_size.unwrap_or(MAX_WINDOW).clamp(1, MAX_WINDOW),
            concurrency: cfg.concurrency.max(1) as usize,
            changed_field,
            transport,
            session: Session::new(),
            rng: std::sync::Mutex::new(Rng::new(seed)),
        })
    }

    /// Keys have no login: the "token" is the key itself.
    async fn login(&self) -> Result<AuthToken, ApiError> {
        Ok(AuthToken::expiring(
            self.key.expose().to_string(),
            None,
            Duration::ZERO,
        ))
    }

    fn nonce(&self) -> String {
        match self.rng.lock() {
            Ok(mut r) => r.hex(64),
            Err(poisoned) => poisoned.into_inner().hex(64),
        }
    }

    /// A POST of `{"request_data": data}` to `path`, signed for this attempt.
    fn request(&self, path: &str, data: &Value, key: &str) -> RequestBuilder {
        let rb = self
            .transport
            .http()
            .post(format!("{}{path}", self.base))
            .header("x-xdr-auth-id", self.key_id.expose())
            .json(&json!({ "request_data": data }));
        if self.advanced {
            let nonce = self.nonce();
            let ts = chrono::Utc::now().timestamp_millis().to_string();
            rb.header("x-xdr-nonce", nonce.as_str())
                .header("x-xdr-timestamp", ts.as_str())
                .header("Authorization", signature(key, &nonce, &ts))
        } else {
            rb.header("Authorization", key)
        }
    }

    fn unauthorized(&self, e: ApiError) -> ApiError {
        match e {
            ApiError::Unauthorized(d) => ApiError::Unauthorized(format!(
                "{d}; check key_id, key and options.key_type ({}) of source '{}', and the \
                 clock (advanced keys are signed with the current time)",
                if self.advanced {
                    "advanced"
                } else {
                    "standard"
                },
                self.name
            )),
            other => other,
        }
    }

    /// One API call. Every reply is parsed as a [`crate::sources::Page`]: an alerts or
    /// incidents list keeps its items for mapping one by one, any other reply is parsed whole.
    async fn call(&self, path: &str, data: &Value) -> Result<crate::sources::Page, ApiError> {
        let login = |_prev: Option<String>| -> LoginFuture<'_> { Box::pin(self.login()) };
        let build = |key: &str| self.request(path, data, key);
        self.session
            .page(super::map::ITEM_PATHS, &self.transport, &login, &build)
            .await
            .map(|(_, v)| v)
            .map_err(|e| self.unauthorized(e))
    }

    async fn window(&self, filters: &Value, from: u64, size: u64) -> Result<Win, ApiError> {
        let data = json!({
            "filters": filters,
            "search_from": from,
            "search_to": from + size,
            "sort": {"field": "creation_time", "keyword": "asc"},
        });
        let body = self.call(ALERTS_PATH, &data).await?;
        let what = || self.transport.what().to_string();
        let reply = body.get("reply").ok_or_else(|| ApiError::Malformed {
            what: what(),
            detail: "no reply object in an alerts response".into(),
        })?;
        if reply.get("err_code").is_some() || reply.get("err_msg").is_some() {
            return Err(ApiError::Vendor {
                what: what(),
                detail: crate::sanitize::one_line(&reply.to_string()),
            });
        }
        let total_count = reply.get("total_count").and_then(Value::as_u64);
        let alerts =
            crate::vendors::map_page(Vendor::CortexXdr, &self.name, body).map_err(|e| {
                ApiError::Malformed {
                    what: what(),
                    detail: format!("alerts {from}..{} did not map: {e}", from + size),
                }
            })?;
        let total = total_count.unwrap_or(from + alerts.len() as u64);
        Ok(Win {
            from,
            asked: size,
            total,
            alerts,
        })
    }

    /// Fetch every alert changed in `window`, window by window.
    async fn fetch(&mut self, window: Window, sink: &mut dyn PageSink) -> Result<(), ApiError> {
        let field = window.pick(&self.filters());
        let filters = match (window.since, field) {
            (Some(since), Some(f)) => json!([{
                "field": f,
                "operator": "gte",
                "value": since,
            }]),
            _ => json!([]),
        };
        let page = u64::from(self.page);
        let first = match (self.window(&filters, 0, page).await, field) {
            (Err(e), Some(f)) if window.since.is_some() => return Err(e.as_filter_refusal(f)),
            (r, _) => r?,
        };
        self.deliver_rest(&filters, first, sink).await
    }

    /// The incremental filter candidates, best first.
    fn filters(&self) -> Vec<&'static str> {
        match self.changed_field {
            Some(f) => vec![f],
            None => FILTERS.to_vec(),
        }
    }

    async fn deliver_rest(
        &self,
        filters: &Value,
        first: Win,
        sink: &mut dyn PageSink,
    ) -> Result<(), ApiError> {
        let mut page = u64::from(self.page);
        let mut total = first.total;
        let got = first.alerts.len() as u64;
        let mut next = first.from + got;
        if got == 0 {
            return Ok(());
        }
        if got < first.asked && next < total {
            // The server serves smaller windows than we asked for: follow its size.
            page = got;
        }
        sink.page(first.alerts)?;
        while next < total {
            let starts: Vec<u64> = (0..self.concurrency as u64)
                .map(|k| next + k * page)
                .take_while(|s| *s < total)
                .collect();
            let results = join_all(
                starts
                    .iter()
                    .map(|&s| self.window(filters, s, page))
                    .collect(),
            )
            .await;
            for r in results {
                let w = r?;
                let got = w.alerts.len() as u64;
                total = w.total;
                sink.page(w.alerts)?;
                next = w.from + got;
                if got == 0 {
                    return Ok(());
                }
                if got < w.asked {
                    // Short window before the end: the server's window is smaller than ours,
                    // or the set shrank. Continue right after what we got.
                    page = page.min(got);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Write a decision back to the alert (`alert-<id>`) or incident (`incident-<id>`).
    async fn write_back(&mut self, action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        let native_id = match action {
            WriteBack::SetStatus { native_id, .. } | WriteBack::Comment { native_id, .. } => {
                native_id
            }
        };
        let target = if let Some(id) = native_id.strip_prefix("alert-") {
            Target::Alert(id)
        } else if let Some(id) = native_id.strip_prefix("incident-") {
            Target::Incident(id)
        } else {
            return Err(ApiError::Config(format!(
                "source '{}': '{}' is not a Cortex XDR alert-<id> or incident-<id>",
                self.name,
                crate::sanitize::one_line(native_id)
            )));
        };
        match action {
            WriteBack::Comment { text, .. } => {
                self.update(target, None, Some(text)).await?;
                Ok(WriteOutcome::Done)
            }
            WriteBack::SetStatus { status, note, .. } => {
                let (word, fallback) = match status {
                    Status::New => ("new", None),
                    Status::InProgress => ("under_investigation", None),
                    Status::Resolved { .. } => ("resolved_other", None),
                    Status::Dismissed { reason, .. } => match reason {
                        DismissReason::FalsePositive => {
                            ("resolved_false_positive", Some("resolved_other"))
                        }
                        DismissReason::Duplicate => ("resolved_duplicate", Some("resolved_other")),
                        DismissReason::AcceptedRisk => {
                            ("resolved_known_issue", Some("resolved_other"))
                        }
                        DismissReason::NotApplicable | DismissReason::Other => {
                            ("resolved_other", None)
                        }
                    },
                    Status::Acknowledged => {
                        return Ok(WriteOutcome::Unsupported(
                            "Cortex XDR has no 'acknowledged' status (use in progress)",
                        ));
                    }
                    Status::Snoozed { .. } => {
                        return Ok(WriteOutcome::Unsupported(
                            "Cortex XDR's API has no call to snooze an alert or incident",
                        ));
                    }
                };
                let note = note.as_deref();
                match (self.update(target, Some(word), note).await, fallback) {
                    (Ok(()), _) => Ok(WriteOutcome::Done),
                    (
                        Err(ApiError::Http {
                            status: 400 | 422, ..
                        }),
                        Some(alt),
                    ) => {
                        self.update(target, Some(alt), note).await?;
                        Ok(WriteOutcome::Done)
                    }
                    (Err(e), _) => Err(e),
                }
            }
        }
    }

    async fn update(
        &self,
        target: Target<'_>,
        status: Option<&str>,
        comment: Option<&str>,
    ) -> Result<(), ApiError> {
        match target {
            Target::Alert(id) => {
                let mut update = serde_json::Map::new();
                if let Some(s) = status {
                    update.insert("status".into(), json!(s));
                }
                if let Some(c) = comment {
                    update.insert("comment".into(), json!(c));
                }
                let body = self
                    .call(
                        UPDATE_ALERTS_PATH,
                        &json!({"alert_id_list": [id], "update_data": update}),
                    )
                    .await?;
                // The reply lists the alerts it updated; an id missing from it was not found.
                if let Some(ids) = body.pointer("/reply/alerts_ids").and_then(Value::as_array)
                    && !ids.iter().any(|v| match v {
                        Value::String(s) => s == id,
                        Value::Number(n) => n.as_u64().is_some_and(|n| id.parse() == Ok(n)),
                        _ => false,
                    })
                {
                    return Err(ApiError::Vendor {
                        what: self.transport.what().to_string(),
                        detail: format!(
                            "alert {} was not updated (not found?)",
                            crate::sanitize::one_line(id)
                        ),
                    });
                }
                Ok(())
            }
            Target::Incident(id) => {
                let mut update = serde_json::Map::new();
                if let Some(s) = status {
                    update.insert("status".into(), json!(s));
                    if let Some(c) = comment
                        && s.starts_with("resolved")
                    {
                        update.insert("resolve_comment".into(), json!(c));
                    }
                }
                let resolving = status.is_some_and(|s| s.starts_with("resolved"));
                if let Some(c) = comment
                    && !resolving
                {
                    update.insert(
                        "comment".into(),
                        json!({"comment_action": "add", "value": c}),
                    );
                }
                self.call(
                    UPDATE_INCIDENT_PATH,
                    &json!({"incident_id": id, "update_data": update}),
                )
                .await
                .map(|_| ())
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Alert(&'a str),
    Incident(&'a str),
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
        self.filters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_simulator() {
        assert_eq!(
            signature("k", "n", "1"),
            crate::vendors::cortex_xdr::sim::server::signature("k", "n", "1")
        );
        assert_eq!(signature("a", "b", "c").len(), 64);
    }

    #[tokio::test]
    async fn join_all_keeps_order() {
        let futs: Vec<_> = (0..5u64)
            .map(|i| async move {
                tokio::time::sleep(Duration::from_millis(20 - i * 4)).await;
                i
            })
            .collect();
        assert_eq!(join_all(futs).await, vec![0, 1, 2, 3, 4]);
    }
}
