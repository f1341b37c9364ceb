//! `[[siem]]`: where every audit entry is forwarded (docs/siem.md).
//!
//! ```toml
//! [[siem]]
//! name = "splunk"
//! type = "splunk_hec"
//! url = "https://splunk.example:8088"          # the HEC base URL
//! token = { env = "SPLUNK_HEC_TOKEN" }
//! ack = true                                   # indexer acknowledgement is on for the token
//! index = "security"                           # optional
//! sourcetype = "sitrep:audit"                  # default
//!
//! [[siem]]
//! name = "syslog"
//! type = "syslog"
//! address = "siem.example:6514"
//! transport = "tls"                            # tls (RFC 5425) | tcp | udp (legacy)
//! ca_file = "/etc/sitrep/siem-ca.pem"          # optional: trust this CA instead of the system's
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::duration::parse_duration;
use super::vault::{CredentialRef, RawCredential};

/// Per-request timeout when a table names none.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// How long a HEC delivery waits for its acknowledgement when the table names no `ack_timeout`.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// One `[[siem]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct SiemDestination {
    /// Letters, digits, `- _ .`; the outbox destination is `siem:<name>`.
    pub name: String,
    pub kind: SiemKind,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SiemKind {
    Hec(HecConfig),
    Syslog(SyslogConfig),
}

/// Splunk HTTP Event Collector.
#[derive(Debug, Clone, PartialEq)]
pub struct HecConfig {
    /// Base URL (`https://host:8088`); the paths `/services/collector/…` are appended.
    pub url: String,
    pub token: CredentialRef,
    /// Indexer acknowledgement: a row is done only once HEC says the event was indexed.
    pub ack: bool,
    pub ack_timeout: Duration,
    pub index: Option<String>,
    pub source: String,
    pub sourcetype: String,
    /// The event's `host` (default: this machine's host name).
    pub host: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    /// RFC 5425: TLS, octet-counting framing.
    Tls,
    /// RFC 6587 octet counting over plain TCP (cleartext).
    Tcp,
    /// RFC 5426: one datagram per message (cleartext, no delivery guarantee).
    Udp,
}

impl SyslogTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            SyslogTransport::Tls => "tls",
            SyslogTransport::Tcp => "tcp",
            SyslogTransport::Udp => "udp",
        }
    }
}

/// Syslog RFC 5424.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConfig {
    /// `host:port`.
    pub address: String,
    pub transport: SyslogTransport,
    /// PEM file of the CA(s) to trust for TLS (None: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the address's host).
    pub server_name: Option<String>,
    /// Facility number 0..=23 (default 13, "log audit").
    pub facility: u8,
    /// The HOSTNAME field (default: this machine's host name).
    pub hostname: Option<String>,
    pub app_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSiem {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    timeout: Option<String>,
    // splunk_hec
    url: Option<String>,
    token: Option<RawCredential>,
    ack: Option<bool>,
    ack_timeout: Option<String>,
    index: Option<String>,
    source: Option<String>,
    sourcetype: Option<String>,
    host: Option<String>,
    // syslog
    address: Option<String>,
    transport: Option<String>,
    ca_file: Option<String>,
    server_name: Option<String>,
    facility: Option<i64>,
    hostname: Option<String>,
    app_name: Option<String>,
}

type KeyErr = (String, String);

fn one(s: &str) -> String {
    crate::sanitize::one_line(s)
}

/// A name, host or field that goes into an event or a syslog header: printable ASCII.
fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (33..=126).contains(&b))
}

fn duration(key: String, v: Option<String>, default: Duration) -> Result<Duration, KeyErr> {
    match v {
        None => Ok(default),
        Some(s) => match parse_duration(&s) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => Err((
                key,
                format!("'{}' is not a duration such as 15s or 2m", one(&s)),
            )),
        },
    }
}

