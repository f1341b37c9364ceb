//! Prisma Cloud Compute simulator (the Compute Console API, ex-Twistlock).
//!
//! - `POST /api/<ver>/authenticate` `{username, password}` → `{"token": …}`; the token goes in
//!   `Authorization: Bearer`. `<ver>` is `v<major>[.<minor>]` (`v34.04`, `v1`, …).
//! - Lists, each a JSON array (`null` when empty, as Go marshals a nil slice), paged by
//!   `offset` / `limit` (default 50, at most 250; the fault plan's `pagecap=N` serves at most
//!   N, as older consoles cap at 50) with the total in the `Total-Count` header:
//!   - `GET /audits/incidents` — runtime findings, one incident each. `from` / `to`
//!     (RFC 3339) select incidents by their **last activity** (the time of their latest
//!     audit), so an incident whose state changed is in the window; `acknowledged=true|false`
//!     filters on the archive flag.
//!   - `GET /images` (vulnerabilities of workloads), `GET /containers` (compliance of
//!     workloads), `GET /hosts` (everything else on hosts and VMs), `GET /serverless`
//!     (functions): scan results exactly as `sim/emit.rs` groups them. Scan
//!     results have no "changed since" filter. These endpoints allow 30 requests per 30 s
//!     each, as the docs say; the 31st gets a 429 with `Retry-After`.
//! - `PATCH /audits/incidents/acknowledge/{id}` `{"acknowledged": true|false}` archives or
//!   restores an incident.
//! - Errors are `{"err": "…"}` with the status code.

// Handlers' helpers return the axum response to send as their error, as `SimState::gate` does.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, patch, post};
use chrono::DateTime;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::emit;
use crate::domain::{EpochMs, Vendor};
use crate::rng::Rng;
use crate::sim::server::{SimState, bearer, json_response, too_many_requests};
use crate::sim::world::{ResourceKind, RuleCategory, SimFinding, SimStatus, World};

/// Token lifetime (self-hosted default: 30 minutes).
pub const TOKEN_TTL: Duration = Duration::from_secs(1800);
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 250;
/// Requests per window on the scan-result endpoints.
pub const SCAN_RATE: usize = 30;
pub const SCAN_WINDOW: Duration = Duration::from_secs(30);

const ENV_USER: &str = "SITREP_SIM_PRISMA_COMPUTE_USERNAME";
const ENV_PASSWORD: &str = "SITREP_SIM_PRISMA_COMPUTE_PASSWORD";

fn keys(seed: u64) -> (String, String) {
    let mut rng = Rng::new(seed ^ 0x636f_6d70_7574_6521);
    (rng.uuid(), format!("{}=", rng.hex(27)))
}

pub fn credentials(seed: u64) -> Vec<(String, String)> {
    let (user, pass) = keys(seed);
    vec![
        (ENV_USER.to_string(), user),
        (ENV_PASSWORD.to_string(), pass),
    ]
}

pub fn source_toml(name: &str, base_url: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nvendor = \"prisma-compute\"\nbase_url = \"{base_url}\"\n\
         [source.credentials]\nusername = {{ env = \"{ENV_USER}\" }}\n\
         password = {{ env = \"{ENV_PASSWORD}\" }}\n\
         [source.options]\napi_version = \"v34.04\"\n"
    )
}

/// Which list a finding is served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Incidents,
    Images,
    Containers,
    Hosts,
    Serverless,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Incidents => "audits/incidents",
            Endpoint::Images => "images",
            Endpoint::Containers => "containers",
            Endpoint::Hosts => "hosts",
            Endpoint::Serverless => "serverless",
        }
    }
}

/// The endpoint serving `f`, as the emitter groups findings.
pub fn endpoint_of(world: &World, f: &SimFinding) -> Endpoint {
    if f.rule.category == RuleCategory::Runtime {
        return Endpoint::Incidents;
    }
    match (world.resource_of(f).kind, f.rule.category) {
        (ResourceKind::Function, _) => Endpoint::Serverless,
        (ResourceKind::Workload, RuleCategory::Vulnerability) => Endpoint::Images,
        (ResourceKind::Workload, _) => Endpoint::Containers,
        _ => Endpoint::Hosts,
    }
}

