//! The Orca Security API, as the legacy alert-query clients use it.
//!
//! - Auth: a static API token in `Authorization: Token <token>` (XSOAR; Orca's own tooling
//!   writes `TOKEN`, so the scheme is matched case-insensitively). No login, no expiry. A wrong
//!   token is a 401 `{"status": "failure", "error": ...}`.
//! - List: `POST /api/rules/query/alerts` (XSOAR fetch-incidents: form fields `limit`,
//!   `dsl_filter`, `next_page_token`), `GET /api/query/alerts` (XSOAR event collector: the
//!   same as query parameters, with `dsl_filter` as `{"filter": [...], "sort": [...]}`; the
//!   corpus envelope `orca/xsoar-eventcollector-get-alerts.json` comes from this call) and
//!   `POST /api/query/alerts` (JSON or form body). All three serve the same envelope
//!   (`total_items`, `total_supported_items: 10000`, `next_page_token`, `has_next_page_token`).
//! - Filters: `state.last_updated` / `state.created_at` with `range` `{gte, gt, lte, lt}` (ISO
//!   8601), `state.score` / `state.status` / `state.alert_id` with `includes`. Unknown fields,
//!   and fields the fault plan refuses (`refuse=FIELD`), are a 400. Informational alerts
//!   (score 4) are left out unless `state.score` includes 4 (XSOAR's fetch asks for scores
//!   1-4, which implies it); every status is served unless a `state.status` filter narrows it
//!   (XSOAR's fetch sends no status condition and no other parameter; UNCONFIRMED default).
//!   `show_all_statuses_alerts` / `show_informational_alerts`, which no public integration
//!   sends here, are ignored.
//! - Paging: oldest `state.created_at` first (ties by alert id), `limit` up to 1,000, an opaque
//!   `next_page_token` tied to the query; a query yields at most 10,000 alerts
//!   (`total_supported_items`), `total_items` still counts them all.
//! - Write-back: `PUT /api/alerts/{alert_id}/status/{status}` with the XSOAR vocabulary
//!   (`open`, `in_progress`, `close`/`closed`, `dismiss`/`dismissed`).
//! - Faults: the shared gate (429 + Retry-After, 5xx bursts, truncated bodies, latency). A
//!   static token cannot expire, so an `expire@N` fault serves a single 401 at request N (the
//!   token briefly refused) and the next request with the same token succeeds.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use chrono::{DateTime, NaiveDateTime};
use serde_json::{Value, json};

use crate::domain::{EpochMs, Vendor};
use crate::rng::Rng;
use crate::sim::server::{SimState, header, json_response};
use crate::sim::world::{SevWord, SimFinding, SimStatus};

/// Results one query can return (the envelope's `total_supported_items`).
pub const MAX_RESULTS: usize = 10_000;
/// Largest `limit` served per page.
pub const MAX_LIMIT: usize = 1_000;
/// `limit` when the request gives none.
pub const DEFAULT_LIMIT: usize = 1_000;

pub const TOKEN_VAR: &str = "SITREP_SIM_ORCA_TOKEN";

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/query/alerts", get(query_get).post(query_post))
        .route("/api/rules/query/alerts", axum::routing::post(query_post))
        .route("/api/alerts/{alert_id}/status/{status}", put(set_status))
        .with_state(state)
}

/// The token this simulator accepts for `seed`.
pub fn token(seed: u64) -> String {
    let mut rng = Rng::new(seed ^ 0x0bca_70c3);
    format!("orca-sim-{}", rng.hex(48))
}

pub fn credentials(seed: u64) -> Vec<(String, String)> {
    vec![(TOKEN_VAR.to_string(), token(seed))]
}

pub fn source_toml(name: &str, base_url: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nvendor = \"orca\"\nbase_url = \"{base_url}\"\n\
         [source.credentials]\ntoken = {{ env = \"{TOKEN_VAR}\" }}\n"
    )
}

fn failure(status: StatusCode, error: &str) -> Response {
    json_response(status, &json!({"status": "failure", "error": error}))
}

/// The gate, the `expire@N` fault and the static token check, in that order.
async fn admit(
    state: &SimState,
    headers: &HeaderMap,
) -> Result<crate::sim::server::Proceed, Response> {
    let p = state.gate(None).await?;
    let refused = || {
        state.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        failure(StatusCode::UNAUTHORIZED, "Unauthorized: invalid API token")
    };
    if state.faults.expire_at.contains(&p.n) {
        return Err(refused());
    }
    let presented = header(headers, "authorization").and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("token")
            .then(|| rest.trim().to_string())
    });
    if presented.as_deref() != Some(token(state.seed).as_str()) {
        return Err(refused());
    }
    Ok(p)
}

