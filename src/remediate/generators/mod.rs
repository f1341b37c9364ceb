//! The generator catalog. Each family lives in its own file; [`find`] picks the first generator
//! whose matcher accepts the alert.
//!
//! Matching reads the policy name and id, the title and the resource type (lower-cased and
//! joined), plus the category, the resource's kind (from its id and type) and its CVEs, so the
//! same finding worded differently by each vendor lands on the same generator.

mod cfn;
mod iam;
mod kubernetes;
mod logging;
mod network;
mod storage;
mod tf;
mod vulnerable;

use super::iac::SourceFile;
use super::{Form, Identity, Tool};
use crate::domain::{Alert, Cloud};
use crate::highlight::Lang;

/// What a generator is for, for docs and the UI.
#[derive(Debug)]
pub struct GeneratorInfo {
    pub id: &'static str,
    /// The finding it handles.
    pub finding: &'static str,
    /// What the fix does (one line).
    pub fix: &'static str,
    /// The forms it produces.
    pub forms: &'static [&'static str],
}

/// One generator: matcher, file editor, standalone snippets and CLI commands.
pub struct Generator {
    pub info: GeneratorInfo,
    pub(crate) matches: fn(&Ctx<'_>) -> bool,
    /// The languages of the files it edits.
    pub(crate) langs: &'static [Lang],
    /// Terraform types that are account-wide for this finding (see
    /// [`crate::remediate::Identity::account_types`]).
    pub(crate) account_types: &'static [&'static str],
    /// The edited file text, when this file defines the resource and needs the fix.
    pub(crate) edit: fn(&Ctx<'_>, &SourceFile) -> Option<(Form, String)>,
    pub(crate) snippets: fn(&Ctx<'_>) -> Vec<(Form, String)>,
    pub(crate) cli: fn(&Ctx<'_>) -> Vec<(Tool, String)>,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.info.fmt(f)
    }
}

/// Every generator, in matching order (most specific first).
pub static GENERATORS: &[&Generator] = &[
    &vulnerable::VULNERABLE_PACKAGE,
    &kubernetes::PRIVILEGED,
    &kubernetes::HOST_PATH,
    &kubernetes::RUN_AS_ROOT,
    &kubernetes::RESOURCE_LIMITS,
    &logging::CLOUDTRAIL,
    &logging::FLOW_LOGS,
    &network::OPEN_ADMIN_PORT,
    &iam::WILDCARD,
    &storage::UNENCRYPTED,
    &storage::PUBLIC,
];

/// The generator for an alert, if one fits.
pub(crate) fn find(alert: &Alert) -> Option<&'static Generator> {
    let cx = Ctx::new(alert);
    GENERATORS.iter().copied().find(|g| (g.matches)(&cx))
}

/// What kind of thing the resource is, from its id and type words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Bucket,
    Firewall,
    Identity,
    Database,
    Disk,
    Instance,
    Workload,
    Other,
}

/// Everything a generator reads about the alert.
pub(crate) struct Ctx<'a> {
    pub alert: &'a Alert,
    pub ident: Identity,
    /// Policy name, policy id, title and resource type, lower-cased.
    pub text: String,
    pub kind: Kind,
    pub cloud: Option<Cloud>,
}

impl<'a> Ctx<'a> {
    pub fn new(alert: &'a Alert) -> Ctx<'a> {
        let r = &alert.resource;
        let text = [
            alert.policy.name.as_deref().unwrap_or_default(),
            alert.policy.id.as_deref().unwrap_or_default(),
            &alert.title,
            r.rtype.as_deref().unwrap_or_default(),
        ]
        .join(" | ")
        .to_lowercase();
        let id = r.id.as_deref().unwrap_or_default();
        let cloud = r.cloud.clone().or_else(|| {
            if id.starts_with("arn:aws") {
                Some(Cloud::Aws)
            } else if id.starts_with("/subscriptions/") {
                Some(Cloud::Azure)
            } else if id.starts_with("//") && id.contains("googleapis.com") {
                Some(Cloud::Gcp)
            } else if id.starts_with("k8s/") {
                Some(Cloud::Kubernetes)
            } else {
                None
            }
        });
        Ctx {
            alert,
            ident: Identity::basic(alert),
            kind: kind_of(id, r.rtype.as_deref().unwrap_or_default(), cloud.as_ref()),
            text,
            cloud,
        }
    }

    /// Does the matching text hold any of these words?
    pub fn has(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.text.contains(w))
    }

