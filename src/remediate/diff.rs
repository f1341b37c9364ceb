//! The unified diff model: generation, parsing, an in-process apply, `git apply --check`, and
//! the validation every diff goes through (ours and an LLM's alike).

use std::path::{Component, Path, PathBuf};

use super::Identity;
use super::hcl;
use crate::highlight::Lang;

/// One line of a hunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HunkLine {
    Context(String),
    Remove(String),
    Add(String),
}

/// One `@@ -a,b +c,d @@` hunk. `*_no_newline`: the last old/new line has no final newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<HunkLine>,
    pub old_no_newline: bool,
    pub new_no_newline: bool,
}

/// The changes to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePatch {
    /// The path relative to the checkout (`a/`/`b/` prefixes removed).
    pub path: String,
    pub hunks: Vec<Hunk>,
}

/// A diff that passed [`validate_in`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedDiff {
    pub text: String,
    /// The checkout it applies to.
    pub repo: PathBuf,
    /// The files it changes, relative to `repo`.
    pub files: Vec<PathBuf>,
    /// Whether `git apply --check` ran (git on PATH) and passed.
    pub git_checked: bool,
    pub sha256: String,
}

/// Why a diff was rejected. The message is shown to the analyst as is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiffRejected {
    #[error("not a unified diff: {0}")]
    Parse(String),
    #[error("the diff changes nothing")]
    Empty,
    #[error("path {0:?} is not a plain relative path inside the checkout")]
    UnsafePath(String),
    #[error("{0:?} is not a file in a checkout mapped to this alert")]
    PathNotFound(String),
    #[error("{0:?}: creating, deleting or renaming files is not allowed")]
    FileOperation(String),
    #[error("{path}: hunk {hunk} does not apply: {reason}")]
    DoesNotApply {
        path: String,
        hunk: usize,
        reason: String,
    },
    #[error("git apply --check rejected it: {0}")]
    Git(String),
    #[error("{path}: changes line {line}, which is outside the alert's resource ({reason})")]
    OutOfScope {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("no IaC checkout is mapped to this alert's account, project or tags")]
    NoCheckout,
}

/// A git-style unified diff of `old` → `new` for the file `rel`, three lines of context.
pub fn unified(old: &str, new: &str, rel: &Path) -> String {
    let p = rel.display().to_string();
    let diff = similar::TextDiff::from_lines(old, new);
    let body = diff
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .to_string();
    if body.is_empty() {
        return String::new();
    }
    format!("diff --git a/{p} b/{p}\n--- a/{p}\n+++ b/{p}\n{body}")
}

fn strip_ab(path: &str) -> String {
    let p = path.split('\t').next().unwrap_or(path).trim_end();
    p.strip_prefix("a/")
        .or_else(|| p.strip_prefix("b/"))
        .unwrap_or(p)
        .to_string()
}