/// Validate. Errors are `(key, message)` and never show a secret.
pub(super) fn resolve(
    raw: Vec<RawSiem>,
    private: bool,
    path: &Path,
) -> Result<Vec<SiemDestination>, KeyErr> {
    let mut out: Vec<SiemDestination> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let name = r.name.trim().to_string();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err((
                format!("[[siem]] #{} name", i + 1),
                format!(
                    "'{}' is not a valid name (letters, digits, - _ .)",
                    one(&name)
                ),
            ));
        }
        if out.iter().any(|d| d.name == name) {
            return Err((
                format!("[[siem]] #{} name", i + 1),
                format!("'{name}' is used by two [[siem]] tables"),
            ));
        }
        let key = |k: &str| format!("[[siem]] {name}: {k}");
        let timeout = duration(key("timeout"), r.timeout.clone(), TIMEOUT)?;
        let kind = match r.kind.trim() {
            "splunk_hec" => SiemKind::Hec(hec(&r, &key, private, path)?),
            "syslog" => SiemKind::Syslog(syslog(&r, &key)?),
            other => {
                return Err((
                    key("type"),
                    format!(
                        "unknown type '{}'; expected splunk_hec or syslog",
                        one(other)
                    ),
                ));
            }
        };
        // Keys of the other type are a mistake worth naming, not silently ignored.
        let foreign: &[(&str, bool)] = match &kind {
            SiemKind::Hec(_) => &[
                ("address", r.address.is_some()),
                ("transport", r.transport.is_some()),
                ("ca_file", r.ca_file.is_some()),
                ("server_name", r.server_name.is_some()),
                ("facility", r.facility.is_some()),
                ("hostname", r.hostname.is_some()),
                ("app_name", r.app_name.is_some()),
            ],
            SiemKind::Syslog(_) => &[
                ("url", r.url.is_some()),
                ("token", r.token.is_some()),
                ("ack", r.ack.is_some()),
                ("ack_timeout", r.ack_timeout.is_some()),
                ("index", r.index.is_some()),
                ("source", r.source.is_some()),
                ("sourcetype", r.sourcetype.is_some()),
                ("host", r.host.is_some()),
            ],
        };
        if let Some((k, _)) = foreign.iter().find(|(_, set)| *set) {
            return Err((key(k), format!("is not a key of a {} table", r.kind.trim())));
        }
        out.push(SiemDestination {
            name,
            kind,
            timeout,
        });
    }
    Ok(out)
}

fn hec(
    r: &RawSiem,
    key: &dyn Fn(&str) -> String,
    private: bool,
    path: &Path,
) -> Result<HecConfig, KeyErr> {
    let url = r
        .url
        .as_deref()
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .ok_or_else(|| (key("url"), "is required for type splunk_hec".to_string()))?;
    let parsed =
        reqwest::Url::parse(&url).map_err(|_| (key("url"), "is not a valid URL".into()))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback)) {
        return Err((
            key("url"),
            "must be an https:// URL (plain http only for loopback)".into(),
        ));
    }
    if parsed.query().is_some() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err((
            key("url"),
            "must not carry a query string or user info; the token goes in `token`".into(),
        ));
    }
    let token = match r.token.as_ref() {
        None => return Err((key("token"), "is required for type splunk_hec".into())),
        Some(RawCredential::Env { env }) => CredentialRef::Env(env.clone()),
        Some(RawCredential::Keyring { keyring }) => CredentialRef::Keyring(
            super::keyring::KeyringEntry::parse(keyring).map_err(|e| (key("token"), e))?,
        ),
        Some(RawCredential::Vault { vault }) => {
            super::vault::credential(vault).map_err(|e| (key("token"), e))?
        }
        Some(RawCredential::Literal(v)) => {
            if !private {
                return Err((
                    key("token"),
                    format!(
                        "{} holds a secret but is readable by group or others; run chmod 600 on it, or use {{ env = \"VAR\" }} or {{ keyring = \"SERVICE/USER\" }}",
                        path.display()
                    ),
                ));
            }
            CredentialRef::Literal(super::Secret::new(v.trim()))
        }
    };
    let field = |k: &str, v: &Option<String>| -> Result<Option<String>, KeyErr> {
        match v.as_deref().map(str::trim) {
            None => Ok(None),
            Some(s) if printable(s, 255) => Ok(Some(s.to_string())),
            Some(s) => Err((
                key(k),
                format!(
                    "'{}' must be 1–255 printable characters without spaces",
                    one(s)
                ),
            )),
        }
    };
    Ok(HecConfig {
        url,
        token,
        ack: r.ack.unwrap_or(false),
        ack_timeout: duration(key("ack_timeout"), r.ack_timeout.clone(), ACK_TIMEOUT)?,
        index: field("index", &r.index)?,
        source: field("source", &r.source)?.unwrap_or_else(|| "sitrep".into()),
        sourcetype: field("sourcetype", &r.sourcetype)?.unwrap_or_else(|| "sitrep:audit".into()),
        host: field("host", &r.host)?,
    })
}

