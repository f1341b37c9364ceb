//! Orca alerts as the legacy alert-query API serves them (corpus
//! `orca/xsoar-eventcollector-get-alerts.json`): `state.*` with ISO 8601 `+00:00` timestamps
//! (Python `isoformat`, so fractions only when there are some), `data.*` remediation, the asset
//! model under `model.data` with a JSON-*encoded* `Inventory.Tags` string, `tags_info_list` as
//! `key|value` strings, the real account id in `cloud_vendor_id` and Orca's own account UUID
//! in `cloud_account_id`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::domain::{Cloud, EpochMs};
use crate::rng::Rng;
use crate::sim::world::{
    ResourceKind, RuleCategory, SevWord, SimFinding, SimResource, SimStatus, World,
};

pub fn items(world: &World, findings: &[&SimFinding]) -> Vec<Value> {
    findings.iter().map(|f| item(world, f)).collect()
}

/// The alert-query envelope for one final page.
pub fn list_body(items: Vec<Value>) -> Value {
    let n = items.len();
    json!({
        "version": "0.1.0",
        "status": "success",
        "data_grouped": false,
        "total_supported_items": 10000,
        "total_ungrouped_items": n,
        "total_items": n,
        "next_page_token": null,
        "data": items,
        "has_next_page_token": false,
    })
}

pub fn native_id(_world: &World, f: &SimFinding) -> String {
    format!("orca-{}", 100_000 + f.seq)
}

/// FNV-1a, to derive stable per-account / per-rule ids.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Python `datetime.isoformat()` of an aware UTC time: `2022-10-12T00:00:00+00:00`, with
/// `.ffffff` only when the sub-second part is not zero.
pub(crate) fn iso(ms: EpochMs) -> String {
    let dt = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let frac = ms.rem_euclid(1000);
    if frac == 0 {
        dt.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        format!("{}.{:03}000+00:00", dt.format("%Y-%m-%dT%H:%M:%S"), frac)
    }
}

/// `json.dumps` of a flat string map, Python spacing (`{"k": "v", "k2": "v2"}`).
fn py_dumps(map: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), Value::String(v.clone())))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn asset_type(r: &SimResource) -> &'static str {
    use ResourceKind::*;
    match (&r.cloud, r.kind) {
        (Cloud::Aws, Instance | Workload) => "AwsEc2Instance",
        (Cloud::Aws, Bucket) => "AwsS3Bucket",
        (Cloud::Aws, SecurityGroup) => "AwsEc2SecurityGroup",
        (Cloud::Aws, Role) => "AwsIamRole",
        (Cloud::Aws, Database) => "AwsRdsDbInstance",
        (Cloud::Aws, LoadBalancer) => "AwsElbV2LoadBalancer",
        (Cloud::Aws, Function) => "AwsLambdaFunction",
        (Cloud::Azure, Bucket) => "AzureStorageAccount",
        (Cloud::Azure, SecurityGroup) => "AzureNetworkSecurityGroup",
        (Cloud::Azure, Role) => "AzureUserAssignedIdentity",
        (Cloud::Azure, Database) => "AzureSqlServer",
        (Cloud::Azure, LoadBalancer) => "AzureLoadBalancer",
        (Cloud::Azure, Function) => "AzureWebApp",
        (Cloud::Azure, _) => "AzureComputeVm",
        (Cloud::Gcp, Bucket) => "GcpStorageBucket",
        (Cloud::Gcp, SecurityGroup) => "GcpVpcFirewall",
        (Cloud::Gcp, Role) => "GcpServiceAccount",
        (Cloud::Gcp, Database) => "GcpSqlInstance",
        (Cloud::Gcp, _) => "GcpVmInstance",
        _ => "K8sDeployment",
    }
}

