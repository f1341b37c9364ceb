//! Prisma Cloud Compute payloads (runtime audits, incidents, scan results) → the normalized
//! model. The families, native ids and resource identity rules are in docs/vendors.md
//! ("Mapper details"); the tests below pin them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::domain::{
    Alert, Category, Cloud, Compliance, Cve, EpochMs, Policy, RawJson, Resource, Severity, Vendor,
    VendorState,
};
use crate::sources::{MapError, json as j};
use crate::vendors::prisma_cspm::map::{aws_ec2_arn, is_qualified_cloud_id};

fn shape(detail: &str) -> MapError {
    MapError::Shape {
        vendor: Vendor::PrismaCompute.as_str(),
        detail: detail.to_string(),
    }
}

const EXPECTED: &str =
    "expected runtime audits, incidents or scan results (an array or one object with `_id`)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Audit,
    Incident,
    Scan(ScanKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanKind {
    Host,
    Image,
    Container,
    Function,
}

impl ScanKind {
    fn key(self) -> &'static str {
        match self {
            ScanKind::Host => "host",
            ScanKind::Image => "image",
            ScanKind::Container => "container",
            ScanKind::Function => "function",
        }
    }
}

/// Where list replies keep their items (`[]`: the reply is the array), for item-by-item
/// mapping ([`crate::sources::Page`]).
pub const ITEM_PATHS: crate::sources::ItemPaths = &[&[]];

pub fn map(body: &Value) -> Result<Vec<Alert>, MapError> {
    match body {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            if !items.is_empty() && !items.iter().any(|i| classify(i).is_some()) {
                return Err(shape(EXPECTED));
            }
            let mut out = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let kind = classify(item).ok_or_else(|| MapError::Item {
                    index,
                    detail: "not a Compute runtime audit, incident or scan result".into(),
                })?;
                out.extend(map_one(index, item, kind)?);
            }
            Ok(out)
        }
        Value::Object(_) => match classify(body) {
            Some(kind) => map_one(0, body, kind),
            None => match related(body) {
                Some(what) => Err(MapError::NotAlerts { what }),
                None => Err(shape(EXPECTED)),
            },
        },
        _ => Err(shape(EXPECTED)),
    }
}

pub fn sniff(body: &Value) -> Option<&'static str> {
    match body {
        Value::Array(a) => match classify(a.first()?)? {
            Kind::Audit => Some("a Prisma Cloud Compute runtime audit list"),
            Kind::Incident => Some("a Prisma Cloud Compute incident list (/audits/incidents)"),
            Kind::Scan(_) => {
                Some("a Prisma Cloud Compute scan result list (/images, /hosts or /containers)")
            }
        },
        Value::Object(_) => match classify(body) {
            Some(Kind::Audit) => Some("a Prisma Cloud Compute runtime audit"),
            Some(Kind::Incident) => Some("a Prisma Cloud Compute incident"),
            Some(Kind::Scan(_)) => Some("a Prisma Cloud Compute scan result"),
            None => related(body),
        },
        _ => None,
    }
}

fn related(v: &Value) -> Option<&'static str> {
    let m = v.as_object()?;
    (m.len() == 1 && m.get("token").is_some_and(Value::is_string))
        .then_some("a Prisma Cloud Compute authenticate response")
}

const SCAN_KEYS: [&str; 6] = [
    "vulnerabilities",
    "complianceIssues",
    "vulnerabilitiesCount",
    "complianceIssuesCount",
    "vulnerabilityDistribution",
    "complianceDistribution",
];
const AUDIT_KEYS: [&str; 8] = [
    "attackType",
    "effect",
    "ruleName",
    "msg",
    "processPath",
    "attackTechniques",
    "eventType",
    "logfile",
];

fn classify(v: &Value) -> Option<Kind> {
    let m = v.as_object()?;
    if m.get("audits").is_some_and(Value::is_array)
        || (m.contains_key("serialNum")
            && (m.contains_key("category") || m.contains_key("acknowledged")))
    {
        return Some(Kind::Incident);
    }
    if let Some(k) = scan_kind(m) {
        return Some(Kind::Scan(k));
    }
    (m.contains_key("time") && AUDIT_KEYS.iter().any(|k| m.contains_key(*k))).then_some(Kind::Audit)
}

fn scan_kind(m: &Map<String, Value>) -> Option<ScanKind> {
    let info = m.get("info").and_then(Value::as_object);
    let has_scan_keys = |o: &Map<String, Value>| SCAN_KEYS.iter().any(|k| o.contains_key(*k));
    let is_scan = has_scan_keys(m)
        || info.is_some_and(has_scan_keys)
        || (m.contains_key("scanTime") && (info.is_some() || m.contains_key("hostname")));
    if !is_scan {
        return None;
    }
    if info.is_some() {
        return Some(ScanKind::Container);
    }
    if ["handler", "functionLayers", "defenderLayerARN"]
        .iter()
        .any(|k| m.contains_key(*k))
        || (m.contains_key("runtime") && m.contains_key("memory"))
    {
        return Some(ScanKind::Function);
    }
    let text = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match text("type") {
        Some("host" | "agentlessHost" | "vm") => return Some(ScanKind::Host),
        Some("image" | "ciImage" | "registry") => return Some(ScanKind::Image),
        _ => {}
    }
    if m.get("repoTag").is_some_and(Value::is_object) || m.contains_key("instances") {
        return Some(ScanKind::Image);
    }
    let id = text("_id");
    let host = text("hostname");
    if id.is_some() && id == host {
        return Some(ScanKind::Host);
    }
    if id.is_some_and(|i| i.starts_with("sha256:")) || host.is_none() {
        return Some(ScanKind::Image);
    }
    Some(ScanKind::Host)
}

fn map_one(index: usize, v: &Value, kind: Kind) -> Result<Vec<Alert>, MapError> {
    match kind {
        Kind::Audit => map_audit(index, v).map(|a| vec![a]),
        Kind::Incident => map_incident(index, v).map(|a| vec![a]),
        Kind::Scan(k) => map_scan(index, v, k),
    }
}

