//! Tickets: Jira Cloud (REST v3, ADF), Jira Data Center (REST v2, wiki markup, personal access
//! token) and ServiceNow (Table API, incident or change_request).
//!
//! No duplicates: every ticket carries the caller's fingerprint (a Jira label, a ServiceNow
//! `correlation_id`). [`TicketClient::ensure`] searches for it before creating, and again after
//! an ambiguous failure of the create (timeout, lost connection, broken body, 5xx) before it
//! returns the error. Jira's search index lags behind writes: an issue created a moment ago may
//! be invisible to JQL, so a create whose response was lost can be missed by the search right
//! after it; the outbox's retry (backoff ≥ 1 s) finds it. Issues this client created itself are
//! remembered and checked by id (consistent reads), and named in `reconcileIssues` on Cloud.
//!
//! Each call makes one attempt per request and classifies its failure
//! ([`DispatchError`]); the outbox worker owns retries.

pub mod jira;
pub mod render;
pub mod servicenow;

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};

use super::DispatchError;
use crate::config::{Secret, TicketsConfig};
// The config validates `[tickets] default`, so the names of the systems live there.
pub use crate::config::TicketSystem;
use crate::domain::Severity;

/// What a ticket says. Everything in it is treated as untrusted and sanitized when rendered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TicketContent {
    /// Dedup key chosen by the caller, `[a-z0-9-]`, e.g. `sitrep-fp-3f9a1c2e77ab`.
    pub fingerprint: String,
    pub summary: String,
    /// Jira priority name / ServiceNow urgency and impact.
    pub severity: Severity,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Section {
    pub heading: String,
    pub body: SectionBody,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SectionBody {
    Text(String),
    Facts(Vec<(String, String)>),
    Bullets(Vec<String>),
    Code { language: String, text: String },
}

/// A ticket as the system knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRef {
    pub system: TicketSystem,
    /// Jira issue key (`SEC-17`) / ServiceNow number (`INC0010023`).
    pub key: String,
    /// Jira issue id (`10042`) / ServiceNow sys_id.
    pub id: String,
    /// Where a person opens it (Jira `/browse/KEY`, ServiceNow `/{table}.do?sys_id=…`).
    pub url: String,
}

/// What [`TicketClient::ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    Created(TicketRef),
    Existing(TicketRef),
}

impl Ensured {
    pub fn ticket(&self) -> &TicketRef {
        match self {
            Ensured::Created(t) | Ensured::Existing(t) => t,
        }
    }
}

/// A ticket's workflow status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketStatus {
    /// Sanitized, one line (`In Progress`, `Resolved`).
    pub name: String,
    /// In a done / resolved / closed state.
    pub done: bool,
}

/// A client for one configured ticket system.
pub struct TicketClient {
    system: TicketSystem,
    inner: Inner,
}

enum Inner {
    Jira(jira::Jira),
    ServiceNow(servicenow::ServiceNow),
}

impl TicketClient {
    /// Build a client; credentials resolve from the process environment or the OS keyring.
    pub fn new(cfg: &TicketsConfig, system: TicketSystem) -> Result<TicketClient, DispatchError> {
        Self::new_with_env(cfg, system, &|v| std::env::var(v).ok())
    }

