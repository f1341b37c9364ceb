//! Syslog RFC 5424 messages, sent over TLS (RFC 5425), plain TCP (RFC 6587 octet counting)
//! or UDP (RFC 5426, legacy).
//!
//! One message per audit entry:
//!
//! ```text
//! <PRI>1 2026-12-07T10:31:02.123Z host sitrep 4242 status [audit@32473 seq="7" at="…" actor="alice" action="status" subject="wiz:I-1" mac="…"][detail@32473 to="dismissed" …] {"seq":7,…}
//! ```
//!
//! - PRI: the configured facility (default 13, log audit) with severity notice (5), or
//!   warning (4) for a failed delivery or a dropped outbox row.
//! - MSGID: the entry's action. STRUCTURED-DATA: the entry's fields (`audit@32473`) and the
//!   detail's top-level values (`detail@32473`; nested ones as compact JSON), every value
//!   sanitized and escaped as RFC 5424 §6.3.3 asks. 32473 is the private enterprise number
//!   RFC 5612 reserves for documentation.
//! - MSG: the whole entry as JSON, ASCII only (other characters as `\uXXXX`), so it needs no
//!   BOM and survives any relay.
//!
//! TCP and TLS open a connection per attempt, write the octet-counted frame, close their
//! side and wait for the server to close its own: the server read everything up to our close
//! before the row counts as delivered. A connection that breaks before that is retried (the
//! SIEM may then see the entry twice; seq and mac identify the copy). UDP has no
//! acknowledgement at all: a datagram sent counts as delivered.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::Entry;
use crate::config::siem::{SyslogConfig, SyslogTransport};
use crate::dispatch::DispatchError;

/// The structured-data ID suffix: RFC 5612's documentation enterprise number.
pub const ENTERPRISE: u32 = 32473;
/// RFC 5424 severities.
const NOTICE: u8 = 5;
const WARNING: u8 = 4;
/// Largest UDP payload sent; longer messages are cut (RFC 5426 §3.2).
pub const MAX_DATAGRAM: usize = 65_000;

/// An SD-PARAM value: `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn param_value(s: &str) -> String {
    let s = crate::sanitize::one_line(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An SD-NAME: 1–32 printable ASCII characters other than `=`, space, `]` and `"`.
fn sd_name(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'));
    ok.then_some(s)
}

/// A header field (APP-NAME, MSGID…): printable ASCII, at most `max`, else `-` (NILVALUE).
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() { "-".into() } else { f }
}

/// JSON text with every non-ASCII character escaped as `\uXXXX` (surrogate pairs beyond the
/// BMP). Outside strings JSON text is ASCII already, so escaping every char is exact.
pub fn ascii_json(v: &serde_json::Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn severity(entry: &Entry) -> u8 {
    let failed = entry.detail.get("outcome").and_then(|v| v.as_str()) == Some("failed");
    if failed || entry.action == "outbox.drop" {
        WARNING
    } else {
        NOTICE
    }
}

/// The RFC 5424 message for an entry (already sanitized by the caller or not: every field is
/// cleaned again here).
pub fn format(cfg: &SyslogConfig, hostname: &str, procid: u32, entry: &Entry) -> String {
    let pri = u32::from(cfg.facility) * 8 + u32::from(severity(entry));
    let mut sd = format!(
        "[audit@{ENTERPRISE} seq=\"{}\" at=\"{}\" actor=\"{}\" action=\"{}\" subject=\"{}\" mac=\"{}\"]",
        entry.seq,
        super::time_rfc3339(entry.at),
        param_value(&entry.actor),
        param_value(&entry.action),
        param_value(&entry.subject),
        param_value(&entry.mac),
    );
    if let Some(obj) = entry.detail.as_object() {
        let params: Vec<String> = obj
            .iter()
            .filter_map(|(k, v)| {
                let name = sd_name(k)?;
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => return None,
                    other => other.to_string(),
                };
                Some(format!("{name}=\"{}\"", param_value(&value)))
            })
            .collect();
        if !params.is_empty() {
            sd.push_str(&format!("[detail@{ENTERPRISE} {}]", params.join(" ")));
        }
    }
    format!(
        "<{pri}>1 {} {} {} {procid} {} {sd} {}",
        super::time_rfc3339(entry.at),
        header_field(hostname, 255),
        header_field(&cfg.app_name, 48),
        header_field(&entry.action, 32),
        ascii_json(&entry.to_json()),
    )
}

