//! Prisma Cloud Compute: findings in the shapes of the Compute API.
//!
//! - vulnerability findings are grouped per resource into scan results, one per resource:
//!   an `/images` result for workloads, a `/serverless` result for functions, a `/hosts`
//!   result for everything else; each finding is one entry of `vulnerabilities[]`;
//! - misconfiguration (and secret) findings are `complianceIssues[]` entries of a
//!   `/containers` result (workloads, under `info`), a `/serverless` result or a `/hosts`
//!   result;
//! - runtime findings are `/audits/incidents` objects whose `audits[]` hold the first and the
//!   latest event (Compute runtime audits are point events with one `time`; an incident is
//!   what carries a first and a last time).
//!
//! Quirks kept: RFC 3339 times with milliseconds, unix seconds for `published` / `fixDate`,
//! GCP zones where a region is expected, EC2 `i-…` ids in `cloudMetadata.resourceID`,
//! distro severity words (`important`, `moderate`), `"fixed in X"` fix status, and a `null`
//! `riskFactors` on compliance issues. `list_body` is a JSON array, as every endpoint answers.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};

use crate::domain::{Cloud, EpochMs, Vendor};
use crate::rng::Rng;
use crate::sim::world::{
    self, ResourceKind, Rule, RuleCategory, SevWord, SimFinding, SimResource, SimStatus, World,
};

pub fn items(world: &World, findings: &[&SimFinding]) -> Vec<Value> {
    enum Slot {
        Group(usize),
        One(Value),
    }
    let mut slots: Vec<Slot> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(usize, Scan), usize> = HashMap::new();
    for f in findings {
        if f.rule.category == RuleCategory::Runtime {
            slots.push(Slot::One(incident(world, f)));
            continue;
        }
        let scan = scan_of(world.resource_of(f), f.rule.category);
        let g = *index.entry((f.resource, scan)).or_insert_with(|| {
            groups.push(Group {
                resource: f.resource,
                scan,
                findings: Vec::new(),
            });
            slots.push(Slot::Group(groups.len() - 1));
            groups.len() - 1
        });
        groups[g].findings.push(f);
    }
    slots
        .into_iter()
        .map(|s| match s {
            Slot::Group(g) => scan_result(world, &groups[g]),
            Slot::One(v) => v,
        })
        .collect()
}

pub fn list_body(items: Vec<Value>) -> Value {
    Value::Array(items)
}

pub fn native_id(world: &World, f: &SimFinding) -> String {
    if f.rule.category == RuleCategory::Runtime {
        return format!("incident/{}", object_id(world, SALT_INCIDENT, f.seq));
    }
    let base = entry_key(world, f);
    // The mapper numbers repeats of a key inside one scan result in order; so do we.
    let earlier = world
        .findings_for(Vendor::PrismaCompute)
        .take_while(|g| g.seq != f.seq)
        .filter(|g| g.resource == f.resource && g.rule.category != RuleCategory::Runtime)
        .filter(|g| entry_key(world, g) == base)
        .count();
    if earlier == 0 {
        base
    } else {
        format!("{base}#{}", earlier + 1)
    }
}

/// [`native_id`] of every scan-result finding the world lists, in one pass (repeats of a key
/// numbered in order, as there).
pub fn scan_native_ids(world: &World) -> std::collections::HashSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    world
        .findings_for(Vendor::PrismaCompute)
        .filter(|f| f.rule.category != RuleCategory::Runtime)
        .map(|f| {
            let base = entry_key(world, f);
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}#{n}") }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scan {
    Host,
    Image,
    Container,
    Function,
}

impl Scan {
    fn key(self) -> &'static str {
        match self {
            Scan::Host => "host",
            Scan::Image => "image",
            Scan::Container => "container",
            Scan::Function => "function",
        }
    }
}

struct Group<'a> {
    resource: usize,
    scan: Scan,
    findings: Vec<&'a SimFinding>,
}

