//! Lacework / FortiCNAPP API v2 simulator.
//!
//! - `POST /api/v2/access/tokens` with `X-LW-UAKS: <secret>` and `{"keyId", "expiryTime"}` →
//!   201 `{"token", "expiresAt"}` (expiry as asked, 3600 s by default, at most a day; the fault
//!   plan's ttl wins). Wrong key id or secret → 401 `{"message": ...}`.
//! - `GET /api/v2/Alerts?startTime&endTime` (RFC 3339; both or neither — neither means the last
//!   24 hours) with `Authorization: Bearer <token>` (a bare token is accepted too, as gosdk
//!   sends it). A window longer than 7 days, a start more than 92 days back, or an end before
//!   the start → 400 `{"message": ...}`. An alert is in the window when its activity
//!   `[startTime, endTime]` intersects it (the emitter moves `endTime` and
//!   `lastUserUpdatedTime` when an alert changes) — the real rule is UNCONFIRMED. Items are
//!   served in `alertId` order, `ROWS_PER_PAGE` a page, WITHOUT `entityMap` (the real list has
//!   none); `paging.urls.nextPage` is an absolute URL (built from the request's Host) fetched
//!   with GET, null on the last page. Paging is keyset on `alertId`.
//! - `GET /api/v2/Alerts/{id}?scope=Details` → `{"data": alert with entityMap}`;
//!   `scope=Timeline` → `{"data": [comment entries]}`; the other documented scopes →
//!   `{"data": []}`; anything else → 400.
//! - `POST /api/v2/Alerts/{id}/comment` `{"comment"}` → `{"data": entry}`.
//! - `POST /api/v2/Alerts/{id}/close` `{"reason": 0..=5, "comment"}` (0 needs a comment) →
//!   `{"message": "SUCCESS"}`; the alert becomes `Closed` (reason 3 as resolved, the others as
//!   dismissed) and its user-update time moves to now.
//! - Unknown alert → 404 `{"message": ...}`. Every data request passes the fault gate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::DateTime;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::emit;
use crate::domain::{EpochMs, Vendor};
use crate::sim::server::{SimState, bearer, header, json_response};
use crate::sim::world::{SimFinding, SimStatus, World};

/// Rows per page (Lacework chooses; the real figure is UNCONFIRMED).
pub const ROWS_PER_PAGE: usize = 500;
const DAY_MS: i64 = 86_400_000;
pub const MAX_WINDOW_MS: i64 = 7 * DAY_MS;
pub const MAX_HISTORY_MS: i64 = 92 * DAY_MS;

struct Lacework {
    state: Arc<SimState>,
    /// Timeline entries (comments) by alert id.
    timeline: Mutex<HashMap<String, Vec<Value>>>,
}

pub fn router(state: Arc<SimState>) -> Router {
    let lw = Arc::new(Lacework {
        state,
        timeline: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/api/v2/access/tokens", post(token))
        .route("/api/v2/Alerts", get(list))
        .route("/api/v2/Alerts/{id}", get(details))
        .route("/api/v2/Alerts/{id}/comment", post(comment))
        .route("/api/v2/Alerts/{id}/close", post(close))
        .with_state(lw)
}

/// `SITREP_SIM_LACEWORK_KEY_ID` / `SITREP_SIM_LACEWORK_SECRET`, derived from the seed.
pub fn credentials(seed: u64) -> Vec<(String, String)> {
    let mut rng = crate::rng::Rng::new(seed ^ 0x004c_574b_4559);
    let key_id = format!("SIMLW_{}", rng.hex(56).to_ascii_uppercase());
    let secret = format!("_{}", rng.hex(32));
    vec![
        ("SITREP_SIM_LACEWORK_KEY_ID".into(), key_id),
        ("SITREP_SIM_LACEWORK_SECRET".into(), secret),
    ]
}

pub fn source_toml(name: &str, base_url: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nvendor = \"lacework\"\nbase_url = \"{base_url}\"\n\
         [source.credentials]\n\
         key_id = {{ env = \"SITREP_SIM_LACEWORK_KEY_ID\" }}\n\
         secret = {{ env = \"SITREP_SIM_LACEWORK_SECRET\" }}\n"
    )
}

fn message(status: StatusCode, msg: &str) -> Response {
    json_response(status, &json!({ "message": msg }))
}

fn lw_time(ms: EpochMs) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

async fn token(State(lw): State<Arc<Lacework>>, headers: HeaderMap, body: Bytes) -> Response {
    lw.state.auth_request();
    let creds = credentials(lw.state.seed);
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return message(
            StatusCode::BAD_REQUEST,
            "request body must be JSON {\"keyId\", \"expiryTime\"}",
        );
    };
    let key_ok = req.get("keyId").and_then(Value::as_str) == Some(creds[0].1.as_str());
    let secret_ok = header(&headers, "x-lw-uaks").as_deref() == Some(creds[1].1.as_str());
    if !key_ok || !secret_ok {
        lw.state
            .counters
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return message(StatusCode::UNAUTHORIZED, "Invalid access key");
    }
    let asked = req
        .get("expiryTime")
        .and_then(Value::as_u64)
        .unwrap_or(3600)
        .clamp(1, 86_400);
    let ttl = lw
        .state
        .faults
        .token_ttl
        .unwrap_or(Duration::from_secs(asked));
    let token = lw.state.issue_token(Some(ttl)).await;
    let expires = lw.state.now_ms() + ttl.as_millis() as i64;
    json_response(
        StatusCode::CREATED,
        &json!({"token": token, "expiresAt": lw_time(expires)}),
    )
}

