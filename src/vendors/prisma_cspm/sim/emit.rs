//! Prisma Cloud CSPM: findings as `AlertModel` objects (`POST /v2/alert?detailed=true`).
//!
//! Quirks kept from the real API: epoch-millisecond timestamps, lower-case `cloudType` (upper
//! case on some alerts, as the spec's enum has it), the region both as a display name and as
//! `regionId`, `resource.id` holding the cloud's short id (`i-…`, `sg-…`, a bucket or role
//! name) with the ARN only inside `resource.data` where the cloud's API returns one, GCP
//! `selfLink`s, an `rrn`, and a `nextPageToken` even on the last page.

use serde_json::{Value, json};

use crate::domain::Cloud;
use crate::rng::Rng;
use crate::sim::world::{
    ResourceKind, RuleCategory, SevWord, SimFinding, SimResource, SimStatus, World,
};

/// Alert numbers start here so ids look like a tenant's (`P-100042`).
const ALERT_BASE: u64 = 100_000;

pub fn items(world: &World, findings: &[&SimFinding]) -> Vec<Value> {
    findings.iter().map(|f| alert(world, f)).collect()
}

pub fn list_body(items: Vec<Value>) -> Value {
    let total = items.len();
    // The real API sends a token on every page, the last included; a client stops when it
    // has `totalRows` items or gets an empty page.
    json!({ "totalRows": total, "items": items, "nextPageToken": format!("sim-page-after-{total}") })
}

pub fn native_id(_world: &World, f: &SimFinding) -> String {
    format!("P-{}", ALERT_BASE + f.seq)
}

fn policy_type(c: RuleCategory) -> &'static str {
    match c {
        RuleCategory::Misconfiguration => "config",
        RuleCategory::Network => "network",
        RuleCategory::Identity => "iam",
        RuleCategory::Data => "data",
        RuleCategory::Vulnerability => "workload_vulnerability",
        RuleCategory::Runtime => "audit_event",
    }
}

fn severity_word(s: SevWord) -> &'static str {
    match s {
        SevWord::Critical => "critical",
        SevWord::High => "high",
        SevWord::Medium => "medium",
        SevWord::Low => "low",
        SevWord::Info => "informational",
    }
}

fn cloud_type(c: &Cloud, upper: bool) -> String {
    let s = match c {
        Cloud::Aws => "aws".to_string(),
        Cloud::Azure => "azure".to_string(),
        Cloud::Gcp => "gcp".to_string(),
        Cloud::Oci => "oci".to_string(),
        Cloud::Alibaba => "alibaba_cloud".to_string(),
        Cloud::Kubernetes => "kubernetes".to_string(),
        Cloud::Other(o) => o.clone(),
    };
    if upper { s.to_ascii_uppercase() } else { s }
}

fn region_name(region: &str) -> String {
    let known = match region {
        "us-east-1" => "AWS Virginia",
        "us-west-2" => "AWS Oregon",
        "eu-west-1" => "AWS Ireland",
        "ap-southeast-2" => "AWS Sydney",
        "eastus" => "Azure East US",
        "westeurope" => "Azure West Europe",
        "uksouth" => "Azure UK South",
        "us-central1" => "GCP Iowa",
        "europe-west1" => "GCP Belgium",
        "asia-northeast1" => "GCP Tokyo",
        _ => "",
    };
    if known.is_empty() {
        region.to_string()
    } else {
        known.to_string()
    }
}

