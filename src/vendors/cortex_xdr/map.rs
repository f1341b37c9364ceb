//! Cortex XDR alerts and incidents → the normalized model. The accepted bodies and native
//! ids are in docs/vendors.md ("Mapper details"); the tests below pin them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::domain::{
    Alert, Category, Cloud, EpochMs, Policy, RawJson, Resource, Severity, Vendor, VendorState,
};
use crate::sources::{MapError, json};

const VENDOR: &str = "cortex_xdr";

const EXTRA_DATA: &str = "a Cortex XDR incident extra-data response (get_incident_extra_data)";
const BY_FILTER: &str = "a Cortex XDR internal alerts-by-filter response (alert_fields records, not the public alerts API)";

/// Where list replies keep their items (`[]`: the reply is the array), for item-by-item
/// mapping ([`crate::sources::Page`]).
pub const ITEM_PATHS: crate::sources::ItemPaths = &[&["reply", "alerts"], &["reply", "incidents"]];

pub fn map(body: &Value) -> Result<Vec<Alert>, MapError> {
    let Some(obj) = body.as_object() else {
        return Err(shape(
            "expected a JSON object such as {\"reply\": {\"alerts\": [...]}}",
        ));
    };
    if let Some(msg) = error_message(body) {
        return Err(shape(&format!("Cortex XDR returned an error: {msg}")));
    }
    if let Some(reply) = obj.get("reply") {
        let Some(r) = reply.as_object() else {
            return Err(shape("reply is not an object"));
        };
        if r.contains_key("incident") {
            return Err(MapError::NotAlerts { what: EXTRA_DATA });
        }
        if let Some(Value::Array(items)) = r.get("alerts") {
            if items.iter().any(|i| i.get("alert_fields").is_some()) {
                return Err(MapError::NotAlerts { what: BY_FILTER });
            }
            return items
                .iter()
                .enumerate()
                .map(|(i, item)| map_alert(i, item))
                .collect();
        }
        if let Some(Value::Array(items)) = r.get("incidents") {
            return items
                .iter()
                .enumerate()
                .map(|(i, item)| map_incident(i, item))
                .collect();
        }
        return Err(shape(
            "expected reply.alerts[] (get_alerts) or reply.incidents[] (get_incidents)",
        ));
    }
    if is_alert(body) {
        return map_alert(0, body).map(|a| vec![a]);
    }
    if is_incident(body) {
        return map_incident(0, body).map(|a| vec![a]);
    }
    Err(shape(
        "expected {\"reply\": {\"alerts\": [...]}}, {\"reply\": {\"incidents\": [...]}}, \
         or one alert (alert_id) or incident (incident_id) object",
    ))
}

pub fn sniff(body: &Value) -> Option<&'static str> {
    let obj = body.as_object()?;
    if let Some(r) = obj.get("reply").and_then(Value::as_object) {
        if r.contains_key("err_code") || r.contains_key("err_msg") {
            return Some("a Cortex XDR error reply");
        }
        if r.contains_key("incident") {
            return Some(EXTRA_DATA);
        }
        if let Some(Value::Array(items)) = r.get("alerts") {
            if items
                .first()
                .is_some_and(|i| i.get("alert_fields").is_some())
            {
                return Some(BY_FILTER);
            }
            if r.contains_key("total_count")
                || r.contains_key("result_count")
                || items.first().is_some_and(is_alert)
            {
                return Some("a Cortex XDR alerts response");
            }
        }
        if let Some(Value::Array(_)) = r.get("incidents") {
            return Some("a Cortex XDR incidents response");
        }
        return None;
    }
    if is_alert(body) {
        return Some("a Cortex XDR alert");
    }
    if is_incident(body) {
        return Some("a Cortex XDR incident");
    }
    None
}

fn shape(detail: &str) -> MapError {
    MapError::Shape {
        vendor: VENDOR,
        detail: detail.to_string(),
    }
}

