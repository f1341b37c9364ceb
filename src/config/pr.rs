//! `[pr]`: where `sitrep pr` pushes an approved fix and opens its pull / merge request
//! (docs/workflows.md, "Pull requests").
//!
//! ```toml
//! [pr]
//! remote = "origin"                    # the checkout's git remote to push to
//! base = "main"                        # the branch the request targets
//! timeout = "20s"
//! [pr.github]
//! api_url = "https://api.github.com"   # GitHub Enterprise: https://HOST/api/v3
//! token = { env = "GITHUB_TOKEN" }
//! [pr.gitlab]
//! api_url = "https://gitlab.com"       # the instance; /api/v4 is added
//! token = { env = "GITLAB_TOKEN" }
//!
//! [[iac]]
//! path = "~/src/infra"
//! forge = "github"                     # github | gitlab
//! repo = "acme/infra"                  # GitHub owner/name; GitLab project path or numeric id
//! base = "main"                        # optional, overrides [pr] base
//! remote = "origin"                    # optional, overrides [pr] remote
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::vault::{CredentialRef, RawCredential};

/// A code forge sitrep opens requests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forge {
    GitHub,
    GitLab,
}

impl Forge {
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
        }
    }

    pub fn parse(s: &str) -> Option<Forge> {
        match s.trim().to_ascii_lowercase().as_str() {
            "github" => Some(Forge::GitHub),
            "gitlab" => Some(Forge::GitLab),
            _ => None,
        }
    }
}

/// One forge's API: its base URL (no trailing slash) and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeApi {
    pub api_url: String,
    pub token: CredentialRef,
}

/// The resolved `[pr]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrConfig {
    pub remote: String,
    pub base: String,
    pub timeout: Duration,
    pub github: Option<ForgeApi>,
    pub gitlab: Option<ForgeApi>,
}

impl Default for PrConfig {
    fn default() -> PrConfig {
        PrConfig {
            remote: "origin".into(),
            base: "main".into(),
            timeout: super::tickets::TIMEOUT,
            github: None,
            gitlab: None,
        }
    }
}

/// What an `[[iac]]` table says about its pull requests (all optional but `forge` + `repo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckoutPr {
    pub forge: Option<Forge>,
    pub repo: Option<String>,
    pub api_url: Option<String>,
    pub remote: Option<String>,
    pub base: Option<String>,
}

/// Everything one pull request needs, from `[pr]` and the checkout's `[[iac]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrTarget {
    pub forge: Forge,
    pub api_url: String,
    pub repo: String,
    pub token: CredentialRef,
    pub remote: String,
    pub base: String,
    pub timeout: Duration,
}

