//! `[tickets]`: where `sitrep ticket` opens tickets (Jira Cloud, Jira Data Center, ServiceNow).
//!
//! ```toml
//! [tickets]
//! default = "jira"                     # jira | servicenow
//! [tickets.jira]
//! flavor = "cloud"                     # cloud (REST v3, ADF) | data-center (REST v2, wiki markup)
//! base_url = "https://acme.atlassian.net"
//! project = "SEC"
//! issue_type = "Task"
//! email = "soc@acme.example"           # cloud only
//! token = { env = "JIRA_API_TOKEN" }   # cloud: API token; data-center: personal access token
//! done_transition = "Done"             # a transition name, or the name of its target status
//! timeout = "20s"
//! [tickets.servicenow]
//! base_url = "https://acme.service-now.com"
//! table = "incident"                   # incident | change_request
//! username = "sitrep"
//! password = { env = "SERVICENOW_PASSWORD" }
//! assignment_group = "SOC"             # optional, a group name
//! close_code = "Solved (Permanently)"  # optional; change_request default "successful"
//! timeout = "20s"
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::duration::parse_duration;
use super::secret::Secret;
use super::vault::{CredentialRef, RawCredential};

/// Per-request timeout of a destination (ticket system, chat, webhook) when its table names
/// none. A destination that does not answer in this time is treated as a lost response
/// (transient): creators search for what they may have created before trying again.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A ticket system `[tickets] default` may name (and `sitrep ticket --system`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketSystem {
    Jira,
    ServiceNow,
}

impl TicketSystem {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketSystem::Jira => "jira",
            TicketSystem::ServiceNow => "servicenow",
        }
    }

    pub fn parse(s: &str) -> Option<TicketSystem> {
        match s.trim().to_ascii_lowercase().as_str() {
            "jira" => Some(TicketSystem::Jira),
            "servicenow" | "snow" | "service-now" => Some(TicketSystem::ServiceNow),
            _ => None,
        }
    }
}

/// Jira Cloud (REST v3, ADF bodies, Basic email:token) or Data Center (REST v2, wiki markup,
/// Bearer personal access token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JiraFlavor {
    Cloud,
    DataCenter,
}

impl JiraFlavor {
    pub fn as_str(self) -> &'static str {
        match self {
            JiraFlavor::Cloud => "cloud",
            JiraFlavor::DataCenter => "data-center",
        }
    }

    pub fn parse(s: &str) -> Option<JiraFlavor> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cloud" => Some(JiraFlavor::Cloud),
            "data-center" | "datacenter" | "dc" | "server" => Some(JiraFlavor::DataCenter),
            _ => None,
        }
    }
}

/// The resolved `[tickets.jira]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraConfig {
    pub flavor: JiraFlavor,
    /// Without a trailing slash.
    pub base_url: String,
    pub project: String,
    pub issue_type: String,
    /// Cloud: the account's email (the Basic auth user).
    pub email: Option<String>,
    pub token: CredentialRef,
    pub done_transition: String,
    pub timeout: Duration,
}

/// ServiceNow table for new tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnTable {
    Incident,
    ChangeRequest,
}

impl SnTable {
    pub fn as_str(self) -> &'static str {
        match self {
            SnTable::Incident => "incident",
            SnTable::ChangeRequest => "change_request",
        }
    }

    pub fn parse(s: &str) -> Option<SnTable> {
        match s.trim() {
            "incident" => Some(SnTable::Incident),
            "change_request" => Some(SnTable::ChangeRequest),
            _ => None,
        }
    }
}

/// The resolved `[tickets.servicenow]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceNowConfig {
    /// Without a trailing slash.
    pub base_url: String,
    pub table: SnTable,
    pub username: String,
    pub password: CredentialRef,
    pub assignment_group: Option<String>,
    pub close_code: String,
    pub timeout: Duration,
}

/// The resolved `[tickets]` table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TicketsConfig {
    /// Which system `sitrep ticket` uses without `--system` (None: the only one configured).
    pub default: Option<TicketSystem>,
    pub jira: Option<JiraConfig>,
    pub servicenow: Option<ServiceNowConfig>,
}

