//! Apply an approved remediation diff to a local git checkout **as a commit on a new
//! branch**, without pushing and without touching the analyst's working tree, index or HEAD.
//!
//! Plumbing only: the diff is applied to a temporary index (`GIT_INDEX_FILE`) read from the
//! base commit (`read-tree`, `apply --cached`), written as a tree (`write-tree`), committed
//! (`commit-tree`) and the branch created only if it does not exist (`update-ref <ref> <new>
//! ""`). The commit message carries a `Sitrep-Diff-Sha256:` trailer: applying the same diff
//! again finds it and reports `already`; a branch that exists with other content is refused.
//!
//! Runs the `git` binary synchronously (call it from `spawn_blocking`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

use super::DispatchError;

/// The trailer binding a commit to the exact diff bytes.
pub const TRAILER: &str = "Sitrep-Diff-Sha256";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchOutcome {
    /// Short branch name (without `refs/heads/`).
    pub branch: String,
    /// The commit on the branch carrying the diff.
    pub commit: String,
    /// The branch already held this diff: nothing was written.
    pub already: bool,
}

/// Hex sha256 of the diff bytes (what the approval record binds and the trailer carries).
pub fn diff_sha256(diff: &str) -> String {
    let d = Sha256::digest(diff.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn perm(detail: String) -> DispatchError {
    DispatchError::permanent(detail)
}

/// A temporary index file, removed on drop.
struct TempIndex(PathBuf);

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let mut lock = self.0.clone().into_os_string();
        lock.push(".lock");
        let _ = std::fs::remove_file(lock);
    }
}

struct Git<'a> {
    repo: &'a Path,
    index: Option<&'a Path>,
    author: Option<(&'a str, &'a str)>,
}

impl Git<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        c.arg("-C").arg(self.repo);
        c.args(args);
        for v in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_NAMESPACE",
            "GIT_CEILING_DIRECTORIES",
        ] {
            c.env_remove(v);
        }
        c.env("GIT_TERMINAL_PROMPT", "0").env("LC_ALL", "C");
        if let Some(i) = self.index {
            c.env("GIT_INDEX_FILE", i);
        }
        if let Some((name, email)) = self.author {
            c.env("GIT_AUTHOR_NAME", name)
                .env("GIT_AUTHOR_EMAIL", email)
                .env("GIT_COMMITTER_NAME", name)
                .env("GIT_COMMITTER_EMAIL", email);
        }
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// Run; `stdin` is written to the child. Err only when git could not be run.
    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, DispatchError> {
        let mut c = self.cmd(args);
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = c.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                perm("patch: git is not installed (not on PATH)".into())
            } else {
                perm(format!("patch: cannot run git: {e}"))
            }
        })?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A git that exits early closes the pipe; its exit status tells the story.
            let _ = pipe.write_all(data);
        }
        child
            .wait_with_output()
            .map_err(|e| perm(format!("patch: git did not finish: {e}")))
    }

    /// Run and return trimmed stdout, or git's one-line reason.
    fn ok(&self, what: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<String, DispatchError> {
        let out = self.run(args, stdin)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(perm(format!("patch: {what}: {}", reason(&out))))
        }
    }
}

/// Git's first meaningful stderr line, sanitized (prefers an `error:`/`fatal:` line).
fn reason(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .find(|l| l.starts_with("error:") || l.starts_with("fatal:"))
        .or(lines.first())
        .copied()
        .unwrap_or("");
    let one = hide_userinfo(&crate::sanitize::one_line(pick));
    if one.is_empty() {
        format!("git exited with {}", out.status)
    } else {
        crate::dispatch::notice::truncate_chars(&one, 300)
    }
}

