//! Logging: CloudTrail disabled, VPC flow logs missing.

use super::tf::{Tf, fixpoint, variable};
use super::{Ctx, Generator, GeneratorInfo};
use crate::domain::Cloud;
use crate::highlight::Lang;
use crate::remediate::hcl::Block;
use crate::remediate::iac::SourceFile;
use crate::remediate::shell::{command, quote};
use crate::remediate::{Form, Tool};

pub(crate) static CLOUDTRAIL: Generator = Generator {
    info: GeneratorInfo {
        id: "cloudtrail-disabled",
        finding: "CloudTrail logging disabled or no multi-region trail in the account",
        fix: "turn logging on (enable_logging = true) and make the trail multi-region with global service events; with no trail defined, a new trail to a bucket given as a required variable",
        forms: &[
            "Terraform diff",
            "Terraform snippet",
            "CloudFormation snippet",
            "CLI (aws)",
        ],
    },
    matches: |cx| {
        cx.has(&["cloudtrail", "cloud trail", "audit trail"])
            && cx.has(&[
                "disabled",
                "not enabled",
                "is off",
                "not logging",
                "no multi-region",
                "not configured",
                "stopped",
                "no trail",
                "logging is",
            ])
    },
    langs: &[Lang::Hcl],
    account_types: &["aws_cloudtrail"],
    edit: trail_edit,
    snippets: trail_snippets,
    cli: trail_cli,
};

fn trail_step(text: &str) -> Option<String> {
    let tf = Tf::new(text);
    for t in tf.resources("aws_cloudtrail") {
        for (key, want) in [
            ("enable_logging", "true"),
            ("is_multi_region_trail", "true"),
            ("include_global_service_events", "true"),
        ] {
            let cur = tf.value(t, key);
            // enable_logging and include_global_service_events default to true: only a false
            // needs changing; is_multi_region_trail defaults to false.
            let needs = match key {
                "is_multi_region_trail" => cur != Some(want),
                _ => cur == Some("false"),
            };
            if needs {
                return Some(tf.set(t, key, want));
            }
        }
    }
    None
}

fn trail_edit(_cx: &Ctx<'_>, file: &SourceFile) -> Option<(Form, String)> {
    if file.lang != Lang::Hcl {
        return None;
    }
    fixpoint(&file.text, trail_step).map(|t| (Form::Terraform, t))
}

fn trail_snippets(_cx: &Ctx<'_>) -> Vec<(Form, String)> {
    vec![
        (
            Form::Terraform,
            format!(
                "resource \"aws_cloudtrail\" \"org\" {{\n  name                          = \"org-trail\"\n  s3_bucket_name                = var.cloudtrail_bucket\n  is_multi_region_trail         = true\n  include_global_service_events = true\n  enable_logging                = true\n  enable_log_file_validation    = true\n}}\n\n{}\n",
                variable("cloudtrail_bucket", "string", "S3 bucket (with the CloudTrail bucket policy) that receives the trail's logs")
            ),
        ),
        (
            Form::CloudFormation,
            "{\n  \"Parameters\": { \"TrailBucket\": { \"Type\": \"String\" } },\n  \"Resources\": {\n    \"OrgTrail\": {\n      \"Type\": \"AWS::CloudTrail::Trail\",\n      \"Properties\": {\n        \"TrailName\": \"org-trail\",\n        \"S3BucketName\": { \"Ref\": \"TrailBucket\" },\n        \"IsLogging\": true,\n        \"IsMultiRegionTrail\": true,\n        \"IncludeGlobalServiceEvents\": true,\n        \"EnableLogFileValidation\": true\n      }\n    }\n  }\n}\n".to_string(),
        ),
    ]
}

fn trail_cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let region = cx
        .region()
        .map(|r| format!(" --region {}", quote(&r)))
        .unwrap_or_default();
    vec![(
        Tool::Aws,
        format!(
            "# Existing trails and their status:\naws cloudtrail describe-trails{region} --output table\n# TRAIL_BUCKET: an S3 bucket with the CloudTrail bucket policy\n{} --s3-bucket-name \"$TRAIL_BUCKET\"{region}\n{}{region}\n",
            command(&[
                "aws",
                "cloudtrail",
                "create-trail",
                "--name",
                "org-trail",
                "--is-multi-region-trail",
                "--include-global-service-events",
                "--enable-log-file-validation"
            ]),
            command(&["aws", "cloudtrail", "start-logging", "--name", "org-trail"])
        ),
    )]
}

pub(crate) static FLOW_LOGS: Generator = Generator {
    info: GeneratorInfo {
        id: "flow-logs-disabled",
        finding: "VPC / VNet / subnet flow logs not enabled",
        fix: "add a flow log (all traffic) for the VPC the resource's security group is in, to a destination given as a required variable",
        forms: &[
            "Terraform diff",
            "Terraform snippet",
            "CLI (aws, az, gcloud)",
        ],
    },
    matches: |cx| {
        cx.has(&["flow log", "flowlog", "flow-log"])
            && cx.has(&[
                "not enabled",
                "disabled",
                "missing",
                "no flow",
                "not configured",
                "are not",
                "is not",
                "without",
            ])
    },
    langs: &[Lang::Hcl],
    account_types: &["aws_flow_log", "aws_vpc"],
    edit: flow_edit,
    snippets: flow_snippets,
    cli: flow_cli,
};

