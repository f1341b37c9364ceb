//! `[notify]` (where notifications go) and `[approvals]` (who must approve a remediation, and
//! what happens on approval).
//!
//! ```toml
//! [notify]
//! events = ["alert.status_changed", "remediation.approved", "ticket.created"]
//! min_severity = "high"
//! [notify.slack]
//! webhook_url = { env = "SITREP_SLACK_WEBHOOK" }
//! [notify.teams]
//! workflow_url = { env = "SITREP_TEAMS_WORKFLOW_URL" }
//! [[notify.webhook]]
//! name = "soar"
//! url = "https://soar.example/hooks/sitrep"
//! secret = { env = "SITREP_WEBHOOK_SECRET" }
//!
//! [approvals]
//! required = 1
//! production_required = 2
//! production = "tag:env=prod"
//! four_eyes = true
//! on_approve = ["patch", "ticket_comment", "webhook"]
//! ```
//!
//! The Slack and Teams URLs carry their token in the URL: they are secrets (`{ env = … }`,
//! `{ keyring = … }`, or a literal in a file only its owner can read). A webhook `url` may be a
//! plain literal unless it has a query string or user info (a token), which makes it a secret.

use std::path::Path;

use serde::Deserialize;

use super::secret::Secret;
use super::vault::{CredentialRef, RawCredential};
use crate::domain::Severity;

/// Event names a notification can carry (the webhook's `type`, the `[notify] events` list).
pub const EVENTS: [&str; 6] = [
    "alert.notify",
    "alert.status_changed",
    "remediation.approved",
    "remediation.rejected",
    "ticket.created",
    "ticket.linked",
];

/// The shortest webhook signing key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// The key length of a secret `sitrep` generates for a receiver, in bytes.
pub const NEW_KEY_BYTES: usize = 32;

/// The key bytes of a `whsec_<base64>` secret (the prefix is optional, as the reference
/// libraries accept). The error never shows the secret.
pub fn key_bytes(secret: &Secret) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let s = secret.expose().trim();
    let b64 = s.strip_prefix("whsec_").unwrap_or(s);
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the webhook secret is not whsec_<base64>".to_string())?;
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "the webhook secret's key is {} bytes; at least {MIN_KEY_BYTES} are needed",
            key.len()
        ));
    }
    Ok(key)
}

/// The resolved `[notify]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    /// Events sent out (each one of [`EVENTS`]).
    pub events: Vec<String>,
    /// Alert-related notices below this severity are not sent (None: all).
    pub min_severity: Option<Severity>,
    /// `[notify.slack] webhook_url`.
    pub slack: Option<CredentialRef>,
    /// `[notify.teams] workflow_url`.
    pub teams: Option<CredentialRef>,
    /// `[[notify.webhook]]` tables.
    pub webhooks: Vec<WebhookTarget>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            events: EVENTS.iter().map(|s| s.to_string()).collect(),
            min_severity: None,
            slack: None,
            teams: None,
            webhooks: Vec::new(),
        }
    }
}

impl NotifyConfig {
    /// Does `event` at `severity` go out? (A notice without a severity passes the floor.)
    pub fn wants(&self, event: &str, severity: Option<&Severity>) -> bool {
        self.events.iter().any(|e| e == event)
            && match (&self.min_severity, severity) {
                (Some(min), Some(s)) => s.rank() >= min.rank(),
                _ => true,
            }
    }

    /// Is any destination configured?
    pub fn any_destination(&self) -> bool {
        self.slack.is_some() || self.teams.is_some() || !self.webhooks.is_empty()
    }

    pub fn webhook(&self, name: &str) -> Option<&WebhookTarget> {
        self.webhooks.iter().find(|w| w.name == name)
    }
}

/// One `[[notify.webhook]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTarget {
    pub name: String,
    pub url: CredentialRef,
    /// The `whsec_<base64>` signing secret.
    pub secret: CredentialRef,
}

/// What an approval dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnApprove {
    /// Commit the diff on a new branch of the mapped IaC checkout (never pushed).
    Patch,
    /// Comment on the alert's ticket.
    TicketComment,
    /// Transition the alert's ticket.
    TicketTransition,
    /// POST the signed `remediation.approved` webhook.
    Webhook,
}

