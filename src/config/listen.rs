//! `[listen]`: the alert-push receiver of `sitrep listen` (docs/listen.md).
//!
//! ```toml
//! [listen]
//! addr = "127.0.0.1:8787"
//! tls_cert = "/etc/sitrep/listen.crt"   # PEM chain; with tls_key, serve HTTPS
//! tls_key = "/etc/sitrep/listen.key"    # PEM private key (PKCS#8, PKCS#1 or SEC1)
//! max_body_bytes = 1048576
//! rate_limit = 10                        # deliveries per second, per source
//! burst = 50
//! report_every = "60s"
//! ```
//!
//! Each source's secret is `webhook_secret` in its `[source.credentials]`, so it comes from
//! the environment, the keyring or an owner-only file like every other credential.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration::parse_duration;

/// The credential key that holds a source's webhook secret.
pub const SECRET_KEY: &str = "webhook_secret";

/// The `[source.options]` key that picks another verification than the vendor's own.
pub const AUTH_OPTION: &str = "webhook_auth";

/// The resolved `[listen]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenConfig {
    pub addr: SocketAddr,
    /// Certificate chain and private key (PEM files): HTTPS when set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Larger bodies are refused with 413 before they are read whole.
    pub max_body_bytes: usize,
    /// Verified deliveries per second per source (a token bucket), then 429.
    pub rate_limit: f64,
    /// The bucket's size: deliveries a source may send at once.
    pub burst: u32,
    /// How often the counters are logged while running.
    pub report_every: Duration,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            tls: None,
            max_body_bytes: 1024 * 1024,
            rate_limit: 10.0,
            burst: 50,
            report_every: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListen {
    addr: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    max_body_bytes: Option<i64>,
    rate_limit: Option<f64>,
    burst: Option<i64>,
    report_every: Option<String>,
}

/// Validate. Errors are `(key, message)`.
pub(super) fn resolve(r: RawListen) -> Result<ListenConfig, (String, String)> {
    let d = ListenConfig::default();
    let at = |k: &str| format!("[listen] {k}");
    let shown = |s: &str| crate::sanitize::one_line(s);
    let tls = match (r.tls_cert, r.tls_key) {
        (None, None) => None,
        (Some(c), Some(k)) if !c.trim().is_empty() && !k.trim().is_empty() => {
            Some((PathBuf::from(c.trim()), PathBuf::from(k.trim())))
        }
        (Some(_), None) => return Err((at("tls_key"), "tls_cert is set without it".into())),
        (None, Some(_)) => return Err((at("tls_cert"), "tls_key is set without it".into())),
        _ => return Err((at("tls_cert"), "an empty path".into())),
    };
    let addr = match r.addr {
        None => d.addr,
        Some(a) => a.trim().parse::<SocketAddr>().map_err(|_| {
            (
                at("addr"),
                format!("'{}' is not an address like 127.0.0.1:8787", shown(&a)),
            )
        })?,
    };
    check_addr(addr, tls.is_some()).map_err(|m| (at("addr"), m))?;
    let max_body_bytes = match r.max_body_bytes {
        None => d.max_body_bytes,
        Some(n) if (1024..=64 * 1024 * 1024).contains(&n) => n as usize,
        Some(n) => {
            return Err((
                at("max_body_bytes"),
                format!("{n} is out of range 1024..=67108864"),
            ));
        }
    };
    let rate_limit = match r.rate_limit {
        None => d.rate_limit,
        Some(x) if x > 0.0 && x.is_finite() => x,
        Some(x) => {
            return Err((
                at("rate_limit"),
                format!("{x} must be a positive number of deliveries per second"),
            ));
        }
    };
    let burst = match r.burst {
        None => d.burst,
        Some(n) if (1..=100_000).contains(&n) => n as u32,
        Some(n) => return Err((at("burst"), format!("{n} is out of range 1..=100000"))),
    };
    let report_every = match r.report_every {
        None => d.report_every,
        Some(s) => match parse_duration(&s) {
            Some(t) if t >= Duration::from_secs(1) => t,
            _ => {
                return Err((
                    at("report_every"),
                    format!("'{}' is not a duration of at least 1s", shown(&s)),
                ));
            }
        },
    };
    Ok(ListenConfig {
        addr,
        tls,
        max_body_bytes,
        rate_limit,
        burst,
        report_every,
    })
}

/// Plain HTTP only on loopback: elsewhere the tokens vendors send would cross the network
/// in the clear. The message says what to do instead.
pub fn check_addr(addr: SocketAddr, tls: bool) -> Result<(), String> {
    if tls || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{addr} is not a loopback address, and plain HTTP would carry the webhook secrets in the clear: set tls_cert and tls_key, or listen on 127.0.0.1 behind a TLS proxy"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawListen {
        toml::from_str(text).expect("toml")
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(resolve(raw("")).expect("empty"), ListenConfig::default());
        let c = resolve(raw(
            "addr = \"0.0.0.0:9443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nrate_limit = 2.5\nburst = 3\nmax_body_bytes = 4096\nreport_every = \"5s\"\n",
        ))
        .expect("values");
        assert_eq!(c.addr, "0.0.0.0:9443".parse().expect("addr"));
        assert_eq!(c.tls, Some(("c.pem".into(), "k.pem".into())));
        assert_eq!((c.rate_limit, c.burst, c.max_body_bytes), (2.5, 3, 4096));
        assert_eq!(c.report_every, Duration::from_secs(5));
    }

    #[test]
    fn golden_errors() {
        let err = |t: &str| resolve(raw(t)).expect_err(t);
        assert_eq!(
            err("addr = \"0.0.0.0:8787\""),
            (
                "[listen] addr".to_string(),
                "0.0.0.0:8787 is not a loopback address, and plain HTTP would carry the webhook secrets in the clear: set tls_cert and tls_key, or listen on 127.0.0.1 behind a TLS proxy".to_string()
            )
        );
        assert_eq!(
            err("addr = \"localhost\"").1,
            "'localhost' is not an address like 127.0.0.1:8787"
        );
        assert_eq!(err("tls_cert = \"c\"").0, "[listen] tls_key");
        assert_eq!(
            err("max_body_bytes = 10").1,
            "10 is out of range 1024..=67108864"
        );
        assert_eq!(err("rate_limit = 0.0").0, "[listen] rate_limit");
        assert_eq!(err("burst = 0").0, "[listen] burst");
        assert_eq!(err("report_every = \"0s\"").0, "[listen] report_every");
    }
}
