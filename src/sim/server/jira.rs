//! A loopback simulator of Jira: Cloud REST v3 (ADF bodies, Basic email:api_token,
//! `search/jql` with token paging) and Data Center REST v2 (string bodies, Bearer personal
//! access token, `/search` with `startAt`). docs: integrations.md §1.1.
//!
//! Faithful where sitrep depends on it: create answers `201 {id,key,self}`; labels with spaces,
//! unknown priorities, invalid ADF (empty text nodes, marks in a codeBlock) are `400` with
//! Jira's `{"errorMessages":[…],"errors":{…}}`; `search/jql` returns IDs only unless `fields`
//! is given, pages by `nextPageToken` (absent on the last page) and refuses `startAt`; the search
//! index lags writes by `index_lag` unless `reconcileIssues` names the issue; transitions are
//! looked up, then posted (`204`).
//!
//! Faults, settable at runtime through [`TicketFaults`] (shared with the ServiceNow simulator):
//! commit a write and then drop its response (the body is aborted), 429 with Retry-After,
//! 5xx, 401, latency. Ground truth: [`JiraSimHandle::issues`] and [`TicketCounters`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

use super::{SimError, json_response};

// ------------------------------------------------------------------ faults (shared)

/// A write that a "commit, then drop the response" fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteOp {
    Create,
    Comment,
    Transition,
    Update,
}

/// A response served instead of the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After: secs`.
    RateLimit { secs: u64 },
    /// This 5xx status, nothing done.
    ServerError(u16),
    /// 401, as if the credentials were revoked.
    Unauthorized,
}

/// Faults a test arms at runtime.
#[derive(Debug, Default)]
pub struct TicketFaults {
    drop_for: Mutex<HashSet<String>>,
    drop_next: Mutex<HashMap<WriteOp, u32>>,
    after_commit: Mutex<HashMap<WriteOp, VecDeque<u16>>>,
    next: Mutex<VecDeque<Fault>>,
    latency: Mutex<Duration>,
    not_before: Mutex<Option<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TicketFaults {
    /// The next create of a ticket carrying `fingerprint` (a Jira label, a ServiceNow
    /// correlation_id) commits, then its response is dropped.
    pub fn drop_create_for(&self, fingerprint: &str) {
        lock(&self.drop_for).insert(fingerprint.to_string());
    }

    /// The next `n` writes of kind `op` commit, then their responses are dropped.
    pub fn drop_next(&self, op: WriteOp, n: u32) {
        *lock(&self.drop_next).entry(op).or_insert(0) += n;
    }

    /// The next write of kind `op` commits, then is answered with this 5xx status (a gateway
    /// that gave up after the backend wrote).
    pub fn fail_after_commit(&self, op: WriteOp, status: u16) {
        lock(&self.after_commit)
            .entry(op)
            .or_default()
            .push_back(status);
    }

    /// The next `n` requests (any endpoint, after auth) are answered with `fault`.
    pub fn fail_next(&self, fault: Fault, n: usize) {
        let mut q = lock(&self.next);
        for _ in 0..n {
            q.push_back(fault);
        }
    }

    /// Every request waits this long first.
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.latency) = d;
    }

    /// Clear every armed fault.
    pub fn clear(&self) {
        lock(&self.drop_for).clear();
        lock(&self.drop_next).clear();
        lock(&self.after_commit).clear();
        lock(&self.next).clear();
        *lock(&self.latency) = Duration::ZERO;
    }

    /// Should this write's response be dropped? (Consumes the arming.)
    pub(crate) fn take_drop(&self, op: WriteOp, fingerprints: &[&str]) -> bool {
        if op == WriteOp::Create {
            let mut set = lock(&self.drop_for);
            if let Some(fp) = fingerprints.iter().find(|f| set.contains(**f)) {
                let fp = fp.to_string();
                set.remove(&fp);
                return true;
            }
        }
        let mut m = lock(&self.drop_next);
        match m.get_mut(&op) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// The response to a committed write when a fault is armed for it: dropped, or a 5xx.
    pub(crate) fn after_write(
        &self,
        op: WriteOp,
        fingerprints: &[&str],
        counters: &TicketCounters,
        status: StatusCode,
        body: &Value,
        error: fn(StatusCode, &str) -> Response,
    ) -> Option<Response> {
        if self.take_drop(op, fingerprints) {
            counters.dropped.fetch_add(1, Ordering::SeqCst);
            return Some(dropped_response(status, body));
        }
        let code = lock(&self.after_commit).get_mut(&op)?.pop_front()?;
        counters.server_errors.fetch_add(1, Ordering::SeqCst);
        Some(error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::GATEWAY_TIMEOUT),
            "Gateway timeout.",
        ))
    }

    /// Latency, then the next queued fault (with the system's error body), if any.
    pub(crate) async fn gate(
        &self,
        counters: &TicketCounters,
        error: fn(StatusCode, &str) -> Response,
    ) -> Option<Response> {
        counters.requests.fetch_add(1, Ordering::SeqCst);
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        {
            let mut nb = lock(&self.not_before);
            if let Some(t) = *nb {
                if Instant::now() < t {
                    counters.early_requests.fetch_add(1, Ordering::SeqCst);
                } else {
                    *nb = None;
                }
            }
        }
        let f = lock(&self.next).pop_front()?;
        Some(match f {
            Fault::RateLimit { secs } => {
                counters.rate_limited.fetch_add(1, Ordering::SeqCst);
                *lock(&self.not_before) = Some(Instant::now() + Duration::from_secs(secs));
                let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded.");
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert("retry-after", v);
                }
                r
            }
            Fault::ServerError(code) => {
                counters.server_errors.fetch_add(1, Ordering::SeqCst);
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                error(status, "Internal server error.")
            }
            Fault::Unauthorized => {
                counters.unauthorized.fetch_add(1, Ordering::SeqCst);
                error(StatusCode::UNAUTHORIZED, "Authentication required.")
            }
        })
    }
}

