//! Lacework / FortiCNAPP emitter: findings as items of `GET /api/v2/Alerts`.
//!
//! Field names, types and quirks follow the gosdk fixtures: integer `alertId`, capitalised
//! severities, `Open` / `Closed` statuses, RFC 3339 millisecond `startTime` / `endTime`,
//! `lastUserUpdatedTime` as the string `"0"` until a user touched the alert, `derivedFields`
//! {category, sub_category, source}, `reachability` and `alertSource` as the SDK fixtures show.
//!
//! The list items of the real API carry no resource. So that the alert can be tied to the
//! shared resource pool, every item also carries the `entityMap` of the Details scope
//! (`{Type: [{KEY: {...}, PROPS: {...}}]}`, as in the gosdk details fixture); the entity
//! types and key names inside it (Resource, Region, Machine, CT_User, Vulnerability, RecId,
//! Application) are modelled on Lacework's event entity model and are UNCONFIRMED.

use chrono::DateTime;
use serde_json::{Map, Value, json};

use crate::domain::{Cloud, EpochMs};
use crate::sim::world::{
    ResourceKind, Rule, RuleCategory, SevWord, SimFinding, SimResource, SimStatus, World,
};

/// Lacework alert ids are plain integers; the simulated tenant's start here.
const ALERT_ID_BASE: u64 = 970_000;

pub fn items(world: &World, findings: &[&SimFinding]) -> Vec<Value> {
    findings.iter().map(|f| item(world, f)).collect()
}

/// `{paging: {rows, totalRows, urls: {nextPage: null}}, data}`: a complete last page.
pub fn list_body(items: Vec<Value>) -> Value {
    page_body(items, None, None)
}

/// One page of the list; `next_page` is the absolute URL of the next page, if any, and
/// `total_rows` the size of the whole result (defaults to this page's).
pub fn page_body(items: Vec<Value>, next_page: Option<String>, total_rows: Option<usize>) -> Value {
    let rows = items.len();
    json!({
        "paging": {
            "rows": rows,
            "totalRows": total_rows.unwrap_or(rows),
            "urls": { "nextPage": next_page },
        },
        "data": items,
    })
}

/// The id the Lacework mapper gives the alert of `f`: the integer `alertId` as text.
pub fn native_id(_world: &World, f: &SimFinding) -> String {
    alert_id(f).to_string()
}

fn alert_id(f: &SimFinding) -> u64 {
    ALERT_ID_BASE + f.seq
}

/// How a rule shows up in Lacework: (alertType, derivedFields.category, sub_category, policyId).
fn classify(rule: &Rule, res: &SimResource) -> (&'static str, &'static str, &'static str, String) {
    let policy_id = if rule.id.starts_with("lacework-") || rule.id.starts_with("LW_") {
        rule.id.to_string()
    } else {
        format!("lacework-global-{}", 100 + fnv(rule.id) % 400)
    };
    match rule.category {
        RuleCategory::Vulnerability => {
            let alert_type = if matches!(res.kind, ResourceKind::Workload | ResourceKind::Function)
            {
                "ContainerVulnerability"
            } else {
                "HostVulnerability"
            };
            (alert_type, "Policy", "Vulnerability", "LW_VULN_103".into())
        }
        RuleCategory::Runtime => ("NewChildLaunched", "Anomaly", "Application", policy_id),
        RuleCategory::Identity => (
            "CloudActivityRootUserLogin",
            "Policy",
            "Cloud Activity",
            policy_id,
        ),
        RuleCategory::Misconfiguration | RuleCategory::Network | RuleCategory::Data => {
            ("NewViolations", "Policy", "Compliance", policy_id)
        }
    }
}

fn item(world: &World, f: &SimFinding) -> Value {
    let res = world.resource_of(f);
    let (alert_type, category, sub_category, policy_id) = classify(f.rule, res);
    let source = match (f.rule.category, &res.cloud) {
        (RuleCategory::Vulnerability | RuleCategory::Runtime, _) => "Agent",
        (_, Cloud::Aws) => "AWS",
        (_, Cloud::Azure) => "Azure",
        (_, Cloud::Gcp) => "GCP",
        (_, Cloud::Kubernetes) => "K8s",
        _ => "",
    };
    let touched = f.status != SimStatus::Open;
    let (name, subject, description) = match (f.rule.category, f.cve) {
        (RuleCategory::Vulnerability, Some(cve)) => (
            "Known Security Vulnerability".to_string(),
            format!(
                "Known Security Vulnerability: {} in {} {}",
                cve.id, cve.package, cve.version
            ),
            format!(
                "{} ({}) was detected on {}: {} {} is installed, fixed in {}.",
                cve.id, cve.description, res.hostname, cve.package, cve.version, cve.fixed
            ),
        ),
        _ => (
            f.rule.name.to_string(),
            f.rule.name.to_string(),
            format!(
                "{} Resource: {} in account {} ({}).",
                f.rule.description, res.name, res.account, res.region
            ),
        ),
    };
    json!({
        "alertId": alert_id(f),
        "startTime": lw_time(f.created_ms),
        "alertType": alert_type,
        "severity": severity(f.severity),
        "reachability": "UnknownReachability",
        "derivedFields": { "category": category, "sub_category": sub_category, "source": source },
        "endTime": lw_time(f.updated_ms),
        "lastUserUpdatedTime": if touched { lw_time(f.updated_ms) } else { "0".to_string() },
        "status": if matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed) { "Closed" } else { "Open" },
        "alertName": name,
        "alertInfo": { "subject": subject, "description": description },
        "policyId": policy_id,
        "alertSource": "UnknownAlertSource",
        "entityMap": entity_map(f, res, &policy_id),
    })
}

