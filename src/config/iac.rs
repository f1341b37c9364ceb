//! `[[iac]]` tables: local checkouts of infrastructure-as-code repositories and the accounts,
//! projects or tags whose findings they define.
//!
//! ```toml
//! [[iac]]
//! path = "~/src/infra"            # a local checkout (relative paths: to the config file)
//! accounts = ["123456789012"]     # AWS accounts, Azure subscriptions, GCP projects, k8s clusters
//! projects = ["payments-prod"]    # GCP project ids (same matching as accounts)
//! tags = ["team=payments"]        # resource tags, key=value
//! ```
//!
//! A table with no `accounts`, `projects` or `tags` maps every finding.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIac {
    path: Option<String>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    // Pull requests (`sitrep pr`, config/pr.rs).
    forge: Option<String>,
    repo: Option<String>,
    api_url: Option<String>,
    remote: Option<String>,
    base: Option<String>,
}

/// One mapped IaC checkout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IacRepo {
    /// The checkout's root directory (absolute, `~` expanded).
    pub path: PathBuf,
    pub accounts: Vec<String>,
    pub projects: Vec<String>,
    /// `(key, value)` pairs.
    pub tags: Vec<(String, String)>,
    /// Where pull requests for fixes in this checkout go (`forge`, `repo`, …).
    pub pr: super::pr::CheckoutPr,
}

impl IacRepo {
    /// Does this checkout hold the definitions of resources in `account` with `tags`?
    pub fn maps(
        &self,
        account: Option<&str>,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        if self.accounts.is_empty() && self.projects.is_empty() && self.tags.is_empty() {
            return true;
        }
        let by_account =
            account.is_some_and(|a| self.accounts.iter().chain(&self.projects).any(|x| x == a));
        let by_tag = self
            .tags
            .iter()
            .any(|(k, v)| tags.get(k).is_some_and(|tv| tv == v));
        by_account || by_tag
    }
}

/// Every `[[iac]]` table, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IacConfig {
    pub repos: Vec<IacRepo>,
}

impl IacConfig {
    /// One checkout that maps everything (tests, `--iac PATH`-style use).
    pub fn single(path: impl Into<PathBuf>) -> IacConfig {
        IacConfig {
            repos: vec![IacRepo {
                path: path.into(),
                ..IacRepo::default()
            }],
        }
    }
}

/// Resolve the raw tables; errors are `(key, message)` for the caller to wrap.
pub(crate) fn resolve(
    raw: Vec<RawIac>,
    config_file: Option<&Path>,
    home: Option<&Path>,
) -> Result<IacConfig, (String, String)> {
    let mut repos = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("[[iac]] #{} {k}", i + 1);
        let path_text = r.path.ok_or_else(|| {
            (
                key("path"),
                "missing; the local checkout's directory".to_string(),
            )
        })?;
        let path_text = path_text.trim();
        if path_text.is_empty() {
            return Err((key("path"), "is empty".to_string()));
        }
        let path = if let Some(rest) =
            path_text
                .strip_prefix("~/")
                .or(if path_text == "~" { Some("") } else { None })
        {
            let home = home.ok_or_else(|| {
                (
                    key("path"),
                    format!(
                        "'{}' starts with ~ but no home directory is known",
                        crate::sanitize::one_line(path_text)
                    ),
                )
            })?;
            home.join(rest)
        } else {
            let p = PathBuf::from(path_text);
            match config_file.and_then(Path::parent) {
                Some(dir) if p.is_relative() => dir.join(p),
                _ => p,
            }
        };
        let clean_list =
            |field: &str, list: Vec<String>| -> Result<Vec<String>, (String, String)> {
                list.into_iter()
                    .map(|s| {
                        let t = s.trim().to_string();
                        if t.is_empty() {
                            Err((key(field), "holds an empty string".to_string()))
                        } else {
                            Ok(t)
                        }
                    })
                    .collect()
            };
        let accounts = clean_list("accounts", r.accounts)?;
        let projects = clean_list("projects", r.projects)?;
        let mut tags = Vec::new();
        for t in clean_list("tags", r.tags)? {
            match t.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    tags.push((k.trim().to_string(), v.trim().to_string()));
                }
                _ => {
                    return Err((
                        key("tags"),
                        format!("'{}' is not key=value", crate::sanitize::one_line(&t)),
                    ));
                }
            }
        }
        let pr = super::pr::resolve_checkout(&key, r.forge, r.repo, r.api_url, r.remote, r.base)?;
        repos.push(IacRepo {
            path,
            accounts,
            projects,
            tags,
            pr,
        });
    }
    Ok(IacConfig { repos })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn raw(toml_text: &str) -> Vec<RawIac> {
        #[derive(Deserialize)]
        struct F {
            iac: Vec<RawIac>,
        }
        toml::from_str::<F>(toml_text).unwrap().iac
    }

    #[test]
    fn paths_expand_and_resolve() {
        let r = resolve(
            raw("[[iac]]\npath = \"~/src/infra\"\naccounts = [\"1\"]\n[[iac]]\npath = \"rel/k8s\"\ntags = [\"team = payments\"]\n"),
            Some(Path::new("/etc/sitrep/config.toml")),
            Some(Path::new("/home/a")),
        )
        .unwrap();
        assert_eq!(r.repos[0].path, PathBuf::from("/home/a/src/infra"));
        assert_eq!(r.repos[1].path, PathBuf::from("/etc/sitrep/rel/k8s"));
        assert_eq!(r.repos[1].tags, vec![("team".into(), "payments".into())]);
    }

    #[test]
    fn errors_name_the_key() {
        let e = resolve(raw("[[iac]]\naccounts = [\"1\"]\n"), None, None).unwrap_err();
        assert_eq!(e.0, "[[iac]] #1 path");
        let e = resolve(
            raw("[[iac]]\npath = \"/x\"\n[[iac]]\npath = \"/y\"\ntags = [\"nokey\"]\n"),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ("[[iac]] #2 tags".into(), "'nokey' is not key=value".into())
        );
        let e = resolve(raw("[[iac]]\npath = \"~/x\"\n"), None, None).unwrap_err();
        assert_eq!(e.0, "[[iac]] #1 path");
    }

    #[test]
    fn mapping_by_account_project_or_tag() {
        let mut tags = BTreeMap::new();
        tags.insert("team".to_string(), "payments".to_string());
        let repo = IacRepo {
            path: "/x".into(),
            accounts: vec!["111".into()],
            projects: vec!["proj-1".into()],
            tags: vec![("team".into(), "payments".into())],
            ..IacRepo::default()
        };
        assert!(repo.maps(Some("111"), &BTreeMap::new()));
        assert!(repo.maps(Some("proj-1"), &BTreeMap::new()));
        assert!(repo.maps(Some("999"), &tags));
        assert!(!repo.maps(Some("999"), &BTreeMap::new()));
        assert!(IacConfig::single("/y").repos[0].maps(None, &BTreeMap::new()));
    }
}
