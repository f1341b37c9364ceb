//! A vendor's own push body is a summary of the alert (vendors::webhook::NativeFn): what it
//! lacks must not erase what a sync stored. Before such an alert is imported it is completed
//! from the stored copy: empty fields take the stored values, and the resource (which does
//! not change for an alert) and the first-seen time keep the stored ones, so a push whose
//! resource id is weaker (a name, a vendor's internal id) does not replace the synced
//! identity. What the push does say (status, severity, title) is the vendor's newer word.

use crate::domain::{Alert, Category, Severity, VendorState};

/// `pushed` completed from `stored` (the same alert id, as last imported).
pub fn complete(pushed: &mut Alert, stored: &Alert) {
    let unknown = |s: &str| s == "unknown";
    let keep = |a: &mut Option<String>, b: &Option<String>| {
        if b.is_some() {
            a.clone_from(b);
        }
    };
    let r = &stored.resource;
    keep(&mut pushed.resource.id, &r.id);
    keep(&mut pushed.resource.name, &r.name);
    keep(&mut pushed.resource.rtype, &r.rtype);
    keep(&mut pushed.resource.account, &r.account);
    keep(&mut pushed.resource.region, &r.region);
    if r.cloud.is_some() {
        pushed.resource.cloud.clone_from(&r.cloud);
    }
    if !r.tags.is_empty() {
        pushed.resource.tags.clone_from(&r.tags);
    }
    if stored.first_seen.is_some() {
        pushed.first_seen = stored.first_seen;
    }

    let fill = |a: &mut Option<String>, b: &Option<String>| {
        if a.is_none() {
            a.clone_from(b);
        }
    };
    fill(&mut pushed.description, &stored.description);
    fill(&mut pushed.remediation, &stored.remediation);
    fill(&mut pushed.policy.id, &stored.policy.id);
    fill(&mut pushed.policy.name, &stored.policy.name);
    fill(
        &mut pushed.policy.vendor_severity,
        &stored.policy.vendor_severity,
    );
    if pushed.title.is_empty() {
        pushed.title.clone_from(&stored.title);
    }
    if matches!(&pushed.category, Category::Other(c) if unknown(c)) {
        pushed.category = stored.category.clone();
    }
    if matches!(&pushed.severity, Severity::Other(s) if unknown(s)) {
        pushed.severity = stored.severity.clone();
    }
    if matches!(&pushed.vendor_status, VendorState::Other(s) if unknown(s)) {
        pushed.vendor_status = stored.vendor_status.clone();
    }
    if pushed.cves.is_empty() {
        pushed.cves.clone_from(&stored.cves);
    }
    if pushed.compliance.is_empty() {
        pushed.compliance.clone_from(&stored.compliance);
    }
    if pushed.exposure.internet_facing.is_none() {
        pushed.exposure.internet_facing = stored.exposure.internet_facing;
    }
    if pushed.exposure.open_ports.is_empty() {
        pushed
            .exposure
            .open_ports
            .clone_from(&stored.exposure.open_ports);
    }
    if pushed.attack_context.is_none() {
        pushed.attack_context.clone_from(&stored.attack_context);
    }
    if pushed.vendor_path.is_none() {
        pushed.vendor_path.clone_from(&stored.vendor_path);
    }
    pushed.last_seen = pushed.last_seen.or(stored.last_seen);
    pushed.vendor_updated = pushed.vendor_updated.or(stored.vendor_updated);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cloud, Vendor};
    use serde_json::json;

    #[test]
    fn the_push_says_status_the_store_keeps_the_rest() {
        let mut stored = Alert::new(Vendor::Wiz, "i", json!({"full": true}));
        stored.title = "Rule".into();
        stored.description = Some("long".into());
        stored.resource.id = Some("arn:aws:ec2:::i-1".into());
        stored.resource.cloud = Some(Cloud::Aws);
        stored.severity = Severity::High;
        stored.first_seen = Some(5);
        stored.vendor_updated = Some(9);
        let mut pushed = Alert::new(Vendor::Wiz, "i", json!({"push": true}));
        pushed.resource.id = Some("wiz-internal".into());
        pushed.resource.name = Some("vm".into());
        pushed.vendor_status = VendorState::Resolved;
        pushed.first_seen = Some(7);
        complete(&mut pushed, &stored);
        assert_eq!(pushed.title, "Rule");
        assert_eq!(pushed.description.as_deref(), Some("long"));
        assert_eq!(pushed.resource.id.as_deref(), Some("arn:aws:ec2:::i-1"));
        assert_eq!(
            pushed.resource.name.as_deref(),
            Some("vm"),
            "what the store lacks stays"
        );
        assert_eq!(pushed.resource.cloud, Some(Cloud::Aws));
        assert_eq!(pushed.severity, Severity::High);
        assert_eq!(pushed.vendor_status, VendorState::Resolved);
        assert_eq!(pushed.first_seen, Some(5));
        assert_eq!(pushed.vendor_updated, Some(9));
    }
}
