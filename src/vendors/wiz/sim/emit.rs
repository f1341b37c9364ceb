//! Wiz emitter: findings as the nodes of Wiz's GraphQL API.
//!
//! Posture findings become issue nodes in the shape of the `issuesV2` query integrations run
//! (XSOAR's `PULL_ISSUES_QUERY`, aliased `issues`): misconfiguration rules as
//! `CLOUD_CONFIGURATION` issues from a `CloudConfigurationRule`, runtime rules as
//! `THREAT_DETECTION` issues from a `CloudEventRule`, and network / identity / data rules as
//! `TOXIC_COMBINATION` issues from a `Control` whose first security sub-category is a
//! "Wiz for Risk Assessment" one naming the risk. Wiz does not put CVEs on issues, so
//! vulnerability findings become nodes of the `vulnerabilityFindings` query (field names as
//! in Elastic's Wiz integration). Timestamps are RFC 3339 with microseconds, ids are UUIDs
//! drawn from `Rng::new(world.seed ^ f(seq))`.

use chrono::DateTime;
use serde_json::{Map, Value, json};

use crate::domain::{Cloud, EpochMs};
use crate::rng::Rng;
use crate::sim::world::{
    ResourceKind, Rule, RuleCategory, SevWord, SimFinding, SimResource, SimStatus, World,
};

const ISSUE_SALT: u64 = 0x5749_5a00_1551_7e00;
const ENTITY_SALT: u64 = 0x5749_5a00_e171_7100;
const DAY_MS: i64 = 86_400_000;

/// CVEs of the world's catalog that are on CISA's Known Exploited Vulnerabilities list.
const KEV: &[&str] = &[
    "CVE-2021-44228",
    "CVE-2022-22965",
    "CVE-2021-41773",
    "CVE-2023-44487",
    "CVE-2023-4863",
    "CVE-2024-3094",
];

pub fn items(world: &World, findings: &[&SimFinding]) -> Vec<Value> {
    findings.iter().map(|f| item(world, f)).collect()
}

/// One node: an issue, or a vulnerability finding for vulnerability rules.
pub fn item(world: &World, f: &SimFinding) -> Value {
    match f.cve {
        Some(_) if f.rule.category == RuleCategory::Vulnerability => {
            vulnerability_finding(world, f)
        }
        _ => issue(world, f),
    }
}

/// The response to one GraphQL request for everything: issue nodes under `data.issues`
/// (and vulnerability finding nodes, if any, under `data.vulnerabilityFindings`), each a
/// complete last page.
pub fn list_body(items: Vec<Value>) -> Value {
    let (vulns, issues): (Vec<Value>, Vec<Value>) = items
        .into_iter()
        .partition(|n| n.get("vulnerableAsset").is_some());
    let mut data = Map::new();
    data.insert("issues".into(), connection(issues, false));
    if !vulns.is_empty() {
        data.insert("vulnerabilityFindings".into(), connection(vulns, false));
    }
    json!({ "data": data })
}

/// A GraphQL response for one page of one root field (`issues`, `issuesV2`,
/// `vulnerabilityFindings`), as the simulator serves pages.
pub fn page_body(root: &str, nodes: Vec<Value>, has_next_page: bool) -> Value {
    let mut data = Map::new();
    data.insert(root.to_string(), connection(nodes, has_next_page));
    json!({ "data": data })
}

/// The id the Wiz mapper gives the alert of `f`: the issue's (or finding's) UUID.
pub fn native_id(world: &World, f: &SimFinding) -> String {
    finding_rng(world, f).uuid()
}

