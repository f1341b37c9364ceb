//! `[scoring]` (weights and tag rules) and `[intel]` (feed URLs): parsed over the embedded
//! defaults, each bad value reported with its key.

use serde::Deserialize;

use crate::triage::score::{ScoringConfig, SeverityWeights, SlaDays, TagRule};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScoring {
    severity: Option<RawSeverity>,
    internet_facing: Option<i64>,
    kev: Option<i64>,
    kev_ransomware: Option<i64>,
    epss: Option<i64>,
    cvss: Option<i64>,
    privilege: Option<i64>,
    sensitive_data: Option<i64>,
    runtime: Option<i64>,
    compliance: Option<i64>,
    compliance_frameworks: Option<Vec<String>>,
    sla: Option<i64>,
    sla_days: Option<RawSla>,
    path_step: Option<i64>,
    tag_rule: Option<Vec<RawTagRule>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeverity {
    critical: Option<i64>,
    high: Option<i64>,
    medium: Option<i64>,
    low: Option<i64>,
    info: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    critical: Option<i64>,
    high: Option<i64>,
    medium: Option<i64>,
    low: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTagRule {
    tag: String,
    points: i64,
    label: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntel {
    kev_url: Option<String>,
    epss_url: Option<String>,
}

/// Where `sitrep intel update` fetches the feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelConfig {
    pub kev_url: String,
    pub epss_url: String,
}

type KeyErr = (String, String);

fn points(key: &str, v: Option<i64>, d: Option<i64>, range: (i64, i64)) -> Result<i32, KeyErr> {
    let v = v.or(d).unwrap_or(0);
    if !(range.0..=range.1).contains(&v) {
        return Err((
            key.to_string(),
            format!("{v} is out of range {}..={}", range.0, range.1),
        ));
    }
    Ok(v as i32)
}

const WEIGHT: (i64, i64) = (-100, 100);

/// User `[scoring]` over the defaults' `[scoring]`. Tag rules: the user's list, when given,
/// replaces the default list.
pub(super) fn resolve(user: RawScoring, defaults: RawScoring) -> Result<ScoringConfig, KeyErr> {
    let us = user.severity.unwrap_or_default();
    let ds = defaults.severity.unwrap_or_default();
    let sev = |name: &str, u: Option<i64>, d: Option<i64>| {
        points(&format!("[scoring.severity] {name}"), u, d, (0, 100))
    };
    let severity = SeverityWeights {
        critical: sev("critical", us.critical, ds.critical)?,
        high: sev("high", us.high, ds.high)?,
        medium: sev("medium", us.medium, ds.medium)?,
        low: sev("low", us.low, ds.low)?,
        info: sev("info", us.info, ds.info)?,
    };
    let ul = user.sla_days.unwrap_or_default();
    let dl = defaults.sla_days.unwrap_or_default();
    let days = |name: &str, u: Option<i64>, d: Option<i64>| -> Result<i64, KeyErr> {
        points(&format!("[scoring.sla_days] {name}"), u, d, (1, 3650)).map(i64::from)
    };
    let sla_days = SlaDays {
        critical: days("critical", ul.critical, dl.critical)?,
        high: days("high", ul.high, dl.high)?,
        medium: days("medium", ul.medium, dl.medium)?,
        low: days("low", ul.low, dl.low)?,
    };
    let w = |name: &str, u: Option<i64>, d: Option<i64>| {
        points(&format!("[scoring] {name}"), u, d, WEIGHT)
    };
    let frameworks = user
        .compliance_frameworks
        .or(defaults.compliance_frameworks)
        .unwrap_or_default();
    for (i, f) in frameworks.iter().enumerate() {
        if f.trim().is_empty() || crate::sanitize::clean(f).1.any() {
            return Err((
                format!("[scoring] compliance_frameworks[{i}]"),
                "a framework name is non-empty plain text".into(),
            ));
        }
    }
    let raw_rules = user.tag_rule.or(defaults.tag_rule).unwrap_or_default();
    let mut tag_rules = Vec::with_capacity(raw_rules.len());
    for (i, r) in raw_rules.into_iter().enumerate() {
        let at = |k: &str| format!("[[scoring.tag_rule]] #{} {k}", i + 1);
        let tag = r.tag.trim().to_string();
        let key = tag.split('=').next().unwrap_or("").trim();
        if key.is_empty() || crate::sanitize::clean(&tag).1.any() {
            return Err((
                at("tag"),
                format!(
                    "'{}' is not a tag; write key=value (like env=prod) or key",
                    crate::sanitize::one_line(&tag)
                ),
            ));
        }
        if !WEIGHT.0.le(&r.points) || !r.points.le(&WEIGHT.1) {
            return Err((
                at("points"),
                format!("{} is out of range -100..=100", r.points),
            ));
        }
        let label = r.label.trim().to_string();
        if label.is_empty() || crate::sanitize::clean(&label).1.any() {
            return Err((
                at("label"),
                "say what the tag means in a few plain words (like \"production\")".into(),
            ));
        }
        tag_rules.push(TagRule {
            tag,
            points: r.points as i32,
            label,
        });
    }
    Ok(ScoringConfig {
        severity,
        internet_facing: w(
            "internet_facing",
            user.internet_facing,
            defaults.internet_facing,
        )?,
        kev: w("kev", user.kev, defaults.kev)?,
        kev_ransomware: w(
            "kev_ransomware",
            user.kev_ransomware,
            defaults.kev_ransomware,
        )?,
        epss: w("epss", user.epss, defaults.epss)?,
        cvss: w("cvss", user.cvss, defaults.cvss)?,
        privilege: w("privilege", user.privilege, defaults.privilege)?,
        sensitive_data: w(
            "sensitive_data",
            user.sensitive_data,
            defaults.sensitive_data,
        )?,
        runtime: w("runtime", user.runtime, defaults.runtime)?,
        compliance: w("compliance", user.compliance, defaults.compliance)?,
        compliance_frameworks: frameworks
            .into_iter()
            .map(|f| f.trim().to_string())
            .collect(),
        sla: w("sla", user.sla, defaults.sla)?,
        sla_days,
        path_step: points(
            "[scoring] path_step",
            user.path_step,
            defaults.path_step,
            (0, 100),
        )?,
        tag_rules,
    })
}

fn url_ok(u: &str) -> bool {
    u.starts_with("https://")
        || u.starts_with("http://127.")
        || u.starts_with("http://localhost")
        || u.starts_with("http://[::1]")
}

pub(super) fn resolve_intel(user: RawIntel, defaults: RawIntel) -> Result<IntelConfig, KeyErr> {
    let pick = |key: &str, u: Option<String>, d: Option<String>| -> Result<String, KeyErr> {
        let v = u.or(d).unwrap_or_default().trim().to_string();
        if !url_ok(&v) {
            return Err((
                format!("[intel] {key}"),
                format!(
                    "'{}' must be an https:// URL (plain http only for loopback)",
                    crate::sanitize::one_line(&v)
                ),
            ));
        }
        Ok(v)
    };
    Ok(IntelConfig {
        kev_url: pick("kev_url", user.kev_url, defaults.kev_url)?,
        epss_url: pick("epss_url", user.epss_url, defaults.epss_url)?,
    })
}
