//! Orca Security alerts → the normalized model. The accepted bodies, native ids and the
//! severity precedence are in docs/vendors.md ("Mapper details"); the tests below pin them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::{
    Alert, Category, Cloud, Compliance, Cve, EpochMs, Exposure, Policy, RawJson, Resource,
    Severity, Vendor, VendorPath, VendorPathKind, VendorState,
};
use crate::sources::{MapError, json};

const VENDOR: &str = "orca";

/// Keys only Orca's alert-query envelope carries next to its `data[]`.
/// The first two are generic; the rest are Orca's paging keys.
const ENVELOPE_KEYS: &[&str] = &[
    "version",
    "status",
    "data_grouped",
    "total_items",
    "total_supported_items",
    "total_ungrouped_items",
    "next_page_token",
    "has_next_page_token",
];

/// Serving-layer alert fields (orca-skills `_ALERT_SELECT`).
const SERVING_KEYS: &[&str] = &[
    "AlertType",
    "OrcaScore",
    "RiskLevel",
    "Category",
    "Status",
    "Description",
    "Recommendation",
    "RiskFindings",
    "AssetData",
    "CveIds",
];

const TOY_MOCK: &str =
    "the Orca integration's toy search-alerts test mock (not an Orca API response)";

/// Where list replies keep their items (`[]`: the reply is the array), for item-by-item
/// mapping ([`crate::sources::Page`]).
pub const ITEM_PATHS: crate::sources::ItemPaths = &[&["data"], &["alerts"]];

/// Map, then type each alert's attack-path hint (see [`vendor_path`]).
pub fn map(body: &Value) -> Result<Vec<Alert>, MapError> {
    let mut alerts = map_body(body)?;
    for a in &mut alerts {
        a.vendor_path = vendor_path(a);
    }
    Ok(alerts)
}

/// Orca's attack paths: an alert with blast-radius context, or one titled as an attack path;
/// both are named by the title.
fn vendor_path(a: &Alert) -> Option<VendorPath> {
    let kind = if a
        .attack_context
        .as_ref()
        .is_some_and(|c| c.get("blast_radius").is_some())
    {
        VendorPathKind::OrcaBlastRadius
    } else if a.title.to_ascii_lowercase().contains("attack path") {
        VendorPathKind::OrcaAttackPath
    } else {
        return None;
    };
    Some(VendorPath {
        kind,
        name: a.title.clone(),
    })
}

fn map_body(body: &Value) -> Result<Vec<Alert>, MapError> {
    let Some(obj) = body.as_object() else {
        return Err(shape(
            "expected a JSON object: an alert query response {status, data: [...]} or one alert",
        ));
    };
    if let Some(msg) = error_message(obj) {
        return Err(shape(&format!("Orca returned an error: {msg}")));
    }
    match obj.get("data") {
        Some(Value::Array(items))
            if ENVELOPE_KEYS.iter().any(|k| obj.contains_key(*k))
                || items.first().is_some_and(is_serving_alert) =>
        {
            // `status`/`version` alone are common words: without Orca's own paging keys,
            // insist that the items look like Orca alerts before blaming an item.
            let orca_paging = ENVELOPE_KEYS[2..].iter().any(|k| obj.contains_key(*k));
            if orca_paging
                || items.is_empty()
                || items
                    .iter()
                    .any(|i| is_legacy_alert(i) || is_serving_alert(i))
            {
                return map_items(items);
            }
            return Err(shape(
                "data[] holds no Orca alerts (no state.alert_id or data.AlertId in any item)",
            ));
        }
        Some(inner @ Value::Object(_))
            if obj.contains_key("status")
                && (is_legacy_alert(inner) || is_serving_alert(inner)) =>
        {
            return map_item(0, inner).map(|a| vec![a]);
        }
        _ => {}
    }
    if is_toy_mock(obj) {
        return Err(MapError::NotAlerts { what: TOY_MOCK });
    }
    if let Some(Value::Array(items)) = obj.get("alerts")
        && items
            .iter()
            .any(|i| i.get("state").is_some_and(Value::is_object))
    {
        return map_items(items);
    }
    if is_legacy_alert(body) || is_serving_alert(body) {
        return map_item(0, body).map(|a| vec![a]);
    }
    if obj.contains_key("asset_unique_id") && obj.contains_key("asset_type") {
        return Err(MapError::NotAlerts {
            what: "an Orca asset response",
        });
    }
    Err(shape(
        "expected an Orca alert query response ({status, data: [...]}), a serving-layer \
         query response, or one alert object with state.alert_id",
    ))
}

pub fn sniff(body: &Value) -> Option<&'static str> {
    let obj = body.as_object()?;
    if let Some(Value::Array(items)) = obj.get("data") {
        if [
            "data_grouped",
            "total_supported_items",
            "has_next_page_token",
        ]
        .iter()
        .any(|k| obj.contains_key(*k))
        {
            return Some("an Orca alert query response");
        }
        if let Some(first) = items.first() {
            if is_serving_alert(first) {
                return Some("an Orca serving-layer alert query response");
            }
            if obj.contains_key("status") && is_legacy_alert(first) {
                return Some("an Orca alerts response");
            }
        }
    }
    if is_legacy_alert(body) {
        return Some("an Orca alert");
    }
    if is_serving_alert(body) {
        return Some("an Orca serving-layer alert");
    }
    if is_toy_mock(obj) {
        return Some(TOY_MOCK);
    }
    None
}

