//! `[[source]]` tables: which vendor tenants to sync, where, and with which credentials.
//!
//! ```toml
//! [[source]]
//! name = "wiz-prod"
//! vendor = "wiz"
//! base_url = "https://api.us1.app.wiz.io"
//! auth_url = "https://auth.app.wiz.io/oauth/token"   # vendors with a separate token host
//! interval = "5m"
//! [source.credentials]
//! client_id = { env = "WIZ_CLIENT_ID" }
//! client_secret = { env = "WIZ_CLIENT_SECRET" }
//! ```
//!
//! A credential is `{ env = "VAR" }` (read when needed, never stored), `{ keyring =
//! "SERVICE/USER" }` (an OS keyring entry, read when needed), `{ vault = "MOUNT/data/PATH#FIELD" }`
//! (HashiCorp Vault KV v2, `vault.rs`, read when needed) or a literal string; a file holding
//! a literal secret must be readable by its owner only, as ssh insists for keys.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::keyring::{KeyringEntry, KeyringStore, OsKeyring};
// Re-exported: `config::sources::Secret` is where tests and benches have long found it.
pub use super::secret::Secret;
// Re-exported: these lived here before the credential types moved next to `VaultRef`.
pub use super::duration::parse_duration;
pub use super::vault::CredentialRef;
use super::vault::RawCredential;
use crate::domain::Vendor;

/// One configured source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    pub name: String,
    pub vendor: Vendor,
    /// The API base URL (scheme, host, optional path prefix), without a trailing slash.
    pub base_url: String,
    /// Token endpoint when it lives elsewhere (Wiz).
    pub auth_url: Option<String>,
    pub credentials: BTreeMap<String, CredentialRef>,
    /// How often the background refresher syncs.
    pub interval: Duration,
    /// Items per page to ask for (None: the vendor client's default).
    pub page_size: Option<u32>,
    /// Most requests per second this source may send (None: unlimited).
    pub rate_limit: Option<f64>,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Re-fetch this much before the watermark, so nothing slips between runs.
    pub overlap: Duration,
    /// Run a full reconciliation (no incremental filter) at least this often, so a change the
    /// incremental filter cannot express is seen within this time.
    pub full_every: Duration,
    pub timeout: Duration,
    /// Retries of a 5xx, a timeout or a malformed page before the run fails.
    pub max_retries: u32,
    /// Vendor-specific settings (API version, key type, …), as given.
    pub options: BTreeMap<String, String>,
    /// Write the priority score back to the vendor's finding as a comment, once per change of
    /// score band (`score_back = true`; off by default; `dispatch/score_back.rs`).
    pub score_back: bool,
}

impl SourceConfig {
    pub fn credential(&self, key: &str) -> Option<&CredentialRef> {
        self.credentials.get(key)
    }

    /// Resolve a required credential from the process environment.
    pub fn secret(&self, key: &str) -> Result<Secret, String> {
        self.secret_with(key, &|v| std::env::var(v).ok())
    }

