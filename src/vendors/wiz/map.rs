//! Wiz (GraphQL) payloads → alerts. The accepted bodies and the category rules are in
//! docs/vendors.md ("Mapper details"); the tests below pin them.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::domain::{
    Alert, Category, Cloud, Compliance, Cve, RawJson, Resource, Severity, Vendor, VendorPath,
    VendorPathKind, VendorState,
};
use crate::sources::{MapError, json as j};

const VENDOR: &str = "wiz";

/// The GraphQL connections under `data` that carry findings, in the order they are read.
const ISSUE_CONNECTIONS: [&str; 2] = ["issues", "issuesV2"];
const VULN_CONNECTION: &str = "vulnerabilityFindings";

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Issue,
    Vulnerability,
}

/// Where list replies keep their items (`[]`: the reply is the array), for item-by-item
/// mapping ([`crate::sources::Page`]).
pub const ITEM_PATHS: crate::sources::ItemPaths = &[
    &["data", "issues", "nodes"],
    &["data", "issuesV2", "nodes"],
    &["data", "vulnerabilityFindings", "nodes"],
    &["nodes"],
    &[],
];

/// Map, then type each alert's attack-path hint from its context (see [`vendor_path`]).
pub fn map(body: &Value) -> Result<Vec<Alert>, MapError> {
    let mut alerts = map_body(body)?;
    for a in &mut alerts {
        a.vendor_path = vendor_path(a);
    }
    Ok(alerts)
}

/// A toxic combination is Wiz's own attack path; it is named by its rule (else the title).
fn vendor_path(a: &Alert) -> Option<VendorPath> {
    let c = a.attack_context.as_ref()?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(crate::sanitize::one_line);
    if !s(c.get("issueType")).is_some_and(|t| t.eq_ignore_ascii_case("TOXIC_COMBINATION")) {
        return None;
    }
    let name = c
        .pointer("/rule/name")
        .and_then(Value::as_str)
        .unwrap_or(&a.title);
    Some(VendorPath {
        kind: VendorPathKind::WizToxicCombination,
        name: name.to_string(),
    })
}

fn map_body(body: &Value) -> Result<Vec<Alert>, MapError> {
    match body {
        Value::Object(obj) => {
            if let Some(msg) = graphql_error(obj) {
                return Err(shape(format!("the GraphQL response carries errors: {msg}")));
            }
            if is_token_response(obj) {
                return Err(MapError::NotAlerts {
                    what: "a Wiz OAuth token response",
                });
            }
            if obj.contains_key("data") {
                return map_data(obj.get("data").unwrap_or(&Value::Null));
            }
            if let Some(nodes) = connection_nodes(body) {
                // A connection saved on its own: `{"nodes": [...], "pageInfo": {...}}`.
                let kind = nodes
                    .first()
                    .map(|n| {
                        if looks_like_vuln(n) {
                            NodeKind::Vulnerability
                        } else {
                            NodeKind::Issue
                        }
                    })
                    .unwrap_or(NodeKind::Issue);
                return map_nodes(nodes.into_iter().map(|n| (kind, n)).collect());
            }
            if looks_like_vuln(body) {
                return map_nodes(vec![(NodeKind::Vulnerability, body)]);
            }
            if looks_like_issue(body) {
                return map_nodes(vec![(NodeKind::Issue, body)]);
            }
            Err(shape(
                "expected a GraphQL response with data.issues / data.issuesV2 / \
                 data.vulnerabilityFindings, or a single Wiz issue"
                    .into(),
            ))
        }
        Value::Array(items) => {
            let first_is_wiz = items
                .first()
                .is_some_and(|n| looks_like_issue(n) || looks_like_vuln(n));
            if !first_is_wiz {
                return Err(shape("expected an array of Wiz issue nodes".into()));
            }
            map_nodes(
                items
                    .iter()
                    .map(|n| {
                        (
                            if looks_like_vuln(n) {
                                NodeKind::Vulnerability
                            } else {
                                NodeKind::Issue
                            },
                            n,
                        )
                    })
                    .collect(),
            )
        }
        _ => Err(shape(
            "expected a JSON object (a GraphQL response or a Wiz issue)".into(),
        )),
    }
}

