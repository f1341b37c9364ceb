//! Loopback simulators of the vendor APIs, serving the seeded [`World`] through each vendor's
//! documented protocol (paths, auth, paging, status codes, error bodies), with faults.
//!
//! Each vendor's simulator lives beside its client (`vendors/<v>/sim/server.rs`) and provides
//! `router(state) -> Router`, `credentials(seed)` (the environment variables a client needs,
//! with the values this simulator accepts) and `source_toml(...)`; `vendors::sim::start` picks
//! them through the registry and [`serve`]s the router.
//! Data handlers call [`SimState::gate`] first: it counts the request, applies latency,
//! 429s, 5xx bursts and token expiry from the [`Faults`] plan, and tells the handler whether
//! to truncate its body. The counters let tests check the client's manners (no request before
//! Retry-After allowed it, one re-authentication per expiry).
//!
//! Simulators bind 127.0.0.1 only.

pub mod chat;
pub mod faults;
pub mod github;
pub mod gitlab;
pub mod hec;
pub mod jira;
pub mod llm;
pub mod servicenow;
pub mod tls;
pub mod vault;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Mutex, RwLock};

use crate::domain::{EpochMs, Vendor};
use crate::rng::Rng;
use crate::sim::world::World;

pub use faults::{FaultSpecError, Faults};

/// What the tests read back from a simulator.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests to data endpoints (lists, details, write-back), gated or not.
    pub data_requests: AtomicU64,
    /// Requests to the authentication endpoint.
    pub auth_requests: AtomicU64,
    /// Successful logins (tokens issued).
    pub logins: AtomicU64,
    /// 429 responses served.
    pub rate_limited: AtomicU64,
    /// Requests that arrived before a served Retry-After allowed them.
    pub early_requests: AtomicU64,
    /// 401 responses served.
    pub unauthorized: AtomicU64,
    /// 5xx responses served by a burst.
    pub server_errors: AtomicU64,
    /// 403 responses served by a burst.
    pub forbidden: AtomicU64,
    /// Bodies cut short on purpose.
    pub truncated: AtomicU64,
    /// Token expiries forced by the fault plan.
    pub expiries: AtomicU64,
    /// GraphQL errors served inside a 200.
    pub graphql_errors: AtomicU64,
    /// Data requests inside their latency wait right now, and the most there have been at once
    /// (tests read whether a client's requests overlap, not how long they took).
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
}

impl Counters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }
}

/// A bearer-style token this simulator issued.
#[derive(Debug, Clone)]
struct Token {
    expires: Instant,
    revoked: bool,
}

/// The simulator's shared state.
pub struct SimState {
    pub vendor: Vendor,
    pub world: RwLock<World>,
    pub faults: Faults,
    pub counters: Counters,
    /// Requests are not allowed before this instant (set by a served 429).
    retry_after_until: Mutex<Option<Instant>>,
    tokens: Mutex<HashMap<String, Token>>,
    /// Seeded randomness for tokens and nonces.
    rng: Mutex<Rng>,
    pub seed: u64,
    /// Token lifetime when the plan gives none.
    pub default_token_ttl: Duration,
    /// Wall clock for the world's timestamps (epoch ms); tests can pin it.
    pub clock: fn() -> EpochMs,
    /// Every comment / note written back, in arrival order: (the vendor's id, text). Tests
    /// read it (score back, notes); the vendor's own API shows the same comments.
    pub comments: std::sync::Mutex<Vec<(String, String)>>,
}

pub fn wall_clock() -> EpochMs {
    chrono::Utc::now().timestamp_millis()
}

/// What a data handler should do after [`SimState::gate`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Proceed {
    /// Serve this response with its body cut short (a truncated page).
    pub truncate: bool,
    /// Serve a GraphQL error inside a 200 instead of data (GraphQL vendors only).
    pub graphql_error: bool,
    /// The 1-based data-request number.
    pub n: u64,
}

impl SimState {
    pub fn new(vendor: Vendor, world: World, faults: Faults, seed: u64) -> SimState {
        SimState {
            vendor,
            world: RwLock::new(world),
            faults,
            counters: Counters::default(),
            retry_after_until: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            rng: Mutex::new(Rng::new(seed ^ 0x5151)),
            seed,
            default_token_ttl: Duration::from_secs(600),
            clock: wall_clock,
            comments: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Record a comment written back (see [`SimState::comments`]).
    pub fn record_comment(&self, id: &str, text: &str) {
        self.comments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id.to_string(), text.to_string()));
    }

