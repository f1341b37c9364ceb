//! `[store]`: where the store is. Without a `url` it is the embedded SQLite file; with one
//! (or with `SITREP_DATABASE_URL` set) it is a team's shared PostgreSQL store, and the SQLite
//! file is this analyst's replica of it (docs/team.md).
//!
//! ```toml
//! [store]
//! url = "postgres://alice@db.soc.example/sitrep?sslmode=verify-full"
//! password = { env = "SITREP_DATABASE_PASSWORD" }   # or keyring / vault; never in the url
//! ca_file = "/etc/ssl/soc-db-ca.pem"                # a private CA for verify-full
//! claim_ttl = "2h"                                  # how long a claim lasts
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::duration::parse_duration;
use super::vault::{CredentialRef, RawCredential};

/// How long a claim lasts when nobody says otherwise.
pub const CLAIM_TTL: Duration = Duration::from_secs(2 * 3600);

/// The resolved `[store]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// The team store's URL from the file (no password in it); None: SQLite only.
    pub url: Option<String>,
    pub password: Option<CredentialRef>,
    pub ca_file: Option<PathBuf>,
    /// How long a claim lasts (`claim_ttl`, default 2h).
    pub claim_ttl: Duration,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            url: None,
            password: None,
            ca_file: None,
            claim_ttl: CLAIM_TTL,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    url: Option<String>,
    password: Option<RawCredential>,
    ca_file: Option<String>,
    claim_ttl: Option<String>,
}

/// Validate. Errors are `(key, message)`.
pub(super) fn resolve(
    r: RawStore,
    private: bool,
    path: &Path,
) -> Result<StoreConfig, (String, String)> {
    let url = match r.url {
        None => None,
        Some(u) if u.trim().is_empty() => None,
        Some(u) => {
            let u = u.trim().to_string();
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                return Err((
                    "[store] url".into(),
                    "must be a postgres:// URL (leave it out for the embedded SQLite store)".into(),
                ));
            }
            if has_password(&u) {
                return Err((
                    "[store] url".into(),
                    "holds a password; remove it and set [store] password = { env = \"VAR\" } (or keyring / vault)".into(),
                ));
            }
            Some(u)
        }
    };
    let password = match r.password {
        None => None,
        Some(raw) => Some(super::tickets::credential(
            "[store] password".into(),
            Some(raw),
            private,
            path,
        )?),
    };
    let ca_file = r.ca_file.map(PathBuf::from);
    let claim_ttl = match r.claim_ttl {
        None => CLAIM_TTL,
        Some(t) => parse_duration(&t)
            .filter(|d| *d >= Duration::from_secs(60) && *d <= Duration::from_secs(7 * 86_400))
            .ok_or_else(|| {
                (
                    "[store] claim_ttl".to_string(),
                    format!(
                        "'{}' is not a duration from 1m to 7d (like 2h)",
                        crate::sanitize::one_line(&t)
                    ),
                )
            })?,
    };
    Ok(StoreConfig {
        url,
        password,
        ca_file,
        claim_ttl,
    })
}

/// `postgres://user:secret@host` — a colon in the part before '@' — or a `password=` key.
pub fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(creds, _)| creds.contains(':'))
        || url.contains("password=")
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn parse(t: &str) -> Result<super::StoreConfig, String> {
        Config::from_text_private(Some(Path::new("c.toml")), t, true)
            .map(|c| c.store)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_url_without_password_a_credential_and_a_claim_ttl() {
        let c = parse(
            "[store]\nurl = \"postgres://alice@db/soc?sslmode=verify-full\"\npassword = { env = \"PGPW\" }\nclaim_ttl = \"30m\"\n",
        )
        .expect("ok");
        assert_eq!(
            c.url.as_deref(),
            Some("postgres://alice@db/soc?sslmode=verify-full")
        );
        assert_eq!(c.claim_ttl, std::time::Duration::from_secs(1800));
        assert_eq!(parse("").expect("default").claim_ttl, super::CLAIM_TTL);
    }

    #[test]
    fn a_password_in_the_url_or_a_bad_ttl_is_refused_by_name() {
        let e = parse("[store]\nurl = \"postgres://alice:hunter2@db/soc\"\n").expect_err("pw");
        assert!(
            e.contains("[store] url") && e.contains("holds a password"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse("[store]\nurl = \"postgres://db/soc?password=x\"\n").expect_err("pw");
        assert!(e.contains("holds a password"), "{e}");
        let e = parse("[store]\nurl = \"mysql://db/soc\"\n").expect_err("scheme");
        assert!(e.contains("postgres://"), "{e}");
        let e = parse("[store]\nclaim_ttl = \"5s\"\n").expect_err("ttl");
        assert!(e.contains("[store] claim_ttl"), "{e}");
    }
}
