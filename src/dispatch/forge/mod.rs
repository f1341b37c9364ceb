//! Pull requests on GitHub and merge requests on GitLab over their REST APIs: find one by its
//! head branch, open one, read its state. One attempt per call; failures are classified the
//! way every destination's are (`dispatch::http`), with the forges' own rate-limit answers
//! (GitHub's 403 with `x-ratelimit-remaining: 0`) counted as transient.

pub mod github;
pub mod gitlab;

use std::time::SystemTime;

use crate::config::Secret;
use crate::config::pr::{Forge, PrTarget};

use super::DispatchError;

/// Where a request stands on the forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    Open,
    Merged,
    Closed,
}

impl PrState {
    pub fn as_str(self) -> &'static str {
        match self {
            PrState::Open => "open",
            PrState::Merged => "merged",
            PrState::Closed => "closed",
        }
    }
}

/// A pull / merge request as the forge reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrInfo {
    /// GitHub's number, GitLab's iid.
    pub number: u64,
    /// Its web page (sanitized; an http(s) URL).
    pub url: String,
    pub state: PrState,
}

/// What to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPr {
    pub title: String,
    pub body: String,
    /// The pushed branch.
    pub head: String,
    pub base: String,
}

/// What creating did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Opened(PrInfo),
    /// The forge says one already exists for the branch (GitHub 422, GitLab 409).
    Exists,
}

/// A client of one repository on one forge.
pub struct ForgeClient {
    pub(crate) forge: Forge,
    pub(crate) http: reqwest::Client,
    pub(crate) api_url: String,
    pub(crate) repo: String,
    pub(crate) token: Secret,
}

impl ForgeClient {
    /// Resolve the token now; the error names where it comes from, never its value.
    pub fn new(target: &PrTarget) -> Result<ForgeClient, DispatchError> {
        let token = target
            .token
            .resolve(&|k| std::env::var(k).ok())
            .map_err(|e| {
                DispatchError::permanent(format!("[pr.{}] token: {e}", target.forge.as_str()))
            })?;
        Ok(ForgeClient {
            forge: target.forge,
            http: super::http::client(target.timeout)?,
            api_url: target.api_url.trim_end_matches('/').to_string(),
            repo: target.repo.clone(),
            token,
        })
    }

    /// "GitHub acme/infra", for messages.
    pub fn what(&self) -> String {
        format!(
            "{} {}",
            self.forge.label(),
            crate::sanitize::one_line(&self.repo)
        )
    }

    /// The request whose head is `branch` (open first, else the newest), if any.
    pub async fn find_by_head(&self, branch: &str) -> Result<Option<PrInfo>, DispatchError> {
        match self.forge {
            Forge::GitHub => github::find_by_head(self, branch).await,
            Forge::GitLab => gitlab::find_by_head(self, branch).await,
        }
    }

    pub async fn create(&self, pr: &NewPr) -> Result<Created, DispatchError> {
        match self.forge {
            Forge::GitHub => github::create(self, pr).await,
            Forge::GitLab => gitlab::create(self, pr).await,
        }
    }

    pub async fn get(&self, number: u64) -> Result<PrInfo, DispatchError> {
        match self.forge {
            Forge::GitHub => github::get(self, number).await,
            Forge::GitLab => gitlab::get(self, number).await,
        }
    }

    /// Send; a non-success status is classified; the body of a success is returned parsed.
    pub(crate) async fn send(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
        accept: &[u16],
    ) -> Result<(u16, serde_json::Value), DispatchError> {
        let what = format!("{} {what}", self.what());
        let resp = req
            .send()
            .await
            .map_err(|e| super::http::send_error(&what, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        // A body cut short after a success is a lost response: worth another (searching) try.
        let body = resp
            .bytes()
            .await
            .map_err(|e| super::http::send_error(&what, &e))?;
        if status.is_success() || accept.contains(&status.as_u16()) {
            let v = serde_json::from_slice(&body).map_err(|_| {
                DispatchError::transient(format!(
                    "{what}: HTTP {}: the reply is not JSON ({})",
                    status.as_u16(),
                    crate::net::snippet(&body)
                ))
            })?;
            return Ok((status.as_u16(), v));
        }
        Err(status_error(&what, status, &headers, &body))
    }
}

/// As `dispatch::http::status_error`, plus the forges' rate limits: GitHub answers an exhausted
/// quota with 403 (or 429) and `x-ratelimit-remaining: 0`, a secondary limit with 403 and
/// `retry-after`; both are waits, not refusals.
fn status_error(
    what: &str,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> DispatchError {
    let limited = headers
        .get("x-ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0")
        || headers.contains_key("retry-after");
    if status.as_u16() == 403 && limited {
        return DispatchError::Transient {
            detail: format!(
                "{what}: HTTP 403: rate limited ({})",
                crate::net::snippet(body)
            ),
            retry_after: crate::net::retry_after(headers, SystemTime::now()),
        };
    }
    super::http::status_error(what, status, headers, body)
}

/// Send a list request and keep the items whose head branch (read by `head`) is `branch`: the
/// open one, else the newest (the highest number).
pub(crate) async fn find_in_list(
    c: &ForgeClient,
    what: &str,
    req: reqwest::RequestBuilder,
    branch: &str,
    head: fn(&serde_json::Value) -> Option<&serde_json::Value>,
    info: fn(&ForgeClient, &str, &serde_json::Value) -> Result<PrInfo, DispatchError>,
) -> Result<Option<PrInfo>, DispatchError> {
    let (_, v) = c.send(what, req, &[]).await?;
    let Some(items) = v.as_array() else {
        return Err(malformed(c, what, "not a list".into()));
    };
    let mut found = Vec::new();
    for item in items {
        if head(item).and_then(serde_json::Value::as_str) == Some(branch) {
            found.push(info(c, what, item)?);
        }
    }
    found.sort_by_key(|p| (p.state == PrState::Open, p.number));
    Ok(found.pop())
}

/// A request from a reply item: its number and web URL at the forge's keys, and the state the
/// forge's words mapped to (None: words it does not document).
pub(crate) fn info_from(
    c: &ForgeClient,
    what: &str,
    v: &serde_json::Value,
    state: Option<PrState>,
    number_key: &str,
    url_key: &str,
) -> Result<PrInfo, DispatchError> {
    let parse = || -> Result<PrInfo, String> {
        Ok(PrInfo {
            number: number(v, number_key)?,
            url: web_url(v.get(url_key))?,
            state: state.ok_or_else(|| format!("unknown state {:?}", v.get("state")))?,
        })
    };
    parse().map_err(|why| malformed(c, what, why))
}

/// A web URL from the forge, made safe: one line, http(s) only.
fn web_url(v: Option<&serde_json::Value>) -> Result<String, String> {
    let u = v
        .and_then(serde_json::Value::as_str)
        .map(crate::sanitize::one_line)
        .unwrap_or_default();
    if u.starts_with("https://") || u.starts_with("http://") {
        Ok(u)
    } else {
        Err("no web URL in the reply".into())
    }
}

/// A JSON number field as u64.
fn number(v: &serde_json::Value, key: &str) -> Result<u64, String> {
    v.get(key)
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("no '{key}' in the reply"))
}

/// A reply that does not hold what the API documents.
pub(crate) fn malformed(client: &ForgeClient, what: &str, why: String) -> DispatchError {
    DispatchError::transient(format!("{} {what}: unexpected reply: {why}", client.what()))
}
