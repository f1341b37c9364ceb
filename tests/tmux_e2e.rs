//! End to end on a real terminal: `sitrep demo` in tmux, driven with send-keys and read with
//! capture-pane. The demo starts the six simulators, syncs, and opens the console; a filter
//! narrows the queue; a dismissal made with the keyboard is visible to `sitrep show` on the
//! same database afterwards.
//!
//! Needs tmux. Under CI (`CI` set) a missing tmux fails the test (.ci/run installs it);
//! elsewhere the test says it is skipped.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

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

    fn send(&self, keys: &[&str]) {
        let st = self
            .cmd()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
        std::thread::sleep(Duration::from_millis(150));
    }

    fn type_text(&self, text: &str) {
        let st = self
            .cmd()
            .args(["send-keys", "-l", "-t", &self.session, text])
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
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

    /// Wait until `pred` holds for the screen (or fail, printing the last screen).
    fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The queue's alert count from its title ("Queue 123 alerts").
fn queue_count(screen: &str) -> Option<usize> {
    let i = screen.find(" Queue ")?;
    let rest = &screen[i + 7..];
    let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    n.parse().ok()
}

/// Start `sitrep [args]` in a fresh tmux session of 160×45 with a hermetic environment.
fn start(name: &str, sb: &common::Sandbox, args: &str) -> Tmux {
    let home = sb.path("home");
    std::fs::create_dir_all(&home).expect("home");
    let bin = env!("CARGO_BIN_EXE_sitrep");
    let t = Tmux {
        socket: format!("sitrep-e2e-{name}-{}", std::process::id()),
        session: name.into(),
    };
    // A hermetic environment: private HOME and XDG dirs; wall clock (the simulators use it).
    let command = format!(
        "env -i PATH=\"$PATH\" HOME={home} XDG_CONFIG_HOME={home}/.config \
         XDG_DATA_HOME={home}/.local/share XDG_CACHE_HOME={home}/.cache USER=e2e TERM=xterm-256color \
         {bin} {args}; sleep 60",
        home = home.display(),
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

fn skip_without_tmux() -> bool {
    if have_tmux() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tmux is required under CI (.ci/run installs it)"
    );
    eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
    true
}

#[test]
fn sigterm_restores_the_terminal() {
    if skip_without_tmux() {
        return;
    }
    let sb = common::Sandbox::new();
    let db = sb.path("term.db");
    let t = start(
        "term",
        &sb,
        &format!("--db {} demo --alerts 10", db.display()),
    );
    t.wait_for("the demo console", 90, |s| {
        s.contains(" Queue ") && s.contains("online")
    });
    let alt = |t: &Tmux| {
        let out = t
            .cmd()
            .args(["display-message", "-p", "-t", &t.session, "#{alternate_on}"])
            .output()
            .expect("tmux display");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(alt(&t), "1", "the console runs on the alternate screen");
    let pane = t
        .cmd()
        .args(["display-message", "-p", "-t", &t.session, "#{pane_pid}"])
        .output()
        .expect("pane pid");
    let pane = String::from_utf8_lossy(&pane.stdout).trim().to_string();
    let st = Command::new("pkill")
        .args(["-TERM", "-P", &pane, "-x", "sitrep"])
        .status()
        .expect("pkill");
    assert!(st.success(), "sitrep found under the pane");
    // Poll the terminal's own state, the property under test, rather than the screen's text
    // (a process killed on the alternate screen leaves the old frame, minus a scrolled line).
    let deadline = Instant::now() + Duration::from_secs(20);
    while alt(&t) != "0" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        alt(&t),
        "0",
        "the alternate screen was not left within 20 s:\n{}",
        t.screen()
    );
    let screen = t.wait_for("the shell screen back", 5, |s| !s.contains(" Queue "));
    assert!(!screen.contains("panicked"), "{screen}");
    // And the process is gone: once a SIGTERM left one running (a sync task panicked as the
    // runtime shut down and the panic hook hung on stdout), spinning on the closed terminal.
    let alive = || {
        Command::new("pgrep")
            .args(["-P", &pane, "-x", "sitrep"])
            .status()
            .is_ok_and(|s| s.success())
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !alive(),
        "sitrep still runs 15 s after SIGTERM:\n{}",
        t.screen()
    );
}

#[test]
fn demo_filter_and_dismiss_in_a_real_terminal() {
    if skip_without_tmux() {
        return;
    }
    let sb = common::Sandbox::new();
    let db = sb.path("demo.db");
    let t = start(
        "demo",
        &sb,
        &format!("--db {} demo --alerts 40 --seed 3", db.display()),
    );
    // The console opens with the six sources synced.
    let screen = t.wait_for("the demo console", 90, |s| {
        s.contains(" Queue ") && queue_count(s).is_some_and(|n| n > 0) && s.contains("online")
    });
    let all = queue_count(&screen).expect("count");
    // Every vendor has alerts in the queue: filter on each.
    for v in [
        "prisma-cspm",
        "prisma-compute",
        "wiz",
        "lacework",
        "orca",
        "cortex-xdr",
    ] {
        t.send(&["/"]);
        t.send(&["C-u"]);
        t.type_text(&format!("vendor:{v}"));
        t.send(&["Enter"]);
        let s = t.wait_for(&format!("the {v} filter"), 10, |s| {
            s.contains(&format!("/vendor:{v}")) && queue_count(s).is_some()
        });
        let n = queue_count(&s).expect("count");
        assert!(n > 0 && n < all, "vendor:{v}: {n} of {all}\n{s}");
        assert!(s.contains(&format!(" {v} ")), "{v} rows shown:\n{s}");
    }
    // Narrow to Wiz high and above; the selected alert's id is on the detail's first line.
    t.send(&["/"]);
    t.send(&["C-u"]);
    t.type_text("vendor:wiz sev:>=high");
    t.send(&["Enter"]);
    let s = t.wait_for("the narrowed queue", 10, |s| {
        s.contains("/vendor:wiz sev:>=high") && s.contains("wiz:")
    });
    let at = s.find("wiz:").expect("an id on screen");
    let id: String = s[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '│')
        .collect();
    // Dismiss it: reason accepted_risk, a note, saved.
    t.send(&["d"]);
    t.wait_for("the dismiss dialog", 10, |s| s.contains("Dismiss"));
    t.send(&["j", "Tab"]);
    t.type_text("accepted by e2e");
    t.send(&["C-s"]);
    t.wait_for("the confirmation", 10, |s| {
        s.contains("dismissed 1 alert (accepted_risk)")
    });
    t.send(&["q"]);
    std::thread::sleep(Duration::from_secs(2));
    // The decision is in the database the demo kept.
    let out = sb
        .cmd()
        .env_remove("SITREP_NOW")
        .args([
            "--db",
            db.to_str().unwrap(),
            "show",
            &id,
            "--format",
            "json",
        ])
        .output()
        .expect("show");
    assert!(
        out.status.success(),
        "show {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let text = v.to_string();
    assert!(text.contains("dismissed"), "{text}");
    assert!(text.contains("accepted_risk"), "{text}");
    assert!(text.contains("accepted by e2e"), "{text}");
}
