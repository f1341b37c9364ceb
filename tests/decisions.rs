//! Headless decisions through the real binary: `sitrep mark` commits the decision with its
//! outbox row, the outbox writes it back to the vendor's (simulated) API, offline decisions wait
//! and go out once the network returns, unsupported write-backs say so on the alert.

mod common;

use std::path::PathBuf;

use common::Sandbox;
use sitrep::domain::Vendor;
use sitrep::sim::server::{SimHandle, SimOptions};
use sitrep::sim::world::SimStatus;
use sitrep::vendors::emit;

struct Env {
    sb: Sandbox,
    rt: tokio::runtime::Runtime,
    cfg: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(vendor: Vendor, alerts: usize, port: u16) -> (Env, SimHandle) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt
            .block_on(sitrep::vendors::sim::start(
                vendor,
                SimOptions {
                    port,
                    alerts,
                    seed: 11,
                    source_name: Some("tenant".into()),
                    ..SimOptions::default()
                },
            ))
            .expect("sim");
        let a = handle.announcement();
        let vars = a["env"]
            .as_object()
            .expect("env")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("str").to_string()))
            .collect();
        let sb = Sandbox::new();
        let cfg = sb.write(
            "config.toml",
            &format!(
                "[general]\nanalyst = \"alice\"\n\n{}",
                a["source_toml"].as_str().expect("toml")
            ),
        );
        (Env { sb, rt, cfg, vars }, handle)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut c = self.sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &self.cfg);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.args(args).output().expect("run sitrep")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sitrep {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Native ids of open findings in the simulator.
fn open_ids(env: &Env, h: &SimHandle, vendor: Vendor, n: usize) -> Vec<String> {
    env.rt.block_on(async {
        let world = h.state.world.read().await;
        world
            .findings_for(vendor)
            .filter(|f| f.status == SimStatus::Open)
            .take(n)
            .map(|f| emit::native_id(vendor, &world, f))
            .collect()
    })
}

fn sim_status(env: &Env, h: &SimHandle, vendor: Vendor, native: &str) -> SimStatus {
    env.rt.block_on(async {
        let world = h.state.world.read().await;
        world
            .findings_for(vendor)
            .find(|f| emit::native_id(vendor, &world, f) == native)
            .map(|f| f.status)
            .expect("finding")
    })
}

#[test]
fn mark_is_written_back_through_the_outbox_and_audited_in_history() {
    let v = Vendor::PrismaCspm;
    let (env, h) = Env::new(v, 40, 0);
    env.ok(&["sync"]);
    let ids = open_ids(&env, &h, v, 2);
    let a = format!("tenant:{}", ids[0]);
    let out = env.ok(&[
        "mark",
        &a,
        "--status",
        "false-positive",
        "--note",
        "scanner image, not deployed",
    ]);
    assert!(out.contains("recorded"), "{out}");
    assert!(out.contains("1 delivered"), "{out}");
    assert_eq!(sim_status(&env, &h, v, &ids[0]), SimStatus::Dismissed);

    let show = env.ok(&["show", &a, "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&show).expect("json");
    assert_eq!(j["status"]["status"], "dismissed");
    let history = j["history"].as_array().expect("history");
    assert!(
        history
            .iter()
            .any(|e| e["kind"] == "delivery" && e["reason"] == "written back to tenant"),
        "{history:?}"
    );
    let list = env.ok(&["outbox", "list", "--all"]);
    assert!(list.contains("done"), "{list}");
    assert!(list.contains("outbox: 0 pending"), "{list}");

    // Back to new: reopened at the vendor too.
    env.ok(&["mark", &a, "--status", "new"]);
    assert_eq!(sim_status(&env, &h, v, &ids[0]), SimStatus::Open);

    // The shift report names both decisions, by whom, and the outbox state.
    let report = env.ok(&["report", "--since", "1h"]);
    assert!(report.starts_with("# Shift hand-off"), "{report}");
    assert!(
        report.contains("- 2 decision(s) on 1 alert(s): 1 dismissed, 1 new"),
        "{report}"
    );
    assert!(
        report.contains("| dismissed | alice | false\\_positive — scanner image, not deployed |"),
        "{report}"
    );
    assert!(
        report.contains("- outbox: 0 pending (0 retrying), 0 failed"),
        "{report}"
    );
    assert!(report.contains("## Hot alerts still open"), "{report}");
    assert!(
        report.contains("Every decision has been delivered."),
        "{report}"
    );
    let out = env.run(&["report", "--since", "yesterday-ish"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since 'yesterday-ish'"));
    let file = env.sb.path("handoff.md");
    env.ok(&["report", "-o", file.to_str().expect("utf8")]);
    assert!(
        std::fs::read_to_string(&file)
            .expect("report file")
            .starts_with("# Shift hand-off")
    );
}

#[test]
fn offline_decisions_wait_in_the_outbox_and_go_out_when_the_network_returns() {
    let v = Vendor::PrismaCspm;
    let (env, h) = Env::new(v, 30, 0);
    env.ok(&["sync"]);
    let port: u16 = h
        .base_url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("port");
    let ids = open_ids(&env, &h, v, 3);
    env.rt.block_on(h.stop());

    // The vendor is unreachable: decisions are recorded, deliveries wait.
    for id in &ids {
        let out = env.ok(&["mark", &format!("tenant:{id}"), "--status", "accepted-risk"]);
        assert!(out.contains("1 to retry"), "{out}");
    }
    let list = env.ok(&["outbox", "list"]);
    assert!(
        list.contains("outbox: 3 pending (3 retrying), 0 failed"),
        "{list}"
    );
    let json = env.ok(&["outbox", "list", "--json"]);
    assert_eq!(json.lines().count(), 3);
    for l in json.lines() {
        let row: serde_json::Value = serde_json::from_str(l).expect("row");
        assert_eq!(row["state"], "pending");
        assert!(
            row["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("tenant")),
            "{row}"
        );
    }

    // The network returns (the same tenant on the same address).
    let (env2, h2) = {
        let h2 = env
            .rt
            .block_on(sitrep::vendors::sim::start(
                v,
                SimOptions {
                    port,
                    alerts: 30,
                    seed: 11,
                    source_name: Some("tenant".into()),
                    ..SimOptions::default()
                },
            ))
            .expect("sim again");
        (&env, h2)
    };
    let ids_in: Vec<String> = env2
        .ok(&["outbox", "list", "--json"])
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("row");
            row["id"].to_string()
        })
        .collect();
    let mut args = vec!["outbox", "retry"];
    args.extend(ids_in.iter().map(String::as_str));
    let out = env2.ok(&args);
    assert!(out.contains("3 delivered"), "{out}");
    for id in &ids {
        assert_eq!(sim_status(env2, &h2, v, id), SimStatus::Dismissed, "{id}");
    }
    let list = env2.ok(&["outbox", "list"]);
    assert!(list.contains("outbox: 0 pending"), "{list}");
}

#[test]
fn a_status_the_vendor_cannot_take_is_recorded_and_the_alert_says_so() {
    let v = Vendor::Orca;
    let (env, h) = Env::new(v, 20, 0);
    env.ok(&["sync"]);
    let ids = open_ids(&env, &h, v, 1);
    let a = format!("tenant:{}", ids[0]);
    let out = env.ok(&["mark", &a, "--status", "acknowledged"]);
    assert!(out.contains("1 not supported"), "{out}");
    let show = env.ok(&["show", &a]);
    assert!(
        show.contains("not written back to tenant: Orca has no 'acknowledged' alert status"),
        "{show}"
    );
    assert_eq!(sim_status(&env, &h, v, &ids[0]), SimStatus::Open);
}

#[test]
fn bad_decision_input_is_one_line_and_changes_nothing() {
    let v = Vendor::PrismaCspm;
    let (env, h) = Env::new(v, 10, 0);
    env.ok(&["sync"]);
    let ids = open_ids(&env, &h, v, 1);
    let a = format!("tenant:{}", ids[0]);
    for (args, want) in [
        (vec!["mark", &a, "--status", "dismissed"], "needs --reason"),
        (vec!["mark", &a, "--status", "snoozed"], "needs --until"),
        (vec!["mark", &a, "--status", "bogus"], "--status 'bogus'"),
        (
            vec!["mark", &a, "--status", "dismissed", "--reason", "meh"],
            "--reason 'meh'",
        ),
        (
            vec!["mark", &a, "--status", "snoozed", "--until", "2001-01-01"],
            "not in the future",
        ),
        (vec!["mark", "nope:nothing", "--status", "new"], "no alert"),
        (vec!["outbox", "drop", "999"], "no outbox entry 999"),
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let list = env.ok(&["outbox", "list", "--all"]);
    assert!(
        list.starts_with("outbox: 0 pending (0 retrying), 0 failed"),
        "{list}"
    );
    assert_eq!(list.lines().count(), 1, "{list}");
}

#[test]
fn approvals_follow_the_four_eyes_rule_and_bind_the_diff() {
    let v = Vendor::PrismaCspm;
    let (env, _h) = Env::new(v, 60, 0);
    env.ok(&["sync"]);
    let list = env.ok(&["list", "--format", "json", "--limit", "200"]);
    let rows: serde_json::Value = serde_json::from_str(&list).expect("json");
    // The first alert sitrep can propose a fix for.
    let mut target = None;
    for r in rows.as_array().expect("rows") {
        let id = r["id"].as_str().expect("id").to_string();
        let out = env.run(&["approve", &id, "--note", "looks right", "--no-deliver"]);
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                text.contains("awaiting approval: 0/1, requested by alice"),
                "{text}"
            );
            target = Some(id);
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nothing to approve"), "{err}");
    }
    let id = target.expect("an alert with a remediation proposal");

    // The requester cannot approve their own request.
    let out = env.run(&["approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("four-eyes rule: alice requested"), "{err}");

    // Another analyst can.
    let bob = env.sb.write(
        "bob.toml",
        &std::fs::read_to_string(&env.cfg)
            .expect("cfg")
            .replace("analyst = \"alice\"", "analyst = \"bob\""),
    );
    let mut c = env.sb.cmd();
    c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &bob);
    for (k, val) in &env.vars {
        c.env(k, val);
    }
    let out = c.args(["approve", &id]).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved by bob"));

    // Approved: a late rejection is refused; the history binds the diff's sha256.
    let out = env.run(&["reject", &id, "--note", "too late"]);
    assert_eq!(out.status.code(), Some(1));
    let show = env.ok(&["show", &id, "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&show).expect("json");
    let kinds: Vec<&str> = j["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"approval_request") && kinds.contains(&"approval"),
        "{kinds:?}"
    );
    assert!(
        j["history"]
            .as_array()
            .expect("history")
            .iter()
            .any(|e| e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("diff sha256 "))),
        "{j}"
    );
}