fn shape(detail: &str) -> MapError {
    MapError::Shape {
        vendor: VENDOR,
        detail: detail.to_string(),
    }
}

/// `{"status": "failure", "error": "..."}`-style replies (wording UNCONFIRMED).
fn error_message(obj: &Map<String, Value>) -> Option<String> {
    let status = obj.get("status")?.as_str()?.to_ascii_lowercase();
    if status == "success" || obj.get("data").is_some_and(|d| !d.is_null()) {
        return None;
    }
    ["error", "message", "detail", "errors"]
        .iter()
        .find_map(|k| match obj.get(*k)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
}

/// A legacy-shaped alert: a `state` object with alert facts, plus asset or rule context.
fn is_legacy_alert(v: &Value) -> bool {
    let Some(state) = v.get("state").and_then(Value::as_object) else {
        return false;
    };
    let state_facts = ["alert_id", "score", "risk_level", "orca_score", "severity"]
        .iter()
        .any(|k| state.contains_key(*k));
    let context = [
        "asset_unique_id",
        "rule_id",
        "type_string",
        "rule_query",
        "alert_labels",
        "cloud_provider",
        "asset_name",
    ]
    .iter()
    .any(|k| v.get(*k).is_some());
    state_facts && context
}

/// A serving-layer item: `data` holds CamelCase alert fields.
fn is_serving_alert(v: &Value) -> bool {
    let Some(data) = v.get("data").and_then(Value::as_object) else {
        return false;
    };
    data.contains_key("AlertId")
        || SERVING_KEYS
            .iter()
            .filter(|k| data.contains_key(**k))
            .count()
            >= 2
}

fn is_toy_mock(obj: &Map<String, Value>) -> bool {
    let Some(Value::Array(items)) = obj.get("alerts") else {
        return false;
    };
    obj.len() == 1
        && !items.is_empty()
        && items.iter().all(|i| {
            i.get("alert_status").is_some()
                && i.get("alert_type").is_some()
                && i.get("state").is_none()
        })
}

fn map_items(items: &[Value]) -> Result<Vec<Alert>, MapError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| map_item(i, item))
        .collect()
}

/// Everything the mapper reads from one alert, whichever shape it came in.
#[derive(Default)]
struct Fields {
    id: Option<String>,
    title: Option<String>,
    description: Option<String>,
    policy_id: Option<String>,
    policy_name: Option<String>,
    risk_level: Option<String>,
    score: Option<String>,
    legacy_severity: Option<String>,
    orca_score: Option<String>,
    status: Option<String>,
    category: Option<String>,
    created: Option<EpochMs>,
    last_seen: Option<EpochMs>,
    updated: Option<EpochMs>,
    resource: Resource,
    remediation: Option<String>,
    cves: Vec<Cve>,
    compliance: Vec<Compliance>,
    exposure: Exposure,
    attack_context: Option<Value>,
}