impl PrConfig {
    /// The target of a checkout, or why it has none (a sentence for the analyst).
    pub fn target(&self, checkout: &CheckoutPr, path: &Path) -> Result<PrTarget, String> {
        let shown = crate::sanitize::one_line(&path.display().to_string());
        let (Some(forge), Some(repo)) = (checkout.forge, checkout.repo.clone()) else {
            return Err(format!(
                "the [[iac]] table of {shown} names no forge and repo (forge = \"github\" | \"gitlab\", repo = \"owner/name\"); docs/workflows.md"
            ));
        };
        let api = match forge {
            Forge::GitHub => self.github.as_ref(),
            Forge::GitLab => self.gitlab.as_ref(),
        }
        .ok_or_else(|| {
            format!(
                "[pr.{}] is not configured (its token); docs/workflows.md",
                forge.as_str()
            )
        })?;
        Ok(PrTarget {
            forge,
            api_url: checkout
                .api_url
                .clone()
                .unwrap_or_else(|| api.api_url.clone()),
            repo,
            token: api.token.clone(),
            remote: checkout
                .remote
                .clone()
                .unwrap_or_else(|| self.remote.clone()),
            base: checkout.base.clone().unwrap_or_else(|| self.base.clone()),
            timeout: self.timeout,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPr {
    remote: Option<String>,
    base: Option<String>,
    timeout: Option<String>,
    github: Option<RawForge>,
    gitlab: Option<RawForge>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForge {
    api_url: Option<String>,
    token: Option<RawCredential>,
}

type KeyErr = (String, String);

/// A branch or remote name git would take (no options, no spaces, no control characters).
fn git_name(key: String, v: &str) -> Result<String, KeyErr> {
    let v = v.trim();
    if v.is_empty()
        || v.starts_with('-')
        || v.contains("..")
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
    {
        return Err((
            key,
            format!(
                "'{}' is not a git branch or remote name",
                crate::sanitize::one_line(v)
            ),
        ));
    }
    Ok(v.to_string())
}

/// Validate `[pr]`. Errors are `(key, message)`.
pub(super) fn resolve(r: RawPr, file_private: bool, path: &Path) -> Result<PrConfig, KeyErr> {
    let d = PrConfig::default();
    let forge = |name: &str, raw: Option<RawForge>, default_url: &str| match raw {
        None => Ok::<_, KeyErr>(None),
        Some(f) => {
            let at = |k: &str| format!("[pr.{name}] {k}");
            Ok(Some(ForgeApi {
                api_url: super::tickets::base_url(
                    at("api_url"),
                    f.api_url.or_else(|| Some(default_url.to_string())),
                )?,
                token: super::tickets::credential(at("token"), f.token, file_private, path)?,
            }))
        }
    };
    Ok(PrConfig {
        remote: match r.remote {
            Some(v) => git_name("[pr] remote".into(), &v)?,
            None => d.remote,
        },
        base: match r.base {
            Some(v) => git_name("[pr] base".into(), &v)?,
            None => d.base,
        },
        timeout: super::tickets::timeout("[pr] timeout".into(), r.timeout)?,
        github: forge("github", r.github, "https://api.github.com")?,
        gitlab: forge("gitlab", r.gitlab, "https://gitlab.com")?,
    })
}

/// Validate an `[[iac]]` table's pull-request keys (`key` names the table).
pub(super) fn resolve_checkout(
    key: &dyn Fn(&str) -> String,
    forge: Option<String>,
    repo: Option<String>,
    api_url: Option<String>,
    remote: Option<String>,
    base: Option<String>,
) -> Result<CheckoutPr, KeyErr> {
    let forge = match forge {
        None => None,
        Some(f) => Some(Forge::parse(&f).ok_or_else(|| {
            (
                key("forge"),
                format!(
                    "unknown forge '{}'; expected github or gitlab",
                    crate::sanitize::one_line(&f)
                ),
            )
        })?),
    };
    let repo = repo.map(|r| r.trim().to_string());
    if let Some(r) = &repo {
        let ok = !r.is_empty()
            && !r.starts_with('/')
            && !r.ends_with('/')
            && !r.contains("..")
            && r.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        let github_shape = r.matches('/').count() == 1;
        if !ok || (forge == Some(Forge::GitHub) && !github_shape) {
            return Err((
                key("repo"),
                format!(
                    "'{}' is not a repository (GitHub owner/name, GitLab group/project or id)",
                    crate::sanitize::one_line(r)
                ),
            ));
        }
    }
    if forge.is_some() != repo.is_some() {
        return Err((
            key(if forge.is_some() { "repo" } else { "forge" }),
            "forge and repo go together (the pull requests' forge and repository)".into(),
        ));
    }
    let api_url = match api_url {
        None => None,
        Some(u) => Some(super::tickets::base_url(key("api_url"), Some(u))?),
    };
    Ok(CheckoutPr {
        forge,
        repo,
        api_url,
        remote: remote.map(|v| git_name(key("remote"), &v)).transpose()?,
        base: base.map(|v| git_name(key("base"), &v)).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_keys_are_checked() {
        let key = |k: &str| format!("[[iac]] #1 {k}");
        let ok = resolve_checkout(
            &key,
            Some("github".into()),
            Some("acme/infra".into()),
            None,
            None,
            Some("trunk".into()),
        )
        .expect("ok");
        assert_eq!(ok.forge, Some(Forge::GitHub));
        let e = resolve_checkout(&key, Some("bitbucket".into()), None, None, None, None)
            .expect_err("bad forge");
        assert_eq!(e.0, "[[iac]] #1 forge");
        let e = resolve_checkout(
            &key,
            Some("github".into()),
            Some("a/b/c".into()),
            None,
            None,
            None,
        )
        .expect_err("bad repo");
        assert_eq!(e.0, "[[iac]] #1 repo");
        let e = resolve_checkout(&key, None, Some("a/b".into()), None, None, None)
            .expect_err("forge missing");
        assert_eq!(e.0, "[[iac]] #1 forge");
        let e = resolve_checkout(
            &key,
            Some("gitlab".into()),
            Some("g/p".into()),
            None,
            Some("-x".into()),
            None,
        )
        .expect_err("bad remote");
        assert_eq!(e.0, "[[iac]] #1 remote");
    }
}
