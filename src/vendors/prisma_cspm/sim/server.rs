//! Prisma Cloud CSPM simulator: the Enterprise API ("RedLock") as pan.dev documents it.
//!
//! - `POST /login` `{username: <access key>, password: <secret>}` → `LoginResponseModel`
//!   (`token`, `message`, `customerNames`); a JWT-like token valid 10 minutes.
//! - `GET /auth_token/extend` with `x-redlock-auth` → a new token (the old one must still be
//!   valid; an extension is not counted as a login).
//! - `POST /v2/alert?detailed=true` with a `FilterModel` body (`timeRange`, `filters`,
//!   `limit`, `sortBy`) → `PagedResultsAlertModel`. Later pages: a body holding only
//!   `{"pageToken": …}` (the token remembers the query). A `nextPageToken` comes back on every
//!   page that has items, the last one included; the empty page past the end has none (as
//!   Elastic's recorded pagination shows).
//! - Time filtering: `timeRange` absolute `{startTime, endTime}` (epoch ms), relative
//!   `{amount, unit}` or `to_now`. Which alert time it applies to is the `timeRange.type`
//!   filter: `ALERT_OPENED` (the default: `alertTime`), `ALERT_UPDATED` (`lastUpdated`,
//!   which moves on every change, status changes included) or `ALERT_STATUS_UPDATED` (taken
//!   as `lastUpdated` too, since the world stamps every change there).
//! - `POST /alert/dismiss` (with `dismissalTimeRange`: snooze) and `POST /alert/reopen`, with
//!   `AlertStatusChangeRequestModel` (`alerts`, `policies`, `dismissalNote`, `filter` — the
//!   filter is required: 400 `missing_required_parameter` without it).
//! - Errors as Prisma sends them: the status code, an empty body and an `x-redlock-status`
//!   header holding `[{"i18nKey": …, "severity": "error", "subject": …}]` (a 403 from the fault
//!   plan is `permission_error`); 429s carry `Retry-After` and the
//!   `X-RateLimit-*` headers (every `/v2/alert` response carries the latter).

// Handlers' helpers return the axum response to send as their error, as `SimState::gate` does.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::emit;
use crate::domain::{EpochMs, Vendor};
use crate::rng::Rng;
use crate::sim::server::{SimState, header, json_response};
use crate::sim::world::{SevWord, SimFinding, SimStatus, World};

/// Token lifetime: 10 minutes, as pan.dev says.
pub const TOKEN_TTL: Duration = Duration::from_secs(600);
/// Largest `limit` the simulator serves per page (pcapi / XSOAR: 10,000; UNCONFIRMED for v2).
pub const MAX_LIMIT: usize = 10_000;
/// `limit` when the body gives none.
pub const DEFAULT_LIMIT: usize = 100;

/// Page tokens remembered before the oldest are forgotten (a forgotten token gets a 400).
const MAX_CURSORS: usize = 100_000;

const ENV_ACCESS_KEY: &str = "SITREP_SIM_PRISMA_CSPM_ACCESS_KEY";
const ENV_SECRET_KEY: &str = "SITREP_SIM_PRISMA_CSPM_SECRET_KEY";

/// The access key id and secret this simulator accepts for `seed`.
fn keys(seed: u64) -> (String, String) {
    let mut rng = Rng::new(seed ^ 0x7072_6973_6d61_6373);
    (rng.uuid(), format!("{}=", rng.hex(27)))
}

pub fn credentials(seed: u64) -> Vec<(String, String)> {
    let (access, secret) = keys(seed);
    vec![
        (ENV_ACCESS_KEY.to_string(), access),
        (ENV_SECRET_KEY.to_string(), secret),
    ]
}

pub fn source_toml(name: &str, base_url: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nvendor = \"prisma-cspm\"\nbase_url = \"{base_url}\"\n\
         [source.credentials]\naccess_key = {{ env = \"{ENV_ACCESS_KEY}\" }}\n\
         secret_key = {{ env = \"{ENV_SECRET_KEY}\" }}\n"
    )
}

