//! Prisma Cloud's own webhook body: the integration posts a JSON array of alert
//! notifications (`alertId`, `policyName`, `policyId`, `severity`, `resource*`, `accountId`,
//! `cloudType`, `alertTs`, `callbackUrl`, `alertStatus`, ...; docs/vendors.md "Pushes" says
//! which fields a public source confirms). Each is rewritten in the alert API's field names
//! and mapped by [`super::map`], so the alert has the id (`alertId`, e.g. `P-123`) and the
//! resource identity a sync gives.

use serde_json::{Value, json};

use crate::domain::Alert;
use crate::sources::MapError;
use crate::vendors::webhook::{native_with, pick};

/// A notification, not an API alert: it names the alert `alertId` (the API says `id`) and
/// its policy flat (`policyName`, the API nests `policy`).
fn is_native(v: &Value) -> bool {
    v.get("alertId")
        .is_some_and(|i| i.is_string() || i.is_number())
        && (v.get("policyName").is_some() || v.get("policyId").is_some())
        && !v.get("policy").is_some_and(Value::is_object)
}

/// The body's alerts, or None when it is not Prisma Cloud's notification shape.
pub fn native(body: &Value) -> Option<Result<Vec<Alert>, MapError>> {
    native_with(body, is_native, to_api, super::map::map)
}

fn to_api(n: &Value) -> Value {
    let mut item = pick(
        n,
        &[
            ("id", "alertId"),
            ("status", "alertStatus"),
            ("policyId", "policyId"),
            ("alertTime", "alertTs"),
        ],
    );
    let policy = pick(
        n,
        &[
            ("policyId", "policyId"),
            ("name", "policyName"),
            ("severity", "severity"),
            ("policyType", "policyType"),
            ("description", "policyDescription"),
            ("recommendation", "policyRecommendation"),
        ],
    );
    let resource = pick(
        n,
        &[
            ("id", "resourceId"),
            ("name", "resourceName"),
            ("cloudType", "cloudType"),
            ("accountId", "accountId"),
            ("account", "accountName"),
            ("regionId", "resourceRegionId"),
            ("region", "resourceRegion"),
            ("resourceType", "resourceType"),
            ("resourceApiName", "resourceApiName"),
        ],
    );
    if let Some(m) = item.as_object_mut() {
        m.insert("policy".into(), policy);
        m.insert("resource".into(), resource);
        // The API's `policy.severity` is a word; a number is kept as its text.
        if let Some(id) = m.get("id").and_then(Value::as_i64) {
            m.insert("id".into(), json!(id.to_string()));
        }
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cloud, Severity, VendorState};

    #[test]
    fn a_notification_array_maps_like_the_api() {
        let body = json!([{
            "alertId": "P-1", "policyName": "S3 open", "policyId": "pol-1", "severity": "high",
            "resourceId": "arn:aws:s3:::b", "resourceName": "b", "cloudType": "aws",
            "accountId": "1111", "resourceRegionId": "us-east-1", "alertStatus": "resolved",
            "alertTs": 1700000000000i64, "callbackUrl": "https://app/alerts/P-1"
        }]);
        let a = native(&body).expect("native").expect("maps");
        assert_eq!(a.len(), 1);
        let a = &a[0];
        assert_eq!(a.native_id, "P-1");
        assert_eq!(a.title, "S3 open");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.vendor_status, VendorState::Resolved);
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
        assert_eq!(a.resource.region.as_deref(), Some("us-east-1"));
        assert_eq!(a.first_seen, Some(1_700_000_000_000));
        assert!(
            a.raw.get("callbackUrl").is_some(),
            "the notification is the raw payload"
        );
    }

    #[test]
    fn alert_times_in_seconds_milliseconds_or_rfc3339_and_numeric_ids() {
        for ts in [
            json!(1760000000),
            json!(1760000000000i64),
            json!("2025-10-09T08:53:20Z"),
        ] {
            let body = json!({"alertId": 7, "policyId": "p", "alertTs": ts});
            let a = native(&body).expect("native").expect("maps");
            assert_eq!(a[0].native_id, "7");
            assert_eq!(a[0].first_seen, Some(1_760_000_000_000), "{ts}");
        }
    }

    #[test]
    fn api_alerts_and_empty_arrays_are_not_native() {
        assert!(
            native(&json!([{"id": "P-1", "policy": {"name": "x"}, "policyId": "p"}])).is_none()
        );
        assert!(native(&json!([])).is_none());
        assert!(native(&json!({"message": "test"})).is_none());
    }
}
