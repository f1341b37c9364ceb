//! Issue 22 part 4: an approved fix becomes a pull request. Real git (a fixture checkout and a
//! bare repository as its remote), the GitHub and GitLab simulators on loopback, the real
//! store with its audit log, the outbox worker: nothing is pushed without the four-eyes
//! approval in the audit log; an approved diff is a branch on the remote and one pull request
//! whatever fails in between; its state comes back on refresh.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sitrep::audit::AuditKey;
use sitrep::config::Config;
use sitrep::dispatch::decide::{self, DecideError};
use sitrep::dispatch::worker::{self, Dispatcher};
use sitrep::domain::{Alert, Category, Cloud, Intent, Vendor};
use sitrep::sim::server::github::{self, ForgeSimHandle, ForgeSimOptions};
use sitrep::sim::server::gitlab;
use sitrep::store::{OutboxKind, OutboxState, Store};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/iac");
const TOKEN: &str = "ghp_simTOKEN0123456789abcdef";

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-R")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(ok.success(), "cp -R {} {}", from.display(), to.display());
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git on PATH");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A public S3 bucket the fixture checkout defines (the `public-storage` generator's diff).
fn alert() -> Alert {
    let mut a = Alert::new(Vendor::PrismaCspm, "P-77", serde_json::Value::Null);
    a.source = "prisma-cspm".into();
    a.policy.name = Some("Storage bucket is publicly readable".into());
    a.title = "Storage bucket is publicly readable".into();
    a.category = Category::Misconfiguration;
    a.resource.rtype = Some("AWS::S3::Bucket".into());
    a.resource.cloud = Some(Cloud::Aws);
    a.resource.id = Some("arn:aws:s3:::acme-public-assets".into());
    a.resource.name = Some("acme-public-assets".into());
    a.resource.account = Some("123456789012".into());
    a
}

struct Rig {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    remote: PathBuf,
    store: Store,
    config: Config,
    /// The config's text, for [`Rig::with`].
    text: String,
    id: String,
    rt: tokio::runtime::Runtime,
    sim: ForgeSimHandle,
}

