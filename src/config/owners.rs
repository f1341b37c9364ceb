//! `[owners]` (which tags and which CMDB export name an alert's team) and `[[route]]` (where a
//! team's tickets and notifications go). docs/owners.md has the rules and the file formats.
//!
//! ```toml
//! [owners]
//! tag_keys = ["owner", "team"]
//! cmdb = "cmdb.csv"            # relative to this file; CSV or JSON
//!
//! [[route]]
//! owner = "payments"
//! slack_channel = "#payments-sec"
//! jira_project = "PAY"
//! jira_component = "Security"
//! servicenow_group = "Payments Ops"
//! ```
//!
//! The CMDB export is read when the config is loaded (a local file: nothing blocks), so a bad
//! row is a config error naming the file and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::triage::owner::{CmdbMatch, OwnerRules, normalize_team};

/// The biggest CMDB export read.
const CMDB_MAX_BYTES: u64 = 32 * 1024 * 1024;

/// The resolved `[owners]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnersConfig {
    pub rules: OwnerRules,
    /// The CMDB export the rules were read from.
    pub cmdb: Option<PathBuf>,
}

/// One `[[route]]`: where tickets and notifications about a team's alerts go. It travels in
/// the outbox row, so the route a delivery took is on record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicenow_group: Option<String>,
}

/// The route for a team, if one is configured.
pub fn route_for<'a>(routes: &'a [Route], owner: &str) -> Option<&'a Route> {
    let owner = normalize_team(owner)?;
    routes.iter().find(|r| r.owner == owner)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOwners {
    tag_keys: Option<Vec<String>>,
    cmdb: Option<String>,
}

impl RawOwners {
    /// The user's keys over the defaults'.
    pub(super) fn over(self, d: RawOwners) -> RawOwners {
        RawOwners {
            tag_keys: self.tag_keys.or(d.tag_keys),
            cmdb: self.cmdb.or(d.cmdb),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    owner: String,
    slack_channel: Option<String>,
    jira_project: Option<String>,
    jira_component: Option<String>,
    servicenow_group: Option<String>,
}

type KeyErr = (String, String);

/// Validate `[owners]`, reading the CMDB export. `config_path`: relative CMDB paths are
/// resolved against its directory.
pub(super) fn resolve(r: RawOwners, config_path: Option<&Path>) -> Result<OwnersConfig, KeyErr> {
    let mut tag_keys = Vec::new();
    for k in r.tag_keys.unwrap_or_default() {
        let key = k.trim().to_lowercase();
        if key.is_empty() || key.chars().any(char::is_control) || key.contains('=') {
            return Err((
                "[owners] tag_keys".into(),
                format!("'{}' is not a tag key", crate::sanitize::one_line(&k)),
            ));
        }
        if !tag_keys.contains(&key) {
            tag_keys.push(key);
        }
    }
    let cmdb = r.cmdb.map(|c| {
        let p = PathBuf::from(c.trim());
        match config_path.and_then(Path::parent) {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p,
        }
    });
    let rows = match &cmdb {
        None => Vec::new(),
        Some(p) => read_cmdb(p).map_err(|e| ("[owners] cmdb".to_string(), e))?,
    };
    Ok(OwnersConfig {
        rules: OwnerRules {
            tag_keys,
            cmdb: rows,
        },
        cmdb,
    })
}

/// Validate `[[route]]` tables.
pub(super) fn resolve_routes(raw: Vec<RawRoute>) -> Result<Vec<Route>, KeyErr> {
    let mut out: Vec<Route> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = |k: &str| format!("[[route]] #{} {k}", i + 1);
        let owner = normalize_team(&r.owner)
            .ok_or_else(|| (at("owner"), "must name a team".to_string()))?;
        if out.iter().any(|o| o.owner == owner) {
            return Err((at("owner"), format!("'{owner}' has two routes")));
        }
        let text = |k: &str, v: Option<String>, max: usize| -> Result<Option<String>, KeyErr> {
            match v {
                None => Ok(None),
                Some(s) => {
                    let t = s.trim();
                    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
                        return Err((at(k), format!("must be 1 to {max} characters on one line")));
                    }
                    Ok(Some(t.to_string()))
                }
            }
        };
        let slack_channel = text("slack_channel", r.slack_channel, 80)?;
        if let Some(c) = &slack_channel {
            let name_ok = c.strip_prefix('#').is_some_and(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
            });
            let id_ok = c.len() >= 9
                && c.starts_with(['C', 'G'])
                && c.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if !name_ok && !id_ok {
                return Err((
                    at("slack_channel"),
                    format!(
                        "'{}' is not a channel: write #name (lower-case) or a channel id such as C0123ABCD",
                        crate::sanitize::one_line(c)
                    ),
                ));
            }
        }
        let jira_project = text("jira_project", r.jira_project, 20)?;
        if let Some(p) = &jira_project {
            let ok = p.starts_with(|c: char| c.is_ascii_uppercase())
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err((
                    at("jira_project"),
                    format!(
                        "'{}' is not a Jira project key (upper-case letters, digits, _)",
                        crate::sanitize::one_line(p)
                    ),
                ));
            }
        }
        let jira_component = text("jira_component", r.jira_component, 255)?;
        let servicenow_group = text("servicenow_group", r.servicenow_group, 80)?;
        if slack_channel.is_none()
            && jira_project.is_none()
            && jira_component.is_none()
            && servicenow_group.is_none()
        {
            return Err((
                at("owner"),
                format!(
                    "route for '{owner}' sends nowhere: give slack_channel, jira_project, jira_component or servicenow_group"
                ),
            ));
        }
        out.push(Route {
            owner,
            slack_channel,
            jira_project,
            jira_component,
            servicenow_group,
        });
    }
    Ok(out)
}