/// Take up to `n` vulnerabilities and compliance issues out of the simulated Compute's scan
/// results, as fixes and deleted workloads do (Compute drops them; it has no closed state for
/// them). Returns the native ids the scan results no longer hold (a repeat's `#2` can move
/// onto its key when the first is fixed, as with the real payloads).
pub async fn fix_findings(state: &SimState, n: usize) -> Vec<String> {
    let now = state.now_ms();
    let mut world = state.world.write().await;
    let mut rng = crate::rng::Rng::new(state.seed ^ now as u64 ^ 0x5ca9);
    let before = emit::scan_native_ids(&world);
    let from = world.retired.len();
    world.retire(&mut rng, Vendor::PrismaCompute, n, |f| {
        f.rule.category != RuleCategory::Runtime
    });
    // The scan that no longer found them is newer: a scan result's `scanTime` (the latest
    // of its findings' times here) moves on.
    let rescanned: std::collections::HashSet<usize> =
        world.retired[from..].iter().map(|f| f.resource).collect();
    for f in world.findings.iter_mut() {
        if f.vendor == Vendor::PrismaCompute
            && f.rule.category != RuleCategory::Runtime
            && rescanned.contains(&f.resource)
        {
            f.updated_ms = now;
        }
    }
    let after = emit::scan_native_ids(&world);
    before.difference(&after).cloned().collect()
}

/// Put up to `n` fixed findings back into the scan results (oldest fix first), as a rollback
/// reintroduces a vulnerability; the native ids that are listed again.
pub async fn reintroduce_findings(state: &SimState, n: usize) -> Vec<String> {
    let now = state.now_ms();
    let mut world = state.world.write().await;
    let before = emit::scan_native_ids(&world);
    let from = world.findings.len();
    world.reinstate(n);
    // Found again by a newer scan.
    for f in &mut world.findings[from..] {
        f.updated_ms = now;
    }
    let after = emit::scan_native_ids(&world);
    after.difference(&before).cloned().collect()
}

struct Compute {
    sim: Arc<SimState>,
    /// Recent request instants per scan endpoint (30 per 30 s).
    scan_calls: Mutex<HashMap<Endpoint, VecDeque<Instant>>>,
    /// Per scan endpoint: no request before this instant (a 429 said so).
    scan_not_before: Mutex<HashMap<Endpoint, Instant>>,
}

pub fn router(state: Arc<SimState>) -> Router {
    let app = Arc::new(Compute {
        sim: state,
        scan_calls: Mutex::new(HashMap::new()),
        scan_not_before: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/api/{ver}/authenticate", post(authenticate))
        .route("/api/{ver}/audits/incidents", get(incidents))
        .route(
            "/api/{ver}/audits/incidents/acknowledge/{id}",
            patch(acknowledge),
        )
        .route("/api/{ver}/images", get(images))
        .route("/api/{ver}/containers", get(containers))
        .route("/api/{ver}/hosts", get(hosts))
        .route("/api/{ver}/serverless", get(serverless))
        .with_state(app)
}

fn err(status: StatusCode, msg: &str) -> Response {
    json_response(status, &json!({ "err": msg }))
}

fn version_ok(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let major_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let minor_ok = parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    major_ok && minor_ok && rest.split('.').count() <= 2
}

fn not_found() -> Response {
    err(StatusCode::NOT_FOUND, "404 page not found")
}

/// Turn the gate's generic fault response into Compute's shape.
fn compute_fault(r: Response) -> Response {
    match r.status() {
        StatusCode::UNAUTHORIZED => err(StatusCode::UNAUTHORIZED, "unauthorized"),
        StatusCode::SERVICE_UNAVAILABLE => {
            err(StatusCode::SERVICE_UNAVAILABLE, "service unavailable")
        }
        _ => r,
    }
}

async fn authenticate(
    State(app): State<Arc<Compute>>,
    Path(ver): Path<String>,
    body: Bytes,
) -> Response {
    if !version_ok(&ver) {
        return not_found();
    }
    app.sim.auth_request();
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "invalid request body");
    };
    let (user, pass) = keys(app.sim.seed);
    if v.get("username").and_then(Value::as_str) != Some(user.as_str())
        || v.get("password").and_then(Value::as_str) != Some(pass.as_str())
    {
        app.sim.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        return err(StatusCode::UNAUTHORIZED, "invalid credentials");
    }
    let token = app.sim.issue_token(Some(TOKEN_TTL)).await;
    json_response(StatusCode::OK, &json!({ "token": token }))
}

