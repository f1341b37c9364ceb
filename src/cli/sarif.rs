//! `sitrep export --format sarif`: a SARIF 2.1.0 log (docs/cli.md, "SARIF").
//!
//! - One run per vendor (the tool that found the alerts), in `Vendor::ALL` order; the
//!   driver is named after the vendor and carries one rule per policy.
//! - A rule's id is the vendor's policy id (else its name, else a hash of the title); its
//!   `defaultConfiguration.level` and `security-severity` come from the highest severity seen
//!   for it, its help from the vendor's remediation text.
//! - A result's level comes from the alert's severity (critical/high → error, medium →
//!   warning, low/info → note); its location is the cloud resource as a logical location,
//!   plus the IaC file when a `[[iac]]` checkout defines the resource (a physical location
//!   relative to the checkout, whose root is a `originalUriBaseIds` entry).
//! - `partialFingerprints["sitrepAlertId/v1"]` is the alert's id, so code-scanning tools
//!   match a result across exports.
//!
//! Every string from a vendor or the config is sanitized; none of them becomes markup.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::config::IacConfig;
use crate::domain::{Severity, Vendor};
use crate::remediate::ProposalKind;
use crate::sanitize;
use crate::store::StoredAlert;

/// The schema URI the log names (OASIS, SARIF 2.1.0 errata 01).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The SARIF level of a severity.
pub fn level(s: &Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
        // An unknown vendor word ranks with medium elsewhere; it does here too.
        Severity::Other(_) => "warning",
    }
}

/// GitHub code scanning's `security-severity` (a CVSS-like score as text).
fn security_severity(s: &Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium | Severity::Other(_) => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// A rule id: the policy id, else its name, else a hash of the title.
fn rule_id(a: &StoredAlert) -> String {
    let p = &a.alert.policy;
    p.id.as_deref()
        .or(p.name.as_deref())
        .map(sanitize::one_line)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| {
            let h = crate::remediate::sha256_hex(a.alert.title.as_bytes());
            format!("sitrep/{}", &h[..12])
        })
}

/// Percent-encode a relative path for a URI reference (RFC 3986 unreserved and `/` kept).
fn uri_path(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `file:` URI of a checkout root, ending in `/` as `originalUriBaseIds` requires.
fn root_uri(p: &Path) -> String {
    let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut u = format!("file://{}", uri_path(&abs));
    if !u.ends_with('/') {
        u.push('/');
    }
    u
}

/// The first line a unified diff changes in the old file (`@@ -12,3 …` → 12).
fn first_hunk_line(diff: &str) -> Option<u64> {
    let line = diff.lines().find(|l| l.starts_with("@@ -"))?;
    let n = line.strip_prefix("@@ -")?.split([',', ' ']).next()?;
    n.parse().ok().filter(|n| *n > 0)
}

struct Run {
    rules: Vec<Value>,
    index: BTreeMap<String, usize>,
    /// The highest severity seen per rule (its default level).
    worst: Vec<Severity>,
    results: Vec<Value>,
    roots: BTreeMap<String, String>,
}

/// The SARIF log for `alerts`. `iac`: checkouts to look in for the file that defines each
/// alert's resource (none: logical locations only).
pub fn log(alerts: &[StoredAlert], iac: &IacConfig) -> Value {
    let mut runs: BTreeMap<usize, Run> = BTreeMap::new();
    for a in alerts {
        let vendor = a.alert.vendor;
        let run = runs.entry(vendor.index()).or_insert_with(|| Run {
            rules: Vec::new(),
            index: BTreeMap::new(),
            worst: Vec::new(),
            results: Vec::new(),
            roots: BTreeMap::new(),
        });
        let id = rule_id(a);
        let rule_index = match run.index.get(&id) {
            Some(i) => {
                if a.alert.severity.rank() > run.worst[*i].rank() {
                    run.worst[*i] = a.alert.severity.clone();
                }
                *i
            }
            None => {
                let i = run.rules.len();
                run.rules.push(rule(a, &id));
                run.worst.push(a.alert.severity.clone());
                run.index.insert(id.clone(), i);
                i
            }
        };
        let r = result(a, &id, rule_index, iac, &mut run.roots);
        run.results.push(r);
    }
    let runs: Vec<Value> = runs
        .into_iter()
        .map(|(vi, mut run)| {
            for (rule, worst) in run.rules.iter_mut().zip(&run.worst) {
                rule["defaultConfiguration"] = json!({ "level": level(worst) });
                rule["properties"]["security-severity"] = json!(security_severity(worst));
            }
            let vendor = Vendor::ALL[vi];
            let mut v = json!({
                "tool": { "driver": {
                    "name": vendor.display_name(),
                    "rules": run.rules,
                    "properties": { "sitrepVendor": vendor.as_str() },
                }},
                "results": run.results,
                "columnKind": "unicodeCodePoints",
                "conversion": { "tool": { "driver": {
                    "name": "sitrep",
                    "version": env!("CARGO_PKG_VERSION"),
                }}},
            });
            if !run.roots.is_empty() {
                let bases: serde_json::Map<String, Value> = run
                    .roots
                    .into_iter()
                    .map(|(k, uri)| (k, json!({ "uri": uri })))
                    .collect();
                v["originalUriBaseIds"] = Value::Object(bases);
            }
            v
        })
        .collect();
    json!({ "$schema": SCHEMA, "version": "2.1.0", "runs": runs })
}

fn rule(a: &StoredAlert, id: &str) -> Value {
    let p = &a.alert.policy;
    let name = p
        .name
        .as_deref()
        .map(sanitize::one_line)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| sanitize::one_line(&a.alert.title));
    let mut r = json!({
        "id": id,
        "shortDescription": { "text": if name.is_empty() { id.to_string() } else { name.clone() } },
        "properties": {
            "category": sanitize::one_line(&a.alert.category.to_string()),
            "tags": ["security", sanitize::one_line(&a.alert.category.to_string())],
        },
    });
    // SARIF `name` is an identifier-like word; a policy title with spaces stays in the
    // descriptions only.
    if !name.is_empty() && !name.contains(char::is_whitespace) {
        r["name"] = json!(name);
    }
    if let Some(d) = a
        .alert
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        r["fullDescription"] = json!({ "text": sanitize::text(d).into_owned() });
    }
    if let Some(h) = a
        .alert
        .remediation
        .as_deref()
        .filter(|h| !h.trim().is_empty())
    {
        r["help"] = json!({ "text": sanitize::text(h).into_owned() });
    }
    if let Some(vs) = &p.vendor_severity {
        r["properties"]["vendorSeverity"] = json!(sanitize::one_line(vs));
    }
    r
}