impl OnApprove {
    pub const NAMES: [&'static str; 4] =
        ["patch", "ticket_comment", "ticket_transition", "webhook"];

    pub fn parse(s: &str) -> Option<OnApprove> {
        Some(match s.trim() {
            "patch" => OnApprove::Patch,
            "ticket_comment" => OnApprove::TicketComment,
            "ticket_transition" => OnApprove::TicketTransition,
            "webhook" => OnApprove::Webhook,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OnApprove::Patch => "patch",
            OnApprove::TicketComment => "ticket_comment",
            OnApprove::TicketTransition => "ticket_transition",
            OnApprove::Webhook => "webhook",
        }
    }
}

/// The resolved `[approvals]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalsConfig {
    /// Approvals needed (1..=10).
    pub required: u32,
    /// Approvals needed for alerts matching `production` (≥ `required`).
    pub production_required: u32,
    /// Filter query (crate::triage::query) naming production alerts; validated.
    pub production: Option<String>,
    /// The approver must not be the requester.
    pub four_eyes: bool,
    pub on_approve: Vec<OnApprove>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            required: 1,
            production_required: 1,
            production: None,
            four_eyes: true,
            on_approve: Vec::new(),
        }
    }
}

impl ApprovalsConfig {
    /// Approvals needed for an alert (`production`: it matches the production filter).
    pub fn needed(&self, production: bool) -> u32 {
        if production && self.production.is_some() {
            self.production_required
        } else {
            self.required
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    events: Option<Vec<String>>,
    min_severity: Option<String>,
    slack: Option<RawSlack>,
    teams: Option<RawTeams>,
    #[serde(default)]
    webhook: Vec<RawWebhook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    webhook_url: RawCredential,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeams {
    workflow_url: RawCredential,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: String,
    url: RawCredential,
    secret: RawCredential,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApprovals {
    required: Option<i64>,
    production_required: Option<i64>,
    production: Option<String>,
    four_eyes: Option<bool>,
    on_approve: Option<Vec<String>>,
}

fn one(s: &str) -> String {
    crate::sanitize::one_line(s)
}

/// https, or plain http to loopback.
fn url_ok(u: &str) -> bool {
    let u = u.trim();
    u.starts_with("https://")
        || u.starts_with("http://127.")
        || u.starts_with("http://localhost")
        || u.starts_with("http://[::1]")
}

fn private_msg(path: &Path) -> String {
    format!(
        "{} holds a secret but is readable by group or others; run chmod 600 on it, or use {{ env = \"VAR\" }} or {{ keyring = \"SERVICE/USER\" }}",
        path.display()
    )
}

/// A credential whose literal form is a URL holding a token (Slack, Teams).
fn secret_url(
    key: &str,
    raw: RawCredential,
    private: bool,
    path: &Path,
) -> Result<CredentialRef, (String, String)> {
    match raw {
        RawCredential::Env { env } => Ok(CredentialRef::Env(env)),
        RawCredential::Keyring { keyring } => Ok(CredentialRef::Keyring(
            super::keyring::KeyringEntry::parse(&keyring).map_err(|e| (key.to_string(), e))?,
        )),
        RawCredential::Vault { vault } => {
            super::vault::credential(&vault).map_err(|e| (key.to_string(), e))
        }
        RawCredential::Literal(v) => {
            if !private {
                return Err((key.to_string(), private_msg(path)));
            }
            if !url_ok(&v) {
                return Err((
                    key.to_string(),
                    "must be an https:// URL (plain http only for loopback)".into(),
                ));
            }
            Ok(CredentialRef::Literal(Secret::new(v.trim())))
        }
    }
}

/// Validate. Errors are `(key, message)` and never show a secret.
pub(super) fn resolve(
    r: RawNotify,
    private: bool,
    path: &Path,
) -> Result<NotifyConfig, (String, String)> {
    let mut c = NotifyConfig::default();
    if let Some(events) = r.events {
        let mut out: Vec<String> = Vec::new();
        for e in events {
            let e = e.trim().to_string();
            if !EVENTS.contains(&e.as_str()) {
                return Err((
                    "[notify] events".into(),
                    format!(
                        "unknown event '{}'; expected one of {}",
                        one(&e),
                        EVENTS.join(", ")
                    ),
                ));
            }
            if !out.contains(&e) {
                out.push(e);
            }
        }
        c.events = out;
    }
    if let Some(s) = r.min_severity {
        c.min_severity = Some(Severity::parse(&s).ok_or_else(|| {
            (
                "[notify] min_severity".into(),
                format!(
                    "unknown severity '{}'; expected critical, high, medium, low or info",
                    one(&s)
                ),
            )
        })?);
    }
    if let Some(s) = r.slack {
        c.slack = Some(secret_url(
            "[notify.slack] webhook_url",
            s.webhook_url,
            private,
            path,
        )?);
    }
    if let Some(t) = r.teams {
        c.teams = Some(secret_url(
            "[notify.teams] workflow_url",
            t.workflow_url,
            private,
            path,
        )?);
    }
    for (i, w) in r.webhook.into_iter().enumerate() {
        let name = w.name.trim().to_string();
        let at = format!("[[notify.webhook]] #{} name", i + 1);
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        {
            return Err((
                at,
                format!(
                    "'{}' is not a valid webhook name (letters, digits, - _ .)",
                    one(&name)
                ),
            ));
        }
        if c.webhooks.iter().any(|x| x.name == name) {
            return Err((at, format!("'{name}' is used by two webhooks")));
        }
        let key = |k: &str| format!("[[notify.webhook]] {name}: {k}");
        let url = match w.url {
            RawCredential::Literal(v) => {
                let v = v.trim().to_string();
                if !url_ok(&v) {
                    return Err((
                        key("url"),
                        format!(
                            "'{}' must be an https:// URL (plain http only for loopback)",
                            one(&v)
                        ),
                    ));
                }
                let tokenish = reqwest::Url::parse(&v)
                    .map(|u| {
                        u.query().is_some() || !u.username().is_empty() || u.password().is_some()
                    })
                    .map_err(|_| (key("url"), "is not a valid URL".to_string()))?;
                if tokenish && !private {
                    return Err((
                        key("url"),
                        format!(
                            "has a query string or user info (a token); {}",
                            private_msg(path)
                        ),
                    ));
                }
                CredentialRef::Literal(Secret::new(v))
            }
            other => secret_url(&key("url"), other, private, path)?,
        };
        let secret = match w.secret {
            RawCredential::Literal(v) => {
                if !private {
                    return Err((key("secret"), private_msg(path)));
                }
                let s = Secret::new(v.trim());
                key_bytes(&s).map_err(|e| (key("secret"), e))?;
                CredentialRef::Literal(s)
            }
            other => secret_url(&key("secret"), other, private, path)?,
        };
        c.webhooks.push(WebhookTarget { name, url, secret });
    }
    Ok(c)
}

/// Validate `[approvals]`. `webhooks`: how many `[[notify.webhook]]` are configured (an
/// `on_approve = ["webhook"]` needs one).
pub(super) fn resolve_approvals(
    r: RawApprovals,
    webhooks: usize,
) -> Result<ApprovalsConfig, (String, String)> {
    let at = |k: &str| format!("[approvals] {k}");
    let mut c = ApprovalsConfig::default();
    if let Some(n) = r.required {
        if !(1..=10).contains(&n) {
            return Err((at("required"), format!("{n} is out of range 1..=10")));
        }
        c.required = n as u32;
    }
    c.production_required = c.required;
    if let Some(n) = r.production_required {
        if !(1..=10).contains(&n) {
            return Err((
                at("production_required"),
                format!("{n} is out of range 1..=10"),
            ));
        }
        if (n as u32) < c.required {
            return Err((
                at("production_required"),
                format!(
                    "{n} is less than required ({}); production needs at least as many approvals",
                    c.required
                ),
            ));
        }
        c.production_required = n as u32;
    }
    if let Some(q) = r.production {
        if q.trim().is_empty() {
            return Err((
                at("production"),
                "is empty; write a filter such as \"tag:env=prod\"".into(),
            ));
        }
        crate::triage::query::parse(&q).map_err(|e| (at("production"), e.to_string()))?;
        c.production = Some(q);
    } else if c.production_required != c.required {
        return Err((
            at("production_required"),
            "needs `production`, a filter naming production alerts (like \"tag:env=prod\")".into(),
        ));
    }
    if let Some(f) = r.four_eyes {
        c.four_eyes = f;
    }
    if let Some(list) = r.on_approve {
        for s in list {
            let a = OnApprove::parse(&s).ok_or_else(|| {
                (
                    at("on_approve"),
                    format!(
                        "unknown action '{}'; expected one of {}",
                        one(&s),
                        OnApprove::NAMES.join(", ")
                    ),
                )
            })?;
            if c.on_approve.contains(&a) {
                return Err((
                    at("on_approve"),
                    format!("'{}' is listed twice", a.as_str()),
                ));
            }
            c.on_approve.push(a);
        }
    }
    if c.on_approve.contains(&OnApprove::Webhook) && webhooks == 0 {
        return Err((
            at("on_approve"),
            "lists 'webhook' but no [[notify.webhook]] is configured".into(),
        ));
    }
    Ok(c)
}
