//! `sitrep listen`: vendors push alerts here instead of waiting for the next sync
//! (docs/listen.md).
//!
//! One route per source with a `webhook_secret`, `POST /webhook/<source>`. A delivery is
//! checked in this order, each failure answered at once and counted: the source exists
//! (404), the body fits (413, before it is read whole when Content-Length says so), the
//! vendor's proof holds (401, `vendors::webhook`), a signed delivery is not one seen before
//! (401), the source's rate allows it (429 with Retry-After), the body is JSON (400) and the
//! vendor's mapper reads alerts from it (422). Then the alerts go through the store's normal
//! import, the same upsert and content-hash dedup a sync uses, so an alert pushed and later
//! synced (or the reverse) is one alert. The reply waits for the commit: a 200 means stored.
//!
//! The store lives on a writer thread of its own (rusqlite is blocking); handlers hand it
//! their alerts and await the outcome.

mod guard;
mod partial;
pub mod tls;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::config::listen::{AUTH_OPTION, SECRET_KEY};
use crate::config::{Config, ListenConfig, Secret};
use crate::domain::{Alert, EpochMs, Vendor};
use crate::sanitize;
use crate::store::{ImportStats, Store};
use crate::vendors::webhook::{Delivery, WebhookKit, pushed_items};

/// A source that takes pushes: its vendor's verification and its resolved secret.
pub struct Route {
    pub source: String,
    pub vendor: Vendor,
    kit: WebhookKit,
    secret: Secret,
}

impl Route {
    /// How deliveries to this route must authenticate, for the start-up lines.
    pub fn auth(&self) -> &'static str {
        self.kit.auth
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("source", &self.source)
            .field("vendor", &self.vendor)
            .finish_non_exhaustive()
    }
}

/// The routes of every source with a `webhook_secret` credential, secrets resolved now
/// (from `env` and the OS keyring) so a missing one stops the start, naming the source.
pub fn routes(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Route>, String> {
    let mut out = Vec::new();
    for s in config.sources.iter() {
        if s.credential(SECRET_KEY).is_none() {
            continue;
        }
        let kit = crate::vendors::webhook::for_source(s.vendor, s.option(AUTH_OPTION))
            .map_err(|e| format!("source '{}': {e}", s.name))?;
        let secret = s.secret_with(SECRET_KEY, env)?;
        (kit.secret_format)(&secret)
            .map_err(|e| format!("source '{}': credential {SECRET_KEY}: {e}", s.name))?;
        out.push(Route {
            source: s.name.clone(),
            vendor: s.vendor,
            kit,
            secret,
        });
    }
    if out.is_empty() {
        return Err(format!(
            "no source takes webhooks: give one a {SECRET_KEY} in its [source.credentials] (docs/listen.md)"
        ));
    }
    Ok(out)
}

/// What the receiver has seen since it started.
#[derive(Default)]
struct Counters {
    received: AtomicU64,
    accepted: AtomicU64,
    new: AtomicU64,
    updated: AtomicU64,
    unchanged: AtomicU64,
    unverified: AtomicU64,
    too_large: AtomicU64,
    rate_limited: AtomicU64,
    malformed: AtomicU64,
    failed: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests to a webhook route (any outcome).
    pub received: u64,
    /// Deliveries whose alerts were stored.
    pub accepted: u64,
    /// Their alerts: not seen before, changed, identical or older than what is stored.
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Refused 401 (bad or missing proof, a replay) or 404 (no such source).
    pub unverified: u64,
    /// Refused 413.
    pub too_large: u64,
    /// Refused 429.
    pub rate_limited: u64,
    /// Refused 400 (not JSON) or 422 (no alerts the vendor's mapper reads).
    pub malformed: u64,
    /// Verified and mapped, but the store failed (500; the vendor retries).
    pub failed: u64,
}

impl Counters {
    fn tally(&self) -> Tally {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Tally {
            received: n(&self.received),
            accepted: n(&self.accepted),
            new: n(&self.new),
            updated: n(&self.updated),
            unchanged: n(&self.unchanged),
            unverified: n(&self.unverified),
            too_large: n(&self.too_large),
            rate_limited: n(&self.rate_limited),
            malformed: n(&self.malformed),
            failed: n(&self.failed),
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, accepted {} ({} new, {} updated, {} unchanged alerts), unverified {}, too large {}, rate-limited {}, malformed {}, store failures {}",
            self.received,
            self.accepted,
            self.new,
            self.updated,
            self.unchanged,
            self.unverified,
            self.too_large,
            self.rate_limited,
            self.malformed,
            self.failed
        )
    }
}

/// Alerts for the writer thread, and where its answer goes.
struct Job {
    alerts: Vec<Alert>,
    /// From a vendor's own push body: completed from the stored alerts first (`partial`).
    partial: bool,
    done: oneshot::Sender<Result<ImportStats, String>>,
}

struct App {
    routes: HashMap<String, Route>,
    max_body: usize,
    buckets: guard::Buckets,
    seen: guard::Seen,
    counters: Counters,
    writer: mpsc::Sender<Job>,
    clock: fn() -> EpochMs,
}

/// Why the receiver did not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(String),
}

