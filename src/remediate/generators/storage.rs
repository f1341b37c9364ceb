//! Storage: public buckets/containers (S3, Azure blob, GCS) and unencrypted storage (S3, EBS,
//! RDS, Azure managed disk).

use super::cfn;
use super::tf::{Tf, fixpoint, variable};
use super::{Ctx, Generator, GeneratorInfo, Kind, hcl_string, tf_ident};
use crate::domain::Cloud;
use crate::highlight::Lang;
use crate::remediate::iac::SourceFile;
use crate::remediate::shell::command;
use crate::remediate::{Form, Tool};

pub(crate) static PUBLIC: Generator = Generator {
    info: GeneratorInfo {
        id: "public-storage",
        finding: "S3 bucket, Azure blob container or GCS bucket readable by anyone",
        fix: "block public access (S3 Block Public Access, private ACL; Azure private container access and no public nested items; GCS public access prevention, allUsers bindings removed)",
        forms: &[
            "Terraform diff",
            "CloudFormation (JSON) diff",
            "Terraform and CloudFormation snippets",
            "CLI (aws, az, gcloud)",
        ],
    },
    matches: public_matches,
    langs: &[Lang::Hcl, Lang::Json],
    account_types: &[],
    edit: public_edit,
    snippets: public_snippets,
    cli: public_cli,
};

fn public_matches(cx: &Ctx<'_>) -> bool {
    let public = cx.has(&[
        "public",
        "anonymous",
        "allusers",
        "all users",
        "everyone",
        "world-readable",
        "world readable",
    ]);
    let storage = cx.kind == Kind::Bucket
        || cx.has(&[
            "bucket",
            "blob",
            "s3",
            "storage account",
            "gcs",
            "cloud storage",
        ]);
    public && storage && !cx.has(&["logging", "versioning", "encrypt", "mfa delete"])
}

const PUBLIC_ACLS: [&str; 3] = ["public-read", "public-read-write", "authenticated-read"];
const PAB_KEYS: [&str; 4] = [
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
];

fn public_step(cx: &Ctx<'_>, text: &str) -> Option<String> {
    let tf = Tf::new(text);
    // AWS: the bucket, its ACL resources and its public access block.
    for bucket in tf.own(cx, "aws_s3_bucket") {
        if tf
            .string(bucket, "acl")
            .is_some_and(|a| PUBLIC_ACLS.contains(&a))
        {
            return Some(tf.set(bucket, "acl", "\"private\""));
        }
        for acl in tf.resources("aws_s3_bucket_acl") {
            if tf.refers_to(cx, acl, bucket)
                && tf
                    .string(acl, "acl")
                    .is_some_and(|a| PUBLIC_ACLS.contains(&a))
            {
                return Some(tf.set(acl, "acl", "\"private\""));
            }
        }
        let pabs: Vec<_> = tf
            .resources("aws_s3_bucket_public_access_block")
            .filter(|p| tf.refers_to(cx, p, bucket))
            .collect();
        if pabs.is_empty() {
            let label = bucket.label().unwrap_or("this");
            let snippet = format!(
                "resource \"aws_s3_bucket_public_access_block\" \"{label}\" {{\n  bucket = aws_s3_bucket.{label}.id\n\n  block_public_acls       = true\n  block_public_policy     = true\n  ignore_public_acls      = true\n  restrict_public_buckets = true\n}}"
            );
            return Some(tf.insert_after(bucket, &snippet));
        }
        for p in pabs {
            for key in PAB_KEYS {
                if tf.value(p, key) != Some("true") {
                    return Some(tf.set(p, key, "true"));
                }
            }
        }
    }
    // Azure: the storage account and its containers.
    for account in tf.own(cx, "azurerm_storage_account") {
        if tf.value(account, "allow_nested_items_to_be_public") != Some("false") {
            return Some(tf.set(account, "allow_nested_items_to_be_public", "false"));
        }
    }
    let accounts: Vec<_> = tf.own(cx, "azurerm_storage_account").cloned().collect();
    for c in tf.resources("azurerm_storage_container") {
        let ours = cx.block_is_resource(text, c) || accounts.iter().any(|a| tf.refers_to(cx, c, a));
        if ours
            && tf
                .string(c, "container_access_type")
                .is_some_and(|t| t != "private")
        {
            return Some(tf.set(c, "container_access_type", "\"private\""));
        }
    }
    // GCP: the bucket and IAM bindings to allUsers / allAuthenticatedUsers.
    for bucket in tf.own(cx, "google_storage_bucket") {
        if tf.string(bucket, "public_access_prevention") != Some("enforced") {
            return Some(tf.set(bucket, "public_access_prevention", "\"enforced\""));
        }
        for kind in [
            "google_storage_bucket_iam_member",
            "google_storage_bucket_iam_binding",
        ] {
            for m in tf.resources(kind) {
                let body = tf.body(m);
                if tf.refers_to(cx, m, bucket)
                    && (body.contains("\"allUsers\"") || body.contains("\"allAuthenticatedUsers\""))
                {
                    return Some(tf.remove(m));
                }
            }
        }
    }
    None
}