fn scan_of(r: &SimResource, category: RuleCategory) -> Scan {
    match (r.kind, category) {
        (ResourceKind::Function, _) => Scan::Function,
        (ResourceKind::Workload, RuleCategory::Vulnerability) => Scan::Image,
        (ResourceKind::Workload, _) => Scan::Container,
        _ => Scan::Host,
    }
}

const SALT_INCIDENT: u64 = 1;
const SALT_AUDIT: u64 = 2;
const SALT_IMAGE: u64 = 3;
const SALT_CONTAINER: u64 = 4;
const SALT_MISC: u64 = 5;

fn rng_for(world: &World, salt: u64, n: u64) -> Rng {
    Rng::new(
        world.seed
            ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}

/// A Mongo-style 24-hex object id, as Compute uses for audits and incidents.
fn object_id(world: &World, salt: u64, n: u64) -> String {
    rng_for(world, salt, n).hex(24)
}

fn image_digest(world: &World, resource: usize) -> String {
    format!(
        "sha256:{}",
        rng_for(world, SALT_IMAGE, resource as u64).hex(64)
    )
}

fn container_id(world: &World, resource: usize) -> String {
    rng_for(world, SALT_CONTAINER, resource as u64).hex(64)
}

/// The scan result's `_id`.
fn scan_id(world: &World, resource: usize, scan: Scan) -> String {
    let r = &world.resources[resource];
    match scan {
        Scan::Host => r.hostname.clone(),
        Scan::Image => image_digest(world, resource),
        Scan::Container => container_id(world, resource),
        Scan::Function => r.id.clone(),
    }
}

/// Compute's check id for a rule: the built-in one where Compute has it, else one in the
/// custom-check range (9000+).
fn check_id(rule: &Rule) -> u64 {
    if rule.id == world::PRIV_CONTAINER.id {
        return 55;
    }
    let h = rule.id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    9000 + h % 1000
}

/// A scan-result finding's native id before numbering repeats.
fn entry_key(world: &World, f: &SimFinding) -> String {
    let r = world.resource_of(f);
    let scan = scan_of(r, f.rule.category);
    let prefix = format!("{}/{}", scan.key(), scan_id(world, f.resource, scan));
    match f.cve {
        Some(c) if f.rule.category == RuleCategory::Vulnerability => {
            format!("{prefix}/{}/{}", c.id, c.package)
        }
        _ => format!("{prefix}/compliance/{}", check_id(f.rule)),
    }
}

fn rfc3339(ms: EpochMs) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn provider(c: &Cloud) -> Option<&'static str> {
    match c {
        Cloud::Aws => Some("aws"),
        Cloud::Azure => Some("azure"),
        Cloud::Gcp => Some("gcp"),
        Cloud::Oci => Some("oci"),
        Cloud::Alibaba => Some("alibaba"),
        _ => None,
    }
}

/// Where Compute says a GCP VM is: a zone.
fn zone_or_region(r: &SimResource) -> String {
    if r.cloud == Cloud::Gcp {
        format!("{}-a", r.region)
    } else {
        r.region.clone()
    }
}

fn k8s(r: &SimResource) -> Option<(&str, &str)> {
    (r.cloud == Cloud::Kubernetes).then(|| {
        (
            r.account.as_str(),
            r.tags.get("team").map_or("default", String::as_str),
        )
    })
}

