//! Splunk HTTP Event Collector: `POST /services/collector/event` with
//! `Authorization: Splunk <token>` and the JSON envelope (`time`, `host`, `source`,
//! `sourcetype`, `index`, `event`). With indexer acknowledgement (`ack = true`) the request
//! names a channel (`X-Splunk-Request-Channel`), the reply carries an `ackId`, and the entry
//! counts as delivered only once `POST /services/collector/ack` says it was indexed.
//!
//! HEC's error replies are `{"text": …, "code": N}`: "server is busy" (9) and internal errors
//! (8), like 5xx and 429, are retried; a refused token (1–4), a missing or invalid channel
//! (10, 11), ack disabled (14) and data HEC will never take (5–7, 12, 13) fail the row, which
//! `sitrep outbox retry` puts back once the configuration is fixed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Entry;
use crate::config::siem::HecConfig;
use crate::dispatch::DispatchError;

/// The first wait between acknowledgement polls; doubled up to [`ACK_POLL_MAX`].
const ACK_POLL_FIRST: Duration = Duration::from_millis(100);
const ACK_POLL_MAX: Duration = Duration::from_secs(2);

/// The HEC channel of a destination: a GUID derived from its name and URL, stable across
/// runs so a restart keeps polling the channel its events went to.
pub fn channel(name: &str, url: &str) -> String {
    let h = crate::remediate::sha256_hex(format!("sitrep-hec-channel\n{name}\n{url}").as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The envelope HEC indexes.
pub fn envelope(cfg: &HecConfig, entry: &Entry, host: &str) -> Value {
    let mut v = json!({
        // Epoch seconds with milliseconds, as HEC documents `time` (`<sec>.<ms>`).
        "time": entry.at as f64 / 1000.0,
        "host": host,
        "source": cfg.source,
        "sourcetype": cfg.sourcetype,
        "event": entry.to_json(),
    });
    if let Some(index) = &cfg.index {
        v["index"] = json!(index);
    }
    v
}

/// What a documented HEC code means for the row: retry (`true`) or fail.
fn transient_code(code: i64) -> bool {
    matches!(code, 8 | 9)
}

/// A hint for the codes an operator has to act on.
fn hint(code: i64) -> &'static str {
    match code {
        1 => "the token is disabled in Splunk",
        2 | 3 => "the Authorization header was not accepted; check the token",
        4 => "Splunk does not know this token; check [[siem]] token",
        6 | 12 | 13 => "HEC refused the event's format",
        7 => "the token may not write to this index; check [[siem]] index",
        10 | 11 => {
            "HEC wants a channel: indexer acknowledgement is on for this token; set ack = true"
        }
        14 => "indexer acknowledgement is off for this token; set ack = false",
        _ => "",
    }
}

fn reply_error(
    what: &str,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> DispatchError {
    let parsed: Option<(i64, String)> = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        Some((
            v.get("code")?.as_i64()?,
            crate::sanitize::one_line(v.get("text").and_then(Value::as_str).unwrap_or("")),
        ))
    });
    let Some((code, text)) = parsed else {
        return crate::dispatch::http::status_error(what, status, headers, body);
    };
    let h = hint(code);
    let detail = if h.is_empty() {
        format!("{what}: HTTP {} HEC code {code} ({text})", status.as_u16())
    } else {
        format!(
            "{what}: HTTP {} HEC code {code} ({text}): {h}",
            status.as_u16()
        )
    };
    let s = status.as_u16();
    if transient_code(code) || s == 408 || s == 429 || s >= 500 {
        DispatchError::Transient {
            detail,
            retry_after: crate::net::retry_after(headers, std::time::SystemTime::now()),
        }
    } else {
        DispatchError::permanent(detail)
    }
}