/// `(resourceApiName, resourceType, cloudServiceName)` for a resource.
fn api_names(r: &SimResource) -> (&'static str, &'static str, &'static str) {
    use ResourceKind as K;
    match (&r.cloud, r.kind) {
        (Cloud::Aws, K::Instance | K::Workload) => {
            ("aws-ec2-describe-instances", "INSTANCE", "Amazon EC2")
        }
        (Cloud::Aws, K::SecurityGroup) => (
            "aws-ec2-describe-security-groups",
            "SECURITY_GROUP",
            "Amazon EC2",
        ),
        (Cloud::Aws, K::Bucket) => ("aws-s3api-get-bucket-acl", "S3_BUCKET", "Amazon S3"),
        (Cloud::Aws, K::Role) => (
            "aws-iam-list-roles",
            "IAM_ROLE",
            "AWS Identity and Access Management",
        ),
        (Cloud::Aws, K::Database) => ("aws-rds-describe-db-instances", "MANAGED_DB", "Amazon RDS"),
        (Cloud::Aws, K::LoadBalancer) => (
            "aws-elbv2-describe-load-balancers",
            "LOAD_BALANCER",
            "Elastic Load Balancing",
        ),
        (Cloud::Aws, K::Function) => ("aws-lambda-list-functions", "LAMBDA_FUNCTION", "AWS Lambda"),
        (Cloud::Azure, K::Bucket) => (
            "azure-storage-account-list",
            "STORAGE_ACCOUNT",
            "Azure Storage",
        ),
        (Cloud::Azure, K::SecurityGroup) => (
            "azure-network-nsg-list",
            "NSG",
            "Azure Network Security Group",
        ),
        (Cloud::Azure, K::Database) => {
            ("azure-sql-server-list", "SQL_SERVER", "Azure SQL Database")
        }
        (Cloud::Azure, K::LoadBalancer) => (
            "azure-network-lb-list",
            "LOAD_BALANCER",
            "Azure Load Balancer",
        ),
        (Cloud::Azure, K::Role) => (
            "azure-msi-user-assigned-identity-list",
            "MANAGED_IDENTITY",
            "Azure Managed Identity",
        ),
        (Cloud::Azure, K::Function) => ("azure-app-service", "APP_SERVICE", "Azure App Service"),
        (Cloud::Azure, _) => ("azure-vm-list", "VM", "Azure Virtual Machines"),
        (Cloud::Gcp, K::Bucket) => (
            "gcloud-storage-buckets-list",
            "BUCKET",
            "Google Cloud Storage",
        ),
        (Cloud::Gcp, K::SecurityGroup) => (
            "gcloud-compute-firewall-rules-list",
            "FIREWALL_RULE",
            "Google VPC",
        ),
        (Cloud::Gcp, K::Role) => (
            "gcloud-iam-service-accounts-list",
            "SERVICE_ACCOUNT",
            "Google Cloud IAM",
        ),
        (Cloud::Gcp, K::Database) => (
            "gcloud-sql-instances-list",
            "SQL_INSTANCE",
            "Google Cloud SQL",
        ),
        (Cloud::Gcp, _) => (
            "gcloud-compute-instances-list",
            "INSTANCE",
            "Google Compute Engine",
        ),
        _ => ("k8s-workloads-list", "WORKLOAD", "Kubernetes"),
    }
}

/// What Prisma puts in `resource.id`: the cloud's short id on AWS, the ARM id on Azure, the
/// numeric id (names for buckets) on GCP.
fn short_id(r: &SimResource, rng: &mut Rng) -> String {
    match (&r.cloud, r.kind) {
        (Cloud::Aws, _) => r.native_id.clone(),
        (Cloud::Azure, _) => r.id.clone(),
        (Cloud::Gcp, ResourceKind::Bucket) => r.name.clone(),
        (Cloud::Gcp, _) => format!(
            "{}",
            1_000_000_000_000_000_000u64 + rng.below(8_000_000_000_000_000_000)
        ),
        _ => r.id.clone(),
    }
}