/// What the tests read back.
#[derive(Debug, Default)]
pub struct TicketCounters {
    pub requests: AtomicU64,
    /// Create requests received (whatever became of them).
    pub create_requests: AtomicU64,
    /// Tickets committed.
    pub creates: AtomicU64,
    pub searches: AtomicU64,
    /// Comments / work notes committed.
    pub comments: AtomicU64,
    /// Transitions / state changes committed.
    pub transitions: AtomicU64,
    /// Responses dropped after the write committed.
    pub dropped: AtomicU64,
    pub rate_limited: AtomicU64,
    pub early_requests: AtomicU64,
    pub server_errors: AtomicU64,
    pub unauthorized: AtomicU64,
}

impl TicketCounters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }
}

/// A response whose status line went out but whose body breaks off: the write is committed,
/// the client gets no usable answer.
pub(crate) fn dropped_response(status: StatusCode, body: &Value) -> Response {
    let bytes = body.to_string().into_bytes();
    let half = bytes[..bytes.len() / 2].to_vec();
    let items: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(half)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated lost response",
        )),
    ];
    let mut r = Response::new(Body::from_stream(futures_util::stream::iter(items)));
    *r.status_mut() = if status == StatusCode::NO_CONTENT {
        StatusCode::OK
    } else {
        status
    };
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

// ------------------------------------------------------------------ Jira data

/// One comment.
#[derive(Debug, Clone)]
pub struct SimComment {
    pub id: String,
    /// ADF document (v3) or string (v2), as posted.
    pub body: Value,
}

/// One issue (ground truth).
#[derive(Debug, Clone)]
pub struct SimIssue {
    pub id: String,
    pub key: String,
    pub summary: String,
    pub issue_type: String,
    pub priority: String,
    pub labels: Vec<String>,
    /// ADF document (v3) or string (v2), as posted.
    pub description: Value,
    pub status: String,
    pub resolution: Option<String>,
    pub comments: Vec<SimComment>,
    /// The project key it was created in.
    pub project: String,
    /// Component names as posted (`fields.components[].name`).
    pub components: Vec<String>,
    created: Instant,
}

/// The workflow: (transition id, transition name, target status, status category key).
const WORKFLOW: [(&str, &str, &str, &str); 4] = [
    ("11", "Back to To Do", "To Do", "new"),
    ("21", "Start Progress", "In Progress", "indeterminate"),
    ("31", "Done", "Done", "done"),
    ("41", "Close as Won't Fix", "Closed", "done"),
];
const PRIORITIES: [&str; 5] = ["Highest", "High", "Medium", "Low", "Lowest"];
const ISSUE_TYPES: [&str; 4] = ["Task", "Bug", "Story", "Incident"];

fn category(status: &str) -> (&'static str, &'static str) {
    match WORKFLOW.iter().find(|w| w.2 == status).map(|w| w.3) {
        Some("done") => ("done", "Done"),
        Some("indeterminate") => ("indeterminate", "In Progress"),
        _ => ("new", "To Do"),
    }
}

struct Db {
    issues: Vec<SimIssue>,
    /// label → indexes into `issues` (the search's index).
    by_label: HashMap<String, Vec<usize>>,
    next: u64,
    next_comment: u64,
    /// page token → (jql, offset)
    tokens: HashMap<String, (String, usize)>,
}

