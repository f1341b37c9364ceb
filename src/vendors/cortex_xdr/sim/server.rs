//! The Cortex XDR public API (alerts and their write-back).
//!
//! - Every call is `POST` with a JSON body `{"request_data": {...}}`; paths are accepted with
//!   and without a trailing slash (the docs' curl samples and XSOAR add one).
//! - Auth on every request: `x-xdr-auth-id` names the key. An *advanced* key (the one in
//!   [`credentials`]) needs `x-xdr-nonce` (64 alphanumerics, not reused),
//!   `x-xdr-timestamp` (epoch ms within 5 minutes of the server's clock) and
//!   `Authorization = sha256_hex(key + nonce + timestamp)`; a *standard* key
//!   ([`standard_key`]) sends the key itself in `Authorization`. Anything else is a 401
//!   `{"reply": {"err_code": 401, "err_msg": ..., "err_extra": ...}}`.
//! - `POST /public_api/v2/alerts/get_alerts_multi_events`: `filters` (AND only) on
//!   `alert_id_list` (`in`), `severity` (`in`), `creation_time` / `server_creation_time`
//!   (`gte`/`lte`/`eq`, epoch ms: when the alert was created) — documented fields. A field
//!   the docs do not list (`last_modified_ts` included), or one the fault plan refuses
//!   (`refuse=FIELD`), is answered with an HTTP 500, as XDR answers a bad filter; the
//!   documented `alert_source` and `external_id_list` are not modelled (a 400).
//!   `search_from` / `search_to` (zero-based, `search_to`
//!   exclusive, a window of at most 100, else a 400); `sort` `{field, keyword}` on
//!   `creation_time` (default, descending), `server_creation_time`, `last_modified_ts` or
//!   `severity`, ties by alert id. Reply `{"reply": {"total_count", "result_count",
//!   "alerts"}}`. Unknown sort fields and bad operators are a 400 with an `err_extra` naming
//!   them.
//! - `POST /public_api/v1/alerts/update_alerts` `{alert_id_list (≤ 100), update_data:
//!   {status?, severity?, comment?}}` → `{"reply": {"alerts_ids": [...updated]}}`.
//! - `POST /public_api/v1/incidents/update_incident` `{incident_id, update_data: {status?,
//!   resolve_comment?, comment: {comment_action: "add", value}?}}` → `{"reply": true}`. An
//!   incident is the group of alerts sharing a `case_id`; its status goes to all of them.
//! - Status words: `new`, `under_investigation`, and `resolved_*` (`threat_handled`,
//!   `known_issue`, `duplicate`, `false_positive`, `true_positive`, `security_testing`,
//!   `other`, `auto`); the world keeps four states, so the false-positive family
//!   (false_positive, duplicate, known_issue, security_testing) reads back as
//!   `STATUS_060_RESOLVED_FALSE_POSITIVE` and the rest as `STATUS_090_RESOLVED_TRUE_POSITIVE`.
//!   A comment shows as the alert's `resolution_comment`.
//! - Faults: the shared gate. Keys do not expire, so an `expire@N` fault answers request N
//!   with a 401 (as a stale timestamp would); a fresh signature on the next request passes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::domain::{EpochMs, Vendor};
use crate::rng::Rng;
use crate::sim::server::{SimState, header, json_response};
use crate::sim::world::{SevWord, SimFinding, SimStatus};

pub const KEY_ID_VAR: &str = "SITREP_SIM_XDR_KEY_ID";
pub const KEY_VAR: &str = "SITREP_SIM_XDR_KEY";
/// Largest `search_to - search_from`.
pub const MAX_WINDOW: i64 = 100;
/// Largest accepted distance between `x-xdr-timestamp` and the server clock.
pub const MAX_SKEW_MS: i64 = 5 * 60_000;

/// The advanced key (id, key) this simulator accepts for `seed`.
pub fn advanced_key(seed: u64) -> (String, String) {
    let mut rng = Rng::new(seed ^ 0x0c0e_7e8d);
    (format!("{}", 2 + rng.below(60)), rng.hex(128))
}

/// A standard key (id, key) this simulator also accepts (not in the announced credentials).
pub fn standard_key(seed: u64) -> (String, String) {
    let mut rng = Rng::new(seed ^ 0x57a4_da2d);
    (format!("{}", 100 + rng.below(60)), rng.hex(128))
}