/// Read a CMDB export: CSV with a `kind,match,team` header, or JSON (by extension `.json`, or
/// a first character `[` / `{`). Errors name the file and the row.
pub fn read_cmdb(path: &Path) -> Result<Vec<(CmdbMatch, String)>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if meta.len() > CMDB_MAX_BYTES {
        return Err(format!(
            "{shown} is larger than {} MiB",
            CMDB_MAX_BYTES / 1024 / 1024
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let text = text.trim_start_matches('\u{feff}');
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with(['[', '{']);
    if json {
        cmdb_json(text).map_err(|e| format!("{shown}: {e}"))
    } else {
        cmdb_csv(text).map_err(|e| format!("{shown}: {e}"))
    }
}

/// One row: `kind` (account, project, subscription, tag), `what` (an id, or `key=value`).
fn cmdb_row(kind: &str, what: &str, team: &str) -> Result<(CmdbMatch, String), String> {
    let one = crate::sanitize::one_line;
    let team = normalize_team(team).ok_or_else(|| "the team is empty".to_string())?;
    let what = what.trim();
    if what.is_empty() || what.chars().any(char::is_control) {
        return Err("the match is empty or has control characters".into());
    }
    let m = match kind.trim().to_ascii_lowercase().as_str() {
        // Sitrep keeps GCP projects and Azure subscriptions as the alert's account.
        "account" | "project" | "subscription" => CmdbMatch::Account(what.to_string()),
        "tag" => {
            let Some((k, v)) = what.split_once('=') else {
                return Err(format!("tag match '{}' must be key=value", one(what)));
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() || v.is_empty() {
                return Err(format!("tag match '{}' must be key=value", one(what)));
            }
            CmdbMatch::Tag {
                key: k.to_lowercase(),
                value: v.to_string(),
            }
        }
        other => {
            return Err(format!(
                "unknown kind '{}' (account, project, subscription, tag)",
                one(other)
            ));
        }
    };
    Ok((m, team))
}

/// RFC 4180 fields of one record (quoted fields may hold commas and doubled quotes; a record
/// spans lines only inside quotes, which a CMDB mapping never needs, so that is refused).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed on its line".into());
    }
    out.push(cur);
    Ok(out)
}

fn cmdb_csv(text: &str) -> Result<Vec<(CmdbMatch, String)>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hn, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<String> = csv_fields(header)
        .map_err(|e| format!("line {}: {e}", hn + 1))?
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| cols.iter().position(|c| c == name);
    let (Some(kind), Some(what), Some(team)) = (col("kind"), col("match"), col("team")) else {
        return Err(format!(
            "line {}: the header must name the columns kind, match and team",
            hn + 1
        ));
    };
    let mut out = Vec::new();
    for (n, line) in lines {
        let f = csv_fields(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let get = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
        out.push(
            cmdb_row(get(kind), get(what), get(team))
                .map_err(|e| format!("line {}: {e}", n + 1))?,
        );
    }
    Ok(out)
}

fn cmdb_json(text: &str) -> Result<Vec<(CmdbMatch, String)>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = Vec::new();
    match v {
        // [{"kind": "account", "match": "111", "team": "payments"}, …]
        Value::Array(rows) => {
            for (i, r) in rows.iter().enumerate() {
                let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
                out.push(
                    cmdb_row(s("kind"), s("match"), s("team"))
                        .map_err(|e| format!("entry {}: {e}", i + 1))?,
                );
            }
        }
        // {"tags": {"app=checkout": "payments"}, "accounts": {"111": "platform"}, …}
        Value::Object(map) => {
            for (section, entries) in &map {
                let kind = match section.as_str() {
                    "accounts" => "account",
                    "projects" => "project",
                    "subscriptions" => "subscription",
                    "tags" => "tag",
                    other => {
                        return Err(format!(
                            "unknown section '{}' (accounts, projects, subscriptions, tags)",
                            crate::sanitize::one_line(other)
                        ));
                    }
                };
                let entries = entries
                    .as_object()
                    .ok_or_else(|| format!("{section} must map each match to a team"))?;
                for (what, team) in entries {
                    let team = team.as_str().ok_or_else(|| {
                        format!(
                            "{section}: the team for '{}' is not a string",
                            crate::sanitize::one_line(what)
                        )
                    })?;
                    out.push(cmdb_row(kind, what, team).map_err(|e| format!("{section}: {e}"))?);
                }
            }
        }
        _ => return Err("must be an array of {kind, match, team} or an object of sections".into()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_comments_and_any_column_order() {
        let rows = cmdb_csv(
            "# exported 2026-12-01\nteam,kind,match\n\"Payments, EU\",account,111111111111\nplatform,tag,\"app=ci\"\"d\"\n\n",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                (
                    CmdbMatch::Account("111111111111".into()),
                    "payments, eu".into()
                ),
                (
                    CmdbMatch::Tag {
                        key: "app".into(),
                        value: "ci\"d".into()
                    },
                    "platform".into()
                ),
            ]
        );
        assert_eq!(
            cmdb_csv("kind,match\naccount,1\n").unwrap_err(),
            "line 1: the header must name the columns kind, match and team"
        );
        assert_eq!(
            cmdb_csv("kind,match,team\nacct,1,x\n").unwrap_err(),
            "line 2: unknown kind 'acct' (account, project, subscription, tag)"
        );
        assert_eq!(
            cmdb_csv("kind,match,team\ntag,app,x\n").unwrap_err(),
            "line 2: tag match 'app' must be key=value"
        );
        assert_eq!(
            cmdb_csv("kind,match,team\naccount,1,\"x\n").unwrap_err(),
            "line 2: a quoted field is not closed on its line"
        );
    }

    #[test]
    fn json_as_rows_or_sections() {
        let a = cmdb_json(r#"[{"kind":"project","match":"proj-1","team":"Data"}]"#).unwrap();
        assert_eq!(
            a,
            vec![(CmdbMatch::Account("proj-1".into()), "data".into())]
        );
        let b = cmdb_json(r#"{"tags":{"app=checkout":"payments"},"accounts":{"1":"platform"}}"#)
            .unwrap();
        assert_eq!(b.len(), 2);
        assert!(
            cmdb_json(r#"{"teams":{}}"#)
                .unwrap_err()
                .starts_with("unknown section")
        );
        assert_eq!(
            cmdb_json(r#"[{"kind":"account","match":"1","team":""}]"#).unwrap_err(),
            "entry 1: the team is empty"
        );
    }
}