/// Inventory category / subcategory as Orca's asset model files them.
fn asset_category(kind: ResourceKind) -> (&'static str, &'static str) {
    match kind {
        ResourceKind::Instance => ("VM", "VM"),
        ResourceKind::Bucket => ("Storage", "Buckets"),
        ResourceKind::SecurityGroup => ("Network", "Security Groups"),
        ResourceKind::Role => ("Users and Access", "Roles"),
        ResourceKind::Database => ("Database", "Relational Databases"),
        ResourceKind::Workload => ("Container", "Kubernetes Workloads"),
        ResourceKind::LoadBalancer => ("Network", "Load Balancers"),
        ResourceKind::Function => ("Serverless", "Functions"),
    }
}

fn provider(cloud: &Cloud) -> &'static str {
    match cloud {
        Cloud::Aws => "aws",
        Cloud::Azure => "azure",
        Cloud::Gcp => "gcp",
        Cloud::Oci => "oci",
        Cloud::Alibaba => "alicloud",
        Cloud::Kubernetes | Cloud::Other(_) => "kubernetes",
    }
}

/// Orca's alert category for a rule (names from Orca's own category list).
fn orca_category(f: &SimFinding) -> &'static str {
    match f.rule.category {
        RuleCategory::Misconfiguration => "Vendor services misconfigurations",
        RuleCategory::Vulnerability => "Vulnerabilities",
        RuleCategory::Runtime => "Malicious activity",
        RuleCategory::Identity => "IAM misconfigurations",
        RuleCategory::Data => "Data at risk",
        RuleCategory::Network => "Network misconfigurations",
    }
}

fn mitre(cat: RuleCategory) -> (&'static str, &'static str) {
    match cat {
        RuleCategory::Misconfiguration => ("best practices", "No technique"),
        RuleCategory::Vulnerability => (
            "initial access",
            "Exploit Public-Facing Application (T1190)",
        ),
        RuleCategory::Runtime => ("execution", "Command and Scripting Interpreter (T1059)"),
        RuleCategory::Identity => ("privilege escalation", "Valid Accounts (T1078)"),
        RuleCategory::Data => ("collection", "Data from Cloud Storage (T1530)"),
        RuleCategory::Network => ("initial access", "External Remote Services (T1133)"),
    }
}

/// Orca's four-step legacy scale (score and word are paired) and its 0-10 `orca_score`.
fn legacy_scale(sev: SevWord, rng: &mut Rng) -> (i64, &'static str, &'static str, f64) {
    let tenth = rng.below(9) as f64 / 10.0;
    match sev {
        SevWord::Critical => (1, "compromised", "critical", 9.0 + tenth),
        SevWord::High => (2, "imminent compromise", "high", 7.0 + tenth),
        SevWord::Medium => (3, "hazardous", "medium", 5.0 + tenth),
        SevWord::Low => (3, "hazardous", "low", 2.0 + tenth),
        SevWord::Info => (4, "informational", "informational", 1.0 + tenth),
    }
}

fn rule_query(f: &SimFinding, t: &str) -> String {
    match f.rule.category {
        RuleCategory::Vulnerability => {
            let cve = f.cve.map_or("CVE", |c| c.id);
            format!("{t} with Vulnerabilities containing '{cve}'")
        }
        RuleCategory::Network => {
            let port = f.rule.ports.first().copied().unwrap_or(22);
            format!(
                "{t} with SecurityGroups with SgIpPermissions with (FromPort <= {port} and ToPort >= {port} and IpRanges containing '0.0.0.0/0') and not egress"
            )
        }
        RuleCategory::Identity => {
            format!("{t} with Policies with (Action = '*' and Resource = '*')")
        }
        RuleCategory::Data if f.rule.ports.is_empty() && t.contains("Bucket") => {
            format!(
                "{t} with PublicAccessBlock = false and (AclGrantsAllUsers or PolicyAllowsAnonymous)"
            )
        }
        RuleCategory::Data => format!("{t} with CloudKeys with (Active = true)"),
        _ => format!("{t} with StorageEncrypted = false"),
    }
}

