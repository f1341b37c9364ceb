//! A loopback simulator of the Splunk HTTP Event Collector (docs/siem.md):
//!
//! - `POST /services/collector/event` (and `/event/1.0`): `Authorization: Splunk <token>`;
//!   a body of one or more JSON event objects back to back (HEC's batch form), each with a
//!   non-empty `event`. Answers `{"text":"Success","code":0}`, plus `"ackId": N` when the
//!   token has indexer acknowledgement on — which then requires a channel
//!   (`X-Splunk-Request-Channel` header or `?channel=`, a GUID).
//! - `POST /services/collector/ack?channel=<guid>` with `{"acks":[N,…]}`: answers
//!   `{"acks":{"N":true|false}}`; an ack turns true after `ack_after` polls.
//! - `GET /services/collector/health`: `{"text":"HEC is healthy","code":17}`.
//!
//! Errors are HEC's documented `{"text", "code"}` replies: 1 token disabled (403), 2 token is
//! required (401), 3 invalid authorization (401), 4 invalid token (403), 5 no data (400),
//! 6 invalid data format (400, with `invalid-event-number`), 9 server is busy (503),
//! 10 data channel is missing (400), 11 invalid data channel (400), 12 event field is
//! required (400), 13 event field cannot be blank (400), 14 ACK is disabled (400).
//!
//! Faults are scripted one per event request, in order ([`HecFault`]). The ground truth
//! (events indexed, per channel) is in [`HecSim`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::SimError;
use crate::rng::Rng;

/// What to do with one event request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HecFault {
    Ok,
    /// 503 `{"text":"Server is busy","code":9}`, nothing indexed.
    Busy,
    /// Answer as if the token were unknown (403, code 4), nothing indexed.
    BadToken,
    /// 200 with a body that is not JSON, nothing indexed.
    Garbage,
    /// Wait this long, then serve normally.
    Slow {
        ms: u64,
    },
    /// Index the events, then cut the connection without a reply.
    CommitThenDrop,
}

/// Options for [`start`].
#[derive(Debug, Clone)]
pub struct HecSimOptions {
    pub port: u16,
    pub seed: u64,
    /// Indexer acknowledgement on for the token.
    pub ack: bool,
    /// Polls of `/ack` before an ack turns true (0: true at once).
    pub ack_after: u32,
}

impl Default for HecSimOptions {
    fn default() -> Self {
        HecSimOptions {
            port: 0,
            seed: 1,
            ack: false,
            ack_after: 1,
        }
    }
}

/// One indexed event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    pub channel: Option<String>,
    pub ack_id: Option<u64>,
    pub body: Value,
}

/// The simulator's state and ground truth.
pub struct HecSim {
    pub token: String,
    ack: bool,
    ack_after: u32,
    script: Mutex<VecDeque<HecFault>>,
    events: Mutex<Vec<Indexed>>,
    /// ackId → polls seen.
    acks: Mutex<HashMap<u64, u32>>,
    next_ack: AtomicU64,
    /// Event requests received (every one, whatever its outcome).
    pub requests: AtomicU64,
    /// `/ack` requests received.
    pub ack_polls: AtomicU64,
    /// Requests refused for their token or authorization header.
    pub unauthorized: AtomicU64,
}

impl HecSim {
    /// Queue faults for the next event requests (then `Ok`).
    pub async fn script(&self, faults: &[HecFault]) {
        self.script.lock().await.extend(faults.iter().copied());
    }

    /// Every event indexed so far, in arrival order.
    pub async fn events(&self) -> Vec<Indexed> {
        self.events.lock().await.clone()
    }
}

/// A running simulator.
pub struct HecSimHandle {
    pub base_url: String,
    pub addr: SocketAddr,
    pub state: Arc<HecSim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The variable [`HecSimHandle::env`] names for the token.
pub const TOKEN_ENV: &str = "SITREP_HEC_TOKEN";

impl HecSimHandle {
    /// The environment a client needs: the token under [`TOKEN_ENV`].
    pub fn env(&self) -> Vec<(String, String)> {
        vec![(TOKEN_ENV.to_string(), self.state.token.clone())]
    }