    pub fn secret_with(
        &self,
        key: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secret, String> {
        self.secret_in(key, env, &OsKeyring)
    }

    /// Resolve a required credential with an explicit environment and keyring.
    pub fn secret_in(
        &self,
        key: &str,
        env: &dyn Fn(&str) -> Option<String>,
        keyring: &dyn KeyringStore,
    ) -> Result<Secret, String> {
        match self.credentials.get(key) {
            Some(c) => c
                .resolve_in(env, keyring)
                .map_err(|e| format!("source '{}': credential {key}: {e}", self.name)),
            None => Err(format!(
                "source '{}': missing credential '{key}' in [source.credentials]",
                self.name
            )),
        }
    }

    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

/// The credential keys each vendor needs.
pub fn required_credentials(vendor: Vendor) -> &'static [&'static str] {
    vendor.credential_names()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    name: String,
    vendor: String,
    base_url: String,
    auth_url: Option<String>,
    #[serde(default)]
    credentials: BTreeMap<String, RawCredential>,
    interval: Option<String>,
    page_size: Option<i64>,
    rate_limit: Option<f64>,
    concurrency: Option<i64>,
    overlap: Option<String>,
    full_every: Option<String>,
    timeout: Option<String>,
    max_retries: Option<i64>,
    #[serde(default)]
    options: BTreeMap<String, toml::Value>,
    score_back: Option<bool>,
}

/// Validate raw tables. `file_private`: the file is readable by its owner only (literal
/// secrets are allowed only then). Errors are `(key, message)`.
pub(super) fn resolve(
    raw: Vec<RawSource>,
    file_private: bool,
    path: &Path,
) -> Result<Vec<SourceConfig>, (String, String)> {
    let mut out: Vec<SourceConfig> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = |k: &str| format!("[[source]] #{} {k}", i + 1);
        let name = r.name.trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err((
                at("name"),
                format!(
                    "'{}' is not a valid source name (letters, digits, - _ .)",
                    crate::sanitize::one_line(&name)
                ),
            ));
        }
        if out.iter().any(|s| s.name == name) {
            return Err((at("name"), format!("'{name}' is used by two sources")));
        }
        let at = |k: &str| format!("[[source]] {name}: {k}");
        let vendor = Vendor::parse(&r.vendor).ok_or_else(|| {
            (
                at("vendor"),
                format!(
                    "unknown vendor '{}'; expected one of {}",
                    crate::sanitize::one_line(&r.vendor),
                    Vendor::ALL.map(Vendor::as_str).join(", ")
                ),
            )
        })?;
        let url_ok = |u: &str| {
            u.starts_with("https://")
                || u.starts_with("http://127.")
                || u.starts_with("http://localhost")
                || u.starts_with("http://[::1]")
        };
        let base_url = r.base_url.trim().trim_end_matches('/').to_string();
        if !url_ok(&base_url) {
            return Err((
                at("base_url"),
                format!(
                    "'{}' must be an https:// URL (plain http only for loopback)",
                    crate::sanitize::one_line(&base_url)
                ),
            ));
        }
        let auth_url = match r.auth_url {
            Some(u) if !url_ok(u.trim()) => {
                return Err((
                    at("auth_url"),
                    format!(
                        "'{}' must be an https:// URL (plain http only for loopback)",
                        crate::sanitize::one_line(&u)
                    ),
                ));
            }
            other => other.map(|u| u.trim().to_string()),
        };
        let dur = |key: &str,
                   v: Option<String>,
                   default: Duration|
         -> Result<Duration, (String, String)> {
            match v {
                None => Ok(default),
                Some(s) => parse_duration(&s).ok_or_else(|| {
                    (
                        at(key),
                        format!(
                            "'{}' is not a duration (like 90s, 5m, 1h)",
                            crate::sanitize::one_line(&s)
                        ),
                    )
                }),
            }
        };
        let interval = dur("interval", r.interval, Duration::from_secs(300))?;
        if interval < Duration::from_secs(10) {
            return Err((at("interval"), "must be at least 10s".into()));
        }
        let overlap = dur("overlap", r.overlap, Duration::from_secs(600))?;
        let full_every = dur("full_every", r.full_every, Duration::from_secs(24 * 3600))?;
        if full_every < interval {
            return Err((
                at("full_every"),
                "must be at least the source's interval".into(),
            ));
        }
        let timeout = dur("timeout", r.timeout, Duration::from_secs(30))?;
        let page_size = match r.page_size {
            None => None,
            Some(n) if (1..=10_000).contains(&n) => Some(n as u32),
            Some(n) => return Err((at("page_size"), format!("{n} is out of range 1..=10000"))),
        };
        let rate_limit = match r.rate_limit {
            None => None,
            Some(x) if x > 0.0 && x.is_finite() => Some(x),
            Some(x) => {
                return Err((
                    at("rate_limit"),
                    format!("{x} must be a positive number of requests per second"),
                ));
            }
        };
        let concurrency = match r.concurrency {
            None => 1,
            Some(n) if (1..=32).contains(&n) => n as u32,
            Some(n) => return Err((at("concurrency"), format!("{n} is out of range 1..=32"))),
        };
        let max_retries = match r.max_retries {
            None => 5,
            Some(n) if (0..=20).contains(&n) => n as u32,
            Some(n) => return Err((at("max_retries"), format!("{n} is out of range 0..=20"))),
        };
        let mut credentials = BTreeMap::new();
        for (k, c) in r.credentials {
            let c = match c {
                RawCredential::Env { env } => CredentialRef::Env(env),
                RawCredential::Keyring { keyring } => CredentialRef::Keyring(
                    KeyringEntry::parse(&keyring)
                        .map_err(|e| (at(&format!("credentials.{k}")), e))?,
                ),
                RawCredential::Vault { vault } => super::vault::credential(&vault)
                    .map_err(|e| (at(&format!("credentials.{k}")), e))?,
                RawCredential::Literal(v) => {
                    if !file_private {
                        return Err((
                            at(&format!("credentials.{k}")),
                            format!(
                                "{} holds a secret but is readable by group or others; run chmod 600 on it, or use {{ env = \"VAR\" }} or {{ keyring = \"SERVICE/USER\" }}",
                                path.display()
                            ),
                        ));
                    }
                    CredentialRef::Literal(Secret::new(v))
                }
            };
            credentials.insert(k, c);
        }
        let options: BTreeMap<String, String> = r
            .options
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    match v {
                        toml::Value::String(s) => s,
                        other => other.to_string(),
                    },
                )
            })
            .collect();
        for key in required_credentials(vendor) {
            if !credentials.contains_key(*key) {
                return Err((
                    at("credentials"),
                    format!(
                        "missing '{key}' (a {} source needs {})",
                        vendor.as_str(),
                        required_credentials(vendor).join(", ")
                    ),
                ));
            }
        }
        out.push(SourceConfig {
            name,
            vendor,
            base_url,
            auth_url,
            credentials,
            interval,
            page_size,
            rate_limit,
            concurrency,
            overlap,
            full_every,
            timeout,
            max_retries,
            options,
            score_back: r.score_back.unwrap_or(false),
        });
    }
    Ok(out)
}
