//! Decisions reaching their destinations through the outbox: Jira tickets without duplicates
//! (also when the server commits and the response is lost), links for the same resource,
//! ticket status polled back, Slack/Teams/webhook notifications, approvals dispatching a
//! ticket comment and a signed webhook — through the real binary and through the library.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::Sandbox;
use sitrep::config::Config;
use sitrep::dispatch::decide;
use sitrep::dispatch::worker::{self, Dispatcher};
use sitrep::domain::{Intent, Vendor};
use sitrep::sim::server::chat::{self, ChatSimHandle, ChatSimOptions};
use sitrep::sim::server::jira::{self, JiraSimHandle, JiraSimOptions, WriteOp};
use sitrep::sim::server::{SimHandle, SimOptions};
use sitrep::store::{OutboxState, Store};

struct Rig {
    sb: Sandbox,
    rt: tokio::runtime::Runtime,
    cfg: PathBuf,
    toml: String,
    vars: Vec<(String, String)>,
    _vendor: SimHandle,
    jira: JiraSimHandle,
    chat: ChatSimHandle,
}

impl Rig {
    fn new(alerts: usize, extra_toml: &str) -> Rig {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let vendor = rt
            .block_on(sitrep::vendors::sim::start(
                Vendor::PrismaCspm,
                SimOptions {
                    alerts,
                    seed: 21,
                    source_name: Some("tenant".into()),
                    ..SimOptions::default()
                },
            ))
            .expect("vendor sim");
        let jira = rt
            .block_on(jira::start(JiraSimOptions {
                index_lag: Duration::from_millis(20),
                ..JiraSimOptions::default()
            }))
            .expect("jira sim");
        let chat = rt
            .block_on(chat::start(ChatSimOptions {
                port: 0,
                seed: 3,
                latency: Duration::ZERO,
            }))
            .expect("chat sim");
        let a = vendor.announcement();
        let mut vars: Vec<(String, String)> = a["env"]
            .as_object()
            .expect("env")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("str").to_string()))
            .collect();
        vars.extend(jira.env());
        vars.extend(chat.env());
        let toml = format!(
            "[general]\nanalyst = \"alice\"\n\n{}\n[tickets]\ndefault = \"jira\"\n{}\n[notify]\nevents = [\"alert.notify\", \"alert.status_changed\", \"remediation.approved\", \"ticket.created\", \"ticket.linked\"]\n{}\n{extra_toml}",
            a["source_toml"].as_str().expect("toml"),
            jira.tickets_toml(false),
            chat.notify_toml(),
        );
        let sb = Sandbox::new();
        let cfg = sb.write("config.toml", &toml);
        Rig {
            sb,
            rt,
            cfg,
            toml,
            vars,
            _vendor: vendor,
            jira,
            chat,
        }
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

    /// The configuration as the binary reads it, with the simulators' credentials.
    fn config(&self) -> Config {
        for (k, v) in &self.vars {
            // SAFETY: tests in this file set the same values; no thread reads them concurrently
            // with a different value.
            unsafe { std::env::set_var(k, v) };
        }
        Config::from_text_private(Some(&self.cfg), &self.toml, true).expect("config")
    }

    fn ids(&self) -> Vec<String> {
        let list = self.ok(&["list", "--format", "json", "--limit", "100000"]);
        let rows: serde_json::Value = serde_json::from_str(&list).expect("json");
        rows.as_array()
            .expect("rows")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    }
}