pub fn sniff(body: &Value) -> Option<&'static str> {
    let obj = body.as_object()?;
    if graphql_error(obj).is_some()
        && obj
            .keys()
            .all(|k| matches!(k.as_str(), "errors" | "data" | "extensions"))
    {
        return Some("a GraphQL error response (Wiz)");
    }
    if let Some(Value::Object(data)) = obj.get("data") {
        if ISSUE_CONNECTIONS
            .iter()
            .any(|k| data.get(*k).is_some_and(is_connection))
        {
            return Some("a Wiz GraphQL issues response");
        }
        if data.get(VULN_CONNECTION).is_some_and(is_connection) {
            return Some("a Wiz GraphQL vulnerability findings response");
        }
        if data.get("issue").is_some_and(looks_like_issue) {
            return Some("a Wiz GraphQL issue response");
        }
    }
    if is_token_response(obj) {
        return Some("a Wiz OAuth token response");
    }
    if looks_like_issue(body) {
        return Some("a Wiz issue");
    }
    if looks_like_vuln(body) {
        return Some("a Wiz vulnerability finding");
    }
    None
}

fn shape(detail: String) -> MapError {
    MapError::Shape {
        vendor: VENDOR,
        detail,
    }
}

/// The first GraphQL error message when `errors` is a non-empty array.
fn graphql_error(obj: &Map<String, Value>) -> Option<String> {
    let errors = obj.get("errors")?.as_array()?;
    let first = errors.first()?;
    let msg = j::string(first, "message").unwrap_or_else(|| first.to_string());
    let mut msg: String = msg.chars().filter(|c| !c.is_control()).take(300).collect();
    if errors.len() > 1 {
        msg.push_str(&format!(" (and {} more)", errors.len() - 1));
    }
    Some(msg)
}

fn is_token_response(obj: &Map<String, Value>) -> bool {
    obj.contains_key("access_token")
        && (obj.contains_key("token_type") || obj.contains_key("expires_in"))
}

fn is_connection(v: &Value) -> bool {
    v.get("nodes").is_some_and(Value::is_array)
        || v.get("edges").is_some_and(Value::is_array)
        || v.get("pageInfo").is_some_and(Value::is_object)
}

/// The nodes of a GraphQL connection (`nodes[]` or Relay `edges[].node`).
fn connection_nodes(conn: &Value) -> Option<Vec<&Value>> {
    if let Some(nodes) = conn.get("nodes").and_then(Value::as_array) {
        return Some(nodes.iter().collect());
    }
    let edges = conn.get("edges")?.as_array()?;
    Some(edges.iter().map(|e| e.get("node").unwrap_or(e)).collect())
}

fn looks_like_issue(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    let has = |k: &str| o.get(k).is_some_and(|x| !x.is_null());
    (has("sourceRule") || has("sourceRules") || has("control"))
        && (has("entitySnapshot") || has("severity") || has("id"))
        || has("entitySnapshot") && (has("status") || has("severity"))
}

/// Is this stored payload one of Wiz's vulnerability findings (not an issue)?
pub fn is_vulnerability_finding(v: &Value) -> bool {
    looks_like_vuln(v) && !looks_like_issue(v)
}

fn looks_like_vuln(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    if o.get("vulnerableAsset").is_some_and(Value::is_object) {
        return true;
    }
    let cve_name = o
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.starts_with("CVE-"));
    cve_name
        && (o.contains_key("detailedName")
            || o.contains_key("fixedVersion")
            || o.contains_key("CVSSSeverity"))
}

fn map_data(data: &Value) -> Result<Vec<Alert>, MapError> {
    let Some(d) = data.as_object() else {
        return Err(shape(
            "the GraphQL response has no data (data is null) and no errors".into(),
        ));
    };
    let mut nodes: Vec<(NodeKind, &Value)> = Vec::new();
    let mut found = false;
    for key in ISSUE_CONNECTIONS.iter().copied().chain([VULN_CONNECTION]) {
        let Some(conn) = d.get(key) else { continue };
        found = true;
        let kind = if key == VULN_CONNECTION {
            NodeKind::Vulnerability
        } else {
            NodeKind::Issue
        };
        if conn.is_null() {
            return Err(shape(format!("data.{key} is null")));
        }
        let list = connection_nodes(conn)
            .ok_or_else(|| shape(format!("data.{key} has neither nodes[] nor edges[]")))?;
        nodes.extend(list.into_iter().map(|n| (kind, n)));
    }
    if !found {
        if let Some(issue) = d.get("issue").filter(|i| i.is_object()) {
            return map_nodes(vec![(NodeKind::Issue, issue)]);
        }
        let keys: Vec<&str> = d.keys().map(String::as_str).take(5).collect();
        return Err(shape(format!(
            "expected data.issues, data.issuesV2 or data.vulnerabilityFindings, found data.{{{}}}",
            keys.join(", ")
        )));
    }
    map_nodes(nodes)
}

fn map_nodes(nodes: Vec<(NodeKind, &Value)>) -> Result<Vec<Alert>, MapError> {
    nodes
        .into_iter()
        .enumerate()
        .map(|(index, (kind, node))| {
            let mapped = match kind {
                NodeKind::Issue => map_issue(node),
                NodeKind::Vulnerability => map_vulnerability(node),
            };
            mapped.map_err(|detail| MapError::Item { index, detail })
        })
        .collect()
}