/// The host part of `host:port` (without IPv6 brackets).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// One attempt at one entry.
pub async fn send(
    name: &str,
    cfg: &SyslogConfig,
    timeout: Duration,
    entry: &Entry,
) -> Result<String, DispatchError> {
    let what = format!("siem {name} ({} {})", cfg.transport.as_str(), cfg.address);
    let hostname = cfg.hostname.clone().unwrap_or_else(super::local_hostname);
    let msg = format(cfg, &hostname, std::process::id(), entry);
    let io = |e: std::io::Error| DispatchError::transient(format!("{what}: {e}"));
    let timed = |step: &str| DispatchError::transient(format!("{what}: {step} timed out"));
    match cfg.transport {
        SyslogTransport::Udp => {
            let sock = UdpSocket::bind(if cfg.address.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            })
            .await
            .map_err(io)?;
            let mut bytes = msg.into_bytes();
            bytes.truncate(MAX_DATAGRAM);
            tokio::time::timeout(timeout, sock.send_to(&bytes, cfg.address.as_str()))
                .await
                .map_err(|_| timed("send"))?
                .map_err(io)?;
            Ok("sent (udp: no acknowledgement)".into())
        }
        SyslogTransport::Tcp => {
            let tcp = connect(&cfg.address, timeout).await.map_err(|e| match e {
                None => timed("connect"),
                Some(e) => io(e),
            })?;
            deliver_framed(tcp, &msg, timeout, &what).await
        }
        SyslogTransport::Tls => {
            let connector =
                tls_connector(cfg).map_err(|e| DispatchError::permanent(format!("{what}: {e}")))?;
            let server = cfg
                .server_name
                .clone()
                .unwrap_or_else(|| host_of(&cfg.address).to_string());
            let server_name = tokio_rustls::rustls::pki_types::ServerName::try_from(server.clone())
                .map_err(|_| {
                    DispatchError::permanent(format!(
                        "{what}: '{}' is not a valid TLS server name",
                        crate::sanitize::one_line(&server)
                    ))
                })?;
            let tcp = connect(&cfg.address, timeout).await.map_err(|e| match e {
                None => timed("connect"),
                Some(e) => io(e),
            })?;
            let tls = tokio::time::timeout(timeout, connector.connect(server_name, tcp))
                .await
                .map_err(|_| timed("TLS handshake"))?
                .map_err(|e| {
                    // A certificate the configured roots do not accept will not be accepted
                    // on the next try either.
                    let text = e.to_string();
                    if text.contains("certificate") || text.contains("Certificate") {
                        DispatchError::permanent(format!("{what}: TLS: {text}"))
                    } else {
                        DispatchError::transient(format!("{what}: TLS: {text}"))
                    }
                })?;
            deliver_framed(tls, &msg, timeout, &what).await
        }
    }
}

/// `Ok` or `Err(None)` for a timeout.
async fn connect(address: &str, timeout: Duration) -> Result<TcpStream, Option<std::io::Error>> {
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Err(_) => Err(None),
        Ok(r) => r.map_err(Some),
    }
}

/// Write one octet-counted frame, close our side, and wait for the server to close its side
/// (it has then read everything we sent).
async fn deliver_framed<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    msg: &str,
    timeout: Duration,
    what: &str,
) -> Result<String, DispatchError> {
    let frame = format!("{} {msg}", msg.len());
    let io =
        |step: &str, e: std::io::Error| DispatchError::transient(format!("{what}: {step}: {e}"));
    let timed = |step: &str| DispatchError::transient(format!("{what}: {step} timed out"));
    tokio::time::timeout(timeout, async {
        stream.write_all(frame.as_bytes()).await?;
        stream.flush().await
    })
    .await
    .map_err(|_| timed("write"))?
    .map_err(|e| io("write", e))?;
    tokio::time::timeout(timeout, stream.shutdown())
        .await
        .map_err(|_| timed("close"))?
        .map_err(|e| io("close", e))?;
    let mut sink = [0u8; 512];
    let closed = tokio::time::timeout(timeout, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                // A peer that closes TCP without a TLS close_notify has still read our data.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    match closed {
        Ok(r) => {
            r.map_err(|e| io("waiting for the server to close", e))?;
            Ok(format!("sent ({} bytes)", frame.len()))
        }
        // Written and flushed on a healthy connection, but the server keeps its side open:
        // counted as delivered, since sending it again would repeat it on every attempt
        // against such a server (docs/siem.md).
        Err(_) => Ok(format!(
            "sent ({} bytes; the server did not confirm by closing)",
            frame.len()
        )),
    }
}

fn tls_connector(cfg: &SyslogConfig) -> Result<tokio_rustls::TlsConnector, String> {
    let roots = crate::net::tls_roots(cfg.ca_file.as_deref())?;
    let config = crate::net::tls_client_config(roots)?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SyslogConfig {
        SyslogConfig {
            address: "127.0.0.1:6514".into(),
            transport: SyslogTransport::Tls,
            ca_file: None,
            server_name: None,
            facility: 13,
            hostname: None,
            app_name: "sitrep".into(),
        }
    }

    #[test]
    fn message_follows_rfc5424_and_escapes_sd_values() {
        let e = Entry {
            seq: 7,
            at: 1_733_567_462_123,
            actor: "alice".into(),
            action: "status".into(),
            subject: "wiz:I-1".into(),
            detail: serde_json::json!({ "note": "a \"quoted\" ] \\ é", "n": 2, "nested": {"k": 1} }),
            mac: "abc".into(),
        };
        let m = format(&cfg(), "host1", 42, &e);
        assert!(
            m.starts_with(
                "<109>1 2024-12-07T10:31:02.123Z host1 sitrep 42 status [audit@32473 seq=\"7\""
            ),
            "{m}"
        );
        assert!(m.contains(r#"note="a \"quoted\" \] \\ é""#), "{m}");
        assert!(
            m.contains(r#"nested="{\"k\":1}""#) || m.contains(r#"nested="{"k":1}""#),
            "{m}"
        );
        let msg = &m[m.find(" {\"seq\"").unwrap() + 1..];
        assert!(msg.is_ascii() && msg.contains("\\u00e9"), "{msg}");
        let back: serde_json::Value = serde_json::from_str(msg).unwrap();
        assert_eq!(back["detail"]["note"], "a \"quoted\" ] \\ é");
    }

    #[test]
    fn failed_deliveries_are_warnings() {
        let e = Entry {
            seq: 1,
            at: 0,
            actor: "sitrep".into(),
            action: "dispatch".into(),
            subject: "".into(),
            detail: serde_json::json!({ "outcome": "failed" }),
            mac: "m".into(),
        };
        assert!(format(&cfg(), "h", 1, &e).starts_with("<108>1 "));
    }

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("siem.example:6514"), "siem.example");
        assert_eq!(host_of("[::1]:6514"), "::1");
    }
}
