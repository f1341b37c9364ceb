//! Line-level CloudFormation (JSON) editing: find the template's resources of a type that
//! define the alert's resource, set or add properties, and keep the template valid JSON (an
//! edit whose result does not parse is dropped).

use super::Ctx;
use crate::remediate::hcl;

/// One resource of a template: lines `start..=end`; `properties` is the `"Properties": {` line.
#[derive(Clone, Debug)]
pub(crate) struct CfnResource {
    pub start: usize,
    pub end: usize,
    pub properties: Option<usize>,
    pub body: serde_json::Value,
}

/// The resources of type `rtype` whose `name_key` property (e.g. `BucketName`) or logical id
/// is one of the alert's resource names.
pub(crate) fn own(cx: &Ctx<'_>, text: &str, rtype: &str, name_key: &str) -> Vec<CfnResource> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let Some(resources) = doc.get("Resources").and_then(|r| r.as_object()) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let depths = hcl::depths(text);
    let mut out = Vec::new();
    for (logical, r) in resources {
        if r.get("Type").and_then(|t| t.as_str()) != Some(rtype) {
            continue;
        }
        let named = r
            .pointer(&format!("/Properties/{name_key}"))
            .and_then(|n| n.as_str())
            .is_some_and(|n| cx.ident.is(n));
        if !named && !cx.ident.is(logical) {
            continue;
        }
        let key = format!("\"{logical}\"");
        let Some(start) =
            (0..lines.len()).find(|&i| depths[i] == 2 && lines[i].trim_start().starts_with(&key))
        else {
            continue;
        };
        let mut end = start;
        while end + 1 < lines.len() && depths.get(end + 1).is_some_and(|d| *d > 2) {
            end += 1;
        }
        let properties = (start..=end)
            .find(|&i| depths[i] == 3 && lines[i].trim_start().starts_with("\"Properties\""));
        out.push(CfnResource {
            start,
            end: end.min(lines.len() - 1),
            properties,
            body: r.clone(),
        });
    }
    out
}

/// Insert `"key": value` (value given as pretty JSON) as the first property of the resource.
/// `None` when the resource has no multi-line `Properties` object or the result is not JSON.
pub(crate) fn add_property(
    text: &str,
    res: &CfnResource,
    key: &str,
    value: &serde_json::Value,
) -> Option<String> {
    let p = res.properties?;
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if !lines[p].trim_end().ends_with('{') {
        return None;
    }
    let indent = lines
        .get(p + 1)
        .map(|l| hcl::indent(l).to_string())
        .unwrap_or_else(|| format!("{}  ", hcl::indent(&lines[p])));
    let step = indent
        .len()
        .saturating_sub(hcl::indent(&lines[p]).len())
        .max(1);
    let pretty = serde_json::to_string_pretty(value).ok()?;
    let unit = " ".repeat(step);
    let mut add: Vec<String> = Vec::new();
    for (k, l) in pretty.lines().enumerate() {
        // serde_json indents by two spaces: re-indent to the file's step.
        let lead = l.len() - l.trim_start().len();
        let body = format!("{}{}", unit.repeat(lead / 2), l.trim_start());
        add.push(if k == 0 {
            format!("{indent}\"{key}\": {body}")
        } else {
            format!("{indent}{body}")
        });
    }
    let empty = lines
        .get(p + 1)
        .is_some_and(|l| l.trim_start().starts_with('}'));
    if !empty && let Some(last) = add.last_mut() {
        last.push(',');
    }
    for (k, l) in add.into_iter().enumerate() {
        lines.insert(p + 1 + k, l);
    }
    let out = lines.join("\n");
    serde_json::from_str::<serde_json::Value>(&out).ok()?;
    Some(out)
}

/// Replace `"key": old` with `"key": new` on one line of the resource (scalars only).
pub(crate) fn set_scalar(
    text: &str,
    res: &CfnResource,
    key: &str,
    old: &str,
    new: &str,
) -> Option<String> {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let pat = format!("\"{key}\": {old}");
    let i = (res.start..=res.end).find(|&i| lines[i].contains(&pat))?;
    lines[i] = lines[i].replacen(&pat, &format!("\"{key}\": {new}"), 1);
    let out = lines.join("\n");
    serde_json::from_str::<serde_json::Value>(&out).ok()?;
    Some(out)
}