fn error_message(body: &Value) -> Option<String> {
    let holder = match body.get("reply") {
        Some(r @ Value::Object(_)) => r,
        _ => body,
    };
    let code = json::string(holder, "err_code");
    let msg = json::first_string(holder, &["err_msg", "err_extra"]);
    match (msg, code) {
        (Some(m), Some(c)) => Some(format!("{m} (err_code {c})")),
        (Some(m), None) => Some(m),
        (None, Some(c)) => Some(format!("err_code {c}")),
        (None, None) => None,
    }
}

fn is_alert(v: &Value) -> bool {
    v.get("alert_id").is_some_and(|x| !x.is_null())
        && [
            "detection_timestamp",
            "resolution_status",
            "local_insert_ts",
            "alert_type",
            "matching_status",
            "action_pretty",
            "host_name",
        ]
        .iter()
        .any(|k| v.get(*k).is_some())
}

fn is_incident(v: &Value) -> bool {
    v.get("incident_id").is_some_and(|x| !x.is_null())
        && [
            "creation_time",
            "modification_time",
            "xdr_url",
            "alert_count",
            "incident_name",
        ]
        .iter()
        .any(|k| v.get(*k).is_some())
}

/// A scalar field, or the first non-empty element when multi-events sends an array.
fn one(v: &Value, key: &str) -> Option<String> {
    let first = match json::at(v, key) {
        // The first element `json::strings` would give, without collecting the rest.
        Some(Value::Array(a)) => a.iter().find_map(json::element_text),
        _ => json::strings(v, key).into_iter().next(),
    };
    first.or_else(|| json::string(v, key))
}

fn first_one(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| one(v, k))
}

/// All timestamps at `key`, scalar or array.
fn times(v: &Value, key: &str) -> Vec<EpochMs> {
    match json::at(v, key) {
        Some(Value::Array(a)) => (0..a.len())
            .filter_map(|i| json::time(v, &format!("{key}.{i}")))
            .collect(),
        Some(_) => json::time(v, key).into_iter().collect(),
        None => Vec::new(),
    }
}

/// `resolution_status` (`STATUS_010_NEW`, `STATUS_060_RESOLVED_FALSE_POSITIVE`) and incident
/// `status` (`new`, `under_investigation`, `resolved_false_positive`) → vendor state.
/// Resolutions that say "this was not a real problem" are dismissals; the rest are resolved.
fn vendor_state(status: &str) -> VendorState {
    let mut norm = status.trim().to_ascii_lowercase();
    if let Some(rest) = norm.strip_prefix("status_") {
        let rest = rest
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start_matches('_');
        norm = rest.to_string();
    }
    const DISMISSALS: &[&str] = &[
        "false_positive",
        "duplicate",
        "known_issue",
        "security_testing",
        "dismissed",
        "risk_accepted",
    ];
    match norm.as_str() {
        "new" | "open" => VendorState::Open,
        "under_investigation" | "in_progress" => VendorState::InProgress,
        s if s.starts_with("resolved") && DISMISSALS.iter().any(|d| s.ends_with(d)) => {
            VendorState::Dismissed
        }
        s if s.starts_with("resolved") => VendorState::Resolved,
        "" => VendorState::Open,
        other => VendorState::Other(other.to_string()),
    }
}

/// `["DS:PANW/XDR Agent", "EG:windows", "EG:k8s agents"]` → `{DS: "PANW/XDR Agent",
/// EG: "windows, k8s agents"}`; repeated prefixes are joined. A lone string may be a
/// comma-separated list.
fn xdr_tags(v: &Value) -> BTreeMap<String, String> {
    let raw: Vec<String> = ["tags", "original_tags"]
        .iter()
        .map(|k| match json::at(v, k) {
            Some(Value::String(s)) => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            _ => json::strings(v, k),
        })
        .find(|l: &Vec<String>| !l.is_empty())
        .unwrap_or_default();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for t in raw {
        let (k, val) = t.split_once(':').unwrap_or((t.as_str(), ""));
        let (k, val) = (k.trim().to_string(), val.trim());
        let entry = out.entry(k).or_default();
        if !val.is_empty() && !entry.split(", ").any(|e| e == val) {
            if !entry.is_empty() {
                entry.push_str(", ");
            }
            entry.push_str(val);
        }
    }
    out
}