/// Which alert time a `timeRange` applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeField {
    Opened,
    Updated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Id,
    AlertTime,
    LastUpdated,
}

/// A list query, as the first page's body gave it.
#[derive(Debug, Clone)]
struct ListQuery {
    start: Option<EpochMs>,
    end: Option<EpochMs>,
    field: TimeField,
    statuses: Vec<String>,
    severities: Vec<String>,
    policy_ids: Vec<String>,
    sort: SortKey,
    descending: bool,
    limit: usize,
}

#[derive(Debug, Clone)]
struct Cursor {
    query: ListQuery,
    offset: usize,
}

/// A snoozed alert: dismissed until `until`.
#[derive(Debug, Clone)]
struct Snooze {
    until: EpochMs,
}

struct Cspm {
    sim: Arc<SimState>,
    cursors: Mutex<HashMap<String, Cursor>>,
    /// seq → snooze, valid while the finding stays dismissed.
    snoozes: Mutex<HashMap<u64, Snooze>>,
    /// seq → the note given when dismissing.
    notes: Mutex<HashMap<u64, String>>,
}

pub fn router(state: Arc<SimState>) -> Router {
    let app = Arc::new(Cspm {
        sim: state,
        cursors: Mutex::new(HashMap::new()),
        snoozes: Mutex::new(HashMap::new()),
        notes: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/login", post(login))
        .route("/auth_token/extend", get(extend))
        .route("/v2/alert", post(list))
        .route("/alert/dismiss", post(dismiss))
        .route("/alert/reopen", post(reopen))
        .with_state(app)
}

/// A Prisma error: the status and an `x-redlock-status` header naming the i18n key, with an
/// empty body (the official spec's error responses — `/login` 401, `/v2/alert` 400,
/// `/alert/dismiss` 403/404 — declare no content; the reason travels in the header, which is
/// what public integrations read).
fn redlock_error(status: StatusCode, key: &str, subject: Option<&str>) -> Response {
    let detail = json!([{ "i18nKey": key, "severity": "error", "subject": subject }]);
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&detail.to_string()) {
        r.headers_mut().insert("x-redlock-status", v);
    }
    r
}

/// The rate-limit headers Prisma puts on its responses (`/v2/alert`: 2 req/s, burst 10).
fn rate_headers(r: &mut Response, remaining: u32) {
    let h = r.headers_mut();
    h.insert("x-ratelimit-burst-capacity", HeaderValue::from_static("10"));
    h.insert("x-ratelimit-replenish-rate", HeaderValue::from_static("2"));
    h.insert(
        "x-ratelimit-requested-tokens",
        HeaderValue::from_static("1"),
    );
    if let Ok(v) = HeaderValue::from_str(&remaining.to_string()) {
        h.insert("x-ratelimit-remaining", v);
    }
}

/// Turn the gate's generic fault response into Prisma's shape.
fn prisma_fault(mut r: Response) -> Response {
    match r.status() {
        StatusCode::UNAUTHORIZED => redlock_error(StatusCode::UNAUTHORIZED, "token_expired", None),
        // A role without the permission (spec: `/alert/dismiss` 403 `permission_error`).
        StatusCode::FORBIDDEN => redlock_error(StatusCode::FORBIDDEN, "permission_error", None),
        StatusCode::TOO_MANY_REQUESTS => {
            rate_headers(&mut r, 0);
            r
        }
        _ => r,
    }
}

async fn login(State(app): State<Arc<Cspm>>, body: Bytes) -> Response {
    app.sim.auth_request();
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return redlock_error(StatusCode::BAD_REQUEST, "invalid_parameter_value", None);
    };
    let (access, secret) = keys(app.sim.seed);
    let user = v.get("username").and_then(Value::as_str);
    let pass = v.get("password").and_then(Value::as_str);
    if user.is_none() || pass.is_none() {
        return redlock_error(
            StatusCode::BAD_REQUEST,
            "missing_required_parameter",
            Some("username"),
        );
    }
    if user != Some(access.as_str()) || pass != Some(secret.as_str()) {
        app.sim
            .counters
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return redlock_error(StatusCode::UNAUTHORIZED, "invalid_credentials", None);
    }
    let token = app.sim.issue_token(Some(TOKEN_TTL)).await;
    json_response(StatusCode::OK, &login_body(&token))
}