/// `cloudMetadata`: the EC2 id for AWS VMs, the numeric id plus the VM name for GCP VMs, the
/// cloud's full id for everything else.
fn cloud_metadata(world: &World, resource: usize) -> Value {
    let r = &world.resources[resource];
    let gcp_vm = r.cloud == Cloud::Gcp && r.id.contains("/zones/") && r.id.contains("/instances/");
    let resource_id = if r.cloud == Cloud::Aws && r.native_id.starts_with("i-") {
        r.native_id.clone()
    } else if gcp_vm {
        (1_000_000_000_000_000_000u64
            + rng_for(world, SALT_MISC, resource as u64).below(8_000_000_000_000_000_000))
        .to_string()
    } else {
        r.id.clone()
    };
    let source = provider(&r.cloud).unwrap_or("namespace");
    let labels: Vec<Value> = r
        .tags
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v, "sourceType": source, "sourceName": r.account_name }))
        .collect();
    let mut m = json!({
        "resourceID": resource_id,
        "name": r.name,
        "region": zone_or_region(r),
        "labels": labels,
    });
    if let Some(p) = provider(&r.cloud) {
        m["provider"] = json!(p);
        m["accountID"] = json!(r.account);
    }
    if matches!(r.kind, ResourceKind::Instance | ResourceKind::Workload) {
        m["type"] = json!(match r.cloud {
            Cloud::Aws => "m5.large",
            Cloud::Azure => "Standard_D4s_v5",
            Cloud::Gcp => "n2-standard-4",
            _ => "node",
        });
        m["image"] = json!("ubuntu-22.04");
    }
    m
}

fn severity_word(s: SevWord, distro: bool) -> &'static str {
    match (s, distro) {
        (SevWord::Critical, _) => "critical",
        (SevWord::High, false) => "high",
        (SevWord::High, true) => "important",
        (SevWord::Medium, false) => "medium",
        (SevWord::Medium, true) => "moderate",
        (SevWord::Low, _) => "low",
        (SevWord::Info, _) => "negligible",
    }
}

/// Runtime audits only know low / medium / high.
fn runtime_severity(s: SevWord) -> &'static str {
    match s {
        SevWord::Critical | SevWord::High => "high",
        SevWord::Medium => "medium",
        SevWord::Low | SevWord::Info => "low",
    }
}

fn distribution(entries: &[Value]) -> Value {
    let count = |w: &[&str]| {
        entries
            .iter()
            .filter(|e| w.contains(&e["severity"].as_str().unwrap_or("")))
            .count()
    };
    json!({
        "critical": count(&["critical"]),
        "high": count(&["high", "important"]),
        "medium": count(&["medium", "moderate"]),
        "low": count(&["low", "negligible"]),
        "total": entries.len(),
    })
}

fn vulnerability(f: &SimFinding, scan: Scan) -> Value {
    let Some(c) = f.cve else { return Value::Null };
    let published = f.created_ms / 1000 - 30 * 86_400;
    let mut risk = serde_json::Map::new();
    risk.insert("Has fix".into(), json!(""));
    if c.vector.contains("AV:N") {
        risk.insert("Attack vector: network".into(), json!(""));
    }
    if c.vector.contains("AC:L") {
        risk.insert("Attack complexity: low".into(), json!(""));
    }
    match f.severity {
        SevWord::Critical => risk.insert("Critical severity".into(), json!("")),
        SevWord::High => risk.insert("High severity".into(), json!("")),
        _ => risk.insert("Medium severity".into(), json!("")),
    };
    let package_type = match c.package {
        "log4j-core" | "spring-beans" => "jar",
        "setuptools" => "python",
        "lodash" => "nodejs",
        _ => "package",
    };
    json!({
        "id": if package_type == "package" { 46 } else { 47 },
        "cve": c.id,
        "cvss": c.cvss,
        "vecStr": c.vector,
        "severity": severity_word(f.severity, f.seq % 3 == 1),
        "status": format!("fixed in {}", c.fixed),
        "packageName": c.package,
        "packageVersion": c.version,
        "packageType": package_type,
        "description": c.description,
        "link": format!("https://nvd.nist.gov/vuln/detail/{}", c.id),
        "fixLink": format!("https://nvd.nist.gov/vuln/detail/{}#vulnCurrentDescriptionTitle", c.id),
        "discovered": rfc3339(f.created_ms),
        "published": published,
        "fixDate": published + 7 * 86_400,
        "riskFactors": risk,
        "exploit": "",
        "exploits": [],
        "type": if scan == Scan::Host { "host" } else { "image" },
        "templates": [],
        "applicableRules": ["<*>"],
        "layerTime": 0,
        "functionLayer": "",
        "twistlock": false,
        "cri": false,
        "block": false,
        "custom": false,
        "text": "",
        "title": "",
        "cause": "",
        "gracePeriodDays": 0,
    })
}

