//! Dockerfile reading: which packages a Dockerfile installs or pins, and its base images.

/// Normalize a package or variable name for comparison: lower case, `-`/`.` as `_`.
pub fn norm(s: &str) -> String {
    s.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// Does `line` mention `package` as a whole word (normalized)?
pub fn line_mentions(line: &str, package: &str) -> bool {
    let l = norm(line);
    let p = norm(package);
    if p.is_empty() {
        return false;
    }
    l.match_indices(&p).any(|(i, _)| {
        let before = l[..i].chars().next_back();
        let after = l[i + p.len()..].chars().next();
        let word = |c: char| c.is_ascii_alphanumeric();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Logical Dockerfile instructions: `(first line index, last line index, text joined)`,
/// backslash continuations folded.
pub fn instructions(text: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let mut joined = String::new();
        loop {
            let l = lines[i].trim_end();
            match l.strip_suffix('\\') {
                Some(rest) if i + 1 < lines.len() => {
                    joined.push_str(rest);
                    joined.push(' ');
                    i += 1;
                }
                _ => {
                    joined.push_str(l.strip_suffix('\\').unwrap_or(l));
                    break;
                }
            }
        }
        out.push((start, i, joined));
        i += 1;
    }
    out
}

/// Is this a `FROM` instruction? Returns the image reference.
pub fn from_image(instr: &str) -> Option<&str> {
    let t = instr.trim_start();
    let rest = t.get(..5).filter(|h| h.eq_ignore_ascii_case("FROM "))?;
    let _ = rest;
    t[5..].split_whitespace().find(|w| !w.starts_with("--"))
}

/// `repo/name:tag` → (`repo/name`, `name`, `tag`).
pub fn split_image(image: &str) -> (&str, &str, Option<&str>) {
    let (repo, tag) = match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], Some(&image[i + 1..])),
        _ => (image, None),
    };
    let repo = repo.split('@').next().unwrap_or(repo);
    let base = repo.rsplit('/').next().unwrap_or(repo);
    (repo, base, tag)
}

/// Does the Dockerfile install, pin or build from one of `packages`?
pub fn installs_any(text: &str, packages: &[String]) -> bool {
    instructions(text).iter().any(|(_, _, instr)| {
        packages.iter().any(|p| {
            line_mentions(instr, p)
                || from_image(instr).is_some_and(|img| norm(split_image(img).1) == norm(p))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_images() {
        assert!(line_mentions("ENV LOG4J_CORE_VERSION=2.14.1", "log4j-core"));
        assert!(line_mentions("RUN apk add curl=8.3.0-r0", "curl"));
        assert!(!line_mentions("RUN apk add libcurl", "curl"));
        assert_eq!(
            from_image("FROM --platform=linux/amd64 nginx:1.19 AS web"),
            Some("nginx:1.19")
        );
        assert_eq!(
            split_image("registry:5000/team/nginx:1.19"),
            ("registry:5000/team/nginx", "nginx", Some("1.19"))
        );
        assert_eq!(split_image("alpine"), ("alpine", "alpine", None));
        let text =
            "FROM debian:12\nRUN apt-get update && \\\n    apt-get install -y \\\n      curl\n";
        let ins = instructions(text);
        assert_eq!(ins.len(), 2);
        assert_eq!((ins[1].0, ins[1].1), (1, 3));
        assert!(installs_any(text, &["curl".into()]));
        assert!(!installs_any(text, &["openssl".into()]));
    }
}