fn public_cfn_step(cx: &Ctx<'_>, text: &str) -> Option<String> {
    for r in cfn::own(cx, text, "AWS::S3::Bucket", "BucketName") {
        if let Some(acl) = r
            .body
            .pointer("/Properties/AccessControl")
            .and_then(|v| v.as_str())
            && matches!(acl, "PublicRead" | "PublicReadWrite" | "AuthenticatedRead")
        {
            return cfn::set_scalar(
                text,
                &r,
                "AccessControl",
                &format!("\"{acl}\""),
                "\"Private\"",
            );
        }
        match r.body.pointer("/Properties/PublicAccessBlockConfiguration") {
            None => {
                return cfn::add_property(
                    text,
                    &r,
                    "PublicAccessBlockConfiguration",
                    &serde_json::json!({
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true
                    }),
                );
            }
            Some(pab) => {
                for key in [
                    "BlockPublicAcls",
                    "BlockPublicPolicy",
                    "IgnorePublicAcls",
                    "RestrictPublicBuckets",
                ] {
                    if pab.get(key) == Some(&serde_json::Value::Bool(false)) {
                        return cfn::set_scalar(text, &r, key, "false", "true");
                    }
                }
            }
        }
    }
    None
}

fn public_edit(cx: &Ctx<'_>, file: &SourceFile) -> Option<(Form, String)> {
    match file.lang {
        Lang::Hcl => fixpoint(&file.text, |t| public_step(cx, t)).map(|t| (Form::Terraform, t)),
        Lang::Json => {
            fixpoint(&file.text, |t| public_cfn_step(cx, t)).map(|t| (Form::CloudFormation, t))
        }
        _ => None,
    }
}

fn public_snippets(cx: &Ctx<'_>) -> Vec<(Form, String)> {
    let name = cx.name();
    let id = tf_ident(&name);
    let q = hcl_string(&name);
    match cx.cloud {
        Some(Cloud::Azure) => vec![(
            Form::Terraform,
            format!(
                "# In the azurerm_storage_account for {q}:\n  allow_nested_items_to_be_public = false\n\n# and in each azurerm_storage_container of that account:\n  container_access_type = \"private\"\n"
            ),
        )],
        Some(Cloud::Gcp) => vec![(
            Form::Terraform,
            format!(
                "# In the google_storage_bucket for {q}:\nresource \"google_storage_bucket\" \"{id}\" {{\n  name                     = {q}\n  public_access_prevention = \"enforced\"\n  # … the bucket's other arguments, unchanged …\n}}\n# and remove every google_storage_bucket_iam_member/binding granting allUsers or allAuthenticatedUsers.\n"
            ),
        )],
        _ => vec![
            (
                Form::Terraform,
                format!(
                    "resource \"aws_s3_bucket_public_access_block\" \"{id}\" {{\n  bucket = {q}\n\n  block_public_acls       = true\n  block_public_policy     = true\n  ignore_public_acls      = true\n  restrict_public_buckets = true\n}}\n"
                ),
            ),
            (
                Form::CloudFormation,
                format!(
                    "{{\n  \"Type\": \"AWS::S3::Bucket\",\n  \"Properties\": {{\n    \"BucketName\": {},\n    \"PublicAccessBlockConfiguration\": {{\n      \"BlockPublicAcls\": true,\n      \"BlockPublicPolicy\": true,\n      \"IgnorePublicAcls\": true,\n      \"RestrictPublicBuckets\": true\n    }}\n  }}\n}}\n",
                    super::yaml_string(&name)
                ),
            ),
        ],
    }
}