/// `offset` and `limit` from the query (limit defaults to 50, at most 250, or at most the
/// fault plan's `pagecap`: an older console that serves fewer than asked).
fn paging(q: &HashMap<String, String>, cap: Option<usize>) -> Result<(usize, usize), Response> {
    let offset = match q.get("offset") {
        None => 0,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| err(StatusCode::BAD_REQUEST, "invalid offset"))?,
    };
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(0) => DEFAULT_LIMIT,
            Ok(n) => n.min(MAX_LIMIT),
            Err(_) => return Err(err(StatusCode::BAD_REQUEST, "invalid limit")),
        },
    };
    Ok((offset, cap.map_or(limit, |c| limit.min(c))))
}

fn rfc3339_ms(s: &str) -> Option<EpochMs> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// A page of a list: a JSON array (or `null`), with `Total-Count`.
fn page_response(
    app: &Compute,
    p: crate::sim::server::Proceed,
    total: usize,
    items: Vec<Value>,
) -> Response {
    let body = if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    };
    let mut r = app.sim.respond(p, StatusCode::OK, &body);
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        r.headers_mut().insert("total-count", v);
    }
    r
}

async fn incidents(
    State(app): State<Arc<Compute>>,
    Path(ver): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !version_ok(&ver) {
        return not_found();
    }
    let token = bearer(&headers).unwrap_or_default();
    let proceed = match app.sim.gate(Some(&token)).await {
        Ok(p) => p,
        Err(r) => return compute_fault(r),
    };
    let (offset, limit) = match paging(&q, app.sim.faults.page_cap) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let time = |k: &str| -> Result<Option<EpochMs>, Response> {
        match q.get(k) {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => rfc3339_ms(s)
                .map(Some)
                .ok_or_else(|| err(StatusCode::BAD_REQUEST, &format!("invalid {k} time"))),
        }
    };
    let (from, to) = match (time("from"), time("to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let acknowledged = match q.get("acknowledged").map(String::as_str) {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return err(StatusCode::BAD_REQUEST, "invalid acknowledged value"),
    };
    let world = app.sim.world.read().await;
    let selected: Vec<&SimFinding> = world
        .findings_for(Vendor::PrismaCompute)
        .filter(|f| f.rule.category == RuleCategory::Runtime)
        .filter(|f| {
            // An incident's last activity: its latest audit (the emitter adds one at the
            // finding's update time).
            let last = f.updated_ms.max(f.created_ms);
            from.is_none_or(|t| last >= t) && to.is_none_or(|t| last <= t)
        })
        .filter(|f| {
            acknowledged
                .is_none_or(|a| a == matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed))
        })
        .collect();
    let page: Vec<&SimFinding> = selected.iter().skip(offset).take(limit).copied().collect();
    let items = emit::items(&world, &page);
    page_response(&app, proceed, selected.len(), items)
}