/// The simulator's state.
pub struct JiraSim {
    db: Mutex<Db>,
    pub faults: TicketFaults,
    pub counters: TicketCounters,
    index_lag: Mutex<Duration>,
    pub project: String,
    /// More projects, each with the components it has (owner routing in tests/owners.rs).
    extra_projects: Mutex<Vec<(String, Vec<String>)>>,
    pub email: String,
    pub api_token: String,
    pub pat: String,
    base_url: Mutex<String>,
}

impl JiraSim {
    /// Accept issues in project `key` too, with these components (the main project takes
    /// any component name).
    pub fn add_project(&self, key: &str, components: &[&str]) {
        lock(&self.extra_projects).push((
            key.to_string(),
            components.iter().map(|c| c.to_string()).collect(),
        ));
    }

    /// The components project `key` accepts: None for an unknown project, Some(None) for any.
    fn components_of(&self, key: &str) -> Option<Option<Vec<String>>> {
        if key == self.project {
            return Some(None);
        }
        lock(&self.extra_projects)
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, c)| Some(c.clone()))
    }

    /// New issues are invisible to JQL for this long unless `reconcileIssues` names them.
    pub fn set_index_lag(&self, d: Duration) {
        *lock(&self.index_lag) = d;
    }

    pub fn index_lag(&self) -> Duration {
        *lock(&self.index_lag)
    }

    /// Move an issue as a person in Jira would (no comment): `status` is a workflow status name.
    /// Returns false when there is no such issue or status.
    pub fn set_status(&self, key: &str, status: &str) -> bool {
        let Some(w) = WORKFLOW.iter().find(|w| w.2 == status) else {
            return false;
        };
        let mut db = lock(&self.db);
        let Some(i) = find_issue(&mut db, key) else {
            return false;
        };
        i.status = w.2.to_string();
        i.resolution = (w.3 == "done").then(|| "Done".to_string());
        true
    }

    /// Every issue, in creation order.
    pub fn issues(&self) -> Vec<SimIssue> {
        lock(&self.db).issues.clone()
    }

    /// Issues carrying `label`.
    pub fn issues_with_label(&self, label: &str) -> Vec<SimIssue> {
        lock(&self.db)
            .issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| l == label))
            .cloned()
            .collect()
    }

    fn base(&self) -> String {
        lock(&self.base_url).clone()
    }
}

/// Jira's error body.
fn jira_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({"errorMessages": [message], "errors": {}}))
}

fn field_error(field: &str, message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"errorMessages": [], "errors": {field: message}}),
    )
}

/// A running Jira simulator.
pub struct JiraSimHandle {
    pub base_url: String,
    pub addr: SocketAddr,
    pub state: Arc<JiraSim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl JiraSimHandle {
    pub fn email(&self) -> &str {
        &self.state.email
    }
    pub fn api_token(&self) -> &str {
        &self.state.api_token
    }
    pub fn pat(&self) -> &str {
        &self.state.pat
    }
    pub fn issues(&self) -> Vec<SimIssue> {
        self.state.issues()
    }

    /// Environment a client needs: `JIRA_API_TOKEN` (Cloud) and `JIRA_PAT` (Data Center).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("JIRA_API_TOKEN".into(), self.state.api_token.clone()),
            ("JIRA_PAT".into(), self.state.pat.clone()),
        ]
    }

    /// A ready `[tickets.jira]` table naming those variables.
    pub fn tickets_toml(&self, data_center: bool) -> String {
        if data_center {
            format!(
                "[tickets.jira]\nflavor = \"data-center\"\nbase_url = \"{}\"\nproject = \"{}\"\ntoken = {{ env = \"JIRA_PAT\" }}\n",
                self.base_url, self.state.project
            )
        } else {
            format!(
                "[tickets.jira]\nflavor = \"cloud\"\nbase_url = \"{}\"\nproject = \"{}\"\nemail = \"{}\"\ntoken = {{ env = \"JIRA_API_TOKEN\" }}\n",
                self.base_url, self.state.project, self.state.email
            )
        }
    }
}

impl Drop for JiraSimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// How to start the Jira simulator.
#[derive(Debug, Clone)]
pub struct JiraSimOptions {
    /// 0: any free port.
    pub port: u16,
    pub project: String,
    /// Search index lag for new issues. Keep it under the outbox's minimum retry backoff
    /// (1 s): the default is 200 ms.
    pub index_lag: Duration,
    /// Seeds the credentials.
    pub seed: u64,
}

impl Default for JiraSimOptions {
    fn default() -> Self {
        JiraSimOptions {
            port: 0,
            project: "SEC".into(),
            index_lag: Duration::from_millis(200),
            seed: 1,
        }
    }
}