fn public_cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let name = cx.name();
    match cx.cloud {
        Some(Cloud::Azure) => {
            let (rg, rg_note) = super::resource_group(cx);
            vec![(
                Tool::Az,
                format!(
                    "{rg_note}{}\n# CONTAINER: each container that allows public access\n{}\n",
                    command(&[
                        "az",
                        "storage",
                        "account",
                        "update",
                        "--name",
                        &name,
                        "--resource-group",
                        &rg,
                        "--allow-blob-public-access",
                        "false"
                    ]),
                    command(&[
                        "az",
                        "storage",
                        "container",
                        "set-permission",
                        "--account-name",
                        &name,
                        "--name",
                        &crate::remediate::shell::var("CONTAINER"),
                        "--public-access",
                        "off",
                        "--auth-mode",
                        "login"
                    ])
                ),
            )]
        }
        Some(Cloud::Gcp) => vec![(
            Tool::Gcloud,
            format!(
                "{}\n{}\n{}\n",
                command(&[
                    "gcloud",
                    "storage",
                    "buckets",
                    "update",
                    &format!("gs://{name}"),
                    "--public-access-prevention"
                ]),
                command(&[
                    "gcloud",
                    "storage",
                    "buckets",
                    "remove-iam-policy-binding",
                    &format!("gs://{name}"),
                    "--member=allUsers",
                    "--role=roles/storage.objectViewer"
                ]),
                command(&[
                    "gcloud",
                    "storage",
                    "buckets",
                    "remove-iam-policy-binding",
                    &format!("gs://{name}"),
                    "--member=allAuthenticatedUsers",
                    "--role=roles/storage.objectViewer"
                ]),
            ),
        )],
        _ => vec![(
            Tool::Aws,
            format!(
                "{}\n{}\n",
                command(&[
                    "aws",
                    "s3api",
                    "put-public-access-block",
                    "--bucket",
                    &name,
                    "--public-access-block-configuration",
                    "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
                ]),
                command(&[
                    "aws",
                    "s3api",
                    "put-bucket-acl",
                    "--bucket",
                    &name,
                    "--acl",
                    "private"
                ]),
            ),
        )],
    }
}

pub(crate) static UNENCRYPTED: Generator = Generator {
    info: GeneratorInfo {
        id: "unencrypted-storage",
        finding: "storage not encrypted at rest: S3 bucket, EBS volume, RDS instance, Azure managed disk",
        fix: "turn on encryption at rest (S3 default SSE with KMS, EBS encrypted, RDS storage_encrypted — which replaces the instance —, Azure disk encryption set)",
        forms: &[
            "Terraform diff",
            "CloudFormation (JSON) diff",
            "Terraform and CloudFormation snippets",
            "CLI (aws, az)",
        ],
    },
    matches: unencrypted_matches,
    langs: &[Lang::Hcl, Lang::Json],
    account_types: &[],
    edit: unencrypted_edit,
    snippets: unencrypted_snippets,
    cli: unencrypted_cli,
};

fn unencrypted_matches(cx: &Ctx<'_>) -> bool {
    cx.has(&[
        "unencrypted",
        "not encrypted",
        "encryption is disabled",
        "encryption disabled",
        "without encryption",
        "encryption at rest",
        "not configured with encryption",
        "encryption not enabled",
        "is not enabled for encryption",
    ]) && !cx.has(&["in transit", "tls", "ssl", "https"])
}

