//! The ground truth behind every simulated tenant: a pool of cloud resources shared by all
//! vendors (so the same EC2 instance is flagged by Prisma and by Wiz), and for each vendor a
//! list of findings on those resources. Vendor emitters (`vendors/<v>/sim/emit.rs`) turn
//! findings into each vendor's own payload shape; the mappers (`vendors/<v>/map.rs`) must turn
//! them back.

use std::collections::BTreeMap;

use crate::domain::{Category, Cloud, EpochMs, Severity, Vendor};

use crate::rng::Rng;

const DAY_MS: i64 = 86_400_000;

/// The kind of cloud object a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Instance,
    Bucket,
    SecurityGroup,
    Role,
    Database,
    Workload,
    LoadBalancer,
    Function,
}

impl ResourceKind {
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::Instance => "instance",
            ResourceKind::Bucket => "bucket",
            ResourceKind::SecurityGroup => "security-group",
            ResourceKind::Role => "role",
            ResourceKind::Database => "database",
            ResourceKind::Workload => "workload",
            ResourceKind::LoadBalancer => "load-balancer",
            ResourceKind::Function => "function",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimResource {
    pub cloud: Cloud,
    pub kind: ResourceKind,
    /// Account id / subscription id / project id / cluster name.
    pub account: String,
    pub account_name: String,
    /// API region id (`us-east-1`, `eastus`, `europe-west1`).
    pub region: String,
    /// The cloud's own id: an ARN, an Azure resource id, a GCP resource name, a k8s path.
    pub id: String,
    /// The short native id (`i-0abc…`, `sg-…`, bucket name).
    pub native_id: String,
    pub name: String,
    /// The vendor-style type word (`AWS::EC2::Instance`-like families differ per vendor;
    /// emitters translate from `kind`).
    pub tags: BTreeMap<String, String>,
    pub internet_facing: bool,
    pub open_ports: Vec<u16>,
    /// Host name for instances and workloads (Compute, Cortex XDR see hosts).
    pub hostname: String,
    /// Container image for workloads and instances that run one.
    pub image: Option<String>,
}

/// A detection rule / policy the simulated vendors raise.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub category: RuleCategory,
    pub severity: SevWord,
    pub applies_to: &'static [ResourceKind],
    pub description: &'static str,
    pub remediation: &'static str,
    /// Ports the rule is about (exposure findings).
    pub ports: &'static [u16],
    pub compliance: &'static [(&'static str, &'static str)],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleCategory {
    Misconfiguration,
    Vulnerability,
    Runtime,
    Identity,
    Data,
    Network,
}

