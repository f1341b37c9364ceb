//! Vulnerable packages and base images: bump to the fixed version the finding names.

use super::{Ctx, Generator, GeneratorInfo, fixpoint_lines};
use crate::domain::Category;
use crate::highlight::Lang;
use crate::remediate::docker::{self, from_image, instructions, line_mentions, split_image};
use crate::remediate::iac::SourceFile;
use crate::remediate::shell::quote;
use crate::remediate::{Form, Tool};

pub(crate) static VULNERABLE_PACKAGE: Generator = Generator {
    info: GeneratorInfo {
        id: "vulnerable-package",
        finding: "vulnerable package or container base image with a fixed version named by the finding",
        fix: "bump the pinned version (Dockerfile ENV/ARG/pins, FROM tag, Kubernetes image tag) to the fixed version; an unpinned apt/apk/pip/npm install gets an upgrade step that fails the build below the fixed version",
        forms: &[
            "Dockerfile diff",
            "Kubernetes YAML diff",
            "Dockerfile snippet",
        ],
    },
    matches,
    langs: &[Lang::Dockerfile, Lang::Yaml],
    account_types: &[],
    edit,
    snippets,
    cli,
};

/// `(package, installed version, fixed version)` for every CVE that names all three (the
/// installed version may be unknown).
fn fixes(cx: &Ctx<'_>) -> Vec<(String, Option<String>, String)> {
    let mut out: Vec<(String, Option<String>, String)> = Vec::new();
    for c in &cx.alert.cves {
        let (Some(p), Some(f)) = (&c.package, &c.fixed_version) else {
            continue;
        };
        let p = crate::sanitize::one_line(p);
        // "2.17.1, 2.12.4" or "fixed in 2.17.1": take the first version-looking word.
        let Some(f) = crate::sanitize::one_line(f)
            .split([',', ' ', ';'])
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map(str::to_string)
        else {
            continue;
        };
        let v = c.package_version.as_deref().map(crate::sanitize::one_line);
        if p.is_empty() || !safe_version(&f) || v.as_deref().is_some_and(|v| !safe_version(v)) {
            continue;
        }
        match out.iter_mut().find(|(q, _, _)| *q == p) {
            // Several CVEs on one package: the highest fixed version wins.
            Some(e) if version_lt(&e.2, &f) => e.2 = f,
            Some(_) => {}
            None => out.push((p, v, f)),
        }
    }
    out
}

/// Versions go into files and shell lines: letters, digits and `.-+~_:` only.
fn safe_version(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '~' | '_' | ':'))
}

/// `a < b`, comparing numeric segments as numbers.
pub(crate) fn version_lt(a: &str, b: &str) -> bool {
    let seg = |s: &str| -> Vec<(u64, String)> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|x| !x.is_empty())
            .map(|x| {
                let digits: String = x.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), x[digits.len()..].to_string())
            })
            .collect()
    };
    seg(a) < seg(b)
}

fn matches(cx: &Ctx<'_>) -> bool {
    (cx.alert.category == Category::Vulnerability || !cx.alert.cves.is_empty())
        && !fixes(cx).is_empty()
}

/// Replace the whole-token occurrence of `old` in `line` with `new`.
fn replace_token(line: &str, old: &str, new: &str) -> Option<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '.';
    let (i, _) = line.match_indices(old).find(|(i, _)| {
        let before = line[..*i].chars().next_back();
        let after = line[i + old.len()..].chars().next();
        !before.is_some_and(word)
            && !after.is_some_and(|c| {
                c.is_ascii_digit()
                    || c == '.'
                        && line[i + old.len() + 1..].starts_with(|d: char| d.is_ascii_digit())
            })
    })?;
    Some(format!("{}{}{}", &line[..i], new, &line[i + old.len()..]))
}

