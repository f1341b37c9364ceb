//! Lacework / FortiCNAPP (API v2) payloads → alerts. The accepted bodies, the category rule
//! and how an `entityMap` is read are in docs/vendors.md ("Mapper details"); the tests below
//! pin them.

use serde_json::{Map, Value};

use crate::domain::{
    Alert, Category, Cloud, Cve, RawJson, Resource, Severity, Vendor, VendorState,
};
use crate::sources::{MapError, json as j};

const VENDOR: &str = "lacework";

/// Where list replies keep their items (`[]`: the reply is the array), for item-by-item
/// mapping ([`crate::sources::Page`]).
pub const ITEM_PATHS: crate::sources::ItemPaths = &[&["data"]];

pub fn map(body: &Value) -> Result<Vec<Alert>, MapError> {
    let Some(obj) = body.as_object() else {
        return Err(shape(
            "expected a JSON object (an Alerts list {paging, data} or one alert)",
        ));
    };
    if is_token_response(obj) {
        return Err(MapError::NotAlerts {
            what: "a Lacework access token response",
        });
    }
    match obj.get("data") {
        Some(Value::Array(items)) => {
            if items.iter().any(is_timeline_entry) {
                return Err(MapError::NotAlerts {
                    what: "a Lacework alert timeline response",
                });
            }
            let any_alert = items.iter().any(|i| i.get("alertId").is_some());
            let empty_page = items.is_empty() && obj.contains_key("paging");
            if !any_alert && !empty_page {
                return Err(shape(
                    "expected an Alerts list whose data[] items carry an alertId",
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    map_alert(item).map_err(|detail| MapError::Item { index, detail })
                })
                .collect()
        }
        Some(Value::Object(d)) => {
            let inner = Value::Object(d.clone());
            if is_timeline_entry(&inner) {
                Err(MapError::NotAlerts {
                    what: "a Lacework alert comment response",
                })
            } else if d.contains_key("alertId") {
                Err(MapError::NotAlerts {
                    what: "a Lacework alert details response (scope=Details)",
                })
            } else {
                Err(shape(
                    "expected an Alerts list {paging, data: [...]}; data is an object without an alertId",
                ))
            }
        }
        _ if is_alert(body) => map_alert(body)
            .map(|a| vec![a])
            .map_err(|detail| MapError::Item { index: 0, detail }),
        _ => Err(shape(
            "expected an Alerts list {paging, data: [...]} or one alert object with an alertId",
        )),
    }
}

pub fn sniff(body: &Value) -> Option<&'static str> {
    let obj = body.as_object()?;
    if is_token_response(obj) {
        return Some("a Lacework access token response");
    }
    match obj.get("data") {
        Some(Value::Array(items)) => {
            if items.first().is_some_and(is_timeline_entry) {
                Some("a Lacework alert timeline response")
            } else if obj.get("paging").is_some_and(is_paging) {
                if items.iter().all(|i| i.get("alertId").is_some()) {
                    Some("a Lacework alerts list response")
                } else {
                    Some("a Lacework API v2 list response")
                }
            } else {
                None
            }
        }
        Some(d @ Value::Object(m)) => {
            if is_timeline_entry(d) {
                Some("a Lacework alert comment response")
            } else if m.contains_key("alertId")
                && (m.contains_key("alertType") || m.contains_key("alertName"))
            {
                Some("a Lacework alert details response")
            } else {
                None
            }
        }
        _ if is_alert(body) => Some("a Lacework alert"),
        _ => None,
    }
}

fn shape(detail: &str) -> MapError {
    MapError::Shape {
        vendor: VENDOR,
        detail: detail.to_string(),
    }
}

fn is_token_response(obj: &Map<String, Value>) -> bool {
    obj.get("token").is_some_and(Value::is_string) && obj.contains_key("expiresAt")
}

fn is_paging(p: &Value) -> bool {
    p.get("urls").is_some() || p.get("totalRows").is_some() || p.get("rows").is_some()
}

/// A timeline / comment entry: `{id, alertId, entryType, entryAuthorType, message, ...}`.
fn is_timeline_entry(v: &Value) -> bool {
    v.get("entryType").is_some()
        || (v.get("entryAuthorType").is_some() && v.get("message").is_some())
}

fn is_alert(v: &Value) -> bool {
    v.get("alertId").is_some()
        && !is_timeline_entry(v)
        && [
            "alertType",
            "alertName",
            "alertInfo",
            "severity",
            "startTime",
        ]
        .iter()
        .any(|k| v.get(*k).is_some())
}