/// Start on 127.0.0.1.
pub async fn start(opts: JiraSimOptions) -> Result<JiraSimHandle, SimError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|source| SimError::Bind {
            port: opts.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        port: opts.port,
        source,
    })?;
    let base_url = format!("http://{addr}");
    let state = Arc::new(JiraSim {
        db: Mutex::new(Db {
            issues: Vec::new(),
            by_label: HashMap::new(),
            next: 1,
            next_comment: 10_000,
            tokens: HashMap::new(),
        }),
        faults: TicketFaults::default(),
        counters: TicketCounters::default(),
        index_lag: Mutex::new(opts.index_lag),
        project: opts.project.clone(),
        extra_projects: Mutex::new(Vec::new()),
        email: "soc@example.test".into(),
        api_token: format!(
            "ATATT-sim-{:016x}",
            opts.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ),
        pat: format!(
            "pat-sim-{:016x}",
            opts.seed.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ),
        base_url: Mutex::new(base_url.clone()),
    });
    let router = Router::new()
        .route("/rest/api/{v}/priority", get(priorities))
        .route("/rest/api/{v}/issue", post(create))
        .route("/rest/api/{v}/issue/{key}", get(read_issue))
        .route(
            "/rest/api/{v}/issue/{key}/comment",
            get(list_comments).post(add_comment),
        )
        .route(
            "/rest/api/{v}/issue/{key}/transitions",
            get(list_transitions).post(do_transition),
        )
        .route("/rest/api/3/search/jql", get(search_jql).post(search_jql))
        .route("/rest/api/2/search", get(search_v2).post(search_v2))
        .with_state(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(JiraSimHandle {
        base_url,
        addr,
        state,
        shutdown: Some(tx),
    })
}

// ------------------------------------------------------------------ request plumbing

/// API version from the path: 2 or 3.
fn version(v: &str) -> Option<u8> {
    match v {
        "2" => Some(2),
        "3" => Some(3),
        _ => None,
    }
}

/// Auth (v3: Basic email:api_token; v2: that or Bearer PAT), then the fault gate.
async fn admit(st: &JiraSim, v: u8, headers: &HeaderMap) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", st.email, st.api_token))
    );
    let ok = auth == basic || (v == 2 && auth == format!("Bearer {}", st.pat));
    if !ok {
        st.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        st.counters.requests.fetch_add(1, Ordering::SeqCst);
        return Some(jira_error(
            StatusCode::UNAUTHORIZED,
            "Client must be authenticated to access this resource.",
        ));
    }
    st.faults.gate(&st.counters, jira_error).await
}

macro_rules! admit_or_return {
    ($st:expr, $v:expr, $headers:expr) => {{
        let Some(v) = version(&$v) else {
            return jira_error(StatusCode::NOT_FOUND, "No REST resource at this path.");
        };
        if let Some(r) = admit(&$st, v, &$headers).await {
            return r;
        }
        v
    }};
}

fn issue_json(st: &JiraSim, i: &SimIssue, v: u8, fields: Option<&[String]>) -> Value {
    let (cat_key, cat_name) = category(&i.status);
    let all = json!({
        "summary": i.summary,
        "issuetype": {"name": i.issue_type},
        "project": {"key": i.project},
        "components": i.components.iter().map(|c| json!({"name": c})).collect::<Vec<_>>(),
        "priority": {"name": i.priority},
        "labels": i.labels,
        "description": i.description,
        "status": {"name": i.status, "statusCategory": {"key": cat_key, "name": cat_name}},
        "resolution": i.resolution.as_ref().map(|r| json!({"name": r})),
    });
    let mut out = json!({"id": i.id, "key": i.key, "self": format!("{}/rest/api/{v}/issue/{}", st.base(), i.id)});
    let want: Vec<String> = match fields {
        None => vec!["*all".into()],
        Some(f) => f.to_vec(),
    };
    let mut map = serde_json::Map::new();
    if let Some(obj) = all.as_object() {
        for (k, val) in obj {
            if want
                .iter()
                .any(|w| w == k || w == "*all" || w == "*navigable")
            {
                map.insert(k.clone(), val.clone());
            }
        }
    }
    out["fields"] = Value::Object(map);
    out
}

fn find_issue<'a>(db: &'a mut Db, key: &str) -> Option<&'a mut SimIssue> {
    db.issues
        .iter_mut()
        .find(|i| i.key.eq_ignore_ascii_case(key) || i.id == key)
}

fn not_found() -> Response {
    jira_error(
        StatusCode::NOT_FOUND,
        "Issue does not exist or you do not have permission to see it.",
    )
}