fn finding_rng(world: &World, f: &SimFinding) -> Rng {
    Rng::new(world.seed ^ ISSUE_SALT ^ f.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn connection(nodes: Vec<Value>, has_next_page: bool) -> Value {
    let end_cursor = nodes
        .last()
        .and_then(|n| n.get("createdAt").or_else(|| n.get("firstDetectedAt")))
        .and_then(Value::as_str)
        .map(|t| {
            base64(format!(r#"{{"fields":[{{"Field":"Timestamp","Value":"{t}"}}]}}"#).as_bytes())
        });
    json!({
        "nodes": nodes,
        "pageInfo": { "hasNextPage": has_next_page, "endCursor": end_cursor },
    })
}

fn issue(world: &World, f: &SimFinding) -> Value {
    let res = world.resource_of(f);
    let mut rng = finding_rng(world, f);
    let id = rng.uuid();
    let micros = rng.below(1000) as i64;
    let created = wiz_time(f.created_ms, micros);
    let updated = wiz_time(f.updated_ms, micros);
    let (issue_type, source_rule) = match f.rule.category {
        RuleCategory::Misconfiguration => ("CLOUD_CONFIGURATION", configuration_rule(f.rule, res)),
        RuleCategory::Runtime => ("THREAT_DETECTION", cloud_event_rule(f.rule)),
        _ => ("TOXIC_COMBINATION", control(f.rule)),
    };
    let closed = matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed);
    let status_changed = if status_changed_ms(f) == f.created_ms {
        &created
    } else {
        &updated
    };
    let due = sla_days(f.severity).map(|d| {
        DateTime::from_timestamp_millis(f.created_ms + d * DAY_MS)
            .map(|t| t.format("%Y-%m-%dT21:00:00Z").to_string())
            .unwrap_or_default()
    });
    let in_progress = f.status == SimStatus::InProgress;
    let notes = if in_progress {
        json!([{
            "id": rng.uuid(),
            "createdAt": updated,
            "updatedAt": updated,
            "text": "Investigating with the owning team.",
            "user": { "name": "SOC Analyst", "email": "soc@example.com" },
            "serviceAccount": null,
        }])
    } else {
        json!([])
    };
    let tickets = if in_progress {
        json!([{
            "externalId": rng.hex(32),
            "name": format!("SEC-{}", 1000 + f.seq),
            "url": format!("https://example.atlassian.net/browse/SEC-{}", 1000 + f.seq),
        }])
    } else {
        json!([])
    };
    json!({
        "id": id,
        "sourceRule": source_rule,
        "type": issue_type,
        "createdAt": created,
        "updatedAt": updated,
        "dueAt": due,
        "resolvedAt": if closed { Value::String(updated.clone()) } else { Value::Null },
        "statusChangedAt": status_changed,
        "projects": projects(res),
        "status": status(f.status),
        "severity": severity(f.severity),
        "entitySnapshot": entity_snapshot(world, f.resource, res),
        "serviceTickets": tickets,
        "notes": notes,
    })
}

fn vulnerability_finding(world: &World, f: &SimFinding) -> Value {
    let res = world.resource_of(f);
    let mut rng = finding_rng(world, f);
    let id = rng.uuid();
    let micros = rng.below(1000) as i64;
    let Some(cve) = f.cve else {
        return issue(world, f);
    };
    let first = wiz_time(f.created_ms, micros);
    let last = wiz_time(f.updated_ms, micros);
    let closed = matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed);
    let kev = KEV.contains(&cve.id);
    let word = severity(f.severity);
    json!({
        "id": id,
        "portalUrl": format!("https://app.wiz.io/explorer/vulnerability-findings#~(entity~(~'{id}*2cSECURITY_TOOL_FINDING))"),
        "name": cve.id,
        "CVEDescription": cve.description,
        "CVSSSeverity": word,
        "score": cve.cvss,
        "dataSourceName": "Wiz",
        "hasExploit": kev,
        "hasCisaKevExploit": kev,
        "status": status(f.status),
        "vendorSeverity": word,
        "firstDetectedAt": first,
        "lastDetectedAt": last,
        "resolvedAt": if closed { Value::String(last.clone()) } else { Value::Null },
        "description": format!(
            "The package `{p}` version `{v}` was detected on `{n}` and is vulnerable to `{c}`, which exists in versions `< {x}`.\n\n\
             The vulnerability can be remediated by updating the package to version `{x}` or higher.",
            p = cve.package, v = cve.version, n = res.name, c = cve.id, x = cve.fixed
        ),
        "remediation": format!("Update {} to version {} or higher.", cve.package, cve.fixed),
        "detailedName": cve.package,
        "version": cve.version,
        "fixedVersion": cve.fixed,
        "detectionMethod": "PACKAGE",
        "link": format!("https://nvd.nist.gov/vuln/detail/{}", cve.id),
        "locationPath": null,
        "resolutionReason": null,
        "validatedInRuntime": matches!(res.kind, ResourceKind::Workload | ResourceKind::Instance),
        "layerMetadata": null,
        "projects": projects(res),
        "ignoreRules": null,
        "vulnerableAsset": vulnerable_asset(world, f.resource, res),
    })
}

/// `Control` for toxic combinations: a Wiz risk sub-category first, then the rule's frameworks.
fn control(rule: &Rule) -> Value {
    let (risk_category, risk_title) = match rule.category {
        RuleCategory::Network => ("External Exposure", "Publicly exposed resource"),
        RuleCategory::Identity => ("Identity Management", "Privileged principal"),
        RuleCategory::Data => ("Data Security", "Sensitive data exposure"),
        RuleCategory::Vulnerability => ("Vulnerability Assessment", "Vulnerable workload"),
        RuleCategory::Runtime => ("Threat Detection", "Active threat"),
        RuleCategory::Misconfiguration => ("Cloud Security Posture", "Cloud misconfiguration"),
    };
    let mut subs = vec![json!({
        "title": risk_title,
        "category": { "name": risk_category, "framework": { "name": "Wiz for Risk Assessment" } },
    })];
    subs.extend(compliance_subcategories(rule));
    json!({
        "__typename": "Control",
        "id": control_id(rule),
        "name": rule.name,
        "controlDescription": rule.description,
        "resolutionRecommendation": rule.remediation,
        "securitySubCategories": subs,
    })
}

fn configuration_rule(rule: &Rule, res: &SimResource) -> Value {
    json!({
        "__typename": "CloudConfigurationRule",
        "id": rule.id,
        "name": rule.name,
        "cloudConfigurationRuleDescription": rule.description,
        "remediationInstructions": rule.remediation,
        "serviceType": platform(&res.cloud),
        "securitySubCategories": compliance_subcategories(rule),
    })
}

fn cloud_event_rule(rule: &Rule) -> Value {
    json!({
        "__typename": "CloudEventRule",
        "id": rule.id,
        "name": rule.name,
        "cloudEventRuleDescription": rule.description,
        "sourceType": "WIZ_SENSOR",
        "type": "DETECTION",
    })
}

fn compliance_subcategories(rule: &Rule) -> Vec<Value> {
    rule.compliance
        .iter()
        .map(|(standard, req)| {
            let section = req.split(['.', '-', '(']).next().unwrap_or(req);
            json!({
                "title": format!("{req} {}", rule.name),
                "category": { "name": format!("{section} Controls"), "framework": { "name": standard } },
            })
        })
        .collect()
}

/// Wiz control ids look like `wc-id-1335`; catalog rules that are not Wiz's get a stable one.
fn control_id(rule: &Rule) -> String {
    if rule.id.starts_with("wc-id-") {
        rule.id.to_string()
    } else {
        format!("wc-id-{}", 2000 + fnv(rule.id) % 7000)
    }
}

fn entity_snapshot(world: &World, index: usize, res: &SimResource) -> Value {
    json!({
        "id": entity_id(world, index),
        "type": entity_type(res.kind),
        "nativeType": native_type(res),
        "name": res.name,
        "status": "Active",
        "cloudPlatform": platform(&res.cloud),
        "cloudProviderURL": console_url(res),
        "providerId": res.id,
        "region": res.region,
        "resourceGroupExternalId": resource_group(res),
        "subscriptionExternalId": res.account,
        "subscriptionName": res.account_name,
        "subscriptionTags": {},
        "tags": res.tags,
        "externalId": res.id,
    })
}

fn vulnerable_asset(world: &World, index: usize, res: &SimResource) -> Value {
    let (asset_type, extra) = match res.kind {
        ResourceKind::Workload => (
            "CONTAINER",
            json!({
                "ImageExternalId": res.image,
                "PodName": format!("{}-{}", res.native_id, &entity_id(world, index)[..5]),
                "PodNamespace": res.tags.get("team"),
                "NodeName": res.hostname,
                "ServerlessContainer": false,
            }),
        ),
        ResourceKind::Function => ("SERVERLESS", json!({ "runtime": "python3.11" })),
        _ => (
            "VIRTUAL_MACHINE",
            json!({ "operatingSystem": "Linux", "ipAddresses": [] }),
        ),
    };
    let mut asset = json!({
        "id": entity_id(world, index),
        "type": asset_type,
        "name": res.name,
        "region": res.region,
        "providerUniqueId": res.id,
        "cloudProviderURL": console_url(res),
        "cloudPlatform": platform(&res.cloud),
        "status": "Active",
        "subscriptionName": res.account_name,
        "subscriptionExternalId": res.account,
        "subscriptionId": Rng::new(fnv(&res.account)).uuid(),
        "tags": res.tags,
        "hasLimitedInternetExposure": false,
        "hasWideInternetExposure": res.internet_facing,
        "isAccessibleFromVPN": false,
        "isAccessibleFromOtherVnets": false,
        "isAccessibleFromOtherSubscriptions": false,
    });
    if let (Some(obj), Value::Object(more)) = (asset.as_object_mut(), extra) {
        obj.extend(more);
    }
    asset
}

/// The Wiz graph id of a resource: stable per world and resource.
fn entity_id(world: &World, index: usize) -> String {
    Rng::new(world.seed ^ ENTITY_SALT ^ (index as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)).uuid()
}

fn projects(res: &SimResource) -> Value {
    let team = res
        .tags
        .get("team")
        .map(String::as_str)
        .unwrap_or("platform");
    let prod = res.tags.get("env").is_some_and(|e| e == "prod");
    json!([{
        "id": Rng::new(fnv(team)).uuid(),
        "name": format!("Team {team}"),
        "slug": format!("team-{team}"),
        "businessUnit": if prod { "Production" } else { "" },
        "riskProfile": { "businessImpact": if prod { "HBI" } else { "MBI" } },
    }])
}

fn status(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Open => "OPEN",
        SimStatus::InProgress => "IN_PROGRESS",
        SimStatus::Resolved => "RESOLVED",
        SimStatus::Dismissed => "REJECTED",
    }
}

fn severity(s: SevWord) -> &'static str {
    match s {
        SevWord::Critical => "CRITICAL",
        SevWord::High => "HIGH",
        SevWord::Medium => "MEDIUM",
        SevWord::Low => "LOW",
        SevWord::Info => "INFORMATIONAL",
    }
}