/// One attempt: send the entry, then (with `ack`) poll until it is indexed or `ack_timeout`
/// passes. The token is read from its credential now and never appears in an error.
pub async fn send(
    http: &reqwest::Client,
    name: &str,
    cfg: &HecConfig,
    entry: &Entry,
) -> Result<String, DispatchError> {
    let what = format!("siem {name}");
    let token = cfg
        .token
        .resolve(&|k| std::env::var(k).ok())
        .map_err(|e| DispatchError::permanent(format!("{what}: token: {e}")))?;
    let auth = format!("Splunk {}", token.expose());
    let host = cfg.host.clone().unwrap_or_else(super::local_hostname);
    let chan = channel(name, &cfg.url);
    let body = serde_json::to_vec(&envelope(cfg, entry, &host))
        .map_err(|e| DispatchError::permanent(format!("{what}: cannot encode the event: {e}")))?;
    let mut req = http
        .post(format!("{}/services/collector/event", cfg.url))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(body);
    if cfg.ack {
        req = req.header("x-splunk-request-channel", &chan);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| crate::dispatch::http::send_error(&what, &e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| crate::dispatch::http::send_error(&what, &e))?;
    if !status.is_success() {
        return Err(reply_error(&what, status, &headers, &bytes));
    }
    // A 2xx whose body is not HEC's reply may or may not have been indexed: send again
    // (the entry's seq and mac let the SIEM drop the copy).
    let Ok(reply) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(DispatchError::transient(format!(
            "{what}: HTTP {} with a reply that is not HEC's ({})",
            status.as_u16(),
            crate::net::snippet(&bytes)
        )));
    };
    match reply.get("code").and_then(Value::as_i64) {
        Some(0) => {}
        Some(_) => return Err(reply_error(&what, status, &headers, &bytes)),
        None => {
            return Err(DispatchError::transient(format!(
                "{what}: HTTP {} with a reply that is not HEC's ({})",
                status.as_u16(),
                crate::net::snippet(&bytes)
            )));
        }
    }
    if !cfg.ack {
        return Ok("accepted".into());
    }
    let Some(ack_id) = reply.get("ackId").and_then(Value::as_u64) else {
        return Err(DispatchError::permanent(format!(
            "{what}: HEC replied without an ackId: indexer acknowledgement is off for this token; set ack = false"
        )));
    };
    wait_for_ack(http, &what, cfg, &auth, &chan, ack_id).await?;
    Ok(format!("ackId {ack_id} indexed"))
}

async fn wait_for_ack(
    http: &reqwest::Client,
    what: &str,
    cfg: &HecConfig,
    auth: &str,
    chan: &str,
    ack_id: u64,
) -> Result<(), DispatchError> {
    let started = Instant::now();
    let mut wait = ACK_POLL_FIRST;
    loop {
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(ACK_POLL_MAX);
        let resp = http
            .post(format!("{}/services/collector/ack", cfg.url))
            .query(&[("channel", chan)])
            .header("authorization", auth)
            .header("x-splunk-request-channel", chan)
            .json(&json!({ "acks": [ack_id] }))
            .send()
            .await;
        // A failed poll is not a failed delivery: keep polling until the deadline.
        if let Ok(resp) = resp {
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.unwrap_or_default();
            if status.is_success() {
                let acked = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("acks")?.get(ack_id.to_string())?.as_bool());
                if acked == Some(true) {
                    return Ok(());
                }
            } else if status.is_client_error() && status.as_u16() != 429 {
                return Err(reply_error(
                    &format!("{what} ack"),
                    status,
                    &headers,
                    &bytes,
                ));
            }
        }
        if started.elapsed() >= cfg.ack_timeout {
            return Err(DispatchError::transient(format!(
                "{what}: ackId {ack_id} not acknowledged within {}s; the entry will be sent again",
                cfg.ack_timeout.as_secs()
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_is_a_stable_guid() {
        let c = channel("splunk", "https://h:8088");
        assert_eq!(c.len(), 36);
        assert_eq!(c, channel("splunk", "https://h:8088"));
        assert_ne!(c, channel("other", "https://h:8088"));
        assert_eq!(c.matches('-').count(), 4);
    }

    #[test]
    fn hec_codes_split_into_retry_and_fail() {
        let h = reqwest::header::HeaderMap::new();
        let busy = reply_error(
            "siem s",
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            &h,
            br#"{"text":"Server is busy","code":9}"#,
        );
        assert!(busy.is_transient(), "{busy}");
        let bad = reply_error(
            "siem s",
            reqwest::StatusCode::FORBIDDEN,
            &h,
            br#"{"text":"Invalid token","code":4}"#,
        );
        assert!(!bad.is_transient());
        assert!(bad.to_string().contains("HEC code 4"), "{bad}");
    }
}