fn parse_range(s: &str) -> Option<(usize, usize)> {
    match s.split_once(',') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

/// Parse a unified diff (git style or plain `---`/`+++`).
pub fn parse(text: &str) -> Result<Vec<FilePatch>, DiffRejected> {
    let lines: Vec<&str> = text.lines().collect();
    let mut files: Vec<FilePatch> = Vec::new();
    let mut i = 0;
    let err = |n: usize, m: &str| DiffRejected::Parse(format!("line {}: {m}", n + 1));
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with("diff --git ") || l.starts_with("index ") || l.trim().is_empty() {
            i += 1;
            continue;
        }
        for op in [
            "new file mode",
            "deleted file mode",
            "rename from",
            "rename to",
            "copy from",
            "copy to",
            "similarity index",
            "old mode",
            "new mode",
            "Binary files",
            "GIT binary patch",
        ] {
            if l.starts_with(op) {
                return Err(DiffRejected::FileOperation(crate::sanitize::one_line(l)));
            }
        }
        let Some(old) = l.strip_prefix("--- ") else {
            if files.is_empty() {
                return Err(err(i, "expected a '--- a/path' file header"));
            }
            return Err(err(i, "unexpected text between hunks"));
        };
        let Some(new) = lines.get(i + 1).and_then(|n| n.strip_prefix("+++ ")) else {
            return Err(err(i + 1, "expected '+++ b/path' after '---'"));
        };
        let (old_p, new_p) = (strip_ab(old), strip_ab(new));
        if old_p == "/dev/null" || new_p == "/dev/null" || old_p != new_p {
            return Err(DiffRejected::FileOperation(crate::sanitize::one_line(
                &new_p,
            )));
        }
        i += 2;
        let mut hunks = Vec::new();
        while i < lines.len() && lines[i].starts_with("@@") {
            let h = lines[i];
            let inner = h
                .strip_prefix("@@ ")
                .and_then(|r| r.split_once(" @@"))
                .map(|(r, _)| r)
                .ok_or_else(|| err(i, "malformed hunk header"))?;
            let (o, n) = inner
                .split_once(' ')
                .ok_or_else(|| err(i, "malformed hunk header"))?;
            let (old_start, old_len) = o
                .strip_prefix('-')
                .and_then(parse_range)
                .ok_or_else(|| err(i, "malformed old range"))?;
            let (new_start, new_len) = n
                .strip_prefix('+')
                .and_then(parse_range)
                .ok_or_else(|| err(i, "malformed new range"))?;
            i += 1;
            let mut hunk = Hunk {
                old_start,
                old_len,
                new_start,
                new_len,
                lines: Vec::new(),
                old_no_newline: false,
                new_no_newline: false,
            };
            let (mut seen_old, mut seen_new) = (0, 0);
            while i < lines.len()
                && (seen_old < old_len || seen_new < new_len || lines[i].starts_with('\\'))
            {
                let l = lines[i];
                if l.starts_with('\\') {
                    match hunk.lines.last() {
                        Some(HunkLine::Add(_)) => hunk.new_no_newline = true,
                        Some(HunkLine::Remove(_)) => hunk.old_no_newline = true,
                        Some(HunkLine::Context(_)) => {
                            hunk.old_no_newline = true;
                            hunk.new_no_newline = true;
                        }
                        None => return Err(err(i, "'\\' marker before any line")),
                    }
                    i += 1;
                    continue;
                }
                let (kind, rest) = match l.chars().next() {
                    Some(c @ (' ' | '-' | '+')) => (c, &l[1..]),
                    // An empty line inside a hunk is an empty context line (git tolerates it).
                    None => (' ', ""),
                    Some(_) => return Err(err(i, "hunk shorter than its header says")),
                };
                match kind {
                    ' ' => {
                        seen_old += 1;
                        seen_new += 1;
                        hunk.lines.push(HunkLine::Context(rest.to_string()));
                    }
                    '-' => {
                        seen_old += 1;
                        hunk.lines.push(HunkLine::Remove(rest.to_string()));
                    }
                    _ => {
                        seen_new += 1;
                        hunk.lines.push(HunkLine::Add(rest.to_string()));
                    }
                }
                i += 1;
            }
            if seen_old != old_len || seen_new != new_len {
                return Err(err(
                    i.min(lines.len().saturating_sub(1)),
                    "hunk shorter than its header says",
                ));
            }
            hunks.push(hunk);
        }
        if hunks.is_empty() {
            return Err(err(
                i.min(lines.len().saturating_sub(1)),
                "file header without hunks",
            ));
        }
        files.push(FilePatch { path: new_p, hunks });
    }
    if files.is_empty() {
        return Err(DiffRejected::Empty);
    }
    if files.iter().all(|f| {
        f.hunks
            .iter()
            .all(|h| h.lines.iter().all(|l| matches!(l, HunkLine::Context(_))))
    }) {
        return Err(DiffRejected::Empty);
    }
    Ok(files)
}

/// Where each hunk landed in the original (0-based old line index), from [`apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub text: String,
    pub hunk_starts: Vec<usize>,
}