fn sla_days(s: SevWord) -> Option<i64> {
    match s {
        SevWord::Critical => Some(7),
        SevWord::High => Some(30),
        SevWord::Medium => Some(90),
        SevWord::Low => Some(180),
        SevWord::Info => None,
    }
}

fn platform(c: &Cloud) -> String {
    match c {
        Cloud::Aws => "AWS".into(),
        Cloud::Azure => "Azure".into(),
        Cloud::Gcp => "GCP".into(),
        Cloud::Oci => "OCI".into(),
        Cloud::Alibaba => "Alibaba".into(),
        Cloud::Kubernetes => "Kubernetes".into(),
        Cloud::Other(x) => x.clone(),
    }
}

fn entity_type(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Instance => "VIRTUAL_MACHINE",
        ResourceKind::Bucket => "BUCKET",
        ResourceKind::SecurityGroup => "FIREWALL",
        ResourceKind::Role => "ACCESS_ROLE",
        ResourceKind::Database => "DB_SERVER",
        ResourceKind::Workload => "DEPLOYMENT",
        ResourceKind::LoadBalancer => "LOAD_BALANCER",
        ResourceKind::Function => "SERVERLESS",
    }
}

fn native_type(res: &SimResource) -> String {
    let aws = |k: ResourceKind| match k {
        ResourceKind::Instance | ResourceKind::Workload => "virtualMachine",
        ResourceKind::Bucket => "bucket",
        ResourceKind::SecurityGroup => "securityGroup",
        ResourceKind::Role => "role",
        ResourceKind::Database => "rds",
        ResourceKind::LoadBalancer => "loadBalancerv2/application",
        ResourceKind::Function => "lambda",
    };
    match res.cloud {
        Cloud::Azure => {
            // The provider path inside the Azure resource id.
            let parts: Vec<&str> = res.id.split('/').collect();
            match parts.iter().position(|p| *p == "providers") {
                Some(i) if parts.len() > i + 2 => format!("{}/{}", parts[i + 1], parts[i + 2]),
                _ => "Microsoft.Resources/resource".into(),
            }
        }
        Cloud::Gcp => match res.kind {
            ResourceKind::Bucket => "storage#bucket".into(),
            ResourceKind::SecurityGroup => "compute#firewall".into(),
            ResourceKind::Role => "iam#serviceAccount".into(),
            ResourceKind::Database => "sql#instance".into(),
            _ => "compute#instance".into(),
        },
        Cloud::Kubernetes => "Deployment".into(),
        _ => aws(res.kind).into(),
    }
}