fn is_cli(line: &str) -> bool {
    ["aws ", "az ", "gcloud ", "kubectl "]
        .iter()
        .any(|p| line.trim_start().starts_with(p))
}

fn item(world: &World, f: &SimFinding) -> Value {
    let r = world.resource_of(f);
    let mut rng = Rng::new(world.seed ^ f.seq.wrapping_mul(0x9E37_79B9) ^ 0x0bca);
    let mut acct = Rng::new(world.seed ^ fnv(&r.account));
    let mut org = Rng::new(world.seed ^ 0x0b_ca00);
    let t = asset_type(r);
    let (inv_cat, inv_sub) = asset_category(r.kind);
    let asset_unique_id = format!("{t}_{}_{}", r.account, r.native_id);
    let asset_vendor_id = if r.cloud == Cloud::Aws {
        r.native_id.clone()
    } else {
        r.id.clone()
    };
    let (score, legacy_word, risk_level, orca_score) = legacy_scale(f.severity, &mut rng);
    let high = matches!(f.severity, SevWord::Critical | SevWord::High);
    let (mitre_cat, technique) = mitre(f.rule.category);

    let (title, details) = match f.cve {
        Some(c) => (
            format!("{} {} is vulnerable to {}", c.package, c.version, c.id),
            format!(
                "{} The package {} {} installed on {} is affected ({}).",
                c.description, c.package, c.version, r.name, c.id
            ),
        ),
        None => (f.rule.name.to_string(), f.rule.description.to_string()),
    };
    let rec_lines: Vec<&str> = f.rule.remediation.lines().filter(|l| !is_cli(l)).collect();
    let cli: Vec<String> = f
        .rule
        .remediation
        .lines()
        .filter(|l| is_cli(l))
        .map(str::to_string)
        .collect();
    let recommendation = match f.cve {
        Some(c) => format!(
            "Upgrade {} to version {} or later and redeploy {}.",
            c.package, c.fixed, r.name
        ),
        None if rec_lines.is_empty() => format!("Remediate {} as described below.", r.name),
        None => rec_lines.join(" "),
    };
    let template_rec = recommendation.replace(&r.name, &format!("{{{t}}}"));
    let console = vec![
        format!(
            ">1. Sign in to the {} console and open {}.",
            provider(&r.cloud).to_uppercase(),
            r.name
        ),
        format!(">2. {recommendation}"),
        ">3. Re-run the Orca verification to confirm the alert closes.".to_string(),
    ];

    let mut data = json!({
        "recommendation": template_rec,
        "details": details,
        "mitre_category": mitre_cat,
        "title": title,
        "remediation_console": console,
        "mitre_technique": [technique],
    });
    if !cli.is_empty() {
        data["remediation_cli"] = json!(cli);
    }
    if let Some(c) = f.cve {
        data["cve_ids"] = json!([c.id]);
        data["vulnerabilities"] = json!([{
            "cve_id": c.id,
            "severity": risk_level,
            "cvss_score": c.cvss,
            "cvss_vector": c.vector,
            "package_name": c.package,
            "package_version": c.version,
            "fixed_version": c.fixed,
            "description": c.description,
        }]);
    }

    let status = match f.status {
        SimStatus::Open => "open",
        SimStatus::InProgress => "in_progress",
        SimStatus::Resolved => "closed",
        SimStatus::Dismissed => "dismissed",
    };
    let status_time = if f.status == SimStatus::Open {
        f.created_ms
    } else {
        f.updated_ms
    };
    let last_seen = match f.status {
        SimStatus::Open | SimStatus::InProgress => f
            .updated_ms
            .max(world.now_ms - (f.seq % 48) as i64 * 3_600_000),
        _ => f.updated_ms,
    };
    let tags_list: Vec<String> = r.tags.iter().map(|(k, v)| format!("{k}|{v}")).collect();
    let asset_created = f.created_ms - (30 + (f.resource as i64 % 300)) * 86_400_000;

    let mut model_obj = json!({ "Name": r.name });
    match r.cloud {
        Cloud::Aws => {
            model_obj["Arn"] = json!(r.id);
            if matches!(r.kind, ResourceKind::Instance | ResourceKind::Workload) {
                model_obj["InstanceId"] = json!(r.native_id);
                model_obj["PrivateDnsName"] = json!(r.hostname);
            }
        }
        Cloud::Kubernetes => {
            model_obj["ClusterName"] = json!(r.account);
        }
        _ => model_obj["Id"] = json!(r.id),
    }
    if let Some(image) = &r.image {
        model_obj["Image"] = json!(image);
    }
    let mut model_data = serde_json::Map::new();
    model_data.insert(t.to_string(), model_obj);
    model_data.insert(
        "Inventory".to_string(),
        json!({
            "NewSubCategory": inv_sub,
            "OrcaScore": orca_score,
            "Category": inv_cat,
            "UiUniqueField": r.native_id,
            "BlastRadius": "{}",
            "NewCategory": inv_cat,
            "OrcaTags": "{}",
            "Name": r.name,
            "Zones": [],
            "Score": score,
            "DetectedCrownJewelScore": 0,
            "ModelTags": format!("{{\"Category\": \"{inv_cat}\", \"SubCategory\": \"{inv_sub}\"}}"),
            "SubCategory": inv_sub,
            "CreationTime": iso(asset_created - asset_created.rem_euclid(1000)),
            "Region": r.region,
            "Observations": [],
            "RiskLevel": risk_level,
            "Tags": py_dumps(&r.tags),
            "RelatedCompliances": [],
            "AccessEndpoints": "[]",
        }),
    );

    let state = json!({
    "severity": legacy_word,
    "rule_source": "Orca",
    "last_updated": iso(f.updated_ms),
    "last_seen": iso(last_seen),
    "in_verification": false,
    "low_since": if high { Value::Null } else { json!(iso(f.created_ms)) },
    "created_at": iso(f.created_ms),
    "score": score,
    "risk_level": risk_level,
    "orca_score": orca_score,
    "alert_id": native_id(world, f),
    "high_since": if high { json!(iso(f.created_ms)) } else { Value::Null },
    "status_time": iso(status_time),
    "status": status,
    "verification_status": null,
    });
    let mut v = Map::new();
    v.insert("group_val".into(), json!("nongroup"));
    v.insert("asset_type_string".into(), json!(inv_sub));
    v.insert("data".into(), data);
    v.insert(
        "alert_labels".into(),
        json!([format!("mitre: {mitre_cat}")]),
    );
    v.insert("configuration".into(), json!({}));
    v.insert("is_compliance".into(), json!(false));
    v.insert("group_type_string".into(), json!("NonGroup"));
    v.insert("description".into(), json!(title));
    v.insert("recommendation".into(), json!(recommendation));
    v.insert("source".into(), json!(r.name));
    v.insert("group_type".into(), json!(t));
    v.insert("cluster_type".into(), json!(t));
    v.insert("type".into(), json!(slug(f.rule.name)));
    v.insert("group_unique_id".into(), json!(asset_unique_id));
    v.insert("cloud_account_id".into(), json!(acct.uuid()));
    v.insert("type_string".into(), json!(f.rule.name));
    v.insert("asset_name".into(), json!(r.name));
    v.insert("account_name".into(), json!(r.account_name));
    v.insert("asset_type".into(), json!(t));
    v.insert("context".into(), json!("control"));
    v.insert("details".into(), json!(details));
    v.insert(
        "model".into(),
        json!({
            "data": Value::Object(model_data),
            "name": r.name,
            "asset_unique_id": asset_unique_id,
            "id": format!("{:x}", fnv(&r.id)),
            "type": t,
        }),
    );
    v.insert("state".into(), state);
    v.insert("rule_query".into(), json!(rule_query(f, t)));
    v.insert("cluster_unique_id".into(), json!(asset_unique_id));
    v.insert("cluster_name".into(), json!(r.name));
    v.insert("subject_type".into(), json!(t));
    v.insert("group_name".into(), json!(r.name));
    v.insert("level".into(), json!(0));
    v.insert("tags_info_list".into(), json!(tags_list));
    v.insert("is_rule".into(), json!(true));
    v.insert("cloud_provider".into(), json!(provider(&r.cloud)));
    v.insert("organization_name".into(), json!("Sitrep Simulated Org"));
    v.insert(
        "type_key".into(),
        json!(format!("{:016x}{:016x}", fnv(f.rule.id), fnv(t))),
    );
    v.insert("cloud_vendor_id".into(), json!(r.account));
    v.insert(
        "rule_id".into(),
        json!(format!("r{:010x}", fnv(f.rule.id) & 0xff_ffff_ffff)),
    );
    v.insert("asset_category".into(), json!(inv_cat));
    v.insert(
        "asset_state".into(),
        json!(
            if matches!(r.kind, ResourceKind::Instance | ResourceKind::Workload) {
                "running"
            } else {
                "enabled"
            }
        ),
    );
    v.insert("asset_tags_info_list".into(), json!(tags_list));
    v.insert("organization_id".into(), json!(org.uuid()));
    v.insert("asset_unique_id".into(), json!(asset_unique_id));
    v.insert("cloud_provider_id".into(), json!(r.account));
    v.insert("category".into(), json!(orca_category(f)));
    v.insert("cloud_account_type".into(), json!("Regular"));
    v.insert("asset_vendor_id".into(), json!(asset_vendor_id));
    if !f.rule.compliance.is_empty() {
        // Alert-level framework list: field name and shape UNCONFIRMED (see docs/vendors.md).
        let frameworks: Vec<Value> = f
            .rule
            .compliance
            .iter()
            .map(|(std, req)| json!({ "framework": std, "section": req }))
            .collect();
        v.insert("compliance_frameworks".into(), Value::Array(frameworks));
    }
    Value::Object(v)
}

