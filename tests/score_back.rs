//! Issue 22 part 6: the priority score back to the vendor as a comment, through the real
//! binary and a Lacework simulator that records the comments it is sent. Off by default; on,
//! one comment per alert per change of score band, never repeated for the same band; a vendor
//! without a comment API is refused by `sitrep config check`.

mod common;

use std::path::PathBuf;

use common::Sandbox;
use sitrep::dispatch::score_back::band;
use sitrep::domain::Vendor;
use sitrep::sim::server::{SimHandle, SimOptions};

struct Env {
    sb: Sandbox,
    _rt: tokio::runtime::Runtime,
    source_toml: String,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(vendor: Vendor) -> (Env, SimHandle) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt
            .block_on(sitrep::vendors::sim::start(
                vendor,
                SimOptions {
                    port: 0,
                    alerts: 40,
                    seed: 5,
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
        let source_toml = a["source_toml"].as_str().expect("toml").to_string();
        (
            Env {
                sb: Sandbox::new(),
                _rt: rt,
                source_toml,
                vars,
            },
            handle,
        )
    }

    /// A config whose `[[source]]` has `extra` lines (before its credentials table).
    fn config(&self, name: &str, source_extra: &str, tail: &str) -> PathBuf {
        let source = self.source_toml.replacen(
            "[source.credentials]",
            &format!("{source_extra}\n[source.credentials]"),
            1,
        );
        self.sb.write(
            name,
            &format!("[general]\nanalyst = \"alice\"\n\n{source}\n{tail}"),
        )
    }

    fn run(&self, cfg: &PathBuf, args: &[&str]) -> std::process::Output {
        let mut c = self.sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", cfg);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.args(args).output().expect("run sitrep")
    }

    fn ok(&self, cfg: &PathBuf, args: &[&str]) -> String {
        let out = self.run(cfg, args);
        assert!(
            out.status.success(),
            "sitrep {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The open queue's scores.
    fn scores(&self, cfg: &PathBuf) -> Vec<u8> {
        let list = self.ok(cfg, &["list", "--format", "json", "--limit", "1000"]);
        let rows: serde_json::Value = serde_json::from_str(&list).expect("json");
        rows.as_array()
            .expect("rows")
            .iter()
            .map(|r| r["score"].as_u64().expect("score") as u8)
            .collect()
    }
}

#[test]
fn score_bands_go_back_once_per_change_and_only_when_asked() {
    let (env, h) = Env::new(Vendor::Lacework);

    // Off by default: a sync writes nothing back.
    let plain = env.config("plain.toml", "", "");
    env.ok(&plain, &["sync"]);
    assert!(h.state.comments().is_empty(), "{:?}", h.state.comments());

    // On: one comment per open alert, with its score, band and reason.
    let on = env.config("on.toml", "score_back = true", "");
    let before = env.scores(&on);
    assert!(!before.is_empty());
    let out = env.ok(&on, &["sync"]);
    assert!(
        out.contains(&format!(
            "score back: {} comment(s) queued for changed score bands",
            before.len()
        )),
        "{out}"
    );
    let sent = h.state.comments();
    assert_eq!(sent.len(), before.len(), "{sent:?}");
    let mut ids: Vec<&String> = sent.iter().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), sent.len(), "one comment per alert: {sent:?}");
    for (_, text) in &sent {
        assert!(text.starts_with("[sitrep] priority "), "{text}");
        let score: u8 = text["[sitrep] priority ".len()..]
            .split('/')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("score in the comment");
        assert!(text.contains(&format!("/100 ({})", band(score))), "{text}");
    }
    let mut want: Vec<String> = before.iter().map(|s| format!("({})", band(*s))).collect();
    let mut got: Vec<String> = sent
        .iter()
        .map(|(_, t)| {
            t.split_whitespace()
                .nth(3)
                .unwrap_or_default()
                .trim_end_matches(':')
                .to_string()
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);

    // Same bands: nothing more, however often it syncs.
    env.ok(&on, &["sync"]);
    env.ok(&on, &["sync"]);
    assert_eq!(h.state.comments().len(), sent.len());

    // Every alert scored as critical: only those whose band changed get a new comment.
    let hot = env.config(
        "hot.toml",
        "score_back = true",
        "[scoring.severity]\ncritical = 100\nhigh = 100\nmedium = 100\nlow = 100\ninfo = 100\n",
    );
    let after = env.scores(&hot);
    assert!(after.iter().all(|s| band(*s) == "critical"), "{after:?}");
    let changed = before.iter().filter(|s| band(**s) != "critical").count();
    assert!(
        changed > 0,
        "the fixture has alerts below critical: {before:?}"
    );
    env.ok(&hot, &["sync"]);
    let all = h.state.comments();
    assert_eq!(all.len(), sent.len() + changed, "{all:?}");
    assert!(
        all[sent.len()..]
            .iter()
            .all(|(_, t)| t.contains("/100 (critical)")),
        "{all:?}"
    );
    env.ok(&hot, &["sync"]);
    assert_eq!(h.state.comments().len(), all.len());

    // Each comment is an outbox delivery, settled and audited.
    let outbox = env.ok(&hot, &["outbox", "list", "--all", "--limit", "1000"]);
    assert_eq!(
        outbox
            .lines()
            .filter(|l| l.contains(" done ") && l.contains("vendor"))
            .count(),
        all.len(),
        "{outbox}"
    );
    let verify = env.ok(&hot, &["audit", "verify"]);
    assert!(!verify.contains("broken"), "{verify}");
}

#[test]
fn a_vendor_without_comments_is_refused_by_config_check() {
    let (env, _h) = Env::new(Vendor::PrismaCspm);
    let cfg = env.config("cspm.toml", "score_back = true", "");
    let out = env.run(&cfg, &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[[source]] tenant: score_back: Prisma Cloud CSPM has no comment or note API"),
        "{err}"
    );
    // And a sync never queues a comment it could not deliver.
    env.ok(&cfg, &["sync"]);
    let outbox = env.ok(&cfg, &["outbox", "list", "--all"]);
    assert!(outbox.starts_with("outbox: 0 pending"), "{outbox}");
    assert_eq!(outbox.lines().count(), 1, "{outbox}");
}

#[test]
fn score_back_must_be_a_boolean() {
    let (env, _h) = Env::new(Vendor::Lacework);
    let cfg = env.config("bad.toml", "score_back = \"yes\"", "");
    let out = env.run(&cfg, &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "bad.toml: line 8, column 14: invalid type: string \"yes\", expected a boolean"
        ),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
