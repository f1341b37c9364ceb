//! The text both the headless CLI and the console show a person: ages ("5m"), timestamps and
//! one alert in full. It sits below `cli` and the console so neither borrows from the other;
//! every vendor string passes through `sanitize` on its way out.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::domain::{EpochMs, Status};
use crate::sanitize::{self, one_line};
use crate::store::StoredAlert;

/// "5m", "3h", "12d" — how long ago `t` was.
pub fn age(now: EpochMs, t: EpochMs) -> String {
    let secs = (now - t).max(0) / 1000;
    match secs {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// RFC 3339 UTC, second precision.
pub fn iso(t: EpochMs) -> String {
    DateTime::<Utc>::from_timestamp_millis(t)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn human_time(now: EpochMs, t: Option<EpochMs>) -> String {
    match t {
        Some(t) => format!(
            "{} ({} ago)",
            iso(t).replace('T', " ").replace('Z', " UTC"),
            age(now, t)
        ),
        None => "—".into(),
    }
}

fn status_line(s: &Status) -> String {
    match s {
        Status::New => "new".into(),
        Status::Acknowledged => "acknowledged".into(),
        Status::InProgress => "in progress".into(),
        Status::Resolved { reason } => format!("resolved ({})", one_line(reason)),
        Status::Dismissed {
            reason,
            note,
            until,
        } => {
            let mut t = format!("dismissed: {}", reason.as_str());
            if let Some(u) = until {
                let _ = write!(t, " until {}", iso(*u));
            }
            if let Some(n) = note {
                let _ = write!(t, " — {}", one_line(n));
            }
            t
        }
        Status::Snoozed { until, note } => {
            let mut t = format!("snoozed until {}", iso(*until));
            if let Some(n) = note {
                let _ = write!(t, " — {}", one_line(n));
            }
            t
        }
    }
}

/// Indent a block of cleaned multi-line text.
fn block(text: &str) -> String {
    sanitize::text(text)
        .lines()
        .map(|l| format!("  {}\n", l.trim_end()))
        .collect()
}

/// One alert for a person.
pub fn show_text(s: &StoredAlert, now: EpochMs) -> String {
    let a = &s.alert;
    let mut o = String::new();
    let field = |o: &mut String, k: &str, v: String| {
        let _ = writeln!(o, "  {k:<13}{v}");
    };
    let _ = writeln!(
        o,
        "{}  [{}]  {}",
        one_line(&s.id),
        one_line(&a.severity.to_store()).to_uppercase(),
        one_line(&a.title)
    );
    if s.has_controls {
        let _ = writeln!(
            o,
            "  ! The vendor's text for this alert carried terminal escape sequences or invisible \
             (bidi / zero-width) characters. They were removed from this view; treat the alert's \
             text as suspicious."
        );
    }
    field(
        &mut o,
        "vendor",
        format!("{} (source {})", a.vendor, one_line(&a.source)),
    );
    field(&mut o, "category", one_line(&a.category.to_store()));
    field(&mut o, "status", status_line(&s.status));
    field(
        &mut o,
        "vendor state",
        one_line(&a.vendor_status.to_store()),
    );
    if let Some(v) = &a.policy.vendor_severity {
        field(&mut o, "vendor sev", one_line(v));
    }
    let policy = [a.policy.name.as_deref(), a.policy.id.as_deref()]
        .into_iter()
        .flatten()
        .map(one_line)
        .collect::<Vec<_>>()
        .join("  ·  ");
    if !policy.is_empty() {
        field(&mut o, "policy", policy);
    }
    let r = &a.resource;
    let res = [r.name.as_deref(), r.rtype.as_deref().map(|t| t.trim())]
        .into_iter()
        .flatten()
        .map(one_line)
        .collect::<Vec<_>>()
        .join("  ·  ");
    if !res.is_empty() {
        field(&mut o, "resource", res);
    }
    if let Some(id) = &r.id {
        field(&mut o, "resource id", one_line(id));
    }
    let place = [
        r.cloud.as_ref().map(|c| one_line(&c.to_store())),
        r.account
            .as_deref()
            .map(|x| format!("account {}", one_line(x))),
        r.region
            .as_deref()
            .map(|x| format!("region {}", one_line(x))),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("  ·  ");
    if !place.is_empty() {
        field(&mut o, "where", place);
    }
    if !r.tags.is_empty() {
        let tags = r
            .tags
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    one_line(k)
                } else {
                    format!("{}={}", one_line(k), one_line(v))
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        field(&mut o, "tags", tags);
    }
    let mut exp = Vec::new();
    match a.exposure.internet_facing {
        Some(true) => exp.push("internet-facing".to_string()),
        Some(false) => exp.push("not internet-facing".to_string()),
        None => {}
    }
    if !a.exposure.open_ports.is_empty() {
        exp.push(format!(
            "open ports {}",
            a.exposure
                .open_ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !exp.is_empty() {
        field(&mut o, "exposure", exp.join("; "));
    }
    field(&mut o, "first seen", human_time(now, a.first_seen));
    field(&mut o, "last seen", human_time(now, a.last_seen));
    if let Some(t) = &s.ticket {
        field(&mut o, "ticket", one_line(t));
    }
    match (&s.assignee, s.claim_until) {
        // Team mode: a claim names its holder and how long it lasts.
        (Some(t), Some(until)) if until > now => field(
            &mut o,
            "claimed by",
            format!(
                "{} until {} (in {})",
                one_line(t),
                iso(until).replace('T', " ").replace('Z', " UTC"),
                age(until, now)
            ),
        ),
        (Some(t), Some(_)) => field(&mut o, "claim", format!("{} (lapsed)", one_line(t))),
        (Some(t), None) => field(&mut o, "assignee", one_line(t)),
        (None, _) => {}
    }
    if let Some(t) = &s.owner {
        field(&mut o, "owner", one_line(t));
    }
    if !a.cves.is_empty() {
        let _ = writeln!(o, "\nCVEs");
        for c in &a.cves {
            let mut line = format!("  {}", one_line(&c.id));
            if let Some(v) = c.cvss {
                let _ = write!(line, "  CVSS {v:.1}");
            }
            if let Some(p) = &c.package {
                let _ = write!(line, "  {}", one_line(p));
                if let Some(v) = &c.package_version {
                    let _ = write!(line, " {}", one_line(v));
                }
            }
            if let Some(f) = &c.fixed_version {
                let _ = write!(line, " → fixed in {}", one_line(f));
            }
            let _ = writeln!(o, "{line}");
        }
    }
    if !a.compliance.is_empty() {
        let _ = writeln!(o, "\nCompliance");
        for c in &a.compliance {
            let req = c
                .requirement
                .as_deref()
                .map(|r| format!(" {}", one_line(r)))
                .unwrap_or_default();
            let _ = writeln!(o, "  {}{req}", one_line(&c.standard));
        }
    }
    if let Some(d) = &a.description {
        let _ = writeln!(o, "\nDescription\n{}", block(d));
    }
    if let Some(rem) = &a.remediation {
        let _ = writeln!(o, "\nRemediation (from the vendor)\n{}", block(rem));
    }
    if !s.history.is_empty() {
        let _ = writeln!(o, "\nHistory");
        for h in &s.history {
            let change = match (&h.from_status, &h.to_status) {
                (Some(f), Some(t)) => format!("{} → {}", one_line(f), one_line(t)),
                (None, Some(t)) => one_line(t),
                _ => one_line(&h.kind),
            };
            let mut line = format!("  {}  {:<10} {}", iso(h.at), one_line(&h.actor), change);
            if let Some(r) = &h.reason {
                let _ = write!(line, "  reason: {}", one_line(r));
            }
            if let Some(n) = &h.note {
                let _ = write!(line, "  note: {}", one_line(n));
            }
            let _ = writeln!(o, "{line}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_times() {
        let now = 1_700_000_000_000;
        assert_eq!(age(now, now - 5 * 60_000), "5m");
        assert_eq!(age(now, now - 3 * 3_600_000), "3h");
        assert_eq!(age(now, now - 12 * 86_400_000), "12d");
        assert_eq!(age(now, now + 60_000), "0m");
        assert_eq!(iso(now), "2023-11-14T22:13:20Z");
        assert_eq!(human_time(now, None), "—");
        assert_eq!(
            human_time(now, Some(now - 7_200_000)),
            "2023-11-14 20:13:20 UTC (2h ago)"
        );
    }
}