fn map_item(index: usize, item: &Value) -> Result<Alert, MapError> {
    if !item.is_object() {
        return Err(MapError::Item {
            index,
            detail: "not a JSON object".into(),
        });
    }
    let serving = is_serving_alert(item);
    let f = if serving {
        serving_fields(item)
    } else {
        legacy_fields(item)
    };
    let Some(id) = f.id.clone() else {
        let want = if serving {
            "data.AlertId.value"
        } else {
            "state.alert_id"
        };
        return Err(MapError::Item {
            index,
            detail: format!("alert without an id ({want})"),
        });
    };
    let mut a = Alert::new(Vendor::Orca, id.clone(), RawJson::of(item));
    let (severity, word) = severity(&f);
    a.severity = severity;
    a.title = f
        .title
        .clone()
        .or_else(|| f.policy_name.clone())
        .unwrap_or_else(|| format!("Orca alert {id}"));
    a.description = f.description.filter(|d| *d != a.title);
    a.policy = Policy {
        id: f.policy_id,
        name: f.policy_name,
        vendor_severity: word,
    };
    a.category = f
        .category
        .as_deref()
        .map_or(Category::Other("unknown".into()), category);
    a.vendor_status = f.status.as_deref().map_or(VendorState::Open, vendor_state);
    a.first_seen = f.created;
    a.last_seen = f.last_seen.or(f.updated).or(f.created);
    a.vendor_updated = f.updated.or(a.last_seen);
    a.resource = f.resource;
    a.remediation = f.remediation;
    a.cves = f.cves;
    a.compliance = f.compliance;
    a.exposure = f.exposure;
    a.attack_context = f.attack_context;
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Legacy alert objects (`state.*`, `data.*`, `model.data.Inventory.*`).

fn legacy_fields(item: &Value) -> Fields {
    let category = json::string(item, "category");
    let details = json::first_string(item, &["details", "data.details"]);
    Fields {
        id: json::string(item, "state.alert_id"),
        title: json::first_string(item, &["data.title", "type_string", "description", "type"]),
        description: details
            .clone()
            .or_else(|| json::string(item, "description")),
        policy_id: json::first_string(item, &["rule_id", "type"]),
        policy_name: json::first_string(item, &["type_string", "data.title"]),
        risk_level: json::string(item, "state.risk_level"),
        score: json::string(item, "state.score"),
        legacy_severity: json::string(item, "state.severity"),
        orca_score: json::string(item, "state.orca_score"),
        status: json::string(item, "state.status"),
        created: json::time(item, "state.created_at"),
        last_seen: json::time(item, "state.last_seen"),
        updated: json::first_time(item, &["state.last_updated", "state.status_time"]),
        resource: legacy_resource(item),
        remediation: remediation(
            json::first_string(item, &["recommendation", "data.recommendation"]),
            json::strings(item, "data.remediation_cli"),
            json::strings(item, "data.remediation_console"),
        ),
        cves: cves(
            item,
            &[
                "data.vulnerabilities",
                "data.cves",
                "vulnerabilities",
                "cves",
            ],
            &["data.cve_ids", "cve_ids", "data.cve_id"],
        ),
        compliance: compliance(
            item,
            &[
                "compliance_frameworks",
                "data.compliance_frameworks",
                // The asset's frameworks in the real alert samples (empty lists there).
                "model.data.Inventory.RelatedCompliances",
            ],
        ),
        exposure: exposure(
            item,
            &["alert_labels", "asset_labels"],
            category.as_deref(),
            details.as_deref(),
        ),
        attack_context: blast_radius(json::at(item, "model.data.Inventory.BlastRadius")),
        category,
    }
}

fn legacy_resource(item: &Value) -> Resource {
    let rtype = json::first_string(item, &["asset_type", "model.type", "subject_type"]);
    // The asset model keeps the ARN under model.data.<AssetType>.Arn.
    let arn = rtype
        .as_deref()
        .and_then(|t| json::string(item, &format!("model.data.{t}.Arn")))
        .filter(|a| a.starts_with("arn:"));
    let mut tags = json::tags(item, "model.data.Inventory.Tags");
    for path in ["tags_info_list", "asset_tags_info_list", "tags_list"] {
        tags.extend(pipe_tags(json::at(item, path)));
    }
    Resource {
        id: arn.or_else(|| {
            json::first_string(
                item,
                &[
                    "asset_vendor_id",
                    "asset_unique_id",
                    "model.asset_unique_id",
                ],
            )
        }),
        name: json::first_string(
            item,
            &["asset_name", "model.name", "model.data.Inventory.Name"],
        ),
        rtype,
        cloud: json::string(item, "cloud_provider").map(|c| cloud(&c)),
        account: json::first_string(item, &["cloud_vendor_id", "cloud_account_id"]),
        region: json::first_string(
            item,
            &["model.data.Inventory.Region", "region", "asset_regions.0"],
        ),
        tags,
    }
}

// ---------------------------------------------------------------------------------------------
// Serving-layer items (`data.<Field>.value`).

/// `item.data.<key>.value`, or `item.data.<key>` when it is not wrapped (orca-skills `val`).
fn sv<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    let v = json::at(item, &format!("data.{key}"))?;
    match v {
        Value::Object(m) if m.contains_key("value") => m.get("value").filter(|x| !x.is_null()),
        other => Some(other),
    }
}

fn sv_string(item: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        let v = sv(item, k)?;
        json::string(&Value::Array(vec![v.clone()]), "0")
    })
}

fn sv_time(item: &Value, keys: &[&str]) -> Option<EpochMs> {
    keys.iter().find_map(|k| {
        let v = sv(item, k)?;
        json::time(&Value::Array(vec![v.clone()]), "0")
    })
}