fn map_alert(item: &Value) -> Result<Alert, String> {
    if !item.is_object() {
        return Err("the Lacework alert is not a JSON object".into());
    }
    let id = j::string(item, "alertId").ok_or("the Lacework alert has no alertId")?;
    let mut a = Alert::new(Vendor::Lacework, id.clone(), RawJson::of(item));
    let alert_type = j::string(item, "alertType");
    a.title = j::first_string(item, &["alertName", "alertInfo.subject"])
        .or_else(|| alert_type.as_ref().map(|t| format!("{t} alert")))
        .unwrap_or_else(|| format!("Lacework alert {id}"));
    a.description = j::string(item, "alertInfo.description");
    a.policy.id = j::string(item, "policyId");
    a.policy.name = j::first_string(item, &["alertName", "alertInfo.subject"]);
    a.policy.vendor_severity = j::string(item, "severity");
    a.severity = severity(item);
    a.vendor_status = status(j::string(item, "status").as_deref());
    a.first_seen = j::time(item, "startTime");
    a.last_seen = j::first_time(item, &["endTime", "startTime"]);
    a.vendor_updated =
        j::first_time(item, &["lastUserUpdatedTime", "lastUserUpdateTime"]).or(a.last_seen);
    a.category = category(item);
    if let Some(Value::Object(map)) = item.get("entityMap") {
        let entities = Entities::new(map);
        a.resource = entities.resource();
        if a.resource.cloud.is_none() {
            a.resource.cloud = cloud_from_source(item)
                .or_else(|| a.resource.id.as_deref().and_then(cloud_from_id));
        }
        a.cves = entities.cves();
    }
    a.exposure.internet_facing = j::string(item, "reachability").and_then(|r| reachability(&r));
    Ok(a)
}

/// Capitalised words in payloads (`High`); the numeric 1..5 scale of older Lacework APIs is
/// tolerated too.
fn severity(item: &Value) -> Severity {
    match item.get("severity") {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => Severity::Critical,
            Some(2) => Severity::High,
            Some(3) => Severity::Medium,
            Some(4) => Severity::Low,
            Some(5) => Severity::Info,
            _ => Severity::Other(n.to_string()),
        },
        _ => j::string(item, "severity")
            .map(|s| Severity::from_vendor(&s))
            .unwrap_or(Severity::Other("unknown".into())),
    }
}

fn status(s: Option<&str>) -> VendorState {
    let Some(s) = s else {
        return VendorState::Other("unknown".into());
    };
    let norm: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match norm.as_str() {
        "open" | "new" => VendorState::Open,
        "inprogress" => VendorState::InProgress,
        "closed" | "resolved" => VendorState::Resolved,
        _ => VendorState::Other(s.trim().to_ascii_lowercase()),
    }
}

fn category(item: &Value) -> Category {
    let alert_type = j::string(item, "alertType").unwrap_or_default();
    let at = alert_type.to_ascii_lowercase();
    let sub = j::string(item, "derivedFields.sub_category")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let cat = j::string(item, "derivedFields.category")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let policy = j::string(item, "policyId")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let names = format!(
        "{} {}",
        j::string(item, "alertName").unwrap_or_default(),
        j::string(item, "alertInfo.subject").unwrap_or_default()
    )
    .to_ascii_lowercase();

    if policy.starts_with("LW_VULN")
        || at.contains("vulnerab")
        || sub.contains("vulnerab")
        || sub == "registry"
    {
        return Category::Vulnerability;
    }
    if sub == "compliance" || at.contains("violation") || at.contains("compliance") {
        return compliance_category(&names);
    }
    if sub == "cloud activity" || sub == "user" {
        let text = format!("{at} {names}");
        return if speaks_of_identity(&text) {
            Category::Identity
        } else {
            Category::Runtime
        };
    }
    if matches!(
        sub.as_str(),
        "application" | "file" | "machine" | "process" | "kubernetes activity" | "container"
    ) {
        return Category::Runtime;
    }
    if sub == "platform" {
        return Category::Other("platform".into());
    }
    if cat == "anomaly" || cat == "composite" {
        return Category::Runtime;
    }
    if alert_type.is_empty() {
        Category::Other("unknown".into())
    } else {
        Category::Other(at)
    }
}