fn compliance_issue(f: &SimFinding, scan: Scan) -> Value {
    let rule = f.rule;
    let title = match rule.compliance.first() {
        Some((standard, section)) => {
            format!("({} - {section}) {}", standard.replace(' ', "_"), rule.name)
        }
        None => rule.name.to_string(),
    };
    let templates: Vec<&str> = rule
        .compliance
        .iter()
        .filter_map(|(s, _)| match s {
            s if s.starts_with("PCI") => Some("PCI"),
            s if s.starts_with("HIPAA") => Some("HIPAA"),
            s if s.contains("800-190") => Some("NIST SP 800-190"),
            s if s.starts_with("GDPR") => Some("GDPR"),
            s if s.contains("STIG") => Some("DISA STIG"),
            _ => None,
        })
        .collect();
    let ctype = match (rule.category, scan) {
        (RuleCategory::Data, Scan::Host) => "host_secret",
        (RuleCategory::Data, _) => "image_secret",
        (_, Scan::Container) => "container",
        (_, Scan::Function) => "serverless",
        (_, Scan::Image) => "image",
        (_, Scan::Host) => "host_config",
    };
    json!({
        "id": check_id(rule),
        "title": title,
        "description": rule.description,
        "severity": severity_word(f.severity, false),
        "type": ctype,
        "templates": templates,
        "cause": "",
        "cve": "",
        "cvss": 0,
        "vecStr": "",
        "discovered": rfc3339(f.created_ms),
        "published": 0,
        "fixDate": 0,
        "packageName": "",
        "packageVersion": "",
        "status": "",
        "exploit": "",
        "link": "",
        "riskFactors": null,
        "secret": {},
        "wildfireMalware": {},
        "layerTime": 0,
        "functionLayer": "",
        "cri": false,
        "twistlock": false,
        "text": "",
    })
}

fn repo_tag(image: &str) -> Value {
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let (registry, repo) = name.split_once('/').unwrap_or(("", name));
    json!({ "registry": registry, "repo": repo, "tag": tag })
}

