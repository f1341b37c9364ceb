//! Who owns an alert: a team named by the resource's own tags, or by a CMDB export that maps
//! accounts (projects, subscriptions) and tags to teams (docs/owners.md).
//!
//! Precedence, first match wins: the resource's tags in `[owners] tag_keys` order (the people
//! who tagged the resource said who owns it), then the CMDB's tag rows in file order, then the
//! CMDB's account rows. Team names are compared and stored lower-case, one line, so a tag
//! `Team=Payments` and a route `owner = "payments"` meet.

use std::collections::BTreeMap;

use sha2::Digest;

/// Longest team name kept (longer ones are cut: they come from vendor tags).
pub const TEAM_MAX: usize = 64;

/// One CMDB row that names a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdbMatch {
    /// The alert's account: an AWS account id, an Azure subscription, a GCP project.
    Account(String),
    /// A resource tag `key=value` (key case-insensitive, value exact after trimming).
    Tag { key: String, value: String },
}

/// Everything that decides an owner: the tag keys to read and the CMDB rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerRules {
    /// Lower-case tag keys, in order of precedence.
    pub tag_keys: Vec<String>,
    /// (what matches, team), in file order.
    pub cmdb: Vec<(CmdbMatch, String)>,
}

/// A team name as stored: one line, trimmed, lower-case, at most [`TEAM_MAX`] characters;
/// None when nothing is left.
pub fn normalize_team(s: &str) -> Option<String> {
    let t: String = crate::sanitize::one_line(s)
        .trim()
        .to_lowercase()
        .chars()
        .take(TEAM_MAX)
        .collect();
    let t = t.trim().to_string();
    (!t.is_empty()).then_some(t)
}

impl OwnerRules {
    /// No rules: no alert has an owner.
    pub fn is_empty(&self) -> bool {
        self.tag_keys.is_empty() && self.cmdb.is_empty()
    }

    /// The owning team of a resource with these tags in this account, and why.
    pub fn owner_of(
        &self,
        tags: &BTreeMap<String, String>,
        account: Option<&str>,
    ) -> Option<(String, String)> {
        let tag = |key: &str| {
            tags.iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
                .map(|(_, v)| v.trim())
        };
        for key in &self.tag_keys {
            if let Some(team) = tag(key).and_then(normalize_team) {
                return Some((team, format!("resource tag {key}")));
            }
        }
        for (m, team) in &self.cmdb {
            if let CmdbMatch::Tag { key, value } = m
                && tag(key) == Some(value.as_str())
            {
                return Some((team.clone(), format!("CMDB tag {key}={value}")));
            }
        }
        let account = account.map(str::trim).filter(|a| !a.is_empty())?;
        self.cmdb.iter().find_map(|(m, team)| match m {
            CmdbMatch::Account(a) if a.eq_ignore_ascii_case(account) => {
                Some((team.clone(), format!("CMDB account {a}")))
            }
            _ => None,
        })
    }

    /// Changes whenever any rule does: the store recomputes every owner when it differs
    /// from the one its owners were computed with.
    pub fn fingerprint(&self) -> String {
        let mut h = sha2::Sha256::new();
        for k in &self.tag_keys {
            h.update(b"k\0");
            h.update(k.as_bytes());
            h.update(b"\0");
        }
        for (m, team) in &self.cmdb {
            match m {
                CmdbMatch::Account(a) => {
                    h.update(b"a\0");
                    h.update(a.as_bytes());
                }
                CmdbMatch::Tag { key, value } => {
                    h.update(b"t\0");
                    h.update(key.as_bytes());
                    h.update(b"\0");
                    h.update(value.as_bytes());
                }
            }
            h.update(b"\0");
            h.update(team.as_bytes());
            h.update(b"\0");
        }
        h.finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_in_order_then_cmdb_tags_then_accounts() {
        let rules = OwnerRules {
            tag_keys: vec!["owner".into(), "team".into()],
            cmdb: vec![
                (CmdbMatch::Account("111".into()), "platform".into()),
                (
                    CmdbMatch::Tag {
                        key: "app".into(),
                        value: "checkout".into(),
                    },
                    "payments".into(),
                ),
            ],
        };
        let t = tags(&[
            ("Team", "Data Eng"),
            ("OWNER", " Payments "),
            ("app", "checkout"),
        ]);
        assert_eq!(
            rules.owner_of(&t, Some("111")),
            Some(("payments".into(), "resource tag owner".into()))
        );
        let t = tags(&[("team", "Data Eng"), ("owner", "  ")]);
        assert_eq!(rules.owner_of(&t, Some("111")).unwrap().0, "data eng");
        let t = tags(&[("app", "checkout")]);
        assert_eq!(
            rules.owner_of(&t, Some("111")),
            Some(("payments".into(), "CMDB tag app=checkout".into()))
        );
        assert_eq!(
            rules.owner_of(&tags(&[]), Some("111")),
            Some(("platform".into(), "CMDB account 111".into()))
        );
        assert_eq!(
            rules.owner_of(&tags(&[("app", "other")]), Some("222")),
            None
        );
        assert_eq!(rules.owner_of(&tags(&[]), None), None);
        assert!(OwnerRules::default().is_empty());
        assert_ne!(rules.fingerprint(), OwnerRules::default().fingerprint());
    }

    #[test]
    fn team_names_are_one_clean_line() {
        assert_eq!(
            normalize_team(" Pay\u{1b}[31mments\n"),
            Some("payments".into())
        );
        assert_eq!(normalize_team(" \t"), None);
        assert_eq!(normalize_team(&"x".repeat(100)).unwrap().len(), TEAM_MAX);
    }
}