impl Rig {
    /// A committed checkout with a bare remote, a store holding the alert (audited), and the
    /// forge simulator (`gitlab`: GitLab, else GitHub) that knows the remote.
    fn new(gitlab: bool, token: &str) -> Rig {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = tmp.path().join("infra");
        copy_dir(Path::new(FIXTURE), &repo);
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(
            &repo,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "commit",
                "-qm",
                "infra",
            ],
        );
        let remote = tmp.path().join("remote.git");
        std::fs::create_dir_all(&remote).expect("mkdir");
        git(&remote, &["init", "-q", "--bare"]);
        git(
            &repo,
            &["remote", "add", "origin", &remote.display().to_string()],
        );
        git(&repo, &["push", "-q", "origin", "main"]);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt");
        let opts = ForgeSimOptions {
            port: 0,
            repo: "acme/infra".into(),
            token: TOKEN.into(),
            git_dir: Some(remote.clone()),
        };
        let sim = rt
            .block_on(async {
                if gitlab {
                    gitlab::start(opts).await
                } else {
                    github::start(opts).await
                }
            })
            .expect("forge sim");
        let forge = if gitlab { "gitlab" } else { "github" };
        let text = format!(
            "[approvals]\nfour_eyes = true\nrequired = 1\non_approve = []\n\n[pr]\nbase = \"main\"\n[pr.{forge}]\napi_url = \"{}\"\ntoken = \"{token}\"\n\n[[iac]]\npath = {:?}\naccounts = [\"123456789012\"]\nforge = \"{forge}\"\nrepo = \"acme/infra\"\n",
            sim.base_url,
            repo.display().to_string()
        );
        let config = Config::from_text(None, &text).expect("config");
        let text = text.clone();
        let mut store = Store::open(&tmp.path().join("s.db")).expect("store");
        store.set_audit_key(AuditKey::from_bytes(&[7u8; 32]));
        let a = alert();
        store.import(std::slice::from_ref(&a), 1).expect("import");
        let id = format!("{}:{}", a.source, a.native_id);
        Rig {
            _tmp: tmp,
            repo,
            remote,
            store,
            config,
            text,
            id,
            rt,
            sim,
        }
    }

    /// The same config with `extra` tables.
    fn with(&mut self, extra: &str) {
        self.config = Config::from_text(None, &format!("{}\n{extra}", self.text)).expect("config");
    }

    fn decide(&mut self, actor: &str, intent: Intent) -> Result<decide::Outcome, DecideError> {
        decide::decide(
            &mut self.store,
            &self.config,
            actor,
            &self.id,
            &intent,
            worker::wall_clock_ms(),
        )
    }

    /// Four eyes: alice asks, bob approves.
    fn approve(&mut self) {
        let approve = || Intent::Approve {
            note: None,
            proposal: None,
        };
        self.decide("alice", approve()).expect("request");
        let out = self.decide("bob", approve()).expect("approve");
        assert!(
            out.notes.iter().any(|n| n.contains("approved by bob")),
            "{:?}",
            out.notes
        );
    }

    /// A rig whose fix is approved and whose pull request is queued.
    fn approved(gitlab: bool) -> Rig {
        let mut rig = Rig::new(gitlab, TOKEN);
        rig.approve();
        rig.ask().expect("queued");
        rig
    }

    /// The forge rate-limits the next request: the row waits (not failed), saying `why`.
    fn rate_limited_once(&mut self, why: &str) {
        self.sim
            .state
            .faults
            .rate_limit
            .store(1, std::sync::atomic::Ordering::SeqCst);
        let s = self.deliver();
        assert_eq!((s.retrying, s.failed), (1, 0), "{:?}", self.pr_row());
        let row = self.pr_row();
        assert!(
            row.last_error.as_deref().is_some_and(|e| e.contains(why)),
            "{row:?}"
        );
    }

    fn ask(&mut self) -> Result<decide::Outcome, DecideError> {
        self.decide("bob", Intent::PullRequest { proposal: None })
    }

    /// One delivery pass; then whatever waits for a retry is made due now.
    fn deliver(&mut self) -> worker::PassStats {
        let mut d = Dispatcher::new(&self.config);
        let stats = self
            .rt
            .block_on(worker::deliver_due(
                &mut self.store,
                &mut d,
                worker::wall_clock_ms,
                20,
            ))
            .expect("deliver");
        let waiting: Vec<i64> = self
            .store
            .outbox_list(&[OutboxState::Pending], 100)
            .expect("list")
            .iter()
            .map(|r| r.id)
            .collect();
        if !waiting.is_empty() {
            self.store
                .outbox_retry(&waiting, "test", worker::wall_clock_ms())
                .expect("retry");
        }
        stats
    }

    fn pr_row(&self) -> sitrep::store::OutboxRow {
        self.store
            .outbox_for_alert(&self.id)
            .expect("rows")
            .into_iter()
            .find(|r| r.kind == OutboxKind::PullRequest)
            .expect("a pull request row")
    }

    fn remote_branches(&self) -> String {
        git(&self.remote, &["for-each-ref", "--format=%(refname)"])
    }

    fn poll(&mut self) -> (usize, usize) {
        let mut d = Dispatcher::new(&self.config);
        self.rt
            .block_on(worker::poll_pull_requests(&mut self.store, &mut d))
            .expect("poll")
    }
}