fn map_issue(node: &Value) -> Result<Alert, String> {
    if !node.is_object() {
        return Err("the Wiz issue is not a JSON object".into());
    }
    let id = j::string(node, "id").ok_or("the Wiz issue has no id")?;
    let mut a = Alert::new(Vendor::Wiz, id.clone(), RawJson::of(node));
    let rule = source_rule(node);
    let entity = node
        .get("entitySnapshot")
        .filter(|e| e.is_object())
        .or_else(|| node.get("entity").filter(|e| e.is_object()));
    let issue_type = j::string(node, "type");

    a.title = rule
        .and_then(|r| j::string(r, "name"))
        .or_else(|| {
            let what = issue_type
                .as_deref()
                .map(humanize)
                .unwrap_or_else(|| "Wiz issue".into());
            entity
                .and_then(|e| j::string(e, "name"))
                .map(|n| format!("{what} on {n}"))
        })
        .unwrap_or_else(|| format!("Wiz issue {id}"));
    a.description = rule.and_then(|r| {
        j::first_string(
            r,
            &[
                "controlDescription",
                "cloudEventRuleDescription",
                "cloudConfigurationRuleDescription",
                "description",
            ],
        )
    });
    a.remediation = rule
        .and_then(|r| j::first_string(r, &["resolutionRecommendation", "remediationInstructions"]));
    a.policy.id = rule.and_then(|r| j::string(r, "id"));
    a.policy.name = rule.and_then(|r| j::string(r, "name"));
    a.policy.vendor_severity = j::string(node, "severity");
    a.severity = a
        .policy
        .vendor_severity
        .as_deref()
        .map(Severity::from_vendor)
        .unwrap_or(Severity::Other("unknown".into()));
    a.vendor_status = status(j::string(node, "status").as_deref());
    a.category = issue_category(issue_type.as_deref(), rule);
    if let Some(e) = entity {
        a.resource = resource(e, &["providerId", "externalId", "providerUniqueId"]);
    }
    a.compliance = rule.map(compliance).unwrap_or_default();
    a.first_seen = j::time(node, "createdAt");
    a.last_seen = j::first_time(node, &["updatedAt", "statusChangedAt", "createdAt"]);
    a.vendor_updated = j::first_time(node, &["updatedAt", "statusChangedAt"]).or(a.last_seen);
    a.attack_context = attack_context(node, issue_type.as_deref(), rule);
    Ok(a)
}

fn map_vulnerability(node: &Value) -> Result<Alert, String> {
    if !node.is_object() {
        return Err("the Wiz vulnerability finding is not a JSON object".into());
    }
    let id = j::string(node, "id").ok_or("the Wiz vulnerability finding has no id")?;
    let mut a = Alert::new(Vendor::Wiz, id.clone(), RawJson::of(node));
    let cve_id = j::string(node, "name");
    let package = j::string(node, "detailedName");
    let version = j::string(node, "version");
    a.title = match (&cve_id, &package) {
        (Some(c), Some(p)) => match &version {
            Some(v) => format!("{c} in {p} {v}"),
            None => format!("{c} in {p}"),
        },
        (Some(c), None) => c.clone(),
        _ => format!("Wiz vulnerability finding {id}"),
    };
    a.category = Category::Vulnerability;
    a.description = j::first_string(node, &["CVEDescription", "description"]);
    a.remediation = j::string(node, "remediation");
    a.policy.name = cve_id.clone();
    a.policy.vendor_severity =
        j::first_string(node, &["severity", "vendorSeverity", "CVSSSeverity"]);
    a.severity = a
        .policy
        .vendor_severity
        .as_deref()
        .map(Severity::from_vendor)
        .unwrap_or(Severity::Other("unknown".into()));
    a.vendor_status = status(j::string(node, "status").as_deref());
    if let Some(asset) = node.get("vulnerableAsset").filter(|x| x.is_object()) {
        a.resource = resource(asset, &["providerUniqueId", "providerId", "externalId"]);
        let wide = j::boolean(asset, "hasWideInternetExposure");
        let limited = j::boolean(asset, "hasLimitedInternetExposure");
        a.exposure.internet_facing = match (wide, limited) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (None, None) => None,
            _ => Some(false),
        };
    }
    if let Some(cve) = cve_id.filter(|c| c.to_ascii_uppercase().starts_with("CVE-")) {
        a.cves.push(Cve {
            id: cve,
            cvss: j::float(node, "score").or_else(|| j::float(node, "cvssv3.baseScore")),
            cvss_vector: j::first_string(
                node,
                &["cvssVector", "CVSSVector", "cvssv3.vectorString"],
            ),
            package,
            package_version: version,
            fixed_version: j::string(node, "fixedVersion"),
        });
    }
    a.first_seen = j::time(node, "firstDetectedAt");
    a.last_seen = j::first_time(node, &["lastDetectedAt", "firstDetectedAt"]);
    a.vendor_updated = j::first_time(node, &["updatedAt", "lastDetectedAt"]).or(a.last_seen);
    Ok(a)
}

