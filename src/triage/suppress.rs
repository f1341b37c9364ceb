//! Suppressions (mute rules): alerts matching a rule leave the default queue until the rule
//! expires or is removed. Each rule is a filter-language expression (built from `--policy`,
//! `--resource`, `--account`, `--tag`, `--vendor`, or given whole), with a reason, an author
//! and an optional expiry. When a rule lapses, its alerts come back flagged as resurfaced,
//! showing the rule's reason.

use crate::domain::EpochMs;
use crate::triage::query;

/// What a rule matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Policy,
    Resource,
    Account,
    Tag,
    Vendor,
    Filter,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Policy => "policy",
            RuleKind::Resource => "resource",
            RuleKind::Account => "account",
            RuleKind::Tag => "tag",
            RuleKind::Vendor => "vendor",
            RuleKind::Filter => "filter",
        }
    }

    pub fn parse(s: &str) -> Option<RuleKind> {
        Some(match s {
            "policy" => RuleKind::Policy,
            "resource" => RuleKind::Resource,
            "account" => RuleKind::Account,
            "tag" => RuleKind::Tag,
            "vendor" => RuleKind::Vendor,
            "filter" => RuleKind::Filter,
            _ => return None,
        })
    }
}

/// A rule as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Suppression {
    pub id: i64,
    #[serde(serialize_with = "kind_ser")]
    pub kind: RuleKind,
    /// What the user gave (`pc-sg-22`, `env=dev`, a whole filter).
    pub value: String,
    /// The filter-language expression the rule applies.
    pub filter: String,
    pub reason: String,
    pub author: String,
    pub created_at: EpochMs,
    pub expires_at: Option<EpochMs>,
}

fn kind_ser<S: serde::Serializer>(k: &RuleKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

impl Suppression {
    pub fn is_active(&self, now_ms: EpochMs) -> bool {
        self.expires_at.is_none_or(|e| e > now_ms)
    }
}

/// A rule to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSuppression {
    pub kind: RuleKind,
    pub value: String,
    pub reason: String,
    pub author: String,
    pub created_at: EpochMs,
    pub expires_at: Option<EpochMs>,
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The filter expression for a rule, checked by the filter parser. Errors are one line.
pub fn rule_filter(kind: RuleKind, value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("--{}: the value is empty", kind.as_str()));
    }
    let filter = match kind {
        RuleKind::Policy => format!("policy:{}", quote(v)),
        RuleKind::Resource => format!("resource:{}", quote(v)),
        RuleKind::Account => format!("account:{}", quote(v)),
        RuleKind::Vendor => format!("vendor:{}", quote(v)),
        RuleKind::Tag => match v.split_once('=') {
            Some((k, val)) => format!("tag:{}={}", quote(k.trim()), quote(val.trim())),
            None => format!("tag:{}", quote(v)),
        },
        RuleKind::Filter => v.to_string(),
    };
    let q = query::parse(&filter).map_err(|e| format!("--{}: {e}", kind.as_str()))?;
    if q.is_empty() {
        return Err(format!(
            "--{}: the filter matches every alert",
            kind.as_str()
        ));
    }
    if q.constrains_status() {
        return Err(format!(
            "--{}: a suppression cannot depend on status: (it would mute and unmute itself)",
            kind.as_str()
        ));
    }
    Ok(filter)
}

/// Validate a new rule: a reason is required, the expiry must be in the future.
pub fn validate(new: &NewSuppression, now_ms: EpochMs) -> Result<String, String> {
    if new.reason.trim().is_empty() {
        return Err("--reason: say why these alerts are muted".into());
    }
    if let Some(e) = new.expires_at
        && e <= now_ms
    {
        return Err("--until: the expiry is in the past".into());
    }
    rule_filter(new.kind, &new.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_become_filters() {
        assert_eq!(
            rule_filter(RuleKind::Policy, "pc-sg-22").as_deref(),
            Ok("policy:\"pc-sg-22\"")
        );
        assert_eq!(
            rule_filter(RuleKind::Tag, "env = dev").as_deref(),
            Ok("tag:\"env\"=\"dev\"")
        );
        assert_eq!(
            rule_filter(RuleKind::Tag, "sandbox").as_deref(),
            Ok("tag:\"sandbox\"")
        );
        assert_eq!(
            rule_filter(RuleKind::Resource, "a \"b\"").as_deref(),
            Ok("resource:\"a \\\"b\\\"\"")
        );
        assert_eq!(
            rule_filter(RuleKind::Filter, "vendor:wiz sev:low").as_deref(),
            Ok("vendor:wiz sev:low")
        );
        assert_eq!(
            rule_filter(RuleKind::Filter, "status:new").expect_err("status"),
            "--filter: a suppression cannot depend on status: (it would mute and unmute itself)"
        );
        assert!(
            rule_filter(RuleKind::Vendor, "splunk")
                .expect_err("vendor")
                .starts_with("--vendor: ")
        );
        assert_eq!(
            rule_filter(RuleKind::Account, " ").expect_err("empty"),
            "--account: the value is empty"
        );
    }

    #[test]
    fn expiry_and_reason_are_checked() {
        let mut n = NewSuppression {
            kind: RuleKind::Vendor,
            value: "wiz".into(),
            reason: " ".into(),
            author: "a".into(),
            created_at: 10,
            expires_at: Some(5),
        };
        assert_eq!(
            validate(&n, 10).expect_err("reason"),
            "--reason: say why these alerts are muted"
        );
        n.reason = "noisy".into();
        assert_eq!(
            validate(&n, 10).expect_err("past"),
            "--until: the expiry is in the past"
        );
        n.expires_at = Some(20);
        assert!(validate(&n, 10).is_ok());
        let s = Suppression {
            id: 1,
            kind: n.kind,
            value: n.value.clone(),
            filter: "vendor:\"wiz\"".into(),
            reason: n.reason.clone(),
            author: n.author.clone(),
            created_at: 10,
            expires_at: Some(20),
        };
        assert!(s.is_active(19));
        assert!(!s.is_active(20));
    }
}
