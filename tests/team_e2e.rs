//! Team mode end to end, with real `sitrep` processes on one PostgreSQL team store
//! (tests/common/pg.rs): two analysts ticketing one resource 200 times each at once get one
//! Jira issue, one `tickets` row, the key on both replicas and one notification; and two
//! consoles in tmux see each other's dismissal and claim within a second (issue 20).
//!
//! The console part needs tmux: under CI (`CI` set) a missing tmux fails the test, elsewhere
//! it says it is skipped, like tests/tmux_e2e.rs.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::Sandbox;
use pg::TestDb;
use sitrep::sim::server::chat::{self, ChatSim, ChatSimHandle, ChatSimOptions};
use sitrep::sim::server::jira::{self, JiraSimHandle, JiraSimOptions, TicketCounters};
use sitrep::store::Store;

/// The team's audit key (`[audit] key` names this variable on every analyst's machine). No
/// spaces: it goes through a shell command line in the tmux test.
const KEY: &str = "team-e2e-audit-key-long-enough-0123456789abcdef";

/// A migrated team store holding `n` Prisma alerts (imported into a scratch SQLite file, which
/// publishes them), and their ids.
fn seeded(n: usize) -> Option<(TestDb, Vec<String>)> {
    let db = TestDb::create()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let team = db.migrated_team(&rt);
    let sb = Sandbox::new();
    sb.import_generated(11, n);
    let mut store = Store::open(&sb.db()).expect("store");
    let ids = db.published(&rt, &mut store, &team);
    assert_eq!(ids.len(), n);
    Some((db, ids))
}

/// One analyst's machine: a private HOME (so a replica of its own) and a config naming the
/// analyst and the team's audit key.
struct Analyst {
    sb: Sandbox,
    vars: Vec<(String, String)>,
}

impl Analyst {
    fn new(name: &str, db: &TestDb, extra_toml: &str, vars: Vec<(String, String)>) -> Analyst {
        let sb = Sandbox::new();
        sb.write(
            "home/.config/sitrep/config.toml",
            &format!(
                "[general]\nanalyst = \"{name}\"\n\n[audit]\nkey = {{ env = \"SITREP_AUDIT_KEY\" }}\n\n{extra_toml}"
            ),
        );
        let mut all = vec![
            ("SITREP_DATABASE_URL".to_string(), db.url.clone()),
            ("SITREP_AUDIT_KEY".to_string(), KEY.to_string()),
        ];
        all.extend(vars);
        Analyst { sb, vars: all }
    }