    /// A `[[siem]]` table for this simulator (token via `HEC_TOKEN_ENV`).
    pub fn siem_toml(&self, name: &str, token_env: &str) -> String {
        format!(
            "[[siem]]\nname = \"{name}\"\ntype = \"splunk_hec\"\nurl = \"{}\"\ntoken = {{ env = \"{token_env}\" }}\nack = {}\nack_timeout = \"5s\"\ntimeout = \"5s\"\n",
            self.base_url, self.state.ack
        )
    }
}

impl Drop for HecSimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Start on 127.0.0.1.
pub async fn start(opts: HecSimOptions) -> Result<HecSimHandle, SimError> {
    let port = opts.port;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| SimError::Bind { port, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { port, source })?;
    let mut rng = Rng::new(opts.seed ^ 0x4EC0);
    let state = Arc::new(HecSim {
        token: rng.uuid(),
        ack: opts.ack,
        ack_after: opts.ack_after,
        script: Mutex::new(VecDeque::new()),
        events: Mutex::new(Vec::new()),
        acks: Mutex::new(HashMap::new()),
        next_ack: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        ack_polls: AtomicU64::new(0),
        unauthorized: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/services/collector/event", post(event))
        .route("/services/collector/event/1.0", post(event))
        .route("/services/collector/ack", post(ack))
        .route("/services/collector/health", get(health))
        .with_state(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(HecSimHandle {
        base_url: format!("http://{addr}"),
        addr,
        state,
        shutdown: Some(tx),
    })
}

fn reply(status: u16, text: &str, code: u32) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(json!({ "text": text, "code": code }))).into_response()
}

/// HEC's check of the `Authorization` header: the refusal to send, if any (the token
/// itself is never echoed).
fn refusal(sim: &HecSim, headers: &HeaderMap) -> Option<Response> {
    let h = headers.get("authorization").and_then(|v| v.to_str().ok());
    let r = match h.map(|h| h.strip_prefix("Splunk ")) {
        None => reply(401, "Token is required", 2),
        Some(None) => reply(401, "Invalid authorization", 3),
        Some(Some(token)) if token.trim() != sim.token => reply(403, "Invalid token", 4),
        Some(Some(_)) => return None,
    };
    sim.unauthorized.fetch_add(1, Ordering::Relaxed);
    Some(r)
}

/// A channel is a GUID: 8-4-4-4-12 hex digits.
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn channel(headers: &HeaderMap, q: &HashMap<String, String>) -> Option<String> {
    headers
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| q.get("channel").cloned())
}

/// HEC's answer to a request without a usable channel (when acknowledgement is on).
fn channel_refusal(chan: Option<&str>) -> Option<Response> {
    match chan {
        None => Some(reply(400, "Data channel is missing", 10)),
        Some(c) if !is_guid(c) => Some(reply(400, "Invalid data channel", 11)),
        Some(_) => None,
    }
}

async fn event(
    State(sim): State<Arc<HecSim>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.requests.fetch_add(1, Ordering::Relaxed);
    let fault = sim.script.lock().await.pop_front().unwrap_or(HecFault::Ok);
    match fault {
        HecFault::Busy => return reply(503, "Server is busy", 9),
        HecFault::BadToken => {
            sim.unauthorized.fetch_add(1, Ordering::Relaxed);
            return reply(403, "Invalid token", 4);
        }
        HecFault::Garbage => {
            return (StatusCode::OK, "<html>upstream proxy error</html>").into_response();
        }
        HecFault::Slow { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
        HecFault::Ok | HecFault::CommitThenDrop => {}
    }
    if let Some(r) = refusal(&sim, &headers) {
        return r;
    }
    let chan = channel(&headers, &q);
    if sim.ack
        && let Some(r) = channel_refusal(chan.as_deref())
    {
        return r;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return reply(400, "No data", 5);
    }
    let mut batch = Vec::new();
    for (i, v) in serde_json::Deserializer::from_slice(&body)
        .into_iter::<Value>()
        .enumerate()
    {
        let invalid = |text: &str, code: u32| {
            let status = StatusCode::BAD_REQUEST;
            (
                status,
                axum::Json(json!({ "text": text, "code": code, "invalid-event-number": i })),
            )
                .into_response()
        };
        let Ok(v) = v else {
            return invalid("Invalid data format", 6);
        };
        let Some(obj) = v.as_object() else {
            return invalid("Invalid data format", 6);
        };
        match obj.get("event") {
            None | Some(Value::Null) => return invalid("Event field is required", 12),
            Some(Value::String(s)) if s.is_empty() => {
                return invalid("Event field cannot be blank", 13);
            }
            Some(_) => {}
        }
        batch.push(v);
    }
    let ack_id = if sim.ack {
        let id = sim.next_ack.fetch_add(1, Ordering::Relaxed);
        sim.acks.lock().await.insert(id, 0);
        Some(id)
    } else {
        None
    };
    {
        let mut events = sim.events.lock().await;
        for body in batch {
            events.push(Indexed {
                channel: chan.clone(),
                ack_id,
                body,
            });
        }
    }
    if fault == HecFault::CommitThenDrop {
        // A reply the client cannot read: headers promising more body than is sent.
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-length", "64")
            .body(axum::body::Body::from("{\"text\":\"Succ"))
            .unwrap_or_else(|_| reply(500, "Internal server error", 8));
    }
    let mut out = json!({ "text": "Success", "code": 0 });
    if let Some(id) = ack_id {
        out["ackId"] = json!(id);
    }
    (StatusCode::OK, axum::Json(out)).into_response()
}

async fn ack(
    State(sim): State<Arc<HecSim>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.ack_polls.fetch_add(1, Ordering::Relaxed);
    if let Some(r) = refusal(&sim, &headers) {
        return r;
    }
    if !sim.ack {
        return reply(400, "ACK is disabled", 14);
    }
    if let Some(r) = channel_refusal(channel(&headers, &q).as_deref()) {
        return r;
    }
    let ids: Vec<u64> = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => match v.get("acks").and_then(Value::as_array) {
            Some(a) => a.iter().filter_map(Value::as_u64).collect(),
            None => return reply(400, "Invalid data format", 6),
        },
        Err(_) => return reply(400, "Invalid data format", 6),
    };
    let mut acks = sim.acks.lock().await;
    let mut out = serde_json::Map::new();
    for id in ids {
        let done = match acks.get_mut(&id) {
            Some(polls) => {
                *polls += 1;
                *polls > sim.ack_after
            }
            None => false,
        };
        out.insert(id.to_string(), Value::Bool(done));
    }
    (StatusCode::OK, axum::Json(json!({ "acks": out }))).into_response()
}

async fn health() -> Response {
    reply(200, "HEC is healthy", 17)
}