fn syslog(r: &RawSiem, key: &dyn Fn(&str) -> String) -> Result<SyslogConfig, KeyErr> {
    let address = r
        .address
        .as_deref()
        .map(|a| a.trim().to_string())
        .ok_or_else(|| (key("address"), "is required for type syslog".to_string()))?;
    let port_ok = address
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok {
        return Err((
            key("address"),
            format!("'{}' is not host:port", one(&address)),
        ));
    }
    let transport = match r.transport.as_deref().map(str::trim).unwrap_or("tls") {
        "tls" => SyslogTransport::Tls,
        "tcp" => SyslogTransport::Tcp,
        "udp" => SyslogTransport::Udp,
        other => {
            return Err((
                key("transport"),
                format!(
                    "unknown transport '{}'; expected tls, tcp or udp",
                    one(other)
                ),
            ));
        }
    };
    if transport != SyslogTransport::Tls && (r.ca_file.is_some() || r.server_name.is_some()) {
        return Err((
            key(if r.ca_file.is_some() {
                "ca_file"
            } else {
                "server_name"
            }),
            "applies only to transport = \"tls\"".into(),
        ));
    }
    let facility = match r.facility {
        None => 13,
        Some(f) if (0..=23).contains(&f) => f as u8,
        Some(f) => return Err((key("facility"), format!("{f} is out of range 0..=23"))),
    };
    let name_field = |k: &str, v: &Option<String>, max: usize| -> Result<Option<String>, KeyErr> {
        match v.as_deref().map(str::trim) {
            None => Ok(None),
            Some(s) if printable(s, max) => Ok(Some(s.to_string())),
            Some(s) => Err((
                key(k),
                format!(
                    "'{}' must be 1–{max} printable ASCII characters without spaces",
                    one(s)
                ),
            )),
        }
    };
    Ok(SyslogConfig {
        address,
        transport,
        ca_file: r.ca_file.as_deref().map(|p| PathBuf::from(p.trim())),
        server_name: name_field("server_name", &r.server_name, 255)?,
        facility,
        hostname: name_field("hostname", &r.hostname, 255)?,
        app_name: name_field("app_name", &r.app_name, 48)?.unwrap_or_else(|| "sitrep".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<SiemDestination>, KeyErr> {
        #[derive(Deserialize)]
        struct F {
            siem: Vec<RawSiem>,
        }
        let f: F = toml::from_str(text).map_err(|e| ("toml".to_string(), e.to_string()))?;
        resolve(f.siem, false, Path::new("c.toml"))
    }

    #[test]
    fn valid_tables_resolve_with_defaults() {
        let d = parse(
            r#"
            [[siem]]
            name = "splunk"
            type = "splunk_hec"
            url = "https://splunk.example:8088/"
            token = { env = "HEC_TOKEN" }
            ack = true
            [[siem]]
            name = "rsyslog"
            type = "syslog"
            address = "127.0.0.1:6514"
            "#,
        )
        .unwrap();
        let SiemKind::Hec(h) = &d[0].kind else {
            panic!("{d:?}")
        };
        assert_eq!(h.url, "https://splunk.example:8088");
        assert!(h.ack);
        assert_eq!(h.sourcetype, "sitrep:audit");
        let SiemKind::Syslog(s) = &d[1].kind else {
            panic!("{d:?}")
        };
        assert_eq!(s.transport, SyslogTransport::Tls);
        assert_eq!(s.facility, 13);
    }

    #[test]
    fn bad_tables_name_the_key() {
        let cases = [
            (
                r#"[[siem]]
                name = "a b"
                type = "syslog"
                address = "h:1""#,
                "[[siem]] #1 name",
            ),
            (
                r#"[[siem]]
                name = "s"
                type = "kafka""#,
                "[[siem]] s: type",
            ),
            (
                r#"[[siem]]
                name = "s"
                type = "splunk_hec"
                url = "http://splunk.example:8088"
                token = { env = "T" }"#,
                "[[siem]] s: url",
            ),
            (
                r#"[[siem]]
                name = "s"
                type = "splunk_hec"
                url = "https://splunk.example:8088"
                token = "literal-token""#,
                "[[siem]] s: token",
            ),
            (
                r#"[[siem]]
                name = "s"
                type = "syslog"
                address = "nohost""#,
                "[[siem]] s: address",
            ),
            (
                r#"[[siem]]
                name = "s"
                type = "syslog"
                address = "h:514"
                transport = "udp"
                ca_file = "/x.pem""#,
                "[[siem]] s: ca_file",
            ),
            (
                r#"[[siem]]
                name = "s"
                type = "syslog"
                address = "h:514"
                token = { env = "T" }"#,
                "[[siem]] s: token",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.0, key, "{text}: {err:?}");
        }
        // A literal token in a group-readable file is refused without showing it.
        let err = parse(
            r#"[[siem]]
            name = "s"
            type = "splunk_hec"
            url = "https://h:8088"
            token = "super-secret-token""#,
        )
        .unwrap_err();
        assert!(!err.1.contains("super-secret-token"), "{err:?}");
    }
}