// ---------------------------------------------------------------------------------------
// Severity, time and naming helpers

/// Compute's words: runtime `low|medium|high`; vulnerabilities and compliance
/// `critical|high|important|medium|moderate|low|unimportant|negligible` (distro words).
fn severity(word: &str) -> Severity {
    match word.trim().to_ascii_lowercase().as_str() {
        "important" => Severity::High,
        "unimportant" | "negligible" => Severity::Info,
        other => Severity::from_vendor(other),
    }
}

/// The severity word at `path`: a string, or (in schema-style samples) an array of words, of
/// which the most severe is taken.
fn severity_word(v: &Value, path: &str) -> Option<String> {
    j::strings(v, path)
        .into_iter()
        .max_by_key(|w| severity(w).rank())
}

/// A positive timestamp; Compute writes "never" as `0001-01-01T00:00:00Z` or `0`.
fn time(v: &Value, path: &str) -> Option<EpochMs> {
    j::time(v, path).filter(|t| *t > 0)
}

/// `cryptoMiner` → "Crypto miner".
fn humanize(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if i == 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

/// Cloud region from what Compute reports, which for GCP (and sometimes AWS) is a zone:
/// `us-central1-a` → `us-central1`, `us-east-1a` → `us-east-1`.
fn region_of(raw: &str) -> String {
    let b = raw.as_bytes();
    let n = b.len();
    if n > 3 && b[n - 2] == b'-' && b[n - 1].is_ascii_lowercase() && b[n - 3].is_ascii_digit() {
        return raw[..n - 2].to_string();
    }
    if n > 3 && raw.contains('-') && b[n - 1].is_ascii_lowercase() && b[n - 2].is_ascii_digit() {
        return raw[..n - 1].to_string();
    }
    raw.to_string()
}

fn is_gcp_zone(raw: &str) -> bool {
    region_of(raw).len() + 2 == raw.len()
}

fn k8s_path(cluster: Option<&str>, namespace: Option<&str>, name: Option<&str>) -> Option<String> {
    Some(format!("k8s/{}/{}/{}", cluster?, namespace?, name?))
}

/// The facts Compute gives about where a workload runs, from the first source that has each.
#[derive(Default)]
struct Place {
    provider: Option<String>,
    account: Option<String>,
    region: Option<String>,
    resource_id: Option<String>,
    /// The cloud's name for the VM (scan results' `cloudMetadata.name`).
    vm_name: Option<String>,
    cluster: Option<String>,
    namespace: Option<String>,
}

impl Place {
    fn cloud(&self) -> Option<Cloud> {
        match self
            .provider
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("others" | "") if self.cluster.is_some() => Some(Cloud::Kubernetes),
            None => None,
            Some(p) => Some(Cloud::from_vendor(p)),
        }
    }

    fn account(&self) -> Option<String> {
        self.account.clone().or_else(|| {
            (self.cloud() == Some(Cloud::Kubernetes))
                .then(|| self.cluster.clone())
                .flatten()
        })
    }

    fn region(&self) -> Option<String> {
        self.region.as_deref().map(region_of)
    }

    /// The qualified cloud id of the resource, as given or built from its parts.
    fn cloud_id(&self) -> Option<String> {
        let rid = self.resource_id.as_deref()?;
        if is_qualified_cloud_id(rid) || rid.contains('/') {
            return Some(rid.to_string());
        }
        let region = self.region();
        let account = self.account.as_deref();
        match self.cloud() {
            Some(Cloud::Aws) => aws_ec2_arn(region.as_deref()?, account?, rid),
            Some(Cloud::Gcp) => {
                let zone = self.region.as_deref()?;
                let name = self.vm_name.as_deref()?;
                (rid.bytes().all(|b| b.is_ascii_digit()) && is_gcp_zone(zone)).then(|| {
                    format!(
                        "//compute.googleapis.com/projects/{}/zones/{zone}/instances/{name}",
                        account.unwrap_or("-")
                    )
                })
            }
            _ => None,
        }
    }
}

fn first_of(srcs: &[&Value], paths: &[&str]) -> Option<String> {
    srcs.iter().find_map(|s| j::first_string(s, paths))
}

fn place(srcs: &[&Value]) -> Place {
    Place {
        provider: first_of(srcs, &["cloudMetadata.provider", "provider"]),
        account: first_of(srcs, &["cloudMetadata.accountID", "accountID"]),
        region: first_of(srcs, &["cloudMetadata.region", "region"]),
        resource_id: first_of(srcs, &["cloudMetadata.resourceID", "resourceID"]),
        vm_name: first_of(srcs, &["cloudMetadata.name"]),
        cluster: first_of(srcs, &["cluster", "clusters.0"]),
        namespace: first_of(srcs, &["namespace", "namespaces.0"]),
    }
}

fn merge_tags(srcs: &[&Value], paths: &[&str]) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for s in srcs.iter().rev() {
        for p in paths {
            tags.extend(j::tags(s, p));
        }
    }
    tags
}

// ---------------------------------------------------------------------------------------
// Runtime audits and incidents

/// The workload a runtime audit or incident is about: `(type, name, fallback id)`.
fn workload(
    srcs: &[&Value],
    kind_hint: Option<&str>,
    p: &Place,
) -> (String, Option<String>, Option<String>) {
    let host = first_of(srcs, &["hostname", "fqdn"]);
    let container =
        first_of(srcs, &["containerName"]).map(|c| c.trim_start_matches('/').to_string());
    let function = first_of(srcs, &["function"]);
    let is_container = srcs
        .iter()
        .find_map(|s| j::boolean(s, "container"))
        .unwrap_or(false);
    let rtype = match kind_hint {
        Some(k) => k.to_string(),
        None if function.is_some() => "function".into(),
        None if is_container || container.is_some() => "container".into(),
        None => "host".into(),
    };
    match rtype.as_str() {
        "function" => {
            let id = first_of(srcs, &["functionID"]).or_else(|| function.clone());
            (rtype, function, id)
        }
        "host" => (rtype, host.clone(), host),
        _ => {
            let id = k8s_path(
                p.cluster.as_deref(),
                p.namespace.as_deref(),
                container.as_deref(),
            )
            .or_else(|| Some(format!("{}/{}", host.as_deref()?, container.as_deref()?)))
            .or_else(|| first_of(srcs, &["containerId", "containerID"]))
            .or_else(|| container.clone())
            .or_else(|| host.clone());
            (rtype, container.or(host), id)
        }
    }
}

