//! Prisma Cloud CSPM alerts → the normalized model. The accepted shapes, resource identity
//! order and field rules are in docs/vendors.md ("Mapper details"), kept there so this file
//! holds code; the tests below pin them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::domain::{
    Alert, Category, Cloud, Compliance, Exposure, Policy, RawJson, Resource, Severity, Vendor,
    VendorPath, VendorPathKind, VendorState,
};
use crate::sources::{MapError, json as j};

fn shape(detail: &str) -> MapError {
    MapError::Shape {
        vendor: Vendor::PrismaCspm.as_str(),
        detail: detail.to_string(),
    }
}

/// Where list replies keep their items (`[]`: the reply is the array), for item-by-item
/// mapping ([`crate::sources::Page`]).
pub const ITEM_PATHS: crate::sources::ItemPaths = &[&["items"], &[]];

/// Map, then type each alert's attack-path hint from its context (see [`vendor_path`]).
pub fn map(body: &Value) -> Result<Vec<Alert>, MapError> {
    let mut alerts = map_body(body)?;
    for a in &mut alerts {
        a.vendor_path = vendor_path(a);
    }
    Ok(alerts)
}

/// An alert of an attack-path policy (policy type `attack_path`, or the "Attack Path Rule"
/// label), named by its policy (else the title).
fn vendor_path(a: &Alert) -> Option<VendorPath> {
    let c = a.attack_context.as_ref()?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(crate::sanitize::one_line);
    let labelled = c.get("labels").and_then(Value::as_array).is_some_and(|l| {
        l.iter().any(|x| {
            x.as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case("attack path rule"))
        })
    });
    if !(s(c.get("policyType")).is_some_and(|t| t.eq_ignore_ascii_case("attack_path")) || labelled)
    {
        return None;
    }
    let name = c
        .get("policyName")
        .and_then(Value::as_str)
        .unwrap_or(&a.title);
    Some(VendorPath {
        kind: VendorPathKind::PrismaAttackPathPolicy,
        name: name.to_string(),
    })
}

fn map_body(body: &Value) -> Result<Vec<Alert>, MapError> {
    match body {
        Value::Object(m) if m.get("items").is_some_and(Value::is_array) => {
            let items = m
                .get("items")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if !m.contains_key("totalRows") && !items.is_empty() && !items.iter().any(is_alert) {
                return Err(shape(
                    "an `items` list whose entries are not Prisma Cloud alerts",
                ));
            }
            map_items(items)
        }
        Value::Array(items) => {
            if !items.is_empty() && !items.iter().any(is_alert) {
                return Err(shape(
                    "expected a /v2/alert page {totalRows, items}, an /alert array of alerts or one alert object",
                ));
            }
            map_items(items)
        }
        Value::Object(_) if is_alert(body) => map_alert(0, body).map(|a| vec![a]),
        Value::Object(_) => match related(body) {
            Some(what) => Err(MapError::NotAlerts { what }),
            None => Err(shape(
                "expected a /v2/alert page {totalRows, items}, an /alert array of alerts or one alert object",
            )),
        },
        _ => Err(shape("expected a JSON object or array")),
    }
}

pub fn sniff(body: &Value) -> Option<&'static str> {
    match body {
        Value::Object(m) => {
            if m.contains_key("totalRows") {
                let items = m.get("items").and_then(Value::as_array)?;
                if items.is_empty() || items.iter().any(is_alert) {
                    return Some("a Prisma Cloud CSPM alert page (/v2/alert)");
                }
                return None;
            }
            if is_alert(body) {
                return Some("a Prisma Cloud CSPM alert");
            }
            related(body)
        }
        Value::Array(a) if a.first().is_some_and(is_alert) => {
            Some("a Prisma Cloud CSPM alert array (/alert)")
        }
        _ => None,
    }
}

/// An `AlertModel`: a policy reference plus a resource or an alert timestamp. No other vendor
/// we read pairs `policy`/`policyId` with these.
fn is_alert(v: &Value) -> bool {
    let Some(m) = v.as_object() else { return false };
    let has_policy = m.get("policy").is_some_and(Value::is_object)
        || m.get("policyId").is_some_and(Value::is_string);
    let has_alert_facts = m.get("resource").is_some_and(Value::is_object)
        || m.contains_key("firstSeen")
        || m.contains_key("alertTime");
    has_policy && has_alert_facts
}