fn refused(r: Result<decide::Outcome, DecideError>) -> String {
    match r {
        Err(DecideError::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn without_the_four_eyes_approval_nothing_is_pushed() {
    let mut rig = Rig::new(false, TOKEN);
    let m = refused(rig.ask());
    assert!(m.contains("not approved (not requested)"), "{m}");
    // Alice's request alone is not an approval.
    rig.decide(
        "alice",
        Intent::Approve {
            note: None,
            proposal: None,
        },
    )
    .expect("request");
    let m = refused(rig.ask());
    assert!(m.contains("awaiting approval: 0/1"), "{m}");
    assert!(
        m.contains("nothing is pushed without an approval recorded in the audit log"),
        "{m}"
    );
    rig.deliver();
    assert!(
        !rig.store
            .outbox_for_alert(&rig.id)
            .expect("rows")
            .iter()
            .any(|r| r.kind == OutboxKind::PullRequest)
    );
    assert_eq!(rig.remote_branches(), "refs/heads/main");
    assert!(rig.sim.state.pulls().is_empty());
    assert_eq!(
        rig.sim
            .state
            .counters
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[test]
fn an_approval_missing_from_the_audit_log_is_refused() {
    let mut rig = Rig::new(false, TOKEN);
    // Approvals recorded by a store without the audit key leave no audit entry.
    let path = rig._tmp.path().join("s.db");
    {
        let mut unaudited = Store::open(&path).expect("store");
        for actor in ["alice", "bob"] {
            decide::decide(
                &mut unaudited,
                &rig.config,
                actor,
                &rig.id,
                &Intent::Approve {
                    note: None,
                    proposal: None,
                },
                worker::wall_clock_ms(),
            )
            .expect("approval");
        }
    }
    let m = refused(rig.ask());
    assert!(
        m.contains("the approval by bob is not in the audit log"),
        "{m}"
    );
    assert_eq!(rig.remote_branches(), "refs/heads/main");
    assert!(rig.sim.state.pulls().is_empty());
}

#[test]
fn an_approved_fix_is_a_branch_on_the_remote_and_one_pull_request() {
    let mut rig = Rig::new(false, TOKEN);
    let head = git(&rig.repo, &["rev-parse", "HEAD"]);
    rig.approve();
    let out = rig.ask().expect("queued");
    assert_eq!(out.queued, 1, "{:?}", out.notes);
    let stats = rig.deliver();
    assert_eq!(stats.delivered, 1, "{:?}", rig.pr_row());

    // The branch is on the bare remote, one commit on main carrying the diff's trailer.
    let row = rig.pr_row();
    assert_eq!(row.state, OutboxState::Done);
    let branches = rig.remote_branches();
    let branch = branches
        .lines()
        .find_map(|l| l.strip_prefix("refs/heads/"))
        .filter(|b| b.starts_with("sitrep/fix-"))
        .or_else(|| {
            branches
                .lines()
                .filter_map(|l| l.strip_prefix("refs/heads/"))
                .find(|b| b.starts_with("sitrep/fix-"))
        })
        .expect("the fix branch on the remote")
        .to_string();
    let msg = git(&rig.remote, &["log", "-1", "--format=%B", &branch]);
    assert!(msg.contains("Sitrep-Diff-Sha256:"), "{msg}");
    assert!(msg.contains("Approved by: bob"), "{msg}");
    assert_eq!(
        git(&rig.remote, &["rev-parse", &format!("{branch}~1")]),
        head
    );
    let changed = git(
        &rig.remote,
        &["diff", "--name-only", &format!("{branch}~1"), &branch],
    );
    assert_eq!(changed, "terraform/storage.tf");
    // The analyst's checkout is untouched.
    assert_eq!(git(&rig.repo, &["rev-parse", "HEAD"]), head);
    assert!(git(&rig.repo, &["status", "--porcelain"]).is_empty());

    // One pull request, from that branch to main, with the body the brief asks for.
    let pulls = rig.sim.state.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let p = &pulls[0];
    assert_eq!(
        (p.head.as_str(), p.base.as_str()),
        (branch.as_str(), "main")
    );
    for want in [
        "prisma-cspm:P-77",
        "Storage bucket is publicly readable",
        "acme-public-assets",
        "Priority score: ",
        "Approved by: bob",
        "### Summary (offline narrator)",
        "Link back: `sitrep show prisma-cspm:P-77`",
    ] {
        assert!(p.body.contains(want), "missing {want:?} in:\n{}", p.body);
    }

    // Linked to the alert (history, its pull requests) and the audit log.
    let prs = rig.store.pull_requests_for(&rig.id).expect("prs");
    assert_eq!(prs.len(), 1);
    assert_eq!(prs[0].link.number, 1);
    assert_eq!(prs[0].link.state, "open");
    assert!(prs[0].link.created);
    assert_eq!(row.result.as_deref(), Some(prs[0].link.url.as_str()));
    let history = rig.store.history(&rig.id).expect("history");
    assert!(
        history.iter().any(|h| h
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("pull request #1 opened on GitHub acme/infra"))),
        "{history:?}"
    );
    let audit = rig.store.audit_entries(None).expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "pull_request" && e.actor == "bob")
    );
    assert!(
        audit
            .iter()
            .any(|e| e.action == "dispatch" && e.detail.contains(&prs[0].link.url))
    );
    assert!(rig.store.audit_verify().expect("verify").broken.is_none());

    // Asking again changes nothing: the row exists, the pull request is not made twice.
    let again = rig.ask().expect("again");
    assert_eq!(again.queued, 0);
    rig.deliver();
    assert_eq!(rig.sim.state.pulls().len(), 1);
}

#[test]
fn a_rate_limit_and_a_lost_reply_still_make_one_pull_request() {
    let mut rig = Rig::approved(false);
    use std::sync::atomic::Ordering::SeqCst;
    rig.sim.state.faults.lose_create_reply.store(1, SeqCst);
    // 1: 403 with x-ratelimit-remaining 0: a wait, not a refusal.
    rig.rate_limited_once("HTTP 403: rate limited");
    // 2: the pull request is made but the reply is lost (502).
    let s = rig.deliver();
    assert_eq!(s.retrying, 1, "{:?}", rig.pr_row());
    assert_eq!(rig.sim.state.pulls().len(), 1);
    // 3: the retry finds it by its head branch instead of creating another.
    let s = rig.deliver();
    assert_eq!(s.delivered, 1, "{:?}", rig.pr_row());
    assert_eq!(rig.sim.state.pulls().len(), 1);
    // The rate-limited create never reached the handler: one create, one search that found it.
    assert_eq!(rig.sim.state.counters.creates.load(SeqCst), 1);
    assert_eq!(rig.sim.state.counters.rate_limited.load(SeqCst), 1);
    let prs = rig.store.pull_requests_for(&rig.id).expect("prs");
    assert_eq!(prs.len(), 1);
    assert!(!prs[0].link.created, "found and linked, not created");
}

#[test]
fn the_pull_request_state_follows_the_forge() {
    let mut rig = Rig::approved(false);
    rig.deliver();
    assert_eq!(rig.poll(), (1, 0));
    assert!(rig.sim.state.set_state(1, "merged"));
    assert_eq!(rig.poll(), (1, 1));
    let prs = rig.store.pull_requests_for(&rig.id).expect("prs");
    assert_eq!(prs[0].link.state, "merged");
    // Merged is final: nothing left to poll.
    assert_eq!(rig.poll(), (0, 0));
    let history = rig.store.history(&rig.id).expect("history");
    assert!(
        history.iter().any(|h| h
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("pull request #1 is now merged"))),
        "{history:?}"
    );
    let audit = rig.store.audit_entries(None).expect("audit");
    assert!(audit.iter().any(|e| e.action == "pull_request.state"));
}

#[test]
fn gitlab_merge_requests_wait_out_a_429_and_are_followed_to_closed() {
    let mut rig = Rig::approved(true);
    rig.rate_limited_once("HTTP 429");
    let s = rig.deliver();
    assert_eq!(s.delivered, 1, "{:?}", rig.pr_row());
    let mrs = rig.sim.state.pulls();
    assert_eq!(mrs.len(), 1);
    assert!(
        mrs[0]
            .body
            .contains("Link back: `sitrep show prisma-cspm:P-77`")
    );
    let prs = rig.store.pull_requests_for(&rig.id).expect("prs");
    assert_eq!(prs[0].link.forge, "gitlab");
    assert!(prs[0].link.url.contains("/acme/infra/-/merge_requests/1"));
    let history = rig.store.history(&rig.id).expect("history");
    assert!(
        history.iter().any(|h| h
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("merge request #1 opened on GitLab acme/infra"))),
        "{history:?}"
    );
    assert!(rig.sim.state.set_state(1, "closed"));
    assert_eq!(rig.poll(), (1, 1));
    let prs = rig.store.pull_requests_for(&rig.id).expect("prs");
    assert_eq!(prs[0].link.state, "closed");
}