fn workload_resource(srcs: &[&Value], kind_hint: Option<&str>) -> Resource {
    let p = place(srcs);
    let (rtype, name, fallback) = workload(srcs, kind_hint, &p);
    Resource {
        id: p.cloud_id().or(fallback),
        name,
        rtype: Some(rtype),
        cloud: p.cloud(),
        account: p.account(),
        region: p.region(),
        tags: merge_tags(srcs, &["labels"]),
    }
}

fn map_audit(index: usize, a: &Value) -> Result<Alert, MapError> {
    let id = j::string(a, "_id").ok_or_else(|| MapError::Item {
        index,
        detail: "runtime audit has no `_id`".into(),
    })?;
    let mut al = Alert::new(Vendor::PrismaCompute, format!("audit/{id}"), RawJson::of(a));
    al.category = Category::Runtime;
    let word = severity_word(a, "severity");
    al.severity = word
        .as_deref()
        .map_or(Severity::Other("unknown".into()), severity);
    al.resource = workload_resource(&[a], None);

    let attack = j::first_string(a, &["attackType", "eventType"]);
    let msg = j::first_string(a, &["msg", "description", "line"]);
    let rule = j::string(a, "ruleName");
    al.title = match (
        attack.as_deref().map(humanize),
        msg.as_deref().map(first_line),
    ) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => match &al.resource.name {
            Some(n) => format!("{t} on {n}"),
            None => t,
        },
        (None, Some(m)) => m,
        (None, None) => rule.clone().unwrap_or_else(|| {
            format!(
                "Runtime audit ({})",
                j::string(a, "type").unwrap_or_else(|| "unknown type".into())
            )
        }),
    };
    let mut desc = msg.unwrap_or_default();
    if let Some(cmd) = j::string(a, "command") {
        if !desc.is_empty() {
            desc.push('\n');
        }
        desc.push_str(&format!("Command: {cmd}"));
    }
    al.description = (!desc.is_empty()).then_some(desc);
    al.policy = Policy {
        id: attack.clone(),
        name: rule.or_else(|| attack.as_deref().map(humanize)),
        vendor_severity: word,
    };
    al.vendor_status = VendorState::Open;
    al.first_seen = time(a, "time");
    al.last_seen = al.first_seen;
    al.vendor_updated = al.first_seen;
    Ok(al)
}

/// How sitrep rates an incident, which Compute gives no severity: categories that mean a
/// compromise are critical, suspicious activity is high, and custom-rule (and unknown)
/// incidents take the most severe of their audits.
fn incident_rating(category: &str) -> Option<Severity> {
    match category {
        "cryptoMiner"
        | "reverseShell"
        | "malware"
        | "backdoorAdministrativeAccount"
        | "backdoorSSHAccess"
        | "dataExfiltration"
        | "hijackedProcess"
        | "lateralMovement"
        | "alteredBinary"
        | "executionFlowHijackAttempt" => Some(Severity::Critical),
        "portScanning" | "bruteForce" | "kubernetes" | "suspiciousBinary" | "cloudProvider" => {
            Some(Severity::High)
        }
        _ => None,
    }
}

fn map_incident(index: usize, inc: &Value) -> Result<Alert, MapError> {
    let id = j::string(inc, "_id").ok_or_else(|| MapError::Item {
        index,
        detail: "incident has no `_id`".into(),
    })?;
    let mut al = Alert::new(
        Vendor::PrismaCompute,
        format!("incident/{id}"),
        RawJson::of(inc),
    );
    al.category = Category::Runtime;
    let audits: Vec<&Value> = j::at(inc, "audits")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let category = j::string(inc, "category");
    let custom = j::string(inc, "customRuleName");

    let audit_worst = audits
        .iter()
        .filter_map(|a| severity_word(a, "severity"))
        .max_by_key(|w| severity(w).rank());
    al.severity = category
        .as_deref()
        .and_then(incident_rating)
        .or_else(|| audit_worst.as_deref().map(severity))
        .unwrap_or_else(|| Severity::Other("unknown".into()));

    let mut srcs: Vec<&Value> = vec![inc];
    srcs.extend(audits.first().copied());
    al.resource = workload_resource(&srcs, j::string(inc, "type").as_deref());

    let human = category
        .as_deref()
        .map(humanize)
        .unwrap_or_else(|| "Runtime".into());
    al.title = match (&custom, category.as_deref()) {
        (Some(c), Some("customRule") | None) => c.clone(),
        _ => match &al.resource.name {
            Some(n) => format!("{human} incident on {n}"),
            None => format!("{human} incident"),
        },
    };
    let mut lines: Vec<String> = Vec::new();
    if let Some(n) = j::string(inc, "serialNum") {
        lines.push(format!("Incident #{n}, {} audit(s).", audits.len()));
    }
    for a in &audits {
        if let Some(m) = j::string(a, "msg").map(|m| first_line(&m))
            && !lines.contains(&m)
            && lines.len() < 6
        {
            lines.push(m);
        }
    }
    al.description = (!lines.is_empty()).then(|| lines.join("\n"));
    al.policy = Policy {
        id: category.clone(),
        name: custom.or(Some(human)),
        vendor_severity: None,
    };
    al.vendor_status = match j::boolean(inc, "acknowledged") {
        // Acknowledging archives the incident in Compute: it is closed there.
        Some(true) => VendorState::Resolved,
        _ => VendorState::Open,
    };
    let times: Vec<EpochMs> = std::iter::once(inc)
        .chain(audits.iter().copied())
        .filter_map(|v| time(v, "time"))
        .collect();
    al.first_seen = times.iter().min().copied();
    al.last_seen = times.iter().max().copied();
    al.vendor_updated = al.last_seen;
    Ok(al)
}