/// A pinned version right after the package name: `pkg=1.2`, `pkg==1.2`, `pkg@1.2`, `pkg:1.2`.
fn pinned_version<'l>(line: &'l str, package: &str) -> Option<&'l str> {
    let lower = line.to_ascii_lowercase();
    let p = package.to_ascii_lowercase();
    for (i, _) in lower.match_indices(&p) {
        let rest = &line[i + p.len()..];
        let v = rest
            .strip_prefix("==")
            .or_else(|| rest.strip_prefix('='))
            .or_else(|| rest.strip_prefix('@'))
            .or_else(|| rest.strip_prefix(':'))?;
        let end = v
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '~' | '_'))
            })
            .unwrap_or(v.len());
        if end > 0 && v.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(&v[..end]);
        }
    }
    None
}

fn upgrade_line(package: &str, fixed: &str, instr: &str) -> Option<String> {
    let p = quote(package);
    let l = instr.to_ascii_lowercase();
    if l.contains("apk add") {
        Some(format!(
            "RUN apk add --no-cache --upgrade {}",
            quote(&format!("{package}>={fixed}"))
        ))
    } else if l.contains("apt-get install") || l.contains("apt install") {
        Some(format!(
            "RUN apt-get update && apt-get install -y --only-upgrade {p} \\\n    && dpkg --compare-versions \"$(dpkg-query -W -f='${{Version}}' {p})\" ge {} \\\n    && rm -rf /var/lib/apt/lists/*",
            quote(fixed)
        ))
    } else if l.contains("pip install") || l.contains("pip3 install") {
        Some(format!(
            "RUN pip install --no-cache-dir {}",
            quote(&format!("{package}>={fixed}"))
        ))
    } else if l.contains("npm install") || l.contains("npm i ") {
        Some(format!(
            "RUN npm install {}",
            quote(&format!("{package}@{fixed}"))
        ))
    } else if l.contains("yum install")
        || l.contains("dnf install")
        || l.contains("microdnf install")
    {
        Some(format!("RUN yum upgrade -y {p} && rpm -q {p}"))
    } else {
        None
    }
}

fn docker_step(fixes: &[(String, Option<String>, String)], lines: &mut Vec<String>) -> bool {
    let text = lines.join("\n");
    let instrs = instructions(&text);
    for (p, v, f) in fixes {
        // 1. A pin or version variable on a line that names the package.
        for (s, e, _) in &instrs {
            for line in lines.iter_mut().take(*e + 1).skip(*s) {
                if !line_mentions(line, p) {
                    continue;
                }
                if let Some(v) = v
                    && let Some(new) = replace_token(line, v, f)
                {
                    *line = new;
                    return true;
                }
                if let Some(pin) = pinned_version(line, p)
                    && version_lt(pin, f)
                    && let Some(new) = replace_token(line, pin, &bump_tag(pin, None, f))
                {
                    *line = new;
                    return true;
                }
            }
        }
        // 2. A base image that is the package.
        for (s, _, instr) in &instrs {
            if let Some(img) = from_image(instr) {
                let (_, base, tag) = split_image(img);
                if docker::norm(base) == docker::norm(p)
                    && let Some(tag) = tag
                    && version_lt(tag, f)
                {
                    let new_tag = bump_tag(tag, v.as_deref(), f);
                    let new = lines[*s].replacen(&format!(":{tag}"), &format!(":{new_tag}"), 1);
                    if new != lines[*s] {
                        lines[*s] = new;
                        return true;
                    }
                }
            }
        }
        // 3. An unpinned install: add an upgrade step after it, once.
        let marker_present = lines.iter().any(|l| {
            l.contains(&format!("--only-upgrade {}", quote(p)))
                || l.contains(&quote(&format!("{p}>={f}")))
                || l.contains(&quote(&format!("{p}@{f}")))
                || l.contains(&format!("yum upgrade -y {}", quote(p)))
        });
        if !marker_present {
            for (_, e, instr) in instrs.iter().rev() {
                if line_mentions(instr, p)
                    && pinned_version(instr, p).is_none()
                    && let Some(up) = upgrade_line(p, f, instr)
                {
                    for (k, l) in up.split('\n').enumerate() {
                        lines.insert(e + 1 + k, l.to_string());
                    }
                    return true;
                }
            }
        }
    }
    false
}

