//! GitHub REST: `GET /repos/{owner}/{repo}/pulls?head=owner:branch&state=all`,
//! `POST /repos/{owner}/{repo}/pulls` (201; 422 "A pull request already exists for …"),
//! `GET /repos/{owner}/{repo}/pulls/{number}` (`state` open|closed, `merged`). Token auth
//! (`Authorization: Bearer`), `Accept: application/vnd.github+json`, API version 2022-11-28.

use serde_json::{Value, json};

use super::{Created, ForgeClient, NewPr, PrInfo, PrState, find_in_list, info_from};
use crate::dispatch::DispatchError;

fn request(c: &ForgeClient, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    c.http
        .request(method, format!("{}/repos/{}{path}", c.api_url, c.repo))
        .bearer_auth(c.token.expose())
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
}

fn info(c: &ForgeClient, what: &str, v: &Value) -> Result<PrInfo, DispatchError> {
    let merged = v.get("merged").and_then(Value::as_bool).unwrap_or(false)
        || v.get("merged_at").is_some_and(|m| !m.is_null());
    let state = match v.get("state").and_then(Value::as_str) {
        Some("open") => Some(PrState::Open),
        Some("closed") if merged => Some(PrState::Merged),
        Some("closed") => Some(PrState::Closed),
        _ => None,
    };
    info_from(c, what, v, state, "number", "html_url")
}

pub(super) async fn find_by_head(
    c: &ForgeClient,
    branch: &str,
) -> Result<Option<PrInfo>, DispatchError> {
    let owner = c.repo.split('/').next().unwrap_or_default();
    let req = request(c, reqwest::Method::GET, "/pulls").query(&[
        ("head", format!("{owner}:{branch}")),
        ("state", "all".into()),
        ("per_page", "100".into()),
    ]);
    // GitHub filters by head already; the ref is checked anyway (a proxy or an old server may not).
    find_in_list(
        c,
        "listing pull requests",
        req,
        branch,
        |v| v.pointer("/head/ref"),
        info,
    )
    .await
}

pub(super) async fn create(c: &ForgeClient, pr: &NewPr) -> Result<Created, DispatchError> {
    let req = request(c, reqwest::Method::POST, "/pulls").json(&json!({
        "title": pr.title,
        "head": pr.head,
        "base": pr.base,
        "body": pr.body,
        "maintainer_can_modify": false,
    }));
    match c.send("creating a pull request", req, &[422]).await? {
        (422, v) => {
            let exists = v
                .get("errors")
                .and_then(Value::as_array)
                .is_some_and(|errs| {
                    errs.iter().any(|e| {
                        e.get("message")
                            .and_then(Value::as_str)
                            .is_some_and(|m| m.contains("already exists"))
                    })
                });
            if exists {
                return Ok(Created::Exists);
            }
            Err(DispatchError::permanent(format!(
                "{} creating a pull request: HTTP 422: {}",
                c.what(),
                crate::net::snippet(v.to_string().as_bytes())
            )))
        }
        (_, v) => Ok(Created::Opened(info(c, "creating a pull request", &v)?)),
    }
}

pub(super) async fn get(c: &ForgeClient, n: u64) -> Result<PrInfo, DispatchError> {
    let req = request(c, reqwest::Method::GET, &format!("/pulls/{n}"));
    let (_, v) = c.send("reading a pull request", req, &[]).await?;
    info(c, "reading a pull request", &v)
}