fn scan_result(world: &World, g: &Group) -> Value {
    let r = &world.resources[g.resource];
    let id = scan_id(world, g.resource, g.scan);
    let scan_time = g
        .findings
        .iter()
        .map(|f| f.updated_ms)
        .max()
        .unwrap_or(world.now_ms);
    let first_scan = g
        .findings
        .iter()
        .map(|f| f.created_ms)
        .min()
        .unwrap_or(world.now_ms);
    let (vulns, issues): (Vec<&SimFinding>, Vec<&SimFinding>) = g
        .findings
        .iter()
        .partition(|f| f.rule.category == RuleCategory::Vulnerability && f.cve.is_some());
    let vulns: Vec<Value> = vulns.iter().map(|f| vulnerability(f, g.scan)).collect();
    let issues: Vec<Value> = issues.iter().map(|f| compliance_issue(f, g.scan)).collect();
    let image = r
        .image
        .clone()
        .unwrap_or_else(|| format!("registry.example.com/base/{}:1.0", r.native_id));
    let scanned = json!({
        "vulnerabilities": vulns,
        "vulnerabilitiesCount": vulns.len(),
        "vulnerabilityDistribution": distribution(&vulns),
        "complianceIssues": issues,
        "complianceIssuesCount": issues.len(),
        "complianceDistribution": distribution(&issues),
    });
    let mut v = match g.scan {
        Scan::Host => json!({
            "_id": id, "type": "host", "hostname": r.hostname,
            "distro": "Ubuntu 22.04.4 LTS", "osDistro": "ubuntu", "osDistroRelease": "jammy",
            "agentless": g.resource % 2 == 1, "labels": [],
        }),
        Scan::Image => {
            let tag = repo_tag(&image);
            json!({
                "_id": id, "id": id, "type": "image", "hostname": r.hostname,
                "repoTag": tag, "tags": [tag], "repoDigests": [],
                "instances": [{
                    "host": r.hostname, "image": image, "registry": tag["registry"], "repo": tag["repo"],
                    "tag": tag["tag"], "modified": rfc3339(scan_time),
                }],
                "distro": "Debian GNU/Linux 12 (bookworm)", "osDistro": "debian", "osDistroRelease": "bookworm",
                "labels": [],
            })
        }
        Scan::Container => {
            let (cluster, namespace) = k8s(r).unwrap_or(("", ""));
            json!({
                "_id": id, "hostname": r.hostname,
                "firewallProtection": { "enabled": false, "outOfBandMode": "", "supported": false },
                "csa": false,
                "info": {
                    "id": id, "name": r.native_id, "image": image, "imageName": image,
                    "imageID": image_digest(world, g.resource),
                    "app": r.tags.get("app").cloned().unwrap_or_default(),
                    "cluster": cluster, "namespace": namespace,
                    "profileID": format!("{}_{namespace}_{cluster}", image_digest(world, g.resource)),
                    "labels": [], "infra": false,
                    "startTime": rfc3339(first_scan),
                    "cloudMetadata": cloud_metadata(world, g.resource),
                },
            })
        }
        Scan::Function => json!({
            "_id": id, "name": r.native_id, "provider": provider(&r.cloud).unwrap_or("others"),
            "region": r.region, "accountID": r.account, "runtime": "python3.12", "handler": "app.handler",
            "memory": 256, "timeout": 30,
        }),
    };
    v["scanTime"] = json!(rfc3339(scan_time));
    v["firstScanTime"] = json!(rfc3339(first_scan));
    v["collections"] = json!(["All"]);
    if let Some(obj) = v.as_object_mut() {
        let target = if g.scan == Scan::Container {
            obj.get_mut("info").and_then(Value::as_object_mut)
        } else {
            Some(obj)
        };
        if let Some(t) = target {
            if g.scan != Scan::Container {
                t.insert("cloudMetadata".into(), cloud_metadata(world, g.resource));
            }
            if let Some(s) = scanned.as_object() {
                t.extend(s.clone());
            }
        }
    }
    if let (Some((cluster, namespace)), Scan::Image | Scan::Host) = (k8s(r), g.scan) {
        v["clusters"] = json!([cluster]);
        v["namespaces"] = json!([namespace]);
    }
    v
}

/// Compute's incident category for a runtime rule when Compute would rate it as the world
/// does (crypto miners and reverse shells are compromises: critical; metadata probing is a
/// cloud-provider incident: high); everything else is a custom-rule incident.
fn incident_category(f: &SimFinding) -> &'static str {
    let known = if f.rule.id == world::RT_CRYPTO.id {
        Some(("cryptoMiner", SevWord::Critical))
    } else if f.rule.id == world::RT_REVSHELL.id {
        Some(("reverseShell", SevWord::Critical))
    } else if f.rule.id == world::RT_METADATA.id {
        Some(("cloudProvider", SevWord::High))
    } else {
        None
    };
    match known {
        Some((c, s)) if s == f.severity => c,
        _ => "customRule",
    }
}

fn attack(f: &SimFinding) -> (&'static str, &'static str, &'static str, &'static str) {
    // (audit type, attackType, MITRE technique, process)
    if f.rule.id == world::RT_CRYPTO.id {
        (
            "processes",
            "cryptoMinerProcess",
            "resourceHijacking",
            "/tmp/.x/xmrig",
        )
    } else if f.rule.id == world::RT_REVSHELL.id {
        (
            "processes",
            "reverseShell",
            "commandAndControlGeneral",
            "/bin/bash",
        )
    } else if f.rule.id == world::RT_METADATA.id {
        (
            "network",
            "cloudMetadataProbing",
            "cloudInstanceMetadataAPI",
            "/usr/bin/curl",
        )
    } else {
        (
            "processes",
            "unexpectedProcess",
            "nativeBinaryExecution",
            "/usr/bin/nc",
        )
    }
}