    /// "resource NAME" for messages.
    pub fn label(&self) -> String {
        match self.ident.short() {
            Some(n) => format!("resource {n:?}"),
            None => "the alert's resource".into(),
        }
    }

    /// The short name, or a shell variable the analyst sets when the alert has none.
    pub fn name(&self) -> String {
        self.ident.short().unwrap_or("RESOURCE_NAME").to_string()
    }

    pub fn region(&self) -> Option<String> {
        self.alert
            .resource
            .region
            .as_deref()
            .map(crate::sanitize::one_line)
            .filter(|r| !r.is_empty())
    }

    pub fn account(&self) -> Option<String> {
        self.alert
            .resource
            .account
            .as_deref()
            .map(crate::sanitize::one_line)
            .filter(|r| !r.is_empty())
    }

    /// Segment after `key` in the resource id (`resourceGroups` → the group name).
    pub fn id_segment(&self, key: &str) -> Option<String> {
        let id = self.alert.resource.id.as_deref()?;
        let mut parts = id.split('/');
        while let Some(p) = parts.next() {
            if p.eq_ignore_ascii_case(key) {
                return parts.next().map(crate::sanitize::one_line);
            }
        }
        None
    }

    /// `(namespace, kind, name)` of a Kubernetes resource id `k8s/<cluster>/<ns>/<kind>/<name>`.
    pub fn k8s_object(&self) -> Option<(String, String, String)> {
        let id = self.alert.resource.id.as_deref()?;
        let parts: Vec<&str> = id.split('/').collect();
        match parts.as_slice() {
            ["k8s", _cluster, ns, kind, name] => Some((
                crate::sanitize::one_line(ns),
                crate::sanitize::one_line(kind),
                crate::sanitize::one_line(name),
            )),
            _ => None,
        }
    }

    /// Does the file define the resource (a block, document or resource that names it)?
    pub fn defined_in(&self, file: &SourceFile) -> bool {
        match file.lang {
            Lang::Hcl => super::hcl::blocks(&file.text)
                .iter()
                .any(|b| self.block_is_resource(&file.text, b)),
            Lang::Yaml | Lang::Json => super::diff::mentions(&file.text, &self.ident),
            _ => false,
        }
    }

    /// Does this Terraform block name the resource (a string literal equal to one of its
    /// names, or a label equal to its name with `-` as `_`)?
    pub fn block_is_resource(&self, text: &str, b: &super::hcl::Block) -> bool {
        let lines: Vec<&str> = text.split('\n').collect();
        let body = lines[b.start..=b.end.min(lines.len() - 1)].join("\n");
        super::hcl::literals(&body).iter().any(|l| self.ident.is(l))
            || b.label().is_some_and(|l| {
                self.ident
                    .names
                    .iter()
                    .any(|n| n.replace(['-', '.'], "_") == l)
            })
    }
}