/// Apply a file patch to `original` in memory. Each hunk's context and removed lines must
/// match the file exactly, at the stated line or (as git does) at another offset, searched
/// nearest first; hunks must not overlap.
pub fn apply(original: &str, patch: &FilePatch) -> Result<Applied, (usize, String)> {
    let old_lines: Vec<&str> = original.split_inclusive('\n').collect();
    let ends_with_newline = original.ends_with('\n') || original.is_empty();
    let content = |l: &str| l.strip_suffix('\n').unwrap_or(l).to_string();
    let mut out = String::with_capacity(original.len() + 256);
    let mut cursor = 0usize;
    let mut starts = Vec::new();
    let mut final_newline = ends_with_newline;
    for (hi, h) in patch.hunks.iter().enumerate() {
        let expected: Vec<&str> = h
            .lines
            .iter()
            .filter_map(|l| match l {
                HunkLine::Context(s) | HunkLine::Remove(s) => Some(s.as_str()),
                HunkLine::Add(_) => None,
            })
            .collect();
        let matches_at = |pos: usize| -> bool {
            pos + expected.len() <= old_lines.len()
                && expected
                    .iter()
                    .enumerate()
                    .all(|(k, e)| content(old_lines[pos + k]) == *e)
        };
        let stated = if h.old_len == 0 {
            h.old_start
        } else {
            h.old_start.saturating_sub(1)
        };
        let mut found = None;
        let max = old_lines.len();
        for delta in 0..=max {
            let cands = [stated.checked_sub(delta), Some(stated + delta)];
            for pos in cands.into_iter().flatten() {
                if pos >= cursor && pos <= max && matches_at(pos) {
                    found = Some(pos);
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        let Some(pos) = found else {
            return Err((
                hi + 1,
                format!(
                    "its context and removed lines are not in the file at line {} or nearby",
                    h.old_start
                ),
            ));
        };
        for l in &old_lines[cursor..pos] {
            out.push_str(l);
        }
        starts.push(pos);
        let n_new = h
            .lines
            .iter()
            .filter(|l| !matches!(l, HunkLine::Remove(_)))
            .count();
        let mut k_new = 0;
        for l in &h.lines {
            if let HunkLine::Context(s) | HunkLine::Add(s) = l {
                k_new += 1;
                out.push_str(s);
                let last_of_hunk = k_new == n_new;
                if !(last_of_hunk && h.new_no_newline) {
                    out.push('\n');
                }
            }
        }
        cursor = pos + expected.len();
        if cursor == old_lines.len() {
            final_newline = !h.new_no_newline;
        }
    }
    for l in &old_lines[cursor..] {
        out.push_str(l);
    }
    if cursor < old_lines.len() {
        final_newline = ends_with_newline;
    }
    if !final_newline && out.ends_with('\n') && cursor == old_lines.len() {
        out.pop();
    }
    Ok(Applied {
        text: out,
        hunk_starts: starts,
    })
}

/// Run `git apply --check` on `diff` in `repo`. `Ok(false)`: git is not on PATH.
pub fn git_apply_check(repo: &Path, diff: &str) -> Result<bool, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    // Inside a larger git work tree, patch paths are relative to its top: add our prefix.
    let prefix = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--show-prefix"])
        .stderr(Stdio::null())
        .output();
    let prefix = match prefix {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot run git: {e}")),
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(_) => String::new(),
    };
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo).args(["apply", "--check"]);
    if !prefix.is_empty() {
        cmd.arg(format!("--directory={prefix}"));
    }
    let mut child = cmd
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(diff.as_bytes())
            .map_err(|e| format!("cannot write to git: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git did not finish: {e}"))?;
    if out.status.success() {
        Ok(true)
    } else {
        let msg = crate::sanitize::one_line(&String::from_utf8_lossy(&out.stderr));
        Err(if msg.is_empty() {
            format!("exit status {}", out.status)
        } else {
            msg
        })
    }
}

/// A relative path without `..`, root or prefix components, and not inside `.git`.
fn safe_relative(path: &str) -> Option<PathBuf> {
    if path.is_empty() || path.contains('\\') || crate::sanitize::is_suspicious_text(path) {
        return None;
    }
    let p = Path::new(path);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) if s != ".git" => out.push(s),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Validate a diff we generated ([`validate_in`] under another name, so both go through the
/// same checks).
pub fn validate_generated(
    diff: &str,
    repo: &Path,
    ident: &Identity,
) -> Result<ValidatedDiff, DiffRejected> {
    validate_in(diff, repo, ident)
}

/// Check a diff against one checkout: parses; every path is a plain relative path to an
/// existing regular file inside `repo` (symlinks resolved and confined); every hunk applies
/// in-process; `git apply --check` passes when git is on PATH; and every changed line lies in
/// a part of the file that defines the alert's resource.
pub fn validate_in(
    diff: &str,
    repo: &Path,
    ident: &Identity,
) -> Result<ValidatedDiff, DiffRejected> {
    let patches = parse(diff)?;
    let root = repo
        .canonicalize()
        .map_err(|_| DiffRejected::PathNotFound(repo.display().to_string()))?;
    let mut files = Vec::new();
    for patch in &patches {
        let shown = crate::sanitize::one_line(&patch.path);
        let rel =
            safe_relative(&patch.path).ok_or_else(|| DiffRejected::UnsafePath(shown.clone()))?;
        let abs = root.join(&rel);
        let real = abs
            .canonicalize()
            .map_err(|_| DiffRejected::PathNotFound(shown.clone()))?;
        if !real.starts_with(&root) || !real.is_file() {
            return Err(DiffRejected::UnsafePath(shown));
        }
        let original = std::fs::read_to_string(&real)
            .map_err(|_| DiffRejected::PathNotFound(shown.clone()))?;
        let applied =
            apply(&original, patch).map_err(|(hunk, reason)| DiffRejected::DoesNotApply {
                path: shown.clone(),
                hunk,
                reason,
            })?;
        let lang = super::iac::is_iac_file(&rel).unwrap_or(Lang::Plain);
        check_scope(&original, &applied, patch, lang, ident).map_err(|(line, reason)| {
            DiffRejected::OutOfScope {
                path: shown.clone(),
                line,
                reason,
            }
        })?;
        files.push(rel);
    }
    let git_checked = git_apply_check(&root, diff).map_err(DiffRejected::Git)?;
    Ok(ValidatedDiff {
        text: diff.to_string(),
        repo: repo.to_path_buf(),
        files,
        git_checked,
        sha256: super::sha256_hex(diff.as_bytes()),
    })
}

/// Does `text` mention one of the names as a whole token?
pub fn mentions(text: &str, ident: &Identity) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    ident.names.iter().any(|name| {
        text.match_indices(name.as_str()).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + name.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        })
    })
}