#[test]
fn gitlab_409_links_the_existing_merge_request() {
    let mut rig = Rig::approved(true);
    // Someone (an earlier run whose row was lost) already pushed the branch and opened a
    // request for it: the first attempt does not search, GitLab answers 409, sitrep links it.
    let p = rig.pr_row().payload;
    let branch = p["branch"].as_str().expect("branch").to_string();
    let out = sitrep::dispatch::patch::apply(
        &rig.repo,
        None,
        &branch,
        p["diff"].as_str().expect("diff"),
        p["message"].as_str().expect("message"),
        "bob",
    )
    .expect("commit");
    sitrep::dispatch::patch::push(&rig.repo, "origin", &branch, &out.commit).expect("push");
    rig.sim
        .state
        .open(&branch, "main", "opened elsewhere", "")
        .expect("open");
    let s = rig.deliver();
    assert_eq!(s.delivered, 1, "{:?}", rig.pr_row());
    assert_eq!(rig.sim.state.pulls().len(), 1);
    let prs = rig.store.pull_requests_for(&rig.id).expect("prs");
    assert!(!prs[0].link.created);
    assert_eq!(prs[0].link.number, 1);
}

#[test]
fn the_alerts_ticket_is_told_about_the_pull_request() {
    use sitrep::sim::server::jira::{self, JiraSimOptions};
    let mut rig = Rig::new(false, TOKEN);
    let jira = rig
        .rt
        .block_on(jira::start(JiraSimOptions::default()))
        .expect("jira sim");
    rig.with(&format!(
        "[tickets.jira]\nflavor = \"cloud\"\nbase_url = \"{}\"\nproject = \"SEC\"\nemail = \"{}\"\ntoken = \"{}\"\n",
        jira.base_url,
        jira.email(),
        jira.api_token()
    ));
    rig.decide("alice", Intent::Ticket { system: None })
        .expect("ticket");
    rig.deliver();
    let issues = jira.issues();
    assert_eq!(issues.len(), 1, "{:?}", rig.store.outbox_for_alert(&rig.id));
    rig.approve();
    rig.ask().expect("queued");
    let s = rig.deliver();
    assert_eq!(
        (s.delivered, s.failed),
        (2, 0),
        "{:?}",
        rig.store.outbox_for_alert(&rig.id)
    );
    let prs = rig.store.pull_requests_for(&rig.id).expect("prs");
    assert_eq!(prs[0].link.ticket.as_deref(), Some(issues[0].key.as_str()));
    assert!(
        rig.sim.state.pulls()[0]
            .body
            .contains(&format!("- Ticket: {}", issues[0].key)),
        "{}",
        rig.sim.state.pulls()[0].body
    );
    let comments = &jira.issues()[0].comments;
    assert!(
        comments
            .iter()
            .any(|c| c.body.to_string().contains(&prs[0].link.url)),
        "{comments:?}"
    );
}

