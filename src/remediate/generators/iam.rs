//! Identity: IAM policies granting a wildcard action or resource.

use super::tf::{Tf, fixpoint, variable};
use super::{Ctx, Generator, GeneratorInfo, Kind, hcl_string, tf_ident};
use crate::domain::Cloud;
use crate::highlight::Lang;
use crate::remediate::hcl::{self, Block};
use crate::remediate::iac::SourceFile;
use crate::remediate::shell::command;
use crate::remediate::{Form, Tool};

pub(crate) static WILDCARD: Generator = Generator {
    info: GeneratorInfo {
        id: "iam-wildcard",
        finding: "IAM policy with a wildcard action or resource (\"*\", full administrative privileges)",
        fix: "replace each wildcard Action/Resource with required variables <name>_allowed_actions / <name>_allowed_resources (no defaults: the analyst lists the least privileges), and detach AdministratorAccess",
        forms: &[
            "Terraform diff",
            "Terraform snippet",
            "CloudFormation snippet",
            "CLI (aws, az, gcloud)",
        ],
    },
    matches,
    langs: &[Lang::Hcl],
    account_types: &[],
    edit,
    snippets,
    cli,
};

fn matches(cx: &Ctx<'_>) -> bool {
    let wildcard = cx.has(&[
        "wildcard",
        "\"*\"",
        "'*'",
        "*:*",
        "action *",
        "full administrative",
        "administrative privileges",
        "administratoraccess",
        "admin privileges",
        "full admin",
        "roles/owner",
        "overly permissive",
        "star permissions",
    ]);
    let identity = cx.kind == Kind::Identity
        || cx.has(&["iam policy", "iam role", "policy grants", "policy allows"]);
    wildcard && identity
}

const POLICY_TYPES: [&str; 4] = [
    "aws_iam_policy",
    "aws_iam_role_policy",
    "aws_iam_user_policy",
    "aws_iam_group_policy",
];
const ADMIN_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// A line that sets `Action`/`Resource` (HCL `Action = "*"`, JSON `"Action": "*"`, policy
/// document `actions = ["*"]`) to a bare wildcard: `(which, is_json)`.
fn wildcard_line(line: &str) -> Option<(&'static str, bool)> {
    let t = line.trim_start();
    for (key, which) in [
        ("Action", "actions"),
        ("Resource", "resources"),
        ("actions", "actions"),
        ("resources", "resources"),
    ] {
        let (rest, json) = if let Some(r) = t.strip_prefix(&format!("\"{key}\"")) {
            (r.trim_start().strip_prefix(':'), true)
        } else if let Some(r) = t.strip_prefix(key) {
            (r.trim_start().strip_prefix('='), false)
        } else {
            (None, false)
        };
        let Some(v) = rest else { continue };
        let v = v.trim().trim_end_matches(',').trim();
        if v == "\"*\"" || v == "[\"*\"]" || v == "[ \"*\" ]" {
            return Some((which, json));
        }
    }
    None
}

fn step(cx: &Ctx<'_>, text: &str) -> Option<String> {
    let tf = Tf::new(text);
    let roles: Vec<Block> = tf
        .own(cx, "aws_iam_role")
        .chain(tf.own(cx, "aws_iam_user"))
        .chain(tf.own(cx, "aws_iam_group"))
        .cloned()
        .collect();
    // Attachments of AdministratorAccess to the role: remove them.
    for kind in [
        "aws_iam_role_policy_attachment",
        "aws_iam_user_policy_attachment",
        "aws_iam_group_policy_attachment",
    ] {
        for a in tf.resources(kind) {
            let ours =
                roles.iter().any(|r| tf.refers_to(cx, a, r)) || cx.block_is_resource(text, a);
            if ours && tf.string(a, "policy_arn") == Some(ADMIN_ARN) {
                return Some(tf.remove(a));
            }
        }
    }
    // The policies that are the resource, belong to the role, or are attached to it.
    let mut policies: Vec<Block> = Vec::new();
    for kind in POLICY_TYPES {
        for p in tf.resources(kind) {
            let attached = tf.blocks.iter().any(|a| {
                a.resource_type()
                    .is_some_and(|t| t.ends_with("policy_attachment"))
                    && roles.iter().any(|r| tf.refers_to(cx, a, r))
                    && p.address()
                        .is_some_and(|addr| tf.body(a).contains(&format!("{addr}.")))
            });
            if cx.block_is_resource(text, p)
                || roles.iter().any(|r| tf.refers_to(cx, p, r))
                || attached
            {
                policies.push(p.clone());
            }
        }
    }
    // Policy documents those policies read.
    let docs: Vec<Block> = tf
        .blocks
        .iter()
        .filter(|d| {
            d.kind == "data"
                && d.labels
                    .first()
                    .is_some_and(|t| t == "aws_iam_policy_document")
        })
        .filter(|d| {
            d.address().is_some_and(|a| {
                policies
                    .iter()
                    .any(|p| tf.body(p).contains(&format!("{a}.")))
            })
        })
        .cloned()
        .collect();
    let base = policies
        .first()
        .and_then(|p| tf.string(p, "name"))
        .or_else(|| roles.first().and_then(|r| tf.string(r, "name")))
        .map(tf_ident)
        .unwrap_or_else(|| tf_ident(&cx.name()));
    let mut used: Vec<String> = Vec::new();
    for b in policies.iter().chain(&docs) {
        for i in b.start..=b.end {
            let line = tf.lines[i];
            if let Some((which, json)) = wildcard_line(line) {
                let var = format!("{base}_allowed_{which}");
                let indent = hcl::indent(line);
                let key = line
                    .trim_start()
                    .split([' ', '=', ':'])
                    .next()
                    .unwrap_or_default();
                let comma = if line.trim_end().ends_with(',') {
                    ","
                } else {
                    ""
                };
                let new = if json {
                    format!("{indent}{key}: ${{jsonencode(var.{var})}}{comma}")
                } else {
                    let eq_col = line
                        .find('=')
                        .map(|c| c - indent.len() - key.len())
                        .unwrap_or(1);
                    format!(
                        "{indent}{key}{}= var.{var}{comma}",
                        " ".repeat(eq_col.max(1))
                    )
                };
                return Some(tf.replace_line(i, new));
            }
            for which in ["actions", "resources"] {
                let var = format!("var.{base}_allowed_{which}");
                if line.contains(&var) && !used.contains(&var) {
                    used.push(var);
                }
            }
        }
    }
    for v in used {
        let name = v.trim_start_matches("var.");
        if !tf.has_variable(name) {
            let what = if name.ends_with("actions") {
                "actions (service:Action)"
            } else {
                "resource ARNs"
            };
            return Some(tf.append(&variable(
                name,
                "list(string)",
                &format!("The {what} this policy needs: least privilege, no wildcard; no default on purpose"),
            )));
        }
    }
    None
}

