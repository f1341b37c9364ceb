//! A loopback simulator of GitHub's pull-request REST API, and the state both forge
//! simulators share (`gitlab.rs` serves the same requests in GitLab's shapes).
//!
//! - `GET /repos/{owner}/{repo}/pulls?head=owner:branch&state=open|closed|all` → `[pull]`
//! - `POST /repos/{owner}/{repo}/pulls` `{title, head, base, body}` → 201 `pull`; 422
//!   `{"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
//!   "message": "A pull request already exists for owner:branch."}]}` when one is open for
//!   the head; 422 `{"field": "head", "code": "invalid"}` when the branch is not on the remote.
//! - `GET /repos/{owner}/{repo}/pulls/{number}` → `pull` (`state` open|closed, `merged`).
//! - `Authorization: Bearer|token <token>`; 401 `{"message": "Bad credentials"}`; 404
//!   `{"message": "Not Found"}` for another repository or number.
//! - Faults: a lost reply after creating (502 once the pull exists), rate limits (403 with
//!   `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, or 429 with `retry-after`), 500s.
//!
//! The remote a test pushes to is a bare repository; given its path, the simulator checks
//! that a pull's head branch was pushed there, as GitHub does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{SimError, json_response};

/// A pull / merge request the simulator holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPr {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    /// open | closed | merged
    pub state: String,
}

/// Faults for the next requests (each counts down as it is served).
#[derive(Debug, Default)]
pub struct ForgeFaults {
    /// Creates that succeed on the server but whose reply is lost (answered 502).
    pub lose_create_reply: AtomicU32,
    /// Requests answered as rate limited.
    pub rate_limit: AtomicU32,
    /// Requests answered 500.
    pub server_error: AtomicU32,
}

/// What the tests read back.
#[derive(Debug, Default)]
pub struct ForgeCounters {
    pub requests: AtomicU64,
    pub creates: AtomicU64,
    pub lists: AtomicU64,
    pub gets: AtomicU64,
    pub unauthorized: AtomicU64,
    pub rate_limited: AtomicU64,
}

