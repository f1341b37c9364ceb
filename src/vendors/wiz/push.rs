//! Wiz's own webhook body: an automation rule's "Webhook" action with the default template
//! posts `{trigger, issue {id, status, severity, created, ...}, resource {id, name, type,
//! cloudPlatform, subscriptionId, region, ...}, control {id, name, description, ...}}`
//! (docs/vendors.md "Pushes"). It is rewritten as a GraphQL issue node (`sourceRule`,
//! `entitySnapshot`) and mapped by [`super::map`], so the alert has the issue's id and the
//! rule's name as a sync gives them.

use serde_json::Value;

use crate::domain::Alert;
use crate::sources::{MapError, json as j};
use crate::vendors::webhook::{map_native, native_items, pick};

/// The template's `issue` is a summary beside `control` / `resource` / `trigger`; an
/// API-shaped template puts the rule and entity inside the issue instead.
fn is_native(v: &Value) -> bool {
    let Some(issue) = v.get("issue").filter(|i| i.is_object()) else {
        return false;
    };
    issue.get("id").is_some()
        && ["control", "resource", "trigger"]
            .iter()
            .any(|k| v.get(*k).is_some_and(Value::is_object))
        && !["sourceRule", "sourceRules", "entitySnapshot"]
            .iter()
            .any(|k| issue.get(*k).is_some())
}

/// The body's issue, or None when it is not the automation template's shape.
pub fn native(body: &Value) -> Option<Result<Vec<Alert>, MapError>> {
    let items = native_items(body, is_native)?;
    Some(
        map_native(&items, to_api, super::map::map).map(|mut alerts| {
            // Only an explicit change time may order this push against what a sync stored;
            // `created` would make every later status change look stale.
            for (a, item) in alerts.iter_mut().zip(&items) {
                a.vendor_updated = j::first_time(
                    item,
                    &["issue.updated", "issue.updatedAt", "issue.statusChangedAt"],
                );
                a.last_seen = a.vendor_updated;
            }
            alerts
        }),
    )
}

fn to_api(n: &Value) -> Value {
    let mut node = pick(
        n,
        &[
            ("id", "issue.id"),
            ("status", "issue.status"),
            ("severity", "issue.severity"),
            ("type", "issue.type"),
            ("createdAt", "issue.created"),
            ("updatedAt", "issue.updated"),
            ("statusChangedAt", "issue.statusChangedAt"),
        ],
    );
    let rule = pick(
        n,
        &[
            ("id", "control.id"),
            ("name", "control.name"),
            ("description", "control.description"),
            (
                "resolutionRecommendation",
                "control.resolutionRecommendation",
            ),
        ],
    );
    let entity = pick(
        n,
        &[
            ("providerId", "resource.providerId"),
            ("externalId", "resource.externalId"),
            ("id", "resource.id"),
            ("name", "resource.name"),
            ("type", "resource.type"),
            ("nativeType", "resource.nativeType"),
            ("cloudPlatform", "resource.cloudPlatform"),
            ("subscriptionExternalId", "resource.subscriptionId"),
            ("region", "resource.region"),
            ("tags", "resource.tags"),
        ],
    );
    if let Some(m) = node.as_object_mut() {
        if rule.as_object().is_some_and(|r| !r.is_empty()) {
            m.insert("sourceRule".into(), rule);
        }
        m.insert("entitySnapshot".into(), entity);
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cloud, Severity, VendorState};
    use serde_json::json;

    #[test]
    fn the_default_template_maps_like_the_api() {
        let body = json!({
            "trigger": {"source": "ISSUE", "type": "Resolved", "ruleId": "r", "ruleName": "n"},
            "issue": {"id": "iss-1", "status": "RESOLVED", "severity": "HIGH",
                      "created": "2025-07-25 13:09:25.306109000"},
            "resource": {"id": "", "name": "vm-1", "type": "virtualMachine",
                         "cloudPlatform": "AWS", "subscriptionId": "1111", "region": "us-east-2"},
            "control": {"id": "ctl-1", "name": "Port probed", "description": "d"}
        });
        let a = native(&body).expect("native").expect("maps");
        let a = &a[0];
        assert_eq!(a.native_id, "iss-1");
        assert_eq!(a.title, "Port probed");
        assert_eq!(a.policy.id.as_deref(), Some("ctl-1"));
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.vendor_status, VendorState::Resolved);
        assert_eq!(a.resource.id, None, "an empty id is no id");
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
        assert_eq!(a.resource.account.as_deref(), Some("1111"));
        assert!(a.first_seen.is_some());
        assert_eq!(a.vendor_updated, None);
    }

    #[test]
    fn api_shaped_issues_are_not_native() {
        assert!(native(&json!({"issue": {"id": "x", "sourceRule": {}}, "control": {}})).is_none());
        assert!(native(&json!({"issue": {"id": "x"}})).is_none());
    }
}