/// Parse the request's window: (start, end) in epoch ms, or the 400 message.
fn window(q: &HashMap<String, String>, now: EpochMs) -> Result<(EpochMs, EpochMs), String> {
    let parse = |k: &str| -> Result<Option<EpochMs>, String> {
        match q.get(k) {
            None => Ok(None),
            Some(s) => crate::sources::json::parse_time(s).map(Some).ok_or_else(|| {
                format!(
                    "Invalid {k} '{}': expected an RFC 3339 time such as 2022-09-29T16:00:00.000Z",
                    crate::sanitize::one_line(s)
                )
            }),
        }
    };
    let (start, end) = match (parse("startTime")?, parse("endTime")?) {
        (Some(s), Some(e)) => (s, e),
        (None, None) => (now - DAY_MS, now),
        _ => return Err("startTime and endTime must be given together".into()),
    };
    if end <= start {
        return Err("endTime must be after startTime".into());
    }
    if end - start > MAX_WINDOW_MS {
        return Err("The time range between startTime and endTime cannot exceed 7 days".into());
    }
    if start < now - MAX_HISTORY_MS {
        return Err("startTime cannot be more than 92 days in the past".into());
    }
    Ok((start, end))
}

fn lw_id(world: &World, f: &SimFinding) -> u64 {
    emit::native_id(world, f).parse().unwrap_or(0)
}

fn strip_entity_map(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("entityMap");
    }
    v
}

async fn list(
    State(lw): State<Arc<Lacework>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = bearer(&headers).unwrap_or_default();
    let p = match lw.state.gate(Some(&token)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (start, end) = match window(&q, lw.state.now_ms()) {
        Ok(w) => w,
        Err(m) => return message(StatusCode::BAD_REQUEST, &m),
    };
    let after: Option<u64> = match q.get("page") {
        None => None,
        Some(t) => match u64::from_str_radix(t, 16) {
            Ok(x) => Some(x ^ PAGE_SALT),
            Err(_) => return message(StatusCode::BAD_REQUEST, "Invalid page token"),
        },
    };
    let world = lw.state.world.read().await;
    let mut rows: Vec<(u64, &SimFinding)> = world
        .findings_for(Vendor::Lacework)
        .filter(|f| f.created_ms <= end && f.updated_ms >= start)
        .map(|f| (lw_id(&world, f), f))
        .collect();
    rows.sort_by_key(|r| r.0);
    let total = rows.len();
    let from = after.map_or(0, |a| rows.partition_point(|r| r.0 <= a));
    let page: Vec<&(u64, &SimFinding)> = rows.iter().skip(from).take(ROWS_PER_PAGE).collect();
    let next = if from + page.len() < total {
        page.last().map(|(id, _)| {
            let host = header(&headers, "host").unwrap_or_else(|| "127.0.0.1".into());
            format!(
                "http://{host}/api/v2/Alerts?startTime={}&endTime={}&page={:x}",
                lw_time(start),
                lw_time(end),
                id ^ PAGE_SALT
            )
        })
    } else {
        None
    };
    let items: Vec<Value> = page
        .iter()
        .map(|(_, f)| strip_entity_map(emit_one(&world, f)))
        .collect();
    let body = emit::page_body(items, next, Some(total));
    lw.state.respond(p, StatusCode::OK, &body)
}

/// Page tokens are opaque to clients.
const PAGE_SALT: u64 = 0x1ace_0000_5eed;

fn emit_one(world: &World, f: &SimFinding) -> Value {
    emit::items(world, &[f])
        .into_iter()
        .next()
        .unwrap_or(Value::Null)
}

fn find<'a>(world: &'a World, id: &str) -> Option<&'a SimFinding> {
    world
        .findings_for(Vendor::Lacework)
        .find(|f| emit::native_id(world, f) == id)
}