fn entity_map(f: &SimFinding, res: &SimResource, policy_id: &str) -> Value {
    let mut m = Map::new();
    m.insert(
        "Resource".into(),
        json!([{
            "KEY": { "resource_id": res.id },
            "PROPS": {
                "resource_name": res.name,
                "resource_type": resource_type(res),
                "cloud": cloud_word(&res.cloud),
                "account_id": res.account,
                "account_alias": res.account_name,
                "region": res.region,
                "tags": res.tags,
            },
        }]),
    );
    m.insert(
        "Region".into(),
        json!([{ "KEY": { "region": res.region }, "PROPS": { "accounts": [res.account] } }]),
    );
    if matches!(res.kind, ResourceKind::Instance | ResourceKind::Workload) {
        m.insert(
            "Machine".into(),
            json!([{
                "KEY": { "hostname": res.hostname },
                "PROPS": { "instance_id": res.native_id, "external_ip": if res.internet_facing { "203.0.113.10" } else { "" } },
            }]),
        );
    }
    match f.rule.category {
        RuleCategory::Vulnerability => {
            if let Some(cve) = f.cve {
                m.insert(
                    "Vulnerability".into(),
                    json!([{
                        "KEY": { "cve_id": cve.id },
                        "PROPS": {
                            "package_name": cve.package,
                            "package_version": cve.version,
                            "fix_version": cve.fixed,
                            "cvss_score": cve.cvss,
                            "cvss_vector": cve.vector,
                            "severity": severity(f.severity),
                        },
                    }]),
                );
            }
        }
        RuleCategory::Identity => {
            m.insert(
                "CT_User".into(),
                json!([{
                    "KEY": { "username": "root", "account_id": res.account },
                    "PROPS": { "mfa": 0, "api_list": ["ConsoleLogin"], "region_list": [res.region] },
                }]),
            );
        }
        RuleCategory::Runtime => {
            m.insert(
                "Application".into(),
                json!([{ "KEY": { "application": "nc" }, "PROPS": { "exe_path": "/usr/bin/nc", "cmdline": "nc -lvp 4444" } }]),
            );
        }
        _ => {
            m.insert(
                "RecId".into(),
                json!([{
                    "KEY": { "rec_id": policy_id },
                    "PROPS": { "title": f.rule.name, "status": "NonCompliant", "account_id": res.account },
                }]),
            );
        }
    }
    Value::Object(m)
}

fn severity(s: SevWord) -> &'static str {
    match s {
        SevWord::Critical => "Critical",
        SevWord::High => "High",
        SevWord::Medium => "Medium",
        SevWord::Low => "Low",
        SevWord::Info => "Info",
    }
}

fn cloud_word(c: &Cloud) -> String {
    match c {
        Cloud::Aws => "AWS".into(),
        Cloud::Azure => "Azure".into(),
        Cloud::Gcp => "GCP".into(),
        Cloud::Kubernetes => "K8s".into(),
        other => other.to_store(),
    }
}

fn resource_type(res: &SimResource) -> &'static str {
    match (&res.cloud, res.kind) {
        (Cloud::Kubernetes, _) => "k8s:Deployment",
        (Cloud::Aws, ResourceKind::Instance | ResourceKind::Workload) => "ec2:instance",
        (Cloud::Aws, ResourceKind::Bucket) => "s3:bucket",
        (Cloud::Aws, ResourceKind::SecurityGroup) => "ec2:security-group",
        (Cloud::Aws, ResourceKind::Role) => "iam:role",
        (Cloud::Aws, ResourceKind::Database) => "rds:db",
        (Cloud::Aws, ResourceKind::LoadBalancer) => "elasticloadbalancing:loadbalancer",
        (Cloud::Aws, ResourceKind::Function) => "lambda:function",
        (_, ResourceKind::Bucket) => "storage",
        (_, ResourceKind::SecurityGroup) => "firewall",
        (_, ResourceKind::Role) => "identity",
        (_, ResourceKind::Database) => "database",
        (_, ResourceKind::LoadBalancer) => "load-balancer",
        (_, ResourceKind::Function) => "function",
        _ => "vm",
    }
}

/// RFC 3339 with milliseconds, as the gosdk fixtures show (`2022-09-29T16:00:00.000Z`).
fn lw_time(ms: EpochMs) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Vendor;

    #[test]
    fn emitted_items_follow_the_sdk_fixture_types() {
        let w = World::generate(5, 40, 1_700_000_000_000);
        let fs: Vec<&SimFinding> = w.findings_for(Vendor::Lacework).collect();
        let body = list_body(items(&w, &fs));
        assert_eq!(body["paging"]["rows"], json!(40));
        assert_eq!(body["paging"]["urls"]["nextPage"], Value::Null);
        for it in body["data"].as_array().cloned().unwrap_or_default() {
            assert!(it["alertId"].is_u64());
            assert!(
                ["Critical", "High", "Medium", "Low", "Info"]
                    .contains(&it["severity"].as_str().unwrap_or(""))
            );
            assert!(["Open", "Closed"].contains(&it["status"].as_str().unwrap_or("")));
            assert!(
                it["startTime"]
                    .as_str()
                    .is_some_and(|t| t.len() == 24 && t.ends_with('Z'))
            );
            assert!(it["lastUserUpdatedTime"].is_string());
        }
    }

    #[test]
    fn times_have_milliseconds() {
        assert_eq!(lw_time(1_664_467_200_000), "2022-09-29T16:00:00.000Z");
    }
}
