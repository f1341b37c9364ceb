//! GitLab REST v4: `GET /api/v4/projects/:id/merge_requests?source_branch=…&state=all`,
//! `POST /api/v4/projects/:id/merge_requests` (201; 409 "Another open merge request already
//! exists for this source branch"), `GET /api/v4/projects/:id/merge_requests/:iid` (`state`
//! opened|closed|locked|merged). `PRIVATE-TOKEN` auth; `:id` is the numeric id or the
//! URL-encoded path (`group%2Fproject`).

use serde_json::{Value, json};

use super::{Created, ForgeClient, NewPr, PrInfo, PrState, find_in_list, info_from};
use crate::dispatch::DispatchError;

/// The project part of the path: a numeric id as is, a path with `/` encoded.
fn project(repo: &str) -> String {
    repo.replace('/', "%2F")
}

fn request(c: &ForgeClient, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    c.http
        .request(
            method,
            format!(
                "{}/api/v4/projects/{}/merge_requests{path}",
                c.api_url,
                project(&c.repo)
            ),
        )
        .header("PRIVATE-TOKEN", c.token.expose())
}

fn info(c: &ForgeClient, what: &str, v: &Value) -> Result<PrInfo, DispatchError> {
    let state = match v.get("state").and_then(Value::as_str) {
        Some("opened") | Some("locked") => Some(PrState::Open),
        Some("merged") => Some(PrState::Merged),
        Some("closed") => Some(PrState::Closed),
        _ => None,
    };
    info_from(c, what, v, state, "iid", "web_url")
}

pub(super) async fn find_by_head(
    c: &ForgeClient,
    branch: &str,
) -> Result<Option<PrInfo>, DispatchError> {
    let req = request(c, reqwest::Method::GET, "").query(&[
        ("source_branch", branch),
        ("state", "all"),
        ("per_page", "100"),
    ]);
    find_in_list(
        c,
        "listing merge requests",
        req,
        branch,
        |v| v.get("source_branch"),
        info,
    )
    .await
}

pub(super) async fn create(c: &ForgeClient, pr: &NewPr) -> Result<Created, DispatchError> {
    let req = request(c, reqwest::Method::POST, "").json(&json!({
        "source_branch": pr.head,
        "target_branch": pr.base,
        "title": pr.title,
        "description": pr.body,
    }));
    match c.send("creating a merge request", req, &[409]).await? {
        (409, _) => Ok(Created::Exists),
        (_, v) => Ok(Created::Opened(info(c, "creating a merge request", &v)?)),
    }
}

pub(super) async fn get(c: &ForgeClient, iid: u64) -> Result<PrInfo, DispatchError> {
    let req = request(c, reqwest::Method::GET, &format!("/{iid}"));
    let (_, v) = c.send("reading a merge request", req, &[]).await?;
    info(c, "reading a merge request", &v)
}