async fn query_get(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let p = match admit(&state, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let params: HashMap<String, Value> = params
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    serve_query(&state, p, &params).await
}

async fn query_post(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match admit(&state, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let json_body =
        header(&headers, "content-type").is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    let params: HashMap<String, Value> = if json_body {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m.into_iter().collect(),
            Ok(Value::Null) => HashMap::new(),
            _ => {
                return failure(StatusCode::BAD_REQUEST, "request body is not a JSON object");
            }
        }
    } else {
        parse_form(&body)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    };
    serve_query(&state, p, &params).await
}

/// `a=1&b=x%20y` → pairs (`+` is a space).
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => match s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                },
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// One `dsl_filter` condition.
#[derive(Debug, Clone)]
enum Cond {
    Range {
        field: TimeField,
        gte: Option<EpochMs>,
        gt: Option<EpochMs>,
        lte: Option<EpochMs>,
        lt: Option<EpochMs>,
    },
    Score(Vec<i64>),
    Status(Vec<String>),
    AlertId(Vec<String>),
}

#[derive(Debug, Clone, Copy)]
enum TimeField {
    LastUpdated,
    CreatedAt,
}

/// ISO 8601 with an offset, or without one (UTC).
fn parse_iso(s: &str) -> Option<EpochMs> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

/// The first condition field of `dsl_filter` that the fault plan refuses.
fn refused_field(v: Option<&Value>, refused: &[String]) -> Option<String> {
    let text = param_text(v)?;
    refused
        .iter()
        .find(|r| text.contains(&format!("\"field\":\"{r}\"")))
        .cloned()
}

fn parse_filter(v: &Value) -> Result<Vec<Cond>, String> {
    // A JSON string (form and query parameters) or the value itself (JSON bodies).
    let parsed;
    let v = match v {
        Value::String(s) if s.trim().is_empty() => return Ok(Vec::new()),
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s)
                .map_err(|e| format!("dsl_filter is not valid JSON: {e}"))?;
            &parsed
        }
        other => other,
    };
    let list = match v {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => match o.get("filter") {
            Some(Value::Array(a)) => a.as_slice(),
            None => &[],
            Some(_) => return Err("dsl_filter.filter must be a list".into()),
        },
        Value::Null => &[],
        _ => return Err("dsl_filter must be a list of conditions".into()),
    };
    list.iter().map(parse_cond).collect()
}

fn parse_cond(c: &Value) -> Result<Cond, String> {
    let field = c
        .get("field")
        .and_then(Value::as_str)
        .ok_or("every dsl_filter condition needs a field")?;
    let time_field = match field {
        "state.last_updated" => Some(TimeField::LastUpdated),
        "state.created_at" => Some(TimeField::CreatedAt),
        _ => None,
    };
    if let Some(field) = time_field {
        let range = c
            .get("range")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{field:?}: expected a range"))?;
        let bound = |k: &str| -> Result<Option<EpochMs>, String> {
            match range.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => parse_iso(s)
                    .map(Some)
                    .ok_or_else(|| format!("range.{k}: '{s}' is not an ISO 8601 time")),
                Some(_) => Err(format!("range.{k}: expected an ISO 8601 string")),
            }
        };
        return Ok(Cond::Range {
            field,
            gte: bound("gte")?,
            gt: bound("gt")?,
            lte: bound("lte")?,
            lt: bound("lt")?,
        });
    }
    let includes = c
        .get("includes")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{field}: expected includes: [...]"))?;
    match field {
        "state.score" => Ok(Cond::Score(
            includes.iter().filter_map(Value::as_i64).collect(),
        )),
        "state.status" => Ok(Cond::Status(
            includes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        )),
        "state.alert_id" => Ok(Cond::AlertId(
            includes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        )),
        other => Err(format!("unsupported filter field '{other}'")),
    }
}

/// `state.score` of a finding, as the emitter writes it.
fn score(f: &SimFinding) -> i64 {
    match f.severity {
        SevWord::Critical => 1,
        SevWord::High => 2,
        SevWord::Medium | SevWord::Low => 3,
        SevWord::Info => 4,
    }
}

fn status_word(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Open => "open",
        SimStatus::InProgress => "in_progress",
        SimStatus::Resolved => "closed",
        SimStatus::Dismissed => "dismissed",
    }
}

fn matches(f: &SimFinding, id: &str, conds: &[Cond]) -> bool {
    let mut asked_info = false;
    for c in conds {
        let ok = match c {
            Cond::Range {
                field,
                gte,
                gt,
                lte,
                lt,
            } => {
                let t = match field {
                    TimeField::LastUpdated => f.updated_ms,
                    TimeField::CreatedAt => f.created_ms,
                };
                gte.is_none_or(|b| t >= b)
                    && gt.is_none_or(|b| t > b)
                    && lte.is_none_or(|b| t <= b)
                    && lt.is_none_or(|b| t < b)
            }
            Cond::Score(s) => {
                asked_info |= s.contains(&4);
                s.contains(&score(f))
            }
            Cond::Status(s) => s.iter().any(|w| w == status_word(f.status)),
            Cond::AlertId(ids) => ids.iter().any(|i| i == id),
        };
        if !ok {
            return false;
        }
    }
    asked_info || score(f) != 4
}