/// Responses of this vendor that carry no alerts.
fn related(v: &Value) -> Option<&'static str> {
    let m = v.as_object()?;
    if m.contains_key("token") && m.contains_key("customerNames") {
        return Some("a Prisma Cloud login response");
    }
    if m.contains_key("policyType") && m.contains_key("policyId") && m.contains_key("rule") {
        return Some("a Prisma Cloud policy");
    }
    None
}

fn map_items(items: &[Value]) -> Result<Vec<Alert>, MapError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| map_alert(i, item))
        .collect()
}

fn map_alert(index: usize, item: &Value) -> Result<Alert, MapError> {
    if !item.is_object() {
        return Err(MapError::Item {
            index,
            detail: "not an alert object".into(),
        });
    }
    let id = j::string(item, "id").ok_or_else(|| MapError::Item {
        index,
        detail: "alert has no `id`".into(),
    })?;
    let mut a = Alert::new(Vendor::PrismaCspm, id, RawJson::of(item));

    let policy_type = j::string(item, "policy.policyType").map(|s| s.to_ascii_lowercase());
    let policy_id = j::first_string(item, &["policyId", "policy.policyId"]);
    a.category = category(policy_type.as_deref());
    let vendor_sev = j::string(item, "policy.severity");
    a.severity = vendor_sev
        .as_deref()
        .map_or(Severity::Other("unknown".into()), Severity::from_vendor);
    a.policy = Policy {
        id: policy_id.clone(),
        name: j::string(item, "policy.name"),
        vendor_severity: vendor_sev,
    };
    a.resource = resource(item);
    a.title = match &a.policy.name {
        Some(n) => n.clone(),
        None => fallback_title(
            policy_type.as_deref(),
            policy_id.as_deref(),
            a.resource.name.as_deref(),
            &a.native_id,
        ),
    };
    a.description = j::string(item, "policy.description");
    a.compliance = compliance(item);
    a.remediation = remediation(item);
    a.exposure = exposure(a.policy.name.as_deref(), policy_type.as_deref());
    a.attack_context = attack_context(item, policy_type.as_deref());
    a.vendor_status = status(j::string(item, "status").as_deref());
    a.first_seen = j::first_time(item, &["firstSeen", "alertTime"]);
    a.last_seen = j::first_time(item, &["lastSeen", "lastUpdated", "alertTime"]);
    // `lastUpdated` covers every change, but payloads show it a little behind `lastSeen`;
    // the latest of the change stamps is what an incremental sync must compare against.
    a.vendor_updated = ["lastUpdated", "lastSeen", "alertTime", "firstSeen"]
        .iter()
        .filter_map(|p| j::time(item, p))
        .max();
    Ok(a)
}

/// `policy.policyType` → category. `attack_path` policies chain an internet exposure to a
/// workload and its privileges; they are filed under network (their entry point) and keep
/// the policy facts as attack context. `grayware` is filed with malware under runtime; `api`
/// and anything unknown are kept as `other(x)`.
fn category(policy_type: Option<&str>) -> Category {
    match policy_type {
        Some("config") => Category::Misconfiguration,
        Some("network") | Some("attack_path") => Category::Network,
        Some("iam") => Category::Identity,
        Some("data") => Category::Data,
        Some("workload_vulnerability") => Category::Vulnerability,
        Some("audit_event" | "anomaly" | "workload_incident" | "malware" | "grayware") => {
            Category::Runtime
        }
        Some(other) => Category::Other(other.to_string()),
        None => Category::Other("unknown".into()),
    }
}

fn status(s: Option<&str>) -> VendorState {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("open") | None => VendorState::Open,
        Some("resolved") => VendorState::Resolved,
        Some("dismissed") => VendorState::Dismissed,
        Some("snoozed") => VendorState::Snoozed,
        // The fix was seen and is being confirmed by the next scan.
        Some("pending_resolution") => VendorState::InProgress,
        Some(other) => VendorState::Other(other.to_string()),
    }
}

fn fallback_title(ptype: Option<&str>, pid: Option<&str>, rname: Option<&str>, id: &str) -> String {
    let mut t = String::from("Prisma Cloud");
    if let Some(p) = ptype {
        t.push(' ');
        t.push_str(p);
    }
    match pid {
        Some(pid) => t.push_str(&format!(" policy {pid}")),
        None => t.push_str(&format!(" alert {id}")),
    }
    if let Some(r) = rname {
        t.push_str(&format!(" on {r}"));
    }
    t
}