fn login_body(token: &str) -> Value {
    json!({
        "token": token,
        "message": "login_successful",
        "customerNames": [{ "customerName": "sitrep-sim", "prismaId": "806775661478408192", "tosAccepted": true }],
    })
}

async fn extend(State(app): State<Arc<Cspm>>, headers: HeaderMap) -> Response {
    app.sim.auth_request();
    let Some(old) = header(&headers, "x-redlock-auth") else {
        return redlock_error(StatusCode::UNAUTHORIZED, "token_expired", None);
    };
    match app.sim.extend_token(old.trim(), Some(TOKEN_TTL)).await {
        Some(new) => json_response(StatusCode::OK, &login_body(&new)),
        None => {
            app.sim
                .counters
                .unauthorized
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            redlock_error(StatusCode::UNAUTHORIZED, "token_expired", None)
        }
    }
}

/// Start and end (epoch ms) of a `TimeRangeConfigModel`, relative to `now`.
fn time_range(tr: &Value, now: EpochMs) -> Result<(Option<EpochMs>, Option<EpochMs>), String> {
    let kind = tr.get("type").and_then(Value::as_str).unwrap_or("");
    let value = tr.get("value").cloned().unwrap_or(Value::Null);
    match kind {
        "absolute" => {
            let s = value.get("startTime").and_then(Value::as_i64);
            let e = value.get("endTime").and_then(Value::as_i64);
            match (s, e) {
                (Some(s), Some(e)) if s <= e => Ok((Some(s), Some(e))),
                _ => Err("timeRange.value".into()),
            }
        }
        "relative" => {
            let amount = value.get("amount").and_then(|a| {
                a.as_i64()
                    .or_else(|| a.as_str().and_then(|s| s.parse().ok()))
            });
            let unit = value.get("unit").and_then(Value::as_str);
            let ms = match unit {
                Some("minute") => 60_000,
                Some("hour") => 3_600_000,
                Some("day") => 86_400_000,
                Some("week") => 7 * 86_400_000,
                Some("month") => 30 * 86_400_000,
                Some("year") => 365 * 86_400_000,
                _ => return Err("timeRange.value.unit".into()),
            };
            match amount {
                Some(a) if a >= 0 => Ok((Some(now - a * ms), Some(now))),
                _ => Err("timeRange.value.amount".into()),
            }
        }
        "to_now" => match value.as_str() {
            Some("epoch") | Some("login") | None => Ok((None, Some(now))),
            Some("day") => Ok((Some(now - now.rem_euclid(86_400_000)), Some(now))),
            Some(_) => Ok((None, Some(now))),
        },
        _ => Err("timeRange.type".into()),
    }
}

