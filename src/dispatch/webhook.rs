//! Generic outbound webhooks signed with the Standard Webhooks scheme
//! (docs/integrations.md §1.5).
//!
//! Body: `{"type": <event>, "timestamp": <RFC 3339>, "data": <Notice.data, sanitized>}`.
//! Headers: `webhook-id` (the [`Notice::id`], stable per decision and destination),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{id}.{timestamp}.{raw body}"`, keyed with the bytes of the `whsec_<base64>` secret.
//!
//! Exactly-once: the outbox retries with the same `webhook-id`; receivers drop an id they have
//! already processed (the simulator does). A retry has a fresh timestamp and signature.

use super::DispatchError;
use super::notice::{Notice, check_url, reply_lost, reply_snippet, send_failed};
use crate::config::Secret;
// The config checks a literal secret's key when it loads, so the key's shape lives there.
pub use crate::config::notify::{NEW_KEY_BYTES, key_bytes};

// Signing and checking are shared with the receiver the chat simulator plays.
pub use crate::signature::{TOLERANCE_S, verify};

/// A new random `whsec_` secret ([`NEW_KEY_BYTES`] key bytes) for `sitrep` to hand to a receiver.
pub fn generate_secret() -> Result<Secret, String> {
    use base64::Engine as _;
    let mut key = [0u8; NEW_KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness for a webhook secret: {e}"))?;
    Ok(Secret::new(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )))
}

/// The `webhook-signature` value: `v1,<base64 HMAC-SHA256("{id}.{ts}.{body}")>`.
pub fn sign(secret: &Secret, id: &str, ts: i64, body: &[u8]) -> Result<String, DispatchError> {
    crate::signature::sign(secret, id, ts, body).map_err(DispatchError::permanent)
}

/// The JSON body for `n` at `now_s`: `{"type", "timestamp", "data"}`, strings sanitized.
pub fn body(n: &Notice, now_s: i64) -> Result<Vec<u8>, DispatchError> {
    let ts = chrono::DateTime::from_timestamp(now_s, 0)
        .ok_or_else(|| DispatchError::permanent(format!("webhook: bad clock value {now_s}")))?
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut findings = crate::sanitize::Findings::default();
    let data = crate::sanitize::json(&n.data, &mut findings);
    let v = serde_json::json!({
        "type": crate::sanitize::one_line(&n.event),
        "timestamp": ts,
        "data": data,
    });
    serde_json::to_vec(&v)
        .map_err(|e| DispatchError::permanent(format!("webhook: cannot encode the body: {e}")))
}

/// A `webhook-id` must be a header-safe token: the Notice id is ours, but check anyway.
fn check_id(id: &str) -> Result<(), DispatchError> {
    let ok = !id.is_empty()
        && id.len() <= 256
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(DispatchError::permanent(
            "webhook: the notice id is not a header-safe token (letters, digits, _ - . :)",
        ))
    }
}

/// POST `n` to `url`, signed with `secret`, timestamped `now_s`. One attempt: any 2xx is
/// delivered; 408/429/5xx and lost responses are transient; other statuses are permanent.
pub async fn send(
    http: &reqwest::Client,
    url: &Secret,
    secret: &Secret,
    n: &Notice,
    now_s: i64,
) -> Result<(), DispatchError> {
    check_id(&n.id)?;
    let url = check_url("webhook", url.expose())?;
    let body = body(n, now_s)?;
    let sig = sign(secret, &n.id, now_s, &body)?;
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", n.id.as_str())
        .header("webhook-timestamp", now_s.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| send_failed("webhook", &e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let reply = resp.bytes().await.map_err(|_| reply_lost("webhook"))?;
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        return Err(DispatchError::permanent(format!(
            "webhook: HTTP {}: redirects are not followed; configure the final URL ({})",
            status.as_u16(),
            reply_snippet(&reply)
        )));
    }
    Err(super::http::status_error(
        "webhook", status, &headers, &reply,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks reference libraries.
    #[test]
    fn matches_the_reference_vector() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verify_checks_time_signature_and_rotation() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"a":1}"#;
        let sig = sign(&secret, "msg_1", 1000, body).expect("sign");
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("webhook-id", "msg_1".parse().expect("v"));
        h.insert("webhook-timestamp", "1000".parse().expect("v"));
        h.insert(
            "webhook-signature",
            format!("v1,AAAA {sig}").parse().expect("v"),
        );
        assert_eq!(verify(&secret, &h, body, 1100), Ok(()));
        assert_eq!(
            verify(&secret, &h, body, 1000 + 301),
            Err("webhook-timestamp is 301s away from now (more than 300s)".into())
        );
        let mut extreme = h.clone();
        extreme.insert(
            "webhook-timestamp",
            i64::MIN.to_string().parse().expect("v"),
        );
        assert!(verify(&secret, &extreme, body, 1000).is_err());
        assert_eq!(
            verify(&secret, &h, br#"{"a":2}"#, 1000),
            Err("no webhook-signature matches".into())
        );
        let e = key_bytes(&Secret::new("whsec_not base64!")).expect_err("bad");
        assert!(!e.contains("not base64!"));
        let g = generate_secret().expect("random");
        assert!(key_bytes(&g).is_ok());
    }
}
