//! A loopback simulator of GitLab's merge-request REST API (v4), on the state the GitHub
//! simulator defines (`github::ForgeSim`).
//!
//! - `GET /api/v4/projects/:id/merge_requests?source_branch=…&state=opened|closed|merged|all`
//! - `POST /api/v4/projects/:id/merge_requests` `{source_branch, target_branch, title,
//!   description}` → 201 `mr`; 409 `{"message": ["Another open merge request already exists
//!   for this source branch: !N"]}`; 422 when the source branch was not pushed.
//! - `GET /api/v4/projects/:id/merge_requests/:iid` → `mr` (`state` opened|closed|merged).
//! - `:id` is the URL-encoded path (`group%2Fproject`) or the numeric id 42.
//! - `PRIVATE-TOKEN` header; 401 `{"message": "401 Unauthorized"}`; 404
//!   `{"message": "404 Project Not Found"}`; rate limits are 429 with `retry-after`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::SimError;
use super::github::{ForgeSim, ForgeSimHandle, ForgeSimOptions, SimPr, serve};
use super::json_response;

/// The numeric id the simulated project also answers to.
pub const PROJECT_ID: u64 = 42;

/// Start the GitLab simulator.
pub async fn start(opts: ForgeSimOptions) -> Result<ForgeSimHandle, SimError> {
    serve(opts, |r| {
        r.route(
            "/api/v4/projects/{id}/merge_requests",
            get(list).post(create),
        )
        .route("/api/v4/projects/{id}/merge_requests/{iid}", get(read))
    })
    .await
}

fn authorized(sim: &ForgeSim, headers: &HeaderMap) -> bool {
    headers
        .get("private-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| !sim.token.is_empty() && t == sim.token)
}

/// The project `:id` names this simulator's project (axum has decoded `%2F` already).
fn ours(sim: &ForgeSim, id: &str) -> bool {
    id == sim.repo || id == PROJECT_ID.to_string()
}

fn not_found(what: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"message": format!("404 {what} Not Found")}),
    )
}

fn mr_json(sim: &ForgeSim, p: &SimPr) -> Value {
    json!({
        "id": 5_000 + p.number,
        "iid": p.number,
        "project_id": PROJECT_ID,
        "title": p.title,
        "description": p.body,
        "state": if p.state == "open" { "opened" } else { p.state.as_str() },
        "source_branch": p.head,
        "target_branch": p.base,
        "web_url": format!("{}/{}/-/merge_requests/{}", sim.base_url(), sim.repo, p.number),
        "merged_at": if p.state == "merged" { json!("2026-12-07T12:00:00.000Z") } else { Value::Null },
    })
}

async fn list(
    State(sim): State<Arc<ForgeSim>>,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = sim.gate(authorized(&sim, &headers), false) {
        return r;
    }
    sim.counters.lists.fetch_add(1, Ordering::SeqCst);
    if !ours(&sim, &id) {
        return not_found("Project");
    }
    let head = q.get("source_branch").map(String::as_str);
    let state = match q.get("state").map_or("all", String::as_str) {
        "opened" => "open",
        other => other,
    };
    let items: Vec<Value> = sim
        .by_head(head, state)
        .iter()
        .map(|p| mr_json(&sim, p))
        .collect();
    json_response(StatusCode::OK, &Value::Array(items))
}

async fn create(
    State(sim): State<Arc<ForgeSim>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = sim.gate(authorized(&sim, &headers), false) {
        return r;
    }
    sim.counters.creates.fetch_add(1, Ordering::SeqCst);
    if !ours(&sim, &id) {
        return not_found("Project");
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "the request body is not JSON"}),
        );
    };
    let field = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or_default();
    let (head, base, title) = (
        field("source_branch"),
        field("target_branch"),
        field("title"),
    );
    for (k, v) in [
        ("source_branch", head),
        ("target_branch", base),
        ("title", title),
    ] {
        if v.trim().is_empty() {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("{k} is missing")}),
            );
        }
    }
    if !sim.branch_pushed(head) {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": ["Source branch does not exist"]}),
        );
    }
    match sim.open(head, base, title, field("description")) {
        Err(n) => json_response(
            StatusCode::CONFLICT,
            &json!({"message": [format!("Another open merge request already exists for this source branch: !{n}")]}),
        ),
        Ok(_) if sim.lose_reply() => json_response(
            StatusCode::BAD_GATEWAY,
            &json!({"message": "502 Bad Gateway"}),
        ),
        Ok(p) => json_response(StatusCode::CREATED, &mr_json(&sim, &p)),
    }
}

async fn read(
    State(sim): State<Arc<ForgeSim>>,
    Path((id, iid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = sim.gate(authorized(&sim, &headers), false) {
        return r;
    }
    sim.counters.gets.fetch_add(1, Ordering::SeqCst);
    if !ours(&sim, &id) {
        return not_found("Project");
    }
    match iid.parse::<u64>().ok().and_then(|n| sim.find(n)) {
        Some(p) => json_response(StatusCode::OK, &mr_json(&sim, &p)),
        None => not_found("Merge Request"),
    }
}
