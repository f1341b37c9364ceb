//! The HTTP client every destination shares: rustls, timeouts, no redirects (a redirect could
//! carry an `Authorization` header elsewhere), and one classification of failures.

use std::time::{Duration, SystemTime};

use super::DispatchError;

/// A client for one destination.
pub fn client(timeout: Duration) -> Result<reqwest::Client, DispatchError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sitrep/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DispatchError::permanent(format!("cannot build an HTTP client: {e}")))
}

/// A request that got no usable response (connect error, timeout, broken body).
pub fn send_error(what: &str, e: &reqwest::Error) -> DispatchError {
    let kind = crate::net::error_kind(e);
    // Only the kind: a webhook's URL is a secret, and the destination names itself in `what`.
    DispatchError::transient(format!("{what}: {kind}"))
}

/// Classify a non-success status: 408/425/429/5xx are transient (with the server's wait),
/// 401/403 name the credentials, other 4xx are permanent. `body` is shown sanitized, cut short.
pub fn status_error(
    what: &str,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> DispatchError {
    let detail = crate::net::snippet(body);
    let code = status.as_u16();
    match code {
        408 | 425 | 429 | 500..=599 => DispatchError::Transient {
            detail: format!("{what}: HTTP {code}: {detail}"),
            retry_after: crate::net::retry_after(headers, SystemTime::now()),
        },
        401 | 403 => DispatchError::permanent(format!(
            "{what}: HTTP {code}: credentials refused ({detail})"
        )),
        _ => DispatchError::permanent(format!("{what}: HTTP {code}: {detail}")),
    }
}
