//! What every HTTP caller (vendor clients, LLM providers, ticket and chat destinations) says
//! about a failed request, in one place: the kind of a reqwest error, the wait a 429 asks
//! for, and a short, safe start of a response body.
//!
//! Messages built here never carry a URL: a webhook or a vendor endpoint can hold a tenant
//! name or a token in its path or query, and these messages reach logs, the status bar and
//! the audit trail.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// The kind of failure of a request that got no usable response, in a few words.
pub fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body broken"
    } else {
        "request failed"
    }
}

/// The kind of failure and its innermost cause ("connection failed: Connection refused"),
/// on one line. reqwest's own Display names the URL, so only the cause chain below it is
/// read, and a cause that still mentions a URL is left out.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = error_kind(e);
    let mut root: Option<&(dyn std::error::Error + 'static)> = None;
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        root = Some(cause);
        next = cause.source();
    }
    let cause = root
        .map(|c| crate::sanitize::one_line(&c.to_string()))
        .filter(|c| !c.is_empty() && !c.contains("://"));
    match cause {
        Some(c) => format!("{kind}: {c}"),
        None => kind.to_string(),
    }
}

/// A wait of `secs` seconds (negative: none). None for what no `Duration` holds (`inf`,
/// `1e30`, NaN): a header like that is not a wait to honour, and the caller backs off its own way.
pub fn wait_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() {
        return None;
    }
    Duration::try_from_secs_f64(secs.max(0.0)).ok()
}

/// The wait a 429 asks for: `Retry-After` (seconds or an HTTP date), else
/// `X-RateLimit-Reset` (epoch seconds, epoch ms or seconds from now, or an RFC 3339 time).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let now_s = now
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(v) = get("retry-after") {
        if let Ok(secs) = v.parse::<f64>() {
            return wait_secs(secs);
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc2822(v) {
            return wait_secs(t.timestamp() as f64 - now_s);
        }
    }
    if let Some(v) = get("x-ratelimit-reset") {
        if let Ok(n) = v.parse::<f64>() {
            let secs = if n > 1e12 {
                n / 1000.0 - now_s
            } else if n > 1e9 {
                n - now_s
            } else {
                n
            };
            return wait_secs(secs);
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
            return wait_secs(t.timestamp() as f64 - now_s);
        }
    }
    None
}

/// The start of a response body, safe to show.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
    let t = crate::sanitize::one_line(&text);
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t
    }
}

/// The certificates a TLS client trusts: the PEM file's (all of them; it must hold at least
/// one) or, without one, the system's. Errors name the file, never its contents.
pub fn tls_roots(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_rustls::rustls::RootCertStore, String> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            for c in certs {
                let c = c.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("ca_file {} holds no certificate", path.display()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // One unusable system certificate should not stop the others.
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err("no system CA certificates found; set ca_file".into());
            }
        }
    }
    Ok(roots)
}

/// A rustls client configuration (aws-lc-rs, TLS 1.2 and 1.3) trusting `roots`.
pub fn tls_client_config(
    roots: tokio_rustls::rustls::RootCertStore,
) -> Result<tokio_rustls::rustls::ClientConfig, String> {
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    Ok(
        tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_in_all_its_forms() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = |k: &'static str, v: &str| {
            let mut m = HeaderMap::new();
            m.insert(k, HeaderValue::from_str(v).expect("value"));
            m
        };
        assert_eq!(
            retry_after(&h("retry-after", "3"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&h("retry-after", "Tue, 14 Nov 2023 22:13:25 GMT"), now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            retry_after(&h("x-ratelimit-reset", "1700000010"), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after(&h("x-ratelimit-reset", "1700000002000"), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&h("x-ratelimit-reset", "7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&h("x-ratelimit-reset", "2023-11-14T22:13:30Z"), now),
            Some(Duration::from_secs(10))
        );
        // A wait no Duration holds is no wait (it used to panic), nor is NaN.
        for v in ["inf", "1e30", "NaN"] {
            assert_eq!(retry_after(&h("retry-after", v), now), None, "{v}");
            assert_eq!(retry_after(&h("x-ratelimit-reset", v), now), None, "{v}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn snippets_are_short_single_lines() {
        assert_eq!(snippet(b""), "(empty body)");
        assert_eq!(snippet(b"bad\n\x1b[31mthing"), "bad thing");
        assert_eq!(snippet(&[b'a'; 1000]).len(), 300);
    }

    #[tokio::test]
    async fn a_failed_request_is_described_without_its_url() {
        // A port nothing listens on: bind one, then let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let url = format!("http://127.0.0.1:{port}/tenant-acme/hook?token=s3cret");
        let e = reqwest::Client::new()
            .get(&url)
            .send()
            .await
            .expect_err("nothing listens");
        assert_eq!(error_kind(&e), "connection failed");
        let text = describe(&e);
        assert!(text.starts_with("connection failed"), "{text}");
        for leak in ["127.0.0.1", "tenant-acme", "s3cret", "http"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}