fn serving_fields(item: &Value) -> Fields {
    let asset = sv(item, "AssetData").cloned().unwrap_or(Value::Null);
    let mut wrapped = Map::new();
    for key in ["CveIds", "RiskFindings", "Labels"] {
        if let Some(v) = sv(item, key) {
            wrapped.insert(key.to_string(), v.clone());
        }
    }
    let wrapped = Value::Object(wrapped);
    let category = sv_string(item, &["Category"]);
    let details = sv_string(item, &["Details", "Description"]);
    let mut resource = Resource {
        id: json::first_string(
            &asset,
            &[
                "asset_vendor_id",
                "AssetVendorId",
                "VendorId",
                "asset_unique_id",
                "AssetUniqueId",
            ],
        ),
        name: json::first_string(&asset, &["asset_name", "AssetName", "Name", "name"])
            .or_else(|| sv_string(item, &["Source"])),
        rtype: json::first_string(&asset, &["asset_type", "AssetType", "Type", "type"]),
        cloud: json::first_string(&asset, &["cloud_provider", "CloudProvider"]).map(|c| cloud(&c)),
        account: json::first_string(
            &asset,
            &[
                "cloud_vendor_id",
                "CloudVendorId",
                "cloud_account_id",
                "CloudAccountId",
            ],
        ),
        region: json::first_string(
            &asset,
            &["region", "Region", "asset_regions.0", "Regions.0"],
        ),
        tags: json::tags(&asset, "tags"),
    };
    resource.tags.extend(json::tags(&asset, "Tags"));
    resource
        .tags
        .extend(pipe_tags(json::at(&asset, "tags_info_list")));
    Fields {
        id: sv_string(item, &["AlertId"]).or_else(|| json::string(item, "name")),
        title: sv_string(item, &["Title", "AlertType", "Description"]),
        description: details.clone(),
        policy_id: sv_string(item, &["RuleId", "AlertType"]),
        policy_name: sv_string(item, &["AlertType"]),
        risk_level: sv_string(item, &["RiskLevel"]),
        score: None,
        legacy_severity: None,
        orca_score: sv_string(item, &["OrcaScore"]),
        status: sv_string(item, &["Status"]),
        created: sv_time(item, &["CreatedAt", "CreationTime"]),
        last_seen: sv_time(item, &["LastSeen"]),
        updated: sv_time(item, &["LastUpdated", "UpdatedAt", "StatusTime"]),
        resource,
        remediation: remediation(sv_string(item, &["Recommendation"]), Vec::new(), Vec::new()),
        cves: cves(&wrapped, &["RiskFindings.cves.top_cves"], &["CveIds"]),
        compliance: Vec::new(),
        exposure: exposure(
            &wrapped,
            &["Labels"],
            category.as_deref(),
            details.as_deref(),
        ),
        attack_context: None,
        category,
    }
}

// ---------------------------------------------------------------------------------------------
// Shared interpretation.

fn severity(f: &Fields) -> (Severity, Option<String>) {
    if let Some(w) = &f.risk_level {
        return (Severity::from_vendor(w), Some(w.clone()));
    }
    if let Some(s) = &f.score
        && let Some(sev) = match s.trim().parse::<f64>().ok().map(|x| x as i64) {
            Some(1) => Some(Severity::Critical),
            Some(2) => Some(Severity::High),
            Some(3) => Some(Severity::Medium),
            Some(4) => Some(Severity::Info),
            _ => None,
        }
    {
        return (sev, Some(s.clone()));
    }
    if let Some(w) = &f.legacy_severity {
        let norm = w.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        let sev = match norm.as_str() {
            "compromised" => Severity::Critical,
            "imminent compromise" => Severity::High,
            "hazardous" => Severity::Medium,
            _ => Severity::from_vendor(w),
        };
        return (sev, Some(w.clone()));
    }
    if let Some(s) = &f.orca_score
        && let Ok(x) = s.trim().parse::<f64>()
    {
        let sev = if x >= 9.0 {
            Severity::Critical
        } else if x >= 7.0 {
            Severity::High
        } else if x >= 4.0 {
            Severity::Medium
        } else if x > 0.0 {
            Severity::Low
        } else {
            Severity::Info
        };
        return (sev, Some(s.clone()));
    }
    (Severity::Other("unknown".into()), None)
}

/// Orca's alert category text (`IAM misconfigurations`, `Data at risk`, ...) → category.
fn category(text: &str) -> Category {
    let lower = text.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    if lower.contains("vulnerab") {
        Category::Vulnerability
    } else if words.contains(&"iam")
        || lower.contains("identit")
        || lower.contains("authentication")
    {
        Category::Identity
    } else if lower.contains("network") {
        Category::Network
    } else if lower.starts_with("data ")
        || lower.contains("data at risk")
        || lower.contains("data protection")
    {
        Category::Data
    } else if lower.contains("malicious")
        || lower.contains("suspicious")
        || lower.contains("malware")
    {
        Category::Runtime
    } else if lower.contains("misconfiguration")
        || lower.contains("best practice")
        || lower.contains("logging and monitoring")
        || lower.contains("neglected")
    {
        Category::Misconfiguration
    } else if lower.is_empty() {
        Category::Other("unknown".into())
    } else {
        Category::Other(lower)
    }
}

fn vendor_state(status: &str) -> VendorState {
    let norm = status.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    match norm.as_str() {
        "open" | "new" => VendorState::Open,
        "in_progress" | "inprogress" => VendorState::InProgress,
        "closed" | "close" | "resolved" | "fixed" | "remediated" => VendorState::Resolved,
        "dismissed" | "dismiss" => VendorState::Dismissed,
        "snoozed" | "snooze" => VendorState::Snoozed,
        _ => VendorState::Other(norm),
    }
}

fn cloud(provider: &str) -> Cloud {
    match provider.trim().to_ascii_lowercase().as_str() {
        "alicloud" | "ali" => Cloud::Alibaba,
        "k8s" | "kubernetes" => Cloud::Kubernetes,
        other => Cloud::from_vendor(other),
    }
}