/// Validate an ADF document the way Jira's schema does (the part sitrep uses).
pub fn validate_adf(doc: &Value) -> Result<(), String> {
    if doc["type"] != "doc" || doc["version"] != 1 || !doc["content"].is_array() {
        return Err("root must be {type: doc, version: 1, content: [...]}".into());
    }
    fn node(n: &Value, in_code: bool) -> Result<(), String> {
        let t = n["type"].as_str().ok_or("a node has no type")?;
        const BLOCKS: [&str; 14] = [
            "paragraph",
            "heading",
            "bulletList",
            "orderedList",
            "listItem",
            "codeBlock",
            "table",
            "tableRow",
            "tableHeader",
            "tableCell",
            "rule",
            "blockquote",
            "panel",
            "hardBreak",
        ];
        match t {
            "text" => {
                let s = n["text"].as_str().ok_or("text node without text")?;
                if s.is_empty() {
                    return Err("text node with empty text (minLength 1)".into());
                }
                if let Some(marks) = n.get("marks") {
                    let marks = marks.as_array().ok_or("marks must be an array")?;
                    if in_code && !marks.is_empty() {
                        return Err("codeBlock text may not carry marks".into());
                    }
                    for m in marks {
                        let mt = m["type"].as_str().unwrap_or("");
                        if !["strong", "em", "code", "strike", "underline", "link"].contains(&mt) {
                            return Err(format!("unknown mark {mt}"));
                        }
                    }
                }
                Ok(())
            }
            t if BLOCKS.contains(&t) => {
                if t == "heading" {
                    let l = n["attrs"]["level"].as_u64().unwrap_or(0);
                    if !(1..=6).contains(&l) {
                        return Err("heading level must be 1-6".into());
                    }
                }
                if let Some(c) = n.get("content") {
                    for child in c.as_array().ok_or("content must be an array")? {
                        node(child, in_code || t == "codeBlock")?;
                    }
                }
                Ok(())
            }
            other => Err(format!("unsupported node type {other}")),
        }
    }
    for n in doc["content"].as_array().into_iter().flatten() {
        node(n, false)?;
    }
    Ok(())
}

/// A body field: ADF on v3, a string on v2.
fn check_body(v: u8, field: &str, body: &Value) -> Result<(), Box<Response>> {
    if v == 3 {
        validate_adf(body).map_err(|e| {
            Box::new(field_error(
                field,
                &format!("Operation value must be an Atlassian Document (see the Atlassian Document Format): {e}"),
            ))
        })
    } else if body.is_string() {
        Ok(())
    } else {
        Err(Box::new(field_error(
            field,
            "Operation value must be a string",
        )))
    }
}

// ------------------------------------------------------------------ handlers

async fn priorities(
    State(st): State<Arc<JiraSim>>,
    Path(v): Path<String>,
    headers: HeaderMap,
) -> Response {
    let _ = admit_or_return!(st, v, headers);
    let list: Vec<Value> = PRIORITIES
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": (i + 1).to_string(), "name": p}))
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}

async fn create(
    State(st): State<Arc<JiraSim>>,
    Path(v): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v = admit_or_return!(st, v, headers);
    st.counters.create_requests.fetch_add(1, Ordering::SeqCst);
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return jira_error(
            StatusCode::BAD_REQUEST,
            "Unexpected character in request body.",
        );
    };
    let f = &req["fields"];
    let project = f["project"]["key"].as_str().unwrap_or("").to_string();
    let Some(known_components) = st.components_of(&project) else {
        return field_error("project", "valid project is required");
    };
    let mut components = Vec::new();
    for c in f["components"].as_array().into_iter().flatten() {
        let Some(name) = c["name"].as_str() else {
            return field_error("components", "Component name or id is required.");
        };
        if known_components
            .as_ref()
            .is_some_and(|k| !k.iter().any(|x| x == name))
        {
            return field_error(
                "components",
                &format!("Component name '{name}' is not valid"),
            );
        }
        components.push(name.to_string());
    }
    let issue_type = f["issuetype"]["name"].as_str().unwrap_or("");
    if !ISSUE_TYPES.contains(&issue_type) {
        return field_error("issuetype", "Specify a valid issue type");
    }
    let summary = f["summary"].as_str().unwrap_or("");
    if summary.trim().is_empty() {
        return field_error("summary", "You must specify a summary of the issue.");
    }
    if summary.contains('\n') || summary.contains('\r') {
        return field_error(
            "summary",
            "The summary is invalid because it contains newline characters.",
        );
    }
    if summary.chars().count() > 255 {
        return field_error("summary", "Summary must be less than 255 characters.");
    }
    let mut labels = Vec::new();
    for l in f["labels"].as_array().into_iter().flatten() {
        let Some(s) = l.as_str() else {
            return field_error("labels", "Labels must be strings.");
        };
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            return field_error(
                "labels",
                &format!("The label '{s}' contains spaces which is invalid."),
            );
        }
        if s.chars().count() > 255 {
            return field_error("labels", "The label must not exceed 255 characters.");
        }
        labels.push(s.to_string());
    }
    let priority = match f.get("priority") {
        None => "Medium".to_string(),
        Some(p) => match p["name"].as_str() {
            Some(n) if PRIORITIES.contains(&n) => n.to_string(),
            _ => {
                return field_error(
                    "priority",
                    "Specify the Priority (id or name) in the string format",
                );
            }
        },
    };
    let description = f.get("description").cloned().unwrap_or(Value::Null);
    if !description.is_null()
        && let Err(r) = check_body(v, "description", &description)
    {
        return *r;
    }
    let issue = {
        let mut db = lock(&st.db);
        let n = db.next;
        db.next += 1;
        let issue = SimIssue {
            id: (10_000 + n).to_string(),
            key: format!("{project}-{n}"),
            summary: summary.to_string(),
            issue_type: issue_type.to_string(),
            priority,
            labels,
            description,
            status: "To Do".into(),
            resolution: None,
            comments: Vec::new(),
            project,
            components,
            created: Instant::now(),
        };
        let idx = db.issues.len();
        for l in &issue.labels {
            db.by_label.entry(l.clone()).or_default().push(idx);
        }
        db.issues.push(issue.clone());
        issue
    };
    st.counters.creates.fetch_add(1, Ordering::SeqCst);
    let out = json!({"id": issue.id, "key": issue.key, "self": format!("{}/rest/api/{v}/issue/{}", st.base(), issue.id)});
    let fps: Vec<&str> = issue.labels.iter().map(String::as_str).collect();
    if let Some(r) = st.faults.after_write(
        WriteOp::Create,
        &fps,
        &st.counters,
        StatusCode::CREATED,
        &out,
        jira_error,
    ) {
        return r;
    }
    json_response(StatusCode::CREATED, &out)
}