/// The VPCs (in this file) that the resource's security group or instance sits in.
fn vpcs_of(cx: &Ctx<'_>, tf: &Tf<'_>, text: &str) -> Vec<Block> {
    let own: Vec<&Block> = tf
        .blocks
        .iter()
        .filter(|b| b.kind == "resource" && cx.block_is_resource(text, b))
        .collect();
    tf.resources("aws_vpc")
        .filter(|v| {
            v.address()
                .is_some_and(|a| own.iter().any(|o| tf.body(o).contains(&format!("{a}."))))
                || cx.block_is_resource(text, v)
        })
        .cloned()
        .collect()
}

fn flow_step(cx: &Ctx<'_>, text: &str) -> Option<String> {
    let tf = Tf::new(text);
    for vpc in vpcs_of(cx, &tf, text) {
        let Some(addr) = vpc.address() else { continue };
        let logged = tf
            .resources("aws_flow_log")
            .any(|f| tf.body(f).contains(&format!("{addr}.")));
        if !logged {
            let label = vpc.label().unwrap_or("this");
            let mut new = tf.insert_after(
                &vpc,
                &format!(
                    "resource \"aws_flow_log\" \"{label}\" {{\n  vpc_id               = {addr}.id\n  traffic_type         = \"ALL\"\n  log_destination_type = \"s3\"\n  log_destination      = var.flow_log_bucket_arn\n}}"
                ),
            );
            if !Tf::new(&new).has_variable("flow_log_bucket_arn") {
                new = Tf::new(&new).append(&variable(
                    "flow_log_bucket_arn",
                    "string",
                    "ARN of the S3 bucket that receives VPC flow logs",
                ));
            }
            return Some(new);
        }
    }
    None
}

fn flow_edit(cx: &Ctx<'_>, file: &SourceFile) -> Option<(Form, String)> {
    if file.lang != Lang::Hcl {
        return None;
    }
    fixpoint(&file.text, |t| flow_step(cx, t)).map(|t| (Form::Terraform, t))
}

fn flow_snippets(_cx: &Ctx<'_>) -> Vec<(Form, String)> {
    vec![(
        Form::Terraform,
        format!(
            "resource \"aws_flow_log\" \"vpc\" {{\n  vpc_id               = var.vpc_id\n  traffic_type         = \"ALL\"\n  log_destination_type = \"s3\"\n  log_destination      = var.flow_log_bucket_arn\n}}\n\n{}\n\n{}\n",
            variable("vpc_id", "string", "The VPC the flagged resource is in"),
            variable(
                "flow_log_bucket_arn",
                "string",
                "ARN of the S3 bucket that receives VPC flow logs"
            )
        ),
    )]
}

fn flow_cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let name = cx.name();
    match cx.cloud {
        Some(Cloud::Gcp) => vec![(
            Tool::Gcloud,
            format!(
                "# SUBNET: the subnet of {}; REGION: its region\ngcloud compute networks subnets update \"$SUBNET\" --region \"$REGION\" --enable-flow-logs\n",
                crate::sanitize::one_line(&name)
            ),
        )],
        Some(Cloud::Azure) => vec![(
            Tool::Az,
            format!(
                "# STORAGE_ID: the storage account that receives the flow logs\n{} --storage-account \"$STORAGE_ID\"\n",
                command(&[
                    "az",
                    "network",
                    "watcher",
                    "flow-log",
                    "create",
                    "--location",
                    &cx.region()
                        .unwrap_or_else(|| crate::remediate::shell::var("LOCATION")),
                    "--name",
                    &format!("{name}-flowlog"),
                    "--nsg",
                    &cx.alert
                        .resource
                        .id
                        .as_deref()
                        .map(crate::sanitize::one_line)
                        .unwrap_or_else(|| name.clone()),
                ])
            ),
        )],
        _ => {
            let lookup = if name.starts_with("i-") {
                format!(
                    "{} --query 'Reservations[0].Instances[0].VpcId' --output text",
                    command(&["aws", "ec2", "describe-instances", "--instance-ids", &name])
                )
            } else if name.starts_with("sg-") {
                format!(
                    "{} --query 'SecurityGroups[0].VpcId' --output text",
                    command(&[
                        "aws",
                        "ec2",
                        "describe-security-groups",
                        "--group-ids",
                        &name
                    ])
                )
            } else {
                "echo \"set VPC_ID to the resource's VPC\" >&2; exit 1".to_string()
            };
            vec![(
                Tool::Aws,
                format!(
                    "vpc=$({lookup})\n# FLOW_LOG_BUCKET_ARN: the S3 bucket that receives the logs\naws ec2 create-flow-logs --resource-type VPC --resource-ids \"$vpc\" --traffic-type ALL --log-destination-type s3 --log-destination \"$FLOW_LOG_BUCKET_ARN\"\n"
                ),
            )]
        }
    }
}