/// A URL's `user:password@` made `***@`: git names the remote it could not reach, and a
/// remote URL may carry a token.
fn hide_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// "Name <email>" → (name, email); a bare name gets an empty email.
fn split_author(author: &str) -> Result<(String, String), DispatchError> {
    let a = crate::sanitize::one_line(author);
    let (name, email) = match (a.find('<'), a.rfind('>')) {
        (Some(l), Some(r)) if l < r => (a[..l].trim().to_string(), a[l + 1..r].trim().to_string()),
        _ => (a.trim().to_string(), String::new()),
    };
    if name.is_empty() || name.contains(['<', '>']) || email.contains(['<', '>']) {
        return Err(perm(format!(
            "patch: author '{a}' is not a name or \"Name <email>\""
        )));
    }
    Ok((name, email))
}

/// Apply `diff` (a unified diff with `a/` `b/` paths, relative to `repo`) on top of `base`
/// (a revision; None: `HEAD`) as one commit on the new branch `branch`, authored by `author`
/// ("Name <email>" or a name) with `message` (sanitized; the trailer is appended).
///
/// - The branch exists and holds a commit with this diff's trailer → `already: true`.
/// - The branch exists otherwise → Permanent.
/// - The diff does not apply → Permanent with git's one-line reason.
///
/// Never pushes; never changes the working tree, the index or HEAD of `repo`.
pub fn apply(
    repo: &Path,
    base: Option<&str>,
    branch: &str,
    diff: &str,
    message: &str,
    author: &str,
) -> Result<PatchOutcome, DispatchError> {
    let git = Git {
        repo,
        index: None,
        author: None,
    };
    let shown = crate::sanitize::one_line(&repo.display().to_string());
    let show_branch = crate::sanitize::one_line(branch);
    let prefix = git
        .ok("not a git checkout", &["rev-parse", "--show-prefix"], None)
        .map_err(|_| perm(format!("patch: {shown} is not a git checkout")))?;
    // A valid new-branch name; refuse option-like names and anything git would rewrite.
    if branch.is_empty() || branch.starts_with('-') || crate::sanitize::is_suspicious_text(branch) {
        return Err(perm(format!(
            "patch: '{show_branch}' is not a valid branch name"
        )));
    }
    git.ok(
        "branch name",
        &["check-ref-format", &format!("refs/heads/{branch}")],
        None,
    )
    .map_err(|_| perm(format!("patch: '{show_branch}' is not a valid branch name")))?;
    let refname = format!("refs/heads/{branch}");
    let sha = diff_sha256(diff);
    if let Some(found) = existing(&git, &refname, &sha)? {
        return found.map(|commit| PatchOutcome {
            branch: branch.to_string(),
            commit,
            already: true,
        });
    }

    let base_rev = base.unwrap_or("HEAD");
    if base_rev.starts_with('-') || crate::sanitize::is_suspicious_text(base_rev) {
        return Err(perm(format!(
            "patch: base '{}' is not a revision",
            crate::sanitize::one_line(base_rev)
        )));
    }
    let base_commit = git
        .ok(
            "base",
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{base_rev}^{{commit}}"),
            ],
            None,
        )
        .map_err(|_| {
            perm(format!(
                "patch: base '{}' is not a commit in {shown}",
                crate::sanitize::one_line(base_rev)
            ))
        })?;

    let (name, email) = split_author(author)?;
    let index = temp_index_path(&git)?;
    let guard = TempIndex(index);
    let tgit = Git {
        repo,
        index: Some(&guard.0),
        author: Some((&name, &email)),
    };
    tgit.ok("reading the base tree", &["read-tree", &base_commit], None)?;
    let dir_arg = format!("--directory={prefix}");
    let mut args = vec!["apply", "--cached", "--whitespace=nowarn"];
    if !prefix.is_empty() {
        args.push(&dir_arg);
    }
    args.push("-");
    let out = tgit.run(&args, Some(diff.as_bytes()))?;
    if !out.status.success() {
        return Err(perm(format!(
            "patch: the diff does not apply to {}: {}",
            crate::sanitize::one_line(base_rev),
            reason(&out)
        )));
    }
    let tree = tgit.ok("writing the tree", &["write-tree"], None)?;
    let base_tree = git.ok(
        "base tree",
        &["rev-parse", &format!("{base_commit}^{{tree}}")],
        None,
    )?;
    if tree == base_tree {
        return Err(perm(
            "patch: the diff changes nothing (already applied on the base?)".into(),
        ));
    }
    let mut msg = crate::sanitize::text(message).trim().to_string();
    if msg.is_empty() {
        msg = "sitrep: approved remediation".into();
    }
    let full = format!("{msg}\n\n{TRAILER}: {sha}\n");
    let commit = tgit.ok(
        "committing",
        &[
            "commit-tree",
            "--no-gpg-sign",
            &tree,
            "-p",
            &base_commit,
            "-F",
            "-",
        ],
        Some(full.as_bytes()),
    )?;
    drop(guard);
    // Create only if absent ("" as the old value): a concurrent creator loses cleanly.
    let out = git.run(
        &[
            "update-ref",
            "-m",
            "sitrep: approved remediation",
            &refname,
            &commit,
            "",
        ],
        None,
    )?;
    if !out.status.success() {
        if let Some(found) = existing(&git, &refname, &sha)? {
            return found.map(|commit| PatchOutcome {
                branch: branch.to_string(),
                commit,
                already: true,
            });
        }
        return Err(perm(format!(
            "patch: creating branch {show_branch}: {}",
            reason(&out)
        )));
    }
    Ok(PatchOutcome {
        branch: branch.to_string(),
        commit,
        already: false,
    })
}