fn fields_param(q: &HashMap<String, String>) -> Option<Vec<String>> {
    q.get("fields").map(|f| {
        f.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

async fn read_issue(
    State(st): State<Arc<JiraSim>>,
    Path((v, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let v = admit_or_return!(st, v, headers);
    let mut db = lock(&st.db);
    match find_issue(&mut db, &key) {
        Some(i) => {
            let i = i.clone();
            drop(db);
            json_response(
                StatusCode::OK,
                &issue_json(&st, &i, v, fields_param(&q).as_deref()),
            )
        }
        None => not_found(),
    }
}

fn comment_json(c: &SimComment) -> Value {
    json!({"id": c.id, "body": c.body, "author": {"displayName": "sitrep"}, "created": "2026-01-01T00:00:00.000+0000"})
}

async fn list_comments(
    State(st): State<Arc<JiraSim>>,
    Path((v, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _ = admit_or_return!(st, v, headers);
    let start: usize = q.get("startAt").and_then(|s| s.parse().ok()).unwrap_or(0);
    let max: usize = q
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50)
        .clamp(1, 100);
    let mut db = lock(&st.db);
    let Some(i) = find_issue(&mut db, &key) else {
        return not_found();
    };
    let page: Vec<Value> = i
        .comments
        .iter()
        .skip(start)
        .take(max)
        .map(comment_json)
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"startAt": start, "maxResults": max, "total": i.comments.len(), "comments": page}),
    )
}

async fn add_comment(
    State(st): State<Arc<JiraSim>>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v = admit_or_return!(st, v, headers);
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return jira_error(
            StatusCode::BAD_REQUEST,
            "Unexpected character in request body.",
        );
    };
    let b = req["body"].clone();
    if let Err(r) = check_body(v, "comment", &b) {
        return *r;
    }
    let c = {
        let mut db = lock(&st.db);
        let id = db.next_comment;
        db.next_comment += 1;
        let Some(i) = find_issue(&mut db, &key) else {
            return not_found();
        };
        let c = SimComment {
            id: id.to_string(),
            body: b,
        };
        i.comments.push(c.clone());
        c
    };
    st.counters.comments.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = st.faults.after_write(
        WriteOp::Comment,
        &[],
        &st.counters,
        StatusCode::CREATED,
        &comment_json(&c),
        jira_error,
    ) {
        return r;
    }
    json_response(StatusCode::CREATED, &comment_json(&c))
}

fn transitions_json(status: &str, expand_fields: bool) -> Value {
    let list: Vec<Value> = WORKFLOW
        .iter()
        .filter(|w| w.2 != status)
        .map(|(id, name, to, cat)| {
            let mut t = json!({"id": id, "name": name, "to": {"name": to, "statusCategory": {"key": cat}}});
            if expand_fields {
                t["fields"] = if *cat == "done" {
                    json!({"resolution": {"required": false, "name": "Resolution", "allowedValues": [{"name": "Done"}, {"name": "Won't Do"}]}})
                } else {
                    json!({})
                };
            }
            t
        })
        .collect();
    json!({"expand": "transitions", "transitions": list})
}

async fn list_transitions(
    State(st): State<Arc<JiraSim>>,
    Path((v, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _ = admit_or_return!(st, v, headers);
    let mut db = lock(&st.db);
    let Some(i) = find_issue(&mut db, &key) else {
        return not_found();
    };
    let expand = q
        .get("expand")
        .is_some_and(|e| e.contains("transitions.fields"));
    json_response(StatusCode::OK, &transitions_json(&i.status, expand))
}

async fn do_transition(
    State(st): State<Arc<JiraSim>>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v = admit_or_return!(st, v, headers);
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return jira_error(
            StatusCode::BAD_REQUEST,
            "Unexpected character in request body.",
        );
    };
    let tid = req["transition"]["id"].as_str().unwrap_or("").to_string();
    let mut comments = Vec::new();
    for c in req["update"]["comment"].as_array().into_iter().flatten() {
        let b = c["add"]["body"].clone();
        if let Err(r) = check_body(v, "comment", &b) {
            return *r;
        }
        comments.push(b);
    }
    let resolution = req["fields"]["resolution"]["name"]
        .as_str()
        .map(str::to_string);
    {
        let mut db = lock(&st.db);
        let mut next_comment = db.next_comment;
        let Some(i) = find_issue(&mut db, &key) else {
            return not_found();
        };
        let Some(w) = WORKFLOW.iter().find(|w| w.0 == tid && w.2 != i.status) else {
            return jira_error(
                StatusCode::BAD_REQUEST,
                &format!("Transition id '{tid}' is not valid for this issue."),
            );
        };
        i.status = w.2.to_string();
        i.resolution = if w.3 == "done" {
            Some(resolution.unwrap_or_else(|| "Done".into()))
        } else {
            None
        };
        for b in comments {
            i.comments.push(SimComment {
                id: next_comment.to_string(),
                body: b,
            });
            next_comment += 1;
        }
        db.next_comment = next_comment;
    }
    st.counters.transitions.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = st.faults.after_write(
        WriteOp::Transition,
        &[],
        &st.counters,
        StatusCode::NO_CONTENT,
        &json!({}),
        jira_error,
    ) {
        return r;
    }
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .unwrap_or_default()
}

// ------------------------------------------------------------------ JQL

/// `field = "v"`, `field = v`, `field in (a, b)` joined by AND, optional ORDER BY (ignored:
/// results come in creation order). Fields: project, labels, key/issuekey, status.
fn jql_matcher(jql: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let lower = jql.to_ascii_lowercase();
    let body = match lower.find("order by") {
        Some(i) => &jql[..i],
        None => jql,
    };
    let mut out = Vec::new();
    for clause in split_and(body) {
        let clause = clause.trim();
        if clause.is_empty() {
            continue;
        }
        let (field, values) = if let Some((f, v)) = clause.split_once('=') {
            (f.trim().to_ascii_lowercase(), vec![unquote(v.trim())])
        } else if let Some(i) = clause.to_ascii_lowercase().find(" in ") {
            let f = clause[..i].trim().to_ascii_lowercase();
            let list = clause[i + 4..]
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')');
            (f, list.split(',').map(|x| unquote(x.trim())).collect())
        } else {
            return Err(format!("Error in the JQL Query: cannot parse '{clause}'."));
        };
        if !["project", "labels", "key", "issuekey", "status"].contains(&field.as_str()) {
            return Err(format!(
                "Field '{field}' does not exist or you do not have permission to view it."
            ));
        }
        out.push((field, values));
    }
    Ok(out)
}

fn split_and(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && i + 5 <= chars.len() {
            let w: String = chars[i..i + 5].iter().collect();
            if w.eq_ignore_ascii_case(" and ") {
                parts.push(std::mem::take(&mut cur));
                i += 5;
                continue;
            }
        }
        cur.push(c);
        i += 1;
    }
    parts.push(cur);
    parts
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').trim_matches('\'').to_string()
}

