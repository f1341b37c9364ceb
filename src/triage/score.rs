//! The priority score (docs/prioritization.md): 0–100 from the alert's own facts, exploit
//! intelligence and the configured weights and tag rules, with a breakdown in words. Pure: no
//! I/O.
//!
//! The same pass says which attack-path stages the alert shows (exposure, exploitable
//! workload, privileged identity, sensitive data); `paths.rs` chains them per resource.

use std::collections::HashMap;

use crate::domain::{Alert, Category, EpochMs, Factor, Score, Severity, Stage};
use crate::triage::intel::{Cvss3, EpssScore, KevEntry};

/// Bump when the model changes, so stored scores are recomputed.
pub const MODEL_VERSION: u32 = 2;

const DAY_MS: i64 = 86_400_000;

/// Points per severity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeverityWeights {
    pub critical: i32,
    pub high: i32,
    pub medium: i32,
    pub low: i32,
    pub info: i32,
}

/// Days an open alert may age before it is past its SLA, per severity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlaDays {
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
}

/// A tag rule: alerts whose resource carries the tag get the points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagRule {
    /// `key=value` (both case-insensitive) or `key` (any value).
    pub tag: String,
    pub points: i32,
    /// What the tag means, in words ("production").
    pub label: String,
}

impl TagRule {
    pub fn matches(&self, tags: &std::collections::BTreeMap<String, String>) -> bool {
        let (k, v) = match self.tag.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (self.tag.trim(), None),
        };
        tags.iter().any(|(tk, tv)| {
            tk.trim().eq_ignore_ascii_case(k) && v.is_none_or(|v| tv.trim().eq_ignore_ascii_case(v))
        })
    }
}

/// Every weight of the model (`[scoring]` in the config; docs/prioritization.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScoringConfig {
    pub severity: SeverityWeights,
    pub internet_facing: i32,
    pub kev: i32,
    pub kev_ransomware: i32,
    /// Maximum EPSS points: `round(epss × probability)`.
    pub epss: i32,
    /// Maximum CVSS points: `round(cvss × base / 10)`.
    pub cvss: i32,
    pub privilege: i32,
    pub sensitive_data: i32,
    pub runtime: i32,
    pub compliance: i32,
    /// Frameworks that earn the compliance points (matched ignoring case and punctuation).
    pub compliance_frameworks: Vec<String>,
    pub sla: i32,
    pub sla_days: SlaDays,
    /// Points an attack path earns per stage beyond the first.
    pub path_step: i32,
    pub tag_rules: Vec<TagRule>,
}

impl Default for ScoringConfig {
    /// The built-in model; `config/defaults.toml` says the same (a test keeps them equal).
    fn default() -> Self {
        ScoringConfig {
            severity: SeverityWeights {
                critical: 30,
                high: 22,
                medium: 14,
                low: 6,
                info: 2,
            },
            internet_facing: 15,
            kev: 20,
            kev_ransomware: 5,
            epss: 10,
            cvss: 5,
            privilege: 10,
            sensitive_data: 10,
            runtime: 10,
            compliance: 3,
            compliance_frameworks: vec!["PCI DSS".into(), "HIPAA".into()],
            sla: 5,
            sla_days: SlaDays {
                critical: 7,
                high: 30,
                medium: 90,
                low: 180,
            },
            path_step: 10,
            tag_rules: vec![
                TagRule {
                    tag: "env=prod".into(),
                    points: 10,
                    label: "production".into(),
                },
                TagRule {
                    tag: "env=production".into(),
                    points: 10,
                    label: "production".into(),
                },
                TagRule {
                    tag: "data=pii".into(),
                    points: 10,
                    label: "holds personal data".into(),
                },
            ],
        }
    }
}

impl ScoringConfig {
    /// A fingerprint of the model and its weights: stored scores computed under another
    /// fingerprint are recomputed.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(format!("model {MODEL_VERSION}\n{self:?}").as_bytes());
        h.finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Exploit intelligence for the CVEs at hand.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntelSet {
    pub kev: HashMap<String, KevEntry>,
    pub epss: HashMap<String, EpssScore>,
}

/// What the scorer needs besides the alert.
#[derive(Debug, Clone, Copy)]
pub struct ScoreContext<'a> {
    pub config: &'a ScoringConfig,
    pub intel: &'a IntelSet,
    /// "Now" for the SLA factor.
    pub now_ms: EpochMs,
}