/// The 30-per-30-s limit of the scan-result endpoints. Err: the 429 to send.
async fn scan_rate(app: &Compute, ep: Endpoint) -> Result<(), Response> {
    let now = Instant::now();
    {
        let nb = app.scan_not_before.lock().await;
        if let Some(t) = nb.get(&ep)
            && now < *t
        {
            app.sim
                .counters
                .early_requests
                .fetch_add(1, Ordering::SeqCst);
            app.sim.counters.rate_limited.fetch_add(1, Ordering::SeqCst);
            let secs = (*t - now).as_secs_f64().ceil().max(1.0) as u64;
            return Err(too_many_requests(secs));
        }
    }
    let mut calls = app.scan_calls.lock().await;
    let q = calls.entry(ep).or_default();
    while q
        .front()
        .is_some_and(|t| now.duration_since(*t) >= SCAN_WINDOW)
    {
        q.pop_front();
    }
    if q.len() >= SCAN_RATE {
        let free_at = q.front().map_or(now, |t| *t + SCAN_WINDOW);
        let secs = (free_at - now).as_secs_f64().ceil().max(1.0) as u64;
        app.scan_not_before
            .lock()
            .await
            .insert(ep, now + Duration::from_secs(secs));
        app.sim.counters.rate_limited.fetch_add(1, Ordering::SeqCst);
        return Err(too_many_requests(secs));
    }
    q.push_back(now);
    Ok(())
}

async fn scan_list(
    app: Arc<Compute>,
    ep: Endpoint,
    ver: String,
    q: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    if !version_ok(&ver) {
        return not_found();
    }
    let token = bearer(&headers).unwrap_or_default();
    let proceed = match app.sim.gate(Some(&token)).await {
        Ok(p) => p,
        Err(r) => return compute_fault(r),
    };
    if let Err(r) = scan_rate(&app, ep).await {
        return r;
    }
    let (offset, limit) = match paging(&q, app.sim.faults.page_cap) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let world = app.sim.world.read().await;
    let findings: Vec<&SimFinding> = world
        .findings_for(Vendor::PrismaCompute)
        .filter(|f| endpoint_of(&world, f) == ep)
        .collect();
    let all = emit::items(&world, &findings);
    let total = all.len();
    let items: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    page_response(&app, proceed, total, items)
}

async fn images(
    State(app): State<Arc<Compute>>,
    Path(ver): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    scan_list(app, Endpoint::Images, ver, q, headers).await
}

async fn containers(
    State(app): State<Arc<Compute>>,
    Path(ver): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    scan_list(app, Endpoint::Containers, ver, q, headers).await
}

async fn hosts(
    State(app): State<Arc<Compute>>,
    Path(ver): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    scan_list(app, Endpoint::Hosts, ver, q, headers).await
}

async fn serverless(
    State(app): State<Arc<Compute>>,
    Path(ver): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    scan_list(app, Endpoint::Serverless, ver, q, headers).await
}

async fn acknowledge(
    State(app): State<Arc<Compute>>,
    Path((ver, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !version_ok(&ver) {
        return not_found();
    }
    let token = bearer(&headers).unwrap_or_default();
    if let Err(r) = app.sim.gate(Some(&token)).await {
        return compute_fault(r);
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "invalid request body");
    };
    let Some(ack) = v.get("acknowledged").and_then(Value::as_bool) else {
        return err(StatusCode::BAD_REQUEST, "missing acknowledged");
    };
    let now = app.sim.now_ms();
    let mut world = app.sim.world.write().await;
    let want = format!("incident/{id}");
    let found = (0..world.findings.len()).find(|&i| {
        let f = &world.findings[i];
        f.vendor == Vendor::PrismaCompute
            && f.rule.category == RuleCategory::Runtime
            && emit::native_id(&world, f) == want
    });
    let Some(i) = found else {
        return err(StatusCode::NOT_FOUND, "incident not found");
    };
    let f = &mut world.findings[i];
    let closed = matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed);
    if closed != ack {
        f.status = if ack {
            SimStatus::Resolved
        } else {
            SimStatus::Open
        };
        f.updated_ms = now.max(f.updated_ms + 1);
    }
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::OK;
    r
}