/// The tag with its version part replaced by `fixed`, keeping a variant suffix
/// (`1.19-alpine` → `1.25.3-alpine`).
fn bump_tag(tag: &str, installed: Option<&str>, fixed: &str) -> String {
    if let Some(v) = installed
        && tag.contains(v)
    {
        return tag.replacen(v, fixed, 1);
    }
    let numeric = tag
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(tag.len());
    format!("{fixed}{}", &tag[numeric..])
}

fn yaml_step(
    cx: &Ctx<'_>,
    fixes: &[(String, Option<String>, String)],
    lines: &mut [String],
) -> bool {
    // Only in the documents that define the alert's workload.
    let docs: Vec<_> = crate::remediate::k8s::docs(lines)
        .into_iter()
        .filter(|d| crate::remediate::diff::mentions(&lines[d.start..=d.end].join("\n"), &cx.ident))
        .collect();
    for (p, v, f) in fixes {
        for (i, line) in lines.iter_mut().enumerate() {
            if !docs.iter().any(|d| d.start <= i && i <= d.end) {
                continue;
            }
            let t = line.trim_start().trim_start_matches("- ");
            let Some(img) = t.strip_prefix("image:") else {
                continue;
            };
            let img = img.trim().trim_matches(['"', '\'']);
            let (_, base, Some(tag)) = split_image(img) else {
                continue;
            };
            if docker::norm(base) == docker::norm(p) && version_lt(tag, f) {
                let new_tag = bump_tag(tag, v.as_deref(), f);
                *line = line.replacen(&format!(":{tag}"), &format!(":{new_tag}"), 1);
                return true;
            }
        }
    }
    false
}

fn edit(cx: &Ctx<'_>, file: &SourceFile) -> Option<(Form, String)> {
    let fx = fixes(cx);
    match file.lang {
        Lang::Dockerfile => {
            fixpoint_lines(&file.text, |l| docker_step(&fx, l)).map(|t| (Form::Dockerfile, t))
        }
        Lang::Yaml => {
            fixpoint_lines(&file.text, |l| yaml_step(cx, &fx, l)).map(|t| (Form::Kubernetes, t))
        }
        _ => None,
    }
}

fn snippets(cx: &Ctx<'_>) -> Vec<(Form, String)> {
    let mut s = String::from(
        "# Pin the fixed versions in the image's Dockerfile; use the line for its package manager.\n",
    );
    for (p, _, f) in fixes(cx) {
        s.push_str(&format!(
            "# {p} → {f}\nRUN apk add --no-cache --upgrade {}\n# or\nRUN apt-get update && apt-get install -y --only-upgrade {} \\\n    && dpkg --compare-versions \"$(dpkg-query -W -f='${{Version}}' {})\" ge {}\n",
            quote(&format!("{p}>={f}")),
            quote(&p),
            quote(&p),
            quote(&f)
        ));
    }
    vec![(Form::Dockerfile, s)]
}

fn cli(_cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    // A package bump is a rebuild, not a cloud API call: no CLI form.
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_lt("2.14.1", "2.17.1"));
        assert!(version_lt("1.9", "1.10"));
        assert!(!version_lt("3.0.7", "3.0.7"));
        assert!(version_lt("1.1.1k", "1.1.1l"));
    }

    #[test]
    fn dockerfile_pins_base_images_and_unpinned_installs() {
        let fx = vec![
            (
                "log4j-core".to_string(),
                Some("2.14.1".to_string()),
                "2.17.1".to_string(),
            ),
            ("nginx".to_string(), None, "1.25.3".to_string()),
            (
                "curl".to_string(),
                Some("8.3.0".to_string()),
                "8.4.0".to_string(),
            ),
        ];
        let text = "FROM nginx:1.19-alpine AS web\nENV LOG4J_CORE_VERSION=2.14.1\nRUN apk add --no-cache curl\n";
        let out = fixpoint_lines(text, |l| docker_step(&fx, l)).unwrap();
        assert_eq!(
            out,
            "FROM nginx:1.25.3-alpine AS web\nENV LOG4J_CORE_VERSION=2.17.1\nRUN apk add --no-cache curl\nRUN apk add --no-cache --upgrade 'curl>=8.4.0'\n"
        );
        assert!(fixpoint_lines(&out, |l| docker_step(&fx, l)).is_none());
    }
}