/// Score, stages and the intel facts worth indexing, from one pass over an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub score: Score,
    /// Attack-path stages the alert shows, with the reason for each.
    pub stages: Vec<(Stage, String)>,
    /// Any of its CVEs is in CISA KEV.
    pub kev: bool,
    /// The highest EPSS probability among its CVEs.
    pub epss: Option<f64>,
}

impl Assessment {
    pub fn stage_mask(&self) -> u8 {
        self.stages.iter().fold(0, |m, (s, _)| m | s.bit())
    }
}

/// The score with its breakdown.
pub fn score(alert: &Alert, ctx: &ScoreContext<'_>) -> Score {
    assess(alert, ctx).score
}

/// The words the keyword factors read: title and policy, lower case. (Not the description:
/// vendors' long boilerplate mentions "admin" or "0.0.0.0/0" in passing, and scanning it
/// would make scoring the slowest part of an import.)
fn lower_text(a: &Alert) -> String {
    let mut t = String::with_capacity(256);
    for s in [
        Some(a.title.as_str()),
        a.policy.name.as_deref(),
        a.policy.id.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        t.push_str(&s.to_lowercase());
        t.push('\n');
    }
    t
}

/// A short readable name of the resource.
pub fn resource_name(a: &Alert) -> String {
    let name = a
        .resource
        .name
        .as_deref()
        .or(a.resource.id.as_deref())
        .unwrap_or("the resource");
    crate::sanitize::one_line(name)
}

fn resource_kind(a: &Alert) -> Option<&'static str> {
    let t = a
        .resource
        .rtype
        .as_deref()?
        .to_ascii_lowercase()
        .replace(['_', '-', ' ', ':', '.'], "");
    Some(if t.contains("securitygroup") {
        "security group"
    } else if t.contains("instance") || t.contains("virtualmachine") || t.ends_with("vm") {
        "instance"
    } else if t.contains("bucket") || t.contains("storageaccount") {
        "bucket"
    } else if t.contains("role") {
        "role"
    } else if t.contains("database") || t.contains("rds") || t.contains("sql") {
        "database"
    } else if t.contains("loadbalancer") {
        "load balancer"
    } else if t.contains("function") || t.contains("lambda") {
        "function"
    } else if t.contains("deployment")
        || t.contains("pod")
        || t.contains("workload")
        || t.contains("container")
    {
        "workload"
    } else {
        return None;
    })
}

