//! `sitrep sim` and `sitrep sync` as a user runs them: a simulator in its own process, its
//! announcement pasted into a config file, then sync, list and the refresher.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use common::Sandbox;
use sitrep::domain::Vendor;

struct Sim {
    child: Child,
    announcement: serde_json::Value,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(sb: &Sandbox, vendor: &str, alerts: usize, faults: &str) -> Sim {
    let mut child = sb
        .cmd()
        .args([
            "sim",
            "--vendor",
            vendor,
            "--alerts",
            &alerts.to_string(),
            "--seed",
            "7",
            "--faults",
            faults,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sim");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let announcement: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    Sim {
        child,
        announcement,
    }
}

#[test]
fn sim_announces_itself_and_sync_fetches_from_it() {
    let sb = Sandbox::new();
    let mut config = String::new();
    let mut env = Vec::new();
    let mut sims = Vec::new();
    for v in Vendor::ALL {
        let sim = start_sim(&sb, v.as_str(), 300, "none");
        let a = &sim.announcement;
        assert_eq!(a["vendor"], v.as_str());
        let base = a["base_url"].as_str().expect("base_url");
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        for (k, val) in a["env"].as_object().expect("env") {
            env.push((k.clone(), val.as_str().expect("value").to_string()));
        }
        config.push_str(a["source_toml"].as_str().expect("toml"));
        config.push('\n');
        sims.push(sim);
    }
    let cfg = sb.write("config.toml", &config);
    let run = |args: &[&str]| {
        let mut c = sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &cfg);
        for (k, v) in &env {
            c.env(k, v);
        }
        c.args(args).output().expect("run")
    };
    let out = run(&["sync"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sync failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.contains(": ok — ")).count(),
        6,
        "{stdout}"
    );
    assert!(stdout.contains("synced 6 source(s)"), "{stdout}");

    let json: serde_json::Value = serde_json::from_slice(
        &run(&["list", "--all", "--format", "json", "--limit", "100000"]).stdout,
    )
    .expect("json");
    let rows = json.as_array().expect("rows");
    for v in Vendor::ALL {
        assert!(
            rows.iter().any(|r| r["vendor"] == v.as_str()),
            "no {v} alerts after sync"
        );
    }

    // A second sync asks only for the window since the watermark: nothing new.
    let out = run(&["sync"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| !l.contains(" new,") || l.contains(" 0 new,")),
        "{stdout}"
    );

    // Missing credentials are a config error before any request.
    let mut c = sb.cmd();
    c.env("SITREP_CONFIG", &cfg);
    let out = c.args(["sync"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("environment variable") && err.contains("is not set"),
        "{err}"
    );
}

#[test]
fn a_failing_source_is_named_and_the_exit_code_is_1() {
    let sb = Sandbox::new();
    let sim = start_sim(&sb, "orca", 50, "none");
    let toml = sim.announcement["source_toml"].as_str().expect("toml");
    let cfg = sb.write("config.toml", toml);
    let mut c = sb.cmd();
    c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &cfg);
    for (k, _) in sim.announcement["env"].as_object().expect("env") {
        c.env(k, "wrong-credential-value");
    }
    let out = c.args(["sync"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sync failed for orca-sim") && stderr.contains("authentication failed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-credential-value"),
        "a secret reached the error: {stderr}"
    );
}

/// Credentials from the OS keyring (the kernel keyring on Linux): stored with `config
/// set-secret`, reported by `config check`, used by a real sync against a simulator, and a
/// missing entry named in one line without any secret.
#[test]
fn keyring_credentials_are_stored_checked_and_used_by_sync() {
    use sitrep::config::keyring::{self, KeyringEntry};
    use std::io::Write;

    let sb = Sandbox::new();
    let sim = start_sim(&sb, "wiz", 60, "none");
    let service = format!("sitrep-it-{}", std::process::id());
    let mut toml = sim.announcement["source_toml"]
        .as_str()
        .expect("toml")
        .to_string();
    let mut entries = Vec::new();
    let mut secrets = Vec::new();
    for (var, value) in sim.announcement["env"].as_object().expect("env") {
        let value = value.as_str().expect("value").to_string();
        let entry = format!("{service}/{}", var.to_ascii_lowercase());
        let from = format!("{{ env = \"{var}\" }}");
        assert!(toml.contains(&from), "{toml}");
        toml = toml.replace(&from, &format!("{{ keyring = \"{entry}\" }}"));
        // As a user pipes it: the value and a newline on stdin.
        let mut child = sb
            .cmd()
            .args(["config", "set-secret", &entry])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{value}\n").as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("stored keyring entry {entry}")) && !stdout.contains(&value),
            "{stdout}"
        );
        entries.push(KeyringEntry::parse(&entry).expect("entry"));
        secrets.push(value);
    }
    let cleanup = |entries: &[KeyringEntry]| {
        for e in entries {
            let _ = keyring::delete(e);
        }
    };
    let cfg = sb.write("config.toml", &toml);
    let run = |args: &[&str]| {
        let mut c = sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &cfg);
        c.args(args).output().expect("run")
    };
    let no_secret = |text: &str| secrets.iter().all(|s| !text.contains(s.as_str()));

