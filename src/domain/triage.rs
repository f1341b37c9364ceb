//! Prioritization results: a score with its reasons, and attack paths.

use serde::Serialize;

/// One reason a score is what it is: points and the words an analyst reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Factor {
    /// Signed contribution (a cap shows as a negative factor).
    pub points: i32,
    /// Stable machine key: `severity`, `internet_facing`, `kev`, `epss`, `cvss`, `tag_rule`,
    /// `privilege`, `sensitive_data`, `runtime`, `compliance`, `sla`, `cap`, `vendor_closed`.
    pub key: &'static str,
    /// Words, e.g. "internet-facing: security group sg-0a1 allows 0.0.0.0/0 on port 22".
    /// Built from vendor text: sanitize before printing.
    pub label: String,
}

/// A priority score 0..=100 and its breakdown. The factors' points add up to `total`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Score {
    pub total: u8,
    pub factors: Vec<Factor>,
}

/// A link in an attack chain, in the order an attacker walks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reachable from the internet.
    Exposure,
    /// An exploitable weakness or an active threat on the workload.
    Exploitable,
    /// A privileged identity (admin role, wildcard policy) the workload can use.
    Privilege,
    /// Sensitive data within reach.
    Data,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Exposure,
        Stage::Exploitable,
        Stage::Privilege,
        Stage::Data,
    ];

    pub fn bit(self) -> u8 {
        match self {
            Stage::Exposure => 1,
            Stage::Exploitable => 2,
            Stage::Privilege => 4,
            Stage::Data => 8,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Stage::Exposure => "internet exposure",
            Stage::Exploitable => "exploitable workload",
            Stage::Privilege => "privileged identity",
            Stage::Data => "sensitive data",
        }
    }
}

/// One step of an attack path: a stage and the alert that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStep {
    pub stage: Stage,
    pub alert_id: String,
    /// Why this alert is this step, in words (vendor text: sanitize before printing).
    pub label: String,
    /// The member alert's own score.
    pub score: u8,
}

/// Alerts on one resource that chain exposure → exploitable workload → privilege → data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttackPath {
    /// The correlated resource (normalized key).
    pub group_key: String,
    /// A readable name for the resource.
    pub resource: String,
    pub steps: Vec<PathStep>,
    /// The path scored as a whole, 0..=100.
    pub total: u8,
    /// How the total was reached, in words.
    pub factors: Vec<Factor>,
    /// Vendor graph context that asserted a path (Wiz toxic combination, Orca attack path,
    /// Prisma attack-path policy), in words.
    pub vendor_context: Vec<String>,
}