/// The raw cloud API object, as much of it as a reader of the alert uses.
fn data(r: &SimResource, rng: &mut Rng) -> Value {
    use ResourceKind as K;
    let aws_tags: Vec<Value> = r
        .tags
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect();
    match (&r.cloud, r.kind) {
        (Cloud::Aws, K::Instance | K::Workload) => {
            let mut d = json!({
                "instanceId": r.native_id, "instanceType": "m5.large",
                "state": { "code": 16, "name": "running" },
                "placement": { "availabilityZone": format!("{}a", r.region), "tenancy": "default" },
                "privateDnsName": r.hostname, "tags": aws_tags,
            });
            if r.internet_facing {
                d["publicIpAddress"] = json!(format!("203.0.113.{}", 1 + rng.below(250)));
            }
            d
        }
        (Cloud::Aws, K::SecurityGroup) => {
            let perms: Vec<Value> = if r.internet_facing {
                r.open_ports
                    .iter()
                    .map(|p| json!({ "ipProtocol": "tcp", "fromPort": p, "toPort": p, "ipv4Ranges": [{ "cidrIp": "0.0.0.0/0" }] }))
                    .collect()
            } else {
                Vec::new()
            };
            json!({ "groupId": r.native_id, "groupName": r.name, "vpcId": format!("vpc-0{}", rng.hex(16)), "ipPermissions": perms, "tags": aws_tags })
        }
        (Cloud::Aws, K::Bucket) => {
            json!({ "bucketName": r.name, "tags": aws_tags, "acl": { "grants": [] } })
        }
        (Cloud::Aws, K::Role) => json!({
            "arn": r.id, "roleName": r.native_id, "roleId": format!("AROA{}", rng.hex(16).to_ascii_uppercase()),
            "path": "/", "tags": aws_tags,
        }),
        (Cloud::Aws, K::Database) => json!({
            "dbinstanceIdentifier": r.native_id, "dbinstanceArn": r.id, "engine": "postgres",
            "storageEncrypted": false, "publiclyAccessible": r.internet_facing, "tagList": aws_tags,
        }),
        (Cloud::Aws, K::LoadBalancer) => json!({
            "loadBalancerArn": r.id, "loadBalancerName": r.native_id, "type": "application",
            "scheme": if r.internet_facing { "internet-facing" } else { "internal" },
        }),
        (Cloud::Aws, K::Function) => {
            json!({ "functionName": r.native_id, "functionArn": r.id, "runtime": "python3.12" })
        }
        (Cloud::Azure, _) => {
            json!({ "id": r.id, "name": r.native_id, "location": r.region, "tags": r.tags })
        }
        (Cloud::Gcp, _) => {
            let mut d = json!({ "name": r.name, "labels": r.tags });
            if let Some(path) = r.id.strip_prefix("//compute.googleapis.com/") {
                d["selfLink"] = json!(format!("https://www.googleapis.com/compute/v1/{path}"));
            } else if let Some(path) = r.id.strip_prefix("//cloudsql.googleapis.com/") {
                d["selfLink"] = json!(format!(
                    "https://sqladmin.googleapis.com/sql/v1beta4/{path}"
                ));
            } else if r.id.starts_with("//storage.googleapis.com/") {
                d["selfLink"] = json!(format!(
                    "https://www.googleapis.com/storage/v1/b/{}",
                    r.name
                ));
            } else if let Some(name) = r.id.strip_prefix("//iam.googleapis.com/") {
                d["name"] = json!(name);
            }
            d
        }
        _ => json!({ "metadata": { "name": r.native_id, "labels": r.tags } }),
    }
}

fn resource(world: &World, f: &SimFinding, rng: &mut Rng) -> Value {
    let r = world.resource_of(f);
    let (api, rtype, service) = api_names(r);
    let id = short_id(r, rng);
    let mut res = json!({
        "id": id,
        "name": r.name,
        "account": r.account_name,
        "accountId": r.account,
        "cloudAccountGroups": ["Default Account Group"],
        "region": region_name(&r.region),
        "regionId": r.region,
        "resourceType": rtype,
        "resourceApiName": api,
        "cloudServiceName": service,
        "cloudType": cloud_type(&r.cloud, f.seq % 7 == 3),
        "resourceTags": r.tags,
        "data": data(r, rng),
        "additionalInfo": null,
        "resourceTs": f.updated_ms,
        "unifiedAssetId": rng.hex(32),
        "resourceConfigJsonAvailable": true,
        "resourceDetailsAvailable": true,
    });
    if r.cloud != Cloud::Kubernetes {
        let short_type = rtype.to_ascii_lowercase();
        res["rrn"] = json!(format!(
            "rrn:{}:{short_type}:{}:{}:{}:{}",
            cloud_type(&r.cloud, false),
            r.region,
            r.account,
            rng.hex(40),
            r.native_id
        ));
    }
    if r.cloud == Cloud::Aws && matches!(r.kind, ResourceKind::Instance | ResourceKind::Workload) {
        res["url"] = json!(format!(
            "https://console.aws.amazon.com/ec2/v2/home?region={0}#Instances:instanceId={1}",
            r.region, r.native_id
        ));
    }
    res
}

/// Prose lines go to `recommendation`, shell lines to the CLI template.
fn split_remediation(text: &str) -> (String, Option<String>) {
    let is_cli = |l: &str| {
        ["aws ", "az ", "gcloud ", "kubectl "]
            .iter()
            .any(|p| l.trim_start().starts_with(p))
    };
    let prose: Vec<&str> = text.lines().filter(|l| !is_cli(l)).collect();
    let cli: Vec<&str> = text.lines().filter(|l| is_cli(l)).collect();
    let prose = if prose.is_empty() {
        "Run the remediation CLI below.".to_string()
    } else {
        prose.join("\n")
    };
    (prose, (!cli.is_empty()).then(|| cli.join(" && ")))
}

