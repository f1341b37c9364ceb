//! Where the team store is and how to reach it: a `postgres://` URL (never holding the
//! password when it comes from the config file), the password from the environment, the
//! keyring or Vault, and TLS as `sslmode` asks.
//!
//! sslmode: `disable` is plain TCP; `prefer` tries TLS and falls back to plain when the
//! server offers none; `require`, `verify-ca` and `verify-full` all insist on TLS, and
//! rustls always checks the certificate chain and the host name, so each of them behaves as
//! libpq's `verify-full` (a server with a private CA needs `ca_file`; docs/team.md).

use std::path::PathBuf;
use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::config::SslMode;

use super::TeamError;
use crate::config::Secret;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    /// Any of require / verify-ca / verify-full: TLS with the certificate and name checked.
    Verify,
}

/// A resolved team store address. `Debug` and [`TeamTarget::label`] never show the password.
#[derive(Clone)]
pub struct TeamTarget {
    config: tokio_postgres::Config,
    tls: TlsMode,
    ca_file: Option<PathBuf>,
    pool_size: usize,
}

impl std::fmt::Debug for TeamTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl TeamTarget {
    /// Parse `url` (a `postgres://` or `postgresql://` URL or a libpq key=value string).
    /// `password`, when given, is used over any in the URL; `from_file` refuses a URL that
    /// carries a password itself (the file is often shared or committed).
    pub fn parse(
        url: &str,
        password: Option<Secret>,
        ca_file: Option<PathBuf>,
        from_file: bool,
    ) -> Result<TeamTarget, TeamError> {
        // tokio-postgres knows disable/prefer/require; the libpq names for the verifying
        // modes are read here (all three verify with rustls).
        let (text, mode) = take_sslmode(url)?;
        let mut config = tokio_postgres::Config::from_str(&text).map_err(|e| {
            TeamError::Url(format!(
                "'{}' is not a PostgreSQL URL: {}",
                redact(url),
                crate::sanitize::one_line(&e.to_string())
            ))
        })?;
        if from_file && config.get_password().is_some() {
            return Err(TeamError::Url(
                "the store url in the config file holds a password; remove it and set [store] password = { env = \"VAR\" } (or keyring / vault), or give the whole url in SITREP_DATABASE_URL".into(),
            ));
        }
        if config.get_hosts().is_empty() {
            return Err(TeamError::Url(format!("'{}' names no host", redact(url))));
        }
        if config.get_user().is_none() {
            let user = std::env::var("USER").unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        if config.get_dbname().is_none()
            && let Some(u) = config.get_user().map(str::to_owned)
        {
            config.dbname(&u);
        }
        if let Some(p) = password {
            config.password(p.expose());
        }
        config.application_name("sitrep");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        let tls = match mode {
            Some(m) => m,
            None => match config.get_ssl_mode() {
                SslMode::Disable => TlsMode::Disable,
                SslMode::Require => TlsMode::Verify,
                _ => TlsMode::Prefer,
            },
        };
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Verify => SslMode::Require,
        });
        Ok(TeamTarget {
            config,
            tls,
            ca_file,
            pool_size: 4,
        })
    }

    /// `user@host:port/dbname`, for messages and the status line.
    pub fn label(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "?".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        crate::sanitize::one_line(&format!(
            "{}@{host}:{port}/{}",
            self.config.get_user().unwrap_or("?"),
            self.config.get_dbname().unwrap_or("?")
        ))
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or("")
    }

    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or("")
    }

    pub fn tls(&self) -> TlsMode {
        self.tls
    }

    /// The connection settings (for a dedicated LISTEN connection).
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The TLS connector this target's mode asks for (None: plain TCP only).
    pub fn tls_connector(
        &self,
    ) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, TeamError> {
        if self.tls == TlsMode::Disable {
            return Ok(None);
        }
        let roots = crate::net::tls_roots(self.ca_file.as_deref()).map_err(TeamError::Url)?;
        let config = crate::net::tls_client_config(roots).map_err(TeamError::Url)?;
        Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
    }

    pub(super) fn pool(&self) -> Result<Pool, TeamError> {
        let mgr_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match self.tls_connector()? {
            None => Manager::from_config(self.config.clone(), tokio_postgres::NoTls, mgr_config),
            Some(tls) => Manager::from_config(self.config.clone(), tls, mgr_config),
        };
        Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(|e| TeamError::Url(crate::sanitize::one_line(&e.to_string())))
    }
}