/// FNV-1a, for the cursor's query fingerprint.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn param_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

async fn serve_query(
    state: &SimState,
    p: crate::sim::server::Proceed,
    params: &HashMap<String, Value>,
) -> Response {
    let conds = match params.get("dsl_filter").map(parse_filter).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e),
    };
    if let Some(field) = refused_field(params.get("dsl_filter"), &state.faults.refused_filters) {
        return failure(
            StatusCode::BAD_REQUEST,
            &format!("dsl_filter: field '{field}' is not supported"),
        );
    }
    let limit = match params.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(v) => match param_text(Some(v)).and_then(|s| s.trim().parse::<usize>().ok()) {
            Some(n) if n > 0 => n.min(MAX_LIMIT),
            _ => return failure(StatusCode::BAD_REQUEST, "limit must be a positive integer"),
        },
    };
    let fingerprint = format!(
        "{:012x}",
        fnv(&param_text(params.get("dsl_filter")).unwrap_or_default()) & 0xffff_ffff_ffff
    );
    let offset = match param_text(params.get("next_page_token")).filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match t
            .strip_prefix("npt-")
            .and_then(|r| r.split_once('-'))
            .filter(|(fp, _)| *fp == fingerprint)
            .and_then(|(_, off)| usize::from_str_radix(off, 16).ok())
        {
            Some(o) => o,
            None => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "next_page_token is invalid or belongs to another query",
                );
            }
        },
    };

    let world = state.world.read().await;
    let mut hits: Vec<(&SimFinding, String)> = world
        .findings_for(Vendor::Orca)
        .map(|f| (f, super::emit::native_id(&world, f)))
        .filter(|(f, id)| matches(f, id, &conds))
        .collect();
    hits.sort_by_key(|(f, _)| (f.created_ms, f.seq));
    let total = hits.len();
    let reachable = total.min(MAX_RESULTS);
    let start = offset.min(reachable);
    let end = (start + limit).min(reachable);
    let page: Vec<&SimFinding> = hits[start..end].iter().map(|(f, _)| *f).collect();
    let items = super::emit::items(&world, &page);
    drop(world);
    let more = end < reachable;
    let mut body = super::emit::list_body(items);
    body["total_items"] = json!(total);
    body["total_ungrouped_items"] = json!(total);
    body["total_supported_items"] = json!(MAX_RESULTS);
    body["has_next_page_token"] = json!(more);
    body["next_page_token"] = if more {
        json!(format!("npt-{fingerprint}-{end:x}"))
    } else {
        Value::Null
    };
    state.respond(p, StatusCode::OK, &body)
}

async fn set_status(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path((alert_id, status)): Path<(String, String)>,
) -> Response {
    let p = match admit(&state, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let new = match status.as_str() {
        "open" => SimStatus::Open,
        "in_progress" => SimStatus::InProgress,
        "close" | "closed" => SimStatus::Resolved,
        "dismiss" | "dismissed" => SimStatus::Dismissed,
        other => {
            return failure(
                StatusCode::BAD_REQUEST,
                &format!("'{other}' is not a valid alert status"),
            );
        }
    };
    let now = state.now_ms();
    let mut world = state.world.write().await;
    let found = (0..world.findings.len()).find(|&i| {
        let f = &world.findings[i];
        f.vendor == Vendor::Orca && super::emit::native_id(&world, f) == alert_id
    });
    let Some(i) = found else {
        return failure(
            StatusCode::NOT_FOUND,
            &format!("alert {alert_id} not found"),
        );
    };
    let f = &mut world.findings[i];
    f.status = new;
    f.updated_ms = now.max(f.updated_ms + 1);
    drop(world);
    state.respond(
        p,
        StatusCode::OK,
        &json!({"status": "success", "data": {"alert_id": alert_id, "status": status_word(new)}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_times_parse() {
        let f = parse_form(b"limit=500&dsl_filter=%5B%7B%22a%22%3A1%7D%5D&x=a+b&y");
        assert_eq!(f["limit"], "500");
        assert_eq!(f["dsl_filter"], "[{\"a\":1}]");
        assert_eq!(f["x"], "a b");
        assert_eq!(f["y"], "");
        assert_eq!(parse_iso("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse_iso("2023-11-14T22:13:20.500000+00:00"),
            Some(1_700_000_000_500)
        );
        assert_eq!(parse_iso("2023-11-14T22:13:20"), Some(1_700_000_000_000));
        assert!(parse_filter(&json!("[{\"field\":\"state.nope\",\"includes\":[]}]")).is_err());
        let c = parse_filter(&json!({"filter": [{"field": "state.created_at", "range": {"gt": "2023-11-14T22:13:20Z"}}], "sort": []}))
            .expect("filter");
        assert_eq!(c.len(), 1);
    }
}