fn matches(i: &SimIssue, m: &[(String, Vec<String>)]) -> bool {
    m.iter().all(|(f, vals)| match f.as_str() {
        "project" => vals.iter().any(|v| v.eq_ignore_ascii_case(&i.project)),
        "labels" => vals.iter().any(|v| i.labels.contains(v)),
        "key" | "issuekey" => vals
            .iter()
            .any(|v| v.eq_ignore_ascii_case(&i.key) || *v == i.id),
        "status" => vals.iter().any(|v| v.eq_ignore_ascii_case(&i.status)),
        _ => false,
    })
}

/// Issues matching `jql` that the search index can see (lag, reconcile).
fn search_hits(
    st: &JiraSim,
    jql: &str,
    reconcile: &[String],
) -> Result<Vec<SimIssue>, Box<Response>> {
    let m = jql_matcher(jql).map_err(|e| Box::new(jira_error(StatusCode::BAD_REQUEST, &e)))?;
    let lag = st.index_lag();
    let now = Instant::now();
    st.counters.searches.fetch_add(1, Ordering::SeqCst);
    let db = lock(&st.db);
    let labels = m.iter().find(|(f, _)| f == "labels").map(|(_, v)| v);
    let candidates: Vec<usize> = match labels {
        Some(vals) => {
            let mut idx: Vec<usize> = vals
                .iter()
                .filter_map(|v| db.by_label.get(v))
                .flatten()
                .copied()
                .collect();
            idx.sort_unstable();
            idx.dedup();
            idx
        }
        None => (0..db.issues.len()).collect(),
    };
    Ok(candidates
        .into_iter()
        .filter_map(|k| db.issues.get(k))
        .filter(|i| i.created + lag <= now || reconcile.contains(&i.id))
        .filter(|i| matches(i, &m))
        .cloned()
        .collect())
}