fn ports_from_text(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("port") {
        rest = &rest[i + 4..];
        let digits: String = rest
            .trim_start_matches(['s', ' ', ':'])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(p) = digits.parse::<u16>()
            && p > 0
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

fn port_list(ports: &[u16]) -> String {
    let p: Vec<String> = ports.iter().take(5).map(u16::to_string).collect();
    match p.len() {
        0 => String::new(),
        1 => format!(" on port {}", p[0]),
        _ => format!(" on ports {}", p.join(", ")),
    }
}

const PRIVILEGE_WORDS: [&str; 9] = [
    "administratoraccess",
    "cluster-admin",
    "admin",
    "*:*",
    "wildcard",
    "privileged",
    "full access",
    "owner role",
    "privilege escalation",
];

const DATA_WORDS: [&str; 8] = [
    "pii",
    "sensitive data",
    "personal data",
    "customer data",
    "credit card",
    "cardholder",
    "secrets",
    "phi",
];

fn word_hit<'w>(text: &str, words: &[&'w str]) -> Option<&'w str> {
    words.iter().copied().find(|w| {
        text.match_indices(w).any(|(i, _)| {
            // Whole words only for the short ones ("pii", "phi", "admin").
            if w.len() > 5 {
                return true;
            }
            let before = text[..i].chars().next_back();
            let after = text[i + w.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

fn normalize_framework(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn day(ms: EpochMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Score the alert and find its attack-path stages.
pub fn assess(a: &Alert, ctx: &ScoreContext<'_>) -> Assessment {
    let cfg = ctx.config;
    let mut factors = Vec::new();
    let mut stages = Vec::new();
    let mut push = |points: i32, key: &'static str, label: String| {
        if points != 0 {
            factors.push(Factor { points, key, label });
        }
    };

    // Base severity.
    let (sev_points, sev_word) = match a.severity {
        Severity::Critical => (cfg.severity.critical, "critical"),
        Severity::High => (cfg.severity.high, "high"),
        Severity::Medium => (cfg.severity.medium, "medium"),
        Severity::Low => (cfg.severity.low, "low"),
        Severity::Info => (cfg.severity.info, "info"),
        Severity::Other(_) => (cfg.severity.medium, "unrecognised (scored as medium)"),
    };
    let vendor_word = a
        .policy
        .vendor_severity
        .as_deref()
        .map(|w| {
            format!(
                " ({} says {})",
                a.vendor.display_name(),
                crate::sanitize::one_line(w)
            )
        })
        .unwrap_or_default();
    push(
        sev_points,
        "severity",
        format!("severity {sev_word}{vendor_word}"),
    );

    let text = lower_text(a);
    let name = resource_name(a);

    // Exposure.
    let world_open = ["0.0.0.0/0", "::/0"].into_iter().find(|c| text.contains(c));
    let facing = a.exposure.internet_facing == Some(true) || world_open.is_some();
    if facing {
        let mut ports = a.exposure.open_ports.clone();
        if ports.is_empty() {
            ports = ports_from_text(&text);
        }
        let kind = resource_kind(a)
            .map(|k| format!("{k} "))
            .unwrap_or_default();
        let label = match world_open {
            Some(cidr) => format!(
                "internet-facing: {kind}{name} allows {cidr}{}",
                port_list(&ports)
            ),
            None => format!(
                "internet-facing: {kind}{name} is reachable from the internet{}",
                port_list(&ports)
            ),
        };
        push(cfg.internet_facing, "internet_facing", label.clone());
        stages.push((Stage::Exposure, label));
    }

    // Exploitability: KEV, EPSS, CVSS (the strongest CVE for each).
    let mut kev_hits: Vec<&KevEntry> = a
        .cves
        .iter()
        .filter_map(|c| ctx.intel.kev.get(&c.id.to_ascii_uppercase()))
        .collect();
    kev_hits.sort_by(|x, y| (y.ransomware, &x.cve).cmp(&(x.ransomware, &y.cve)));
    kev_hits.dedup_by(|x, y| x.cve == y.cve);
    if let Some(k) = kev_hits.first() {
        let more = match kev_hits.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        let label = format!(
            "known exploited: {} is in CISA KEV since {}{more}",
            k.cve, k.date_added
        );
        push(cfg.kev, "kev", label.clone());
        if k.ransomware {
            push(
                cfg.kev_ransomware,
                "kev_ransomware",
                format!(
                    "ransomware: CISA lists {} as used in ransomware campaigns",
                    k.cve
                ),
            );
        }
        stages.push((Stage::Exploitable, label));
    }
    let best_epss = a
        .cves
        .iter()
        .filter_map(|c| {
            let id = c.id.to_ascii_uppercase();
            ctx.intel.epss.get(&id).map(|e| (id, *e))
        })
        .max_by(|x, y| x.1.epss.total_cmp(&y.1.epss));
    if let Some((id, e)) = &best_epss {
        let points = (f64::from(cfg.epss) * e.epss).round() as i32;
        let label = format!(
            "EPSS {:.3} for {id}: {:.0}% chance of exploitation in the next 30 days ({} percentile)",
            e.epss,
            e.epss * 100.0,
            ordinal(e.percentile)
        );
        push(points, "epss", label.clone());
        if e.epss >= 0.1 && kev_hits.is_empty() {
            stages.push((Stage::Exploitable, label));
        }
    }
    let best_cvss = a
        .cves
        .iter()
        .filter_map(|c| {
            let parsed = c.cvss_vector.as_deref().and_then(|v| Cvss3::parse(v).ok());
            let base = c.cvss.or_else(|| parsed.map(|p| p.base_score()))?;
            Some((c.id.to_ascii_uppercase(), base, parsed))
        })
        .max_by(|x, y| x.1.total_cmp(&y.1));
    if let Some((id, base, parsed)) = &best_cvss {
        let points = (f64::from(cfg.cvss) * base.clamp(0.0, 10.0) / 10.0).round() as i32;
        let remote = parsed.is_some_and(|p| p.remote_unauthenticated());
        let label = format!(
            "CVSS {base:.1} for {id}{}",
            if remote {
                ": remotely exploitable without credentials or user action"
            } else {
                ""
            }
        );
        push(points, "cvss", label.clone());
        let already = stages.iter().any(|(s, _)| *s == Stage::Exploitable);
        if !already && *base >= 9.0 && parsed.is_none_or(|p| p.attack_vector == 'N') {
            stages.push((Stage::Exploitable, label));
        }
    }

    // Runtime evidence.
    if a.category == Category::Runtime {
        let label = format!(
            "runtime evidence: {} detected activity on {name}",
            a.vendor.display_name()
        );
        push(cfg.runtime, "runtime", label.clone());
        if !stages.iter().any(|(s, _)| *s == Stage::Exploitable) {
            stages.push((Stage::Exploitable, label));
        }
    }

    // Privilege / blast radius.
    let priv_hit = word_hit(&text, &PRIVILEGE_WORDS);
    if priv_hit.is_some() || (a.category == Category::Identity && text.contains("role")) {
        let what = crate::sanitize::one_line(a.policy.name.as_deref().unwrap_or(a.title.as_str()));
        let label = format!("privileged identity: {what}");
        push(cfg.privilege, "privilege", label.clone());
        stages.push((Stage::Privilege, label));
    }

    // Sensitive data.
    let data_tag = a.resource.tags.iter().find(|(k, v)| {
        let k = k.to_ascii_lowercase();
        let v = v.to_ascii_lowercase();
        (k.contains("data") || k.contains("classification"))
            && [
                "pii",
                "phi",
                "sensitive",
                "confidential",
                "restricted",
                "pci",
            ]
            .iter()
            .any(|w| v.contains(w))
    });
    let data_word = word_hit(&text, &DATA_WORDS);
    if a.category == Category::Data || data_word.is_some() {
        let why = match data_word {
            Some(w) => format!("mentions {w}"),
            None => "a data-security finding".to_string(),
        };
        let label = format!("sensitive data: {name} ({why})");
        push(cfg.sensitive_data, "sensitive_data", label.clone());
        stages.push((Stage::Data, label));
    } else if let Some((k, v)) = data_tag {
        stages.push((
            Stage::Data,
            format!(
                "sensitive data: {name} is tagged {}={}",
                crate::sanitize::one_line(k),
                crate::sanitize::one_line(v)
            ),
        ));
    }

    // Asset criticality (tag rules).
    for rule in &cfg.tag_rules {
        if rule.matches(&a.resource.tags) {
            push(
                rule.points,
                "tag_rule",
                format!(
                    "{}: {name} is tagged {}",
                    crate::sanitize::one_line(&rule.label),
                    crate::sanitize::one_line(&rule.tag)
                ),
            );
        }
    }

    // Compliance weight.
    let wanted: Vec<String> = cfg
        .compliance_frameworks
        .iter()
        .map(|f| normalize_framework(f))
        .filter(|f| !f.is_empty())
        .collect();
    if let Some(c) = a.compliance.iter().find(|c| {
        let n = normalize_framework(&c.standard);
        wanted.iter().any(|w| n.contains(w.as_str()))
    }) {
        let req = c
            .requirement
            .as_deref()
            .map(|r| format!(" {}", crate::sanitize::one_line(r)))
            .unwrap_or_default();
        push(
            cfg.compliance,
            "compliance",
            format!(
                "compliance: {}{req}",
                crate::sanitize::one_line(&c.standard)
            ),
        );
    }

    // Age / SLA.
    let sla = match a.severity {
        Severity::Critical => Some(cfg.sla_days.critical),
        Severity::High => Some(cfg.sla_days.high),
        Severity::Medium | Severity::Other(_) => Some(cfg.sla_days.medium),
        Severity::Low => Some(cfg.sla_days.low),
        Severity::Info => None,
    };
    if let (Some(sla), Some(first)) = (sla, a.first_seen) {
        let age_days = (ctx.now_ms - first) / DAY_MS;
        if sla > 0 && age_days > sla {
            push(
                cfg.sla,
                "sla",
                format!(
                    "past SLA: open {age_days} days since {}; the SLA for {sev_word} is {sla} days",
                    day(first)
                ),
            );
        }
    }

    let sum: i32 = factors.iter().map(|f| f.points).sum();
    let mut total = sum.clamp(0, 100);
    if total != sum {
        factors.push(Factor {
            points: total - sum,
            key: "cap",
            label: format!("capped: the factors add up to {sum}; scores run from 0 to 100"),
        });
    }
    // Closed at the vendor: nothing left to do there, so it ranks below every open alert
    // (which scores 0 or more). The factors above stay, to say what it would weigh if reopened.
    if a.vendor_status.is_closed() && total > 0 {
        factors.push(Factor {
            points: -total,
            key: "vendor_closed",
            label: format!(
                "closed at the vendor ({} there): ranks below every open alert; it would score {total} if the vendor reopened it",
                a.vendor_status.to_store()
            ),
        });
        total = 0;
    }
    stages.sort_by_key(|(s, _)| *s);
    stages.dedup_by_key(|(s, _)| *s);
    Assessment {
        score: Score {
            total: total as u8,
            factors,
        },
        stages,
        kev: !kev_hits.is_empty(),
        epss: best_epss.map(|(_, e)| e.epss),
    }
}

/// 0.99957 → "99.96th".
fn ordinal(p: f64) -> String {
    let v = p * 100.0;
    let s = if (v - v.round()).abs() < 0.005 {
        format!("{:.0}", v.round())
    } else {
        format!("{v:.2}")
    };
    let suffix = if s.contains('.') {
        "th"
    } else {
        match (v.round() as i64 % 100, v.round() as i64 % 10) {
            (11..=13, _) => "th",
            (_, 1) => "st",
            (_, 2) => "nd",
            (_, 3) => "rd",
            _ => "th",
        }
    };
    format!("{s}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Compliance, Cve, Vendor};

    const NOW: i64 = 1_795_305_600_000; // 2026-11-22

    fn sg_alert() -> Alert {
        let mut a = Alert::new(Vendor::PrismaCspm, "P-1", serde_json::json!({}));
        a.title = "AWS Security Group allows all traffic on SSH port (22)".into();
        a.policy.name = Some("AWS Security Group allows 0.0.0.0/0 on port 22".into());
        a.policy.vendor_severity = Some("high".into());
        a.severity = Severity::High;
        a.category = Category::Network;
        a.resource.id = Some("arn:aws:ec2:us-east-1:111122223333:security-group/sg-0a1".into());
        a.resource.name = Some("sg-0a1".into());
        a.resource.rtype = Some("AWS::EC2::SecurityGroup".into());
        a.exposure.open_ports = vec![22];
        a.first_seen = Some(NOW - 2 * DAY_MS);
        a
    }

    fn vuln(cve: &str, cvss: f64, sev: Severity) -> Alert {
        let mut a = Alert::new(Vendor::Wiz, format!("V-{cve}"), serde_json::json!({}));
        a.title = format!("{cve} in a package");
        a.severity = sev;
        a.category = Category::Vulnerability;
        a.cves = vec![Cve {
            id: cve.into(),
            cvss: Some(cvss),
            ..Cve::default()
        }];
        a
    }

    fn intel() -> IntelSet {
        let mut i = IntelSet::default();
        i.kev.insert(
            "CVE-2021-44228".into(),
            KevEntry {
                cve: "CVE-2021-44228".into(),
                vendor_project: "Apache".into(),
                product: "Log4j2".into(),
                name: "Apache Log4j2 Remote Code Execution Vulnerability".into(),
                date_added: "2021-12-10".into(),
                due_date: "2021-12-24".into(),
                ransomware: true,
            },
        );
        i.epss.insert(
            "CVE-2021-44228".into(),
            EpssScore {
                epss: 0.94358,
                percentile: 0.99957,
            },
        );
        i.epss.insert(
            "CVE-2099-0001".into(),
            EpssScore {
                epss: 0.0004,
                percentile: 0.08,
            },
        );
        i
    }

    fn labels(s: &Score) -> Vec<String> {
        s.factors
            .iter()
            .map(|f| format!("{:+} {}", f.points, f.label))
            .collect()
    }

    /// Closed at the vendor: 0, below every open alert, and the breakdown says why while
    /// still showing what it would weigh.
    #[test]
    fn a_vendor_closed_alert_never_outranks_an_open_one() {
        let cfg = ScoringConfig::default();
        let intel = intel();
        let ctx = ScoreContext {
            config: &cfg,
            intel: &intel,
            now_ms: NOW,
        };
        let mut log4j = vuln("CVE-2021-44228", 10.0, Severity::Critical);
        log4j.vendor_status = crate::domain::VendorState::Dismissed;
        let closed = score(&log4j, &ctx);
        let mut info = vuln("CVE-2099-0001", 1.0, Severity::Info);
        info.vendor_status = crate::domain::VendorState::InProgress;
        let open = score(&info, &ctx);
        assert_eq!(closed.total, 0);
        assert!(open.total > closed.total, "{open:?}");
        assert_eq!(
            i32::from(closed.total),
            closed.factors.iter().map(|f| f.points).sum::<i32>()
        );
        let last = closed.factors.last().expect("factor");
        assert_eq!(last.key, "vendor_closed");
        assert_eq!(
            format!("{:+} {}", last.points, last.label),
            "-69 closed at the vendor (dismissed there): ranks below every open alert; it would score 69 if the vendor reopened it"
        );
        assert!(closed.factors.iter().any(|f| f.key == "kev"));
    }

    #[test]
    fn breakdown_reads_as_words_and_adds_up() {
        let cfg = ScoringConfig::default();
        let intel = IntelSet::default();
        let ctx = ScoreContext {
            config: &cfg,
            intel: &intel,
            now_ms: NOW,
        };
        let s = score(&sg_alert(), &ctx);
        assert_eq!(
            labels(&s),
            vec![
                "+22 severity high (Prisma Cloud CSPM says high)".to_string(),
                "+15 internet-facing: security group sg-0a1 allows 0.0.0.0/0 on port 22".into(),
            ]
        );
        assert_eq!(s.total, 37);
        assert_eq!(
            i32::from(s.total),
            s.factors.iter().map(|f| f.points).sum::<i32>()
        );
    }

    #[test]
    fn kev_epss_cvss_and_ransomware_count() {
        let cfg = ScoringConfig::default();
        let intel = intel();
        let ctx = ScoreContext {
            config: &cfg,
            intel: &intel,
            now_ms: NOW,
        };
        let a = assess(&vuln("CVE-2021-44228", 10.0, Severity::Critical), &ctx);
        assert!(a.kev);
        assert_eq!(a.epss, Some(0.94358));
        assert_eq!(
            labels(&a.score),
            vec![
                "+30 severity critical".to_string(),
                "+20 known exploited: CVE-2021-44228 is in CISA KEV since 2021-12-10".into(),
                "+5 ransomware: CISA lists CVE-2021-44228 as used in ransomware campaigns".into(),
                "+9 EPSS 0.944 for CVE-2021-44228: 94% chance of exploitation in the next 30 days (99.96th percentile)".into(),
                "+5 CVSS 10.0 for CVE-2021-44228".into(),
            ]
        );
        assert_eq!(a.stage_mask(), Stage::Exploitable.bit());
    }

    #[test]
    fn kev_outranks_higher_cvss_without_exploitation() {
        let cfg = ScoringConfig::default();
        let intel = intel();
        let ctx = ScoreContext {
            config: &cfg,
            intel: &intel,
            now_ms: NOW,
        };
        let mut kev = vuln("CVE-2021-44228", 7.5, Severity::High);
        let mut quiet = vuln("CVE-2099-0001", 9.8, Severity::Critical);
        for a in [&mut kev, &mut quiet] {
            a.exposure.internet_facing = Some(true);
        }
        assert!(score(&kev, &ctx).total > score(&quiet, &ctx).total);
    }

    #[test]
    fn tag_rules_compliance_privilege_data_and_sla() {
        let mut cfg = ScoringConfig::default();
        cfg.tag_rules.push(TagRule {
            tag: "team".into(),
            points: -4,
            label: "owned by a team".into(),
        });
        let intel = IntelSet::default();
        let ctx = ScoreContext {
            config: &cfg,
            intel: &intel,
            now_ms: NOW,
        };
        let mut a = Alert::new(Vendor::Lacework, "L-1", serde_json::json!({}));
        a.title = "IAM role web-role has AdministratorAccess attached".into();
        a.category = Category::Identity;
        a.severity = Severity::Medium;
        a.resource.name = Some("web-role".into());
        a.resource.tags.insert("Env".into(), "PROD".into());
        a.resource.tags.insert("team".into(), "payments".into());
        a.resource.tags.insert("data".into(), "pii".into());
        a.compliance.push(Compliance {
            standard: "PCI-DSS v4.0".into(),
            requirement: Some("7.2.1".into()),
        });
        a.first_seen = Some(NOW - 120 * DAY_MS);
        let r = assess(&a, &ctx);
        assert_eq!(
            labels(&r.score),
            vec![
                "+14 severity medium".to_string(),
                "+10 privileged identity: IAM role web-role has AdministratorAccess attached"
                    .into(),
                "+10 production: web-role is tagged env=prod".into(),
                "+10 holds personal data: web-role is tagged data=pii".into(),
                "-4 owned by a team: web-role is tagged team".into(),
                "+3 compliance: PCI-DSS v4.0 7.2.1".into(),
                "+5 past SLA: open 120 days since 2026-07-25; the SLA for medium is 90 days".into(),
            ]
        );
        assert_eq!(r.score.total, 48);
        assert_eq!(r.stage_mask(), Stage::Privilege.bit() | Stage::Data.bit());
    }

    #[test]
    fn totals_are_capped_and_the_cap_is_a_factor() {
        let mut cfg = ScoringConfig {
            internet_facing: 90,
            ..Default::default()
        };
        let intel = intel();
        let ctx = ScoreContext {
            config: &cfg,
            intel: &intel,
            now_ms: NOW,
        };
        let mut a = vuln("CVE-2021-44228", 10.0, Severity::Critical);
        a.exposure.internet_facing = Some(true);
        let s = score(&a, &ctx);
        assert_eq!(s.total, 100);
        let last = s.factors.last().expect("cap");
        assert_eq!(last.key, "cap");
        assert_eq!(s.factors.iter().map(|f| f.points).sum::<i32>(), 100);
        cfg.severity.info = -50;
        let mut low = Alert::new(Vendor::Orca, "O", serde_json::json!({}));
        low.severity = Severity::Info;
        let ctx = ScoreContext {
            config: &cfg,
            intel: &intel,
            now_ms: NOW,
        };
        assert_eq!(score(&low, &ctx).total, 0);
    }

    #[test]
    fn short_words_match_whole_words_only() {
        assert_eq!(word_hit("badminton club", &PRIVILEGE_WORDS), None);
        assert_eq!(word_hit("user is admin.", &PRIVILEGE_WORDS), Some("admin"));
        assert_eq!(word_hit("shipping rates", &DATA_WORDS), None);
        assert_eq!(ordinal(0.99957), "99.96th");
        assert_eq!(ordinal(0.52), "52nd");
        assert_eq!(
            ports_from_text("allows ports 22 and port 3389"),
            vec![22, 3389]
        );
    }

    #[test]
    fn fingerprint_changes_with_weights() {
        let a = ScoringConfig::default();
        let mut b = a.clone();
        b.kev += 1;
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), ScoringConfig::default().fingerprint());
    }
}