impl TicketsConfig {
    /// The system to use when none is named: `default`, else the only one configured.
    pub fn default_system(&self) -> Option<TicketSystem> {
        self.default.or(match (&self.jira, &self.servicenow) {
            (Some(_), None) => Some(TicketSystem::Jira),
            (None, Some(_)) => Some(TicketSystem::ServiceNow),
            _ => None,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTickets {
    default: Option<String>,
    jira: Option<RawJira>,
    servicenow: Option<RawServiceNow>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJira {
    flavor: Option<String>,
    base_url: Option<String>,
    project: Option<String>,
    issue_type: Option<String>,
    email: Option<String>,
    token: Option<RawCredential>,
    done_transition: Option<String>,
    timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceNow {
    base_url: Option<String>,
    table: Option<String>,
    username: Option<String>,
    password: Option<RawCredential>,
    assignment_group: Option<String>,
    close_code: Option<String>,
    timeout: Option<String>,
}

fn one(s: &str) -> String {
    crate::sanitize::one_line(s)
}

type KeyErr = (String, String);

pub(super) fn base_url(key: String, v: Option<String>) -> Result<String, KeyErr> {
    let base = v
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| (key.clone(), "is required".to_string()))?;
    let loopback = base.starts_with("http://127.")
        || base.starts_with("http://localhost")
        || base.starts_with("http://[::1]");
    if !base.starts_with("https://") && !loopback {
        return Err((
            key,
            format!(
                "'{}' must be an https:// URL (plain http only for loopback)",
                one(&base)
            ),
        ));
    }
    Ok(base)
}

fn required(key: String, v: Option<String>) -> Result<String, KeyErr> {
    let v = v.map(|s| s.trim().to_string()).unwrap_or_default();
    if v.is_empty() {
        return Err((key, "is required".into()));
    }
    if v.chars().any(char::is_control) {
        return Err((key, "holds control characters".into()));
    }
    Ok(v)
}

pub(super) fn credential(
    key: String,
    v: Option<RawCredential>,
    file_private: bool,
    path: &Path,
) -> Result<CredentialRef, KeyErr> {
    match v {
        None => Err((
            key,
            "is required (e.g. { env = \"VAR\" } or { keyring = \"SERVICE/USER\" })".into(),
        )),
        Some(RawCredential::Env { env }) => Ok(CredentialRef::Env(env)),
        Some(RawCredential::Keyring { keyring }) => Ok(CredentialRef::Keyring(
            super::keyring::KeyringEntry::parse(&keyring).map_err(|e| (key, e))?,
        )),
        Some(RawCredential::Vault { vault }) => {
            super::vault::credential(&vault).map_err(|e| (key, e))
        }
        Some(RawCredential::Literal(v)) => {
            if !file_private {
                return Err((
                    key,
                    format!(
                        "{} holds a secret but is readable by group or others; run chmod 600 on it, or use {{ env = \"VAR\" }}",
                        path.display()
                    ),
                ));
            }
            Ok(CredentialRef::Literal(Secret::new(v)))
        }
    }
}

pub(super) fn timeout(key: String, v: Option<String>) -> Result<Duration, KeyErr> {
    match v {
        None => Ok(TIMEOUT),
        Some(t) => parse_duration(&t)
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(300))
            .ok_or_else(|| {
                (
                    key,
                    format!("'{}' is not a duration up to 5m (like 20s)", one(&t)),
                )
            }),
    }
}

/// Validate. Errors are `(key, message)`.
pub(super) fn resolve(
    r: RawTickets,
    file_private: bool,
    path: &Path,
) -> Result<TicketsConfig, KeyErr> {
    let jira = match r.jira {
        None => None,
        Some(j) => {
            let at = |k: &str| format!("[tickets.jira] {k}");
            let flavor_s = j.flavor.unwrap_or_else(|| "cloud".into());
            let flavor = JiraFlavor::parse(&flavor_s).ok_or_else(|| {
                (
                    at("flavor"),
                    format!(
                        "unknown flavor '{}'; expected cloud or data-center",
                        one(&flavor_s)
                    ),
                )
            })?;
            let project = required(at("project"), j.project)?;
            if !project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err((
                    at("project"),
                    format!("'{}' is not a Jira project key", one(&project)),
                ));
            }
            let email = j
                .email
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty());
            if flavor == JiraFlavor::Cloud && email.is_none() {
                return Err((
                    at("email"),
                    "is required for Jira Cloud (the API token's account)".into(),
                ));
            }
            Some(JiraConfig {
                flavor,
                base_url: base_url(at("base_url"), j.base_url)?,
                project,
                issue_type: required(
                    at("issue_type"),
                    j.issue_type.or_else(|| Some("Task".into())),
                )?,
                email,
                token: credential(at("token"), j.token, file_private, path)?,
                done_transition: required(
                    at("done_transition"),
                    j.done_transition.or_else(|| Some("Done".into())),
                )?,
                timeout: timeout(at("timeout"), j.timeout)?,
            })
        }
    };
    let servicenow = match r.servicenow {
        None => None,
        Some(s) => {
            let at = |k: &str| format!("[tickets.servicenow] {k}");
            let table_s = s.table.unwrap_or_else(|| "incident".into());
            let table = SnTable::parse(&table_s).ok_or_else(|| {
                (
                    at("table"),
                    format!(
                        "unknown table '{}'; expected incident or change_request",
                        one(&table_s)
                    ),
                )
            })?;
            let default_close = match table {
                SnTable::Incident => "Solved (Permanently)",
                SnTable::ChangeRequest => "successful",
            };
            Some(ServiceNowConfig {
                base_url: base_url(at("base_url"), s.base_url)?,
                table,
                username: required(at("username"), s.username)?,
                password: credential(at("password"), s.password, file_private, path)?,
                assignment_group: s
                    .assignment_group
                    .map(|g| one(&g))
                    .filter(|g| !g.is_empty()),
                close_code: required(
                    at("close_code"),
                    s.close_code.or_else(|| Some(default_close.into())),
                )?,
                timeout: timeout(at("timeout"), s.timeout)?,
            })
        }
    };
    let default = match r.default {
        None => None,
        Some(d) => {
            let sys = TicketSystem::parse(&d).ok_or_else(|| {
                (
                    "[tickets] default".to_string(),
                    format!("unknown system '{}'; expected jira or servicenow", one(&d)),
                )
            })?;
            let configured = match sys {
                TicketSystem::Jira => jira.is_some(),
                TicketSystem::ServiceNow => servicenow.is_some(),
            };
            if !configured {
                return Err((
                    "[tickets] default".to_string(),
                    format!("'{}' has no [tickets.{}] table", sys.as_str(), sys.as_str()),
                ));
            }
            Some(sys)
        }
    };
    Ok(TicketsConfig {
        default,
        jira,
        servicenow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(t: &str) -> Result<TicketsConfig, String> {
        Config::from_text_private(Some(Path::new("c.toml")), t, false)
            .map(|c| c.tickets)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_table_resolves() {
        let c = parse(
            "[tickets]\ndefault = \"jira\"\n[tickets.jira]\nbase_url = \"https://acme.atlassian.net/\"\nproject = \"SEC\"\nemail = \"soc@acme.example\"\ntoken = { env = \"JIRA_API_TOKEN\" }\n[tickets.servicenow]\nbase_url = \"https://acme.service-now.com\"\ntable = \"change_request\"\nusername = \"sitrep\"\npassword = { env = \"SN_PW\" }\nassignment_group = \"SOC\"\n",
        )
        .expect("ok");
        assert_eq!(c.default, Some(TicketSystem::Jira));
        let j = c.jira.expect("jira");
        assert_eq!(j.flavor, JiraFlavor::Cloud);
        assert_eq!(j.base_url, "https://acme.atlassian.net");
        assert_eq!(j.issue_type, "Task");
        assert_eq!(j.done_transition, "Done");
        assert_eq!(j.token, CredentialRef::Env("JIRA_API_TOKEN".into()));
        let s = c.servicenow.expect("sn");
        assert_eq!(s.table, SnTable::ChangeRequest);
        assert_eq!(s.close_code, "successful");
        assert_eq!(s.assignment_group.as_deref(), Some("SOC"));
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[tickets.jira]\nbase_url = \"https://a\"\nproject = \"SEC\"\ntoken = { env = \"T\" }\n").unwrap_err();
        assert!(
            e.ends_with(
                "[tickets.jira] email: is required for Jira Cloud (the API token's account)"
            ),
            "{e}"
        );
        let e = parse("[tickets.jira]\nflavor = \"data-center\"\nbase_url = \"http://jira.corp\"\nproject = \"SEC\"\ntoken = { env = \"T\" }\n").unwrap_err();
        assert!(
            e.contains("[tickets.jira] base_url: 'http://jira.corp' must be an https:// URL"),
            "{e}"
        );
        let e = parse("[tickets.servicenow]\nbase_url = \"https://x\"\nusername = \"u\"\npassword = \"hunter2\"\n").unwrap_err();
        assert!(
            e.contains("[tickets.servicenow] password: c.toml holds a secret"),
            "{e}"
        );
        assert!(!e.contains("hunter2"));
        let e = parse("[tickets]\ndefault = \"servicenow\"\n").unwrap_err();
        assert!(
            e.ends_with("[tickets] default: 'servicenow' has no [tickets.servicenow] table"),
            "{e}"
        );
    }
}
