//! Forwarding the audit log to a SIEM (docs/siem.md): Splunk HTTP Event Collector ([`hec`])
//! and syslog RFC 5424 over TLS, TCP or UDP ([`syslog`]).
//!
//! Each audit entry becomes one outbox row per `[[siem]]` destination, written by a trigger on
//! the audit log in the entry's own transaction (store migration 0014). The outbox worker
//! delivers a destination's rows one at a time in seq order; this module makes one attempt
//! at one entry and classifies its failure like every other destination.

pub mod hec;
pub mod syslog;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::DispatchError;
use crate::config::siem::{SiemDestination, SiemKind};
use crate::domain::EpochMs;

/// One audit entry as the outbox row carries it (the trigger's `json_object`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: i64,
    pub at: EpochMs,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
    /// The entry's chain MAC: lets the SIEM side check an entry against `sitrep audit export`
    /// and drop a copy sent twice.
    pub mac: String,
}

impl Entry {
    /// The entry with every string made safe (escape sequences, controls, bidi and
    /// zero-width characters removed): vendor text reaches the audit detail through notes
    /// and reasons, and a SIEM console is a terminal of its own.
    pub fn sanitized(&self) -> Entry {
        let mut findings = crate::sanitize::Findings::default();
        Entry {
            seq: self.seq,
            at: self.at,
            actor: crate::sanitize::one_line(&self.actor),
            action: crate::sanitize::one_line(&self.action),
            subject: crate::sanitize::one_line(&self.subject),
            detail: crate::sanitize::json(&self.detail, &mut findings),
            mac: crate::sanitize::one_line(&self.mac),
        }
    }

    /// The entry as one JSON object (the HEC `event`, the syslog MSG).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq,
            "at": self.at,
            "time": time_rfc3339(self.at),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "detail": self.detail,
            "mac": self.mac,
        })
    }
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds (`2026-12-07T10:31:02.123Z`).
pub fn time_rfc3339(at: EpochMs) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// This machine's name for the HEC `host` and the syslog HOSTNAME, when the table names none.
pub fn local_hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if name.is_empty() {
        "sitrep".into()
    } else {
        name
    }
}

/// HTTP clients per destination (each with its table's timeout), made on first use.
#[derive(Default)]
pub struct Clients {
    http: HashMap<String, reqwest::Client>,
}

impl Clients {
    fn http(&mut self, dest: &SiemDestination) -> Result<reqwest::Client, DispatchError> {
        if let Some(c) = self.http.get(&dest.name) {
            return Ok(c.clone());
        }
        let c = super::http::client(dest.timeout)?;
        self.http.insert(dest.name.clone(), c.clone());
        Ok(c)
    }
}

/// The `[[siem]]` names, for [`crate::store::Store::set_siem_destinations`]: every audit
/// entry written from then on is owed to each of them.
pub fn names(config: &[SiemDestination]) -> Vec<String> {
    config.iter().map(|d| d.name.clone()).collect()
}

/// The outbox destinations of every `[[siem]]` table (`siem:<name>`): the team outbox rows a
/// worker with this config can deliver.
pub fn destinations(config: &[SiemDestination]) -> Vec<String> {
    config.iter().map(|d| destination(&d.name)).collect()
}

/// The outbox destination name of a `[[siem]]` table.
pub fn destination(name: &str) -> String {
    format!("siem:{name}")
}

/// One attempt at delivering `entry` to the destination named by an outbox row
/// (`siem:<name>`). Returns the row's result text (`ackId 7`, `sent`).
pub async fn deliver(
    config: &[SiemDestination],
    clients: &mut Clients,
    row_destination: &str,
    entry: &Entry,
) -> Result<String, DispatchError> {
    let name = row_destination
        .strip_prefix("siem:")
        .unwrap_or(row_destination);
    let Some(dest) = config.iter().find(|d| d.name == name) else {
        return Err(DispatchError::permanent(format!(
            "[[siem]] '{}' is no longer configured",
            crate::sanitize::one_line(name)
        )));
    };
    let entry = entry.sanitized();
    match &dest.kind {
        SiemKind::Hec(cfg) => {
            let http = clients.http(dest)?;
            hec::send(&http, &dest.name, cfg, &entry).await
        }
        SiemKind::Syslog(cfg) => syslog::send(&dest.name, cfg, dest.timeout, &entry).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_entries_carry_no_escape_sequences() {
        let e = Entry {
            seq: 3,
            at: 1_733_567_462_123,
            actor: "al\u{1b}[31mice".into(),
            action: "note".into(),
            subject: "wiz:1\u{202e}".into(),
            detail: serde_json::json!({ "note": "x\u{1b}]0;pwned\u{7}y" }),
            mac: "ab".into(),
        };
        let s = e.sanitized();
        let text = s.to_json().to_string();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
        assert_eq!(s.to_json()["time"], "2024-12-07T10:31:02.123Z");
    }
}