/// `sourceRule`, else the first of `sourceRules[]` (newer schema), else the legacy `control`.
fn source_rule(node: &Value) -> Option<&Value> {
    node.get("sourceRule")
        .filter(|r| r.is_object())
        .or_else(|| {
            node.get("sourceRules")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|r| r.is_object()))
        })
        .or_else(|| node.get("control").filter(|r| r.is_object()))
}

fn status(s: Option<&str>) -> VendorState {
    match s.map(|x| x.trim().to_ascii_uppercase()) {
        None => VendorState::Other("unknown".into()),
        Some(x) => match x.as_str() {
            "OPEN" => VendorState::Open,
            "IN_PROGRESS" => VendorState::InProgress,
            "RESOLVED" => VendorState::Resolved,
            "REJECTED" => VendorState::Dismissed,
            _ => VendorState::Other(x.to_ascii_lowercase()),
        },
    }
}

fn issue_category(issue_type: Option<&str>, rule: Option<&Value>) -> Category {
    let typename = rule.and_then(|r| j::string(r, "__typename"));
    match issue_type.map(|t| t.trim().to_ascii_uppercase()) {
        Some(t) => match t.as_str() {
            "THREAT_DETECTION" => Category::Runtime,
            "CLOUD_CONFIGURATION" => Category::Misconfiguration,
            "VULNERABILITY" => Category::Vulnerability,
            "TOXIC_COMBINATION" => category_from_facts(rule)
                .unwrap_or_else(|| Category::Other("toxic_combination".into())),
            other => Category::Other(other.to_ascii_lowercase()),
        },
        None => match typename.as_deref() {
            Some("CloudConfigurationRule") => Category::Misconfiguration,
            Some("CloudEventRule") => Category::Runtime,
            _ => category_from_facts(rule).unwrap_or_else(|| Category::Other("unknown".into())),
        },
    }
}

/// The category a Wiz rule's own facts point at: its sub-categories in Wiz's own frameworks,
/// then its name.
fn category_from_facts(rule: Option<&Value>) -> Option<Category> {
    let rule = rule?;
    if let Some(subs) = rule.get("securitySubCategories").and_then(Value::as_array) {
        for sub in subs {
            let framework = j::string(sub, "category.framework.name").unwrap_or_default();
            if !framework.to_ascii_lowercase().starts_with("wiz") {
                continue;
            }
            let found = j::string(sub, "category.name")
                .and_then(|n| classify(&n))
                .or_else(|| j::string(sub, "title").and_then(|t| classify(&t)));
            if found.is_some() {
                return found;
            }
        }
    }
    j::string(rule, "name").and_then(|n| classify(&n))
}

/// Keyword families, most specific first.
fn classify(text: &str) -> Option<Category> {
    let t = text.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if any(&["vulnerab", "cve-"]) {
        Some(Category::Vulnerability)
    } else if any(&[
        "threat",
        "malware",
        "runtime",
        "intrusion",
        "attack in progress",
    ]) {
        Some(Category::Runtime)
    } else if any(&[
        "data security",
        "sensitive data",
        "data exposure",
        "secret",
        "cleartext",
        "bucket",
        "pii",
    ]) {
        Some(Category::Data)
    } else if any(&[
        "identity",
        "privilege",
        "permission",
        "principal",
        "iam ",
        "admin",
        "credential",
    ]) {
        Some(Category::Identity)
    } else if any(&[
        "exposure", "exposed", "internet", "network", "public", "ingress", "firewall",
    ]) {
        Some(Category::Network)
    } else if any(&["misconfigur"]) {
        Some(Category::Misconfiguration)
    } else {
        None
    }
}

/// Resource from an `entitySnapshot` / `vulnerableAsset`; `id_fields` in order of preference,
/// where a cloud-native id (ARN, Azure resource id, GCP resource name) beats the order.
fn resource(e: &Value, id_fields: &[&str]) -> Resource {
    let candidates: Vec<String> = id_fields.iter().filter_map(|f| j::string(e, f)).collect();
    let id = candidates
        .iter()
        .find(|c| is_cloud_native_id(c))
        .or_else(|| candidates.first())
        .cloned()
        .or_else(|| j::string(e, "id"));
    Resource {
        id,
        name: j::string(e, "name"),
        rtype: j::first_string(e, &["nativeType", "type"]),
        cloud: j::first_string(e, &["cloudPlatform", "cloudProvider"])
            .map(|c| Cloud::from_vendor(&c)),
        account: j::first_string(e, &["subscriptionExternalId", "cloudAccount.externalId"]),
        region: j::string(e, "region"),
        tags: j::tags(e, "tags"),
    }
}