    /// As [`TicketClient::new`] with an explicit environment.
    pub fn new_with_env(
        cfg: &TicketsConfig,
        system: TicketSystem,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TicketClient, DispatchError> {
        let inner = match system {
            TicketSystem::Jira => {
                let c = cfg.jira.as_ref().ok_or_else(|| {
                    DispatchError::permanent("Jira: no [tickets.jira] table in the configuration")
                })?;
                Inner::Jira(jira::Jira::new(c, env)?)
            }
            TicketSystem::ServiceNow => {
                let c = cfg.servicenow.as_ref().ok_or_else(|| {
                    DispatchError::permanent(
                        "ServiceNow: no [tickets.servicenow] table in the configuration",
                    )
                })?;
                Inner::ServiceNow(servicenow::ServiceNow::new(c, env)?)
            }
        };
        Ok(TicketClient { system, inner })
    }

    /// A client for an owner's route (`dispatch/route.rs`): the team's Jira project and
    /// component, or ServiceNow assignment group, in place of the configured ones.
    pub fn routed(
        cfg: &TicketsConfig,
        system: TicketSystem,
        route: &crate::config::owners::Route,
    ) -> Result<TicketClient, DispatchError> {
        let cfg = super::route::routed_tickets(cfg, route);
        let mut c = Self::new(&cfg, system)?;
        if let Inner::Jira(j) = &mut c.inner {
            j.set_component(route.jira_component.clone());
        }
        Ok(c)
    }

    pub fn system(&self) -> TicketSystem {
        self.system
    }

    /// The ticket carrying `fingerprint`, if any (the oldest when several do).
    pub async fn find(&self, fingerprint: &str) -> Result<Option<TicketRef>, DispatchError> {
        check_key("fingerprint", fingerprint, 100)?;
        match &self.inner {
            Inner::Jira(j) => j.find(fingerprint).await,
            Inner::ServiceNow(s) => s.find(fingerprint).await,
        }
    }

    /// Search by fingerprint → create if none; after an ambiguous failure of the create
    /// (timeout, connection lost, broken body, 5xx) search again before returning the error,
    /// and return `Existing` if found.
    pub async fn ensure(&self, c: &TicketContent) -> Result<Ensured, DispatchError> {
        check_key("fingerprint", &c.fingerprint, 100)?;
        if let Some(t) = self.find(&c.fingerprint).await? {
            return Ok(Ensured::Existing(t));
        }
        let created = match &self.inner {
            Inner::Jira(j) => j.create(c).await,
            Inner::ServiceNow(s) => s.create(c).await,
        };
        match created {
            Ok(t) => Ok(Ensured::Created(t)),
            Err(f) if f.ambiguous => match self.find(&c.fingerprint).await {
                Ok(Some(t)) => Ok(Ensured::Existing(t)),
                // Not visible (yet): the caller retries later and searches first again.
                _ => Err(f.err),
            },
            Err(f) => Err(f.err),
        }
    }

    /// Add a comment (Jira) or work note (ServiceNow). Idempotent under retry: the text carries
    /// `[sitrep:{dedup}]`, and the ticket's comments are checked for it first.
    pub async fn comment(
        &self,
        t: &TicketRef,
        text: &str,
        dedup: &str,
    ) -> Result<(), DispatchError> {
        check_key("dedup key", dedup, 64)?;
        match &self.inner {
            Inner::Jira(j) => j.comment(t, text, dedup).await,
            Inner::ServiceNow(s) => s.comment(t, text, dedup).await,
        }
    }

    /// Jira: look up the transitions and take the configured one (by name or target status
    /// name); ServiceNow: state resolved (incident) or closed (change) with close notes.
    /// A ticket already done is left as it is.
    pub async fn resolve(&self, t: &TicketRef, note: &str) -> Result<(), DispatchError> {
        match &self.inner {
            Inner::Jira(j) => j.resolve(t, note).await,
            Inner::ServiceNow(s) => s.resolve(t, note).await,
        }
    }

    pub async fn status(&self, t: &TicketRef) -> Result<TicketStatus, DispatchError> {
        match &self.inner {
            Inner::Jira(j) => j.status(t).await,
            Inner::ServiceNow(s) => s.status(t).await,
        }
    }
}

/// `[a-z0-9-]`, 1..=max: safe as a Jira label, a JQL string, an encoded-query value and a marker.
fn check_key(what: &str, key: &str, max: usize) -> Result<(), DispatchError> {
    let ok = !key.is_empty()
        && key.len() <= max
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(DispatchError::permanent(format!(
            "ticket {what} '{}' must be 1 to {max} characters of a-z, 0-9 and -",
            crate::sanitize::fit(&crate::sanitize::one_line(key), 40)
        )))
    }
}

/// The marker that makes a comment idempotent.
pub fn marker(dedup: &str) -> String {
    format!("[sitrep:{dedup}]")
}

/// A failed request: the error, and whether the server may have acted on it anyway.
pub(crate) struct Failure {
    pub err: DispatchError,
    pub ambiguous: bool,
}

impl From<DispatchError> for Failure {
    fn from(err: DispatchError) -> Failure {
        Failure {
            err,
            ambiguous: false,
        }
    }
}

/// An `Authorization` header value kept as a secret.
pub(crate) fn auth_value(secret: &Secret) -> Result<HeaderValue, DispatchError> {
    let mut v = HeaderValue::from_str(secret.expose()).map_err(|_| {
        DispatchError::permanent("credential holds characters not allowed in a header")
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Send one request and read its body. `what` names the system and the call.
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
    auth: &HeaderValue,
    what: &str,
) -> Result<(reqwest::StatusCode, Vec<u8>), Failure> {
    let resp = req
        .header(AUTHORIZATION, auth.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| Failure {
            err: super::http::send_error(what, &e),
            ambiguous: true,
        })?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| Failure {
        err: super::http::send_error(what, &e),
        ambiguous: true,
    })?;
    if status.is_success() {
        return Ok((status, body.to_vec()));
    }
    let code = status.as_u16();
    Err(Failure {
        err: super::http::status_error(what, status, &headers, &body),
        ambiguous: code == 408 || (500..=599).contains(&code),
    })
}

/// Parse a JSON body; a body we cannot read is a lost response (transient, ambiguous).
pub(crate) fn json_body(what: &str, body: &[u8]) -> Result<serde_json::Value, Failure> {
    serde_json::from_slice(body).map_err(|_| Failure {
        err: DispatchError::transient(format!("{what}: response is not the expected JSON")),
        ambiguous: true,
    })
}

/// The timeout each client uses.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, DispatchError> {
    super::http::client(timeout)
}

/// Resolve a credential, naming the system and key on failure (never the value).
pub(crate) fn secret(
    system: &str,
    key: &str,
    c: &crate::config::CredentialRef,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, DispatchError> {
    c.resolve(env)
        .map_err(|e| DispatchError::permanent(format!("{system}: {key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("fingerprint", "sitrep-fp-3f9a1c2e77ab", 100).is_ok());
        for bad in ["", "Has Space", "a\"b", "x]y", "ü"] {
            let e = check_key("fingerprint", bad, 100).unwrap_err();
            assert!(!e.is_transient());
        }
        assert_eq!(
            TicketSystem::parse("ServiceNow"),
            Some(TicketSystem::ServiceNow)
        );
        assert_eq!(
            TicketSystem::parse(TicketSystem::Jira.as_str()),
            Some(TicketSystem::Jira)
        );
    }
}