fn kind_of(id: &str, rtype: &str, cloud: Option<&Cloud>) -> Kind {
    let id_l = id.to_lowercase();
    let t = rtype.to_lowercase();
    let any = |s: &str, words: &[&str]| words.iter().any(|w| s.contains(w));
    if id_l.starts_with("k8s/") || cloud == Some(&Cloud::Kubernetes) {
        return Kind::Workload;
    }
    if id_l.starts_with("arn:aws:s3:::")
        || any(
            &id_l,
            &["storage.googleapis.com", "microsoft.storage/", "/buckets/"],
        )
    {
        return Kind::Bucket;
    }
    if any(
        &id_l,
        &["security-group/", "networksecuritygroups", "/firewalls/"],
    ) {
        return Kind::Firewall;
    }
    if any(
        &id_l,
        &[
            ":role/",
            ":policy/",
            ":user/",
            "serviceaccounts/",
            "userassignedidentities",
            "iam.googleapis.com",
        ],
    ) {
        return Kind::Identity;
    }
    if any(
        &id_l,
        &[
            ":rds:",
            ":db:",
            "microsoft.sql/",
            "cloudsql.googleapis.com",
            "microsoft.dbfor",
        ],
    ) {
        return Kind::Database;
    }
    if any(&id_l, &[":volume/", "microsoft.compute/disks"]) {
        return Kind::Disk;
    }
    if any(
        &t,
        &[
            "bucket",
            "s3",
            "storage account",
            "storageaccount",
            "blob",
            "storage",
        ],
    ) {
        return Kind::Bucket;
    }
    if any(
        &t,
        &[
            "security group",
            "security-group",
            "securitygroup",
            "firewall",
            "nsg",
        ],
    ) {
        return Kind::Firewall;
    }
    if any(
        &t,
        &[
            "iam",
            "role",
            "policy",
            "identity",
            "service account",
            "serviceaccount",
            "user",
        ],
    ) {
        return Kind::Identity;
    }
    if any(&t, &["rds", "database", "db", "sql"]) {
        return Kind::Database;
    }
    if any(&t, &["volume", "disk", "ebs"]) {
        return Kind::Disk;
    }
    if any(
        &t,
        &[
            "deployment",
            "pod",
            "kubernetes",
            "k8s",
            "daemonset",
            "statefulset",
            "container",
            "workload",
        ],
    ) {
        return Kind::Workload;
    }
    if any(&id_l, &[":instance/", "virtualmachines", "/instances/"])
        || any(
            &t,
            &[
                "instance",
                "virtual machine",
                "virtual_machine",
                "vm",
                "ec2",
                "host",
            ],
        )
    {
        return Kind::Instance;
    }
    Kind::Other
}

/// Whether the generator edits files of this language and the file defines the resource.
pub(crate) fn defines(cx: &Ctx<'_>, g: &Generator, file: &SourceFile) -> bool {
    if !g.langs.contains(&file.lang) {
        return false;
    }
    if !g.account_types.is_empty() && file.lang == Lang::Hcl {
        return super::hcl::blocks(&file.text).iter().any(|b| {
            b.resource_type()
                .is_some_and(|t| g.account_types.contains(&t))
        });
    }
    if file.lang == Lang::Dockerfile {
        return super::docker::installs_any(&file.text, &cx.ident.packages);
    }
    cx.defined_in(file)
}

/// The resource group from the Azure id, or the shell variable `RESOURCE_GROUP` and a comment
/// line asking the analyst to set it.
pub(crate) fn resource_group(cx: &Ctx<'_>) -> (String, String) {
    match cx.id_segment("resourceGroups") {
        Some(rg) => (rg, String::new()),
        None => (
            super::shell::var("RESOURCE_GROUP"),
            format!(
                "# RESOURCE_GROUP: the resource group of {} (the alert does not name it)\n",
                cx.name()
            ),
        ),
    }
}

/// Lines of a file (split on `\n`, so joining with `\n` restores it exactly).
pub(crate) fn split(text: &str) -> Vec<String> {
    text.split('\n').map(str::to_string).collect()
}

pub(crate) fn join(lines: &[String]) -> String {
    lines.join("\n")
}

/// `Some(new)` only when the edit changed something.
pub(crate) fn changed(old: &str, new: String) -> Option<String> {
    (new != old).then_some(new)
}

/// A Terraform-safe identifier from a resource name (`acme-data` → `acme_data`).
pub(crate) fn tf_ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'r');
    }
    s
}

/// A string literal for HCL or JSON (quotes and backslashes escaped, `${` and `%{` kept literal).
pub(crate) fn hcl_string(s: &str) -> String {
    let clean = crate::sanitize::one_line(s);
    let mut out = String::with_capacity(clean.len() + 2);
    out.push('"');
    for c in clean.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out.replace("${", "$${").replace("%{", "%%{")
}

/// A YAML double-quoted scalar.
pub(crate) fn yaml_string(s: &str) -> String {
    let clean = crate::sanitize::one_line(s);
    serde_json::to_string(&clean).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests;

/// Like [`tf::fixpoint`] for line-editing steps: `step` edits the lines in place and says
/// whether it changed anything.
pub(crate) fn fixpoint_lines(
    text: &str,
    mut step: impl FnMut(&mut Vec<String>) -> bool,
) -> Option<String> {
    let mut lines = split(text);
    for _ in 0..64 {
        if !step(&mut lines) {
            break;
        }
    }
    changed(text, join(&lines))
}