/// What pushing a branch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The remote already had the branch at this commit: nothing was sent.
    pub already: bool,
}

/// Push `commit` to `remote` as the new branch `branch`, never forced: a remote branch of that
/// name at another commit is refused (Permanent), one already at `commit` is `already`.
/// Credentials are git's own (ssh agent, credential helper); prompts are off. A remote that
/// cannot be reached is Transient.
pub fn push(
    repo: &Path,
    remote: &str,
    branch: &str,
    commit: &str,
) -> Result<PushOutcome, DispatchError> {
    let git = Git {
        repo,
        index: None,
        author: None,
    };
    let show_remote = crate::sanitize::one_line(remote);
    let show_branch = crate::sanitize::one_line(branch);
    if remote.is_empty() || remote.starts_with('-') || crate::sanitize::is_suspicious_text(remote) {
        return Err(perm(format!("push: '{show_remote}' is not a remote name")));
    }
    let refname = format!("refs/heads/{branch}");
    git.ok("branch name", &["check-ref-format", &refname], None)
        .map_err(|_| perm(format!("push: '{show_branch}' is not a valid branch name")))?;
    let remote_err = |what: &str, out: &Output| {
        let detail = format!("push to {show_remote}: {what}: {}", reason(out));
        // All of stderr: ssh prints "Permission denied" above git's "Could not read from
        // remote repository", and a refusal must not be retried forever.
        if unreachable(&String::from_utf8_lossy(&out.stderr)) {
            DispatchError::transient(detail)
        } else {
            perm(detail)
        }
    };
    // A stalled HTTP remote is given up after a minute (the row is retried later) instead of
    // holding the outbox; ssh remotes keep the user's ssh settings.
    let stall = ["-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=60"];
    let with = |args: &[&str]| -> Vec<String> {
        stall.iter().chain(args).map(|s| (*s).to_string()).collect()
    };
    let ls = with(&["ls-remote", "--heads", "--", remote, &refname]);
    let ls: Vec<&str> = ls.iter().map(String::as_str).collect();
    let out = git.run(&ls, None)?;
    if !out.status.success() {
        return Err(remote_err("reading its branches", &out));
    }
    let listed = String::from_utf8_lossy(&out.stdout);
    let at = listed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(_, name)| name.trim() == refname)
        .map(|(sha, _)| sha.trim().to_string());
    match at {
        Some(sha) if sha == commit => return Ok(PushOutcome { already: true }),
        Some(_) => {
            return Err(perm(format!(
                "push to {show_remote}: branch {show_branch} already exists there with other content; not overwriting it"
            )));
        }
        None => {}
    }
    let spec = format!("{commit}:{refname}");
    let push = with(&["push", "--porcelain", "--", remote, &spec]);
    let push: Vec<&str> = push.iter().map(String::as_str).collect();
    let out = git.run(&push, None)?;
    if !out.status.success() {
        return Err(remote_err("git push", &out));
    }
    Ok(PushOutcome { already: false })
}

