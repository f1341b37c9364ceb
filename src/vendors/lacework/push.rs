//! Lacework's own alert-channel webhook body: `event_title`, `event_link`,
//! `lacework_account`, `event_source`, `event_description`, `event_timestamp`, `event_type`,
//! `event_id`, `event_severity`, `rec_id` (docs/vendors.md "Pushes"). `event_id` is the
//! alert's id (the Alerts API's `alertId`); the body names no resource and no status, so
//! those stay empty for the receiver to complete from the stored alert.

use serde_json::Value;

use crate::domain::Alert;
use crate::sources::MapError;
use crate::vendors::webhook::{native_with, pick};

fn is_native(v: &Value) -> bool {
    v.get("event_id")
        .is_some_and(|i| i.is_string() || i.is_number())
        && ["event_title", "event_type", "event_severity"]
            .iter()
            .any(|k| v.get(*k).is_some())
}

/// The body's alert(s), or None when it is not the channel's shape.
pub fn native(body: &Value) -> Option<Result<Vec<Alert>, MapError>> {
    native_with(body, is_native, to_api, super::map::map)
}

fn to_api(n: &Value) -> Value {
    let mut item = pick(
        n,
        &[
            ("alertId", "event_id"),
            ("alertName", "event_title"),
            ("alertType", "event_type"),
            ("severity", "event_severity"),
            ("startTime", "event_timestamp"),
        ],
    );
    let info = pick(
        n,
        &[
            ("subject", "event_title"),
            ("description", "event_description"),
        ],
    );
    if let Some(m) = item.as_object_mut() {
        // Numeric severity (1 critical .. 5 info), also when sent as text.
        let digits = m
            .get("severity")
            .and_then(Value::as_str)
            .and_then(|s| s.trim().parse::<i64>().ok());
        if let Some(n) = digits {
            m.insert("severity".into(), Value::from(n));
        }
        if let Some(id) = m.get("alertId").and_then(Value::as_i64) {
            m.insert("alertId".into(), Value::from(id.to_string()));
        }
        m.insert("alertInfo".into(), info);
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;
    use serde_json::json;

    #[test]
    fn the_channel_body_maps_with_numeric_severity() {
        for (sev, want) in [
            (json!(1), Severity::Critical),
            (json!("2"), Severity::High),
            (json!(5), Severity::Info),
            (json!("Medium"), Severity::Medium),
        ] {
            let body = json!({
                "event_title": "Unauthorized API call", "event_id": 4242,
                "event_severity": sev, "event_type": "CloudTrailEvent",
                "event_description": "d", "event_timestamp": "2024-02-01T10:00:00Z",
                "lacework_account": "acme", "event_link": "https://acme.lacework.net/x",
                "rec_id": "LW_AWS_1"
            });
            let a = native(&body).expect("native").expect("maps");
            assert_eq!(a[0].native_id, "4242");
            assert_eq!(a[0].title, "Unauthorized API call");
            assert_eq!(a[0].severity, want);
            assert_eq!(a[0].first_seen, Some(1_706_781_600_000));
        }
    }

    #[test]
    fn api_alerts_are_not_native() {
        assert!(native(&json!({"alertId": 1, "alertName": "x"})).is_none());
        assert!(native(&json!({"event_id": 1})).is_none());
    }
}