fn incident(world: &World, f: &SimFinding) -> Value {
    let r = world.resource_of(f);
    let category = incident_category(f);
    let (atype, attack_type, technique, process) = attack(f);
    let kind = match r.kind {
        ResourceKind::Workload => "container",
        ResourceKind::Function => "function",
        _ => "host",
    };
    let image = r.image.clone().unwrap_or_default();
    let cid = container_id(world, f.resource);
    let (cluster, namespace) = k8s(r).unwrap_or(("", ""));
    // Audits name no VM, so a GCP VM's numeric id could not be qualified: give its full name.
    let resource_id = if r.cloud == Cloud::Gcp {
        json!(r.id)
    } else {
        cloud_metadata(world, f.resource)["resourceID"].clone()
    };
    let place = json!({
        "hostname": r.hostname,
        "fqdn": r.hostname,
        "provider": provider(&r.cloud).unwrap_or("others"),
        "region": zone_or_region(r),
        "accountID": if r.cloud == Cloud::Kubernetes { "" } else { r.account.as_str() },
        "resourceID": resource_id,
        "cluster": cluster,
        "namespace": namespace,
        "collections": ["All"],
    });
    let mut times = vec![f.created_ms];
    if f.updated_ms > f.created_ms {
        times.push(f.updated_ms);
    }
    let audits: Vec<Value> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut a = json!({
                "_id": object_id(world, SALT_AUDIT, f.seq * 4 + i as u64),
                "time": rfc3339(*t),
                "type": atype,
                "attackType": attack_type,
                "attackTechniques": [technique],
                "effect": "alert",
                "severity": runtime_severity(f.severity),
                "ruleName": "Default - alert on suspicious runtime behavior",
                "msg": format!("{} {}", process, f.rule.description),
                "processPath": process,
                "command": format!("{process} -c sim"),
                "pid": 1000 + (f.seq % 30000),
                "user": "root",
                "interactive": false,
                "count": 1,
                "os": "Ubuntu 22.04.4 LTS",
                "container": kind == "container",
            });
            if kind == "container" {
                a["containerId"] = json!(cid);
                a["containerName"] = json!(r.native_id);
                a["imageName"] = json!(image);
                a["imageId"] = json!(image_digest(world, f.resource));
            }
            if kind == "function" {
                a["function"] = json!(r.native_id);
                a["functionID"] = json!(r.id);
            }
            if let (Some(a), Some(p)) = (a.as_object_mut(), place.as_object()) {
                a.extend(p.clone());
            }
            a
        })
        .collect();
    let mut inc = json!({
        "_id": object_id(world, SALT_INCIDENT, f.seq),
        "serialNum": f.seq + 1,
        "time": rfc3339(f.created_ms),
        "category": category,
        "type": kind,
        "acknowledged": matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed),
        "labels": r.tags,
        "shouldCollect": true,
        "windows": false,
        "audits": audits,
    });
    if category == "customRule" {
        inc["customRuleName"] = json!(f.rule.name);
    }
    if kind == "container" {
        inc["containerID"] = json!(cid);
        inc["containerName"] = json!(r.native_id);
        inc["imageName"] = json!(image);
        inc["imageID"] = json!(image_digest(world, f.resource));
        inc["profileID"] = json!(format!(
            "{}_{namespace}_{cluster}",
            image_digest(world, f.resource)
        ));
    }
    if kind == "function" {
        inc["function"] = json!(r.native_id);
        inc["functionID"] = json!(r.id);
    }
    if let (Some(i), Some(p)) = (inc.as_object_mut(), place.as_object()) {
        i.extend(p.clone());
    }
    inc
}