fn resource(item: &Value) -> Resource {
    let cloud = j::string(item, "resource.cloudType").map(|c| Cloud::from_vendor(&c));
    let account = j::first_string(item, &["resource.accountId", "resource.account"]);
    let region = j::first_string(item, &["resource.regionId", "resource.region"]);
    let name = j::string(item, "resource.name");
    let id = resource_id(item, region.as_deref(), account.as_deref(), name.as_deref());
    let mut tags = j::tags(item, "resource.resourceTags");
    if tags.is_empty() {
        tags = if cloud == Some(Cloud::Gcp) {
            // GCP's `tags` are network tags ({fingerprint, items}); key/value pairs are labels.
            j::tags(item, "resource.data.labels")
        } else {
            data_tags(item)
        };
    }
    Resource {
        id,
        name,
        rtype: j::first_string(item, &["resource.resourceType", "resource.resourceApiName"]),
        cloud,
        account,
        region,
        tags,
    }
}

fn data_tags(item: &Value) -> BTreeMap<String, String> {
    [
        "resource.data.tags",
        "resource.data.Tags",
        "resource.data.tagSet",
    ]
    .iter()
    .map(|p| j::tags(item, p))
    .find(|t| !t.is_empty())
    .unwrap_or_default()
}

fn resource_id(
    item: &Value,
    region: Option<&str>,
    account: Option<&str>,
    name: Option<&str>,
) -> Option<String> {
    let rid = j::string(item, "resource.id");
    if let Some(r) = rid.as_deref().filter(|r| is_qualified_cloud_id(r)) {
        return Some(r.to_string());
    }
    let data = j::at(item, "resource.data");
    if let Some(arn) = data.and_then(|d| arn_in_data(d, rid.as_deref(), name)) {
        return Some(arn);
    }
    if let Some(az) = j::string(item, "resource.data.id").filter(|s| is_azure_id(s)) {
        return Some(az);
    }
    if let Some(g) = data.and_then(gcp_full_name_from_data) {
        return Some(g);
    }
    if let (Some(r), Some(reg), Some(acct)) = (rid.as_deref(), region, account) {
        if let Some(arn) = aws_ec2_arn(reg, acct, r) {
            return Some(arn);
        }
        let api = j::string(item, "resource.resourceApiName").unwrap_or_default();
        if api.starts_with("aws-s3api-") {
            return Some(format!("arn:{}:s3:::{r}", aws_partition(reg)));
        }
    }
    j::string(item, "resource.rrn").or(rid)
}

/// Already globally unique: an ARN, an Azure resource id, a GCP full resource name, an OCID.
pub(crate) fn is_qualified_cloud_id(s: &str) -> bool {
    s.starts_with("arn:") || is_azure_id(s) || s.starts_with("//") || s.starts_with("ocid1.")
}

fn is_azure_id(s: &str) -> bool {
    s.len() > 15
        && s.get(..15)
            .is_some_and(|p| p.eq_ignore_ascii_case("/subscriptions/"))
}

/// A top-level ARN in the raw cloud JSON that names this resource (one of its `/`- or
/// `:`-separated segments is the resource id or name). `arn` wins over `*Arn` keys, which
/// can name related resources (an RDS instance's `monitoringRoleArn`).
fn arn_in_data(data: &Value, rid: Option<&str>, name: Option<&str>) -> Option<String> {
    let m = data.as_object()?;
    let names_this = |arn: &str| {
        arn.split([':', '/'])
            .skip(5)
            .any(|seg| !seg.is_empty() && (Some(seg) == rid || Some(seg) == name))
    };
    let mut keyed: Vec<(&String, &str)> = m
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().ends_with("arn"))
        .filter_map(|(k, v)| Some((k, v.as_str()?)))
        .filter(|(_, v)| v.starts_with("arn:"))
        .collect();
    keyed.sort_by_key(|(k, _)| !k.eq_ignore_ascii_case("arn"));
    keyed
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| names_this(v))
        .map(str::to_string)
}