// ---------------------------------------------------------------------------------------
// Scan results

const IDENTITY_KEYS: [&str; 20] = [
    "_id",
    "id",
    "hostname",
    "type",
    "name",
    "repoTag",
    "repoDigests",
    "cloudMetadata",
    "provider",
    "region",
    "accountID",
    "runtime",
    "clusters",
    "namespaces",
    "collections",
    "distro",
    "agentless",
    "scanTime",
    "firstScanTime",
    "labels",
];
const INFO_IDENTITY_KEYS: [&str; 11] = [
    "id",
    "name",
    "image",
    "imageID",
    "imageName",
    "app",
    "cluster",
    "namespace",
    "profileID",
    "cloudMetadata",
    "labels",
];

fn pick(v: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| Some(((*k).to_string(), v.get(*k)?.clone())))
        .collect()
}

/// The identity of the host / image / container / function, for a per-finding `raw`.
fn identity(v: &Value) -> Value {
    let mut m = pick(v, &IDENTITY_KEYS);
    if let Some(info) = v.get("info").filter(|i| i.is_object()) {
        m.insert(
            "info".into(),
            Value::Object(pick(info, &INFO_IDENTITY_KEYS)),
        );
    }
    Value::Object(m)
}

fn image_name(v: &Value) -> Option<String> {
    if let Some(repo) = j::string(v, "repoTag.repo") {
        let mut s = match j::string(v, "repoTag.registry") {
            Some(r) => format!("{r}/{repo}"),
            None => repo,
        };
        if let Some(t) = j::string(v, "repoTag.tag") {
            s.push(':');
            s.push_str(&t);
        }
        return Some(s);
    }
    j::first_string(v, &["instances.0.image", "image.repoTags.0"])
}

fn scan_resource(v: &Value, kind: ScanKind) -> Resource {
    let info = j::at(v, "info");
    let srcs: Vec<&Value> = info.into_iter().chain(std::iter::once(v)).collect();
    let p = place(&srcs);
    let host = j::string(v, "hostname");
    let (name, fallback) = match kind {
        ScanKind::Host => (host.clone(), host.or_else(|| j::string(v, "_id"))),
        ScanKind::Image => (
            image_name(v).or_else(|| j::string(v, "_id")),
            j::first_string(v, &["id", "_id"]),
        ),
        ScanKind::Function => (j::string(v, "name"), j::string(v, "_id")),
        ScanKind::Container => {
            let name = info
                .and_then(|i| j::string(i, "name"))
                .map(|n| n.trim_start_matches('/').to_string());
            let id = k8s_path(
                p.cluster.as_deref(),
                p.namespace.as_deref(),
                name.as_deref(),
            )
            .or_else(|| Some(format!("{}/{}", host.as_deref()?, name.as_deref()?)))
            .or_else(|| j::first_string(v, &["_id", "info.id"]));
            (name, id)
        }
    };
    let mut tags = merge_tags(&srcs, &["cloudMetadata.labels", "externalLabels", "labels"]);
    tags.retain(|k, _| !k.is_empty());
    Resource {
        id: p.cloud_id().or(fallback),
        name,
        rtype: Some(kind.key().to_string()),
        cloud: p.cloud(),
        account: p.account(),
        region: p.region(),
        tags,
    }
}

fn entries<'a>(v: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    let top = j::at(v, field).and_then(Value::as_array);
    let info = j::at(v, &format!("info.{field}")).and_then(Value::as_array);
    top.into_iter().chain(info).flatten()
}

/// Per scan result, `base`, `base#2`, `base#3`, … in order of appearance.
fn unique(seen: &mut HashMap<String, usize>, base: String) -> String {
    let n = seen.entry(base.clone()).or_insert(0);
    *n += 1;
    if *n == 1 { base } else { format!("{base}#{n}") }
}