    /// The comments written back so far.
    pub fn comments(&self) -> Vec<(String, String)> {
        self.comments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn now_ms(&self) -> EpochMs {
        (self.clock)()
    }

    /// Issue a fresh token valid for `ttl` (or the plan's / default lifetime).
    pub async fn issue_token(&self, ttl: Option<Duration>) -> String {
        let token = {
            let mut rng = self.rng.lock().await;
            format!("sim-{}", rng.hex(40))
        };
        let ttl = self
            .faults
            .token_ttl
            .or(ttl)
            .unwrap_or(self.default_token_ttl);
        self.tokens.lock().await.insert(
            token.clone(),
            Token {
                expires: Instant::now() + ttl,
                revoked: false,
            },
        );
        self.counters.logins.fetch_add(1, Ordering::SeqCst);
        token
    }

    /// Is `token` one we issued that has neither expired nor been revoked?
    pub async fn token_valid(&self, token: &str) -> bool {
        let tokens = self.tokens.lock().await;
        tokens
            .get(token)
            .is_some_and(|t| !t.revoked && t.expires > Instant::now())
    }

    /// Replace `old` with a new token (Prisma's /auth_token/extend): None if `old` is invalid.
    pub async fn extend_token(&self, old: &str, ttl: Option<Duration>) -> Option<String> {
        if !self.token_valid(old).await {
            return None;
        }
        let new = self.issue_token(ttl).await;
        // An extension is not a fresh login.
        self.counters.logins.fetch_sub(1, Ordering::SeqCst);
        Some(new)
    }

    /// Count an authentication request.
    pub fn auth_request(&self) {
        self.counters.auth_requests.fetch_add(1, Ordering::SeqCst);
    }

    /// A random-looking but seeded string (nonces, ids).
    pub async fn random_hex(&self, n: usize) -> String {
        self.rng.lock().await.hex(n)
    }

    /// The gate every data request passes. Returns the response to send instead when a fault
    /// (or a bad token, when `token` is checked) applies.
    ///
    /// `token`: `Some(t)` checks a bearer-style token; `None` for vendors whose auth the
    /// handler checks itself (static keys, signed requests).
    pub async fn gate(&self, token: Option<&str>) -> Result<Proceed, Response> {
        let n = self.counters.data_requests.fetch_add(1, Ordering::SeqCst) + 1;
        if !self.faults.latency.is_zero() {
            // Counted down on drop, so a request cancelled mid-wait does not stay "in flight".
            struct InFlight<'a>(&'a AtomicU64);
            impl Drop for InFlight<'_> {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, Ordering::SeqCst);
                }
            }
            let now = self.counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let _in_flight = InFlight(&self.counters.in_flight);
            self.counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.faults.latency).await;
        }
        {
            let mut until = self.retry_after_until.lock().await;
            if let Some(t) = *until {
                if Instant::now() < t {
                    self.counters.early_requests.fetch_add(1, Ordering::SeqCst);
                    // A real API would throttle again; so do we, with the time still to wait.
                    self.counters.rate_limited.fetch_add(1, Ordering::SeqCst);
                    let secs = (t - Instant::now()).as_secs_f64().ceil().max(1.0) as u64;
                    return Err(too_many_requests(secs));
                }
                *until = None;
            }
        }
        if self.faults.expire_at.contains(&n) {
            let mut tokens = self.tokens.lock().await;
            for t in tokens.values_mut() {
                t.revoked = true;
            }
            self.counters.expiries.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(t) = token
            && !self.token_valid(t).await
        {
            self.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
            return Err(unauthorized());
        }
        if self.faults.rate_limit_at.contains(&n)
            || self
                .faults
                .rate_limit_every
                .is_some_and(|k| k > 0 && n.is_multiple_of(k))
        {
            let secs = self.faults.retry_after_secs;
            *self.retry_after_until.lock().await = Some(Instant::now() + Duration::from_secs(secs));
            self.counters.rate_limited.fetch_add(1, Ordering::SeqCst);
            return Err(too_many_requests(secs));
        }
        if self.faults.forbidden_at(n) {
            // The token is fine; the key lacks a permission (a role that cannot read this).
            self.counters.forbidden.fetch_add(1, Ordering::SeqCst);
            return Err(json_response(
                StatusCode::FORBIDDEN,
                &serde_json::json!({"error": "forbidden: the API key lacks the permission for this request", "status": 403}),
            ));
        }
        if self.faults.server_error_at(n) {
            self.counters.server_errors.fetch_add(1, Ordering::SeqCst);
            return Err(json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "service unavailable", "status": 503}),
            ));
        }
        let truncate = self.faults.truncate_at.contains(&n);
        if truncate {
            self.counters.truncated.fetch_add(1, Ordering::SeqCst);
        }
        let graphql_error = self.faults.graphql_error_at.contains(&n);
        if graphql_error {
            self.counters.graphql_errors.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Proceed {
            truncate,
            graphql_error,
            n,
        })
    }

    /// Serve a JSON body, cut short when the gate said so.
    pub fn respond(&self, p: Proceed, status: StatusCode, body: &serde_json::Value) -> Response {
        let mut bytes = serde_json::to_vec(body).unwrap_or_default();
        if p.truncate {
            bytes.truncate(bytes.len() / 2);
        }
        let mut r = Response::new(Body::from(bytes));
        *r.status_mut() = status;
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        r
    }
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub fn too_many_requests(secs: u64) -> Response {
    let mut r = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &serde_json::json!({"error": "rate limit exceeded", "status": 429}),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

pub fn unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": "unauthorized", "status": 401}),
    )
}