fn is_cloud_native_id(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("arn:")
        || l.starts_with("/subscriptions/")
        || l.starts_with("//")
        || l.starts_with("ocid1.")
}

/// `securitySubCategories[]` → (framework name, sub-category title), without duplicates.
fn compliance(rule: &Value) -> Vec<Compliance> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for sub in rule
        .get("securitySubCategories")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(standard) = j::string(sub, "category.framework.name") else {
            continue;
        };
        let requirement = j::string(sub, "title").or_else(|| j::string(sub, "category.name"));
        if seen.insert((standard.clone(), requirement.clone())) {
            out.push(Compliance {
                standard,
                requirement,
            });
        }
    }
    out
}

/// The toxic-combination nature and any evidence / threat-detection details the issue carries.
fn attack_context(node: &Value, issue_type: Option<&str>, rule: Option<&Value>) -> Option<Value> {
    let mut ctx = Map::new();
    let toxic = issue_type.is_some_and(|t| t.eq_ignore_ascii_case("TOXIC_COMBINATION"));
    if toxic {
        ctx.insert("issueType".into(), json!("TOXIC_COMBINATION"));
        if let Some(r) = rule {
            ctx.insert(
                "rule".into(),
                json!({ "id": r.get("id"), "name": r.get("name") }),
            );
            let risks: Vec<Value> = r
                .get("securitySubCategories")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|s| {
                    j::string(s, "category.framework.name").is_some_and(|f| f.to_ascii_lowercase().starts_with("wiz"))
                })
                .map(|s| json!({ "category": j::string(s, "category.name"), "title": j::string(s, "title") }))
                .collect();
            if !risks.is_empty() {
                ctx.insert("riskFactors".into(), Value::Array(risks));
            }
        }
    }
    for key in ["evidenceQuery", "threatDetectionDetails"] {
        if let Some(v) = node.get(key).filter(|v| !v.is_null()) {
            ctx.insert(key.into(), v.clone());
        }
    }
    if ctx.is_empty() {
        None
    } else {
        Some(Value::Object(ctx))
    }
}