pub fn credentials(seed: u64) -> Vec<(String, String)> {
    let (id, key) = advanced_key(seed);
    vec![(KEY_ID_VAR.to_string(), id), (KEY_VAR.to_string(), key)]
}

pub fn source_toml(name: &str, base_url: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nvendor = \"cortex-xdr\"\nbase_url = \"{base_url}\"\n\
         [source.credentials]\nkey_id = {{ env = \"{KEY_ID_VAR}\" }}\nkey = {{ env = \"{KEY_VAR}\" }}\n\
         [source.options]\nkey_type = \"advanced\"\n"
    )
}

/// `sha256_hex(key + nonce + timestamp)`, the advanced-key signature.
pub fn signature(key: &str, nonce: &str, timestamp: &str) -> String {
    let digest = Sha256::digest(format!("{key}{nonce}{timestamp}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

struct Sim {
    state: Arc<SimState>,
    /// Nonces seen, with when (wall clock ms): a nonce is good once.
    nonces: Mutex<HashMap<String, EpochMs>>,
    /// Comments written back, by alert id (shown as `resolution_comment`).
    comments: Mutex<HashMap<String, String>>,
}

pub fn router(state: Arc<SimState>) -> Router {
    let sim = Arc::new(Sim {
        state,
        nonces: Mutex::new(HashMap::new()),
        comments: Mutex::new(HashMap::new()),
    });
    let mut r = Router::new();
    for (path, handler) in [
        (
            "/public_api/v2/alerts/get_alerts_multi_events",
            Route::Alerts,
        ),
        ("/public_api/v1/alerts/update_alerts", Route::UpdateAlerts),
        (
            "/public_api/v1/incidents/update_incident",
            Route::UpdateIncident,
        ),
    ] {
        let h = move |State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes| async move {
            handle(&sim, handler, &headers, &body).await
        };
        r = r.route(path, post(h)).route(&format!("{path}/"), post(h));
    }
    r.with_state(sim)
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Alerts,
    UpdateAlerts,
    UpdateIncident,
}

fn xdr_error(status: StatusCode, msg: &str, extra: Value) -> Response {
    json_response(
        status,
        &json!({"reply": {"err_code": status.as_u16(), "err_msg": msg, "err_extra": extra}}),
    )
}

/// An error reply on its way out: status, `err_msg`, `err_extra`.
struct Reject(StatusCode, &'static str, String);

impl Reject {
    fn into_response(self) -> Response {
        xdr_error(self.0, self.1, json!(self.2))
    }
}

fn bad_request(extra: &str) -> Reject {
    Reject(
        StatusCode::BAD_REQUEST,
        "Bad Request. Got an invalid JSON.",
        extra.to_string(),
    )
}

fn wall_ms() -> EpochMs {
    chrono::Utc::now().timestamp_millis()
}

impl Sim {
    fn refuse(&self, why: &str) -> Response {
        self.state
            .counters
            .unauthorized
            .fetch_add(1, Ordering::SeqCst);
        xdr_error(
            StatusCode::UNAUTHORIZED,
            "Public API request unauthorized",
            json!(why),
        )
    }

    async fn check_auth(&self, headers: &HeaderMap) -> Result<(), Response> {
        let seed = self.state.seed;
        let Some(id) = header(headers, "x-xdr-auth-id") else {
            return Err(self.refuse("missing x-xdr-auth-id"));
        };
        let given = header(headers, "authorization").unwrap_or_default();
        let (adv_id, adv_key) = advanced_key(seed);
        let (std_id, std_key) = standard_key(seed);
        if id.trim() == std_id {
            return if given.trim() == std_key {
                Ok(())
            } else {
                Err(self.refuse("invalid API key"))
            };
        }
        if id.trim() != adv_id {
            return Err(self.refuse("unknown API key id"));
        }
        let (Some(nonce), Some(ts)) = (
            header(headers, "x-xdr-nonce"),
            header(headers, "x-xdr-timestamp"),
        ) else {
            return Err(self.refuse("advanced key: x-xdr-nonce and x-xdr-timestamp are required"));
        };
        if nonce.len() != 64 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(self.refuse("advanced key: the nonce must be 64 alphanumerics"));
        }
        let now = wall_ms();
        match ts.trim().parse::<i64>() {
            Ok(t) if (now - t).abs() <= MAX_SKEW_MS => {}
            _ => return Err(self.refuse("advanced key: the timestamp is missing or stale")),
        }
        if !given
            .trim()
            .eq_ignore_ascii_case(&signature(&adv_key, &nonce, ts.trim()))
        {
            return Err(self.refuse("invalid API key signature"));
        }
        let mut seen = self.nonces.lock().await;
        seen.retain(|_, at| now - *at <= 2 * MAX_SKEW_MS);
        if seen.insert(nonce, now).is_some() {
            return Err(self.refuse("advanced key: nonce already used"));
        }
        Ok(())
    }
}

async fn handle(sim: &Sim, route: Route, headers: &HeaderMap, body: &[u8]) -> Response {
    let state = &sim.state;
    let p = match state.gate(None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if state.faults.expire_at.contains(&p.n) {
        return sim.refuse("advanced key: the timestamp is missing or stale");
    }
    if let Err(r) = sim.check_auth(headers).await {
        return r;
    }
    let request = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(_) => return bad_request("the body is not JSON").into_response(),
    };
    let Some(data) = request.get("request_data").filter(|d| d.is_object()) else {
        return bad_request("request_data is missing or not an object").into_response();
    };
    let result = match route {
        Route::Alerts => alerts(sim, data).await,
        Route::UpdateAlerts => update_alerts(sim, data).await,
        Route::UpdateIncident => update_incident(sim, data).await,
    };
    match result {
        Ok(v) => state.respond(p, StatusCode::OK, &v),
        Err(r) => r.into_response(),
    }
}

fn severity_word(s: SevWord) -> &'static str {
    match s {
        SevWord::Critical => "critical",
        SevWord::High => "high",
        SevWord::Medium => "medium",
        SevWord::Low => "low",
        SevWord::Info => "informational",
    }
}

fn alert_id_of(world: &crate::sim::world::World, f: &SimFinding) -> String {
    let n = super::emit::native_id(world, f);
    n.strip_prefix("alert-").unwrap_or(&n).to_string()
}

/// Values of an `in` filter (or a lone value) as strings.
fn words(v: &Value) -> Vec<String> {
    let one = |x: &Value| match x {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Array(a) => a.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

type Pred = Box<dyn Fn(&SimFinding, &str) -> bool + Send + Sync>;

/// Alert filter fields the docs list (docs-cortex "Get Alerts Multi-Events v2").
const DOCUMENTED_FILTERS: &[&str] = &[
    "alert_id_list",
    "alert_source",
    "severity",
    "creation_time",
    "server_creation_time",
    "external_id_list",
];

fn parse_filters(data: &Value, refused: &[String]) -> Result<Vec<Pred>, Reject> {
    let list = match data.get("filters") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad_request("filters must be a list")),
    };
    let mut preds: Vec<Pred> = Vec::new();
    for f in list {
        let field = f.get("field").and_then(Value::as_str).unwrap_or("");
        let op = f
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let value = f.get("value").cloned().unwrap_or(Value::Null);
        if !DOCUMENTED_FILTERS.contains(&field) || refused.iter().any(|r| r == field) {
            // XDR's answer to a filter it does not take: a 500, not a 400.
            return Err(Reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An error occurred while processing XDR public API",
                format!("unsupported filter field '{field}'"),
            ));
        }
        let pred: Pred = match field {
            "alert_id_list" if op == "in" => {
                let ids: HashSet<String> = words(&value).into_iter().collect();
                Box::new(move |_, id| ids.contains(id))
            }
            "severity" if op == "in" => {
                let sevs: HashSet<String> = words(&value)
                    .into_iter()
                    .map(|s| s.to_ascii_lowercase())
                    .collect();
                Box::new(move |f, _| sevs.contains(severity_word(f.severity)))
            }
            "creation_time" | "server_creation_time" => {
                let Some(t) = value.as_i64() else {
                    return Err(bad_request(&format!(
                        "{field}: the value must be epoch milliseconds"
                    )));
                };
                let at = |f: &SimFinding| f.created_ms;
                match op.as_str() {
                    "gte" => Box::new(move |f, _| at(f) >= t),
                    "lte" => Box::new(move |f, _| at(f) <= t),
                    "eq" => Box::new(move |f, _| at(f) == t),
                    _ => {
                        return Err(bad_request(&format!(
                            "{field}: unsupported operator '{op}' (gte, lte, eq)"
                        )));
                    }
                }
            }
            _ => {
                return Err(bad_request(&format!(
                    "unsupported filter: field '{field}' with operator '{op}'"
                )));
            }
        };
        preds.push(pred);
    }
    Ok(preds)
}

fn sev_rank(s: SevWord) -> u8 {
    match s {
        SevWord::Info => 0,
        SevWord::Low => 1,
        SevWord::Medium => 2,
        SevWord::High => 3,
        SevWord::Critical => 4,
    }
}

async fn alerts(sim: &Sim, data: &Value) -> Result<Value, Reject> {
    let preds = parse_filters(data, &sim.state.faults.refused_filters)?;
    let int = |k: &str| -> Result<Option<i64>, Reject> {
        match data.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| bad_request(&format!("{k} must be a non-negative integer"))),
        }
    };
    let from = int("search_from")?.unwrap_or(0);
    let to = int("search_to")?.unwrap_or(from + MAX_WINDOW);
    if to < from || to - from > MAX_WINDOW {
        return Err(bad_request(
            "search_to must be at least search_from, and the window at most 100 alerts",
        ));
    }
    let (sort_field, desc) = match data.get("sort") {
        None | Some(Value::Null) => ("creation_time".to_string(), true),
        Some(s) => {
            let field = s
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or("creation_time")
                .to_string();
            let kw = s
                .get("keyword")
                .and_then(Value::as_str)
                .unwrap_or("desc")
                .to_ascii_lowercase();
            if kw != "asc" && kw != "desc" {
                return Err(bad_request("sort.keyword must be asc or desc"));
            }
            (field, kw == "desc")
        }
    };
    let key = match sort_field.as_str() {
        "creation_time" | "server_creation_time" => |f: &SimFinding| f.created_ms,
        "last_modified_ts" => |f: &SimFinding| f.updated_ms,
        "severity" => |f: &SimFinding| i64::from(sev_rank(f.severity)),
        other => {
            return Err(bad_request(&format!("unsupported sort field '{other}'")));
        }
    };

    let world = sim.state.world.read().await;
    let mut hits: Vec<(&SimFinding, String)> = world
        .findings_for(Vendor::CortexXdr)
        .map(|f| (f, alert_id_of(&world, f)))
        .filter(|(f, id)| preds.iter().all(|p| p(f, id)))
        .collect();
    hits.sort_by_key(|(f, _)| (key(f), f.seq));
    if desc {
        hits.reverse();
    }
    let total = hits.len();
    let start = (from as usize).min(total);
    let end = (to as usize).min(total);
    let page: Vec<&SimFinding> = hits[start..end].iter().map(|(f, _)| *f).collect();
    let mut items = super::emit::items(&world, &page);
    drop(world);
    let comments = sim.comments.lock().await;
    for item in &mut items {
        if let Some(c) = item
            .get("alert_id")
            .and_then(Value::as_str)
            .and_then(|id| comments.get(id))
        {
            item["resolution_comment"] = json!(c);
        }
    }
    drop(comments);
    let n = items.len();
    Ok(json!({"reply": {"total_count": total, "result_count": n, "alerts": items}}))
}