fn map_scan(index: usize, v: &Value, kind: ScanKind) -> Result<Vec<Alert>, MapError> {
    let ident = j::first_string(v, &["_id", "id", "info.id", "hostname"]).ok_or_else(|| {
        MapError::Item {
            index,
            detail: "scan result has no `_id`".into(),
        }
    })?;
    let key = format!("{}/{ident}", kind.key());
    let resource = scan_resource(v, kind);
    let scanned = time(v, "scanTime");
    let who = identity(v);
    let mut seen = HashMap::new();
    let mut out = Vec::new();

    for (n, vuln) in entries(v, "vulnerabilities").enumerate() {
        let cve = j::string(vuln, "cve");
        let stem = match (&cve, j::string(vuln, "id")) {
            (Some(c), _) => c.clone(),
            (None, Some(id)) => format!("id-{id}"),
            (None, None) => {
                return Err(MapError::Item {
                    index,
                    detail: format!("vulnerabilities[{n}] has neither `cve` nor `id`"),
                });
            }
        };
        let pkg = j::string(vuln, "packageName");
        let base = match &pkg {
            Some(p) => format!("{key}/{stem}/{p}"),
            None => format!("{key}/{stem}"),
        };
        let raw = serde_json::json!({ kind.key(): who.clone(), "vulnerability": vuln.clone() });
        let mut a = Alert::new(Vendor::PrismaCompute, unique(&mut seen, base), raw);
        a.category = Category::Vulnerability;
        let word = j::string(vuln, "severity");
        a.severity = word
            .as_deref()
            .map_or(Severity::Other("unknown".into()), severity);
        let version = j::string(vuln, "packageVersion");
        a.title = match (&pkg, &version) {
            (Some(p), Some(ver)) => format!("{stem} in {p} {ver}"),
            (Some(p), None) => format!("{stem} in {p}"),
            _ => match &resource.name {
                Some(r) => format!("{stem} on {r}"),
                None => stem.clone(),
            },
        };
        a.description = j::string(vuln, "description");
        a.policy = Policy {
            id: Some(stem.clone()),
            name: None,
            vendor_severity: word,
        };
        let status = j::string(vuln, "status");
        let fixed = status.as_deref().and_then(|s| {
            let rest = s.trim();
            rest.get(..8)
                .filter(|p| p.eq_ignore_ascii_case("fixed in"))
                .map(|_| rest[8..].trim().to_string())
                .filter(|f| !f.is_empty())
        });
        if let Some(id) = cve {
            a.cves.push(Cve {
                id,
                cvss: j::float(vuln, "cvss").filter(|c| *c > 0.0),
                cvss_vector: j::string(vuln, "vecStr"),
                package: pkg.clone(),
                package_version: version.clone(),
                fixed_version: fixed.clone(),
            });
        }
        a.remediation = fixed.map(|_| {
            let mut r = match (&pkg, &version) {
                (Some(p), Some(ver)) => format!("{p} {ver}: "),
                (Some(p), None) => format!("{p}: "),
                _ => String::new(),
            };
            r.push_str(status.as_deref().unwrap_or_default());
            if let Some(link) = j::string(vuln, "fixLink") {
                r.push('\n');
                r.push_str(&link);
            }
            r
        });
        a.resource = resource.clone();
        a.first_seen = time(vuln, "discovered");
        a.last_seen = scanned;
        a.vendor_updated = scanned;
        out.push(a);
    }

    for (n, issue) in entries(v, "complianceIssues").enumerate() {
        let check = j::string(issue, "id").ok_or_else(|| MapError::Item {
            index,
            detail: format!("complianceIssues[{n}] has no `id`"),
        })?;
        let raw = serde_json::json!({ kind.key(): who.clone(), "complianceIssue": issue.clone() });
        let mut a = Alert::new(
            Vendor::PrismaCompute,
            unique(&mut seen, format!("{key}/compliance/{check}")),
            raw,
        );
        let ctype = j::string(issue, "type").unwrap_or_default();
        a.category = if ctype.ends_with("_secret") {
            Category::Data
        } else if ctype.ends_with("_malware") {
            Category::Runtime
        } else {
            Category::Misconfiguration
        };
        let word = j::string(issue, "severity");
        a.severity = word
            .as_deref()
            .map_or(Severity::Other("unknown".into()), severity);
        let title = j::string(issue, "title");
        a.title = title
            .clone()
            .or_else(|| j::string(issue, "description").map(|d| first_line(&d)))
            .unwrap_or_else(|| format!("Compliance check {check}"));
        a.description = j::string(issue, "description");
        a.policy = Policy {
            id: Some(check.clone()),
            name: title.clone(),
            vendor_severity: word,
        };
        a.compliance = compliance_refs(title.as_deref(), issue);
        a.resource = resource.clone();
        a.first_seen = time(issue, "discovered");
        a.last_seen = scanned;
        a.vendor_updated = scanned;
        out.push(a);
    }
    Ok(out)
}