/// A receiver serving in the background.
pub struct Running {
    /// Where it listens (the port the OS chose when the configured one is 0).
    pub addr: SocketAddr,
    pub https: bool,
    app: Arc<App>,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    writer: std::thread::JoinHandle<()>,
}

impl Running {
    /// The counters now.
    pub fn tally(&self) -> Tally {
        self.app.counters.tally()
    }

    /// Stop accepting, let the deliveries in flight finish (their alerts committed), and
    /// return the final counters.
    pub async fn shutdown(self) -> Tally {
        let Running {
            app,
            stop,
            server,
            writer,
            ..
        } = self;
        let _ = stop.send(());
        if let Ok(Err(e)) = server.await {
            tracing::warn!("listen: server ended with {e}");
        }
        let tally = app.counters.tally();
        // The last handle on the writer's channel: dropping it ends the thread.
        drop(app);
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        tally
    }
}

/// Bind `cfg.addr` (HTTPS when `cfg.tls` is set), start the writer thread on `store`, and
/// serve `routes` until [`Running::shutdown`]. `clock` is injected for the rate limit and the
/// timestamp window.
pub async fn start(
    cfg: &ListenConfig,
    routes: Vec<Route>,
    store: Store,
    clock: fn() -> EpochMs,
) -> Result<Running, ListenError> {
    let acceptor = match &cfg.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key).map_err(ListenError::Tls)?),
        None => None,
    };
    let bind = |source| ListenError::Bind {
        addr: cfg.addr,
        source,
    };
    let tcp = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .map_err(bind)?;
    let addr = tcp.local_addr().map_err(bind)?;
    let (writer_tx, writer) = spawn_writer(store, clock);
    let app = Arc::new(App {
        routes: routes.into_iter().map(|r| (r.source.clone(), r)).collect(),
        max_body: cfg.max_body_bytes,
        buckets: guard::Buckets::new(cfg.rate_limit, cfg.burst),
        seen: guard::Seen::default(),
        counters: Counters::default(),
        writer: writer_tx,
        clock,
    });
    let router = Router::new()
        .route("/webhook/{source}", post(deliver))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(app.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let https = acceptor.is_some();
    let server = match acceptor {
        Some(acceptor) => {
            let listener = tls::Listener::new(tcp, acceptor).map_err(bind)?;
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
            })
        }
        None => tokio::spawn(async move {
            axum::serve(tcp, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        }),
    };
    Ok(Running {
        addr,
        https,
        app,
        stop,
        server,
        writer,
    })
}

/// The store's thread: each job's alerts imported in one transaction, in arrival order.
fn spawn_writer(
    mut store: Store,
    clock: fn() -> EpochMs,
) -> (mpsc::Sender<Job>, std::thread::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Job>(64);
    let handle = std::thread::spawn(move || {
        while let Some(mut job) = rx.blocking_recv() {
            let result = complete_partial(&store, &mut job)
                .and_then(|()| store.import(&job.alerts, clock()))
                .map_err(|e| e.to_string());
            let _ = job.done.send(result);
        }
    });
    (tx, handle)
}

/// A partial job's alerts completed from their stored copies. This thread is the receiver's
/// only writer, so nothing of its own lands between the read and the import.
fn complete_partial(store: &Store, job: &mut Job) -> Result<(), crate::store::StoreError> {
    if !job.partial {
        return Ok(());
    }
    for a in &mut job.alerts {
        if let Some(stored) = store.get(&a.id())? {
            partial::complete(a, &stored.alert);
        }
    }
    Ok(())
}

/// A JSON reply; `error` text is sanitized (it may quote what the sender sent).
fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn refuse(status: StatusCode, error: &str) -> Response {
    reply(status, json!({ "error": sanitize::one_line(error) }))
}

