//! A loopback simulator of the notification destinations: a Slack incoming webhook, a Teams
//! Workflows trigger and a Standard Webhooks receiver (docs/integrations.md §1.3–1.5).
//!
//! - Slack `POST /services/T…/B…/<token>`: checks the Block Kit limits (header plain_text
//!   ≤150, section text ≤3000, ≤10 fields of ≤2000, ≤50 blocks, text or blocks present) and
//!   answers `200 ok`, or the documented plain-text errors (`invalid_payload`, `invalid_blocks`,
//!   `no_text` 400; `no_service` 404 for an unknown token, …).
//! - Teams `POST /workflows/<id>/triggers/manual/paths/invoke?api-version=…&sig=…`: a wrong
//!   `sig` gets 401; a body that is not a `message` with an Adaptive Card attachment gets 400;
//!   otherwise `202 Accepted` with an empty body (the card is "posted" later, as Workflows do).
//! - Webhook receiver `POST /hooks/<name>`: verifies `webhook-signature` and the ±5 minute
//!   `webhook-timestamp` window (401 otherwise), drops a `webhook-id` it has already processed
//!   (200, counted as a duplicate) and records each new delivery.
//!
//! Faults are scripted per destination, one per request in order ([`ChatFault`]), including
//! *commit then drop the response*: the message is recorded, then the connection is cut before
//! a usable reply. A latency applies to every request. The handle exposes the URLs, the
//! secrets and the ground truth (messages, cards, deliveries, duplicates, rejections).
//!
//! The Teams error bodies (codes such as `DirectApiAuthorizationRequired`) follow the Logic
//! Apps shape `{"error": {"code", "message"}}`; their exact codes are not confirmed.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::Mutex;

use super::SimError;
use crate::rng::Rng;

/// Which simulated destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTarget {
    Slack,
    Teams,
    Webhook,
}

/// What to do with one request to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFault {
    /// Serve normally.
    Ok,
    /// Record (commit) the message, then cut the connection instead of answering.
    CommitThenDrop,
    /// 429 with `Retry-After: secs`, nothing recorded.
    RateLimit { secs: u64 },
    /// 503 (Slack: 500 `rollup_error`), nothing recorded.
    ServerError,
    /// Slack only: answer this documented error code with its status, nothing recorded.
    SlackError(&'static str),
}

impl ChatFault {
    /// `ok`, `drop`, `429`, `429:N`, `5xx`, or a Slack error code (`no_service`, …).
    pub fn parse(s: &str) -> Option<ChatFault> {
        let s = s.trim();
        Some(match s {
            "ok" => ChatFault::Ok,
            "drop" => ChatFault::CommitThenDrop,
            "429" => ChatFault::RateLimit { secs: 1 },
            "5xx" | "503" => ChatFault::ServerError,
            other => {
                if let Some(n) = other.strip_prefix("429:") {
                    ChatFault::RateLimit {
                        secs: n.parse().ok()?,
                    }
                } else {
                    let code = SLACK_ERRORS.iter().find(|(c, _)| *c == other)?.0;
                    ChatFault::SlackError(code)
                }
            }
        })
    }
}

/// Slack's documented webhook error codes and their statuses.
pub const SLACK_ERRORS: [(&str, u16); 9] = [
    ("invalid_payload", 400),
    ("user_not_found", 400),
    ("invalid_blocks", 400),
    ("no_text", 400),
    ("action_prohibited", 403),
    ("channel_not_found", 404),
    ("no_service", 404),
    ("channel_is_archived", 410),
    ("rollup_error", 500),
];

/// One accepted webhook delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub hook: String,
    pub id: String,
    pub timestamp: i64,
    pub body: Value,
}

/// Ground truth and counters.
#[derive(Debug, Default)]
pub struct ChatCounters {
    pub slack_requests: AtomicU64,
    pub teams_requests: AtomicU64,
    pub webhook_requests: AtomicU64,
    /// Webhook requests refused for a bad signature or timestamp.
    pub webhook_rejected: AtomicU64,
    /// Webhook deliveries whose `webhook-id` was already processed.
    pub webhook_duplicates: AtomicU64,
    /// Responses cut after commit.
    pub dropped: AtomicU64,
}