/// A benchmark reference at the start of the title (`(CIS_Docker_v1.2.0 - 5.4) Do not use
/// privileged containers`) and the check's compliance templates (`PCI`, `HIPAA`, …).
fn compliance_refs(title: Option<&str>, issue: &Value) -> Vec<Compliance> {
    let mut out = Vec::new();
    if let Some((std, req)) = title
        .and_then(|t| t.strip_prefix('('))
        .and_then(|t| t.split_once(')'))
        .and_then(|(inner, _)| inner.split_once(" - "))
    {
        out.push(Compliance {
            standard: std.trim().replace('_', " "),
            requirement: Some(req.trim().to_string()),
        });
    }
    // Schema-style samples nest the template list one level deeper.
    let mut templates = j::strings(issue, "templates");
    if let Some(nested) = j::at(issue, "templates").and_then(Value::as_array) {
        for inner in nested.iter().filter(|x| x.is_array()) {
            templates.extend(j::strings(&serde_json::json!({ "t": inner }), "t"));
        }
    }
    for t in templates {
        let c = Compliance {
            standard: t,
            requirement: None,
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::sim::world::{ResourceKind, RuleCategory, SimFinding, SimStatus, World};
    use crate::sources::corpus;
    use crate::vendors::prisma_compute::sim::emit;

    #[test]
    fn corpus_files_give_the_manifest_counts() {
        let rows = corpus::manifest("prisma-compute");
        if corpus::dir().is_some() {
            assert!(!rows.is_empty(), "no prisma-compute rows in MANIFEST.tsv");
        }
        for (file, _shape, n) in rows {
            let Some(body) = corpus::load(&file) else {
                return;
            };
            let alerts = map(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(alerts.len(), n, "{file}");
            for a in &alerts {
                assert_eq!(a.vendor, Vendor::PrismaCompute);
                assert!(!a.title.is_empty());
            }
        }
    }

    #[test]
    fn xsoar_runtime_audits() {
        let Some(body) = corpus::load("prisma-compute/xsoar-audits-runtime-container.json") else {
            return;
        };
        let alerts = map(&body).expect("audits");
        let a = &alerts[0];
        assert_eq!(a.native_id, "audit/a9");
        assert_eq!(a.title, "Malware file feed: msg6");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.policy.vendor_severity.as_deref(), Some("high"));
        assert_eq!(a.policy.id.as_deref(), Some("malwareFileFeed"));
        assert_eq!(
            a.policy.name.as_deref(),
            Some("ii-pc-advanced-demo-eks-block")
        );
        assert_eq!(a.category, Category::Runtime);
        assert_eq!(a.vendor_status, VendorState::Open);
        assert_eq!(
            a.resource.id.as_deref(),
            Some("k8s/pc-demo-eks-ii/default/python-server-app")
        );
        assert_eq!(a.resource.name.as_deref(), Some("python-server-app"));
        assert_eq!(a.resource.rtype.as_deref(), Some("container"));
        assert_eq!(a.resource.cloud, Some(Cloud::Aws));
        assert_eq!(a.resource.account.as_deref(), Some("11"));
        assert_eq!(a.resource.region.as_deref(), Some("eu-central-1"));
        assert!(a.resource.tags.is_empty());
        assert_eq!(a.first_seen, Some(1692535485128));
        assert_eq!(a.last_seen, Some(1692535485128));
        assert_eq!(a.vendor_updated, Some(1692535485128));
        assert_eq!(a.description.as_deref(), Some("msg6\nCommand: cmd"));
        assert_eq!(a.raw, body[0]);
        assert_eq!(alerts[1].native_id, "audit/b5");
        assert_eq!(
            alerts[1].resource.id.as_deref(),
            Some("k8s/pc-github/default/na6")
        );
        assert_eq!(alerts[1].first_seen, Some(1692535545405));
    }

    #[test]
    fn pandev_audit_example() {
        let Some(body) =
            corpus::load("prisma-compute/pandev-doc-audits-runtime-container-example.json")
        else {
            return;
        };
        let a = &map(&body).expect("audit")[0];
        assert_eq!(a.native_id, "audit/636a952a5a293a6ea06cbb87");
        assert_eq!(
            a.title,
            "Unexpected process: /usr/bin/dash launched but is not found in the runtime model. Full command: /bin/sh -c sleep 3; curl http://169.254.169.254:80"
        );
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.category, Category::Runtime);
        assert_eq!(
            a.resource.id.as_deref(),
            Some(
                "jen-sle15-dock-0811t165158-cont-def-pre-lngcon230.c.twistlock-test-247119.internal/runtime-wf-base-alert"
            )
        );
        assert_eq!(a.resource.name.as_deref(), Some("runtime-wf-base-alert"));
        assert_eq!(a.resource.cloud, Some(Cloud::Gcp));
        assert_eq!(a.resource.account.as_deref(), Some("twistlock-test-247119"));
        assert_eq!(
            a.resource.region.as_deref(),
            Some("us-central1"),
            "zone reduced to its region"
        );
        assert_eq!(a.first_seen, Some(1667929386680));
    }

    #[test]
    fn container_scan_results_give_one_alert_per_compliance_issue() {
        let Some(body) = corpus::load("prisma-compute/xsoar-containers-scan-results.json") else {
            return;
        };
        let alerts = map(&body).expect("containers");
        let a = &alerts[0];
        assert_eq!(a.native_id, "container/a1/compliance/515");
        assert_eq!(a.title, "Do not share the process namespace");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.category, Category::Misconfiguration);
        assert_eq!(a.vendor_status, VendorState::Open);
        assert_eq!(a.policy.id.as_deref(), Some("515"));
        assert_eq!(
            a.resource.id.as_deref(),
            Some("//compute.googleapis.com/projects/ii/zones/europe-west4-c/instances/a1")
        );
        assert_eq!(a.resource.name.as_deref(), Some("a7"));
        assert_eq!(a.resource.rtype.as_deref(), Some("container"));
        assert_eq!(a.resource.cloud, Some(Cloud::Gcp));
        assert_eq!(a.resource.account.as_deref(), Some("ii"));
        assert_eq!(a.resource.region.as_deref(), Some("europe-west4"));
        assert_eq!(a.resource.tags.get("aa").map(String::as_str), Some(""));
        assert_eq!(
            a.compliance,
            vec![Compliance {
                standard: "GGG".into(),
                requirement: None
            }]
        );
        assert_eq!(a.first_seen, None, "0001-01-01 means never");
        assert_eq!(a.last_seen, Some(1695692804579));
        assert_eq!(a.vendor_updated, Some(1695692804579));
        assert!(a.cves.is_empty());
        // raw: the issue and the container's identity, not the whole scan result.
        assert_eq!(
            a.raw["complianceIssue"],
            body[0]["info"]["complianceIssues"][0]
        );
        assert_eq!(a.raw["container"]["_id"], "a1");
        assert_eq!(a.raw["container"]["info"]["name"], "a7");
        assert!(a.raw["container"]["info"].get("complianceIssues").is_none());
        assert!(a.raw["container"].get("firewallProtection").is_none());

        let b = &alerts[1];
        assert_eq!(b.native_id, "container/a2/compliance/5059");
        assert_eq!(b.title, "Do not share the host's network namespace");
        assert_eq!(
            b.resource.id.as_deref(),
            Some("arn:aws:ec2:eu-south-1:66:instance/i-3")
        );
        assert_eq!(b.resource.name.as_deref(), Some("aaa"));
        assert_eq!(b.resource.cloud, Some(Cloud::Aws));
        assert_eq!(b.resource.account.as_deref(), Some("66"));
        assert_eq!(b.resource.region.as_deref(), Some("eu-south-1"));
        assert!(b.compliance.is_empty());
        assert_eq!(b.last_seen, Some(1695687645054));
    }

    #[test]
    fn incident_schema_sample() {
        let Some(body) = corpus::load("prisma-compute/elastic-audits-incidents-schema-sample.json")
        else {
            return;
        };
        let a = &map(&body).expect("incident")[0];
        assert_eq!(a.native_id, "incident/string");
        assert_eq!(a.title, "Malware incident on string");
        assert_eq!(a.category, Category::Runtime);
        assert_eq!(
            a.severity,
            Severity::Critical,
            "malware incidents are compromises"
        );
        assert_eq!(
            a.vendor_status,
            VendorState::Open,
            "acknowledged \"\" is not acknowledged"
        );
        assert_eq!(a.resource.rtype.as_deref(), Some("host"));
        assert_eq!(a.resource.id.as_deref(), Some("string"));
        assert_eq!(a.resource.cloud, Some(Cloud::Oci));
        assert_eq!(a.resource.account.as_deref(), Some("123abc"));
        assert_eq!(a.first_seen, Some(1695107731899));
        assert_eq!(a.vendor_updated, Some(1695107731899));
        assert_eq!(a.raw, body);
    }

    #[test]
    fn sniff_tells_the_three_families_apart_and_claims_no_one_elses() {
        let names: Vec<Option<&str>> = corpus::manifest("prisma-compute")
            .iter()
            .filter_map(|(f, _, _)| corpus::load(f))
            .map(|b| sniff(&b))
            .collect();
        if names.is_empty() {
            return;
        }
        assert_eq!(
            names,
            vec![
                Some("a Prisma Cloud Compute runtime audit list"),
                Some("a Prisma Cloud Compute scan result list (/images, /hosts or /containers)"),
                Some("a Prisma Cloud Compute runtime audit"),
                Some("a Prisma Cloud Compute incident"),
            ]
        );
        for (file, body) in corpus::others("prisma-compute") {
            assert_eq!(sniff(&body), None, "{file} claimed as {:?}", sniff(&body));
        }
        let incidents =
            json!([{"_id": "i", "serialNum": 3, "category": "cryptoMiner", "audits": []}]);
        assert_eq!(
            sniff(&incidents),
            Some("a Prisma Cloud Compute incident list (/audits/incidents)")
        );
    }

    #[test]
    fn image_scan_vulnerabilities() {
        let image = json!([{
            "_id": "sha256:abc", "type": "image", "hostname": "node-1", "scanTime": "2024-01-02T00:00:00Z",
            "repoTag": {"registry": "reg.io", "repo": "team/app", "tag": "1.2"},
            "cloudMetadata": {"provider": "aws", "accountID": "123456789012", "region": "us-east-1b", "resourceID": "i-0abc"},
            "vulnerabilities": [
                {"cve": "CVE-2021-44228", "cvss": 10, "vecStr": "CVSS:3.1/AV:N", "severity": "important",
                 "status": "fixed in 2.17.1", "packageName": "log4j-core", "packageVersion": "2.14.1",
                 "discovered": "2024-01-01T00:00:00Z", "published": 1639094400, "fixLink": "https://fix"},
                {"cve": "CVE-2021-44228", "severity": "negligible", "packageName": "log4j-core", "packageVersion": "2.12.0", "status": "open"},
                {"id": 430, "severity": "unimportant", "packageName": "zlib"}
            ],
            "complianceIssues": [{"id": 41, "title": "(CIS_Docker_v1.2.0 - 4.1) Image should be created with a non-root user", "severity": "high", "type": "image"}]
        }]);
        let alerts = map(&image).expect("image result");
        let ids: Vec<&str> = alerts.iter().map(|a| a.native_id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "image/sha256:abc/CVE-2021-44228/log4j-core",
                "image/sha256:abc/CVE-2021-44228/log4j-core#2",
                "image/sha256:abc/id-430/zlib",
                "image/sha256:abc/compliance/41",
            ]
        );
        let a = &alerts[0];
        assert_eq!(a.title, "CVE-2021-44228 in log4j-core 2.14.1");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.category, Category::Vulnerability);
        assert_eq!(
            a.cves,
            vec![Cve {
                id: "CVE-2021-44228".into(),
                cvss: Some(10.0),
                cvss_vector: Some("CVSS:3.1/AV:N".into()),
                package: Some("log4j-core".into()),
                package_version: Some("2.14.1".into()),
                fixed_version: Some("2.17.1".into()),
            }]
        );
        assert_eq!(
            a.remediation.as_deref(),
            Some("log4j-core 2.14.1: fixed in 2.17.1\nhttps://fix")
        );
        assert_eq!(
            a.resource.id.as_deref(),
            Some("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc")
        );
        assert_eq!(a.resource.name.as_deref(), Some("reg.io/team/app:1.2"));
        assert_eq!(a.resource.rtype.as_deref(), Some("image"));
        assert_eq!(a.resource.region.as_deref(), Some("us-east-1"));
        assert_eq!(a.first_seen, Some(1_704_067_200_000));
        assert_eq!(a.vendor_updated, Some(1_704_153_600_000));
        assert_eq!(a.raw["vulnerability"]["packageVersion"], "2.14.1");
        assert_eq!(a.raw["image"]["_id"], "sha256:abc");
        assert!(a.raw["image"].get("vulnerabilities").is_none());
        assert_eq!(alerts[1].severity, Severity::Info);
        assert_eq!(alerts[1].cves[0].fixed_version, None);
        assert_eq!(alerts[2].severity, Severity::Info);
        assert!(alerts[2].cves.is_empty());
        let c = &alerts[3];
        assert_eq!(c.category, Category::Misconfiguration);
        assert_eq!(
            c.compliance,
            vec![Compliance {
                standard: "CIS Docker v1.2.0".into(),
                requirement: Some("4.1".into())
            }]
        );
    }

    #[test]
    fn host_result_without_cloud_id_is_keyed_by_host_name() {
        let host = json!({"_id": "web-1", "hostname": "web-1", "scanTime": "2024-01-02T00:00:00Z",
            "complianceIssues": [{"id": 16, "title": "Ensure auditing", "severity": "medium", "type": "host_config"},
                                 {"id": 422, "title": "Private key", "severity": "high", "type": "host_secret"}]});
        let alerts = map(&host).expect("host");
        assert_eq!(alerts[0].native_id, "host/web-1/compliance/16");
        assert_eq!(alerts[0].resource.id.as_deref(), Some("web-1"));
        assert_eq!(alerts[0].resource.rtype.as_deref(), Some("host"));
        assert_eq!(alerts[1].category, Category::Data);
    }

    #[test]
    fn tolerance_and_errors() {
        assert_eq!(
            map(&Value::Null).expect("null is an empty page"),
            Vec::new()
        );
        assert_eq!(map(&json!([])).expect("empty"), Vec::new());
        let bare = json!({"_id": "x", "time": "2024-01-01T00:00:00Z", "msg": "something"});
        let a = &map(&bare).expect("minimal audit")[0];
        assert_eq!(a.title, "something");
        assert_eq!(a.severity, Severity::Other("unknown".into()));
        assert_eq!(a.resource.id, None);
        let list = json!([bare.clone(), {"time": "2024-01-01T00:00:00Z", "attackType": "x"}]);
        assert_eq!(
            map(&list),
            Err(MapError::Item {
                index: 1,
                detail: "runtime audit has no `_id`".into()
            })
        );
        let mixed = json!([bare, {"hello": 1}]);
        assert!(matches!(map(&mixed), Err(MapError::Item { index: 1, .. })));
        let vuln_without_identity =
            json!({"_id": "h", "hostname": "h", "vulnerabilities": [{"severity": "low"}]});
        assert!(matches!(
            map(&vuln_without_identity),
            Err(MapError::Item { index: 0, .. })
        ));
        assert!(matches!(
            map(&json!({"items": []})),
            Err(MapError::Shape { .. })
        ));
        assert!(matches!(
            map(&json!([{"id": "P-1", "policyId": "p"}])),
            Err(MapError::Shape { .. })
        ));
        assert!(matches!(map(&json!(3)), Err(MapError::Shape { .. })));
        let token = json!({"token": "abc"});
        assert_eq!(
            map(&token),
            Err(MapError::NotAlerts {
                what: "a Prisma Cloud Compute authenticate response"
            })
        );
        let ack = json!({"_id": "i1", "serialNum": 1, "category": "customRule", "customRuleName": "No curl",
            "acknowledged": true, "time": "2024-01-01T00:00:00Z",
            "audits": [{"time": "2024-01-03T00:00:00Z", "severity": "medium", "hostname": "h"}]});
        let a = &map(&ack).expect("incident")[0];
        assert_eq!(a.title, "No curl");
        assert_eq!(
            a.severity,
            Severity::Medium,
            "custom-rule incidents take their audits' severity"
        );
        assert_eq!(a.vendor_status, VendorState::Resolved);
        assert_eq!(a.first_seen, Some(1_704_067_200_000));
        assert_eq!(a.last_seen, Some(1_704_240_000_000));
    }

    #[test]
    fn zones_and_regions() {
        assert_eq!(region_of("us-central1-a"), "us-central1");
        assert_eq!(region_of("us-east-1a"), "us-east-1");
        assert_eq!(region_of("us-east-1"), "us-east-1");
        assert_eq!(region_of("eastus"), "eastus");
        assert_eq!(region_of("westus2"), "westus2");
        assert_eq!(humanize("cryptoMiner"), "Crypto miner");
    }

    #[test]
    fn emitted_world_round_trips() {
        let world = World::generate(5, 300, 1_760_000_000_000);
        let fs: Vec<&SimFinding> = world.findings_for(Vendor::PrismaCompute).collect();
        let body = emit::list_body(emit::items(&world, &fs));
        let text = serde_json::to_string(&body).expect("serialize");
        let parsed: Value = serde_json::from_str(&text).expect("parse");
        let alerts = map(&parsed).expect("emitted body maps");
        assert_eq!(alerts.len(), fs.len());
        let by_id: HashMap<&str, &Alert> =
            alerts.iter().map(|a| (a.native_id.as_str(), a)).collect();
        assert_eq!(by_id.len(), alerts.len(), "native ids are unique");
        let mut seen_kinds = std::collections::BTreeSet::new();
        for f in &fs {
            let id = emit::native_id(&world, f);
            let a = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("no alert {id}"));
            let r = world.resource_of(f);
            seen_kinds.insert(a.resource.rtype.clone().unwrap_or_default());
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
            assert_eq!(a.first_seen, Some(f.created_ms), "{id}");
            if f.rule.category == RuleCategory::Runtime {
                assert_eq!(a.vendor_updated, Some(f.updated_ms), "{id}");
                let closed = matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed);
                assert_eq!(a.vendor_status == VendorState::Resolved, closed, "{id}");
            } else {
                // A scan result carries one scan time: the latest of the findings it holds.
                // Workloads have an image result (vulnerabilities) and a container result
                // (compliance); hosts and functions have one result holding both.
                let is_vuln = |g: &SimFinding| g.rule.category == RuleCategory::Vulnerability;
                let split = r.kind == ResourceKind::Workload;
                let same_scan = |g: &&&SimFinding| {
                    g.resource == f.resource
                        && g.rule.category != RuleCategory::Runtime
                        && (!split || is_vuln(g) == is_vuln(f))
                };
                let latest = fs.iter().filter(same_scan).map(|g| g.updated_ms).max();
                assert_eq!(a.vendor_updated, latest, "{id}");
            }
            if let Some(c) = f.cve {
                assert_eq!(a.cves.len(), 1, "{id}");
                assert_eq!(a.cves[0].id, c.id);
                assert_eq!(a.cves[0].fixed_version.as_deref(), Some(c.fixed));
                assert_eq!(a.cves[0].package.as_deref(), Some(c.package));
                assert_eq!(a.cves[0].cvss, Some(c.cvss));
            }
        }
        for kind in ["host", "image", "container", "function"] {
            assert!(
                seen_kinds.contains(kind),
                "the world exercised no {kind} payload: {seen_kinds:?}"
            );
        }
        for f in fs.iter().take(12) {
            let one = emit::items(&world, &[f]);
            assert_eq!(one.len(), 1);
            let alone = map(&one[0]).expect("one emitted object maps alone");
            assert_eq!(alone.len(), 1);
            assert_eq!(alone[0].native_id, emit::native_id(&world, f));
        }
    }
}
