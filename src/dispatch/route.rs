//! Owner routing (docs/owners.md): an alert whose owner has a `[[route]]` has its ticket
//! opened in that team's Jira project / component or ServiceNow assignment group, and its
//! Slack notifications posted to that team's channel.
//!
//! The route is chosen when the decision is recorded and stored in each outbox row it
//! changes (`"route"` in the payload) and in the decision's audit detail, so what a delivery
//! did is on record even if the config changes before it is sent.

use crate::config::owners::{Route, route_for};
use crate::config::{Config, TicketsConfig};
use crate::store::{OutboxItem, OutboxKind, StoredAlert};

/// The route for the alert's owner, if the alert has an owner and the owner a route.
pub fn for_alert(config: &Config, alert: &StoredAlert) -> Option<Route> {
    route_for(&config.routes, alert.owner.as_deref()?).cloned()
}

/// Does `route` change a delivery to `destination` of `kind`?
fn applies(route: &Route, kind: OutboxKind, destination: &str) -> bool {
    match (kind, destination) {
        (OutboxKind::Notify, "slack") => route.slack_channel.is_some(),
        (OutboxKind::Ticket, "jira") => {
            route.jira_project.is_some() || route.jira_component.is_some()
        }
        (OutboxKind::Ticket, "servicenow") => route.servicenow_group.is_some(),
        _ => false,
    }
}

/// Put `route` on the rows it changes. Returns whether any row took it.
pub fn apply(items: &mut [OutboxItem], route: &Route) -> bool {
    let mut any = false;
    for item in items.iter_mut() {
        if !applies(route, item.kind, &item.destination) {
            continue;
        }
        if let serde_json::Value::Object(m) = &mut item.payload {
            m.insert(
                "route".into(),
                serde_json::to_value(route).unwrap_or_default(),
            );
            any = true;
        }
    }
    any
}

/// The ticket systems' settings with the route's project, component and group in place.
pub fn routed_tickets(cfg: &TicketsConfig, route: &Route) -> TicketsConfig {
    let mut out = cfg.clone();
    if let (Some(j), Some(p)) = (out.jira.as_mut(), &route.jira_project) {
        j.project = p.clone();
    }
    if let (Some(s), Some(g)) = (out.servicenow.as_mut(), &route.servicenow_group) {
        s.assignment_group = Some(g.clone());
    }
    out
}

/// One line for the analyst: where the route sends this alert's deliveries.
pub fn describe(route: &Route) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &route.slack_channel {
        parts.push(format!("Slack {c}"));
    }
    match (&route.jira_project, &route.jira_component) {
        (Some(p), Some(c)) => parts.push(format!("Jira {p} / {c}")),
        (Some(p), None) => parts.push(format!("Jira {p}")),
        (None, Some(c)) => parts.push(format!("Jira component {c}")),
        (None, None) => {}
    }
    if let Some(g) = &route.servicenow_group {
        parts.push(format!("ServiceNow group {g}"));
    }
    crate::sanitize::one_line(&format!(
        "routed for owner {}: {}",
        route.owner,
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: OutboxKind, dest: &str) -> OutboxItem {
        OutboxItem {
            dedup_key: format!("{dest}:1"),
            alert_id: Some("wiz:1".into()),
            kind,
            destination: dest.into(),
            payload: serde_json::json!({"x": 1}),
        }
    }

    #[test]
    fn only_the_rows_a_route_changes_take_it() {
        let route = Route {
            owner: "payments".into(),
            slack_channel: Some("#pay".into()),
            jira_project: None,
            jira_component: None,
            servicenow_group: Some("Payments Ops".into()),
        };
        let mut items = vec![
            item(OutboxKind::Notify, "slack"),
            item(OutboxKind::Notify, "teams"),
            item(OutboxKind::Ticket, "jira"),
            item(OutboxKind::Ticket, "servicenow"),
        ];
        assert!(apply(&mut items, &route));
        let routed: Vec<bool> = items
            .iter()
            .map(|i| i.payload.get("route").is_some())
            .collect();
        assert_eq!(routed, vec![true, false, false, true]);
        assert_eq!(items[0].payload["route"]["slack_channel"], "#pay");
        assert!(!apply(&mut [item(OutboxKind::Vendor, "wiz")], &route));
        assert_eq!(
            describe(&route),
            "routed for owner payments: Slack #pay, ServiceNow group Payments Ops"
        );
    }
}