fn unencrypted_step(cx: &Ctx<'_>, text: &str) -> Option<String> {
    let tf = Tf::new(text);
    for b in tf.own(cx, "aws_ebs_volume") {
        if tf.value(b, "encrypted") != Some("true") {
            return Some(tf.set(b, "encrypted", "true"));
        }
    }
    for kind in ["aws_db_instance", "aws_rds_cluster"] {
        for b in tf.own(cx, kind) {
            if tf.value(b, "storage_encrypted") != Some("true") {
                return Some(tf.set(b, "storage_encrypted", "true"));
            }
        }
    }
    for b in tf.own(cx, "aws_s3_bucket") {
        let has_sse = tf
            .resources("aws_s3_bucket_server_side_encryption_configuration")
            .any(|s| tf.refers_to(cx, s, b))
            || !tf
                .children(b, "server_side_encryption_configuration")
                .is_empty();
        if !has_sse {
            let label = b.label().unwrap_or("this");
            let snippet = format!(
                "resource \"aws_s3_bucket_server_side_encryption_configuration\" \"{label}\" {{\n  bucket = aws_s3_bucket.{label}.id\n\n  rule {{\n    apply_server_side_encryption_by_default {{\n      sse_algorithm = \"aws:kms\"\n    }}\n    bucket_key_enabled = true\n  }}\n}}"
            );
            return Some(tf.insert_after(b, &snippet));
        }
    }
    for b in tf.own(cx, "azurerm_managed_disk") {
        if tf.value(b, "disk_encryption_set_id").is_none() {
            let with_attr = tf.set(b, "disk_encryption_set_id", "var.disk_encryption_set_id");
            let tf2 = Tf::new(&with_attr);
            if tf2.has_variable("disk_encryption_set_id") {
                return Some(with_attr);
            }
            return Some(tf2.append(&variable(
                "disk_encryption_set_id",
                "string",
                "ID of the disk encryption set (customer-managed key) for managed disks",
            )));
        }
    }
    None
}

