//! Remediation as a reviewable diff.
//!
//! For an alert, [`propose`] picks the generator that fits its policy (by policy name and id,
//! title keywords, category and resource type, tolerant of each vendor's wording), looks for
//! the resource's definition in the IaC checkouts the config maps to the alert's account,
//! project or tags ([`iac`]), and produces a unified diff against that file. When no definition
//! is found it produces standalone snippets, labelled as such; CLI commands (aws, az, gcloud,
//! kubectl) with every argument shell-quoted come with every remediation.
//!
//! Every diff, ours or an LLM's ([`validate_diff`]), is checked the same way ([`diff`]): it
//! parses, its paths stay inside a mapped checkout, its hunks apply (in-process, and with
//! `git apply --check` when git is on PATH), and it only touches the alert's resource.
//!
//! This is a data-layer module: no terminal library here.

pub mod diff;
mod docker;
mod generators;
mod hcl;
pub mod iac;
mod k8s;
mod shell;

use std::path::PathBuf;

use sha2::{Digest, Sha256};

pub use crate::config::{IacConfig, IacRepo};
use crate::domain::Alert;
use crate::highlight::Lang;
pub use diff::{DiffRejected, ValidatedDiff};
pub use generators::{GENERATORS, Generator, GeneratorInfo};
pub use shell::quote as shell_quote;

/// A command-line tool a CLI remediation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tool {
    Aws,
    Az,
    Gcloud,
    Kubectl,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Aws => "aws",
            Tool::Az => "az",
            Tool::Gcloud => "gcloud",
            Tool::Kubectl => "kubectl",
        }
    }
}

/// The form a proposal takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    Terraform,
    CloudFormation,
    Kubernetes,
    Dockerfile,
    Cli(Tool),
}

impl Form {
    pub fn label(self) -> String {
        match self {
            Form::Terraform => "Terraform".into(),
            Form::CloudFormation => "CloudFormation".into(),
            Form::Kubernetes => "Kubernetes YAML".into(),
            Form::Dockerfile => "Dockerfile".into(),
            Form::Cli(t) => format!("CLI ({})", t.as_str()),
        }
    }

    pub fn lang(self) -> Lang {
        match self {
            Form::Terraform => Lang::Hcl,
            Form::CloudFormation => Lang::Json,
            Form::Kubernetes => Lang::Yaml,
            Form::Dockerfile => Lang::Dockerfile,
            Form::Cli(_) => Lang::Shell,
        }
    }
}

/// Whether a proposal is a diff against a mapped file or a standalone snippet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalKind {
    /// A unified diff against `repo/path` (`path` relative to the checkout `repo`).
    Diff { path: PathBuf, repo: PathBuf },
    /// Standalone text: no definition was found to diff against (or a CLI command).
    Snippet,
}

/// One proposed change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub form: Form,
    pub kind: ProposalKind,
    pub lang: Lang,
    /// What this is, for a heading: "Terraform diff against main.tf", "Standalone snippet …".
    pub title: String,
    /// The unified diff or the snippet.
    pub text: String,
    /// sha256 (hex) of `text`'s bytes, for approvals bound to the exact bytes.
    pub sha256: String,
}

impl Proposal {
    fn new(form: Form, kind: ProposalKind, title: String, text: String) -> Proposal {
        let lang = match &kind {
            ProposalKind::Diff { path, .. } => match Lang::from_path(path) {
                Lang::Plain => form.lang(),
                l => l,
            },
            ProposalKind::Snippet => form.lang(),
        };
        let sha256 = sha256_hex(text.as_bytes());
        Proposal {
            form,
            kind,
            lang,
            title,
            text,
            sha256,
        }
    }

    pub fn is_diff(&self) -> bool {
        matches!(self.kind, ProposalKind::Diff { .. })
    }
}

/// What [`propose`] found for an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remediation {
    /// The generator's id, `None` when no generator fits the alert.
    pub generator: Option<&'static str>,
    /// One or more lines: what the fix does, where the definition was (or why none was found),
    /// or why there is no proposal at all.
    pub summary: String,
    pub proposals: Vec<Proposal>,
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The names by which the alert's resource may appear in IaC: its name, its id and the id's
/// last segment (an ARN's resource name, a Kubernetes object name, an Azure resource name).
/// Sanitized, at least two characters, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub names: Vec<String>,
    /// Packages named by the alert's CVEs (a Dockerfile that installs one is the image's).
    pub packages: Vec<String>,
    /// Terraform resource types that are account-wide (a CloudTrail trail for a
    /// "CloudTrail disabled" finding): every block of these types is the alert's resource.
    pub account_types: Vec<&'static str>,
}

impl Identity {
    /// The resource's names and packages, plus the account-wide types of the generator that
    /// fits the alert.
    pub fn of(alert: &Alert) -> Identity {
        let mut id = Identity::basic(alert);
        if let Some(g) = generators::find(alert) {
            id.account_types = g.account_types.to_vec();
        }
        id
    }