/// GET params or POST body, as one JSON object.
fn params(q: HashMap<String, String>, body: &Bytes) -> Result<Value, Box<Response>> {
    if !body.is_empty() {
        return serde_json::from_slice::<Value>(body).map_err(|_| {
            Box::new(jira_error(
                StatusCode::BAD_REQUEST,
                "Invalid request payload. Refer to the REST API documentation and try again.",
            ))
        });
    }
    let mut m = serde_json::Map::new();
    for (k, v) in q {
        let val = match k.as_str() {
            "fields" | "reconcileIssues" => {
                Value::Array(v.split(',').map(|x| json!(x.trim())).collect())
            }
            "maxResults" | "startAt" => v.parse::<u64>().map(Value::from).unwrap_or(json!(v)),
            _ => Value::String(v),
        };
        m.insert(k, val);
    }
    Ok(Value::Object(m))
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    })
}

async fn search_jql(
    State(st): State<Arc<JiraSim>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = admit(&st, 3, &headers).await {
        return r;
    }
    let p = match params(q, &body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if p.get("startAt").is_some() {
        return jira_error(
            StatusCode::BAD_REQUEST,
            "Invalid request payload. Refer to the REST API documentation and try again.",
        );
    }
    let jql = p["jql"].as_str().unwrap_or("").to_string();
    if jql.trim().is_empty() {
        return jira_error(
            StatusCode::BAD_REQUEST,
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        );
    }
    let fields = string_list(&p["fields"]).filter(|f| !f.is_empty());
    let reconcile = string_list(&p["reconcileIssues"]).unwrap_or_default();
    let max = p["maxResults"]
        .as_u64()
        .unwrap_or(50)
        .clamp(1, if fields.is_some() { 100 } else { 5000 }) as usize;
    let offset = match p["nextPageToken"].as_str() {
        None => 0,
        Some(t) => match lock(&st.db).tokens.get(t) {
            Some((q, off)) if *q == jql => *off,
            _ => {
                return jira_error(
                    StatusCode::BAD_REQUEST,
                    "The provided next page token is invalid or expired.",
                );
            }
        },
    };
    let hits = match search_hits(&st, &jql, &reconcile) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(max)
        .map(|i| match &fields {
            Some(f) => issue_json(&st, i, 3, Some(f)),
            None => json!({"id": i.id}),
        })
        .collect();
    let end = offset + page.len();
    let mut out = json!({"issues": page, "isLast": end >= hits.len()});
    if end < hits.len() {
        let mut db = lock(&st.db);
        let token = format!("pt{:08x}{}", db.tokens.len() + 1, end);
        db.tokens.insert(token.clone(), (jql, end));
        out["nextPageToken"] = json!(token);
    }
    json_response(StatusCode::OK, &out)
}

async fn search_v2(
    State(st): State<Arc<JiraSim>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = admit(&st, 2, &headers).await {
        return r;
    }
    let p = match params(q, &body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let jql = p["jql"].as_str().unwrap_or("").to_string();
    let fields = string_list(&p["fields"]).filter(|f| !f.is_empty());
    let start = p["startAt"].as_u64().unwrap_or(0) as usize;
    let max = p["maxResults"].as_u64().unwrap_or(50).clamp(1, 1000) as usize;
    let hits = match search_hits(&st, &jql, &[]) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let page: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(max)
        .map(|i| issue_json(&st, i, 2, fields.as_deref()))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"expand": "schema,names", "startAt": start, "maxResults": max, "total": hits.len(), "issues": page}),
    )
}