/// The state of one simulated forge holding one repository.
pub struct ForgeSim {
    pub repo: String,
    pub token: String,
    /// The bare repository pushes go to (None: branches are not checked).
    pub git_dir: Option<PathBuf>,
    pub faults: ForgeFaults,
    pub counters: ForgeCounters,
    pulls: Mutex<Vec<SimPr>>,
    base_url: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn take(a: &AtomicU32) -> bool {
    a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl ForgeSim {
    /// Every request, in creation order.
    pub fn pulls(&self) -> Vec<SimPr> {
        lock(&self.pulls).clone()
    }

    /// Merge or close a request, as a reviewer would on the forge.
    pub fn set_state(&self, number: u64, state: &str) -> bool {
        let mut pulls = lock(&self.pulls);
        match pulls.iter_mut().find(|p| p.number == number) {
            Some(p) => {
                p.state = state.to_string();
                true
            }
            None => false,
        }
    }

    pub(super) fn find(&self, number: u64) -> Option<SimPr> {
        lock(&self.pulls)
            .iter()
            .find(|p| p.number == number)
            .cloned()
    }

    /// Requests of `head` in `state` (open | closed | merged | all).
    pub(super) fn by_head(&self, head: Option<&str>, state: &str) -> Vec<SimPr> {
        lock(&self.pulls)
            .iter()
            .filter(|p| head.is_none_or(|h| p.head == h))
            .filter(|p| state == "all" || p.state == state)
            .cloned()
            .collect()
    }

    /// Whether `branch` was pushed to the remote (always, without a remote to check).
    pub(super) fn branch_pushed(&self, branch: &str) -> bool {
        let Some(dir) = &self.git_dir else {
            return true;
        };
        std::process::Command::new("git")
            .arg("--git-dir")
            .arg(dir)
            .args([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Open a request for `head` unless one is open: Err(existing number) otherwise.
    pub fn open(&self, head: &str, base: &str, title: &str, body: &str) -> Result<SimPr, u64> {
        let mut pulls = lock(&self.pulls);
        if let Some(p) = pulls.iter().find(|p| p.head == head && p.state == "open") {
            return Err(p.number);
        }
        let pr = SimPr {
            number: pulls.len() as u64 + 1,
            head: head.to_string(),
            base: base.to_string(),
            title: title.to_string(),
            body: body.to_string(),
            state: "open".into(),
        };
        pulls.push(pr.clone());
        Ok(pr)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Count the request and serve the planned faults: Some(response) when one applies.
    /// `github`: GitHub's rate-limit answer (403 + x-ratelimit headers), else GitLab's (429).
    pub(super) fn gate(&self, token_ok: bool, github: bool) -> Option<Response> {
        self.counters.requests.fetch_add(1, Ordering::SeqCst);
        if take(&self.faults.rate_limit) {
            self.counters.rate_limited.fetch_add(1, Ordering::SeqCst);
            let now = chrono::Utc::now().timestamp();
            let mut r = if github {
                json_response(
                    StatusCode::FORBIDDEN,
                    &json!({"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
                )
            } else {
                json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({"message": "429 Too Many Requests"}),
                )
            };
            let h = r.headers_mut();
            if github {
                h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
                h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
                if let Ok(v) = HeaderValue::from_str(&(now + 1).to_string()) {
                    h.insert("x-ratelimit-reset", v);
                }
            } else {
                h.insert("retry-after", HeaderValue::from_static("1"));
                if let Ok(v) = HeaderValue::from_str(&(now + 1).to_string()) {
                    h.insert("ratelimit-reset", v);
                }
            }
            return Some(r);
        }
        if take(&self.faults.server_error) {
            return Some(json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"message": "Server Error"}),
            ));
        }
        if !token_ok {
            self.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
            return Some(json_response(
                StatusCode::UNAUTHORIZED,
                &if github {
                    json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
                } else {
                    json!({"message": "401 Unauthorized"})
                },
            ));
        }
        None
    }

    /// Whether this create's reply is to be lost (the request is made all the same).
    pub(super) fn lose_reply(&self) -> bool {
        take(&self.faults.lose_create_reply)
    }
}

/// A running forge simulator.
pub struct ForgeSimHandle {
    pub base_url: String,
    pub addr: SocketAddr,
    pub state: Arc<ForgeSim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for ForgeSimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// How to start a forge simulator.
#[derive(Debug, Clone, Default)]
pub struct ForgeSimOptions {
    pub port: u16,
    /// `owner/name` (GitHub) or `group/project` (GitLab).
    pub repo: String,
    pub token: String,
    /// The bare repository pushes go to.
    pub git_dir: Option<PathBuf>,
}

/// Bind, build the state, serve `routes` on it.
pub(super) async fn serve(
    opts: ForgeSimOptions,
    routes: impl FnOnce(Router<Arc<ForgeSim>>) -> Router<Arc<ForgeSim>>,
) -> Result<ForgeSimHandle, SimError> {
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
    let state = Arc::new(ForgeSim {
        repo: opts.repo,
        token: opts.token,
        git_dir: opts.git_dir,
        faults: ForgeFaults::default(),
        counters: ForgeCounters::default(),
        pulls: Mutex::new(Vec::new()),
        base_url: base_url.clone(),
    });
    let router = routes(Router::new()).with_state(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(ForgeSimHandle {
        base_url,
        addr,
        state,
        shutdown: Some(tx),
    })
}

/// Start the GitHub simulator.
pub async fn start(opts: ForgeSimOptions) -> Result<ForgeSimHandle, SimError> {
    serve(opts, |r| {
        r.route("/repos/{owner}/{repo}/pulls", get(list).post(create))
            .route("/repos/{owner}/{repo}/pulls/{number}", get(read))
    })
    .await
}

fn authorized(sim: &ForgeSim, headers: &HeaderMap) -> bool {
    let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let token = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("token "))
        .unwrap_or("");
    !sim.token.is_empty() && token == sim.token
}

fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/pulls/pulls", "status": "404"}),
    )
}

fn pull_json(sim: &ForgeSim, p: &SimPr) -> Value {
    let owner = sim.repo.split('/').next().unwrap_or_default();
    let merged = p.state == "merged";
    json!({
        "id": 1_000_000 + p.number,
        "number": p.number,
        "html_url": format!("{}/{}/pull/{}", sim.base_url, sim.repo, p.number),
        "url": format!("{}/repos/{}/pulls/{}", sim.base_url, sim.repo, p.number),
        "state": if p.state == "open" { "open" } else { "closed" },
        "merged": merged,
        "merged_at": if merged { json!("2026-12-07T12:00:00Z") } else { Value::Null },
        "title": p.title,
        "body": p.body,
        "head": {"ref": p.head, "label": format!("{owner}:{}", p.head)},
        "base": {"ref": p.base},
    })
}

async fn list(
    State(sim): State<Arc<ForgeSim>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = sim.gate(authorized(&sim, &headers), true) {
        return r;
    }
    sim.counters.lists.fetch_add(1, Ordering::SeqCst);
    if format!("{owner}/{repo}") != sim.repo {
        return not_found();
    }
    // `head` is `owner:branch`; GitHub ignores a head of another owner's fork here.
    let head = q
        .get("head")
        .map(|h| h.split_once(':').map_or(h.as_str(), |(_, b)| b));
    let state = q.get("state").map_or("open", String::as_str);
    let items: Vec<Value> = match state {
        "all" => sim.by_head(head, "all"),
        "closed" => {
            let mut v = sim.by_head(head, "closed");
            v.extend(sim.by_head(head, "merged"));
            v
        }
        _ => sim.by_head(head, "open"),
    }
    .iter()
    .map(|p| pull_json(&sim, p))
    .collect();
    json_response(StatusCode::OK, &Value::Array(items))
}

async fn create(
    State(sim): State<Arc<ForgeSim>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = sim.gate(authorized(&sim, &headers), true) {
        return r;
    }
    sim.counters.creates.fetch_add(1, Ordering::SeqCst);
    if format!("{owner}/{repo}") != sim.repo {
        return not_found();
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": "Problems parsing JSON"}),
        );
    };
    let field = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or_default();
    let (head, base, title) = (field("head"), field("base"), field("title"));
    let invalid = |field: &str| {
        json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": field, "code": if field == "title" { "missing_field" } else { "invalid" }}], "status": "422"}),
        )
    };
    if title.trim().is_empty() {
        return invalid("title");
    }
    let branch = head.split_once(':').map_or(head, |(_, b)| b);
    if branch.is_empty() || !sim.branch_pushed(branch) {
        return invalid("head");
    }
    if base.is_empty() {
        return invalid("base");
    }
    match sim.open(branch, base, title, field("body")) {
        Err(_) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {owner}:{branch}.")}], "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "422"}),
        ),
        Ok(_) if sim.lose_reply() => {
            json_response(StatusCode::BAD_GATEWAY, &json!({"message": "Server Error"}))
        }
        Ok(p) => json_response(StatusCode::CREATED, &pull_json(&sim, &p)),
    }
}

async fn read(
    State(sim): State<Arc<ForgeSim>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = sim.gate(authorized(&sim, &headers), true) {
        return r;
    }
    sim.counters.gets.fetch_add(1, Ordering::SeqCst);
    if format!("{owner}/{repo}") != sim.repo {
        return not_found();
    }
    match number.parse::<u64>().ok().and_then(|n| sim.find(n)) {
        Some(p) => json_response(StatusCode::OK, &pull_json(&sim, &p)),
        None => not_found(),
    }
}