/// A part of a file that defines one thing: a Terraform block, a YAML document, a
/// CloudFormation resource, or the whole file (Dockerfile, anything else).
#[derive(Clone, Debug)]
struct Unit {
    start: usize,
    end: usize,
    in_scope: bool,
}

/// Split a file into units and mark those that define the alert's resource.
fn units(text: &str, lang: Lang, ident: &Identity) -> Vec<Unit> {
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len().saturating_sub(1);
    let slice = |s: usize, e: usize| lines[s..=e.min(last)].join("\n");
    match lang {
        Lang::Hcl => {
            let blocks = hcl::blocks(text);
            let mut scope: Vec<bool> = blocks
                .iter()
                .map(|b| {
                    let body = slice(b.start, b.end);
                    b.resource_type()
                        .is_some_and(|t| ident.account_types.contains(&t))
                        || hcl::literals(&body).iter().any(|l| ident.is(l))
                        || b.label().is_some_and(|l| {
                            ident.names.iter().any(|n| n.replace(['-', '.'], "_") == l)
                        })
                })
                .collect();
            // Blocks that reference an in-scope block (a bucket's ACL, policy, encryption).
            for _ in 0..2 {
                let addrs: Vec<String> = blocks
                    .iter()
                    .zip(&scope)
                    .filter(|(_, s)| **s)
                    .filter_map(|(b, _)| b.address())
                    .collect();
                for (b, s) in blocks.iter().zip(scope.iter_mut()) {
                    if !*s && b.kind != "variable" {
                        let body = slice(b.start, b.end);
                        *s = addrs.iter().any(|a| body.contains(&format!("{a}.")));
                    }
                }
            }
            // Data sources an in-scope block reads, and what an in-scope attachment attaches
            // (a policy document, the policy attached to the role).
            let referenced: Vec<String> = blocks
                .iter()
                .zip(&scope)
                .filter(|(_, s)| **s)
                .map(|(b, _)| slice(b.start, b.end))
                .collect();
            let attach: Vec<String> = blocks
                .iter()
                .zip(&scope)
                .filter(|(b, s)| **s && b.resource_type().is_some_and(|t| t.contains("attachment")))
                .map(|(b, _)| slice(b.start, b.end))
                .collect();
            for (b, s) in blocks.iter().zip(scope.iter_mut()) {
                if let Some(a) = b.address() {
                    let dot = format!("{a}.");
                    if (b.kind == "data" && referenced.iter().any(|t| t.contains(&dot)))
                        || attach.iter().any(|t| t.contains(&dot))
                    {
                        *s = true;
                    }
                }
            }
            // Variables used by in-scope blocks.
            let used: String = blocks
                .iter()
                .zip(&scope)
                .filter(|(_, s)| **s)
                .map(|(b, _)| slice(b.start, b.end))
                .collect::<Vec<_>>()
                .join("\n");
            for (b, s) in blocks.iter().zip(scope.iter_mut()) {
                if b.kind == "variable"
                    && let Some(a) = b.address()
                {
                    *s = *s || mentions_token(&used, &a);
                }
            }
            blocks
                .iter()
                .zip(scope)
                .map(|(b, in_scope)| Unit {
                    start: b.start,
                    end: b.end,
                    in_scope,
                })
                .collect()
        }
        Lang::Yaml => {
            let mut out = Vec::new();
            let mut start = 0;
            for (i, l) in lines.iter().enumerate() {
                if l.trim_end() == "---" || i == last {
                    let end = if l.trim_end() == "---" {
                        i.saturating_sub(1)
                    } else {
                        i
                    };
                    if end >= start && !(l.trim_end() == "---" && i == 0) {
                        out.push(Unit {
                            start,
                            end,
                            in_scope: mentions(&slice(start, end), ident),
                        });
                    }
                    start = i + 1;
                }
            }
            out
        }
        Lang::Json => {
            // CloudFormation: the members of the top-level "Resources" object.
            let d = hcl::depths(text);
            let mut out = Vec::new();
            let mut i = 0;
            while i < lines.len() {
                if d[i] == 2
                    && d.get(i + 1).is_some_and(|x| *x > 2)
                    && lines[i].trim_start().starts_with('"')
                {
                    let mut end = i + 1;
                    while end < lines.len() && d.get(end + 1).is_some_and(|x| *x > 2) {
                        end += 1;
                    }
                    out.push(Unit {
                        start: i,
                        end,
                        in_scope: mentions(&slice(i, end), ident),
                    });
                    i = end + 1;
                } else {
                    i += 1;
                }
            }
            out
        }
        _ => vec![Unit {
            start: 0,
            end: last,
            in_scope: true,
        }],
    }
}