/// `TOXIC_COMBINATION` → "Toxic combination".
fn humanize(s: &str) -> String {
    let lower = s.replace('_', " ").to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Vendor;
    use crate::sim::world::{SimFinding, World};
    use crate::vendors::wiz::sim::emit;

    /// A corpus file, or None (test skipped) when the corpus is not there, except under CI.
    fn corpus(rel: &str) -> Option<Value> {
        crate::sources::corpus::load(rel)
    }

    fn one(rel: &str) -> Option<Alert> {
        let body = corpus(rel)?;
        let mut alerts = map(&body).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(alerts.len(), 1, "{rel}");
        alerts.pop()
    }

    /// The MANIFEST rows of this vendor: (file, shape, alerts).
    fn manifest() -> Vec<(String, String, usize)> {
        crate::sources::corpus::manifest("wiz")
    }

    #[test]
    fn every_corpus_file_maps_to_the_manifest_count() {
        if corpus("wiz/elastic-test-issue.json").is_none() {
            return;
        }
        let rows = manifest();
        assert_eq!(rows.len(), 5);
        for (file, shape, count) in rows {
            let body = corpus(&file).unwrap_or_default();
            match shape.as_str() {
                "other" => assert!(
                    matches!(map(&body), Err(MapError::NotAlerts { .. })),
                    "{file}"
                ),
                _ => assert_eq!(map(&body).map(|a| a.len()), Ok(count), "{file}"),
            }
        }
    }

    fn check_eks_issue(a: &Alert) {
        assert_eq!(a.vendor, Vendor::Wiz);
        assert_eq!(a.native_id, "fff9cffd-64a7-412c-9535-cf837f4b0b40");
        assert_eq!(
            a.title,
            "EKS principals assume roles that provide bind, escalate and impersonate permissions"
        );
        assert_eq!(a.severity, Severity::Info);
        assert_eq!(a.policy.vendor_severity.as_deref(), Some("INFORMATIONAL"));
        assert_eq!(a.policy.id.as_deref(), Some("wc-id-1335"));
        assert_eq!(a.vendor_status, VendorState::InProgress);
        assert_eq!(
            a.resource.id.as_deref(),
            Some(
                "k8s/clusterrole/aaa8e7ca2bf9bc85a75d5bbdd8ffd08d69f8852782a6341c3c3519bac0f24ae9/system:aggregate-to-edit/12"
            )
        );
        assert_eq!(a.resource.name.as_deref(), Some("system:aggregate-to-edit"));
        assert_eq!(a.resource.rtype.as_deref(), Some("ClusterRole"));
        assert_eq!(a.resource.cloud, Some(Cloud::Kubernetes));
        assert_eq!(a.resource.account.as_deref(), Some("998231069301"));
        assert_eq!(a.resource.region.as_deref(), Some("us-01"));
        assert_eq!(a.resource.tags.len(), 2);
        assert_eq!(
            a.resource
                .tags
                .get("kubernetes.io/bootstrapping")
                .map(String::as_str),
            Some("rbac-defaults")
        );
        assert_eq!(a.first_seen, Some(1_692_777_369_903));
        assert_eq!(a.last_seen, Some(1_691_993_178_331));
        assert_eq!(a.vendor_updated, Some(1_691_993_178_331));
        assert_eq!(a.compliance.len(), 4);
        assert_eq!(a.compliance[0].standard, "CIS EKS 1.2.0");
        assert_eq!(
            a.compliance[0].requirement.as_deref(),
            Some(
                "4.1.8 Limit use of the Bind, Impersonate and Escalate permissions in the Kubernetes cluster - Level 1 (Manual)"
            )
        );
        assert!(
            a.remediation
                .as_deref()
                .is_some_and(|r| r.contains("principle of least privilege"))
        );
        assert!(
            a.description
                .as_deref()
                .is_some_and(|d| d.starts_with("These EKS principals"))
        );
        assert!(a.cves.is_empty());
        assert_eq!(a.exposure, Default::default());
        // projects / notes / serviceTickets stay in raw only.
        assert_eq!(a.raw["notes"].as_array().map(Vec::len), Some(2));
        assert_eq!(a.raw["serviceTickets"][0]["name"], json!("SIR0010002"));
    }

    #[test]
    fn graphql_list_response_maps_the_issue() {
        let Some(a) = one("wiz/elastic-graphql-issues-list-response.json") else {
            return;
        };
        check_eks_issue(&a);
        // No `type` in this payload: a Control whose Wiz risk sub-category is identity.
        assert_eq!(a.category, Category::Identity);
        assert_eq!(a.attack_context, None);
    }

    #[test]
    fn single_threat_detection_issue() {
        let Some(a) = one("wiz/elastic-test-issue.json") else {
            return;
        };
        check_eks_issue(&a);
        assert_eq!(a.category, Category::Runtime);
        let Some(body) = corpus("wiz/elastic-test-issue.json") else {
            return;
        };
        assert_eq!(a.raw, body);
    }

    #[test]
    fn toxic_combination_issues_from_port_ocean() {
        for (file, id, name, region, arn) in [
            (
                "wiz/port-ocean-issue-a.json",
                "9cbcba1e-0c11-478d-8593-942995201487",
                "Splunk",
                "eu-north-1",
                "arn:aws:elasticloadbalancing:eu-north-1:998231069301:loadbalancer/app/Splunk/6a65a4bd322d6f5f",
            ),
            (
                "wiz/port-ocean-issue-b.json",
                "6f6c5953-025f-4dfe-9f53-06bba2bec1a8",
                "JiraALB",
                "us-east-2",
                "arn:aws:elasticloadbalancing:us-east-2:998231069301:loadbalancer/app/JiraALB/bbd1b5779ec48f96",
            ),
        ] {
            let Some(a) = one(file) else { return };
            assert_eq!(a.native_id, id);
            assert_eq!(
                a.title,
                "Publicly exposed cloud resource with non-PQC compliant transport encryption"
            );
            assert_eq!(a.severity, Severity::Low);
            assert_eq!(
                a.category,
                Category::Network,
                "{file}: exposure is the rule's first fact"
            );
            assert_eq!(a.vendor_status, VendorState::Open);
            assert_eq!(a.resource.id.as_deref(), Some(arn));
            assert_eq!(a.resource.name.as_deref(), Some(name));
            assert_eq!(
                a.resource.rtype.as_deref(),
                Some("loadBalancerv2/application")
            );
            assert_eq!(a.resource.cloud, Some(Cloud::Aws));
            assert_eq!(a.resource.account.as_deref(), Some("998231069301"));
            assert_eq!(a.resource.region.as_deref(), Some(region));
            assert!(a.resource.tags.is_empty());
            assert_eq!(a.first_seen, Some(1_774_417_586_681));
            assert_eq!(a.last_seen, Some(1_774_417_586_681));
            assert_eq!(a.vendor_updated, Some(1_774_417_586_681));
            assert_eq!(a.compliance.len(), 9);
            assert!(a.compliance.contains(&Compliance {
                standard: "NIST SP 800-53 Revision 5".into(),
                requirement: Some("SC-8 Transmission Confidentiality and Integrity".into()),
            }));
            assert!(
                a.remediation
                    .as_deref()
                    .is_some_and(|r| r.starts_with("### Limit external exposure"))
            );
            let ctx = a.attack_context.clone().unwrap_or_default();
            assert_eq!(ctx["issueType"], json!("TOXIC_COMBINATION"));
            assert_eq!(ctx["rule"]["id"], json!("wc-id-3206"));
        }
    }

    #[test]
    fn token_response_carries_no_alerts() {
        let Some(body) = corpus("wiz/elastic-oauth-token-response-mock.json") else {
            return;
        };
        assert_eq!(
            map(&body),
            Err(MapError::NotAlerts {
                what: "a Wiz OAuth token response"
            })
        );
    }

    #[test]
    fn graphql_errors_are_refused_naming_the_first_message() {
        let with_data = json!({
            "errors": [{"message": "Resource not found", "path": ["issues"]}, {"message": "second"}],
            "data": {"issues": {"nodes": [], "pageInfo": {"hasNextPage": false}}}
        });
        let null_data =
            json!({"errors": [{"message": "Unauthorized: token expired"}], "data": null});
        for (body, msg) in [
            (with_data, "Resource not found"),
            (null_data, "Unauthorized: token expired"),
        ] {
            match map(&body) {
                Err(MapError::Shape {
                    vendor: "wiz",
                    detail,
                }) => assert!(detail.contains(msg), "{detail}"),
                other => panic!("expected a shape error, got {other:?}"),
            }
            assert_eq!(sniff(&body), Some("a GraphQL error response (Wiz)"));
        }
        // An empty errors[] is not an error.
        assert_eq!(
            map(&json!({"errors": [], "data": {"issues": {"nodes": []}}})).map(|a| a.len()),
            Ok(0)
        );
    }

    #[test]
    fn issues_v2_and_relay_edges_are_accepted() {
        let Some(item) = corpus("wiz/port-ocean-issue-a.json") else {
            return;
        };
        let v2 = json!({"data": {"issuesV2": {"nodes": [item.clone()], "pageInfo": {"hasNextPage": false, "endCursor": null}}}});
        let relay = json!({"data": {"issues": {"edges": [{"cursor": "x", "node": item.clone()}], "pageInfo": {}}}});
        let single = json!({"data": {"issue": item.clone()}});
        let array = json!([item.clone(), item.clone()]);
        for body in [&v2, &relay, &single] {
            let alerts = map(body).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(alerts.len(), 1);
            assert_eq!(alerts[0].native_id, "9cbcba1e-0c11-478d-8593-942995201487");
            assert_eq!(alerts[0].raw, item);
            assert!(sniff(body).is_some());
        }
        assert_eq!(map(&array).map(|a| a.len()), Ok(2));
    }

    #[test]
    fn sniff_recognises_wiz_files_and_no_other_vendors() {
        if corpus("wiz/elastic-test-issue.json").is_none() {
            return;
        }
        let others = crate::sources::corpus::assert_sniff_claims_only_its_own("wiz", sniff);
        assert!(others.len() >= 20);
        let Some(list) = corpus("wiz/elastic-graphql-issues-list-response.json") else {
            return;
        };
        assert_eq!(sniff(&list), Some("a Wiz GraphQL issues response"));
    }

    #[test]
    fn emitted_world_round_trips() {
        let world = World::generate(7, 300, 1_700_000_000_000);
        let findings: Vec<&SimFinding> = world.findings_for(Vendor::Wiz).collect();
        let body = emit::list_body(emit::items(&world, &findings));
        let text = serde_json::to_string(&body).unwrap_or_default();
        let parsed: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(sniff(&parsed), Some("a Wiz GraphQL issues response"));
        let alerts = map(&parsed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(alerts.len(), findings.len());
        let by_id: std::collections::HashMap<&str, &Alert> =
            alerts.iter().map(|a| (a.native_id.as_str(), a)).collect();
        assert_eq!(by_id.len(), findings.len(), "native ids are unique");
        let mut vulns = 0;
        for f in &findings {
            let id = emit::native_id(&world, f);
            let a = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("no alert {id}"));
            let r = world.resource_of(f);
            assert_eq!(a.severity, f.severity.severity(), "{id}");
            assert_eq!(
                a.category,
                f.rule.category.category(),
                "{id} {}",
                f.rule.name
            );
            assert_eq!(a.resource.id.as_deref(), Some(r.id.as_str()));
            assert_eq!(a.resource.account.as_deref(), Some(r.account.as_str()));
            assert_eq!(a.resource.region.as_deref(), Some(r.region.as_str()));
            assert_eq!(a.resource.cloud.as_ref(), Some(&r.cloud));
            assert_eq!(a.resource.name.as_deref(), Some(r.name.as_str()));
            assert_eq!(a.resource.tags, r.tags);
            assert_eq!(a.first_seen, Some(f.created_ms));
            assert_eq!(a.vendor_updated, Some(f.updated_ms));
            let expected_status = match f.status {
                crate::sim::world::SimStatus::Open => VendorState::Open,
                crate::sim::world::SimStatus::InProgress => VendorState::InProgress,
                crate::sim::world::SimStatus::Resolved => VendorState::Resolved,
                crate::sim::world::SimStatus::Dismissed => VendorState::Dismissed,
            };
            assert_eq!(a.vendor_status, expected_status);
            match f.cve {
                Some(cve) => {
                    vulns += 1;
                    assert_eq!(a.cves.len(), 1);
                    assert_eq!(a.cves[0].id, cve.id);
                    assert_eq!(a.cves[0].fixed_version.as_deref(), Some(cve.fixed));
                    assert_eq!(a.cves[0].package.as_deref(), Some(cve.package));
                    assert_eq!(a.cves[0].cvss, Some(cve.cvss));
                    assert_eq!(a.exposure.internet_facing, Some(r.internet_facing));
                }
                None => {
                    assert!(a.cves.is_empty());
                    assert_eq!(a.title, f.rule.name);
                    assert_eq!(
                        a.remediation.is_some(),
                        f.rule.category != crate::sim::world::RuleCategory::Runtime
                    );
                    assert_eq!(
                        a.compliance
                            .iter()
                            .filter(|c| !c.standard.starts_with("Wiz"))
                            .count(),
                        f.rule.compliance.len()
                    );
                }
            }
        }
        assert!(vulns > 0, "the world has Wiz vulnerability findings");
        // A single emitted node maps on its own.
        for f in findings.iter().take(20) {
            let node = emit::item(&world, f);
            let alerts = map(&node).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(alerts.len(), 1);
            assert_eq!(alerts[0].native_id, emit::native_id(&world, f));
            assert!(sniff(&node).is_some());
        }
    }

    #[test]
    fn tolerance_missing_fields_missing_id_and_wrong_shapes() {
        let minimal =
            json!({"id": "i-1", "severity": "HIGH", "status": "OPEN", "entitySnapshot": {}});
        let body =
            json!({"data": {"issues": {"nodes": [minimal], "pageInfo": {"hasNextPage": false}}}});
        let alerts = map(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(alerts[0].native_id, "i-1");
        assert!(!alerts[0].title.is_empty());
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(alerts[0].resource, Resource::default());

        let no_id = json!({"data": {"issues": {"nodes": [
            {"id": "a", "severity": "LOW", "sourceRule": {"name": "x"}},
            {"severity": "LOW", "sourceRule": {"name": "y"}}
        ]}}});
        assert!(matches!(map(&no_id), Err(MapError::Item { index: 1, .. })));

        for wrong in [
            json!({"data": {"somethingElse": {}}}),
            json!({"data": null}),
            json!({"reply": {"alerts": []}}),
            json!([{"_id": "x"}]),
            json!("text"),
        ] {
            assert!(
                matches!(map(&wrong), Err(MapError::Shape { vendor: "wiz", .. })),
                "{wrong}"
            );
        }
    }

    /// The toxic-combination context becomes the typed hint triage reads: named by the rule,
    /// else the title; no hint without the issue type.
    #[test]
    fn toxic_combinations_are_typed_vendor_paths() {
        let mut a = Alert::new(Vendor::Wiz, "W", json!({}));
        a.title = "Title".into();
        a.attack_context = Some(
            json!({"issueType": "TOXIC_COMBINATION", "rule": {"name": "Publicly exposed VM with admin role"}}),
        );
        assert_eq!(
            vendor_path(&a),
            Some(VendorPath {
                kind: VendorPathKind::WizToxicCombination,
                name: "Publicly exposed VM with admin role".into()
            })
        );
        a.attack_context = Some(json!({"issueType": "toxic_combination", "rule": {"id": "r"}}));
        assert_eq!(vendor_path(&a).map(|p| p.name), Some("Title".into()));
        a.attack_context = Some(json!({"evidenceQuery": {}}));
        assert_eq!(vendor_path(&a), None);
        a.attack_context = None;
        assert_eq!(vendor_path(&a), None);
    }
}