    /// The binary on this analyst's replica (the default path in team mode) and wall clock:
    /// the outbox's due times and the simulators both run on it.
    fn cmd(&self) -> Command {
        let mut c = self.sb.cmd();
        c.env_remove("SITREP_DB").env_remove("SITREP_NOW");
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run sitrep")
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The simulators' runtime and the Jira and chat simulators.
struct Sims {
    _rt: tokio::runtime::Runtime,
    jira: JiraSimHandle,
    chat: ChatSimHandle,
}

fn sims() -> Sims {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let jira = rt
        .block_on(jira::start(JiraSimOptions {
            // The search index lags behind a create, as Jira Cloud's does: two deliveries of
            // one row at the same moment would each miss the other's issue and open a second.
            index_lag: Duration::from_millis(50),
            ..JiraSimOptions::default()
        }))
        .expect("jira sim");
    let chat = rt
        .block_on(chat::start(ChatSimOptions {
            port: 0,
            seed: 5,
            latency: Duration::ZERO,
        }))
        .expect("chat sim");
    Sims {
        _rt: rt,
        jira,
        chat,
    }
}

/// How many `sitrep ticket` runs each analyst makes (one decision each).
const RUNS: usize = 200;

#[test]
fn two_analysts_ticketing_one_resource_at_once_open_one_issue() {
    let Some((db, ids)) = seeded(3) else {
        return;
    };
    let sims = sims();
    let mut vars = sims.jira.env();
    vars.extend(sims.chat.env());
    // Slack only, on both ticket events: a second delivery of the ticket row (or a second
    // ticket) would be a second message.
    let toml = format!(
        "[tickets]\ndefault = \"jira\"\n{}\n[notify]\nevents = [\"ticket.created\", \"ticket.linked\"]\n[notify.slack]\nwebhook_url = {{ env = \"SITREP_SLACK_WEBHOOK\" }}\n",
        sims.jira.tickets_toml(false)
    );
    let alice = Analyst::new("alice", &db, &toml, vars.clone());
    let bob = Analyst::new("bob", &db, &toml, vars);
    let alert = ids[1].clone();

    let started = Instant::now();
    let outcomes: Vec<Vec<Output>> = std::thread::scope(|s| {
        let handles: Vec<_> = [&alice, &bob]
            .into_iter()
            .map(|a| {
                let alert = alert.clone();
                s.spawn(move || {
                    let args: Vec<&str> = std::iter::once("ticket")
                        .chain(std::iter::once(alert.as_str()))
                        .collect();
                    (0..RUNS).map(|_| a.run(&args)).collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("analyst thread"))
            .collect()
    });
    let took = started.elapsed();
    eprintln!(
        "{} `sitrep ticket` runs ({} decisions) by two analysts at once in {:.1} s",
        2 * RUNS,
        2 * RUNS,
        took.as_secs_f64()
    );

    for (who, runs) in ["alice", "bob"].iter().zip(&outcomes) {
        for (i, o) in runs.iter().enumerate() {
            assert!(
                o.status.success(),
                "{who}'s run {i} failed ({:?}):\n{}",
                o.status.code(),
                text(o)
            );
        }
    }
    // Runs that found no team ticket yet queued one (one outbox row for all of them: its
    // dedup key); once it was delivered, every later run linked the team's ticket.
    let all: String = outcomes.iter().flatten().map(text).collect();
    let queued = all.matches("queued in jira").count();
    let linked = all.matches("linked existing ticket").count();
    let delivered = outcomes
        .iter()
        .flatten()
        .filter(|o| {
            text(o).contains("outbox: 1 delivered") || text(o).contains("outbox: 2 delivered")
        })
        .count();
    eprintln!("{queued} runs queued the ticket, {linked} linked it, {delivered} delivered it");
    assert_eq!(queued + linked, 2 * RUNS, "{all}");
    assert!(queued >= 1 && linked >= 1, "{all}");
    assert!(
        delivered >= 1,
        "a ticket run delivered the team's outbox:\n{all}"
    );

    let tickets = db.query("SELECT fingerprint || ' ' || key FROM tickets");
    assert_eq!(tickets.len(), 1, "one team tickets row: {tickets:?}");
    let row = tickets[0].clone().expect("a row");
    let (fp, key) = row.split_once(' ').expect("fingerprint and key");
    let issues = sims.jira.issues();
    assert_eq!(
        issues.len(),
        1,
        "one issue in Jira: {:?}",
        issues.iter().map(|i| &i.key).collect::<Vec<_>>()
    );
    assert_eq!(sims.jira.state.issues_with_label(fp).len(), 1);
    assert_eq!(issues[0].key, key);
    assert_eq!(
        TicketCounters::get(&sims.jira.state.counters.create_requests),
        1,
        "one create request reached Jira"
    );
    let on_team = db.query(&format!("SELECT ticket FROM alerts WHERE id = '{alert}'"));
    assert_eq!(on_team, vec![Some(key.to_string())]);
    assert_eq!(
        db.query("SELECT count(*) FROM outbox WHERE kind = 'ticket'"),
        vec![Some("1".to_string())],
        "one ticket row in the team outbox"
    );
    // The key is on the alert in both replicas, as each last pulled it.
    for (who, a) in [("alice", &alice), ("bob", &bob)] {
        let o = a.run(&["show", &alert, "--format", "json"]);
        assert!(o.status.success(), "{who}: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("show json");
        assert_eq!(v["ticket"].as_str(), Some(key), "{who}'s replica: {v}");
    }
    // One notification: the ticket's, sent once.
    assert_eq!(
        ChatSim::count(&sims.chat.state.counters.slack_requests),
        1,
        "one Slack message for the ticket"
    );
}

// ---------------------------------------------------------------------------------------
// Two consoles in tmux.

struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Send keys without waiting afterwards (the latency measurement starts right after).
    fn keys(&self, keys: &[&str]) {
        let st = self
            .cmd()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
    }

    fn send(&self, keys: &[&str]) {
        self.keys(keys);
        std::thread::sleep(Duration::from_millis(150));
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Poll every `every` until `pred` holds for the screen (or fail, printing it); returns the
    /// screen and when it was seen.
    fn wait_every(
        &self,
        what: &str,
        limit: Duration,
        every: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> (String, Instant) {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            let at = Instant::now();
            if pred(&s) {
                return (s, at);
            }
            if at > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(every);
        }
    }

    fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        self.wait_every(
            what,
            Duration::from_secs(secs),
            Duration::from_millis(200),
            pred,
        )
        .0
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn skip_without_tmux() -> bool {
    let have = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tmux is required under CI (.ci/run installs it)"
    );
    eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
    true
}

/// The queue's alert count from its title ("Queue 123 alerts").
fn queue_count(screen: &str) -> Option<usize> {
    let i = screen.find(" Queue ")?;
    let rest = &screen[i + 7..];
    let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    n.parse().ok()
}

/// The analyst's console in a fresh tmux session of 160×45, with only the analyst's
/// environment (wall clock: claims last until a real time).
fn console(name: &str, a: &Analyst) -> Tmux {
    let home = a.sb.path("home");
    std::fs::create_dir_all(&home).expect("home");
    let t = Tmux {
        // Unique per console: the tests of this file run in parallel in one process.
        socket: format!(
            "sitrep-team-{name}-{}-{}",
            std::process::id(),
            SOCKETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        session: name.into(),
    };
    let vars: String = a.vars.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    let command = format!(
        "env -i PATH=\"$PATH\" HOME={home} XDG_CONFIG_HOME={home}/.config \
         XDG_DATA_HOME={home}/.local/share XDG_CACHE_HOME={home}/.cache USER={name} \
         TERM=xterm-256color {vars}{bin}; sleep 60",
        home = home.display(),
        bin = env!("CARGO_BIN_EXE_sitrep"),
    );
    let st = t
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "160",
            "-y",
            "45",
            &command,
        ])
        .status()
        .expect("tmux new-session");
    assert!(st.success());
    t
}

/// Two analysts' consoles on one team store of `n` alerts, each live with the whole queue.
static SOCKETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Pair {
    db: TestDb,
    // The analysts' sandboxes outlive their consoles.
    _alice: Analyst,
    _bob: Analyst,
    a: Tmux,
    b: Tmux,
    /// Alice's first screen.
    first: String,
}

fn pair(n: usize) -> Option<Pair> {
    if skip_without_tmux() {
        return None;
    }
    let (db, _ids) = seeded(n)?;
    let alice = Analyst::new("alice", &db, "", Vec::new());
    let bob = Analyst::new("bob", &db, "", Vec::new());
    let a = console("alice", &alice);
    let b = console("bob", &bob);
    let ready = |s: &str| s.contains("team live") && queue_count(s) == Some(n);
    // Alice's detail pane loaded too: its first line names the selected alert.
    let first = a.wait_for("alice's console, live with the team's queue", 60, |s| {
        ready(s) && s.contains("prisma-cspm:")
    });
    b.wait_for("bob's console, live with the team's queue", 60, ready);
    Some(Pair {
        db,
        _alice: alice,
        _bob: bob,
        a,
        b,
        first,
    })
}

/// A change confirmed in alice's console at `confirmed` and seen in bob's at `seen`: print the
/// latency (the 1 s target is docs/team.md's and docs/performance.md's, never asserted).
fn report_latency(what: &str, confirmed: Instant, seen: Instant) {
    // Printed, never asserted (timings are the benches' and docs/performance.md's): the
    // callers' 5 s deadlines only tell "arrived" from "never arrived".
    let latency = seen.saturating_duration_since(confirmed);
    eprintln!(
        "{what}: in bob's console {} ms after alice's confirmation (target: under 1 s)",
        latency.as_millis()
    );
}

#[test]
fn a_dismissal_in_one_console_shows_in_another_within_a_second() {
    let n = 20;
    let Some(p) = pair(n) else {
        return;
    };
    // Both consoles sort alike: the top alert is selected in both.
    let id = selected_id(&p.first);
    // Alice dismisses it (the dialog's first reason), saved with ctrl-s.
    p.a.send(&["d"]);
    p.a.wait_for("the dismiss dialog", 10, |s| s.contains("Dismiss"));
    p.a.keys(&["C-s"]);
    let (_, confirmed) = p.a.wait_every(
        "alice's confirmation",
        Duration::from_secs(10),
        Duration::from_millis(20),
        |s| s.contains("dismissed 1 alert"),
    );
    let deadline = confirmed + Duration::from_secs(5);
    let (screen, seen) = loop {
        let s = p.b.screen();
        let at = Instant::now();
        if queue_count(&s) == Some(n - 1) {
            break (s, at);
        }
        if at > deadline {
            let team =
                p.db.query(&format!("SELECT status FROM alerts WHERE id = '{id}'"));
            panic!(
                "alice's dismissal of {id} is not in bob's queue 5 s after her confirmation (the team store says {team:?}):\n{s}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    report_latency("dismissal", confirmed, seen);
    let status =
        p.db.query(&format!("SELECT status FROM alerts WHERE id = '{id}'"));
    assert_eq!(status, vec![Some("dismissed".to_string())]);
    // The detail pane follows the new selection a moment after the queue (its own read).
    let gone_at = Instant::now() + Duration::from_secs(2);
    let mut screen = screen;
    while screen.contains(&id) && Instant::now() < gone_at {
        std::thread::sleep(Duration::from_millis(50));
        screen = p.b.screen();
    }
    assert!(!screen.contains(&id), "{id} left bob's screen:\n{screen}");
    p.a.send(&["q"]);
    p.b.send(&["q"]);
}

#[test]
fn a_claim_in_one_console_shows_in_another_within_a_second() {
    let Some(p) = pair(10) else {
        return;
    };
    assert!(!p.first.contains("@alice"), "{}", p.first);
    p.a.keys(&["c"]);
    let (_, confirmed) = p.a.wait_every(
        "alice's claim",
        Duration::from_secs(10),
        Duration::from_millis(20),
        // The flash: "claimed prisma-cspm:P-7 for 2h".
        |s| s.lines().any(|l| l.starts_with("claimed ")),
    );
    let (screen, seen) = p.b.wait_every(
        "@alice in bob's queue",
        Duration::from_secs(5),
        Duration::from_millis(100),
        |s| s.contains("@alice"),
    );
    report_latency("claim", confirmed, seen);
    assert!(screen.contains("team live"), "{screen}");
    let holder =
        p.db.query("SELECT claimed_by FROM alerts WHERE claimed_by IS NOT NULL");
    assert_eq!(holder, vec![Some("alice".to_string())]);
    p.a.send(&["q"]);
    p.b.send(&["q"]);
}

/// The id of the alert the detail pane shows (the queue's selection): the only
/// `prisma-cspm:`-style id on screen (the queue's rows show the vendor, not the id).
fn selected_id(screen: &str) -> String {
    let at = screen
        .find("prisma-cspm:")
        .unwrap_or_else(|| panic!("an alert id on screen:\n{screen}"));
    screen[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '│')
        .collect()
}