fn not_found(id: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        &format!("Alert {} not found", crate::sanitize::one_line(id)),
    )
}

async fn details(
    State(lw): State<Arc<Lacework>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = bearer(&headers).unwrap_or_default();
    let p = match lw.state.gate(Some(&token)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let scope = q.get("scope").map(String::as_str).unwrap_or("Details");
    let world = lw.state.world.read().await;
    let Some(f) = find(&world, &id) else {
        return not_found(&id);
    };
    let body = match scope {
        "Details" => json!({ "data": emit_one(&world, f) }),
        "Timeline" => {
            let entries = lw
                .timeline
                .lock()
                .await
                .get(&id)
                .cloned()
                .unwrap_or_default();
            json!({ "data": entries })
        }
        "Investigation" | "Events" | "RelatedAlerts" | "Integrations" | "ObservationTimeline" => {
            json!({ "data": [] })
        }
        other => {
            return message(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Invalid scope '{}': expected Details, Investigation, Events, RelatedAlerts, Integrations, Timeline or ObservationTimeline",
                    crate::sanitize::one_line(other)
                ),
            );
        }
    };
    lw.state.respond(p, StatusCode::OK, &body)
}

impl Lacework {
    async fn add_entry(&self, id: &str, text: &str) -> Value {
        let mut timeline = self.timeline.lock().await;
        let n = timeline.values().map(Vec::len).sum::<usize>() as u64;
        let entry = json!({
            "id": 38_613_000 + n,
            "alertId": id.parse::<u64>().unwrap_or(0),
            "entryType": "Comment",
            "entryAuthorType": "UserUpdate",
            "message": { "value": text },
            "externalTime": "0",
            "user": { "userGuid": "SIM_SITREP_API_KEY", "username": "sitrep@api" },
            "updateContext": {},
        });
        timeline
            .entry(id.to_string())
            .or_default()
            .push(entry.clone());
        entry
    }
}

async fn comment(
    State(lw): State<Arc<Lacework>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let token = bearer(&headers).unwrap_or_default();
    let p = match lw.state.gate(Some(&token)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("comment").and_then(Value::as_str).map(str::to_string))
        .filter(|t| !t.trim().is_empty());
    let Some(text) = text else {
        return message(StatusCode::BAD_REQUEST, "comment is required");
    };
    if find(&*lw.state.world.read().await, &id).is_none() {
        return not_found(&id);
    }
    let entry = lw.add_entry(&id, &text).await;
    lw.state.record_comment(&id, &text);
    lw.state
        .respond(p, StatusCode::OK, &json!({ "data": entry }))
}

async fn close(
    State(lw): State<Arc<Lacework>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let token = bearer(&headers).unwrap_or_default();
    let p = match lw.state.gate(Some(&token)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return message(
            StatusCode::BAD_REQUEST,
            "request body must be JSON {\"reason\", \"comment\"}",
        );
    };
    let Some(reason) = req
        .get("reason")
        .and_then(Value::as_u64)
        .filter(|r| *r <= 5)
    else {
        return message(
            StatusCode::BAD_REQUEST,
            "reason must be an integer from 0 to 5",
        );
    };
    let comment = req
        .get("comment")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .map(str::to_string);
    if reason == 0 && comment.is_none() {
        return message(
            StatusCode::BAD_REQUEST,
            "a comment is required when the reason is 0 (Other)",
        );
    }
    let now = lw.state.now_ms();
    {
        let mut world = lw.state.world.write().await;
        let Some(i) = world
            .findings
            .iter()
            .position(|f| f.vendor == Vendor::Lacework && emit::native_id(&world, f) == id)
        else {
            return not_found(&id);
        };
        let f = &mut world.findings[i];
        f.status = if reason == 3 {
            SimStatus::Resolved
        } else {
            SimStatus::Dismissed
        };
        f.updated_ms = now;
    }
    if let Some(c) = comment {
        lw.add_entry(&id, &c).await;
    }
    lw.state
        .respond(p, StatusCode::OK, &json!({ "message": "SUCCESS" }))
}