/// A status word → the world's state.
fn status_of(word: &str) -> Option<SimStatus> {
    const FALSE_POSITIVE_FAMILY: &[&str] = &[
        "resolved_false_positive",
        "resolved_duplicate",
        "resolved_known_issue",
        "resolved_security_testing",
    ];
    const RESOLVED: &[&str] = &[
        "resolved_threat_handled",
        "resolved_true_positive",
        "resolved_other",
        "resolved_auto",
    ];
    let w = word.trim().to_ascii_lowercase();
    match w.as_str() {
        "new" => Some(SimStatus::Open),
        "under_investigation" => Some(SimStatus::InProgress),
        _ if FALSE_POSITIVE_FAMILY.contains(&w.as_str()) => Some(SimStatus::Dismissed),
        _ if RESOLVED.contains(&w.as_str()) => Some(SimStatus::Resolved),
        _ => None,
    }
}

fn update_status(data: &Value) -> Result<Option<SimStatus>, Reject> {
    match data.get("status") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => status_of(s)
            .map(Some)
            .ok_or_else(|| bad_request(&format!("'{s}' is not a valid status"))),
        Some(_) => Err(bad_request("status must be a string")),
    }
}

async fn update_alerts(sim: &Sim, data: &Value) -> Result<Value, Reject> {
    let ids = match data.get("alert_id_list") {
        Some(v @ Value::Array(_)) => words(v),
        _ => return Err(bad_request("alert_id_list is required")),
    };
    if ids.is_empty() || ids.len() > 100 {
        return Err(bad_request("alert_id_list must hold 1 to 100 alert ids"));
    }
    let update = data.get("update_data").cloned().unwrap_or(Value::Null);
    if !update.is_object() {
        return Err(bad_request("update_data is required"));
    }
    let status = update_status(&update)?;
    let comment = update
        .get("comment")
        .and_then(Value::as_str)
        .map(str::to_string);
    let wanted: HashSet<String> = ids.into_iter().collect();
    let now = sim.state.now_ms();
    let mut world = sim.state.world.write().await;
    let hits: Vec<(usize, String)> = (0..world.findings.len())
        .filter(|&i| world.findings[i].vendor == Vendor::CortexXdr)
        .map(|i| (i, alert_id_of(&world, &world.findings[i])))
        .filter(|(_, id)| wanted.contains(id))
        .collect();
    for (i, _) in &hits {
        let f = &mut world.findings[*i];
        if let Some(s) = status {
            f.status = s;
        }
        f.updated_ms = now.max(f.updated_ms + 1);
    }
    drop(world);
    if let Some(c) = comment {
        let mut comments = sim.comments.lock().await;
        for (_, id) in &hits {
            comments.insert(id.clone(), c.clone());
            sim.state.record_comment(id, &c);
        }
    }
    let updated: Vec<&String> = hits.iter().map(|(_, id)| id).collect();
    Ok(json!({"reply": {"alerts_ids": updated}}))
}