fn parse_query(body: &Value, now: EpochMs) -> Result<ListQuery, String> {
    let (start, end) = match body.get("timeRange") {
        None | Some(Value::Null) => (None, None),
        Some(tr) => time_range(tr, now)?,
    };
    let mut q = ListQuery {
        start,
        end,
        field: TimeField::Opened,
        statuses: Vec::new(),
        severities: Vec::new(),
        policy_ids: Vec::new(),
        sort: SortKey::Id,
        descending: false,
        limit: DEFAULT_LIMIT,
    };
    if let Some(filters) = body.get("filters").and_then(Value::as_array) {
        for f in filters {
            let name = f.get("name").and_then(Value::as_str).unwrap_or("");
            let op = f.get("operator").and_then(Value::as_str).unwrap_or("=");
            if op != "=" {
                return Err("filters.operator".into());
            }
            let value = f
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match name {
                "timeRange.type" => {
                    q.field = match value.as_str() {
                        "ALERT_OPENED" => TimeField::Opened,
                        "ALERT_UPDATED" | "ALERT_STATUS_UPDATED" => TimeField::Updated,
                        _ => return Err("filters.timeRange.type".into()),
                    }
                }
                "alert.status" => q.statuses.push(value.to_ascii_lowercase()),
                "policy.severity" => q.severities.push(value.to_ascii_lowercase()),
                "policy.id" => q.policy_ids.push(value),
                // Other filter names are accepted and not applied by the simulator.
                _ => {}
            }
        }
    }
    if let Some(limit) = body.get("limit") {
        match limit.as_u64() {
            Some(n) if n >= 1 => q.limit = (n as usize).min(MAX_LIMIT),
            _ => return Err("limit".into()),
        }
    }
    if let Some(sort) = body.get("sortBy").and_then(Value::as_array)
        && let Some(first) = sort.first().and_then(Value::as_str)
    {
        let (col, dir) = first.split_once(':').unwrap_or((first, "asc"));
        q.sort = match col {
            "id" => SortKey::Id,
            "alertTime" => SortKey::AlertTime,
            "lastUpdated" => SortKey::LastUpdated,
            _ => return Err("sortBy".into()),
        };
        q.descending = match dir {
            "asc" => false,
            "desc" => true,
            _ => return Err("sortBy".into()),
        };
    }
    Ok(q)
}

/// The severity word the emitter writes for `policy.severity`.
fn severity_word(s: SevWord) -> &'static str {
    match s {
        SevWord::Critical => "critical",
        SevWord::High => "high",
        SevWord::Medium => "medium",
        SevWord::Low => "low",
        SevWord::Info => "informational",
    }
}

/// The status word the emitter writes for `f`, with the simulator's snoozes applied.
fn status_word(f: &SimFinding, snoozes: &HashMap<u64, Snooze>) -> &'static str {
    match f.status {
        SimStatus::Open => "open",
        SimStatus::InProgress => "pending_resolution",
        SimStatus::Resolved => "resolved",
        SimStatus::Dismissed if snoozes.contains_key(&f.seq) => "snoozed",
        SimStatus::Dismissed => "dismissed",
    }
}

fn matches(q: &ListQuery, f: &SimFinding, snoozes: &HashMap<u64, Snooze>) -> bool {
    let t = match q.field {
        TimeField::Opened => f.created_ms,
        TimeField::Updated => f.updated_ms,
    };
    if q.start.is_some_and(|s| t < s) || q.end.is_some_and(|e| t > e) {
        return false;
    }
    if !q.statuses.is_empty() && !q.statuses.iter().any(|s| s == status_word(f, snoozes)) {
        return false;
    }
    if !q.severities.is_empty() {
        let sev = severity_word(f.severity);
        if !q.severities.iter().any(|s| s == sev) {
            return false;
        }
    }
    if !q.policy_ids.is_empty() && !q.policy_ids.iter().any(|p| p == f.rule.id) {
        return false;
    }
    true
}

fn select<'w>(
    world: &'w World,
    q: &ListQuery,
    snoozes: &HashMap<u64, Snooze>,
) -> Vec<&'w SimFinding> {
    let mut v: Vec<&SimFinding> = world
        .findings_for(Vendor::PrismaCspm)
        .filter(|f| matches(q, f, snoozes))
        .collect();
    match q.sort {
        SortKey::Id => v.sort_by_key(|f| f.seq),
        SortKey::AlertTime => v.sort_by_key(|f| (f.created_ms, f.seq)),
        SortKey::LastUpdated => v.sort_by_key(|f| (f.updated_ms, f.seq)),
    }
    if q.descending {
        v.reverse();
    }
    v
}