/// The simulator's state.
pub struct ChatSim {
    slack_token: String,
    teams_sig: String,
    webhook_secret: String,
    latency_ms: AtomicU64,
    scripts: Mutex<[VecDeque<ChatFault>; 3]>,
    slack_messages: Mutex<Vec<Value>>,
    teams_cards: Mutex<Vec<Value>>,
    deliveries: Mutex<Vec<Delivery>>,
    seen_ids: Mutex<HashSet<String>>,
    /// Why the last webhook was rejected (for test messages).
    last_rejection: Mutex<Option<String>>,
    pub counters: ChatCounters,
}

impl ChatSim {
    /// Append faults to `target`'s script.
    pub async fn push(&self, target: ChatTarget, faults: &[ChatFault]) {
        self.scripts.lock().await[target as usize].extend(faults.iter().copied());
    }

    /// Latency added to every request from now on.
    pub fn set_latency(&self, d: Duration) {
        self.latency_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Slack messages accepted (posted), in order.
    pub async fn slack_messages(&self) -> Vec<Value> {
        self.slack_messages.lock().await.clone()
    }

    /// Teams envelopes accepted, in order.
    pub async fn teams_cards(&self) -> Vec<Value> {
        self.teams_cards.lock().await.clone()
    }

    /// Distinct webhook deliveries processed, in order.
    pub async fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().await.clone()
    }

    pub async fn last_rejection(&self) -> Option<String> {
        self.last_rejection.lock().await.clone()
    }

    pub fn count(c: &AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }

    async fn admit(&self, target: ChatTarget) -> ChatFault {
        let ms = self.latency_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        self.scripts.lock().await[target as usize]
            .pop_front()
            .unwrap_or(ChatFault::Ok)
    }
}

/// How to start the simulator.
#[derive(Debug, Clone, Default)]
pub struct ChatSimOptions {
    /// 0: any free port.
    pub port: u16,
    /// Seeds the URL tokens and the webhook secret.
    pub seed: u64,
    pub latency: Duration,
}

/// A running simulator.
pub struct ChatSimHandle {
    pub base_url: String,
    pub addr: SocketAddr,
    /// The Slack incoming-webhook URL (holds the token).
    pub slack_url: String,
    /// The Teams Workflows trigger URL (holds the `sig`).
    pub teams_url: String,
    /// The receiver's `whsec_` secret.
    pub webhook_secret: String,
    pub state: Arc<ChatSim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ChatSimHandle {
    /// The receiver URL of the webhook named `name`.
    pub fn webhook_url(&self, name: &str) -> String {
        format!("{}/hooks/{name}", self.base_url)
    }

    /// Environment variables matching [`ChatSimHandle::notify_toml`].
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SITREP_SLACK_WEBHOOK".into(), self.slack_url.clone()),
            ("SITREP_TEAMS_WORKFLOW_URL".into(), self.teams_url.clone()),
            ("SITREP_WEBHOOK_SECRET".into(), self.webhook_secret.clone()),
        ]
    }

    /// A `[notify]` table pointing at this simulator (secrets via the variables of `env()`).
    pub fn notify_toml(&self) -> String {
        format!(
            "[notify.slack]\nwebhook_url = {{ env = \"SITREP_SLACK_WEBHOOK\" }}\n[notify.teams]\nworkflow_url = {{ env = \"SITREP_TEAMS_WORKFLOW_URL\" }}\n[[notify.webhook]]\nname = \"sim\"\nurl = \"{}\"\nsecret = {{ env = \"SITREP_WEBHOOK_SECRET\" }}\n",
            self.webhook_url("sim")
        )
    }

    /// The line `sitrep sim` prints for this simulator.
    pub fn announcement(&self) -> Value {
        let env: serde_json::Map<String, Value> = self
            .env()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        serde_json::json!({
            "vendor": "chat",
            "base_url": self.base_url,
            "env": env,
            "notify_toml": self.notify_toml(),
        })
    }
}