/// Remove `sslmode=verify-ca|verify-full` (which tokio-postgres does not parse) from a URL's
/// query or a key=value string, returning the rest and the mode it asked for.
fn take_sslmode(url: &str) -> Result<(String, Option<TlsMode>), TeamError> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let sep = if is_url { '&' } else { ' ' };
    let (head, query) = if is_url {
        match url.split_once('?') {
            Some((h, q)) => (h.to_string(), q.to_string()),
            None => return Ok((url.to_string(), None)),
        }
    } else {
        (String::new(), url.to_string())
    };
    let mut mode = None;
    let mut kept = Vec::new();
    for part in query.split(sep).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("sslmode", v)) => {
                mode = Some(match v {
                    "disable" => TlsMode::Disable,
                    "allow" | "prefer" => TlsMode::Prefer,
                    "require" | "verify-ca" | "verify-full" => TlsMode::Verify,
                    other => {
                        return Err(TeamError::Url(format!(
                            "sslmode '{}' is not one of disable, prefer, require, verify-ca, verify-full",
                            crate::sanitize::one_line(other)
                        )));
                    }
                });
            }
            _ => kept.push(part),
        }
    }
    let rest = kept.join(&sep.to_string());
    Ok(if is_url {
        if rest.is_empty() {
            (head, mode)
        } else {
            (format!("{head}?{rest}"), mode)
        }
    } else {
        (rest, mode)
    })
}

/// The URL with any password replaced, for an error message: the user part of the
/// authority (up to its last '@', since a password may hold one) and every `password=` item of
/// the query or of a key=value string.
fn redact(url: &str) -> String {
    let one = crate::sanitize::one_line(url);
    let (head, query) = match one.split_once('?') {
        Some((h, q)) => (h.to_string(), Some(q.to_string())),
        None => (one.clone(), None),
    };
    let head = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            match authority.rsplit_once('@') {
                Some((creds, host)) => {
                    let user = creds.split(':').next().unwrap_or("");
                    format!("{scheme}://{user}@{host}{path}")
                }
                None => head.clone(),
            }
        }
        None => head,
    };
    let hide = |part: &str, sep: &str| {
        part.split(sep)
            .map(|p| {
                if p.trim_start().starts_with("password=") {
                    "password=***"
                } else {
                    p
                }
            })
            .collect::<Vec<_>>()
            .join(sep)
    };
    match query {
        Some(q) => format!("{head}?{}", hide(&q, "&")),
        None if !one.contains("://") => hide(&head, " "),
        None => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_url_may_not_hold_a_password_and_labels_never_show_one() {
        let e = TeamTarget::parse("postgres://alice:hunter2@db/soc", None, None, true)
            .expect_err("refused");
        assert!(e.to_string().contains("holds a password"), "{e}");
        assert!(!e.to_string().contains("hunter2"));
        let t = TeamTarget::parse("postgres://alice:hunter2@db:6543/soc", None, None, false)
            .expect("env url may");
        assert_eq!(t.label(), "alice@db:6543/soc");
        assert!(!format!("{t:?}").contains("hunter2"));
        let t = TeamTarget::parse(
            "postgres://alice@db/soc",
            Some(Secret::new("s3cret")),
            None,
            true,
        )
        .expect("password from elsewhere");
        assert_eq!(t.pg_config().get_password(), Some(&b"s3cret"[..]));
    }

    #[test]
    fn an_error_never_shows_a_password_wherever_the_url_holds_it() {
        for (url, shown) in [
            ("postgres://alice:p@ss@db/soc", "postgres://alice@db/soc"),
            (
                "postgres://db:x/soc?user=a&password=hunter2&sslmode=disable",
                "postgres://db:x/soc?user=a&password=***&sslmode=disable",
            ),
            (
                "host=db password=hunter2 user=a",
                "host=db password=*** user=a",
            ),
        ] {
            assert_eq!(redact(url), shown);
        }
        // A URL that fails to parse (a bad port) is reported redacted.
        let e = TeamTarget::parse("postgres://db:x/soc?password=hunter2", None, None, false)
            .expect_err("bad port");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn sslmodes_map_to_plain_prefer_or_verified_tls() {
        let m = |u: &str| TeamTarget::parse(u, None, None, true).map(|t| t.tls());
        assert_eq!(
            m("postgres://a@h/d?sslmode=disable").ok(),
            Some(TlsMode::Disable)
        );
        assert_eq!(m("postgres://a@h/d").ok(), Some(TlsMode::Prefer));
        assert_eq!(
            m("postgres://a@h/d?sslmode=require").ok(),
            Some(TlsMode::Verify)
        );
        assert_eq!(
            m("postgres://a@h/d?application_name=x&sslmode=verify-full").ok(),
            Some(TlsMode::Verify)
        );
        assert_eq!(
            m("host=h user=a sslmode=verify-ca").ok(),
            Some(TlsMode::Verify)
        );
        let e = m("postgres://a@h/d?sslmode=sometimes").expect_err("bad mode");
        assert!(e.to_string().contains("sslmode 'sometimes'"), "{e}");
        let e = m("mysql://a:pw@h/d").expect_err("not postgres");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}