/// The emitter's alert with the simulator's own state applied (snoozes, dismissal notes).
fn alert_item(
    world: &World,
    f: &SimFinding,
    snoozes: &HashMap<u64, Snooze>,
    notes: &HashMap<u64, String>,
) -> Value {
    let mut item = emit::items(world, &[f]).pop().unwrap_or(Value::Null);
    if f.status == SimStatus::Dismissed {
        if let Some(s) = snoozes.get(&f.seq) {
            item["status"] = json!("snoozed");
            item["dismissalUntilTs"] = json!(s.until);
        }
        if let Some(n) = notes.get(&f.seq) {
            item["dismissalNote"] = json!(n);
        }
    }
    item
}

async fn list(
    State(app): State<Arc<Cspm>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = header(&headers, "x-redlock-auth").unwrap_or_default();
    let proceed = match app.sim.gate(Some(token.trim())).await {
        Ok(p) => p,
        Err(r) => return prisma_fault(r),
    };
    if let Some(d) = params.get("detailed")
        && d != "true"
        && d != "false"
    {
        return redlock_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter_value",
            Some("detailed"),
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return redlock_error(StatusCode::BAD_REQUEST, "invalid_parameter_value", None);
    };
    let cursor = match body.get("pageToken").and_then(Value::as_str) {
        Some(t) => match app.cursors.lock().await.get(t) {
            Some(c) => c.clone(),
            None => {
                return redlock_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter_value",
                    Some("pageToken"),
                );
            }
        },
        None => match parse_query(&body, app.sim.now_ms()) {
            Ok(query) => Cursor { query, offset: 0 },
            Err(subject) => {
                return redlock_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter_value",
                    Some(&subject),
                );
            }
        },
    };
    let items = {
        let world = app.sim.world.read().await;
        let snoozes = app.snoozes.lock().await;
        let notes = app.notes.lock().await;
        let selected = select(&world, &cursor.query, &snoozes);
        let page: Vec<Value> = selected
            .iter()
            .skip(cursor.offset)
            .take(cursor.query.limit)
            .map(|f| alert_item(&world, f, &snoozes, &notes))
            .collect();
        (selected.len(), page)
    };
    let (total, page) = items;
    // As the real API ends a listing (corpus `prisma-cspm/elastic-v2-alert-post-page*.json`):
    // every page with items carries a token, the last data page included; the empty page
    // after it carries none, which is what ends pcapi's `paginated` loop.
    let mut body = json!({
        "totalRows": total,
        "items": page,
        "sortAllowedColumns": ["id", "alertTime", "lastUpdated"],
    });
    if !page.is_empty() {
        let next = format!("sim-{}", app.sim.random_hex(48).await);
        let mut cursors = app.cursors.lock().await;
        // Tokens stay valid (a retried page re-sends its token) until there are very many.
        if cursors.len() >= MAX_CURSORS {
            cursors.clear();
        }
        cursors.insert(
            next.clone(),
            Cursor {
                query: cursor.query.clone(),
                offset: cursor.offset + page.len(),
            },
        );
        body["nextPageToken"] = json!(next);
    }
    let mut r = app.sim.respond(proceed, StatusCode::OK, &body);
    rate_headers(&mut r, 9);
    r
}

/// The findings an `AlertStatusChangeRequestModel` names: its `alerts`, or every alert of its
/// `policies` matching its filter.
fn targets(world: &World, body: &Value, now: EpochMs) -> Result<Vec<usize>, Response> {
    let filter = match body.get("filter") {
        Some(f) if f.is_object() => f,
        _ => {
            return Err(redlock_error(
                StatusCode::BAD_REQUEST,
                "missing_required_parameter",
                Some("filter"),
            ));
        }
    };
    let mut query = parse_query(filter, now)
        .map_err(|s| redlock_error(StatusCode::BAD_REQUEST, "invalid_parameter_value", Some(&s)))?;
    let strings = |k: &str| -> Vec<String> {
        body.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let alerts = strings("alerts");
    let policies = strings("policies");
    if alerts.is_empty() && policies.is_empty() {
        return Err(redlock_error(
            StatusCode::BAD_REQUEST,
            "missing_required_parameter",
            Some("alerts"),
        ));
    }
    query.policy_ids = policies;
    let none = HashMap::new();
    Ok(world
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.vendor == Vendor::PrismaCspm)
        .filter(|(_, f)| {
            if alerts.is_empty() {
                matches(&query, f, &none)
            } else {
                alerts.contains(&emit::native_id(world, f))
            }
        })
        .map(|(i, _)| i)
        .collect())
}

