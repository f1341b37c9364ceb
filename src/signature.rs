//! Standard Webhooks signatures (docs/integrations.md §1.5): `webhook-signature: v1,<base64
//! HMAC-SHA256>` over `"{id}.{timestamp}.{raw body}"`, keyed with the bytes of a `whsec_`
//! secret. The sender (`dispatch::webhook`) and the receiver the chat simulator plays both use
//! this one implementation, so neither borrows from the other.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Secret;
use crate::config::notify::key_bytes;

type HmacSha256 = Hmac<Sha256>;

/// How far a receiver lets `webhook-timestamp` be from its clock.
pub const TOLERANCE_S: i64 = 5 * 60;

fn mac(key: &[u8], id: &str, ts: i64, body: &[u8]) -> Result<HmacSha256, String> {
    let mut m = HmacSha256::new_from_slice(key).map_err(|_| "bad HMAC key length".to_string())?;
    m.update(id.as_bytes());
    m.update(b".");
    m.update(ts.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Ok(m)
}

/// The `webhook-signature` value: `v1,<base64 HMAC-SHA256("{id}.{ts}.{body}")>`.
pub fn sign(secret: &Secret, id: &str, ts: i64, body: &[u8]) -> Result<String, String> {
    use base64::Engine as _;
    let key = key_bytes(secret)?;
    let m = mac(&key, id, ts, body)?;
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    ))
}

/// Check a delivery as a receiver does: the three headers present, the timestamp within
/// ±[`TOLERANCE_S`] of `now_s`, and one of the space-separated `v1,` signatures matching
/// (compared in constant time). The error is one line naming what failed.
pub fn verify(
    secret: &Secret,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    now_s: i64,
) -> Result<(), String> {
    use base64::Engine as _;
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("missing {k} header"))
    };
    let id = get("webhook-id")?;
    let ts_s = get("webhook-timestamp")?;
    let sigs = get("webhook-signature")?;
    let ts: i64 = ts_s
        .parse()
        .map_err(|_| "webhook-timestamp is not Unix seconds".to_string())?;
    let skew = now_s.saturating_sub(ts).saturating_abs();
    if skew > TOLERANCE_S {
        return Err(format!(
            "webhook-timestamp is {skew}s away from now (more than {TOLERANCE_S}s)"
        ));
    }
    let key = key_bytes(secret)?;
    for sig in sigs.split(' ').filter(|s| !s.is_empty()) {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        if mac(&key, id, ts, body)?.verify_slice(&raw).is_ok() {
            return Ok(());
        }
    }
    Err("no webhook-signature matches".into())
}