/// MITRE ATT&CK tactic / technique labels as attack context.
fn mitre_context(v: &Value, tactic_keys: &[&str], technique_keys: &[&str]) -> Option<Value> {
    let collect = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .flat_map(|k| json::strings(v, k))
            .fold(Vec::new(), |mut acc, s| {
                if !acc.contains(&s) {
                    acc.push(s);
                }
                acc
            })
    };
    let tactics = collect(tactic_keys);
    let techniques = collect(technique_keys);
    if tactics.is_empty() && techniques.is_empty() {
        return None;
    }
    let mut m = Map::new();
    m.insert("mitre_tactics".into(), json!(tactics));
    m.insert("mitre_techniques".into(), json!(techniques));
    Some(Value::Object(m))
}

/// The region a cloud resource id states: `arn:aws:svc:<region>:...`, or a GCP
/// `.../zones/<region>-<z>/...` or `.../regions/<region>/...` path.
fn region_in_id(id: &str) -> Option<String> {
    if let Some(rest) = id.strip_prefix("arn:") {
        let region = rest.split(':').nth(2)?;
        return (!region.is_empty()).then(|| region.to_string());
    }
    let parts: Vec<&str> = id.split('/').collect();
    for w in parts.windows(2) {
        match w[0] {
            "regions" => return Some(w[1].to_string()),
            "zones" => {
                let zone = w[1];
                return Some(zone.rsplit_once('-').map_or(zone, |(r, _)| r).to_string());
            }
            _ => {}
        }
    }
    None
}