    /// Names and packages only.
    pub(crate) fn basic(alert: &Alert) -> Identity {
        let mut names: Vec<String> = Vec::new();
        let mut push = |s: &str| {
            let s = crate::sanitize::one_line(s);
            let s = s.trim().to_string();
            if s.chars().count() >= 2 && !names.contains(&s) {
                names.push(s);
            }
        };
        if let Some(n) = &alert.resource.name {
            push(n);
        }
        if let Some(id) = &alert.resource.id {
            push(id);
            let tail = id.rsplit(['/', ':']).next().unwrap_or(id);
            push(tail);
            // An Azure/GCP/k8s path: the segment after the type word.
            if let Some(rest) = id.strip_prefix("arn:") {
                // arn:partition:service:region:account:resource — resource may hold '/'.
                if let Some(res) = rest.splitn(5, ':').nth(4) {
                    push(res.rsplit('/').next().unwrap_or(res));
                }
            }
        }
        let mut packages: Vec<String> = Vec::new();
        for c in &alert.cves {
            if let Some(p) = &c.package {
                let p = crate::sanitize::one_line(p);
                if p.len() >= 2 && !packages.contains(&p) {
                    packages.push(p);
                }
            }
        }
        Identity {
            names,
            packages,
            account_types: Vec::new(),
        }
    }

    /// Is `s` one of the resource's names?
    pub fn is(&self, s: &str) -> bool {
        self.names.iter().any(|n| n == s)
    }

    /// The most specific short name (for CLI arguments and labels).
    pub fn short(&self) -> Option<&str> {
        self.names
            .iter()
            .filter(|n| !n.contains('/') && !n.starts_with("arn:"))
            .min_by_key(|n| n.len())
            .map(String::as_str)
            .or_else(|| self.names.first().map(String::as_str))
    }
}

/// Propose a remediation for `alert`, using the IaC checkouts in `iac`.
pub fn propose(alert: &Alert, iac: &IacConfig) -> Remediation {
    let Some(generator) = generators::find(alert) else {
        let policy = alert
            .policy
            .name
            .as_deref()
            .or(alert.policy.id.as_deref())
            .unwrap_or(&alert.title);
        return Remediation {
            generator: None,
            summary: format!(
                "no generator for policy {:?}: sitrep cannot propose a fix for this kind of finding; see the vendor's remediation text",
                crate::sanitize::one_line(policy)
            ),
            proposals: Vec::new(),
        };
    };
    let mut cx = generators::Ctx::new(alert);
    cx.ident.account_types = generator.account_types.to_vec();
    let mut summary = vec![format!("{}: {}", generator.info.id, generator.info.fix)];
    let mut proposals = Vec::new();

    let repos: Vec<&IacRepo> = iac
        .repos
        .iter()
        .filter(|r| r.maps(alert.resource.account.as_deref(), &alert.resource.tags))
        .collect();
    let mut found_definition = false;
    if repos.is_empty() {
        summary.push(match &alert.resource.account {
            Some(a) => format!(
                "no IaC checkout is mapped to account {:?} or to this resource's tags ([[iac]] in the config)",
                crate::sanitize::one_line(a)
            ),
            None => "no IaC checkout is mapped to this resource ([[iac]] in the config)".into(),
        });
    }
    for repo in repos {
        let files = match iac::scan(&repo.path) {
            Ok(f) => f,
            Err(e) => {
                summary.push(e.to_string());
                continue;
            }
        };
        for file in files {
            let Some((form, new_text)) = (generator.edit)(&cx, &file) else {
                if generators::defines(&cx, generator, &file) {
                    found_definition = true;
                    summary.push(format!(
                        "{} defines {} and needs no change",
                        file.rel.display(),
                        cx.label()
                    ));
                }
                continue;
            };
            found_definition = true;
            let text = diff::unified(&file.text, &new_text, &file.rel);
            match diff::validate_generated(&text, &repo.path, &cx.ident) {
                Ok(_) => proposals.push(Proposal::new(
                    form,
                    ProposalKind::Diff {
                        path: file.rel.clone(),
                        repo: repo.path.clone(),
                    },
                    format!("{} diff against {}", form.label(), file.rel.display()),
                    text,
                )),
                Err(e) => summary.push(format!(
                    "the generated diff for {} was withheld: {e}",
                    file.rel.display()
                )),
            }
        }
    }
    if !found_definition {
        summary.push(format!(
            "no definition of {} was found in a mapped checkout; the snippets below are standalone",
            cx.label()
        ));
        for (form, text) in (generator.snippets)(&cx) {
            proposals.push(Proposal::new(
                form,
                ProposalKind::Snippet,
                format!("Standalone {} snippet (not a diff)", form.label()),
                text,
            ));
        }
    }
    for (tool, text) in (generator.cli)(&cx) {
        proposals.push(Proposal::new(
            Form::Cli(tool),
            ProposalKind::Snippet,
            format!("{} commands (standalone)", tool.as_str()),
            text,
        ));
    }
    if proposals.is_empty() && found_definition {
        summary.push("nothing to change: every definition found already has the fix".into());
    }
    Remediation {
        generator: Some(generator.info.id),
        summary: summary.join("\n"),
        proposals,
    }
}

/// Validate a diff proposed by someone else (an LLM): it must parse, stay inside a checkout
/// mapped to the alert, apply cleanly and touch only the alert's resource.
pub fn validate_diff(
    diff_text: &str,
    alert: &Alert,
    iac: &IacConfig,
) -> Result<ValidatedDiff, DiffRejected> {
    let ident = Identity::of(alert);
    let repos: Vec<&IacRepo> = iac
        .repos
        .iter()
        .filter(|r| r.maps(alert.resource.account.as_deref(), &alert.resource.tags))
        .collect();
    if repos.is_empty() {
        return Err(DiffRejected::NoCheckout);
    }
    let mut last = DiffRejected::NoCheckout;
    for repo in repos {
        match diff::validate_in(diff_text, &repo.path, &ident) {
            Ok(v) => return Ok(v),
            // A path that is not in this checkout may be in the next one.
            Err(e @ DiffRejected::PathNotFound(_)) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