fn result(
    a: &StoredAlert,
    rule_id: &str,
    rule_index: usize,
    iac: &IacConfig,
    roots: &mut BTreeMap<String, String>,
) -> Value {
    let al = &a.alert;
    let res = &al.resource;
    let resource_id = res.id.as_deref().map(sanitize::one_line);
    let resource_name = res.name.as_deref().map(sanitize::one_line);
    let shown = resource_name
        .clone()
        .or_else(|| resource_id.clone())
        .unwrap_or_else(|| "unknown resource".into());
    let mut logical = json!({ "kind": "resource", "name": shown });
    if let Some(id) = &resource_id {
        logical["fullyQualifiedName"] = json!(id);
    }
    let mut location = json!({ "logicalLocations": [logical] });
    if !iac.repos.is_empty()
        && let Some(phys) = physical(al, iac, roots)
    {
        location["physicalLocation"] = phys;
    }
    let mut props = json!({
        "sitrepId": sanitize::one_line(&a.id),
        "source": sanitize::one_line(&al.source),
        "severity": al.severity.as_str(),
        "status": a.status.kind().as_str(),
    });
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            props[k] = json!(sanitize::one_line(&v));
        }
    };
    put("resourceType", res.rtype.clone());
    put("cloud", res.cloud.as_ref().map(|c| c.to_string()));
    put("account", res.account.clone());
    put("region", res.region.clone());
    put("ticket", a.ticket.clone());
    if !al.cves.is_empty() {
        props["cves"] = json!(
            al.cves
                .iter()
                .map(|c| sanitize::one_line(&c.id))
                .collect::<Vec<_>>()
        );
    }
    let title = sanitize::one_line(&al.title);
    json!({
        "ruleId": rule_id,
        "ruleIndex": rule_index,
        "level": level(&al.severity),
        "message": { "text": format!("{} ({shown})", if title.is_empty() { rule_id } else { &title }) },
        "locations": [location],
        "partialFingerprints": { "sitrepAlertId/v1": sanitize::one_line(&a.id) },
        "properties": props,
    })
}

/// The IaC file that defines the alert's resource, when a mapped checkout has one.
fn physical(
    al: &crate::domain::Alert,
    iac: &IacConfig,
    roots: &mut BTreeMap<String, String>,
) -> Option<Value> {
    let rem = crate::remediate::propose(al, iac);
    rem.proposals.iter().find_map(|p| match &p.kind {
        ProposalKind::Diff { path, repo } => {
            let n = iac.repos.iter().position(|r| &r.path == repo).unwrap_or(0);
            let base = format!("IAC{n}");
            roots.entry(base.clone()).or_insert_with(|| root_uri(repo));
            let mut v = json!({
                "artifactLocation": { "uri": uri_path(path), "uriBaseId": base },
            });
            if let Some(line) = first_hunk_line(&p.text) {
                v["region"] = json!({ "startLine": line });
            }
            Some(v)
        }
        ProposalKind::Snippet => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_severity() {
        assert_eq!(level(&Severity::Critical), "error");
        assert_eq!(level(&Severity::High), "error");
        assert_eq!(level(&Severity::Medium), "warning");
        assert_eq!(level(&Severity::Low), "note");
        assert_eq!(level(&Severity::Info), "note");
    }

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(
            uri_path(Path::new("envs/prod/main tf.tf")),
            "envs/prod/main%20tf.tf"
        );
        assert_eq!(
            first_hunk_line("--- a\n+++ b\n@@ -12,3 +12,4 @@\n"),
            Some(12)
        );
        assert_eq!(first_hunk_line("no hunk"), None);
    }
}