fn mentions_token(text: &str, token: &str) -> bool {
    mentions(
        text,
        &Identity {
            names: vec![token.to_string()],
            ..Identity::default()
        },
    )
}

/// Every changed line must fall inside an in-scope unit of the old file (removals, and
/// insertions inside a unit) or, for lines added between units, inside an in-scope unit of
/// the new file. Returns the offending 1-based line and why.
fn check_scope(
    original: &str,
    applied: &Applied,
    patch: &FilePatch,
    lang: Lang,
    ident: &Identity,
) -> Result<(), (usize, String)> {
    match lang {
        // A Dockerfile defines one image: it is the alert's when it installs a package the
        // alert's CVEs name, or names the resource.
        Lang::Dockerfile => {
            return if super::docker::installs_any(original, &ident.packages)
                || mentions(original, ident)
            {
                Ok(())
            } else {
                Err((
                    1,
                    "this Dockerfile installs none of the alert's vulnerable packages".into(),
                ))
            };
        }
        Lang::Hcl | Lang::Yaml | Lang::Json => {}
        _ => return Err((1, "not an IaC file (.tf, .yaml, .json, Dockerfile)".into())),
    }
    let old_units = units(original, lang, ident);
    let new_units = units(&applied.text, lang, ident);
    let unit_at = |us: &[Unit], line: usize| {
        us.iter()
            .find(|u| u.start <= line && line <= u.end)
            .cloned()
    };
    let mut shift: isize = 0; // new line index - old line index, before the current hunk
    for (h, &start) in patch.hunks.iter().zip(&applied.hunk_starts) {
        let mut old_i = start;
        let mut new_i = (start as isize + shift) as usize;
        for l in &h.lines {
            match l {
                HunkLine::Context(_) => {
                    old_i += 1;
                    new_i += 1;
                }
                HunkLine::Remove(s) => {
                    match unit_at(&old_units, old_i) {
                        Some(u) if u.in_scope => {}
                        Some(_) => return Err((old_i + 1, "another resource's definition".into())),
                        // A blank line between definitions (removed with a block) is harmless.
                        None if s.trim().is_empty() => {}
                        None => return Err((old_i + 1, "outside any resource definition".into())),
                    }
                    old_i += 1;
                }
                HunkLine::Add(s) => {
                    // Inside an old unit (old_i is the line the addition goes before)?
                    let inside_old = old_units.iter().find(|u| u.start < old_i && old_i <= u.end);
                    let harmless = {
                        let t = s.trim_start();
                        t.is_empty() || t.starts_with('#') || t.starts_with("//")
                    };
                    match inside_old {
                        Some(u) if u.in_scope => {}
                        Some(_) => {
                            return Err((
                                new_i + 1,
                                "added to another resource's definition".into(),
                            ));
                        }
                        None => match unit_at(&new_units, new_i) {
                            Some(u) if u.in_scope => {}
                            Some(_) => {
                                return Err((
                                    new_i + 1,
                                    "adds a definition unrelated to the alert's resource".into(),
                                ));
                            }
                            // Blank lines and comments between blocks are harmless.
                            None if harmless => {}
                            None => {
                                return Err((new_i + 1, "outside any resource definition".into()));
                            }
                        },
                    }
                    new_i += 1;
                }
            }
        }
        shift = new_i as isize - old_i as isize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(names: &[&str]) -> Identity {
        Identity {
            names: names.iter().map(|s| s.to_string()).collect(),
            ..Identity::default()
        }
    }

    #[test]
    fn generated_diff_parses_and_applies_back() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let new = "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
        let d = unified(old, new, Path::new("x/y.tf"));
        assert!(d.starts_with("diff --git a/x/y.tf b/x/y.tf\n--- a/x/y.tf\n+++ b/x/y.tf\n@@ -1,5"));
        let p = parse(&d).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "x/y.tf");
        assert_eq!(p[0].hunks.len(), 2);
        assert_eq!(apply(old, &p[0]).unwrap().text, new);
    }

    #[test]
    fn missing_final_newline_round_trips() {
        for (old, new) in [("a\nb", "a\nc"), ("a\nb\n", "a\nb\nc"), ("a\nb", "a\nb\n")] {
            let d = unified(old, new, Path::new("f.tf"));
            let p = parse(&d).unwrap();
            assert_eq!(apply(old, &p[0]).unwrap().text, new, "{d}");
        }
    }

    #[test]
    fn apply_finds_moved_context_and_rejects_wrong_context() {
        let old = "x\ny\na\nb\nc\n";
        let d = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n";
        let p = parse(d).unwrap();
        assert_eq!(apply(old, &p[0]).unwrap().text, "x\ny\na\nB\nc\n");
        let bad = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-q\n+B\n c\n";
        assert!(apply(old, &parse(bad).unwrap()[0]).is_err());
    }

    #[test]
    fn parse_errors_are_precise() {
        assert!(matches!(parse("hello"), Err(DiffRejected::Parse(m)) if m.contains("line 1")));
        assert!(matches!(parse(""), Err(DiffRejected::Empty)));
        assert!(matches!(
            parse("--- /dev/null\n+++ b/new.tf\n@@ -0,0 +1 @@\n+x\n"),
            Err(DiffRejected::FileOperation(_))
        ));
        assert!(matches!(
            parse("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n"),
            Err(DiffRejected::Parse(m)) if m.contains("shorter")
        ));
        assert!(matches!(
            parse("diff --git a/x b/x\nnew file mode 100644\n"),
            Err(DiffRejected::FileOperation(_))
        ));
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for p in [
            "../etc/passwd",
            "/etc/passwd",
            ".git/config",
            "a/../../b",
            "x\u{1b}[2J",
        ] {
            assert!(safe_relative(p).is_none(), "{p}");
        }
        assert_eq!(
            safe_relative("./tf/main.tf"),
            Some(PathBuf::from("tf/main.tf"))
        );
    }

    const TF: &str = "resource \"aws_s3_bucket\" \"data\" {\n  bucket = \"acme-data\"\n}\n\nresource \"aws_s3_bucket_acl\" \"data\" {\n  bucket = aws_s3_bucket.data.id\n  acl    = \"public-read\"\n}\n\nresource \"aws_s3_bucket\" \"other\" {\n  bucket = \"acme-other\"\n  acl    = \"public-read\"\n}\n";

    #[test]
    fn scope_allows_the_resource_and_its_dependents_only() {
        let id = ident(&["acme-data"]);
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("main.tf"), TF).unwrap();
        let ok = unified(
            TF,
            &TF.replacen("acl    = \"public-read\"", "acl    = \"private\"", 1),
            Path::new("main.tf"),
        );
        validate_in(&ok, repo.path(), &id).unwrap();
        let new_block = TF.replace(
            "\nresource \"aws_s3_bucket\" \"other\"",
            "\nresource \"aws_s3_bucket_public_access_block\" \"data\" {\n  bucket = aws_s3_bucket.data.id\n}\n\nresource \"aws_s3_bucket\" \"other\"",
        );
        validate_in(
            &unified(TF, &new_block, Path::new("main.tf")),
            repo.path(),
            &id,
        )
        .unwrap();

        let other = TF.replacen(
            "  bucket = \"acme-other\"\n  acl    = \"public-read\"",
            "  bucket = \"acme-other\"\n  acl    = \"private\"",
            1,
        );
        let e =
            validate_in(&unified(TF, &other, Path::new("main.tf")), repo.path(), &id).unwrap_err();
        assert!(matches!(e, DiffRejected::OutOfScope { .. }), "{e}");
        let unrelated =
            format!("{TF}\nresource \"aws_instance\" \"x\" {{\n  ami = \"ami-1\"\n}}\n");
        let e = validate_in(
            &unified(TF, &unrelated, Path::new("main.tf")),
            repo.path(),
            &id,
        )
        .unwrap_err();
        assert!(matches!(e, DiffRejected::OutOfScope { .. }), "{e}");

        let e = validate_in(&ok.replace("main.tf", "../main.tf"), repo.path(), &id).unwrap_err();
        assert!(matches!(e, DiffRejected::UnsafePath(_)), "{e}");
        let e = validate_in(&ok.replace("main.tf", "nope.tf"), repo.path(), &id).unwrap_err();
        assert!(matches!(e, DiffRejected::PathNotFound(_)), "{e}");
        let stale = ok.replace(
            "-  acl    = \"public-read\"",
            "-  acl    = \"public-read-write\"",
        );
        let e = validate_in(&stale, repo.path(), &id).unwrap_err();
        assert!(matches!(e, DiffRejected::DoesNotApply { .. }), "{e}");
    }

    #[test]
    fn mentions_needs_whole_tokens() {
        let id = ident(&["web-1"]);
        assert!(mentions("name: web-1\n", &id));
        assert!(mentions("\"web-1\"", &id));
        assert!(!mentions("name: web-10", &id));
        assert!(!mentions("name: my-web-1", &id));
    }
}