async fn update_incident(sim: &Sim, data: &Value) -> Result<Value, Reject> {
    let Some(incident) = data.get("incident_id").and_then(|v| match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }) else {
        return Err(bad_request("incident_id is required"));
    };
    let update = data.get("update_data").cloned().unwrap_or(Value::Null);
    if !update.is_object() {
        return Err(bad_request("update_data is required"));
    }
    let status = update_status(&update)?;
    let comment = update
        .get("resolve_comment")
        .and_then(Value::as_str)
        .or_else(|| update.pointer("/comment/value").and_then(Value::as_str))
        .map(str::to_string);
    let now = sim.state.now_ms();
    let mut world = sim.state.world.write().await;
    let members: Vec<(usize, String)> = (0..world.findings.len())
        .filter(|&i| world.findings[i].vendor == Vendor::CortexXdr)
        .filter_map(|i| {
            let item = super::emit::items(&world, &[&world.findings[i]])
                .into_iter()
                .next()?;
            let case = item.get("case_id").map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })?;
            (case == incident).then(|| (i, alert_id_of(&world, &world.findings[i])))
        })
        .collect();
    if members.is_empty() {
        return Err(Reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An error occurred while processing XDR public API",
            format!("incident {incident} was not found"),
        ));
    }
    for (i, _) in &members {
        let f = &mut world.findings[*i];
        if let Some(s) = status {
            f.status = s;
        }
        f.updated_ms = now.max(f.updated_ms + 1);
    }
    drop(world);
    if let Some(c) = comment {
        let mut comments = sim.comments.lock().await;
        for (_, id) in &members {
            comments.insert(id.clone(), c.clone());
            sim.state.record_comment(id, &c);
        }
    }
    Ok(json!({"reply": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_sha256_hex_of_key_nonce_timestamp() {
        // sha256("abc") — the FIPS 180-2 test vector.
        assert_eq!(
            signature("a", "b", "c"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn status_words() {
        assert_eq!(status_of("new"), Some(SimStatus::Open));
        assert_eq!(status_of("resolved_other"), Some(SimStatus::Resolved));
        assert_eq!(
            status_of("resolved_false_positive"),
            Some(SimStatus::Dismissed)
        );
        assert_eq!(status_of("closed"), None);
    }
}