/// `["key|value", ...]` (Orca's `tags_info_list`), also `[{key, value}]`. Keys may contain
/// `:` (`aws:cloudformation:logical-id|Stack`), so only `|` separates.
fn pipe_tags(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(Value::Array(items)) = v else {
        return out;
    };
    for item in items {
        match item {
            Value::String(s) if !s.trim().is_empty() => {
                let (k, val) = s.split_once('|').unwrap_or((s.as_str(), ""));
                out.insert(k.trim().to_string(), val.trim().to_string());
            }
            Value::Object(_) => {
                if let Some(k) = json::first_string(item, &["key", "Key", "name"]) {
                    let val = json::first_string(item, &["value", "Value"]).unwrap_or_default();
                    out.insert(k, val);
                }
            }
            _ => {}
        }
    }
    out
}

fn remediation(rec: Option<String>, cli: Vec<String>, console: Vec<String>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(r) = rec {
        parts.push(r);
    }
    if !cli.is_empty() {
        parts.push(cli.join("\n"));
    }
    if !console.is_empty() {
        parts.push(console.join("\n"));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// CVE objects at `object_paths` (field names tolerated, UNCONFIRMED) merged with bare id
/// lists at `id_paths`, in order, without duplicates.
fn cves(item: &Value, object_paths: &[&str], id_paths: &[&str]) -> Vec<Cve> {
    let mut out: Vec<Cve> = Vec::new();
    for path in object_paths {
        let Some(Value::Array(list)) = json::at(item, path) else {
            continue;
        };
        for c in list {
            let id = match c {
                Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
                _ => json::first_string(c, &["cve_id", "cve", "CveId", "id", "name"]),
            };
            let Some(id) = id else { continue };
            if out.iter().any(|x| x.id == id) {
                continue;
            }
            out.push(Cve {
                id,
                cvss: ["cvss_score", "cvss3_score", "cvss", "CvssScore", "score"]
                    .iter()
                    .find_map(|p| json::float(c, p)),
                cvss_vector: json::first_string(c, &["cvss_vector", "cvss3_vector", "vector"]),
                package: json::first_string(
                    c,
                    &["package_name", "package", "pkg_name", "PackageName"],
                ),
                package_version: json::first_string(
                    c,
                    &["package_version", "installed_version", "version"],
                ),
                fixed_version: json::first_string(
                    c,
                    &["fixed_version", "fix_version", "fixed_in", "FixedVersion"],
                ),
            });
        }
    }
    for path in id_paths {
        for id in json::strings(item, path) {
            if !out.iter().any(|x| x.id == id) {
                out.push(Cve {
                    id,
                    ..Cve::default()
                });
            }
        }
    }
    out
}

/// Compliance frameworks (shape UNCONFIRMED): strings, or objects naming framework + section.
fn compliance(item: &Value, paths: &[&str]) -> Vec<Compliance> {
    let mut out = Vec::new();
    for path in paths {
        let Some(Value::Array(list)) = json::at(item, path) else {
            continue;
        };
        for c in list {
            let entry =
                match c {
                    Value::String(s) if !s.trim().is_empty() => Some(Compliance {
                        standard: s.trim().to_string(),
                        requirement: None,
                    }),
                    Value::Object(_) => json::first_string(c, &["framework", "name", "standard"])
                        .map(|standard| Compliance {
                            standard,
                            requirement: json::first_string(
                                c,
                                &["section", "control", "requirement", "id"],
                            ),
                        }),
                    _ => None,
                };
            if let Some(e) = entry
                && !out.contains(&e)
            {
                out.push(e);
            }
        }
    }
    out
}

/// Internet exposure only from Orca's own labels (`internet_facing`) or flag; ports only from
/// the finding's own text when Orca files it as a network finding.
fn exposure(
    item: &Value,
    label_paths: &[&str],
    category: Option<&str>,
    text: Option<&str>,
) -> Exposure {
    let labelled = label_paths
        .iter()
        .flat_map(|p| json::strings(item, p))
        .any(|l| {
            l.to_ascii_lowercase()
                .replace([' ', '-'], "_")
                .contains("internet_facing")
        });
    let internet_facing = json::boolean(item, "internet_facing").or(labelled.then_some(true));
    let is_network = category.is_some_and(|c| c.to_ascii_lowercase().contains("network"));
    let open_ports = match (is_network, text) {
        (true, Some(t)) => json::ports_in_text(t),
        _ => Vec::new(),
    };
    Exposure {
        internet_facing,
        open_ports,
    }
}

/// `model.data.Inventory.BlastRadius`: a JSON-encoded string (or an object); `"{}"` is none.
fn blast_radius(v: Option<&Value>) -> Option<Value> {
    let parsed = match v? {
        Value::String(s) => serde_json::from_str::<Value>(s).ok()?,
        other => other.clone(),
    };
    let empty = match &parsed {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    };
    (!empty).then(|| serde_json::json!({ "blast_radius": parsed }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sim::world::World;
    use crate::vendors::orca::sim::emit;
    use serde_json::json;

    fn corpus_missing() -> bool {
        crate::sources::corpus::dir().is_none()
    }

    fn load(rel: &str) -> Value {
        crate::sources::corpus::load(rel).expect("corpus file")
    }

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn manifest_counts_for_orca_files() {
        if corpus_missing() {
            return;
        }
        let mut seen = 0;
        for (file, shape, expected) in crate::sources::corpus::manifest("orca") {
            seen += 1;
            let body = load(&file);
            match shape.as_str() {
                "other" => assert!(
                    matches!(map(&body), Err(MapError::NotAlerts { .. })),
                    "{}: {:?}",
                    file,
                    map(&body)
                ),
                _ => assert_eq!(map(&body).unwrap().len(), expected, "{}", file),
            }
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn eventcollector_query_envelope_maps_the_real_fields() {
        if corpus_missing() {
            return;
        }
        let body = load("orca/xsoar-eventcollector-get-alerts.json");
        let alerts = map(&body).unwrap();
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.vendor, Vendor::Orca);
        assert_eq!(a.native_id, "orca-91523");
        assert_eq!(a.title, "Inactive User");
        // risk_level "low" wins over score 3 and the legacy word "hazardous".
        assert_eq!(a.severity, Severity::Low);
        assert_eq!(a.policy.vendor_severity.as_deref(), Some("low"));
        assert_eq!(a.policy.id.as_deref(), Some("rule_id"));
        assert_eq!(a.policy.name.as_deref(), Some("Inactive User"));
        assert_eq!(a.category, Category::Identity);
        assert_eq!(a.vendor_status, VendorState::Open);
        assert_eq!(a.description.as_deref(), Some("Remove unused IAM users."));
        // The ARN placeholder is "arn" (no "arn:" prefix), so asset_vendor_id is the id.
        assert_eq!(a.resource.id.as_deref(), Some("asset_vendor_id"));
        assert_eq!(a.resource.name.as_deref(), Some("Trent"));
        assert_eq!(a.resource.rtype.as_deref(), Some("AwsUser"));
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
        assert_eq!(a.resource.account.as_deref(), Some("cloud_vendor_id"));
        assert_eq!(a.resource.region.as_deref(), Some("eu-central-1"));
        assert!(a.resource.tags.is_empty());
        assert_eq!(a.first_seen, Some(ms("2022-10-12T00:00:00+00:00")));
        assert_eq!(a.last_seen, Some(ms("2023-03-14T00:00:00+00:00")));
        assert_eq!(a.vendor_updated, Some(ms("2023-03-09T00:00:00+00:00")));
        assert_eq!(
            a.remediation.as_deref(),
            Some(
                "Remove Trent user.\n\nHow to remove AwsUser:\n>1.\n>2.\n\n**Instructions**.\n>1.\n>2.\n>3."
            )
        );
        assert!(a.cves.is_empty());
        assert!(a.compliance.is_empty());
        assert_eq!(a.attack_context, None, "BlastRadius is \"{{}}\"");
        assert_eq!(a.raw, body["data"][0]);
    }

    #[test]
    fn single_alert_object_maps_the_real_fields() {
        if corpus_missing() {
            return;
        }
        let body = load("orca/xsoar-modelingrule-testdata-alert-event.json");
        let alerts = map(&body).unwrap();
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.native_id, "alert_id");
        assert_eq!(a.title, "API Gateway is not using SSL certificates");
        assert_eq!(a.severity, Severity::Info);
        assert_eq!(a.policy.vendor_severity.as_deref(), Some("informational"));
        assert_eq!(a.category, Category::Network);
        assert_eq!(a.vendor_status, VendorState::Open);
        assert_eq!(a.resource.id.as_deref(), Some("asset_vendor_id"));
        assert_eq!(a.resource.name.as_deref(), Some("asset_name"));
        assert_eq!(a.resource.rtype.as_deref(), Some("AwsApiGatewayEndpoint"));
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
        assert_eq!(a.resource.account.as_deref(), Some("cloud_vendor_id"));
        assert_eq!(a.resource.region.as_deref(), Some("us-east-1"));
        assert!(a.resource.tags.is_empty());
        assert_eq!(a.first_seen, Some(ms("2022-07-31T00:00:00+00:00")));
        assert_eq!(a.last_seen, Some(ms("2023-04-09T00:00:00+00:00")));
        assert_eq!(a.vendor_updated, Some(ms("2023-03-01T00:00:00+00:00")));
        let rem = a.remediation.as_deref().unwrap();
        assert!(rem.starts_with("We recommend to use client-side SSL certificates"));
        assert!(rem.contains(">1. To create a new SSL client certificate"));
        assert!(a.exposure.open_ports.is_empty());
        assert_eq!(a.raw, body);
    }

    #[test]
    fn related_compliances_of_the_inventory_are_compliance_references() {
        if corpus_missing() {
            return;
        }
        let mut body = load("orca/xsoar-modelingrule-testdata-alert-event.json");
        body["model"]["data"]["Inventory"]["RelatedCompliances"] = serde_json::json!([
            "PCI DSS 3.2.1",
            {"framework": "HIPAA", "section": "164.312(a)(1)"}
        ]);
        let a = &map(&body).unwrap()[0];
        assert_eq!(
            a.compliance,
            vec![
                Compliance {
                    standard: "PCI DSS 3.2.1".into(),
                    requirement: None,
                },
                Compliance {
                    standard: "HIPAA".into(),
                    requirement: Some("164.312(a)(1)".into()),
                },
            ]
        );
    }

    #[test]
    fn toy_mock_is_refused_and_imports_nothing() {
        if corpus_missing() {
            return;
        }
        let body = load("orca/xsoar-search-alerts-mock.json");
        assert_eq!(map(&body), Err(MapError::NotAlerts { what: TOY_MOCK }));
        assert_eq!(sniff(&body), Some(TOY_MOCK));
    }

    #[test]
    fn sniff_knows_orca_files_and_no_other_vendors() {
        if corpus_missing() {
            return;
        }
        let others = crate::sources::corpus::assert_sniff_claims_only_its_own("orca", sniff);
        for (file, body) in &others {
            assert!(
                !matches!(map(body), Ok(ref v) if !v.is_empty()),
                "{file} imported as Orca"
            );
        }
        assert!(others.len() > 10);
    }

    #[test]
    fn emitted_world_round_trips() {
        let world = World::generate(7, 300, 1_700_000_000_000);
        let findings: Vec<_> = world.findings_for(Vendor::Orca).collect();
        let body = emit::list_body(emit::items(&world, &findings));
        let text = serde_json::to_string(&body).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert!(sniff(&parsed).is_some());
        let alerts = map(&parsed).unwrap();
        assert_eq!(alerts.len(), findings.len());
        let mut cves_seen = 0;
        for (f, a) in findings.iter().zip(&alerts) {
            let r = world.resource_of(f);
            assert_eq!(a.native_id, emit::native_id(&world, f));
            assert_eq!(a.severity, f.severity.severity(), "{}", a.native_id);
            assert_eq!(a.category, f.rule.category.category(), "{}", a.native_id);
            assert_eq!(a.resource.id.as_deref(), Some(r.id.as_str()));
            assert_eq!(a.resource.name.as_deref(), Some(r.name.as_str()));
            assert_eq!(a.resource.account.as_deref(), Some(r.account.as_str()));
            assert_eq!(a.resource.region.as_deref(), Some(r.region.as_str()));
            assert_eq!(a.resource.cloud.as_ref(), Some(&r.cloud));
            assert_eq!(a.resource.tags, r.tags);
            assert_eq!(a.first_seen, Some(f.created_ms));
            assert_eq!(a.vendor_updated, Some(f.updated_ms));
            assert!(a.last_seen >= a.vendor_updated);
            assert!(a.remediation.is_some());
            assert_eq!(a.compliance.len(), f.rule.compliance.len());
            match f.cve {
                Some(c) => {
                    cves_seen += 1;
                    assert_eq!(a.cves.len(), 1);
                    assert_eq!(a.cves[0].id, c.id);
                    assert_eq!(a.cves[0].fixed_version.as_deref(), Some(c.fixed));
                    assert_eq!(a.cves[0].package.as_deref(), Some(c.package));
                    assert_eq!(a.cves[0].cvss, Some(c.cvss));
                }
                None => assert!(a.cves.is_empty()),
            }
            let want = match f.status {
                crate::sim::world::SimStatus::Open => VendorState::Open,
                crate::sim::world::SimStatus::InProgress => VendorState::InProgress,
                crate::sim::world::SimStatus::Resolved => VendorState::Resolved,
                crate::sim::world::SimStatus::Dismissed => VendorState::Dismissed,
            };
            assert_eq!(a.vendor_status, want);
        }
        assert!(cves_seen > 0);
        // One emitted item maps on its own.
        let one = emit::items(&world, &findings[..1]).remove(0);
        let single = map(&one).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].native_id, emit::native_id(&world, findings[0]));
    }

    #[test]
    fn tolerates_missing_optional_fields() {
        let body = json!({"status": "success", "data": [
            {"state": {"alert_id": "orca-1", "status": "in_progress"}, "type_string": "Thing"},
            {"state": {"alert_id": "orca-2", "score": 2}, "rule_id": "r1",
             "model": {"data": {"Inventory": {"Tags": "{\"env\": \"prod\"}"}}},
             "tags_info_list": ["aws:cloudformation:logical-id|Stack"]}
        ]});
        let alerts = map(&body).unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].title, "Thing");
        assert_eq!(alerts[0].vendor_status, VendorState::InProgress);
        assert_eq!(alerts[0].severity, Severity::Other("unknown".into()));
        assert_eq!(alerts[1].title, "Orca alert orca-2");
        assert_eq!(alerts[1].severity, Severity::High);
        assert_eq!(
            alerts[1].resource.tags.get("env").map(String::as_str),
            Some("prod")
        );
        assert_eq!(
            alerts[1]
                .resource
                .tags
                .get("aws:cloudformation:logical-id")
                .map(String::as_str),
            Some("Stack")
        );
    }

    #[test]
    fn item_without_id_is_an_item_error() {
        let body = json!({"status": "success", "data": [
            {"state": {"alert_id": "orca-1"}, "type_string": "ok"},
            {"state": {"status": "open", "risk_level": "high"}, "type_string": "no id"}
        ]});
        match map(&body) {
            Err(MapError::Item { index, detail }) => {
                assert_eq!(index, 1);
                assert!(detail.contains("state.alert_id"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_are_shape_errors() {
        for body in [
            json!([1, 2]),
            json!({"paging": {}, "data": [{"alertId": 1}]}),
            json!({"reply": {"alerts": []}}),
            json!({"status": "failure", "error": "bad token"}),
            json!({"status": "ok", "data": [{"id": 1, "title": "not orca"}]}),
        ] {
            assert!(
                matches!(map(&body), Err(MapError::Shape { vendor: "orca", .. })),
                "{body}"
            );
        }
        let err = map(&json!({"status": "failure", "error": "bad token"})).unwrap_err();
        assert!(err.to_string().contains("bad token"));
    }

    #[test]
    fn serving_layer_items_map() {
        let body = json!({"data": [{
            "name": "orca-77",
            "data": {
                "AlertId": {"value": "orca-77"},
                "AlertType": {"value": "Vulnerable package django"},
                "OrcaScore": {"value": 8.1},
                "RiskLevel": {"value": "high"},
                "Category": {"value": "Vulnerabilities"},
                "Status": {"value": "open"},
                "Description": {"value": "django 3.2 has known vulnerabilities"},
                "Recommendation": {"value": "Upgrade django"},
                "CveIds": {"value": ["CVE-2023-36053", "CVE-2023-41164"]},
                "RiskFindings": {"value": {"cves": {"top_cves": [
                    {"cve_id": "CVE-2023-36053", "cvss_score": 7.5, "fixed_version": "3.2.20"}
                ]}}},
                "Labels": {"value": ["internet_facing"]},
                "AssetData": {"value": {"asset_name": "web-1", "cloud_provider": "aws",
                    "cloud_vendor_id": "123456789012", "asset_vendor_id": "i-0abc"}}
            }
        }]});
        assert_eq!(
            sniff(&body),
            Some("an Orca serving-layer alert query response")
        );
        let alerts = map(&body).unwrap();
        let a = &alerts[0];
        assert_eq!(a.native_id, "orca-77");
        assert_eq!(a.title, "Vulnerable package django");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.category, Category::Vulnerability);
        assert_eq!(a.remediation.as_deref(), Some("Upgrade django"));
        assert_eq!(a.resource.id.as_deref(), Some("i-0abc"));
        assert_eq!(a.resource.account.as_deref(), Some("123456789012"));
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
        assert_eq!(a.exposure.internet_facing, Some(true));
        assert_eq!(a.cves.len(), 2);
        assert_eq!(a.cves[0].fixed_version.as_deref(), Some("3.2.20"));
        assert_eq!(a.cves[1].id, "CVE-2023-41164");
    }

    #[test]
    fn legacy_severity_words_and_categories() {
        let one = |state: Value, cat: &str| {
            let v = json!({"state": state, "category": cat, "type_string": "t"});
            map(&v).unwrap().remove(0)
        };
        let a = one(
            json!({"alert_id": "orca-1", "severity": "imminent compromise"}),
            "Data at risk",
        );
        assert_eq!((a.severity, a.category), (Severity::High, Category::Data));
        let a = one(
            json!({"alert_id": "orca-1", "severity": "hazardous"}),
            "Malicious activity",
        );
        assert_eq!(
            (a.severity, a.category),
            (Severity::Medium, Category::Runtime)
        );
        let a = one(
            json!({"alert_id": "orca-1", "orca_score": 9.4}),
            "Workload misconfigurations",
        );
        assert_eq!(
            (a.severity, a.category),
            (Severity::Critical, Category::Misconfiguration)
        );
        let a = one(
            json!({"alert_id": "orca-1", "score": 1, "status": "snoozed"}),
            "System integrity",
        );
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.category, Category::Other("system integrity".into()));
        assert_eq!(a.vendor_status, VendorState::Snoozed);
        let a = one(
            json!({"alert_id": "orca-1", "risk_level": "medium"}),
            "Authentication",
        );
        assert_eq!(a.category, Category::Identity);
        let v = json!({"state": {"alert_id": "orca-9"}, "type_string": "t",
            "model": {"data": {"Inventory": {"BlastRadius": "{\"assets\": 3}"}}}});
        let a = map(&v).unwrap().remove(0);
        assert_eq!(
            a.attack_context,
            Some(json!({"blast_radius": {"assets": 3}}))
        );
    }

    /// Blast-radius context, or a title naming an attack path, becomes the typed hint.
    #[test]
    fn attack_paths_are_typed_vendor_paths() {
        let mut a = Alert::new(Vendor::Orca, "O", json!({}));
        a.title = "Exposed VM".into();
        assert_eq!(vendor_path(&a), None);
        a.attack_context = Some(json!({"blast_radius": {"assets": 3}}));
        assert_eq!(
            vendor_path(&a),
            Some(VendorPath {
                kind: VendorPathKind::OrcaBlastRadius,
                name: "Exposed VM".into()
            })
        );
        a.attack_context = None;
        a.title = "Attack Path: exposed VM to bucket".into();
        assert_eq!(
            vendor_path(&a).map(|p| p.kind),
            Some(VendorPathKind::OrcaAttackPath)
        );
    }
}