#[test]
fn a_remote_branch_with_other_content_is_never_overwritten() {
    let mut rig = Rig::approved(false);
    let branch = rig.pr_row().payload["branch"]
        .as_str()
        .expect("branch")
        .to_string();
    // Someone pushed something else under that name.
    git(
        &rig.repo,
        &["push", "-q", "origin", &format!("main:refs/heads/{branch}")],
    );
    let theirs = git(&rig.remote, &["rev-parse", &branch]);
    let s = rig.deliver();
    assert_eq!(s.failed, 1, "{:?}", rig.pr_row());
    let err = rig.pr_row().last_error.unwrap_or_default();
    assert!(
        err.contains("already exists there with other content; not overwriting it"),
        "{err}"
    );
    assert_eq!(git(&rig.remote, &["rev-parse", &branch]), theirs);
    assert!(rig.sim.state.pulls().is_empty());
}

#[test]
fn a_refused_token_fails_plainly_and_never_shows_the_token() {
    let mut rig = Rig::new(false, "ghp_wrongTOKENwrongTOKEN");
    rig.approve();
    rig.ask().expect("queued");
    let s = rig.deliver();
    assert_eq!(s.failed, 1, "{:?}", rig.pr_row());
    let row = rig.pr_row();
    assert_eq!(row.state, OutboxState::Failed);
    let err = row.last_error.clone().unwrap_or_default();
    assert!(err.contains("HTTP 401: credentials refused"), "{err}");
    assert!(!err.contains("ghp_wrong") && !err.contains(TOKEN), "{err}");
    for e in rig.store.audit_entries(None).expect("audit") {
        assert!(!e.detail.contains("ghp_"), "{}", e.detail);
    }
    for h in rig.store.history(&rig.id).expect("history") {
        assert!(!format!("{h:?}").contains("ghp_"), "{h:?}");
    }
    // The branch was pushed (git needs no forge token); the pull request was not opened.
    assert!(rig.sim.state.pulls().is_empty());
}