/// The GCP full resource name (`//compute.googleapis.com/projects/p/zones/z/instances/n`)
/// from the API object: compute and storage `selfLink`s, Cloud SQL `selfLink`s, and the
/// `projects/…/serviceAccounts/…` name of an IAM service account.
fn gcp_full_name_from_data(data: &Value) -> Option<String> {
    if let Some(link) = j::string(data, "selfLink") {
        let rest = link.strip_prefix("https://")?;
        for (prefix, host) in [
            ("www.googleapis.com/compute/v1/", "compute"),
            ("www.googleapis.com/compute/beta/", "compute"),
            ("compute.googleapis.com/compute/v1/", "compute"),
        ] {
            if let Some(path) = rest.strip_prefix(prefix) {
                return Some(format!("//{host}.googleapis.com/{path}"));
            }
        }
        if let Some(bucket) = rest.strip_prefix("www.googleapis.com/storage/v1/b/") {
            return Some(format!(
                "//storage.googleapis.com/projects/_/buckets/{bucket}"
            ));
        }
        if let Some(path) = rest
            .strip_prefix("sqladmin.googleapis.com/sql/v1beta4/")
            .or_else(|| rest.strip_prefix("www.googleapis.com/sql/v1beta4/"))
        {
            return Some(format!("//cloudsql.googleapis.com/{path}"));
        }
    }
    let name = j::string(data, "name")?;
    (name.starts_with("projects/") && name.contains("/serviceAccounts/"))
        .then(|| format!("//iam.googleapis.com/{name}"))
}

pub(super) fn aws_partition(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        "aws"
    }
}

/// The ARN of an EC2 object from its id (`i-…`, `sg-…`, …), region and account.
pub(crate) fn aws_ec2_arn(region: &str, account: &str, id: &str) -> Option<String> {
    let kind = [
        ("i-", "instance"),
        ("sg-", "security-group"),
        ("vol-", "volume"),
        ("vpc-", "vpc"),
        ("subnet-", "subnet"),
        ("eni-", "network-interface"),
        ("ami-", "image"),
    ]
    .iter()
    .find(|(p, _)| id.starts_with(p) && id.len() > p.len() && !id.contains(['/', ':']))?
    .1;
    if region.is_empty() || account.is_empty() {
        return None;
    }
    Some(format!(
        "arn:{}:ec2:{region}:{account}:{kind}/{id}",
        aws_partition(region)
    ))
}