fn unencrypted_cfn_step(cx: &Ctx<'_>, text: &str) -> Option<String> {
    for r in cfn::own(cx, text, "AWS::S3::Bucket", "BucketName") {
        if r.body.pointer("/Properties/BucketEncryption").is_none() {
            return cfn::add_property(
                text,
                &r,
                "BucketEncryption",
                &serde_json::json!({
                    "ServerSideEncryptionConfiguration": [
                        { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms" }, "BucketKeyEnabled": true }
                    ]
                }),
            );
        }
    }
    for (rtype, name_key, key) in [
        (
            "AWS::RDS::DBInstance",
            "DBInstanceIdentifier",
            "StorageEncrypted",
        ),
        (
            "AWS::RDS::DBCluster",
            "DBClusterIdentifier",
            "StorageEncrypted",
        ),
        ("AWS::EC2::Volume", "VolumeName", "Encrypted"),
    ] {
        for r in cfn::own(cx, text, rtype, name_key) {
            match r.body.pointer(&format!("/Properties/{key}")) {
                Some(serde_json::Value::Bool(true)) => {}
                Some(serde_json::Value::Bool(false)) => {
                    return cfn::set_scalar(text, &r, key, "false", "true");
                }
                Some(_) => {}
                None => return cfn::add_property(text, &r, key, &serde_json::Value::Bool(true)),
            }
        }
    }
    None
}

fn unencrypted_edit(cx: &Ctx<'_>, file: &SourceFile) -> Option<(Form, String)> {
    match file.lang {
        Lang::Hcl => {
            fixpoint(&file.text, |t| unencrypted_step(cx, t)).map(|t| (Form::Terraform, t))
        }
        Lang::Json => {
            fixpoint(&file.text, |t| unencrypted_cfn_step(cx, t)).map(|t| (Form::CloudFormation, t))
        }
        _ => None,
    }
}

fn unencrypted_snippets(cx: &Ctx<'_>) -> Vec<(Form, String)> {
    let name = cx.name();
    let id = tf_ident(&name);
    let q = hcl_string(&name);
    match (cx.cloud.as_ref(), cx.kind) {
        (Some(Cloud::Azure), _) => vec![(
            Form::Terraform,
            format!(
                "# In the azurerm_managed_disk for {q}:\n#   disk_encryption_set_id = var.disk_encryption_set_id\n{}\n",
                variable(
                    "disk_encryption_set_id",
                    "string",
                    "ID of the disk encryption set (customer-managed key) for managed disks"
                )
            ),
        )],
        (_, Kind::Database) => vec![
            (
                Form::Terraform,
                format!(
                    "# In the aws_db_instance for {q} (Terraform replaces the instance: restore from an encrypted snapshot first):\n#   storage_encrypted = true\n"
                ),
            ),
            (
                Form::CloudFormation,
                format!(
                    "{{\n  \"Type\": \"AWS::RDS::DBInstance\",\n  \"Properties\": {{\n    \"DBInstanceIdentifier\": {},\n    \"StorageEncrypted\": true\n  }}\n}}\n",
                    super::yaml_string(&name)
                ),
            ),
        ],
        (_, Kind::Disk) => vec![(
            Form::Terraform,
            format!(
                "# In the aws_ebs_volume for {q} (a new encrypted volume replaces it):\n#   encrypted = true\n"
            ),
        )],
        _ => vec![
            (
                Form::Terraform,
                format!(
                    "resource \"aws_s3_bucket_server_side_encryption_configuration\" \"{id}\" {{\n  bucket = {q}\n\n  rule {{\n    apply_server_side_encryption_by_default {{\n      sse_algorithm = \"aws:kms\"\n    }}\n    bucket_key_enabled = true\n  }}\n}}\n"
                ),
            ),
            (
                Form::CloudFormation,
                format!(
                    "{{\n  \"Type\": \"AWS::S3::Bucket\",\n  \"Properties\": {{\n    \"BucketName\": {},\n    \"BucketEncryption\": {{\n      \"ServerSideEncryptionConfiguration\": [\n        {{ \"ServerSideEncryptionByDefault\": {{ \"SSEAlgorithm\": \"aws:kms\" }}, \"BucketKeyEnabled\": true }}\n      ]\n    }}\n  }}\n}}\n",
                    super::yaml_string(&name)
                ),
            ),
        ],
    }
}

fn unencrypted_cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let name = cx.name();
    match (cx.cloud.as_ref(), cx.kind) {
        (Some(Cloud::Azure), _) => {
            let (rg, rg_note) = super::resource_group(cx);
            vec![(
                Tool::Az,
                format!(
                    "{rg_note}# DISK_ENCRYPTION_SET_ID: the id of your disk encryption set\n{}\n",
                    command(&[
                        "az",
                        "disk",
                        "update",
                        "--name",
                        &name,
                        "--resource-group",
                        &rg,
                        "--encryption-type",
                        "EncryptionAtRestWithCustomerKey"
                    ]) + " --disk-encryption-set \"$DISK_ENCRYPTION_SET_ID\""
                ),
            )]
        }
        (Some(Cloud::Gcp), _) => Vec::new(),
        (_, Kind::Database) => {
            let snap = format!("{name}-pre-encryption");
            let enc = format!("{name}-encrypted");
            vec![(
                Tool::Aws,
                format!(
                    "# RDS cannot encrypt an instance in place: snapshot, copy encrypted, restore, cut over.\n{}\n{}\n{}\n{}\n",
                    command(&[
                        "aws",
                        "rds",
                        "create-db-snapshot",
                        "--db-instance-identifier",
                        &name,
                        "--db-snapshot-identifier",
                        &snap
                    ]),
                    command(&[
                        "aws",
                        "rds",
                        "wait",
                        "db-snapshot-available",
                        "--db-snapshot-identifier",
                        &snap
                    ]),
                    command(&[
                        "aws",
                        "rds",
                        "copy-db-snapshot",
                        "--source-db-snapshot-identifier",
                        &snap,
                        "--target-db-snapshot-identifier",
                        &enc,
                        "--kms-key-id",
                        "alias/aws/rds"
                    ]),
                    command(&[
                        "aws",
                        "rds",
                        "restore-db-instance-from-db-snapshot",
                        "--db-instance-identifier",
                        &enc,
                        "--db-snapshot-identifier",
                        &enc
                    ]),
                ),
            )]
        }
        (_, Kind::Disk) => vec![(
            Tool::Aws,
            format!(
                "# New volumes in this region are encrypted from now on; replace the existing volume from an encrypted snapshot copy.\n{}\n",
                command(&["aws", "ec2", "enable-ebs-encryption-by-default"])
            ),
        )],
        _ => vec![(
            Tool::Aws,
            format!(
                "{}\n",
                command(&[
                    "aws",
                    "s3api",
                    "put-bucket-encryption",
                    "--bucket",
                    &name,
                    "--server-side-encryption-configuration",
                    r#"{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"},"BucketKeyEnabled":true}]}"#,
                ])
            ),
        )],
    }
}