#[test]
fn a_ticket_is_opened_once_linked_for_the_same_resource_and_its_status_comes_back() {
    let rig = Rig::new(40, "");
    rig.ok(&["sync"]);
    let ids = rig.ids();
    let a = &ids[0];
    let out = rig.ok(&["ticket", a]);
    // The ticket, then its "created" notice to Slack, Teams and the webhook.
    assert!(
        out.contains("4 delivered") && out.contains("0 failed"),
        "{out}"
    );
    let issues = rig.jira.issues();
    assert_eq!(issues.len(), 1, "{issues:?}");
    let key = issues[0].key.clone();
    assert!(issues[0].labels.iter().any(|l| l.starts_with("sitrep-fp-")));
    let show = rig.ok(&["show", a, "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&show).expect("json");
    assert_eq!(j["ticket"], key.as_str());

    // Again: linked locally, nothing new at Jira.
    let out = rig.ok(&["ticket", a]);
    assert!(
        out.contains(&format!("linked existing ticket {key}")),
        "{out}"
    );
    assert_eq!(rig.jira.issues().len(), 1);

    // The ticket-created notification went to Slack, Teams and the webhook.
    let slack = rig.rt.block_on(rig.chat.state.slack_messages());
    assert!(
        slack
            .iter()
            .any(|m| m.to_string().contains(&format!("{key} created in Jira"))),
        "{slack:?}"
    );
    let hooks = rig.rt.block_on(rig.chat.state.deliveries());
    assert!(
        hooks.iter().any(|d| d.body["type"] == "ticket.created"),
        "{hooks:?}"
    );

    // Someone closes it in Jira; the next sync polls it back onto the alert.
    assert!(rig.jira.state.set_status(&key, "Done"));
    let out = rig.ok(&["sync"]);
    assert!(out.contains("tickets: 1 polled, 1 changed status"), "{out}");
    let show = rig.ok(&["show", a]);
    assert!(
        show.contains(&format!("ticket {key} is now Done")),
        "{show}"
    );
}

#[test]
fn notifications_go_to_every_channel_and_a_lost_webhook_response_is_deduplicated() {
    let rig = Rig::new(20, "");
    rig.ok(&["sync"]);
    let ids = rig.ids();
    // The webhook receiver commits the first delivery and drops its response.
    rig.rt.block_on(rig.chat.state.push(
        chat::ChatTarget::Webhook,
        &[chat::ChatFault::CommitThenDrop],
    ));
    let out = rig.ok(&["notify", &ids[0]]);
    assert!(
        out.contains("2 delivered") && out.contains("1 to retry"),
        "{out}"
    );
    let out = rig.ok(&["outbox", "retry"]);
    assert!(out.contains("1 delivered"), "{out}");
    let hooks = rig.rt.block_on(rig.chat.state.deliveries());
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        rig.chat
            .state
            .counters
            .webhook_duplicates
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(rig.rt.block_on(rig.chat.state.slack_messages()).len(), 1);
    assert_eq!(rig.rt.block_on(rig.chat.state.teams_cards()).len(), 1);

    // A status change notifies too (alert.status_changed is subscribed).
    let out = rig.ok(&[
        "mark",
        &ids[1],
        "--status",
        "acknowledged",
        "--note",
        "on it",
    ]);
    assert!(out.contains("3 delivered"), "{out}");
    let slack = rig.rt.block_on(rig.chat.state.slack_messages());
    assert_eq!(slack.len(), 2);
    assert!(slack[1].to_string().contains("on it"), "{}", slack[1]);
    let out = rig.ok(&["audit", "verify"]);
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn a_lost_create_response_never_makes_a_second_ticket_through_the_outbox() {
    let rig = Rig::new(3000, "");
    rig.jira.state.set_index_lag(Duration::from_millis(5));
    rig.ok(&["sync"]);
    let config = rig.config();
    let mut store = Store::open(&rig.sb.db()).expect("store");
    // One alert per resource group: each trial a new fingerprint.
    let mut seen = std::collections::HashSet::new();
    let mut trials = Vec::new();
    for id in rig.ids() {
        let g = store.group_key(&id).expect("group");
        if seen.insert(sitrep::dispatch::content::fingerprint(g.as_deref(), &id)) {
            trials.push(id);
        }
    }
    assert!(trials.len() >= 1000, "{} resource groups", trials.len());
    trials.truncate(1000);
    let mut dispatcher = Dispatcher::new(&config);
    let mut needed_retry = 0;
    for id in &trials {
        rig.jira.state.faults.drop_next(WriteOp::Create, 1);
        decide::decide(
            &mut store,
            &config,
            "alice",
            id,
            &Intent::Ticket { system: None },
            worker::wall_clock_ms(),
        )
        .expect("decide");
        let mut rounds = 0;
        loop {
            rig.rt
                .block_on(worker::deliver_due(
                    &mut store,
                    &mut dispatcher,
                    worker::wall_clock_ms,
                    100,
                ))
                .expect("deliver");
            let rows = store.outbox_for_alert(id).expect("rows");
            let ticket = rows
                .iter()
                .find(|r| r.kind == sitrep::store::OutboxKind::Ticket)
                .expect("ticket row");
            if ticket.state == OutboxState::Done {
                break;
            }
            assert_eq!(
                ticket.state,
                OutboxState::Pending,
                "{:?}",
                ticket.last_error
            );
            needed_retry += 1;
            rounds += 1;
            assert!(rounds < 20, "never delivered: {:?}", ticket.last_error);
            // What `sitrep outbox retry` does, after the index has caught up.
            std::thread::sleep(Duration::from_millis(10));
            store
                .outbox_retry(&[ticket.id], "test", worker::wall_clock_ms())
                .expect("retry");
        }
    }
    let issues = rig.jira.issues();
    assert_eq!(issues.len(), trials.len(), "one ticket per resource group");
    let mut labels = std::collections::HashSet::new();
    for i in &issues {
        for l in i.labels.iter().filter(|l| l.starts_with("sitrep-fp-")) {
            assert!(labels.insert(l.clone()), "duplicate ticket for {l}");
        }
    }
    // Every decision got its ticket key.
    for id in &trials {
        let a = store.get(id).expect("get").expect("alert");
        assert!(a.ticket.is_some(), "{id} has no ticket");
    }
    eprintln!(
        "{} lost-response trials through the outbox: 0 duplicates, {needed_retry} needed a retry",
        trials.len()
    );
}

#[test]
fn a_standalone_servicenow_simulator_announces_a_ready_config_and_takes_tickets() {
    use std::io::{BufRead, BufReader};
    let rig = Rig::new(10, "");
    let mut child = rig
        .sb
        .cmd()
        .args(["sim", "--destination", "servicenow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("announcement");
    let a: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(a["destination"], "servicenow");
    let toml = a["toml"].as_str().expect("toml");
    assert!(toml.starts_with("[tickets.servicenow]"), "{toml}");
    // The vendor source of the rig, tickets to the standalone ServiceNow.
    let source = rig.toml.split("[tickets]").next().expect("source part");
    let cfg = rig.sb.write(
        "sn.toml",
        &format!("{source}\n[tickets]\ndefault = \"servicenow\"\n{toml}"),
    );
    let run = |args: &[&str]| {
        let mut c = rig.sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &cfg);
        for (k, v) in rig.vars.iter().chain(
            a["env"]
                .as_object()
                .expect("env")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("str").to_string()))
                .collect::<Vec<_>>()
                .iter(),
        ) {
            c.env(k, v);
        }
        c.args(args).output().expect("run")
    };
    assert!(run(&["sync"]).status.success());
    let id = rig.ids()[0].clone();
    let out = run(&["ticket", &id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 delivered"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let show = run(&["show", &id, "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert!(
        j["ticket"].as_str().is_some_and(|t| t.starts_with("INC")),
        "{j}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