fn compliance(item: &Value) -> Vec<Compliance> {
    let mut out: Vec<Compliance> = Vec::new();
    let Some(entries) = j::at(item, "policy.complianceMetadata").and_then(Value::as_array) else {
        return out;
    };
    for e in entries {
        let Some(standard) = j::string(e, "standardName") else {
            continue;
        };
        let c = Compliance {
            standard,
            requirement: j::first_string(e, &["sectionId", "requirementId"]),
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// `policy.recommendation` (prose) and `policy.remediation.cliScriptTemplate` (CLI), both
/// when present.
fn remediation(item: &Value) -> Option<String> {
    let prose = j::string(item, "policy.recommendation");
    let cli = j::string(item, "policy.remediation.cliScriptTemplate")
        .map(|c| format!("CLI remediation:\n{c}"));
    match (prose, cli) {
        (Some(p), Some(c)) => Some(format!("{p}\n\n{c}")),
        (p, c) => p.or(c),
    }
}

/// Exposure as the policy states it: network/config policies whose name says the resource
/// is open to the internet, and the ports the name gives.
fn exposure(policy_name: Option<&str>, policy_type: Option<&str>) -> Exposure {
    let mut e = Exposure::default();
    let (Some(name), Some("network" | "config" | "attack_path" | "data")) =
        (policy_name, policy_type)
    else {
        return e;
    };
    let lower = name.to_ascii_lowercase();
    const STATED: [&str; 9] = [
        "0.0.0.0/0",
        "::/0",
        "internet reachable",
        "internet exposed",
        "exposed to the internet",
        "from the internet",
        "from internet",
        "publicly accessible",
        "publicly readable",
    ];
    if STATED.iter().any(|s| lower.contains(s)) {
        e.internet_facing = Some(true);
    }
    e.open_ports = j::ports_in_text(name);
    e
}

/// Prisma alerts carry no graph; what they do say about paths is kept: the policy facts of
/// `attack_path` policies and of policies labelled "Attack Path Rule", and the connection
/// details of network-event alerts.
fn attack_context(item: &Value, policy_type: Option<&str>) -> Option<Value> {
    let labels = j::strings(item, "policy.labels");
    let path_rule = labels
        .iter()
        .any(|l| l.eq_ignore_ascii_case("attack path rule"));
    let connections = j::at(item, "connectionDetails")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    if policy_type != Some("attack_path") && !path_rule && connections.is_none() {
        return None;
    }
    let mut ctx = Map::new();
    if let Some(p) = policy_type {
        ctx.insert("policyType".into(), json!(p));
    }
    if let Some(n) = j::string(item, "policy.name") {
        ctx.insert("policyName".into(), json!(n));
    }
    if !labels.is_empty() {
        ctx.insert("labels".into(), json!(labels));
    }
    let finding_types = j::strings(item, "policy.findingTypes");
    if !finding_types.is_empty() {
        ctx.insert("findingTypes".into(), json!(finding_types));
    }
    if let Some(c) = connections {
        ctx.insert("connectionDetails".into(), Value::Array(c.clone()));
    }
    Some(Value::Object(ctx))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde_json::json;

    use super::*;
    use crate::sim::world::{SimFinding, SimStatus, World};
    use crate::sources::corpus;
    use crate::vendors::prisma_cspm::sim::emit;

    #[test]
    fn corpus_files_give_the_manifest_counts() {
        let rows = corpus::manifest("prisma-cspm");
        if corpus::dir().is_some() {
            assert!(!rows.is_empty(), "no prisma-cspm rows in MANIFEST.tsv");
        }
        for (file, _shape, n) in rows {
            let Some(body) = corpus::load(&file) else {
                return;
            };
            let alerts = map(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(alerts.len(), n, "{file}");
            for a in &alerts {
                assert_eq!(a.vendor, Vendor::PrismaCspm);
                assert!(!a.title.is_empty());
            }
        }
    }

    #[test]
    fn v2_page_maps_every_field_of_the_elastic_alerts() {
        let Some(body) = corpus::load("prisma-cspm/elastic-v2-alert-post-page1.json") else {
            return;
        };
        let alerts = map(&body).expect("page 1");
        let a = &alerts[0];
        assert_eq!(a.native_id, "P-1");
        assert_eq!(
            a.title,
            "AWS EC2 instance that is internet reachable with unrestricted access (0.0.0.0/0)"
        );
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.policy.vendor_severity.as_deref(), Some("high"));
        assert_eq!(
            a.policy.id.as_deref(),
            Some("ad23603d-754e-4499-8988-b801xxx85898")
        );
        assert_eq!(a.category, Category::Network);
        assert_eq!(a.vendor_status, VendorState::Open);
        assert_eq!(
            a.resource.id.as_deref(),
            Some("arn:aws:ec2:us-east-1:710002259376:instance/i-04578exxxx8100947")
        );
        assert_eq!(a.resource.name.as_deref(), Some("IS-37133"));
        assert_eq!(a.resource.rtype.as_deref(), Some("INSTANCE"));
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
        assert_eq!(a.resource.account.as_deref(), Some("710002259376"));
        assert_eq!(a.resource.region.as_deref(), Some("us-east-1"));
        assert!(a.resource.tags.is_empty());
        assert_eq!(a.first_seen, Some(1694003441966));
        assert_eq!(a.last_seen, Some(1694003441966));
        assert_eq!(a.vendor_updated, Some(1694003441966));
        assert_eq!(
            alerts[1].vendor_updated,
            Some(1694003442000),
            "lastUpdated after lastSeen wins"
        );
        assert_eq!(
            a.compliance,
            vec![Compliance {
                standard: "Class 1".into(),
                requirement: Some("sect-453-abc".into())
            }]
        );
        let rem = a.remediation.as_deref().expect("remediation");
        assert!(
            rem.starts_with("The following steps are recommended"),
            "{rem}"
        );
        assert!(rem.ends_with("CLI remediation:\ntemp1"), "{rem}");
        assert_eq!(a.exposure.internet_facing, Some(true));
        assert!(a.cves.is_empty());
        let ctx = a
            .attack_context
            .as_ref()
            .expect("an Attack Path Rule label keeps context");
        assert_eq!(ctx["policyType"], "network");
        assert_eq!(a.raw, body["items"][0]);
        assert!(
            a.description
                .as_deref()
                .is_some_and(|d| d.starts_with("This policy identifies"))
        );
    }

    #[test]
    fn single_elastic_item_builds_the_arn_from_the_ec2_id() {
        let Some(body) = corpus::load("prisma-cspm/elastic-test-alert-item.json") else {
            return;
        };
        let a = &map(&body).expect("item")[0];
        assert_eq!(a.native_id, "N-3910");
        assert_eq!(
            a.resource.id.as_deref(),
            Some("arn:aws:ec2:us-xxxx-1:7111xx259376:instance/i-04578e97170000047")
        );
        assert_eq!(a.resource.region.as_deref(), Some("us-xxxx-1"));
        assert_eq!(a.resource.account.as_deref(), Some("7111xx259376"));
        assert_eq!(a.first_seen, Some(1694003441966));
        assert_eq!(a.severity, Severity::High);
    }

    #[test]
    fn xsoar_detailed_alert_without_policy_name_or_severity() {
        let Some(body) = corpus::load("prisma-cspm/xsoar-redlock-alert-raw.json") else {
            return;
        };
        let a = &map(&body).expect("item")[0];
        assert_eq!(a.native_id, "P-1496074");
        assert_eq!(
            a.title,
            "Prisma Cloud config policy c29d7ea0-3913-4635-85bd-c4e68aab0ba1 on vm-series-demo"
        );
        assert_eq!(a.category, Category::Misconfiguration);
        assert_eq!(a.severity, Severity::Other("unknown".into()));
        assert_eq!(a.policy.vendor_severity, None);
        assert_eq!(a.vendor_status, VendorState::Resolved);
        assert_eq!(
            a.resource.id.as_deref(),
            Some(
                "//compute.googleapis.com/projects/gcp-demo1/zones/us-central1-b/instances/vm-series-demo"
            )
        );
        assert_eq!(a.resource.name.as_deref(), Some("vm-series-demo"));
        assert_eq!(a.resource.rtype.as_deref(), Some("INSTANCE"));
        assert_eq!(a.resource.cloud, Some(Cloud::Gcp));
        assert_eq!(a.resource.account.as_deref(), Some("gcp-demo1"));
        assert_eq!(a.resource.region.as_deref(), Some("us-central1"));
        let tags: BTreeMap<String, String> = [(
            "vm-series-fw-template-version".to_string(),
            "1-0-0".to_string(),
        )]
        .into();
        assert_eq!(a.resource.tags, tags, "GCP labels, not network tags");
        assert_eq!(a.first_seen, Some(1668769934085));
        assert_eq!(a.last_seen, Some(1668855894492));
        assert_eq!(a.vendor_updated, Some(1668855894492));
        assert_eq!(a.remediation, None);
        assert!(a.compliance.is_empty());
        assert_eq!(a.attack_context, None);
    }

    #[test]
    fn sniff_knows_our_files_and_no_one_elses() {
        corpus::assert_sniff_claims_only_its_own("prisma-cspm", sniff);
    }

    fn world_alerts(seed: u64) -> (World, Vec<Alert>) {
        let world = World::generate(seed, 300, 1_760_000_000_000);
        let fs: Vec<&SimFinding> = world.findings_for(Vendor::PrismaCspm).collect();
        let body = emit::list_body(emit::items(&world, &fs));
        let text = serde_json::to_string(&body).expect("serialize");
        let parsed: Value = serde_json::from_str(&text).expect("parse");
        let alerts = map(&parsed).expect("emitted body maps");
        (world, alerts)
    }

    #[test]
    fn emitted_world_round_trips() {
        let (world, alerts) = world_alerts(11);
        let fs: Vec<&SimFinding> = world.findings_for(Vendor::PrismaCspm).collect();
        assert_eq!(alerts.len(), fs.len());
        let by_id: HashMap<&str, &Alert> =
            alerts.iter().map(|a| (a.native_id.as_str(), a)).collect();
        assert_eq!(by_id.len(), alerts.len(), "native ids are unique");
        for f in fs {
            let id = emit::native_id(&world, f);
            let a = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("no alert {id}"));
            let r = world.resource_of(f);
            assert_eq!(a.severity, f.severity.severity(), "{id}");
            assert_eq!(a.category, f.rule.category.category(), "{id}");
            assert_eq!(
                a.resource.id.as_deref(),
                Some(r.id.as_str()),
                "{id} {:?} {:?}",
                r.cloud,
                r.kind
            );
            assert_eq!(
                a.resource.account.as_deref(),
                Some(r.account.as_str()),
                "{id}"
            );
            assert_eq!(
                a.resource.region.as_deref(),
                Some(r.region.as_str()),
                "{id}"
            );
            assert_eq!(a.resource.cloud.as_ref(), Some(&r.cloud), "{id}");
            assert_eq!(a.resource.tags, r.tags, "{id}");
            assert_eq!(a.title, f.rule.name);
            assert_eq!(a.first_seen, Some(f.created_ms), "{id}");
            assert_eq!(a.last_seen, Some(f.updated_ms), "{id}");
            assert_eq!(a.vendor_updated, Some(f.updated_ms), "{id}");
            assert_eq!(a.compliance.len(), f.rule.compliance.len(), "{id}");
            assert!(a.remediation.is_some());
            let want = match f.status {
                SimStatus::Open => VendorState::Open,
                SimStatus::InProgress => VendorState::InProgress,
                SimStatus::Resolved => VendorState::Resolved,
                SimStatus::Dismissed => VendorState::Dismissed,
            };
            assert_eq!(a.vendor_status, want, "{id}");
        }
        let f = world
            .findings_for(Vendor::PrismaCspm)
            .next()
            .expect("a finding");
        let one = emit::items(&world, &[f]).remove(0);
        let alone = map(&one).expect("one emitted alert maps alone");
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].native_id, emit::native_id(&world, f));
    }

    #[test]
    fn legacy_array_and_minimal_items() {
        let minimal = json!({"id": "P-9", "policyId": "p", "resource": {}});
        let legacy = json!([minimal.clone(), {"id": "P-10", "policy": {"policyType": "anomaly"}, "firstSeen": 5}]);
        let alerts = map(&legacy).expect("legacy array");
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].title, "Prisma Cloud policy p");
        assert_eq!(alerts[0].category, Category::Other("unknown".into()));
        assert_eq!(alerts[1].category, Category::Runtime);
        assert_eq!(
            alerts[1].first_seen,
            Some(5000),
            "small numbers are seconds"
        );
        let page = json!({"totalRows": 1, "items": [{"id": "P-11"}]});
        assert_eq!(
            map(&page).expect("bare item in a page")[0].native_id,
            "P-11"
        );
        assert_eq!(map(&json!([])).expect("empty legacy array"), Vec::new());
    }

    #[test]
    fn missing_ids_and_wrong_shapes_are_errors() {
        let page =
            json!({"totalRows": 2, "items": [{"id": "P-1"}, {"policyId": "p", "resource": {}}]});
        assert_eq!(
            map(&page),
            Err(MapError::Item {
                index: 1,
                detail: "alert has no `id`".into()
            })
        );
        let arr = json!([{"id": "P-1", "policyId": "p", "resource": {}}, 7]);
        assert!(matches!(map(&arr), Err(MapError::Item { index: 1, .. })));
        assert!(matches!(
            map(&json!({"data": {"issues": {}}})),
            Err(MapError::Shape { .. })
        ));
        assert!(matches!(
            map(&json!([{"_id": "a", "time": "x", "msg": "m"}])),
            Err(MapError::Shape { .. })
        ));
        assert!(matches!(map(&json!("text")), Err(MapError::Shape { .. })));
        let login = json!({"token": "jwt", "message": "login_successful", "customerNames": []});
        assert_eq!(
            map(&login),
            Err(MapError::NotAlerts {
                what: "a Prisma Cloud login response"
            })
        );
        assert_eq!(sniff(&login), Some("a Prisma Cloud login response"));
    }

    #[test]
    fn policy_types_and_statuses() {
        let cases = [
            ("config", Category::Misconfiguration),
            ("network", Category::Network),
            ("iam", Category::Identity),
            ("data", Category::Data),
            ("workload_vulnerability", Category::Vulnerability),
            ("audit_event", Category::Runtime),
            ("anomaly", Category::Runtime),
            ("workload_incident", Category::Runtime),
            ("malware", Category::Runtime),
            ("attack_path", Category::Network),
            ("api", Category::Other("api".into())),
        ];
        for (t, c) in cases {
            let a =
                json!({"id": "P-1", "policy": {"policyType": t.to_uppercase()}, "resource": {}});
            assert_eq!(map(&a).expect("maps")[0].category, c, "{t}");
        }
        let ap = json!({"id": "P-1", "policy": {"policyType": "attack_path", "name": "Internet exposed VM with admin role"}, "resource": {}});
        let a = &map(&ap).expect("maps")[0];
        assert_eq!(
            a.attack_context.as_ref().map(|c| c["policyType"].clone()),
            Some(json!("attack_path"))
        );
        assert_eq!(a.exposure.internet_facing, Some(true));
        for (s, want) in [
            ("PENDING_RESOLUTION", VendorState::InProgress),
            ("snoozed", VendorState::Snoozed),
            ("dismissed", VendorState::Dismissed),
            ("archived", VendorState::Other("archived".into())),
        ] {
            let a = json!({"id": "P-1", "status": s, "policyId": "p", "resource": {}});
            assert_eq!(map(&a).expect("maps")[0].vendor_status, want);
        }
    }

    #[test]
    fn resource_identity_ladder() {
        let alert = |res: Value| json!({"id": "P-1", "policyId": "p", "resource": res});
        let id = |res: Value| map(&alert(res)).expect("maps")[0].resource.id.clone();
        // An ARN in the data that names the resource beats the rrn; a related ARN does not.
        let rds = json!({"id": "orders", "name": "orders", "rrn": "rrn:aws:rds:x", "regionId": "eu-west-1", "accountId": "1",
            "data": {"monitoringRoleArn": "arn:aws:iam::1:role/rds-monitor", "dbinstanceArn": "arn:aws:rds:eu-west-1:1:db:orders"}});
        assert_eq!(
            id(rds).as_deref(),
            Some("arn:aws:rds:eu-west-1:1:db:orders")
        );
        let other = json!({"id": "orders", "rrn": "rrn:aws:rds:x", "data": {"monitoringRoleArn": "arn:aws:iam::1:role/rds-monitor"}});
        assert_eq!(id(other).as_deref(), Some("rrn:aws:rds:x"));
        let s3 = json!({"id": "logs", "regionId": "us-gov-west-1", "accountId": "1", "resourceApiName": "aws-s3api-get-bucket-acl"});
        assert_eq!(id(s3).as_deref(), Some("arn:aws-us-gov:s3:::logs"));
        let az = json!({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"});
        assert_eq!(
            id(az).as_deref(),
            Some(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
            )
        );
        let sa = json!({"id": "123", "cloudType": "GCP", "data": {"name": "projects/p/serviceAccounts/a@p.iam.gserviceaccount.com"}});
        assert_eq!(
            id(sa).as_deref(),
            Some("//iam.googleapis.com/projects/p/serviceAccounts/a@p.iam.gserviceaccount.com")
        );
        let bucket =
            json!({"id": "b", "data": {"selfLink": "https://www.googleapis.com/storage/v1/b/b"}});
        assert_eq!(
            id(bucket).as_deref(),
            Some("//storage.googleapis.com/projects/_/buckets/b")
        );
        assert_eq!(id(json!({"id": "plain"})).as_deref(), Some("plain"));
        let tagged = json!({"id": "i-1", "cloudType": "AWS", "data": {"tags": [{"key": "env", "value": "prod"}]}});
        let a = &map(&alert(tagged)).expect("maps")[0];
        assert_eq!(a.resource.tags.get("env").map(String::as_str), Some("prod"));
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
    }

    /// Attack-path policies (by type or by label) become the typed hint triage reads, named
    /// by the policy, else the title.
    #[test]
    fn attack_path_policies_are_typed_vendor_paths() {
        let mut a = Alert::new(Vendor::PrismaCspm, "P", json!({}));
        a.title = "Title".into();
        a.attack_context = Some(
            json!({"policyType": "attack_path", "policyName": "Internet exposed instance with IAM role"}),
        );
        assert_eq!(
            vendor_path(&a),
            Some(VendorPath {
                kind: VendorPathKind::PrismaAttackPathPolicy,
                name: "Internet exposed instance with IAM role".into()
            })
        );
        a.attack_context = Some(json!({"policyType": "config", "labels": ["Attack Path Rule"]}));
        assert_eq!(vendor_path(&a).map(|p| p.name), Some("Title".into()));
        a.attack_context = Some(json!({"policyType": "network", "connectionDetails": [{}]}));
        assert_eq!(vendor_path(&a), None);
    }
}