/// `aws_inactive_user`-style alert type keys from a rule name.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    out.truncate(64);
    out.trim_end_matches('_').to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn iso_matches_python_isoformat() {
        assert_eq!(iso(1_665_532_800_000), "2022-10-12T00:00:00+00:00");
        assert_eq!(iso(1_665_532_800_123), "2022-10-12T00:00:00.123000+00:00");
    }

    #[test]
    fn tags_are_a_json_encoded_string_with_python_spacing() {
        let mut m = BTreeMap::new();
        m.insert("env".to_string(), "prod".to_string());
        m.insert("team".to_string(), "web".to_string());
        assert_eq!(py_dumps(&m), r#"{"env": "prod", "team": "web"}"#);
        assert_eq!(py_dumps(&BTreeMap::new()), "{}");
    }

    #[test]
    fn items_look_like_the_corpus_shape() {
        let world = World::generate(3, 40, 1_700_000_000_000);
        let findings: Vec<&SimFinding> = world.findings_for(crate::domain::Vendor::Orca).collect();
        let body = list_body(items(&world, &findings));
        assert_eq!(body["total_items"], findings.len());
        let first = &body["data"][0];
        for key in [
            "state",
            "model",
            "asset_unique_id",
            "cloud_vendor_id",
            "category",
            "type_string",
        ] {
            assert!(first.get(key).is_some(), "missing {key}");
        }
        assert!(
            first["state"]["alert_id"]
                .as_str()
                .unwrap()
                .starts_with("orca-")
        );
        assert!(first["model"]["data"]["Inventory"]["Tags"].is_string());
        assert!(
            first["state"]["created_at"]
                .as_str()
                .unwrap()
                .ends_with("+00:00")
        );
        assert_eq!(
            slug("IAM policy grants full administrative privileges (Action \"*\")"),
            "iam_policy_grants_full_administrative_privileges_action"
        );
    }
}