/// The bearer token of `Authorization: Bearer <t>` (or a bare `Authorization: <t>`).
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?.trim();
    Some(
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim()
            .to_string(),
    )
}

/// A header's value as text.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
}

/// A running simulator.
pub struct SimHandle {
    pub vendor: Vendor,
    pub base_url: String,
    pub addr: SocketAddr,
    pub state: Arc<SimState>,
    /// Environment variables (name, value) a client needs to talk to it.
    pub env: Vec<(String, String)>,
    /// A ready `[[source]]` table naming those variables.
    pub source_toml: String,
    /// Served over TLS: the PEM of the CA a client must trust.
    pub ca_pem: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    /// The first line `sitrep sim` prints: one JSON object.
    pub fn announcement(&self) -> serde_json::Value {
        let env: serde_json::Map<String, serde_json::Value> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let mut a = serde_json::json!({
            "vendor": self.vendor.as_str(),
            "base_url": self.base_url,
            "env": env,
            "source_toml": self.source_toml,
        });
        if let Some(pem) = &self.ca_pem {
            a["ca_pem"] = serde_json::Value::String(pem.clone());
        }
        a
    }

    /// Advance the world: change `changed` findings and add `added` new ones (per vendor).
    pub async fn evolve(&self, changed: usize, added: usize) {
        evolve_state(&self.state, changed, added).await;
    }

    /// Stop serving and wait for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Advance a simulator's world: change `changed` findings and add `added` new ones.
pub async fn evolve_state(state: &SimState, changed: usize, added: usize) {
    let now = state.now_ms();
    let mut world = state.world.write().await;
    let mut rng = Rng::new(state.seed ^ now as u64);
    world.evolve(&mut rng, changed, added, now);
}

/// The tenant's vendor closes up to `n` findings still open there (resolved, some dismissed);
/// their seqs ([`World::close`]).
pub async fn close_findings(state: &SimState, n: usize) -> Vec<u64> {
    let now = state.now_ms();
    let mut world = state.world.write().await;
    let mut rng = Rng::new(state.seed ^ now as u64 ^ 0xc105ed);
    world.close(&mut rng, state.vendor, n, now)
}

/// The tenant's vendor reopens these findings ([`World::reopen`]); how many.
pub async fn reopen_findings(state: &SimState, seqs: &[u64]) -> usize {
    let now = state.now_ms();
    state.world.write().await.reopen(state.vendor, seqs, now)
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// 0: any free port.
    pub port: u16,
    /// Findings per vendor in the world.
    pub alerts: usize,
    pub seed: u64,
    pub faults: Faults,
    /// The world's "now" (epoch ms).
    pub now_ms: EpochMs,
    /// Name of the `[[source]]` in the generated TOML.
    pub source_name: Option<String>,
    /// Serve HTTPS with a certificate made at start ([`tls`]).
    pub tls: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            port: 0,
            alerts: 500,
            seed: 1,
            faults: Faults::default(),
            now_ms: wall_clock(),
            source_name: None,
            tls: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serve TLS: {0}")]
    Tls(String),
}

/// Serve `router` (a vendor's simulator over `state`) on 127.0.0.1:`port`, over TLS when
/// `tls`. `env` is what a client needs; `source_toml` makes the `[[source]]` table from the
/// base URL once bound.
pub async fn serve(
    state: Arc<SimState>,
    router: Router,
    port: u16,
    tls: bool,
    env: Vec<(String, String)>,
    source_toml: impl FnOnce(&str) -> String,
) -> Result<SimHandle, SimError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| SimError::Bind { port, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { port, source })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = rx.await;
    };
    let (base_url, ca_pem, task) = if tls {
        let identity = tls::identity().map_err(SimError::Tls)?;
        let listener = tls::TlsListener::new(listener, &identity)
            .map_err(|source| SimError::Bind { port, source })?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await;
        });
        (format!("https://{addr}"), Some(identity.ca_pem), task)
    } else {
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await;
        });
        (format!("http://{addr}"), None, task)
    };
    let source_toml = source_toml(&base_url);
    Ok(SimHandle {
        vendor: state.vendor,
        base_url,
        addr,
        state,
        env,
        source_toml,
        ca_pem,
        shutdown: Some(tx),
        task: Some(task),
    })
}