async fn deliver(
    State(app): State<Arc<App>>,
    Path(source): Path<String>,
    req: Request,
) -> Response {
    let c = &app.counters;
    c.received.fetch_add(1, Ordering::Relaxed);
    let Some(route) = app.routes.get(&source) else {
        c.unverified.fetch_add(1, Ordering::Relaxed);
        return refuse(
            StatusCode::NOT_FOUND,
            "no source of that name takes webhooks",
        );
    };
    let name = sanitize::one_line(&route.source);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body as u64) {
        c.too_large.fetch_add(1, Ordering::Relaxed);
        return too_large(app.max_body);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, app.max_body).await else {
        // Over the limit while streaming (no or a false Content-Length), or the
        // connection broke: either way nothing usable arrived.
        c.too_large.fetch_add(1, Ordering::Relaxed);
        return too_large(app.max_body);
    };
    let now_ms = (app.clock)();
    let now_s = now_ms.div_euclid(1000);
    // A query that does not decode is no query: a vendor that needs one is then refused.
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let delivery = Delivery {
        headers: &parts.headers,
        query: &query,
        body: &bytes,
        now_s,
    };
    let proof = match (route.kit.verify)(&delivery, &route.secret) {
        Ok(p) => p,
        Err(why) => {
            c.unverified.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("listen: {name}: refused: {}", sanitize::one_line(&why));
            return refuse(StatusCode::UNAUTHORIZED, "the delivery is not verified");
        }
    };
    if let Some((key, signed_s)) = &proof.replay {
        let until = signed_s.saturating_add(crate::signature::TOLERANCE_S);
        if !app
            .seen
            .first_time(&format!("{}:{key}", route.source), until, now_s)
        {
            c.unverified.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("listen: {name}: refused a replayed delivery");
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this signed delivery was received before",
            );
        }
    }
    if let Err(wait_s) = app.buckets.take(&route.source, now_ms) {
        c.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut r = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many deliveries for this source; retry later",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait_s));
        return r;
    }
    let (alerts, partial) = match read_alerts(route, &bytes) {
        Ok(a) => a,
        Err((status, why)) => {
            c.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("listen: {name}: {}", sanitize::one_line(&why));
            return refuse(status, &why);
        }
    };
    let (done, outcome) = oneshot::channel();
    let count = alerts.len();
    let stored = match app
        .writer
        .send(Job {
            alerts,
            partial,
            done,
        })
        .await
    {
        Ok(()) => outcome
            .await
            .unwrap_or_else(|_| Err("the store writer stopped".into())),
        Err(_) => Err("the store writer stopped".into()),
    };
    match stored {
        Ok(s) => {
            c.accepted.fetch_add(1, Ordering::Relaxed);
            c.new.fetch_add(s.new as u64, Ordering::Relaxed);
            c.updated.fetch_add(s.updated as u64, Ordering::Relaxed);
            c.unchanged
                .fetch_add((s.unchanged + s.stale) as u64, Ordering::Relaxed);
            tracing::info!(
                "listen: {name}: {count} alerts ({} new, {} updated)",
                s.new,
                s.updated
            );
            reply(
                StatusCode::OK,
                json!({"alerts": count, "new": s.new, "updated": s.updated,
                       "unchanged": s.unchanged, "stale": s.stale}),
            )
        }
        Err(e) => {
            c.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!("listen: {name}: store: {}", sanitize::one_line(&e));
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the alerts could not be stored; retry later",
            )
        }
    }
}

fn too_large(max: usize) -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the body is larger than {max} bytes"),
    )
}

/// The alerts of a verified body: JSON (else 400), then the vendor's own push shape (the
/// alerts partial: true) or the API's shape at the kit's item paths, mapped by the vendor's
/// mapper (else 422, with the mapper's reason).
fn read_alerts(route: &Route, bytes: &[u8]) -> Result<(Vec<Alert>, bool), (StatusCode, String)> {
    let body: Value = serde_json::from_slice(bytes).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    if let Some(native) = (route.kit.native)(&body) {
        let mut alerts = native.map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        for a in &mut alerts {
            a.source.clone_from(&route.source);
        }
        return Ok((alerts, true));
    }
    let mut alerts = Vec::new();
    for item in pushed_items(&body, route.kit.item_paths) {
        let mapped = crate::vendors::map_payload(route.vendor, &route.source, item)
            .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        alerts.extend(mapped);
    }
    if alerts.is_empty() {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "no {} alerts in the body (a test message?)",
                route.vendor.as_str()
            ),
        ));
    }
    Ok((alerts, false))
}