fn compliance_category(names: &str) -> Category {
    let words: Vec<&str> = names
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let word = |w: &str| words.contains(&w);
    let phrase = |p: &str| names.contains(p);
    if [
        "root",
        "mfa",
        "iam",
        "privilege",
        "privileges",
        "password",
        "credential",
        "credentials",
    ]
    .iter()
    .any(|w| word(w))
        || phrase("access key")
    {
        Category::Identity
    } else if [
        "publicly readable",
        "publicly accessible",
        "public bucket",
        "public read",
        "sensitive data",
    ]
    .iter()
    .any(|p| phrase(p))
    {
        Category::Data
    } else if [
        "port", "ports", "ingress", "firewall", "ssh", "rdp", "internet",
    ]
    .iter()
    .any(|w| word(w))
        || phrase("0.0.0.0/0")
        || phrase("security group")
    {
        Category::Network
    } else {
        Category::Misconfiguration
    }
}

fn speaks_of_identity(text: &str) -> bool {
    [
        "user",
        "login",
        "logon",
        "logged",
        "root",
        "iam",
        "mfa",
        "credential",
        "accesskey",
        "access key",
        "role",
        "privilege",
        "password",
        "signin",
        "sign in",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// `derivedFields.source` when it names a cloud (it is also "Agent" or empty).
fn cloud_from_source(item: &Value) -> Option<Cloud> {
    let s = j::string(item, "derivedFields.source")?;
    match Cloud::from_vendor(&s) {
        Cloud::Other(_) => None,
        c => Some(c),
    }
}

/// The cloud an id's own syntax names (ARN, Azure resource id, GCP resource name, k8s path).
fn cloud_from_id(id: &str) -> Option<Cloud> {
    let l = id.to_ascii_lowercase();
    if l.starts_with("arn:aws") {
        Some(Cloud::Aws)
    } else if l.starts_with("/subscriptions/") {
        Some(Cloud::Azure)
    } else if l.starts_with("//") && l.contains("googleapis.com") {
        Some(Cloud::Gcp)
    } else if l.starts_with("k8s/") {
        Some(Cloud::Kubernetes)
    } else {
        None
    }
}

/// `reachability`: only an explicit reachable / not-reachable word counts (seen in payloads:
/// `UnknownReachability`; other values UNCONFIRMED).
fn reachability(r: &str) -> Option<bool> {
    let l = r.to_ascii_lowercase();
    if l.contains("unknown") {
        None
    } else if l.contains("notreachable") || l.contains("unreachable") || l.contains("not_reachable")
    {
        Some(false)
    } else if l.contains("reachable") {
        Some(true)
    } else {
        None
    }
}

/// The `entityMap` flattened: (entity type in lower case, merged KEY+PROPS with lower-case keys).
struct Entities {
    list: Vec<(String, Map<String, Value>)>,
}

impl Entities {
    fn new(map: &Map<String, Value>) -> Entities {
        let mut list = Vec::new();
        for (kind, entries) in map {
            let entries: Vec<&Value> = match entries {
                Value::Array(a) => a.iter().collect(),
                v @ Value::Object(_) => vec![v],
                _ => Vec::new(),
            };
            for e in entries {
                let mut merged = Map::new();
                let parts: Vec<&Value> = match (e.get("KEY"), e.get("PROPS")) {
                    (None, None) => vec![e],
                    (k, p) => k.into_iter().chain(p).collect(),
                };
                for part in parts {
                    let part = match part {
                        // Some PROPS arrive JSON-encoded.
                        Value::String(s) => serde_json::from_str::<Value>(s).unwrap_or(Value::Null),
                        other => other.clone(),
                    };
                    if let Value::Object(m) = part {
                        for (k, v) in m {
                            merged.insert(k.to_ascii_lowercase(), v);
                        }
                    }
                }
                list.push((kind.to_ascii_lowercase(), merged));
            }
        }
        Entities { list }
    }

    /// The first non-empty value of `keys` in entities of the given kinds (in order of kinds),
    /// then in any entity if `anywhere`.
    fn find(&self, kinds: &[&str], keys: &[&str], anywhere: bool) -> Option<String> {
        let pick = |m: &Map<String, Value>| keys.iter().find_map(|k| scalar_or_first(m.get(*k)?));
        for kind in kinds {
            if let Some(v) = self
                .list
                .iter()
                .filter(|(k, _)| k == kind)
                .find_map(|(_, m)| pick(m))
            {
                return Some(v);
            }
        }
        if anywhere {
            self.list.iter().find_map(|(_, m)| pick(m))
        } else {
            None
        }
    }

    fn resource(&self) -> Resource {
        const KINDS: &[&str] = &[
            "resource",
            "newviolation",
            "violation",
            "machine",
            "container",
            "image",
        ];
        const ID_KEYS: &[&str] = &[
            "arn",
            "resource_id",
            "resourceid",
            "resource",
            "urn",
            "value",
            "instance_id",
            "hostname",
        ];
        // A cloud-native id anywhere beats the kind order.
        let native = self
            .list
            .iter()
            .flat_map(|(_, m)| {
                ID_KEYS
                    .iter()
                    .filter_map(|k| m.get(*k).and_then(scalar_or_first))
            })
            .find(|v| cloud_from_id(v).is_some());
        let id = native.or_else(|| self.find(KINDS, ID_KEYS, false));
        let tags = self
            .list
            .iter()
            .find_map(|(_, m)| {
                ["tags", "resource_tags"].iter().find_map(|k| {
                    let t = j::tags(&Value::Object(m.clone()), k);
                    (!t.is_empty()).then_some(t)
                })
            })
            .unwrap_or_default();
        Resource {
            id,
            name: self.find(
                KINDS,
                &["resource_name", "name", "instance_name", "hostname"],
                false,
            ),
            rtype: self.find(KINDS, &["resource_type", "type"], false),
            cloud: self
                .find(
                    &["resource"],
                    &["cloud", "cloud_provider", "provider", "csp"],
                    true,
                )
                .map(|c| Cloud::from_vendor(&c)),
            account: self.find(
                &[
                    "resource", "account", "recid", "region", "ct_user", "machine",
                ],
                &[
                    "account_id",
                    "accountid",
                    "account",
                    "subscription_id",
                    "project_id",
                    "accounts",
                    "account_list",
                ],
                true,
            ),
            region: self.find(
                &["resource", "region", "machine"],
                &["region", "region_name", "region_list"],
                true,
            ),
            tags,
        }
    }

    fn cves(&self) -> Vec<Cve> {
        const KINDS: [&str; 5] = ["cve", "vulnerability", "vuln", "vulnerabilities", "cves"];
        self.list
            .iter()
            .filter(|(k, _)| KINDS.contains(&k.as_str()))
            .filter_map(|(_, m)| {
                let v = Value::Object(m.clone());
                let id = j::first_string(&v, &["cve_id", "vuln_id", "cve", "id"])?;
                Some(Cve {
                    id,
                    cvss: ["cvss_score", "cvss_v3_score", "cvss", "score"]
                        .iter()
                        .find_map(|k| j::float(&v, k)),
                    cvss_vector: j::first_string(&v, &["cvss_vector", "vector", "cvss_v3_vector"]),
                    package: j::first_string(&v, &["package_name", "package", "feature_name"]),
                    package_version: j::first_string(
                        &v,
                        &["package_version", "version", "current_version"],
                    ),
                    fixed_version: j::first_string(
                        &v,
                        &["fix_version", "fixed_version", "fix_available_version"],
                    ),
                })
            })
            .collect()
    }
}

/// A scalar as text, or the first string of an array.
fn scalar_or_first(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => a.iter().find_map(scalar_or_first),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::world::{SimFinding, SimStatus, World};
    use crate::vendors::lacework::sim::emit;
    use serde_json::json;

    /// A corpus file, or None (test skipped) when the corpus is not there, except under CI.
    fn corpus(rel: &str) -> Option<Value> {
        crate::sources::corpus::load(rel)
    }

    fn manifest() -> Vec<(String, String, usize)> {
        crate::sources::corpus::manifest("lacework")
    }

    #[test]
    fn every_corpus_file_maps_to_the_manifest_count() {
        if corpus("lacework/gosdk-alerts-list.json").is_none() {
            return;
        }
        let rows = manifest();
        assert_eq!(rows.len(), 6);
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

    #[test]
    fn alerts_list_pages_map_their_alert() {
        for (file, id) in [
            ("lacework/gosdk-alerts-list.json", "967278"),
            ("lacework/gosdk-alerts-list-page1.json", "967278"),
            ("lacework/gosdk-alerts-list-page2.json", "967279"),
        ] {
            let Some(body) = corpus(file) else { return };
            let alerts = map(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(alerts.len(), 1);
            let a = &alerts[0];
            assert_eq!(a.vendor, Vendor::Lacework);
            assert_eq!(a.native_id, id);
            assert_eq!(
                a.title,
                "Clone of Cloud Activity log ingestion failure detected"
            );
            assert_eq!(
                a.description.as_deref(),
                Some("New integration failure detected for kiki-intg-2 (and 3 more)")
            );
            assert_eq!(a.severity, Severity::High);
            assert_eq!(a.policy.vendor_severity.as_deref(), Some("High"));
            assert_eq!(a.policy.id.as_deref(), Some("CUSTOM_PLATFORM_130"));
            assert_eq!(a.category, Category::Other("platform".into()));
            assert_eq!(a.vendor_status, VendorState::Open);
            assert_eq!(a.first_seen, Some(1_664_467_200_000));
            assert_eq!(a.last_seen, Some(1_664_470_800_000));
            // lastUserUpdatedTime is "0": never updated by a user, so endTime.
            assert_eq!(a.vendor_updated, Some(1_664_470_800_000));
            // The list shape carries no resource, and none is invented.
            assert_eq!(a.resource, Resource::default());
            assert!(a.cves.is_empty() && a.compliance.is_empty());
            assert_eq!(a.remediation, None);
            assert_eq!(a.exposure.internet_facing, None);
            assert_eq!(&a.raw, &body["data"][0]);
        }
    }

    #[test]
    fn related_responses_carry_no_alerts() {
        for (file, what) in [
            (
                "lacework/gosdk-alert-details.json",
                "a Lacework alert details response (scope=Details)",
            ),
            (
                "lacework/gosdk-alert-comment-response.json",
                "a Lacework alert comment response",
            ),
            (
                "lacework/gosdk-alert-timeline.json",
                "a Lacework alert timeline response",
            ),
        ] {
            let Some(body) = corpus(file) else { return };
            assert_eq!(map(&body), Err(MapError::NotAlerts { what }), "{file}");
        }
        let token = json!({"token": "abc", "expiresAt": "2022-09-29T17:00:00.000Z"});
        assert_eq!(
            map(&token),
            Err(MapError::NotAlerts {
                what: "a Lacework access token response"
            })
        );
    }

    #[test]
    fn a_single_alert_with_an_entity_map_maps() {
        // The alert object of the Details response, on its own: a single alert.
        let Some(details) = corpus("lacework/gosdk-alert-details.json") else {
            return;
        };
        let item = details["data"].clone();
        let alerts = map(&item).unwrap_or_else(|e| panic!("{e}"));
        let a = &alerts[0];
        assert_eq!(a.native_id, "967272");
        assert_eq!(a.title, "Clone of Files Changed");
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.category, Category::Runtime, "Policy / File");
        assert_eq!(a.first_seen, Some(1_664_463_600_000));
        assert_eq!(a.last_seen, Some(1_664_467_200_000));
        // Its entityMap only names the custom rule: no resource.
        assert_eq!(a.resource.id, None);
        assert_eq!(a.resource.account, None);
    }

    #[test]
    fn entity_map_is_read_tolerantly() {
        let alert = json!({
            "alertId": 1, "alertName": "x", "severity": "Critical", "status": "Closed",
            "startTime": "2022-09-29T15:00:00.000Z", "endTime": "2022-09-29T16:00:00.000Z",
            "lastUserUpdatedTime": "2022-09-30T10:00:00.000Z",
            "derivedFields": {"category": "Policy", "sub_category": "Compliance", "source": "AWS"},
            "alertInfo": {"subject": "Ensure no security groups allow ingress from 0.0.0.0/0 to port 22"},
            "entityMap": {
                "Machine": [{"KEY": {"hostname": "ip-10-0-0-1"}, "PROPS": "{\"instance_id\": \"i-0abc\"}"}],
                "NewViolation": [{"REC_ID": "AWS_CIS_4_1", "RESOURCE": "arn:aws:ec2:us-west-2:123456789012:security-group/sg-1"}],
                "Region": {"KEY": {"region": "us-west-2"}, "PROPS": {"ACCOUNT_LIST": ["123456789012"]}}
            }
        });
        let a = map(&alert).unwrap_or_else(|e| panic!("{e}")).remove(0);
        assert_eq!(
            a.resource.id.as_deref(),
            Some("arn:aws:ec2:us-west-2:123456789012:security-group/sg-1")
        );
        assert_eq!(a.resource.account.as_deref(), Some("123456789012"));
        assert_eq!(a.resource.region.as_deref(), Some("us-west-2"));
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
        assert_eq!(a.category, Category::Network);
        assert_eq!(a.vendor_status, VendorState::Resolved);
        assert_eq!(a.vendor_updated, Some(1_664_532_000_000));
        assert_eq!(a.severity, Severity::Critical);

        // Only a machine: the host name is the identity; numeric severities are tolerated.
        let host_only = json!({"alertId": "2", "alertType": "NewChildLaunched", "severity": 2,
            "derivedFields": {"category": "Anomaly", "sub_category": "Application", "source": "Agent"},
            "entityMap": {"Machine": [{"KEY": {"hostname": "ip-10-0-0-1"}}]}});
        let b = map(&host_only).unwrap_or_else(|e| panic!("{e}")).remove(0);
        assert_eq!(b.resource.id.as_deref(), Some("ip-10-0-0-1"));
        assert_eq!(b.resource.cloud, None);
        assert_eq!(b.severity, Severity::High);
        assert_eq!(b.category, Category::Runtime);
    }

    #[test]
    fn categories_follow_the_documented_rule() {
        let cat = |sub: &str, cat: &str, alert_type: &str, name: &str| {
            category(&json!({"alertType": alert_type, "alertName": name,
                "derivedFields": {"category": cat, "sub_category": sub}}))
        };
        assert_eq!(
            cat(
                "Compliance",
                "Policy",
                "NewViolations",
                "S3 bucket without access logging"
            ),
            Category::Misconfiguration
        );
        assert_eq!(
            cat(
                "Compliance",
                "Policy",
                "NewViolations",
                "Ensure MFA is enabled for the root account"
            ),
            Category::Identity
        );
        assert_eq!(
            cat(
                "Compliance",
                "Policy",
                "NewViolations",
                "S3 bucket is publicly readable"
            ),
            Category::Data
        );
        assert_eq!(
            cat("Cloud Activity", "Anomaly", "NewAwsUser", "New AWS user"),
            Category::Identity
        );
        assert_eq!(
            cat("Cloud Activity", "Anomaly", "NewRegion", "New region"),
            Category::Runtime
        );
        assert_eq!(
            cat(
                "User",
                "Anomaly",
                "NewExternalServerBadIPConnFromVuln",
                "Bad external server IP connection"
            ),
            Category::Runtime
        );
        assert_eq!(
            cat("Machine", "Anomaly", "NewExternalServerIPConn", "x"),
            Category::Runtime
        );
        assert_eq!(
            cat("Registry", "Policy", "NewPolicyViolation", "x"),
            Category::Vulnerability
        );
        assert_eq!(
            cat("Registry", "Policy", "ContainerImageScan", "x"),
            Category::Vulnerability
        );
        assert_eq!(
            cat("Platform", "Policy", "CloudActivityLogIngestionFailed", "x"),
            Category::Other("platform".into())
        );
        assert_eq!(
            cat("", "Composite", "PotentiallyCompromisedHost", "x"),
            Category::Runtime
        );
        assert_eq!(
            cat("", "", "SomethingNew", "x"),
            Category::Other("somethingnew".into())
        );
    }

    #[test]
    fn sniff_recognises_lacework_files_and_no_other_vendors() {
        if corpus("lacework/gosdk-alerts-list.json").is_none() {
            return;
        }
        let others = crate::sources::corpus::assert_sniff_claims_only_its_own("lacework", sniff);
        assert!(others.len() >= 20);
        let Some(list) = corpus("lacework/gosdk-alerts-list-page1.json") else {
            return;
        };
        assert_eq!(sniff(&list), Some("a Lacework alerts list response"));
    }

    #[test]
    fn emitted_world_round_trips() {
        let world = World::generate(9, 300, 1_700_000_000_000);
        let findings: Vec<&SimFinding> = world.findings_for(Vendor::Lacework).collect();
        let body = emit::list_body(emit::items(&world, &findings));
        let text = serde_json::to_string(&body).unwrap_or_default();
        let parsed: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(sniff(&parsed), Some("a Lacework alerts list response"));
        let alerts = map(&parsed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(alerts.len(), findings.len());
        let mut vulns = 0;
        for (f, a) in findings.iter().zip(&alerts) {
            let r = world.resource_of(f);
            assert_eq!(a.native_id, emit::native_id(&world, f));
            assert_eq!(a.severity, f.severity.severity());
            assert_eq!(a.category, f.rule.category.category(), "{}", f.rule.name);
            assert_eq!(a.resource.id.as_deref(), Some(r.id.as_str()));
            assert_eq!(a.resource.name.as_deref(), Some(r.name.as_str()));
            assert_eq!(a.resource.account.as_deref(), Some(r.account.as_str()));
            assert_eq!(a.resource.region.as_deref(), Some(r.region.as_str()));
            assert_eq!(a.resource.cloud.as_ref(), Some(&r.cloud));
            assert_eq!(a.resource.tags, r.tags);
            assert_eq!(a.first_seen, Some(f.created_ms));
            assert_eq!(a.vendor_updated, Some(f.updated_ms));
            let closed = matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed);
            assert_eq!(
                a.vendor_status,
                if closed {
                    VendorState::Resolved
                } else {
                    VendorState::Open
                }
            );
            match f.cve {
                Some(cve) => {
                    vulns += 1;
                    assert_eq!(a.cves.len(), 1);
                    assert_eq!(a.cves[0].id, cve.id);
                    assert_eq!(a.cves[0].fixed_version.as_deref(), Some(cve.fixed));
                    assert_eq!(a.cves[0].package.as_deref(), Some(cve.package));
                    assert_eq!(a.cves[0].cvss, Some(cve.cvss));
                    assert_eq!(a.cves[0].cvss_vector.as_deref(), Some(cve.vector));
                }
                None => assert!(a.cves.is_empty()),
            }
        }
        assert!(vulns > 0);
        // A single emitted item maps on its own.
        for f in findings.iter().take(20) {
            let item = emit::items(&world, &[*f]).remove(0);
            let one = map(&item).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(one.len(), 1);
            assert_eq!(one[0].native_id, emit::native_id(&world, f));
            assert_eq!(sniff(&item), Some("a Lacework alert"));
        }
    }

    #[test]
    fn other_vendors_bodies_are_named_by_map_payload() {
        let Some(wiz) = corpus("wiz/elastic-graphql-issues-list-response.json") else {
            return;
        };
        assert_eq!(
            crate::vendors::map_payload(Vendor::Lacework, "lw", &wiz),
            Err(MapError::WrongVendor {
                looks_like: "a Wiz GraphQL issues response",
                expected: "lacework",
            })
        );
        let Some(list) = corpus("lacework/gosdk-alerts-list.json") else {
            return;
        };
        assert_eq!(
            crate::vendors::map_payload(Vendor::Wiz, "wiz", &list),
            Err(MapError::WrongVendor {
                looks_like: "a Lacework alerts list response",
                expected: "wiz",
            })
        );
        let alerts =
            crate::vendors::map_payload(Vendor::Lacework, "prod-lw", &list).unwrap_or_default();
        assert_eq!(alerts[0].id(), "prod-lw:967278");
    }

    #[test]
    fn tolerance_missing_fields_missing_id_and_wrong_shapes() {
        let body = json!({"paging": {"rows": 2, "totalRows": 2, "urls": {"nextPage": "%s"}},
            "data": [{"alertId": 5}, {"alertId": 6, "severity": "Low", "alertInfo": {"subject": "only a subject"}}]});
        let alerts = map(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].native_id, "5");
        assert_eq!(alerts[0].title, "Lacework alert 5");
        assert_eq!(alerts[0].severity, Severity::Other("unknown".into()));
        assert_eq!(alerts[1].title, "only a subject");

        let missing =
            json!({"paging": {"rows": 2}, "data": [{"alertId": 5}, {"alertName": "no id"}]});
        assert!(matches!(
            map(&missing),
            Err(MapError::Item { index: 1, .. })
        ));

        let empty =
            json!({"paging": {"rows": 0, "totalRows": 0, "urls": {"nextPage": null}}, "data": []});
        assert_eq!(map(&empty).map(|a| a.len()), Ok(0));

        for wrong in [
            json!({"reply": {"alerts": []}}),
            json!({"data": [{"name": "not an alert"}]}),
            json!({"data": {"something": 1}}),
            json!([{"alertId": 1}]),
            json!(null),
        ] {
            assert!(
                matches!(
                    map(&wrong),
                    Err(MapError::Shape {
                        vendor: "lacework",
                        ..
                    })
                ),
                "{wrong}"
            );
        }
    }
}