fn console_url(res: &SimResource) -> String {
    match res.cloud {
        Cloud::Aws => format!(
            "https://{r}.console.aws.amazon.com/go/view?arn={id}&region={r}",
            r = res.region,
            id = res.id
        ),
        Cloud::Azure => format!("https://portal.azure.com/#@/resource{}", res.id),
        Cloud::Gcp => format!(
            "https://console.cloud.google.com/home/dashboard?project={}",
            res.account
        ),
        _ => String::new(),
    }
}

/// `/subscriptions/<sub>/resourcegroups/<rg>` for Azure resources (Wiz lower-cases the
/// segment name), empty elsewhere.
fn resource_group(res: &SimResource) -> String {
    if res.cloud != Cloud::Azure {
        return String::new();
    }
    let parts: Vec<&str> = res.id.split('/').collect();
    match parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("resourceGroups"))
    {
        Some(i) if parts.len() > i + 1 => format!(
            "/subscriptions/{}/resourcegroups/{}",
            res.account,
            parts[i + 1]
        ),
        _ => String::new(),
    }
}

/// RFC 3339 with microseconds, as Wiz writes it (`2023-08-23T07:56:09.903743Z`); `micros`
/// adds sub-millisecond digits so the value parses back to exactly `ms`.
fn wiz_time(ms: EpochMs, micros: i64) -> String {
    DateTime::from_timestamp_micros(ms * 1000 + micros.rem_euclid(1000))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

/// FNV-1a, for stable small numbers from names.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Standard base64 with padding (Wiz cursors are base64 JSON).
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// When the finding's status last changed, as `statusChangedAt` renders it: an open finding
/// that never changed, at creation; otherwise at its last change (every change the world
/// makes between creation and now is a status change: evolve, close, reopen, write-back).
pub fn status_changed_ms(f: &SimFinding) -> EpochMs {
    if f.status == SimStatus::Open && f.updated_ms <= f.created_ms {
        f.created_ms
    } else {
        f.updated_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_a_known_cursor() {
        // The endCursor of the corpus list response decodes to this JSON.
        let json = r#"{"fields":[{"Field":"Timestamp","Value":"2023-09-04T11:19:37.801541Z"}]}"#;
        assert_eq!(
            base64(json.as_bytes()),
            "eyJmaWVsZHMiOlt7IkZpZWxkIjoiVGltZXN0YW1wIiwiVmFsdWUiOiIyMDIzLTA5LTA0VDExOjE5OjM3LjgwMTU0MVoifV19"
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn timestamps_have_microseconds_and_parse_back() {
        let t = wiz_time(1_692_777_369_903, 743);
        assert_eq!(t, "2023-08-23T07:56:09.903743Z");
        assert_eq!(
            crate::sources::json::parse_time(&t),
            Some(1_692_777_369_903)
        );
    }

    #[test]
    fn emitted_nodes_look_like_wiz() {
        let w = World::generate(11, 60, 1_700_000_000_000);
        let fs: Vec<&SimFinding> = w.findings_for(crate::domain::Vendor::Wiz).collect();
        let body = list_body(items(&w, &fs));
        let nodes = body["data"]["issues"]["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!nodes.is_empty());
        for n in &nodes {
            assert!(n["id"].as_str().is_some_and(|s| s.len() == 36));
            assert!(
                [
                    "TOXIC_COMBINATION",
                    "THREAT_DETECTION",
                    "CLOUD_CONFIGURATION"
                ]
                .contains(&n["type"].as_str().unwrap_or(""))
            );
            assert!(
                n["createdAt"]
                    .as_str()
                    .is_some_and(|s| s.len() == 27 && s.ends_with('Z'))
            );
            assert!(n["sourceRule"]["__typename"].is_string());
        }
        assert_eq!(
            body["data"]["issues"]["pageInfo"]["hasNextPage"],
            json!(false)
        );
        if let Some(v) = body["data"]["vulnerabilityFindings"]["nodes"].as_array() {
            assert!(
                v.iter()
                    .all(|n| n["name"].as_str().is_some_and(|c| c.starts_with("CVE-")))
            );
        }
    }
}