impl RuleCategory {
    pub fn category(self) -> Category {
        match self {
            RuleCategory::Misconfiguration => Category::Misconfiguration,
            RuleCategory::Vulnerability => Category::Vulnerability,
            RuleCategory::Runtime => Category::Runtime,
            RuleCategory::Identity => Category::Identity,
            RuleCategory::Data => Category::Data,
            RuleCategory::Network => Category::Network,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SevWord {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl SevWord {
    pub fn severity(self) -> Severity {
        match self {
            SevWord::Critical => Severity::Critical,
            SevWord::High => Severity::High,
            SevWord::Medium => Severity::Medium,
            SevWord::Low => Severity::Low,
            SevWord::Info => Severity::Info,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SimCve {
    pub id: &'static str,
    pub cvss: f64,
    pub vector: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    pub fixed: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimStatus {
    Open,
    InProgress,
    Resolved,
    Dismissed,
}

#[derive(Debug, Clone)]
pub struct SimFinding {
    pub vendor: Vendor,
    /// Unique per vendor, stable for a seed: emitters derive native ids from it.
    pub seq: u64,
    /// Index into [`World::resources`].
    pub resource: usize,
    pub rule: &'static Rule,
    pub severity: SevWord,
    pub cve: Option<&'static SimCve>,
    pub created_ms: EpochMs,
    pub updated_ms: EpochMs,
    pub status: SimStatus,
}

#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    pub now_ms: EpochMs,
    pub resources: Vec<SimResource>,
    pub findings: Vec<SimFinding>,
    /// Findings the vendor no longer lists ([`World::retire`]): a fixed vulnerability or a
    /// deleted workload drops out of Prisma Cloud Compute's scan results.
    pub retired: Vec<SimFinding>,
}

impl World {
    /// A world with `per_vendor` findings for each of the six vendors, on a resource pool
    /// small enough that many resources are flagged by more than one vendor.
    pub fn generate(seed: u64, per_vendor: usize, now_ms: EpochMs) -> World {
        let mut rng = Rng::new(seed);
        let n_resources = (per_vendor / 2).max(8);
        let resources: Vec<SimResource> = (0..n_resources).map(|i| resource(&mut rng, i)).collect();
        let mut findings = Vec::with_capacity(per_vendor * 6);
        for vendor in Vendor::ALL {
            for seq in 0..per_vendor as u64 {
                findings.push(finding(&mut rng, vendor, seq, &resources, now_ms));
            }
        }
        World {
            seed,
            now_ms,
            resources,
            findings,
            retired: Vec::new(),
        }
    }

    pub fn findings_for(&self, vendor: Vendor) -> impl Iterator<Item = &SimFinding> {
        self.findings.iter().filter(move |f| f.vendor == vendor)
    }

    pub fn resource_of(&self, f: &SimFinding) -> &SimResource {
        &self.resources[f.resource]
    }

    /// Take up to `n` random findings of `vendor` that `which` accepts out of the world (into
    /// [`World::retired`]); how many were taken.
    pub fn retire(
        &mut self,
        rng: &mut Rng,
        vendor: Vendor,
        n: usize,
        which: impl Fn(&SimFinding) -> bool,
    ) -> usize {
        let mut idx: Vec<usize> = (0..self.findings.len())
            .filter(|&i| self.findings[i].vendor == vendor && which(&self.findings[i]))
            .collect();
        let mut chosen = Vec::new();
        while chosen.len() < n && !idx.is_empty() {
            chosen.push(idx.swap_remove(rng.below(idx.len() as u64) as usize));
        }
        // Highest index first, so each removal leaves the others' indices in place.
        chosen.sort_unstable_by(|a, b| b.cmp(a));
        for &i in &chosen {
            let f = self.findings.remove(i);
            self.retired.push(f);
        }
        chosen.len()
    }

    /// Put up to `n` retired findings back (the oldest retired first), as a vulnerability
    /// reintroduced by a rollback; how many.
    pub fn reinstate(&mut self, n: usize) -> usize {
        let n = n.min(self.retired.len());
        self.findings.extend(self.retired.drain(..n));
        n
    }

    /// The vendor closes up to `n` random findings of `vendor` still open there (open or in
    /// progress): every fourth one dismissed, the rest resolved, stamped `now_ms`. Returns
    /// their seqs, in the order closed.
    pub fn close(&mut self, rng: &mut Rng, vendor: Vendor, n: usize, now_ms: EpochMs) -> Vec<u64> {
        self.now_ms = now_ms;
        let mut idx: Vec<usize> = (0..self.findings.len())
            .filter(|&i| {
                let f = &self.findings[i];
                f.vendor == vendor && matches!(f.status, SimStatus::Open | SimStatus::InProgress)
            })
            .collect();
        let mut closed = Vec::new();
        while closed.len() < n && !idx.is_empty() {
            let i = idx.swap_remove(rng.below(idx.len() as u64) as usize);
            let f = &mut self.findings[i];
            f.status = if closed.len() % 4 == 3 {
                SimStatus::Dismissed
            } else {
                SimStatus::Resolved
            };
            f.updated_ms = now_ms;
            closed.push(f.seq);
        }
        closed
    }

    /// The vendor reopens the findings of `vendor` with these seqs (back to open, stamped
    /// `now_ms`); how many it found.
    pub fn reopen(&mut self, vendor: Vendor, seqs: &[u64], now_ms: EpochMs) -> usize {
        self.now_ms = now_ms;
        let mut n = 0;
        for f in self
            .findings
            .iter_mut()
            .filter(|f| f.vendor == vendor && seqs.contains(&f.seq))
        {
            f.status = SimStatus::Open;
            f.updated_ms = now_ms;
            n += 1;
        }
        n
    }

    /// Advance the world: change the state or timestamps of about `changed` findings of each
    /// vendor and add `added` new ones per vendor, all stamped `now_ms`. Used by the
    /// simulators so that an incremental sync has something to fetch.
    pub fn evolve(&mut self, rng: &mut Rng, changed: usize, added: usize, now_ms: EpochMs) {
        self.now_ms = now_ms;
        for vendor in Vendor::ALL {
            let idx: Vec<usize> = (0..self.findings.len())
                .filter(|&i| self.findings[i].vendor == vendor)
                .collect();
            if idx.is_empty() {
                continue;
            }
            for _ in 0..changed {
                let i = idx[rng.below(idx.len() as u64) as usize];
                let f = &mut self.findings[i];
                f.status = match f.status {
                    SimStatus::Open => SimStatus::InProgress,
                    SimStatus::InProgress => SimStatus::Resolved,
                    SimStatus::Resolved | SimStatus::Dismissed => SimStatus::Open,
                };
                f.updated_ms = now_ms;
            }
            // Retired findings keep their numbers: a reinstated one must not meet a twin.
            let next_seq = idx
                .iter()
                .map(|&i| self.findings[i].seq)
                .chain(
                    self.retired
                        .iter()
                        .filter(|f| f.vendor == vendor)
                        .map(|f| f.seq),
                )
                .max()
                .unwrap_or(0)
                + 1;
            for k in 0..added as u64 {
                let mut f = finding(rng, vendor, next_seq + k, &self.resources, now_ms);
                f.created_ms = now_ms;
                f.updated_ms = now_ms;
                f.status = SimStatus::Open;
                self.findings.push(f);
            }
        }
    }
}

const AWS_REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"];
const AZURE_REGIONS: &[&str] = &["eastus", "westeurope", "uksouth"];
const GCP_REGIONS: &[&str] = &["us-central1", "europe-west1", "asia-northeast1"];
const ENVS: &[&str] = &["prod", "prod", "staging", "dev", "test"];
const TEAMS: &[&str] = &["payments", "platform", "data", "identity", "web", "ml"];
const DATA_CLASSES: &[&str] = &["pii", "confidential", "internal", "public"];
const APPS: &[&str] = &[
    "checkout", "ledger", "auth", "search", "billing", "reports", "gateway", "ingest", "etl",
    "portal",
];

fn resource(rng: &mut Rng, i: usize) -> SimResource {
    let cloud = match rng.below(10) {
        0..=4 => Cloud::Aws,
        5..=6 => Cloud::Azure,
        7..=8 => Cloud::Gcp,
        _ => Cloud::Kubernetes,
    };
    let kind = *rng.pick(&[
        ResourceKind::Instance,
        ResourceKind::Instance,
        ResourceKind::Bucket,
        ResourceKind::SecurityGroup,
        ResourceKind::Role,
        ResourceKind::Database,
        ResourceKind::Workload,
        ResourceKind::LoadBalancer,
        ResourceKind::Function,
    ]);
    let kind = if cloud == Cloud::Kubernetes {
        ResourceKind::Workload
    } else {
        kind
    };
    let app = *rng.pick(APPS);
    let env = *rng.pick(ENVS);
    let team = *rng.pick(TEAMS);
    let mut tags = BTreeMap::new();
    tags.insert("env".to_string(), env.to_string());
    tags.insert("team".to_string(), team.to_string());
    tags.insert("app".to_string(), app.to_string());
    if rng.chance(0.4) {
        tags.insert("data".to_string(), rng.pick(DATA_CLASSES).to_string());
    }
    let name = format!("{app}-{env}-{}-{i}", kind.label());
    let internet_facing = matches!(
        kind,
        ResourceKind::Instance | ResourceKind::LoadBalancer | ResourceKind::SecurityGroup
    ) && rng.chance(0.35)
        || (kind == ResourceKind::Bucket && rng.chance(0.1));
    let open_ports = if internet_facing {
        match rng.below(4) {
            0 => vec![22],
            1 => vec![3389],
            2 => vec![443],
            _ => vec![22, 443],
        }
    } else {
        Vec::new()
    };
    let image = matches!(kind, ResourceKind::Workload | ResourceKind::Instance).then(|| {
        format!(
            "registry.example.com/{team}/{app}:{}.{}",
            rng.below(4) + 1,
            rng.below(20)
        )
    });
    let hostname = format!(
        "ip-10-{}-{}-{}.{app}.internal",
        rng.below(255),
        rng.below(255),
        i % 255
    );
    let (account, account_name, region, id, native_id) = match cloud {
        Cloud::Aws => {
            let account = format!("{:012}", 100_000_000_000u64 + rng.below(8) * 111_111_111);
            let region = rng.pick(AWS_REGIONS).to_string();
            let (svc, native, path) = match kind {
                ResourceKind::Instance => {
                    let n = format!("i-0{}", rng.hex(16));
                    ("ec2", n.clone(), format!("instance/{n}"))
                }
                ResourceKind::Bucket => ("s3", name.clone(), name.clone()),
                ResourceKind::SecurityGroup => {
                    let n = format!("sg-0{}", rng.hex(16));
                    ("ec2", n.clone(), format!("security-group/{n}"))
                }
                ResourceKind::Role => ("iam", name.clone(), format!("role/{name}")),
                ResourceKind::Database => ("rds", name.clone(), format!("db:{name}")),
                ResourceKind::Workload => {
                    let n = format!("i-0{}", rng.hex(16));
                    ("ec2", n.clone(), format!("instance/{n}"))
                }
                ResourceKind::LoadBalancer => {
                    let h = rng.hex(16);
                    (
                        "elasticloadbalancing",
                        name.clone(),
                        format!("loadbalancer/app/{name}/{h}"),
                    )
                }
                ResourceKind::Function => ("lambda", name.clone(), format!("function:{name}")),
            };
            let arn = match kind {
                ResourceKind::Bucket => format!("arn:aws:s3:::{path}"),
                ResourceKind::Role => format!("arn:aws:iam::{account}:{path}"),
                _ => format!("arn:aws:{svc}:{region}:{account}:{path}"),
            };
            (account, format!("aws-{team}-{env}"), region, arn, native)
        }
        Cloud::Azure => {
            let sub = rng.uuid();
            let region = rng.pick(AZURE_REGIONS).to_string();
            let rg = format!("rg-{app}-{env}");
            let provider = match kind {
                ResourceKind::Bucket => "Microsoft.Storage/storageAccounts",
                ResourceKind::SecurityGroup => "Microsoft.Network/networkSecurityGroups",
                ResourceKind::Database => "Microsoft.Sql/servers",
                ResourceKind::LoadBalancer => "Microsoft.Network/loadBalancers",
                ResourceKind::Role => "Microsoft.ManagedIdentity/userAssignedIdentities",
                ResourceKind::Function => "Microsoft.Web/sites",
                _ => "Microsoft.Compute/virtualMachines",
            };
            let short = name.replace('-', "");
            let id =
                format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{short}");
            (sub, format!("azure-{team}-{env}"), region, id, short)
        }
        Cloud::Gcp => {
            let project = format!("{team}-{env}-{}", 1000 + rng.below(9000));
            let region = rng.pick(GCP_REGIONS).to_string();
            let id = match kind {
                ResourceKind::Bucket => {
                    format!("//storage.googleapis.com/projects/_/buckets/{name}")
                }
                ResourceKind::SecurityGroup => {
                    format!("//compute.googleapis.com/projects/{project}/global/firewalls/{name}")
                }
                ResourceKind::Role => format!(
                    "//iam.googleapis.com/projects/{project}/serviceAccounts/{name}@{project}.iam.gserviceaccount.com"
                ),
                ResourceKind::Database => {
                    format!("//cloudsql.googleapis.com/projects/{project}/instances/{name}")
                }
                _ => format!(
                    "//compute.googleapis.com/projects/{project}/zones/{region}-a/instances/{name}"
                ),
            };
            (project.clone(), project, region, id, name.clone())
        }
        _ => {
            let cluster = format!("{env}-cluster-{}", 1 + rng.below(3));
            let ns = team.to_string();
            let id = format!("k8s/{cluster}/{ns}/deployment/{app}-{i}");
            (
                cluster.clone(),
                cluster,
                "us-east-1".to_string(),
                id,
                format!("{app}-{i}"),
            )
        }
    };
    SimResource {
        cloud,
        kind,
        account,
        account_name,
        region,
        id,
        native_id,
        name,
        tags,
        internet_facing,
        open_ports,
        hostname,
        image,
    }
}

fn finding(
    rng: &mut Rng,
    vendor: Vendor,
    seq: u64,
    resources: &[SimResource],
    now_ms: EpochMs,
) -> SimFinding {
    let rules = rules_for(vendor);
    // Pick a rule, then a resource it applies to (a reverse shell lands on a workload, not on
    // a bucket): a few random draws, then a scan, then any resource.
    let rule: &'static Rule = rules[rng.below(rules.len() as u64) as usize];
    let fits = |i: usize| rule.applies_to.contains(&resources[i].kind);
    let mut resource = rng.below(resources.len() as u64) as usize;
    let mut tries = 0;
    while !fits(resource) && tries < 16 {
        resource = rng.below(resources.len() as u64) as usize;
        tries += 1;
    }
    if !fits(resource) {
        let start = resource;
        resource = (0..resources.len())
            .map(|k| (start + k) % resources.len())
            .find(|&i| fits(i))
            .unwrap_or(start);
    }
    let cve = (rule.category == RuleCategory::Vulnerability).then(|| rng.pick(CVES));
    let severity = match cve {
        Some(c) if c.cvss >= 9.0 => SevWord::Critical,
        Some(c) if c.cvss >= 7.0 => SevWord::High,
        Some(c) if c.cvss >= 4.0 => SevWord::Medium,
        Some(_) => SevWord::Low,
        None => rule.severity,
    };
    let created_ms = now_ms - rng.range(DAY_MS / 24, 90 * DAY_MS);
    let updated_ms = (created_ms + rng.range(0, 10 * DAY_MS)).min(now_ms);
    let status = match rng.below(20) {
        0..=13 => SimStatus::Open,
        14..=16 => SimStatus::InProgress,
        17..=18 => SimStatus::Resolved,
        _ => SimStatus::Dismissed,
    };
    SimFinding {
        vendor,
        seq,
        resource,
        rule,
        severity,
        cve,
        created_ms,
        updated_ms,
        status,
    }
}

/// The rules each vendor raises: CSPM-style vendors raise posture findings, Compute raises
/// vulnerabilities and runtime events, Cortex XDR raises runtime detections.
pub fn rules_for(vendor: Vendor) -> &'static [&'static Rule] {
    RULES[vendor.index()]
}

/// One row per vendor, in [`Vendor::ALL`] order (a table, so no `match` on the vendor here).
const RULES: [&[&Rule]; Vendor::ALL.len()] = [
    // PrismaCspm
    &[
        &SSH_OPEN,
        &RDP_OPEN,
        &PUBLIC_BUCKET,
        &UNENCRYPTED_DB,
        &WILDCARD_IAM,
        &TRAIL_OFF,
        &NO_FLOW_LOGS,
    ],
    // PrismaCompute
    &[
        &VULN_PACKAGE,
        &VULN_PACKAGE,
        &PRIV_CONTAINER,
        &RT_PROCESS,
        &RT_CRYPTO,
    ],
    // Wiz
    &[
        &SSH_OPEN,
        &PUBLIC_BUCKET,
        &VULN_PACKAGE,
        &WILDCARD_IAM,
        &ADMIN_ROLE_ON_VM,
        &PRIV_CONTAINER,
        &SECRETS_IN_VM,
    ],
    // Lacework
    &[
        &SSH_OPEN,
        &VULN_PACKAGE,
        &RT_PROCESS,
        &ROOT_LOGIN,
        &UNENCRYPTED_DB,
        &NEW_VIOLATION,
    ],
    // Orca
    &[
        &PUBLIC_BUCKET,
        &VULN_PACKAGE,
        &UNENCRYPTED_DB,
        &RDP_OPEN,
        &SECRETS_IN_VM,
        &WILDCARD_IAM,
    ],
    // CortexXdr
    &[&RT_PROCESS, &RT_CRYPTO, &RT_METADATA, &RT_REVSHELL],
];

const ALL_KINDS: &[ResourceKind] = &[
    ResourceKind::Instance,
    ResourceKind::Bucket,
    ResourceKind::SecurityGroup,
    ResourceKind::Role,
    ResourceKind::Database,
    ResourceKind::Workload,
    ResourceKind::LoadBalancer,
    ResourceKind::Function,
];
const COMPUTE: &[ResourceKind] = &[
    ResourceKind::Instance,
    ResourceKind::Workload,
    ResourceKind::Function,
];

pub const SSH_OPEN: Rule = Rule {
    id: "a1b2c3d4-0001-4e21-9d3a-ssh-open",
    name: "Security group allows SSH (port 22) from the internet (0.0.0.0/0)",
    category: RuleCategory::Network,
    severity: SevWord::High,
    applies_to: &[
        ResourceKind::SecurityGroup,
        ResourceKind::Instance,
        ResourceKind::LoadBalancer,
    ],
    description: "An inbound rule allows TCP port 22 from 0.0.0.0/0. SSH exposed to the internet is brute-forced within minutes of creation.",
    remediation: "Restrict the inbound rule to known administrative CIDRs or use a bastion / SSM Session Manager.\naws ec2 revoke-security-group-ingress --group-id <sg-id> --protocol tcp --port 22 --cidr 0.0.0.0/0",
    ports: &[22],
    compliance: &[
        ("CIS AWS Foundations v1.5.0", "5.2"),
        ("PCI DSS v4.0", "1.3.1"),
    ],
};
pub const RDP_OPEN: Rule = Rule {
    id: "a1b2c3d4-0002-4e21-9d3a-rdp-open",
    name: "Network security rule allows RDP (port 3389) from any source",
    category: RuleCategory::Network,
    severity: SevWord::High,
    applies_to: &[ResourceKind::SecurityGroup, ResourceKind::Instance],
    description: "An inbound rule allows TCP port 3389 from 0.0.0.0/0.",
    remediation: "Remove the rule or restrict its source to a management network.",
    ports: &[3389],
    compliance: &[("CIS Microsoft Azure Foundations v2.0.0", "6.1")],
};
pub const PUBLIC_BUCKET: Rule = Rule {
    id: "a1b2c3d4-0003-4e21-9d3a-public-bucket",
    name: "Storage bucket is publicly readable",
    category: RuleCategory::Data,
    severity: SevWord::Critical,
    applies_to: &[ResourceKind::Bucket],
    description: "The bucket policy or ACL grants read access to AllUsers / anonymous principals.",
    remediation: "Enable Block Public Access on the bucket and remove public grants.\naws s3api put-public-access-block --bucket <name> --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
    ports: &[],
    compliance: &[
        ("CIS AWS Foundations v1.5.0", "2.1.5"),
        ("NIST 800-53 Rev5", "AC-3"),
    ],
};
pub const UNENCRYPTED_DB: Rule = Rule {
    id: "a1b2c3d4-0004-4e21-9d3a-unencrypted-db",
    name: "Database storage is not encrypted at rest",
    category: RuleCategory::Misconfiguration,
    severity: SevWord::Medium,
    applies_to: &[ResourceKind::Database, ResourceKind::Bucket],
    description: "Storage encryption is disabled on the database instance.",
    remediation: "Create an encrypted snapshot, restore it to a new encrypted instance and cut over.",
    ports: &[],
    compliance: &[
        ("CIS AWS Foundations v1.5.0", "2.3.1"),
        ("HIPAA", "164.312(a)(2)(iv)"),
    ],
};
pub const WILDCARD_IAM: Rule = Rule {
    id: "a1b2c3d4-0005-4e21-9d3a-wildcard-iam",
    name: "IAM policy grants full administrative privileges (Action \"*\" on Resource \"*\")",
    category: RuleCategory::Identity,
    severity: SevWord::High,
    applies_to: &[ResourceKind::Role],
    description: "An attached policy allows every action on every resource.",
    remediation: "Replace the wildcard statement with least-privilege actions scoped to the resources the role needs.",
    ports: &[],
    compliance: &[("CIS AWS Foundations v1.5.0", "1.16")],
};
pub const TRAIL_OFF: Rule = Rule {
    id: "a1b2c3d4-0006-4e21-9d3a-trail-off",
    name: "CloudTrail logging is disabled in the account",
    category: RuleCategory::Misconfiguration,
    severity: SevWord::Medium,
    applies_to: ALL_KINDS,
    description: "No multi-region trail is logging management events.",
    remediation: "aws cloudtrail create-trail --name org-trail --s3-bucket-name <bucket> --is-multi-region-trail && aws cloudtrail start-logging --name org-trail",
    ports: &[],
    compliance: &[("CIS AWS Foundations v1.5.0", "3.1")],
};
pub const NO_FLOW_LOGS: Rule = Rule {
    id: "a1b2c3d4-0007-4e21-9d3a-no-flow-logs",
    name: "VPC flow logs are not enabled",
    category: RuleCategory::Misconfiguration,
    severity: SevWord::Low,
    applies_to: &[
        ResourceKind::SecurityGroup,
        ResourceKind::Instance,
        ResourceKind::LoadBalancer,
    ],
    description: "The VPC has no flow log, so network forensics is impossible.",
    remediation: "aws ec2 create-flow-logs --resource-type VPC --resource-ids <vpc-id> --traffic-type ALL --log-destination-type cloud-watch-logs",
    ports: &[],
    compliance: &[("CIS AWS Foundations v1.5.0", "3.9")],
};
pub const VULN_PACKAGE: Rule = Rule {
    id: "a1b2c3d4-0008-4e21-9d3a-vuln-package",
    name: "Vulnerable package in running image",
    category: RuleCategory::Vulnerability,
    severity: SevWord::High,
    applies_to: COMPUTE,
    description: "A package with a known vulnerability is installed in the workload's image.",
    remediation: "Upgrade the package to the fixed version and rebuild the image.",
    ports: &[],
    compliance: &[],
};
pub const PRIV_CONTAINER: Rule = Rule {
    id: "a1b2c3d4-0009-4e21-9d3a-priv-container",
    name: "Container runs privileged",
    category: RuleCategory::Misconfiguration,
    severity: SevWord::High,
    applies_to: &[ResourceKind::Workload],
    description: "securityContext.privileged is true: the container has all host capabilities.",
    remediation: "Set securityContext.privileged: false and drop capabilities not needed.",
    ports: &[],
    compliance: &[("CIS Kubernetes Benchmark v1.8", "5.2.2")],
};
pub const RT_PROCESS: Rule = Rule {
    id: "a1b2c3d4-0010-4e21-9d3a-rt-process",
    name: "Unexpected process launched in container",
    category: RuleCategory::Runtime,
    severity: SevWord::Medium,
    applies_to: COMPUTE,
    description: "A process that is not in the learned model started: /usr/bin/nc -lvp 4444.",
    remediation: "Investigate the process tree; kill and redeploy the workload if the process is not expected.",
    ports: &[],
    compliance: &[],
};
pub const RT_CRYPTO: Rule = Rule {
    id: "a1b2c3d4-0011-4e21-9d3a-rt-crypto",
    name: "Crypto-miner activity detected",
    category: RuleCategory::Runtime,
    severity: SevWord::Critical,
    applies_to: COMPUTE,
    description: "Connections to a known mining pool and high CPU by an unknown binary (xmrig).",
    remediation: "Isolate the host, capture memory, rotate the workload's credentials and rebuild from a clean image.",
    ports: &[],
    compliance: &[],
};
pub const RT_METADATA: Rule = Rule {
    id: "a1b2c3d4-0012-4e21-9d3a-rt-metadata",
    name: "Cloud instance metadata service probed from a container",
    category: RuleCategory::Runtime,
    severity: SevWord::High,
    applies_to: COMPUTE,
    description: "A process queried 169.254.169.254 for IAM credentials.",
    remediation: "Enforce IMDSv2 with a hop limit of 1 and investigate the calling process.",
    ports: &[],
    compliance: &[],
};
pub const RT_REVSHELL: Rule = Rule {
    id: "a1b2c3d4-0013-4e21-9d3a-rt-revshell",
    name: "Reverse shell detected",
    category: RuleCategory::Runtime,
    severity: SevWord::Critical,
    applies_to: COMPUTE,
    description: "bash spawned with its standard streams redirected to a remote socket.",
    remediation: "Isolate the endpoint and start incident response.",
    ports: &[],
    compliance: &[],
};
pub const ADMIN_ROLE_ON_VM: Rule = Rule {
    id: "wc-id-1001",
    name: "Publicly exposed VM with an administrative instance role",
    category: RuleCategory::Identity,
    severity: SevWord::Critical,
    applies_to: &[ResourceKind::Instance],
    description: "The VM is reachable from the internet and its instance role has admin privileges.",
    remediation: "Remove the administrative policy from the instance role or remove the public exposure.",
    ports: &[],
    compliance: &[("NIST 800-53 Rev5", "AC-6")],
};
pub const SECRETS_IN_VM: Rule = Rule {
    id: "wc-id-1002",
    name: "Cleartext cloud keys stored on a VM",
    category: RuleCategory::Data,
    severity: SevWord::High,
    applies_to: &[ResourceKind::Instance, ResourceKind::Workload],
    description: "Long-lived access keys were found in a file on the VM's disk.",
    remediation: "Rotate the keys and move the workload to an instance role.",
    ports: &[],
    compliance: &[],
};
pub const ROOT_LOGIN: Rule = Rule {
    id: "lacework-global-31",
    name: "Root account used to log in",
    category: RuleCategory::Identity,
    severity: SevWord::Critical,
    applies_to: ALL_KINDS,
    description: "The account's root user signed in to the console.",
    remediation: "Confirm the login with the account owner, enable MFA on root and lock the root credentials away.",
    ports: &[],
    compliance: &[("CIS AWS Foundations v1.5.0", "1.7")],
};
pub const NEW_VIOLATION: Rule = Rule {
    id: "lacework-global-45",
    name: "New compliance violation: S3 bucket without server access logging",
    category: RuleCategory::Misconfiguration,
    severity: SevWord::Low,
    applies_to: &[ResourceKind::Bucket],
    description: "Server access logging is disabled on the bucket.",
    remediation: "Enable server access logging to a dedicated log bucket.",
    ports: &[],
    compliance: &[("CIS AWS Foundations v1.5.0", "3.6")],
};

/// Real CVEs (ids, CVSS and packages are public facts); some are on CISA KEV.
pub static CVES: &[SimCve] = &[
    SimCve {
        id: "CVE-2021-44228",
        cvss: 10.0,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
        package: "log4j-core",
        version: "2.14.1",
        fixed: "2.17.1",
        description: "Apache Log4j2 JNDI lookup remote code execution (Log4Shell).",
    },
    SimCve {
        id: "CVE-2022-22965",
        cvss: 9.8,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        package: "spring-beans",
        version: "5.3.17",
        fixed: "5.3.18",
        description: "Spring Framework data binding remote code execution (Spring4Shell).",
    },
    SimCve {
        id: "CVE-2024-3094",
        cvss: 10.0,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
        package: "xz-utils",
        version: "5.6.0",
        fixed: "5.6.2",
        description: "Malicious code in xz/liblzma upstream tarballs.",
    },
    SimCve {
        id: "CVE-2023-4863",
        cvss: 8.8,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
        package: "libwebp",
        version: "1.3.1",
        fixed: "1.3.2",
        description: "Heap buffer overflow in libwebp.",
    },
    SimCve {
        id: "CVE-2021-41773",
        cvss: 7.5,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        package: "apache2",
        version: "2.4.49",
        fixed: "2.4.51",
        description: "Apache HTTP Server path traversal.",
    },
    SimCve {
        id: "CVE-2023-44487",
        cvss: 7.5,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        package: "nghttp2",
        version: "1.55.1",
        fixed: "1.57.0",
        description: "HTTP/2 Rapid Reset denial of service.",
    },
    SimCve {
        id: "CVE-2024-6387",
        cvss: 8.1,
        vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H",
        package: "openssh-server",
        version: "9.6p1",
        fixed: "9.8p1",
        description: "Signal handler race in OpenSSH sshd (regreSSHion).",
    },
    SimCve {
        id: "CVE-2023-38545",
        cvss: 9.8,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        package: "curl",
        version: "8.3.0",
        fixed: "8.4.0",
        description: "SOCKS5 heap buffer overflow in curl.",
    },
    SimCve {
        id: "CVE-2022-3602",
        cvss: 7.5,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        package: "openssl",
        version: "3.0.6",
        fixed: "3.0.7",
        description: "X.509 email address buffer overflow in OpenSSL.",
    },
    SimCve {
        id: "CVE-2023-0286",
        cvss: 7.4,
        vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:H",
        package: "openssl",
        version: "1.1.1s",
        fixed: "1.1.1t",
        description: "X.400 address type confusion in OpenSSL.",
    },
    SimCve {
        id: "CVE-2022-40897",
        cvss: 5.9,
        vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H",
        package: "setuptools",
        version: "65.5.0",
        fixed: "65.5.1",
        description: "Regular expression denial of service in setuptools.",
    },
    SimCve {
        id: "CVE-2023-29491",
        cvss: 7.8,
        vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        package: "ncurses",
        version: "6.3",
        fixed: "6.4",
        description: "Memory corruption via malformed terminfo data in ncurses.",
    },
    SimCve {
        id: "CVE-2022-1304",
        cvss: 7.8,
        vector: "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
        package: "e2fsprogs",
        version: "1.46.5",
        fixed: "1.46.6",
        description: "Out-of-bounds read/write in e2fsprogs.",
    },
    SimCve {
        id: "CVE-2023-2650",
        cvss: 6.5,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        package: "openssl",
        version: "3.0.8",
        fixed: "3.0.9",
        description: "Slow OBJ_obj2txt on crafted ASN.1 object identifiers.",
    },
    SimCve {
        id: "CVE-2022-37434",
        cvss: 9.8,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        package: "zlib",
        version: "1.2.12",
        fixed: "1.2.13",
        description: "Heap overflow in zlib inflateGetHeader.",
    },
    SimCve {
        id: "CVE-2021-3711",
        cvss: 9.8,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        package: "openssl",
        version: "1.1.1k",
        fixed: "1.1.1l",
        description: "SM2 decryption buffer overflow in OpenSSL.",
    },
    SimCve {
        id: "CVE-2020-8203",
        cvss: 7.4,
        vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H",
        package: "lodash",
        version: "4.17.15",
        fixed: "4.17.19",
        description: "Prototype pollution in lodash zipObjectDeep.",
    },
    SimCve {
        id: "CVE-2023-45853",
        cvss: 9.8,
        vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        package: "zlib",
        version: "1.2.13",
        fixed: "1.3.1",
        description: "Integer overflow in zlib minizip.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_world() {
        let a = World::generate(42, 50, 1_700_000_000_000);
        let b = World::generate(42, 50, 1_700_000_000_000);
        assert_eq!(a.findings.len(), 300);
        for (x, y) in a.findings.iter().zip(&b.findings) {
            assert_eq!(
                (x.seq, x.resource, x.rule.id, x.created_ms),
                (y.seq, y.resource, y.rule.id, y.created_ms)
            );
        }
    }

    #[test]
    fn resources_are_shared_across_vendors() {
        let w = World::generate(1, 200, 1_700_000_000_000);
        let mut vendors_per_resource = vec![std::collections::BTreeSet::new(); w.resources.len()];
        for f in &w.findings {
            vendors_per_resource[f.resource].insert(f.vendor);
        }
        let multi = vendors_per_resource.iter().filter(|s| s.len() >= 2).count();
        assert!(
            multi > 10,
            "only {multi} resources seen by two or more vendors"
        );
    }

    #[test]
    fn rules_land_on_resources_they_apply_to() {
        let w = World::generate(5, 300, 1_700_000_000_000);
        let misplaced = w
            .findings
            .iter()
            .filter(|f| !f.rule.applies_to.contains(&w.resources[f.resource].kind))
            .count();
        assert_eq!(misplaced, 0);
    }

    #[test]
    fn vulnerability_findings_carry_a_cve_and_others_do_not() {
        let w = World::generate(3, 100, 1_700_000_000_000);
        for f in &w.findings {
            assert_eq!(
                f.cve.is_some(),
                f.rule.category == RuleCategory::Vulnerability
            );
            assert!(f.created_ms <= f.updated_ms && f.updated_ms <= w.now_ms);
        }
    }
}