    let out = run(&["config", "check"]);
    let check = String::from_utf8_lossy(&out.stdout).to_string();
    let ok = out.status.success()
        && entries
            .iter()
            .all(|e| check.contains(&format!("keyring entry {e} (ok)")))
        && no_secret(&check);

    let out = run(&["sync"]);
    let sync_out = String::from_utf8_lossy(&out.stdout).to_string();
    let synced = out.status.success() && sync_out.contains("60 alert(s)");

    // One entry gone: sync and check both name it; neither prints a secret.
    let _ = keyring::delete(&entries[0]);
    let out = run(&["sync"]);
    let sync_err = String::from_utf8_lossy(&out.stderr).to_string();
    let sync_code = out.status.code();
    let out = run(&["config", "check"]);
    let check_missing = String::from_utf8_lossy(&out.stdout).to_string();
    let check_code = out.status.code();
    cleanup(&entries);

    assert!(ok, "config check: {check}");
    assert!(synced, "sync: {sync_out}");
    assert_eq!(sync_code, Some(2), "{sync_err}");
    assert!(
        sync_err.contains(&format!("keyring entry {} not found", entries[0]))
            && sync_err.trim().lines().count() == 1
            && no_secret(&sync_err),
        "{sync_err}"
    );
    assert_eq!(check_code, Some(2), "{check_missing}");
    assert!(
        check_missing.contains(&format!(
            "keyring entry {} (MISSING: keyring entry {} not found)",
            entries[0], entries[0]
        )) && no_secret(&check_missing),
        "{check_missing}"
    );
}

/// A bad audit key file is a config error (exit 2, one line) reported before the sync
/// fetches or stores anything, not after the work is done.
#[test]
fn a_bad_audit_key_file_fails_the_sync_before_any_alert_is_stored() {
    let sb = Sandbox::new();
    let sim = start_sim(&sb, "orca", 50, "none");
    let toml = sim.announcement["source_toml"].as_str().expect("toml");
    let cfg = sb.write("config.toml", toml);
    let key = sb.write("home/.local/share/sitrep/audit.key", "not a key\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let run = |args: &[&str]| {
        let mut c = sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &cfg);
        for (k, v) in sim.announcement["env"].as_object().expect("env") {
            c.env(k, v.as_str().expect("value"));
        }
        c.args(args).output().expect("run")
    };
    let out = run(&["sync"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("audit key file") && stderr.contains("does not hold a key"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stdout.trim().is_empty(), "the sync ran: {stdout}");
    if sb.db().exists() {
        let out = run(&["list", "--all", "--format", "json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(json.as_array().map(Vec::len), Some(0), "{json}");
    }
}

/// `sitrep source check` and `source status` as a user runs them: a healthy tenant exits 0
/// with a per-capability table; one whose key is wrong exits 1; after a sync whose filter the
/// vendor refused, `source status` shows the last full run and the refused filter.
#[test]
fn source_check_and_status_from_the_command_line() {
    let sb = Sandbox::new();
    let sim = start_sim(&sb, "cortex-xdr", 150, "refuse=server_creation_time");
    let a = &sim.announcement;
    let env: Vec<(String, String)> = a["env"]
        .as_object()
        .expect("env")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("value").to_string()))
        .collect();
    // One retry: the refused filter's 500 is retried once, not five times. max_retries
    // belongs to the [[source]] table, before its sub-tables.
    let toml = a["source_toml"].as_str().expect("toml").replacen(
        "[source.credentials]",
        "max_retries = 1\n[source.credentials]",
        1,
    );
    let cfg = sb.write("config.toml", &toml);
    let run = |args: &[&str], wrong_key: bool| {
        let mut c = sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &cfg);
        for (k, v) in &env {
            if wrong_key && k.ends_with("_KEY") {
                c.env(k, "0123456789abcdef".repeat(8));
            } else {
                c.env(k, v);
            }
        }
        c.args(args).output().expect("run")
    };
    let out = run(&["source", "check"], false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row:\n{stdout}"))
            .to_string()
    };
    assert!(row("read ").contains("works"), "{stdout}");
    assert!(
        row("incremental server_creation_time").contains("refused"),
        "{stdout}"
    );
    assert!(
        row("incremental creation_time").contains("works"),
        "{stdout}"
    );
    assert!(row("write-back status").contains("not tried"), "{stdout}");

    let out = run(&["source", "check"], true);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(row_has(&stdout, "read ", "refused"), "{stdout}");
    assert!(row_has(&stdout, "incremental ", "not tried"), "{stdout}");

    // Two syncs: the first is full, the second's filter is refused and it falls back.
    for _ in 0..2 {
        let out = run(&["sync"], false);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = run(&["sync"], false);
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains("incremental (creation_time)"), "{line}");
    assert!(line.contains("last full run"), "{line}");
    let out = run(&["source", "status"], false);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{status}");
    assert!(status.contains("last full run"), "{status}");
    assert!(
        status.contains("failed filter") && status.contains("server_creation_time"),
        "{status}"
    );
}

fn row_has(out: &str, prefix: &str, word: &str) -> bool {
    out.lines()
        .filter(|l| l.trim_start().starts_with(prefix))
        .all(|l| l.contains(word))
        && out.lines().any(|l| l.trim_start().starts_with(prefix))
}