/// Whether git's reason says the remote could not be reached (worth another try later).
fn unreachable(why: &str) -> bool {
    let w = why.to_ascii_lowercase();
    [
        "could not resolve host",
        "connection refused",
        "connection timed out",
        "timed out",
        "could not read from remote",
        "unable to access",
        "network is unreachable",
        "the remote end hung up",
        "early eof",
        "operation too slow",
    ]
    .iter()
    .any(|m| w.contains(m))
        && !w.contains("authentication failed")
        && !w.contains("permission denied")
}

/// None: the branch does not exist. Some(Ok(commit)): it holds this diff (the newest commit
/// on it carrying the trailer, searched over its last 50 commits). Some(Err): other content.
fn existing(
    git: &Git<'_>,
    refname: &str,
    sha: &str,
) -> Result<Option<Result<String, DispatchError>>, DispatchError> {
    let out = git.run(&["rev-parse", "--verify", "--quiet", refname], None)?;
    if !out.status.success() {
        return Ok(None);
    }
    let log = git.ok(
        "reading the branch",
        &["log", "-n", "50", "--format=%H%x00%B%x01", refname, "--"],
        None,
    )?;
    let want = format!("{TRAILER}: {sha}");
    for entry in log.split('\u{1}') {
        let Some((hash, body)) = entry.trim_start().split_once('\0') else {
            continue;
        };
        if body.lines().any(|l| l.trim() == want) {
            return Ok(Some(Ok(hash.trim().to_string())));
        }
    }
    let branch = refname.trim_start_matches("refs/heads/");
    Ok(Some(Err(perm(format!(
        "patch: branch {} already exists with other content; not overwriting it",
        crate::sanitize::one_line(branch)
    )))))
}

/// A fresh path inside the repository's git dir (same filesystem, private to the repo).
fn temp_index_path(git: &Git<'_>) -> Result<PathBuf, DispatchError> {
    let dir = git.ok("git dir", &["rev-parse", "--absolute-git-dir"], None)?;
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).map_err(|e| perm(format!("patch: no randomness: {e}")))?;
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Path::new(&dir).join(format!("sitrep-index-{}-{tag}", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_parse() {
        assert_eq!(
            split_author("Ana Analyst <ana@example.com>").expect("ok"),
            ("Ana Analyst".into(), "ana@example.com".into())
        );
        assert_eq!(
            split_author("ana").expect("ok"),
            ("ana".into(), String::new())
        );
        assert!(split_author("<x>").is_err());
    }

    #[test]
    fn credentials_in_remote_urls_are_hidden() {
        assert_eq!(
            hide_userinfo(
                "fatal: unable to access 'https://x:ghp_SECRET@github.com/a/b.git/': 403"
            ),
            "fatal: unable to access 'https://***@github.com/a/b.git/': 403"
        );
        assert_eq!(
            hide_userinfo("see https://github.com/a/b and ssh://git@h/x"),
            "see https://github.com/a/b and ssh://***@h/x"
        );
    }

    #[test]
    fn an_unreachable_remote_is_retried_a_refusal_is_not() {
        assert!(unreachable(
            "fatal: unable to access 'https://h/x/': Could not resolve host: h"
        ));
        assert!(!unreachable(
            "git@h: Permission denied (publickey).\nfatal: Could not read from remote repository."
        ));
        assert!(!unreachable(
            "fatal: '/nope' does not appear to be a git repository"
        ));
    }

    #[test]
    fn sha_is_hex_of_the_bytes() {
        assert_eq!(
            diff_sha256(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