#[test]
fn no_forge_for_the_checkout_is_refused_before_anything_is_queued() {
    let mut rig = Rig::new(false, TOKEN);
    let text = format!(
        "[approvals]\nfour_eyes = true\non_approve = []\n[[iac]]\npath = {:?}\n",
        rig.repo.display().to_string()
    );
    rig.config = Config::from_text(None, &text).expect("config");
    rig.approve();
    let m = refused(rig.ask());
    assert!(m.contains("names no forge and repo"), "{m}");
    assert_eq!(rig.remote_branches(), "refs/heads/main");
}

#[test]
fn sitrep_pr_refuses_an_unapproved_fix_in_one_line() {
    let sb = common::Sandbox::new();
    std::fs::create_dir_all(sb.db().parent().expect("dir")).expect("mkdir");
    {
        let mut store = Store::open(&sb.db()).expect("store");
        store.import(&[alert()], common::NOW_MS).expect("import");
    }
    let infra = sb.path("infra");
    copy_dir(Path::new(FIXTURE), &infra);
    let cfg = sb.write(
        "config.toml",
        &format!(
            "[[iac]]\npath = {:?}\naccounts = [\"123456789012\"]\nforge = \"github\"\nrepo = \"acme/infra\"\n[pr.github]\napi_url = \"http://127.0.0.1:9\"\ntoken = {{ env = \"GH_TOKEN\" }}\n",
            infra.display().to_string()
        ),
    );
    let out = sb
        .cmd()
        .env("SITREP_CONFIG", &cfg)
        .args(["pr", "prisma-cspm:P-77"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("the diff is not approved"), "{err}");
    let list = sb
        .cmd()
        .env("SITREP_CONFIG", &cfg)
        .args(["pr", "--list"])
        .output()
        .expect("run");
    assert!(list.status.success());
    assert!(String::from_utf8_lossy(&list.stdout).contains("no pull requests yet"));
    // Bad config: a forge that is not one.
    let bad = sb.write(
        "bad.toml",
        &format!(
            "[[iac]]\npath = {:?}\nforge = \"bitbucket\"\nrepo = \"a/b\"\n",
            infra.display().to_string()
        ),
    );
    let out = sb
        .cmd()
        .env("SITREP_CONFIG", &bad)
        .args(["pr", "--list"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[[iac]] #1 forge: unknown forge 'bitbucket'; expected github or gitlab"),
        "{err}"
    );
}
