//! Jira Cloud (REST v3: ADF bodies, `POST /search/jql` with token paging, Basic
//! email:api_token) and Jira Data Center (REST v2: wiki markup, `/search` with `jql`, Bearer
//! personal access token).
//!
//! The fingerprint is an issue label; `find` runs `project = KEY AND labels = "fp"`. Issues
//! created by this client are remembered (fingerprint → id) and checked by a direct read, which
//! does not depend on the search index, and named in `reconcileIssues` on Cloud.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use super::{
    Failure, TicketContent, TicketRef, TicketStatus, TicketSystem, auth_value, json_body, marker,
    render, send,
};
use crate::config::{JiraConfig, JiraFlavor, Secret};
use crate::dispatch::DispatchError;

/// Most pages one search or comment scan reads.
const MAX_PAGES: usize = 20;

pub(crate) struct Jira {
    http: reqwest::Client,
    flavor: JiraFlavor,
    base: String,
    project: String,
    issue_type: String,
    done_transition: String,
    /// A component for new issues (an owner's route).
    component: Option<String>,
    auth: HeaderValue,
    /// fingerprint → issue id, for issues this client created.
    created: Mutex<HashMap<String, String>>,
}

impl Jira {
    pub(crate) fn new(
        c: &JiraConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Jira, DispatchError> {
        let name = match c.flavor {
            JiraFlavor::Cloud => "Jira Cloud",
            JiraFlavor::DataCenter => "Jira Data Center",
        };
        let token = super::secret(name, "token", &c.token, env)?;
        let header = match c.flavor {
            JiraFlavor::Cloud => {
                let email = c.email.as_deref().ok_or_else(|| {
                    DispatchError::permanent("Jira Cloud: email is required with an API token")
                })?;
                let raw = format!("{email}:{}", token.expose());
                Secret::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            JiraFlavor::DataCenter => Secret::new(format!("Bearer {}", token.expose())),
        };
        Ok(Jira {
            http: super::http_client(c.timeout)?,
            flavor: c.flavor,
            base: c.base_url.clone(),
            project: c.project.clone(),
            issue_type: c.issue_type.clone(),
            done_transition: c.done_transition.clone(),
            component: None,
            auth: auth_value(&header)?,
            created: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn set_component(&mut self, component: Option<String>) {
        self.component = component;
    }

    fn name(&self) -> &'static str {
        match self.flavor {
            JiraFlavor::Cloud => "Jira Cloud",
            JiraFlavor::DataCenter => "Jira Data Center",
        }
    }

    fn api(&self, path: &str) -> String {
        let v = match self.flavor {
            JiraFlavor::Cloud => "3",
            JiraFlavor::DataCenter => "2",
        };
        format!("{}/rest/api/{v}/{path}", self.base)
    }

    fn what(&self, call: &str) -> String {
        format!("{} {call}", self.name())
    }

    fn ticket(&self, id: &str, key: &str) -> TicketRef {
        TicketRef {
            system: TicketSystem::Jira,
            key: key.to_string(),
            id: id.to_string(),
            url: format!("{}/browse/{key}", self.base),
        }
    }

    /// An issue key or id from a response: `[A-Za-z0-9_-]` only (it goes into URLs).
    fn safe_ident(v: &Value) -> Option<String> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then_some(s)
    }

    fn remembered(&self, fp: &str) -> Option<String> {
        self.created.lock().ok()?.get(fp).cloned()
    }

    fn remember(&self, fp: &str, id: &str) {
        if let Ok(mut m) = self.created.lock() {
            // A cache, not a record: the search finds older issues.
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(fp.to_string(), id.to_string());
        }
    }

    pub(crate) async fn find(&self, fp: &str) -> Result<Option<TicketRef>, DispatchError> {
        // A direct read of an issue we created is consistent, unlike the search index.
        if let Some(id) = self.remembered(fp) {
            let what = self.what("read issue");
            let req = self
                .http
                .get(self.api(&format!("issue/{id}")))
                .query(&[("fields", "labels")]);
            match send(req, &self.auth, &what).await {
                Ok((_, body)) => {
                    let v = json_body(&what, &body).map_err(|f| f.err)?;
                    let has = v["fields"]["labels"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|x| x == fp));
                    if let (true, Some(id), Some(key)) =
                        (has, Self::safe_ident(&v["id"]), Self::safe_ident(&v["key"]))
                    {
                        return Ok(Some(self.ticket(&id, &key)));
                    }
                }
                Err(f) if f.err.is_transient() => return Err(f.err),
                // Deleted or moved: fall back to the search.
                Err(_) => {}
            }
        }
        let jql = format!(
            "project = \"{}\" AND labels = \"{fp}\" ORDER BY created ASC",
            self.project
        );
        let issues = self.search(&jql, fp).await?;
        Ok(issues.into_iter().next())
    }

    /// Every issue matching `jql` (at most [`MAX_PAGES`] pages), oldest first.
    async fn search(&self, jql: &str, fp: &str) -> Result<Vec<TicketRef>, DispatchError> {
        let what = self.what("search");
        let mut out = Vec::new();
        match self.flavor {
            JiraFlavor::Cloud => {
                let reconcile: Vec<i64> = self
                    .remembered(fp)
                    .and_then(|id| id.parse().ok())
                    .into_iter()
                    .collect();
                let mut token: Option<String> = None;
                for _ in 0..MAX_PAGES {
                    let mut body = json!({
                        "jql": jql,
                        "fields": ["summary", "status", "labels"],
                        "maxResults": 50,
                    });
                    if !reconcile.is_empty() {
                        body["reconcileIssues"] = json!(reconcile);
                    }
                    if let Some(t) = &token {
                        body["nextPageToken"] = json!(t);
                    }
                    let req = self.http.post(self.api("search/jql")).json(&body);
                    let (_, b) = send(req, &self.auth, &what).await.map_err(|f| f.err)?;
                    let v = json_body(&what, &b).map_err(|f| f.err)?;
                    self.collect(&v, &mut out)?;
                    match v["nextPageToken"].as_str() {
                        Some(t) if !t.is_empty() => token = Some(t.to_string()),
                        _ => break,
                    }
                }
            }
            JiraFlavor::DataCenter => {
                let mut start = 0u64;
                for _ in 0..MAX_PAGES {
                    let body = json!({
                        "jql": jql,
                        "fields": ["summary", "status", "labels"],
                        "startAt": start,
                        "maxResults": 50,
                    });
                    let req = self.http.post(self.api("search")).json(&body);
                    let (_, b) = send(req, &self.auth, &what).await.map_err(|f| f.err)?;
                    let v = json_body(&what, &b).map_err(|f| f.err)?;
                    let n = self.collect(&v, &mut out)?;
                    start += n as u64;
                    let total = v["total"].as_u64().unwrap_or(0);
                    if n == 0 || start >= total {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Append a search page's issues; returns how many the page held.
    fn collect(&self, v: &Value, out: &mut Vec<TicketRef>) -> Result<usize, DispatchError> {
        let issues = v["issues"].as_array().ok_or_else(|| {
            DispatchError::transient(format!("{}: search response has no issues", self.name()))
        })?;
        for i in issues {
            if let (Some(id), Some(key)) = (Self::safe_ident(&i["id"]), Self::safe_ident(&i["key"]))
            {
                out.push(self.ticket(&id, &key));
            }
        }
        Ok(issues.len())
    }

    pub(crate) async fn create(&self, c: &TicketContent) -> Result<TicketRef, Failure> {
        let what = self.what("create issue");
        let description = match self.flavor {
            JiraFlavor::Cloud => render::adf_description(c),
            JiraFlavor::DataCenter => Value::String(render::wiki_description(c)),
        };
        let mut summary = render::line(&c.summary, render::JIRA_SUMMARY_MAX);
        if summary.is_empty() {
            summary = "sitrep alert".into();
        }
        let mut body = json!({"fields": {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": summary,
            "labels": ["sitrep", c.fingerprint],
            "priority": {"name": render::jira_priority(&c.severity)},
            "description": description,
        }});
        if let Some(comp) = &self.component {
            body["fields"]["components"] = json!([{ "name": render::line(comp, 255) }]);
        }
        let req = self.http.post(self.api("issue")).json(&body);
        let (_, b) = send(req, &self.auth, &what).await?;
        let v = json_body(&what, &b)?;
        match (Self::safe_ident(&v["id"]), Self::safe_ident(&v["key"])) {
            (Some(id), Some(key)) => {
                self.remember(&c.fingerprint, &id);
                Ok(self.ticket(&id, &key))
            }
            _ => Err(Failure {
                err: DispatchError::transient(format!("{what}: response has no issue id and key")),
                ambiguous: true,
            }),
        }
    }

    /// Does any comment on the issue carry `mark`? (Comments page by startAt/total.)
    async fn has_comment(&self, key: &str, dedup: &str) -> Result<bool, DispatchError> {
        let what = self.what("read comments");
        let raw = marker(dedup);
        let escaped = render::wiki_escape(&raw);
        let mut start = 0u64;
        for _ in 0..MAX_PAGES {
            let req = self
                .http
                .get(self.api(&format!("issue/{key}/comment")))
                .query(&[("startAt", start.to_string()), ("maxResults", "100".into())]);
            let (_, b) = send(req, &self.auth, &what).await.map_err(|f| f.err)?;
            let v = json_body(&what, &b).map_err(|f| f.err)?;
            let comments = v["comments"].as_array().ok_or_else(|| {
                DispatchError::transient(format!("{what}: response has no comments"))
            })?;
            for c in comments {
                let text = match &c["body"] {
                    Value::String(s) => s.clone(),
                    other => adf_plain(other),
                };
                if text.contains(&raw) || text.contains(&escaped) {
                    return Ok(true);
                }
            }
            start += comments.len() as u64;
            if comments.is_empty() || start >= v["total"].as_u64().unwrap_or(0) {
                break;
            }
        }
        Ok(false)
    }

    pub(crate) async fn comment(
        &self,
        t: &TicketRef,
        text: &str,
        dedup: &str,
    ) -> Result<(), DispatchError> {
        let key = checked_key(t)?;
        if self.has_comment(&key, dedup).await? {
            return Ok(());
        }
        let body = match self.flavor {
            JiraFlavor::Cloud => render::adf_comment(text, &marker(dedup)),
            JiraFlavor::DataCenter => Value::String(render::wiki_comment(text, &marker(dedup))),
        };
        let req = self
            .http
            .post(self.api(&format!("issue/{key}/comment")))
            .json(&json!({"body": body}));
        send(req, &self.auth, &self.what("add comment"))
            .await
            .map(|_| ())
            .map_err(|f| f.err)
    }

    pub(crate) async fn status(&self, t: &TicketRef) -> Result<TicketStatus, DispatchError> {
        let key = checked_key(t)?;
        let what = self.what("read status");
        let req = self
            .http
            .get(self.api(&format!("issue/{key}")))
            .query(&[("fields", "status")]);
        let (_, b) = send(req, &self.auth, &what).await.map_err(|f| f.err)?;
        let v = json_body(&what, &b).map_err(|f| f.err)?;
        let st = &v["fields"]["status"];
        let name = st["name"]
            .as_str()
            .ok_or_else(|| DispatchError::transient(format!("{what}: response has no status")))?;
        Ok(TicketStatus {
            name: render::line(name, 60),
            done: st["statusCategory"]["key"].as_str() == Some("done"),
        })
    }

    pub(crate) async fn resolve(&self, t: &TicketRef, note: &str) -> Result<(), DispatchError> {
        let key = checked_key(t)?;
        // Idempotent under retry: a transition that went through (response lost) is not redone.
        if self.status(t).await?.done {
            return Ok(());
        }
        let what = self.what("read transitions");
        let req = self
            .http
            .get(self.api(&format!("issue/{key}/transitions")))
            .query(&[("expand", "transitions.fields")]);
        let (_, b) = send(req, &self.auth, &what).await.map_err(|f| f.err)?;
        let v = json_body(&what, &b).map_err(|f| f.err)?;
        let list = v["transitions"].as_array().cloned().unwrap_or_default();
        let want = self.done_transition.to_lowercase();
        let eq = |x: &Value| x.as_str().is_some_and(|s| s.trim().to_lowercase() == want);
        let chosen = list
            .iter()
            .find(|t| eq(&t["name"]))
            .or_else(|| list.iter().find(|t| eq(&t["to"]["name"])));
        let Some(tr) = chosen else {
            let names: Vec<String> = list
                .iter()
                .filter_map(|t| t["name"].as_str())
                .map(|n| render::line(n, 40))
                .collect();
            return Err(DispatchError::permanent(format!(
                "{}: issue {key} has no transition or status named '{}' (available: {})",
                self.name(),
                render::line(&self.done_transition, 60),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )));
        };
        let id = Self::safe_ident(&tr["id"]).ok_or_else(|| {
            DispatchError::transient(format!("{what}: a transition has no usable id"))
        })?;
        let comment = match self.flavor {
            JiraFlavor::Cloud => render::adf_comment(note, "Resolved by sitrep."),
            JiraFlavor::DataCenter => {
                Value::String(render::wiki_comment(note, "Resolved by sitrep."))
            }
        };
        let mut body = json!({
            "transition": {"id": id},
            "update": {"comment": [{"add": {"body": comment}}]},
        });
        // Set a resolution only where the transition's screen has the field.
        if tr["fields"].get("resolution").is_some() {
            body["fields"] = json!({"resolution": {"name": "Done"}});
        }
        let req = self
            .http
            .post(self.api(&format!("issue/{key}/transitions")))
            .json(&body);
        send(req, &self.auth, &self.what("transition issue"))
            .await
            .map(|_| ())
            .map_err(|f| f.err)
    }
}

/// The ticket's key, refused unless it looks like one (it goes into a URL path).
fn checked_key(t: &TicketRef) -> Result<String, DispatchError> {
    if t.system != TicketSystem::Jira {
        return Err(DispatchError::permanent(format!(
            "ticket {} is not a Jira issue",
            render::line(&t.key, 40)
        )));
    }
    Jira::safe_ident(&Value::String(t.key.clone())).ok_or_else(|| {
        DispatchError::permanent(format!(
            "'{}' is not a Jira issue key",
            render::line(&t.key, 40)
        ))
    })
}

/// The text of an ADF document (text nodes, joined).
pub fn adf_plain(v: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        if let Some(t) = v["text"].as_str() {
            out.push_str(t);
        }
        if let Some(c) = v["content"].as_array() {
            for n in c {
                walk(n, out);
            }
            out.push('\n');
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    out
}