fn alert_category(item: &Value) -> Category {
    let text = [
        one(item, "category"),
        one(item, "alert_type"),
        one(item, "source"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
    .to_ascii_lowercase();
    if text.contains("identity") {
        return Category::Identity;
    }
    let identity_actor =
        one(item, "identity_type").is_some() || one(item, "identity_sub_type").is_some();
    let resource_type =
        first_one(item, &["resource_sub_type", "resource_type"]).map(|s| s.to_ascii_uppercase());
    let identity_resource = resource_type.as_deref().is_none_or(|t| {
        [
            "IAM",
            "IDENTITY",
            "USER",
            "ROLE",
            "SERVICE_ACCOUNT",
            "POLICY",
        ]
        .iter()
        .any(|w| t.contains(w))
    });
    if identity_actor && identity_resource && one(item, "host_name").is_none() {
        return Category::Identity;
    }
    let source = one(item, "source").unwrap_or_default().to_ascii_lowercase();
    if source == "asm" || text.contains("attack surface") {
        return Category::Network;
    }
    Category::Runtime
}

fn alert_resource(item: &Value) -> Resource {
    let host = one(item, "host_name");
    let endpoint = one(item, "endpoint_id");
    let referenced = one(item, "referenced_resource");
    let cluster = one(item, "cluster_name");
    let provider = one(item, "cloud_provider");
    let cloud = provider
        .as_deref()
        .map(Cloud::from_vendor)
        .or_else(|| cluster.as_ref().map(|_| Cloud::Kubernetes));
    let name = host.clone().or_else(|| {
        referenced.as_deref().map(|r| {
            r.rsplit(['/', ':'])
                .find(|s| !s.is_empty())
                .unwrap_or(r)
                .to_string()
        })
    });
    let rtype = first_one(item, &["resource_sub_type", "resource_type"]).or_else(|| {
        if one(item, "container_id").is_some() {
            Some("container".to_string())
        } else if host.is_some() || endpoint.is_some() {
            Some("endpoint".to_string())
        } else {
            None
        }
    });
    let region = first_one(item, &["region", "cloud_region"])
        .or_else(|| referenced.as_deref().and_then(region_in_id));
    Resource {
        id: referenced.or(host).or(endpoint),
        name,
        rtype,
        cloud,
        account: one(item, "project").or(cluster),
        region,
        tags: xdr_tags(item),
    }
}

fn map_alert(index: usize, item: &Value) -> Result<Alert, MapError> {
    if !item.is_object() {
        return Err(MapError::Item {
            index,
            detail: "not a JSON object".into(),
        });
    }
    let Some(id) = one(item, "alert_id") else {
        return Err(MapError::Item {
            index,
            detail: "alert without alert_id".into(),
        });
    };
    let mut a = Alert::new(Vendor::CortexXdr, format!("alert-{id}"), RawJson::of(item));
    let word = one(item, "severity");
    a.severity = word
        .as_deref()
        .map_or(Severity::Other("unknown".into()), Severity::from_vendor);
    a.title = first_one(item, &["name", "alert_name", "description"])
        .unwrap_or_else(|| format!("Cortex XDR alert {id}"));
    a.description = one(item, "description").filter(|d| *d != a.title);
    a.policy = Policy {
        id: first_one(item, &["matching_service_rule_id", "rule_id"]),
        name: first_one(item, &["name", "alert_name"]),
        vendor_severity: word,
    };
    a.category = alert_category(item);
    a.vendor_status = first_one(item, &["resolution_status", "status"])
        .as_deref()
        .map_or(VendorState::Open, vendor_state);
    a.first_seen = json::first_time(item, &["detection_timestamp", "local_insert_ts"]);
    let mut seen = times(item, "event_timestamp");
    if let Some(Value::Array(events)) = json::at(item, "events") {
        for ev in events {
            seen.extend(times(ev, "event_timestamp"));
        }
    }
    seen.extend(a.first_seen);
    a.last_seen = seen.into_iter().max();
    a.vendor_updated =
        json::first_time(item, &["last_modified_ts", "local_insert_ts"]).or(a.last_seen);
    a.resource = alert_resource(item);
    a.attack_context = mitre_context(
        item,
        &[
            "mitre_tactic_id_and_name",
            "events.0.mitre_tactic_id_and_name",
        ],
        &[
            "mitre_technique_id_and_name",
            "events.0.mitre_technique_id_and_name",
        ],
    );
    Ok(a)
}

fn map_incident(index: usize, item: &Value) -> Result<Alert, MapError> {
    if !item.is_object() {
        return Err(MapError::Item {
            index,
            detail: "not a JSON object".into(),
        });
    }
    let Some(id) = one(item, "incident_id") else {
        return Err(MapError::Item {
            index,
            detail: "incident without incident_id".into(),
        });
    };
    let mut a = Alert::new(
        Vendor::CortexXdr,
        format!("incident-{id}"),
        RawJson::of(item),
    );
    // An analyst-set manual severity overrides the calculated one.
    let word = first_one(item, &["manual_severity", "severity"]);
    a.severity = word
        .as_deref()
        .map_or(Severity::Other("unknown".into()), Severity::from_vendor);
    a.title = first_one(
        item,
        &["incident_name", "manual_description", "description"],
    )
    .unwrap_or_else(|| format!("Cortex XDR incident {id}"));
    a.description =
        first_one(item, &["description", "manual_description"]).filter(|d| *d != a.title);
    a.policy = Policy {
        id: None,
        name: None,
        vendor_severity: word,
    };
    a.category = Category::Runtime;
    a.vendor_status = one(item, "status")
        .as_deref()
        .map_or(VendorState::Open, vendor_state);
    a.first_seen = json::first_time(item, &["creation_time", "detection_time"]);
    a.last_seen = json::first_time(item, &["modification_time", "creation_time"]);
    a.vendor_updated = a.last_seen;
    // `hosts: ["name:endpoint_id"]` (newer API versions, UNCONFIRMED); only a single host
    // identifies the resource.
    let hosts = json::strings(item, "hosts");
    if hosts.len() == 1 {
        let host = hosts[0]
            .split_once(':')
            .map_or(hosts[0].as_str(), |(h, _)| h)
            .to_string();
        a.resource.id = Some(host.clone());
        a.resource.name = Some(host);
        a.resource.rtype = Some("endpoint".into());
    }
    a.resource.tags = xdr_tags(item);
    a.attack_context = mitre_context(
        item,
        &["mitre_tactics_ids_and_names"],
        &["mitre_techniques_ids_and_names"],
    );
    Ok(a)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sim::world::{SimStatus, World};
    use crate::vendors::cortex_xdr::sim::emit;

    fn corpus_missing() -> bool {
        crate::sources::corpus::dir().is_none()
    }

    fn load(rel: &str) -> Value {
        crate::sources::corpus::load(rel).expect("corpus file")
    }

    #[test]
    fn manifest_counts_for_cortex_files() {
        if corpus_missing() {
            return;
        }
        let mut seen = 0;
        for (file, shape, expected) in crate::sources::corpus::manifest("cortex-xdr") {
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
        assert_eq!(seen, 4);
    }

    #[test]
    fn multi_events_alert_maps_the_real_fields() {
        if corpus_missing() {
            return;
        }
        let body = load("cortex-xdr/elastic-get-alerts-multi-events-v2-mock.json");
        let alerts = map(&body).unwrap();
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.vendor, Vendor::CortexXdr);
        assert_eq!(a.native_id, "alert-2");
        assert_eq!(a.title, "A user enabled the Windows DefaultAccount");
        assert_eq!(
            a.description.as_deref(),
            Some(
                "The user domain\\username enabled a default account. The default account enabled: domain\\username"
            )
        );
        assert_eq!(a.severity, Severity::Low);
        assert_eq!(a.policy.vendor_severity.as_deref(), Some("low"));
        assert_eq!(a.policy.id.as_deref(), Some("<service_rule_id>"));
        assert_eq!(a.category, Category::Runtime);
        assert_eq!(a.vendor_status, VendorState::Open);
        assert_eq!(a.resource.id.as_deref(), Some("<host_name>"));
        assert_eq!(a.resource.name.as_deref(), Some("<host_name>"));
        assert_eq!(a.resource.rtype.as_deref(), Some("endpoint"));
        assert_eq!(a.resource.cloud, None);
        assert_eq!(a.resource.account, None);
        assert_eq!(a.resource.region, None);
        let tags: Vec<(&str, &str)> = a
            .resource
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            tags,
            vec![("EG", "k8s agents, windows"), ("ET", "DESKTOP-FCCIPAN")]
        );
        assert_eq!(a.first_seen, Some(1_569_159_363_318));
        assert_eq!(
            a.last_seen,
            Some(1_702_299_363_118),
            "latest event_timestamp"
        );
        // last_modified_ts is null: local_insert_ts is the last change.
        assert_eq!(a.vendor_updated, Some(1_673_372_647_792));
        assert_eq!(
            a.attack_context,
            Some(json!({
                "mitre_tactics": ["TA0005 - Defense Evasion"],
                "mitre_techniques": ["T1089 - Disabling Security Tools"]
            }))
        );
        assert!(a.cves.is_empty() && a.compliance.is_empty() && a.remediation.is_none());
        assert_eq!(a.raw, body["reply"]["alerts"][0]);
    }

    #[test]
    fn incidents_list_maps_one_alert_per_incident() {
        if corpus_missing() {
            return;
        }
        let body = load("cortex-xdr/xsoar-get-incidents-list.json");
        let alerts = map(&body).unwrap();
        assert_eq!(alerts.len(), 2);
        let a = &alerts[0];
        assert_eq!(a.native_id, "incident-1");
        assert_eq!(
            a.title,
            "'Local Analysis Malware' generated by XDR Agent detected on host AAAAA involving user Administrator"
        );
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.category, Category::Runtime);
        assert_eq!(a.vendor_status, VendorState::InProgress);
        assert_eq!(a.first_seen, Some(1_575_806_909_185));
        assert_eq!(a.last_seen, Some(1_575_813_875_168));
        assert_eq!(a.vendor_updated, Some(1_575_813_875_168));
        assert_eq!(a.resource, Resource::default());
        let b = &alerts[1];
        assert_eq!(b.native_id, "incident-2");
        assert_eq!(b.severity, Severity::High);
        assert_eq!(b.vendor_status, VendorState::Open);
        assert_eq!(b.raw, body["reply"]["incidents"][1]);
    }

    #[test]
    fn other_responses_are_not_alerts() {
        if corpus_missing() {
            return;
        }
        let extra = load("cortex-xdr/xsoar-get-incident-extra-data.json");
        assert_eq!(map(&extra), Err(MapError::NotAlerts { what: EXTRA_DATA }));
        let by_filter = load("cortex-xdr/xsoar-get-alerts-by-filter-internal.json");
        assert_eq!(
            map(&by_filter),
            Err(MapError::NotAlerts { what: BY_FILTER })
        );
    }

    #[test]
    fn sniff_knows_cortex_files_and_no_other_vendors() {
        if corpus_missing() {
            return;
        }
        let others = crate::sources::corpus::assert_sniff_claims_only_its_own("cortex-xdr", sniff);
        for (file, body) in &others {
            assert!(
                !matches!(map(body), Ok(ref v) if !v.is_empty()),
                "{file} imported as Cortex XDR"
            );
        }
        assert!(others.len() > 10);
    }

    #[test]
    fn emitted_world_round_trips() {
        let world = World::generate(11, 300, 1_700_000_000_000);
        let findings: Vec<_> = world.findings_for(Vendor::CortexXdr).collect();
        let body = emit::list_body(emit::items(&world, &findings));
        let text = serde_json::to_string(&body).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(sniff(&parsed), Some("a Cortex XDR alerts response"));
        let alerts = map(&parsed).unwrap();
        assert_eq!(alerts.len(), findings.len());
        let (mut with_region, mut without_region) = (0, 0);
        for (f, a) in findings.iter().zip(&alerts) {
            let r = world.resource_of(f);
            assert_eq!(a.native_id, emit::native_id(&world, f));
            assert_eq!(a.title, f.rule.name);
            assert_eq!(a.severity, f.severity.severity(), "{}", a.native_id);
            assert_eq!(a.category, f.rule.category.category(), "{}", a.native_id);
            assert_eq!(a.resource.id.as_deref(), Some(r.id.as_str()));
            assert_eq!(a.resource.account.as_deref(), Some(r.account.as_str()));
            assert_eq!(a.resource.cloud.as_ref(), Some(&r.cloud));
            // The public alert shape has no region field: it is known only where the resource
            // id states it (regional AWS ARNs, GCP zone paths), never guessed otherwise.
            match region_in_id(&r.id) {
                Some(stated) => {
                    with_region += 1;
                    assert_eq!(stated, r.region, "{}", r.id);
                    assert_eq!(
                        a.resource.region.as_deref(),
                        Some(r.region.as_str()),
                        "{}",
                        r.id
                    );
                }
                None => {
                    without_region += 1;
                    assert_eq!(a.resource.region, None, "{}", r.id);
                }
            }
            assert_eq!(a.first_seen, Some(f.created_ms));
            assert_eq!(a.vendor_updated, Some(f.updated_ms));
            assert!(a.cves.is_empty() && f.cve.is_none());
            assert!(a.attack_context.is_some());
            let want = match f.status {
                SimStatus::Open => VendorState::Open,
                SimStatus::InProgress => VendorState::InProgress,
                SimStatus::Resolved => VendorState::Resolved,
                SimStatus::Dismissed => VendorState::Dismissed,
            };
            assert_eq!(a.vendor_status, want);
        }
        assert!(with_region > 0 && without_region > 0);
        let one_item = emit::items(&world, &findings[..1]).remove(0);
        let single = map(&one_item).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].native_id, emit::native_id(&world, findings[0]));
    }

    #[test]
    fn tolerates_missing_optional_fields_and_scalars() {
        let body = json!({"reply": {"total_count": 2, "result_count": 2, "alerts": [
            {"alert_id": "7", "severity": "informational"},
            {"alert_id": 8, "name": "Cloud thing", "host_ip": "10.0.0.1", "user_name": "root",
             "tags": "DS:Amazon AWS", "resolution_status": "STATUS_025_RESOLVED",
             "cloud_provider": "AWS", "project": "123456789012",
             "referenced_resource": "arn:aws:lambda:eu-west-1:123456789012:function:f1",
             "mitre_technique_id_and_name": "T1078 - Valid Accounts"}
        ]}});
        let alerts = map(&body).unwrap();
        assert_eq!(alerts[0].native_id, "alert-7");
        assert_eq!(alerts[0].title, "Cortex XDR alert 7");
        assert_eq!(alerts[0].severity, Severity::Info);
        assert_eq!(alerts[0].vendor_status, VendorState::Open);
        assert_eq!(alerts[0].attack_context, None);
        let b = &alerts[1];
        assert_eq!(b.native_id, "alert-8");
        assert_eq!(b.vendor_status, VendorState::Resolved);
        assert_eq!(b.resource.cloud, Some(Cloud::Aws));
        assert_eq!(b.resource.region.as_deref(), Some("eu-west-1"));
        assert_eq!(b.resource.name.as_deref(), Some("f1"));
        assert_eq!(
            b.resource.tags.get("DS").map(String::as_str),
            Some("Amazon AWS")
        );
    }

    #[test]
    fn item_without_id_is_an_item_error() {
        let body = json!({"reply": {"alerts": [{"alert_id": "1"}, {"name": "x"}]}});
        assert!(matches!(map(&body), Err(MapError::Item { index: 1, .. })));
        let body = json!({"reply": {"incidents": [{"description": "x"}]}});
        assert!(matches!(map(&body), Err(MapError::Item { index: 0, .. })));
    }

    #[test]
    fn wrong_shapes_and_error_replies() {
        for body in [
            json!([]),
            json!({"data": []}),
            json!({"reply": {"foo": 1}}),
            json!({"reply": 3}),
        ] {
            assert!(
                matches!(
                    map(&body),
                    Err(MapError::Shape {
                        vendor: "cortex_xdr",
                        ..
                    })
                ),
                "{body}"
            );
        }
        let err = map(&json!({"reply": {"err_code": 500, "err_msg": "An error occurred while processing XDR public API", "err_extra": "x"}}))
            .unwrap_err();
        assert!(matches!(err, MapError::Shape { .. }));
        assert!(
            err.to_string()
                .contains("An error occurred while processing XDR public API")
        );
        assert_eq!(
            sniff(&json!({"reply": {"err_code": 401, "err_msg": "bad key"}})),
            Some("a Cortex XDR error reply")
        );
    }

    #[test]
    fn statuses_and_categories() {
        let cases = [
            ("STATUS_010_NEW", VendorState::Open),
            ("STATUS_020_UNDER_INVESTIGATION", VendorState::InProgress),
            ("STATUS_060_RESOLVED_FALSE_POSITIVE", VendorState::Dismissed),
            ("STATUS_050_RESOLVED_DUPLICATE", VendorState::Dismissed),
            ("STATUS_090_RESOLVED_TRUE_POSITIVE", VendorState::Resolved),
            ("STATUS_070_RESOLVED_OTHER", VendorState::Resolved),
            ("resolved_security_testing", VendorState::Dismissed),
            ("resolved_threat_handled", VendorState::Resolved),
            ("under_investigation", VendorState::InProgress),
            ("weird", VendorState::Other("weird".into())),
        ];
        for (s, want) in cases {
            assert_eq!(vendor_state(s), want, "{s}");
        }
        let identity = json!({"alert_id": "1", "alert_type": "Unclassified", "identity_type": ["IAM_USER"],
            "cloud_provider": "AWS", "resource_type": null});
        assert_eq!(alert_category(&identity), Category::Identity);
        let compute =
            json!({"alert_id": "1", "identity_type": "IAM_USER", "resource_type": "COMPUTE"});
        assert_eq!(alert_category(&compute), Category::Runtime);
        let asm = json!({"alert_id": "1", "source": "ASM"});
        assert_eq!(alert_category(&asm), Category::Network);
        assert_eq!(
            region_in_id("//compute.googleapis.com/projects/p/zones/us-central1-a/instances/x")
                .as_deref(),
            Some("us-central1")
        );
        assert_eq!(region_in_id("arn:aws:iam::123:role/x"), None);
    }

    #[test]
    fn single_incident_with_one_host() {
        let v = json!({"incident_id": "42", "creation_time": 1_575_806_909_185i64, "status": "resolved_false_positive",
            "severity": "low", "manual_severity": "high", "hosts": ["web-1:abc123"], "description": "d"});
        let a = map(&v).unwrap().remove(0);
        assert_eq!(a.native_id, "incident-42");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.vendor_status, VendorState::Dismissed);
        assert_eq!(a.resource.id.as_deref(), Some("web-1"));
        assert_eq!(a.title, "d");
        assert_eq!(sniff(&v), Some("a Cortex XDR incident"));
    }
}