/// End of a snooze from `dismissalTimeRange`.
fn snooze_until(tr: &Value, now: EpochMs) -> Result<EpochMs, Response> {
    let bad = || {
        redlock_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter_value",
            Some("dismissalTimeRange"),
        )
    };
    match tr.get("type").and_then(Value::as_str) {
        Some("relative") => {
            let (start, _) = time_range(tr, now).map_err(|_| bad())?;
            let span = now - start.ok_or_else(bad)?;
            if span <= 0 {
                return Err(bad());
            }
            Ok(now + span)
        }
        Some("absolute") => {
            let (_, end) = time_range(tr, now).map_err(|_| bad())?;
            match end {
                Some(e) if e > now => Ok(e),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

async fn change_gate(app: &Cspm, headers: &HeaderMap) -> Result<(), Response> {
    let token = header(headers, "x-redlock-auth").unwrap_or_default();
    app.sim
        .gate(Some(token.trim()))
        .await
        .map(|_| ())
        .map_err(prisma_fault)
}

async fn dismiss(State(app): State<Arc<Cspm>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = change_gate(&app, &headers).await {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return redlock_error(StatusCode::BAD_REQUEST, "invalid_parameter_value", None);
    };
    let now = app.sim.now_ms();
    let until = match body.get("dismissalTimeRange") {
        None | Some(Value::Null) => None,
        Some(tr) => match snooze_until(tr, now) {
            Ok(u) => Some(u),
            Err(r) => return r,
        },
    };
    let note = body
        .get("dismissalNote")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut world = app.sim.world.write().await;
    let idx = match targets(&world, &body, now) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let open: Vec<usize> = idx
        .into_iter()
        .filter(|&i| matches!(world.findings[i].status, SimStatus::Open))
        .collect();
    if open.is_empty() {
        return redlock_error(
            StatusCode::NOT_FOUND,
            "alert_no_longer_in_expected_state",
            None,
        );
    }
    let mut snoozes = app.snoozes.lock().await;
    let mut notes = app.notes.lock().await;
    for i in open {
        let f = &mut world.findings[i];
        f.status = SimStatus::Dismissed;
        f.updated_ms = now.max(f.updated_ms + 1);
        match until {
            Some(u) => {
                snoozes.insert(f.seq, Snooze { until: u });
            }
            None => {
                snoozes.remove(&f.seq);
            }
        }
        match &note {
            Some(n) => {
                notes.insert(f.seq, n.clone());
            }
            None => {
                notes.remove(&f.seq);
            }
        }
    }
    ok_empty()
}

async fn reopen(State(app): State<Arc<Cspm>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = change_gate(&app, &headers).await {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return redlock_error(StatusCode::BAD_REQUEST, "invalid_parameter_value", None);
    };
    let now = app.sim.now_ms();
    let mut world = app.sim.world.write().await;
    let idx = match targets(&world, &body, now) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let closed: Vec<usize> = idx
        .into_iter()
        .filter(|&i| world.findings[i].status == SimStatus::Dismissed)
        .collect();
    if closed.is_empty() {
        return redlock_error(
            StatusCode::NOT_FOUND,
            "alert_no_longer_in_expected_state",
            None,
        );
    }
    let mut snoozes = app.snoozes.lock().await;
    let mut notes = app.notes.lock().await;
    for i in closed {
        let f = &mut world.findings[i];
        f.status = SimStatus::Open;
        f.updated_ms = now.max(f.updated_ms + 1);
        snoozes.remove(&f.seq);
        notes.remove(&f.seq);
    }
    ok_empty()
}

fn ok_empty() -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::OK;
    r
}