impl Drop for ChatSimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Start on 127.0.0.1.
pub async fn start(opts: ChatSimOptions) -> Result<ChatSimHandle, SimError> {
    use base64::Engine as _;
    let port = opts.port;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| SimError::Bind { port, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { port, source })?;
    let mut rng = Rng::new(opts.seed ^ 0xC4A7);
    let slack_token = rng.hex(24);
    let teams_sig = rng.hex(43);
    let key: Vec<u8> = (0..4).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
    let webhook_secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let flow = rng.uuid();
    let state = Arc::new(ChatSim {
        slack_token: slack_token.clone(),
        teams_sig: teams_sig.clone(),
        webhook_secret: webhook_secret.clone(),
        latency_ms: AtomicU64::new(opts.latency.as_millis() as u64),
        scripts: Mutex::new(Default::default()),
        slack_messages: Mutex::new(Vec::new()),
        teams_cards: Mutex::new(Vec::new()),
        deliveries: Mutex::new(Vec::new()),
        seen_ids: Mutex::new(HashSet::new()),
        last_rejection: Mutex::new(None),
        counters: ChatCounters::default(),
    });
    let router = Router::new()
        .route("/services/{team}/{bot}/{token}", post(slack))
        .route(
            "/workflows/{flow}/triggers/manual/paths/invoke",
            post(teams),
        )
        .route("/hooks/{name}", post(webhook))
        .with_state(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    let base_url = format!("http://{addr}");
    Ok(ChatSimHandle {
        slack_url: format!("{base_url}/services/TSIM00001/BSIM00001/{slack_token}"),
        teams_url: format!(
            "{base_url}/workflows/{flow}/triggers/manual/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={teams_sig}"
        ),
        base_url,
        addr,
        webhook_secret,
        state,
        shutdown: Some(tx),
    })
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [("content-type", "text/plain")], body).into_response()
}

fn slack_error(code: &'static str) -> Response {
    let status = SLACK_ERRORS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(400, |(_, s)| *s);
    text(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code,
    )
}

fn rate_limited(secs: u64, body: Response) -> Response {
    let mut r = body;
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// Headers announce a 200, then the body fails: the connection is cut before a usable reply.
fn dropped(state: &ChatSim) -> Response {
    state.counters.dropped.fetch_add(1, Ordering::SeqCst);
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("response dropped by the simulator"))
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = StatusCode::OK;
    r
}

/// Block Kit rules a webhook message must follow; the Slack error code when it does not.
pub fn check_blocks(v: &Value) -> Result<(), &'static str> {
    let Some(obj) = v.as_object() else {
        return Err("invalid_payload");
    };
    let has_text = obj
        .get("text")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.trim().is_empty());
    let blocks = match obj.get("blocks") {
        None => None,
        Some(Value::Array(a)) => Some(a),
        Some(_) => return Err("invalid_blocks"),
    };
    if !has_text && blocks.is_none_or(|b| b.is_empty()) {
        return Err("no_text");
    }
    let Some(blocks) = blocks else {
        return Ok(());
    };
    if blocks.len() > 50 {
        return Err("invalid_blocks");
    }
    let len = |v: &Value| v.as_str().map(|s| s.chars().count());
    for b in blocks {
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text"
                    || len(&b["text"]["text"]).is_none_or(|n| n == 0 || n > 150)
                {
                    return Err("invalid_blocks");
                }
            }
            Some("section") => {
                let text = &b["text"];
                let fields = b["fields"].as_array();
                if text.is_null() && fields.is_none() {
                    return Err("invalid_blocks");
                }
                if !text.is_null() && len(&text["text"]).is_none_or(|n| n == 0 || n > 3000) {
                    return Err("invalid_blocks");
                }
                if let Some(f) = fields {
                    if f.is_empty() || f.len() > 10 {
                        return Err("invalid_blocks");
                    }
                    if f.iter()
                        .any(|x| len(&x["text"]).is_none_or(|n| n == 0 || n > 2000))
                    {
                        return Err("invalid_blocks");
                    }
                }
            }
            Some("context") => {
                let Some(e) = b["elements"].as_array() else {
                    return Err("invalid_blocks");
                };
                if e.is_empty() || e.len() > 10 {
                    return Err("invalid_blocks");
                }
            }
            Some("divider") | Some("actions") | Some("image") => {}
            _ => return Err("invalid_blocks"),
        }
    }
    Ok(())
}