fn edit(cx: &Ctx<'_>, file: &SourceFile) -> Option<(Form, String)> {
    if file.lang != Lang::Hcl {
        return None;
    }
    fixpoint(&file.text, |t| step(cx, t)).map(|t| (Form::Terraform, t))
}

fn snippets(cx: &Ctx<'_>) -> Vec<(Form, String)> {
    let name = cx.name();
    let id = tf_ident(&name);
    vec![
        (
            Form::Terraform,
            format!(
                "# The policy of {q}: list what it needs instead of \"*\".\ndata \"aws_iam_policy_document\" \"{id}\" {{\n  statement {{\n    effect    = \"Allow\"\n    actions   = var.{id}_allowed_actions\n    resources = var.{id}_allowed_resources\n  }}\n}}\n\n{}\n\n{}\n",
                variable(&format!("{id}_allowed_actions"), "list(string)", "The actions (service:Action) this policy needs: least privilege, no wildcard; no default on purpose"),
                variable(&format!("{id}_allowed_resources"), "list(string)", "The resource ARNs this policy needs: least privilege, no wildcard; no default on purpose"),
                q = hcl_string(&name)
            ),
        ),
        (
            Form::CloudFormation,
            "{\n  \"Parameters\": {\n    \"AllowedActions\": { \"Type\": \"CommaDelimitedList\" },\n    \"AllowedResources\": { \"Type\": \"CommaDelimitedList\" }\n  },\n  \"PolicyDocument\": {\n    \"Version\": \"2012-10-17\",\n    \"Statement\": [\n      { \"Effect\": \"Allow\", \"Action\": { \"Ref\": \"AllowedActions\" }, \"Resource\": { \"Ref\": \"AllowedResources\" } }\n    ]\n  }\n}\n".to_string(),
        ),
    ]
}

fn cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let name = cx.name();
    match cx.cloud {
        Some(Cloud::Gcp) => {
            let project = cx.account().unwrap_or_else(|| "PROJECT_ID".into());
            let member = if name.contains('@') {
                format!("serviceAccount:{name}")
            } else {
                format!("serviceAccount:{name}@{project}.iam.gserviceaccount.com")
            };
            vec![(
                Tool::Gcloud,
                format!(
                    "{}\n{}\n",
                    command(&[
                        "gcloud",
                        "projects",
                        "get-iam-policy",
                        &project,
                        "--flatten=bindings[].members",
                        &format!("--filter=bindings.members:{member}"),
                        "--format=table(bindings.role)"
                    ]),
                    command(&[
                        "gcloud",
                        "projects",
                        "remove-iam-policy-binding",
                        &project,
                        &format!("--member={member}"),
                        "--role=roles/owner"
                    ])
                ),
            )]
        }
        Some(Cloud::Azure) => {
            let id = cx
                .alert
                .resource
                .id
                .as_deref()
                .map(crate::sanitize::one_line)
                .unwrap_or_else(|| name.clone());
            vec![(
                Tool::Az,
                format!(
                    "principal=$({} --query principalId --output tsv)\naz role assignment list --assignee \"$principal\" --all --output table\naz role assignment delete --assignee \"$principal\" --role Owner\n",
                    command(&["az", "identity", "show", "--ids", &id])
                ),
            )]
        }
        _ => vec![(
            Tool::Aws,
            format!(
                "{}\n{}\n{}\n",
                command(&[
                    "aws",
                    "iam",
                    "list-attached-role-policies",
                    "--role-name",
                    &name
                ]),
                command(&["aws", "iam", "list-role-policies", "--role-name", &name]),
                command(&[
                    "aws",
                    "iam",
                    "detach-role-policy",
                    "--role-name",
                    &name,
                    "--policy-arn",
                    ADMIN_ARN
                ])
            ),
        )],
    }
}