fn policy(f: &SimFinding, rng: &mut Rng) -> Value {
    let rule = f.rule;
    let (recommendation, cli) = split_remediation(rule.remediation);
    let compliance: Vec<Value> = rule
        .compliance
        .iter()
        .enumerate()
        .map(|(i, (standard, section))| {
            let requirement = section.split('.').next().unwrap_or(section);
            json!({
                "standardName": standard,
                "standardDescription": format!("{standard} benchmark"),
                "requirementId": requirement,
                "requirementName": format!("Requirement {requirement}"),
                "sectionId": section,
                "sectionDescription": rule.name,
                "sectionLabel": requirement,
                "sectionViewOrder": 10 + i,
                "requirementViewOrder": i + 1,
                "policyId": rule.id,
                "complianceId": rng.uuid(),
                "systemDefault": true,
                "customAssigned": false,
            })
        })
        .collect();
    let mut p = json!({
        "policyId": rule.id,
        "name": rule.name,
        "policyType": policy_type(rule.category),
        "policyUpi": format!("PC-SIM-{}", rule.id.rsplit('-').next().unwrap_or(rule.id).to_ascii_uppercase()),
        "systemDefault": true,
        "severity": severity_word(f.severity),
        "description": rule.description,
        "recommendation": recommendation,
        "complianceMetadata": compliance,
        "labels": ["Prisma_Cloud"],
        "findingTypes": [],
        "lastModifiedOn": 1_687_474_999_057i64,
        "lastModifiedBy": "template@redlock.io",
        "deleted": false,
        "remediable": cli.is_some(),
    });
    if let Some(cli) = cli {
        p["remediation"] = json!({
            "cliScriptTemplate": cli,
            "description": "Runs the CLI command(s) that fix the finding.",
            "actions": [{ "operation": "cli", "payload": "{}" }],
        });
    }
    if matches!(rule.category, RuleCategory::Network)
        && !rule.ports.is_empty()
        && let Some(labels) = p["labels"].as_array_mut()
    {
        labels.push(json!("Attack Path Rule"));
    }
    p
}

fn alert(world: &World, f: &SimFinding) -> Value {
    let mut rng =
        Rng::new(world.seed ^ 0x5052_4953_4d41 ^ f.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let id = native_id(world, f);
    let (status, reason) = match f.status {
        SimStatus::Open => ("open", "NEW_ALERT"),
        SimStatus::InProgress => ("pending_resolution", "RESOURCE_UPDATED"),
        SimStatus::Resolved => ("resolved", "RESOURCE_UPDATED"),
        SimStatus::Dismissed => ("dismissed", "USER_DISMISSED"),
    };
    let mut history = vec![json!({
        "modifiedBy": "Prisma Cloud", "modifiedOn": f.created_ms, "reason": "NEW_ALERT", "status": "OPEN",
    })];
    if f.status != SimStatus::Open {
        let by = if f.status == SimStatus::Dismissed {
            "analyst@example.com"
        } else {
            "Prisma Cloud"
        };
        history.push(json!({
            "modifiedBy": by, "modifiedOn": f.updated_ms, "reason": reason, "status": status.to_ascii_uppercase(),
        }));
    }
    let policy = policy(f, &mut rng);
    let resource = resource(world, f, &mut rng);
    let mut a = json!({
        "id": id,
        "status": status,
        "reason": reason,
        "firstSeen": f.created_ms,
        "lastSeen": f.updated_ms,
        "alertTime": f.created_ms,
        "lastUpdated": f.updated_ms,
        "policyId": f.rule.id,
        "metadata": { "saveSearchId": rng.uuid() },
        "alertAdditionalInfo": { "scannerVersion": "CS_2.0" },
        "history": history,
        "policy": policy,
        "alertRules": [],
        "resource": resource,
        "investigateOptions": { "alertId": id, "hasSearchExecutionSupport": true, "searchId": rng.uuid() },
    });
    if f.status == SimStatus::Dismissed {
        a["dismissalNote"] = json!("Accepted risk: compensating control in place");
        a["dismissedBy"] = json!("analyst@example.com");
    }
    a
}