async fn slack(
    State(st): State<Arc<ChatSim>>,
    Path((_team, _bot, token)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    st.counters.slack_requests.fetch_add(1, Ordering::SeqCst);
    let f = st.admit(ChatTarget::Slack).await;
    if token != st.slack_token {
        return slack_error("no_service");
    }
    match f {
        ChatFault::RateLimit { secs } => {
            return rate_limited(secs, text(StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
        }
        ChatFault::ServerError => return slack_error("rollup_error"),
        ChatFault::SlackError(code) => return slack_error(code),
        ChatFault::Ok | ChatFault::CommitThenDrop => {}
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return slack_error("invalid_payload");
    };
    if let Err(code) = check_blocks(&v) {
        return slack_error(code);
    }
    st.slack_messages.lock().await.push(v);
    if f == ChatFault::CommitThenDrop {
        return dropped(&st);
    }
    text(StatusCode::OK, "ok")
}

fn teams_error(status: StatusCode, code: &str, message: &str) -> Response {
    super::json_response(
        status,
        &serde_json::json!({"error": {"code": code, "message": message}}),
    )
}

/// Is `v` a Workflows `message` carrying Adaptive Cards?
pub fn check_card(v: &Value) -> Result<(), &'static str> {
    if v["type"] != "message" {
        return Err("the body must be {\"type\": \"message\", \"attachments\": [...]}");
    }
    let Some(att) = v["attachments"].as_array().filter(|a| !a.is_empty()) else {
        return Err("attachments must be a non-empty array");
    };
    for a in att {
        if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
            return Err("only Adaptive Card attachments are supported");
        }
        let c = &a["content"];
        if c["type"] != "AdaptiveCard" || !c["version"].is_string() || !c["body"].is_array() {
            return Err("content must be an AdaptiveCard with a version and a body");
        }
    }
    Ok(())
}

async fn teams(
    State(st): State<Arc<ChatSim>>,
    Path(_flow): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: Bytes,
) -> Response {
    st.counters.teams_requests.fetch_add(1, Ordering::SeqCst);
    let f = st.admit(ChatTarget::Teams).await;
    if q.get("sig") != Some(&st.teams_sig) {
        return teams_error(
            StatusCode::UNAUTHORIZED,
            "DirectApiAuthorizationRequired",
            "The request must be authenticated with a valid signature.",
        );
    }
    match f {
        ChatFault::RateLimit { secs } => {
            return rate_limited(
                secs,
                teams_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "WorkflowRequestsThrottled",
                    "Rate limit exceeded.",
                ),
            );
        }
        ChatFault::ServerError | ChatFault::SlackError(_) => {
            return teams_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is unavailable.",
            );
        }
        ChatFault::Ok | ChatFault::CommitThenDrop => {}
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return teams_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The body is not JSON.",
        );
    };
    if let Err(m) = check_card(&v) {
        return teams_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", m);
    }
    st.teams_cards.lock().await.push(v);
    if f == ChatFault::CommitThenDrop {
        return dropped(&st);
    }
    StatusCode::ACCEPTED.into_response()
}

async fn webhook(
    State(st): State<Arc<ChatSim>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    st.counters.webhook_requests.fetch_add(1, Ordering::SeqCst);
    let f = st.admit(ChatTarget::Webhook).await;
    let now = chrono::Utc::now().timestamp();
    let secret = crate::config::Secret::new(st.webhook_secret.clone());
    if let Err(why) = crate::signature::verify(&secret, &headers, &body, now) {
        st.counters.webhook_rejected.fetch_add(1, Ordering::SeqCst);
        *st.last_rejection.lock().await = Some(why);
        return text(StatusCode::UNAUTHORIZED, "invalid signature");
    }
    match f {
        ChatFault::RateLimit { secs } => {
            return rate_limited(secs, text(StatusCode::TOO_MANY_REQUESTS, "slow down"));
        }
        ChatFault::ServerError | ChatFault::SlackError(_) => {
            return text(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
        ChatFault::Ok | ChatFault::CommitThenDrop => {}
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return text(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let id = super::header(&headers, "webhook-id").unwrap_or_default();
    let ts = super::header(&headers, "webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let fresh = st.seen_ids.lock().await.insert(id.clone());
    if fresh {
        st.deliveries.lock().await.push(Delivery {
            hook: name,
            id,
            timestamp: ts,
            body: v,
        });
    } else {
        st.counters
            .webhook_duplicates
            .fetch_add(1, Ordering::SeqCst);
    }
    if f == ChatFault::CommitThenDrop {
        return dropped(&st);
    }
    StatusCode::NO_CONTENT.into_response()
}
