//! What a ticket and a notification say about an alert: summary, narrative, score breakdown,
//! resource, evidence and the remediation diff. Built when the decision is recorded (the
//! outbox row carries it), rendered and sanitized by each destination.

use crate::domain::EpochMs;
use crate::store::{Store, StoredAlert};

use super::notice::Notice;
use super::ticket::{Section, SectionBody, TicketContent};

/// The fingerprint of the alert's resource group: the same resource seen by several vendors
/// shares one ticket. `[a-z0-9-]` (a Jira label, a ServiceNow correlation_id).
pub fn fingerprint(group_key: Option<&str>, alert_id: &str) -> String {
    let basis = group_key.unwrap_or(alert_id);
    let hex = crate::remediate::sha256_hex(basis.as_bytes());
    format!("sitrep-fp-{}", &hex[..12])
}

pub(super) fn resource(a: &StoredAlert) -> String {
    a.alert
        .resource
        .name
        .clone()
        .or_else(|| a.alert.resource.id.clone())
        .unwrap_or_else(|| "-".into())
}

/// The ticket for an alert (the first alert of its resource group to be ticketed).
pub fn ticket_content(
    store: &Store,
    narrator: Option<&crate::narrate::Narrator>,
    config: &crate::config::Config,
    a: &StoredAlert,
    fingerprint: &str,
) -> TicketContent {
    let mut sections = Vec::new();
    // Secrets a vendor payload may carry (keys in environment variables, tokens in command
    // lines) are replaced by placeholders before anything leaves in a ticket.
    let mut redactor = crate::narrate::redact::Redactor::new();
    let narrative = narrator
        .and_then(|n| n.cached(store, a))
        .unwrap_or_else(|| crate::narrate::offline::offline_narrative(a));
    sections.push(Section {
        heading: if narrative.is_offline() {
            "Summary (offline narrator)".into()
        } else {
            "Summary (AI narrative, verify before acting)".into()
        },
        body: SectionBody::Text(redactor.redact(&narrative.to_text())),
    });
    let mut facts = vec![
        ("Alert".to_string(), a.id.clone()),
        (
            "Source".to_string(),
            format!("{} ({})", a.alert.vendor.display_name(), a.alert.source),
        ),
        (
            "Severity".to_string(),
            a.alert.severity.as_str().to_string(),
        ),
        ("Resource".to_string(), resource(a)),
    ];
    for (k, v) in [
        ("Resource id", a.alert.resource.id.as_ref()),
        ("Type", a.alert.resource.rtype.as_ref()),
        ("Account", a.alert.resource.account.as_ref()),
        ("Region", a.alert.resource.region.as_ref()),
        ("Policy", a.alert.policy.name.as_ref()),
    ] {
        if let Some(v) = v {
            facts.push((k.to_string(), v.clone()));
        }
    }
    if !a.alert.cves.is_empty() {
        facts.push((
            "CVEs".to_string(),
            a.alert
                .cves
                .iter()
                .map(|c| c.id.clone())
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    sections.push(Section {
        heading: "Resource".into(),
        body: SectionBody::Facts(facts),
    });
    if let Ok(Some(score)) = store.score_breakdown(&a.id, store.scoring()) {
        sections.push(Section {
            heading: format!("Why it ranks here: score {}/100", score.total),
            body: SectionBody::Bullets(
                score
                    .factors
                    .iter()
                    .map(|f| format!("{:+} {}", f.points, f.label))
                    .collect(),
            ),
        });
    }
    if let Some(d) = a
        .alert
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        sections.push(Section {
            heading: "Vendor description".into(),
            body: SectionBody::Text(redactor.redact(d)),
        });
    }
    let rem = crate::remediate::propose(&a.alert, &config.iac);
    if let Some(p) = rem
        .proposals
        .iter()
        .find(|p| p.is_diff())
        .or_else(|| rem.proposals.first())
    {
        sections.push(Section {
            heading: format!("Proposed fix: {} (sha256 {})", p.title, &p.sha256[..12]),
            body: SectionBody::Code {
                language: if p.is_diff() {
                    "diff".into()
                } else {
                    format!("{:?}", p.lang).to_lowercase()
                },
                text: p.text.clone(),
            },
        });
    } else if let Some(r) = a.alert.remediation.as_deref() {
        sections.push(Section {
            heading: "Vendor remediation".into(),
            body: SectionBody::Text(r.to_string()),
        });
    }
    let redacted = redactor.redact_json(&a.alert.raw);
    let mut evidence = serde_json::to_string_pretty(&redacted).unwrap_or_default();
    if evidence.len() > 6000 {
        let mut cut = 6000;
        while !evidence.is_char_boundary(cut) {
            cut -= 1;
        }
        evidence.truncate(cut);
        evidence.push_str("\n…(truncated; the full payload is in sitrep)");
    }
    sections.push(Section {
        heading: "Evidence (vendor payload)".into(),
        body: SectionBody::Code {
            language: "json".into(),
            text: evidence,
        },
    });
    TicketContent {
        fingerprint: fingerprint.to_string(),
        summary: redactor.redact(&format!(
            "[sitrep] {} {} — {}",
            a.alert.severity.as_str().to_uppercase(),
            a.alert.title,
            resource(a)
        )),
        severity: a.alert.severity.clone(),
        sections,
    }
}

/// A notification about an alert.
pub fn notice(
    a: &StoredAlert,
    id: &str,
    event: &str,
    text: String,
    link: Option<(String, String)>,
    at: EpochMs,
) -> Notice {
    let mut facts = vec![
        (
            "Source".to_string(),
            format!("{} ({})", a.alert.vendor.display_name(), a.alert.source),
        ),
        ("Resource".to_string(), resource(a)),
        ("Status".to_string(), a.status.kind().as_str().to_string()),
    ];
    if let Some(acct) = &a.alert.resource.account {
        facts.push(("Account".to_string(), acct.clone()));
    }
    if let Some(t) = &a.ticket {
        facts.push(("Ticket".to_string(), t.clone()));
    }
    let mut redactor = crate::narrate::redact::Redactor::new();
    let text = redactor.redact(&text);
    let title = redactor.redact(&a.alert.title);
    Notice {
        id: id.to_string(),
        event: event.to_string(),
        title: title.clone(),
        severity: Some(a.alert.severity.clone()),
        facts,
        text,
        link,
        data: serde_json::json!({
            "alert_id": a.id,
            "source": a.alert.source,
            "vendor": a.alert.vendor.as_str(),
            "native_id": a.alert.native_id,
            "severity": a.alert.severity.as_str(),
            "title": title,
            "resource": resource(a),
            "status": a.status.kind().as_str(),
            "ticket": a.ticket,
            "at": at,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Alert, Vendor};

    #[test]
    fn a_ticket_carries_no_secret_from_the_vendor_payload() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let mut a = Alert::new(
            Vendor::Wiz,
            "w-1".to_string(),
            serde_json::json!({
                "id": "w-1",
                "container": { "env": { "AWS_SECRET_ACCESS_KEY": secret } }
            }),
        );
        a.source = "wiz".into();
        a.title = "Secret in container environment".into();
        a.description = Some(format!("found AWS_SECRET_ACCESS_KEY={secret} in the image"));
        let mut store = Store::open_in_memory().expect("store");
        store.import(std::slice::from_ref(&a), 1).expect("import");
        let stored = store.get("wiz:w-1").expect("get").expect("alert");
        let config = crate::config::Config::defaults();
        let c = ticket_content(&store, None, &config, &stored, "sitrep-fp-0123456789ab");
        let text = serde_json::to_string(&c).expect("json");
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("Evidence"), "{text}");
        assert_eq!(c.fingerprint, "sitrep-fp-0123456789ab");
        assert_eq!(
            fingerprint(Some("aws:arn:x"), "a"),
            fingerprint(Some("aws:arn:x"), "b")
        );
        assert_ne!(fingerprint(None, "a"), fingerprint(None, "b"));
    }
}
