//! Owners and routing (issue 22 part 5): an alert's team from its resource tags or a CMDB
//! export (CSV and JSON), kept in the store and refreshed when the rules change, `owner:` in
//! the filter language, and tickets and notifications routed per owner into the Jira,
//! ServiceNow and Slack simulators, with the route on record in the outbox and the audit log.

mod common;
#[path = "common/sim_process.rs"]
mod sim_process;

use std::time::Duration;

use common::Sandbox;
use serde_json::Value;
use sim_process::SimProcess;
use sitrep::config::Config;
use sitrep::dispatch::decide;
use sitrep::dispatch::worker::{self, Dispatcher};
use sitrep::domain::{Alert, Intent, Severity, Vendor};
use sitrep::sim::server::chat::{self, ChatSimOptions};
use sitrep::sim::server::jira::{self, JiraSimOptions};
use sitrep::sim::server::servicenow::{self, ServiceNowSimOptions};
use sitrep::store::{ListRequest, Store};
use sitrep::triage::query;

const NOW: i64 = 1_795_305_600_000;

const CMDB_CSV: &str = "# exported from the CMDB\nkind,match,team\naccount,111111111111,Platform\ntag,app=checkout,checkout-team\nproject,proj-7,analytics\n";
const CMDB_JSON: &str = r#"{"accounts": {"111111111111": "Platform"}, "tags": {"app=checkout": "checkout-team"}, "projects": {"proj-7": "analytics"}}"#;

fn alert(n: u32, account: &str, tags: &[(&str, &str)]) -> Alert {
    let mut a = Alert::new(
        Vendor::Wiz,
        format!("issue-{n}"),
        serde_json::json!({"id": format!("issue-{n}")}),
    );
    a.source = "wiz".into();
    a.title = format!("Finding {n}");
    a.severity = Severity::High;
    a.last_seen = Some(NOW - 1000);
    a.vendor_updated = Some(NOW - 1000);
    a.resource.id = Some(format!("arn:aws:s3:::bucket-{n}"));
    a.resource.name = Some(format!("bucket-{n}"));
    a.resource.account = Some(account.into());
    a.resource.tags = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    a
}

/// One alert per rule, and one no rule names.
fn alerts() -> Vec<Alert> {
    vec![
        // A tag beats the CMDB's account row.
        alert(1, "111111111111", &[("Owner", "Payments")]),
        // The second tag key, when the first is absent.
        alert(2, "111111111111", &[("team", "Data")]),
        // A CMDB tag row beats the CMDB's account row.
        alert(3, "111111111111", &[("app", "checkout")]),
        alert(4, "111111111111", &[]),
        // A GCP project is the alert's account.
        alert(5, "proj-7", &[]),
        alert(6, "999999999999", &[("app", "other")]),
        alert(7, "222222222222", &[("owner", "payments")]),
    ]
}

fn config_with(sb: &Sandbox, owners: &str, extra: &str) -> Config {
    let path = sb.write("config.toml", &format!("{owners}\n{extra}"));
    Config::from_text(Some(&path), &format!("{owners}\n{extra}")).expect("config")
}

fn store_for(cfg: &Config) -> Store {
    let mut s = Store::open_in_memory().expect("store");
    s.set_owners(cfg.owners.rules.clone());
    s.import(&alerts(), NOW).expect("import");
    s
}

fn owner(s: &Store, n: u32) -> Option<String> {
    s.get(&format!("wiz:issue-{n}"))
        .expect("get")
        .expect("stored")
        .owner
}

fn matching(s: &Store, filter: &str) -> Vec<String> {
    let q = query::parse(filter).expect("filter");
    let mut ids: Vec<String> = s
        .list(&ListRequest {
            filter: Some(&q),
            limit: 100,
            now_ms: NOW,
            ..ListRequest::default()
        })
        .expect("list")
        .into_iter()
        .map(|r| r.id.trim_start_matches("wiz:issue-").to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn owners_from_tags_then_cmdb_csv_and_json_alike() {
    let sb = Sandbox::new();
    sb.write("cmdb.csv", CMDB_CSV);
    sb.write("cmdb.json", CMDB_JSON);
    let expected = [
        Some("payments"),
        Some("data"),
        Some("checkout-team"),
        Some("platform"),
        Some("analytics"),
        None,
        Some("payments"),
    ];
    for file in ["cmdb.csv", "cmdb.json"] {
        let cfg = config_with(&sb, &format!("[owners]\ncmdb = \"{file}\"\n"), "");
        assert_eq!(cfg.owners.rules.tag_keys, vec!["owner", "team"], "defaults");
        let s = store_for(&cfg);
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(
                owner(&s, i as u32 + 1).as_deref(),
                *want,
                "{file}: alert {}",
                i + 1
            );
        }
        assert_eq!(matching(&s, "owner:payments"), vec!["1", "7"]);
        assert_eq!(matching(&s, "owner:PAYMENTS,data"), vec!["1", "2", "7"]);
        assert_eq!(matching(&s, "owner:none"), vec!["6"]);
        assert_eq!(matching(&s, "owner:any").len(), 6);
        assert_eq!(matching(&s, "-owner:platform sev:high").len(), 6);
        // Shown by `show` and the console's detail pane (present::show_text).
        let stored = s.get("wiz:issue-3").expect("get").expect("stored");
        assert!(
            sitrep::present::show_text(&stored, NOW).contains("\n  owner        checkout-team\n")
        );
        let unowned = s.get("wiz:issue-6").expect("get").expect("stored");
        assert!(!sitrep::present::show_text(&unowned, NOW).contains("owner "));
    }
}

#[test]
fn owners_follow_the_config_and_the_next_import() {
    let sb = Sandbox::new();
    sb.write("cmdb.csv", CMDB_CSV);
    let cfg = config_with(&sb, "[owners]\ncmdb = \"cmdb.csv\"\n", "");
    let mut s = Store::open_in_memory().expect("store");
    // A store given no rules leaves owners uncomputed; the next pass with rules fills them.
    s.import(&alerts(), NOW).expect("import");
    assert_eq!(owner(&s, 1), None);
    assert_eq!(matching(&s, "owner:payments"), Vec::<String>::new());
    s.set_owners(cfg.owners.rules.clone());
    assert_eq!(s.ensure_owners().expect("ensure"), 7);
    assert_eq!(owner(&s, 1).as_deref(), Some("payments"));
    // Nothing changed: nothing to compute.
    assert_eq!(s.ensure_owners().expect("ensure"), 0);

    // New rules (only `team`, no CMDB): every owner is computed again.
    let cfg2 = config_with(&sb, "[owners]\ntag_keys = [\"team\"]\n", "");
    s.set_owners(cfg2.owners.rules.clone());
    assert_eq!(s.ensure_owners().expect("ensure"), 7);
    assert_eq!(owner(&s, 1), None);
    assert_eq!(owner(&s, 2).as_deref(), Some("data"));
    assert_eq!(matching(&s, "owner:none").len(), 6);

    // An import updates the owner of what it touched: a new tag on alert 1.
    let mut a1 = alerts().remove(0);
    a1.resource.tags.insert("team".into(), "Payments".into());
    a1.vendor_updated = Some(NOW);
    a1.title = "Finding 1, updated".into();
    s.import(&[a1], NOW + 1).expect("import");
    assert_eq!(owner(&s, 1).as_deref(), Some("payments"));
    let counts = s.owner_counts().expect("counts");
    assert_eq!(counts[0], (String::new(), 5));
}

#[test]
fn owner_config_errors_name_file_and_line() {
    let sb = Sandbox::new();
    let err = |owners: &str| {
        let path = sb.write("config.toml", owners);
        Config::from_text(Some(&path), owners)
            .expect_err("must fail")
            .to_string()
    };
    let cfg = sb.path("config.toml");
    let shown = cfg.display();
    sb.write("bad.csv", "kind,match,team\naccount,1,ok\nteam,x,y\n");
    assert_eq!(
        err("[owners]\ncmdb = \"bad.csv\"\n"),
        format!(
            "config file {shown}: [owners] cmdb: {}: line 3: unknown kind 'team' (account, project, subscription, tag)",
            sb.path("bad.csv").display()
        )
    );
    assert!(
        err("[owners]\ncmdb = \"missing.json\"\n").starts_with(&format!(
            "config file {shown}: [owners] cmdb: cannot read {}: ",
            sb.path("missing.json").display()
        ))
    );
    assert_eq!(
        err("[[route]]\nowner = \"payments\"\n"),
        format!(
            "config file {shown}: [[route]] #1 owner: route for 'payments' sends nowhere: give slack_channel, jira_project, jira_component or servicenow_group"
        )
    );
    assert_eq!(
        err("[[route]]\nowner = \"payments\"\nslack_channel = \"payments\"\n"),
        format!(
            "config file {shown}: [[route]] #1 slack_channel: 'payments' is not a channel: write #name (lower-case) or a channel id such as C0123ABCD"
        )
    );
    assert_eq!(
        err(
            "[[route]]\nowner = \"Payments\"\njira_project = \"PAY\"\n[[route]]\nowner = \"payments\"\njira_project = \"PAY2\"\n"
        ),
        format!("config file {shown}: [[route]] #2 owner: 'payments' has two routes")
    );
    assert_eq!(
        err("[[route]]\nowner = \"payments\"\njira_project = \"pay\"\n"),
        format!(
            "config file {shown}: [[route]] #1 jira_project: 'pay' is not a Jira project key (upper-case letters, digits, _)"
        )
    );
}

#[test]
fn tickets_and_notifications_are_routed_per_owner() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let jira = rt
        .block_on(jira::start(JiraSimOptions {
            index_lag: Duration::from_millis(20),
            ..JiraSimOptions::default()
        }))
        .expect("jira sim");
    jira.state.add_project("PAY", &["Security", "Web"]);
    let sn = rt
        .block_on(servicenow::start(ServiceNowSimOptions::default()))
        .expect("servicenow sim");
    let chat = rt
        .block_on(chat::start(ChatSimOptions {
            port: 0,
            seed: 3,
            latency: Duration::ZERO,
        }))
        .expect("chat sim");
    let literal = |toml: String, var: &str, value: &str| {
        toml.replace(&format!("{{ env = \"{var}\" }}"), &format!("\"{value}\""))
    };
    let jira_token = jira
        .env()
        .into_iter()
        .find(|(k, _)| k == "JIRA_API_TOKEN")
        .map(|(_, v)| v)
        .expect("token");
    let tickets = format!(
        "[tickets]\ndefault = \"jira\"\n{}\n{}",
        literal(jira.tickets_toml(false), "JIRA_API_TOKEN", &jira_token),
        literal(
            sn.tickets_toml("incident"),
            "SERVICENOW_PASSWORD",
            sn.password()
        ),
    );
    let extra = format!(
        "{tickets}\n[notify]\nevents = [\"alert.notify\", \"ticket.created\"]\n[notify.slack]\nwebhook_url = \"{}\"\n\n\
         [[route]]\nowner = \"Payments\"\nslack_channel = \"#payments-sec\"\njira_project = \"PAY\"\njira_component = \"Security\"\nservicenow_group = \"Payments Ops\"\n\n\
         [[route]]\nowner = \"data\"\nservicenow_group = \"Data Platform\"\n\n\
         [[route]]\nowner = \"analytics\"\njira_project = \"NOPE\"\n",
        chat.slack_url
    );
    let sb = Sandbox::new();
    sb.write("cmdb.csv", CMDB_CSV);
    let cfg = config_with(&sb, "[owners]\ncmdb = \"cmdb.csv\"\n", &extra);
    let mut s = store_for(&cfg);
    s.set_audit_key(sitrep::audit::AuditKey::from_bytes(
        b"owners-test-audit-key-0123456789abcdef",
    ));
    let deliver = |s: &mut Store| {
        let mut d = Dispatcher::new(&cfg);
        for _ in 0..5 {
            rt.block_on(worker::deliver_due(s, &mut d, worker::wall_clock_ms, 100))
                .expect("deliver");
            if s.outbox_depth().expect("depth").pending == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // Alert 1 (payments): a Jira issue in PAY with the Security component, its notice in
    // #payments-sec; the route is in the outbox row and the audit detail.
    let out = decide::decide(
        &mut s,
        &cfg,
        "alice",
        "wiz:issue-1",
        &Intent::Ticket { system: None },
        NOW,
    )
    .expect("decide");
    assert!(
        out.notes.iter().any(|n| n == "routed for owner payments: Slack #payments-sec, Jira PAY / Security, ServiceNow group Payments Ops"),
        "{:?}",
        out.notes
    );
    let rows = s.outbox_for_alert("wiz:issue-1").expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].payload["route"]["jira_project"], "PAY");
    assert_eq!(rows[0].payload["route"]["owner"], "payments");
    deliver(&mut s);
    let issues = jira.state.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].project, "PAY");
    assert_eq!(issues[0].components, vec!["Security"]);
    assert!(issues[0].key.starts_with("PAY-"));
    let slack: Vec<Value> = rt.block_on(chat.state.slack_messages());
    assert_eq!(slack.len(), 1, "{slack:?}");
    assert_eq!(slack[0]["channel"], "#payments-sec");
    let audit = s.audit_entries(None).expect("audit");
    assert!(
        audit.iter().any(|e| e.subject == "wiz:issue-1"
            && e.detail.contains("\"route\":{")
            && e.detail.contains("\"jira_component\":\"Security\"")),
        "{audit:?}"
    );

    // Alert 2 (data, routed to a ServiceNow group only): the Jira issue goes to the default
    // project without a component; the ServiceNow incident to the team's group.
    decide::decide(
        &mut s,
        &cfg,
        "alice",
        "wiz:issue-2",
        &Intent::Ticket { system: None },
        NOW,
    )
    .expect("decide");
    decide::decide(
        &mut s,
        &cfg,
        "alice",
        "wiz:issue-7",
        &Intent::Ticket {
            system: Some("servicenow".into()),
        },
        NOW,
    )
    .expect("decide");
    decide::decide(
        &mut s,
        &cfg,
        "alice",
        "wiz:issue-4",
        &Intent::Ticket {
            system: Some("servicenow".into()),
        },
        NOW,
    )
    .expect("decide");
    deliver(&mut s);
    let issues = jira.state.issues();
    assert_eq!(issues.len(), 2);
    assert_eq!(issues[1].project, "SEC");
    assert!(issues[1].components.is_empty());
    let incidents = sn.records("incident");
    assert_eq!(incidents.len(), 2);
    let groups: Vec<&str> = incidents
        .iter()
        .map(|r| {
            r.get("assignment_group")
                .and_then(Value::as_str)
                .unwrap_or("")
        })
        .collect();
    // Alert 7 is payments' (its owner tag); alert 4 is platform's, which has no route: the
    // configured group.
    assert_eq!(groups, vec!["Payments Ops", "SOC"]);

    // A plain notification: payments' goes to its channel, an unrouted owner's does not.
    decide::decide(&mut s, &cfg, "alice", "wiz:issue-7", &Intent::Notify, NOW).expect("notify");
    decide::decide(&mut s, &cfg, "alice", "wiz:issue-3", &Intent::Notify, NOW).expect("notify");
    deliver(&mut s);
    let slack: Vec<Value> = rt.block_on(chat.state.slack_messages());
    let routed = slack
        .iter()
        .filter(|m| m["channel"] == "#payments-sec")
        .count();
    let unrouted = slack.iter().filter(|m| m.get("channel").is_none()).count();
    // Routed: issue 1's and issue 7's ticket notices and issue 7's notification; not routed:
    // the ticket notices of issues 2 and 4 and issue 3's notification.
    assert_eq!((routed, unrouted, slack.len()), (3, 3, 6), "{slack:?}");

    // A route to a project Jira does not have: the delivery fails with Jira's field error,
    // named in the outbox row, and nothing is created elsewhere.
    decide::decide(
        &mut s,
        &cfg,
        "alice",
        "wiz:issue-5",
        &Intent::Ticket { system: None },
        NOW,
    )
    .expect("decide");
    deliver(&mut s);
    let row = s
        .outbox_for_alert("wiz:issue-5")
        .expect("rows")
        .into_iter()
        .find(|r| r.destination == "jira")
        .expect("jira row");
    assert_eq!(row.state, sitrep::store::OutboxState::Failed, "{row:?}");
    let e = row.last_error.unwrap_or_default();
    assert!(
        e.contains("HTTP 400") && e.contains("valid project is required"),
        "{e}"
    );
    assert_eq!(jira.state.issues().len(), 2);
}

/// The real binary: a sync, then a CMDB export added to the config; the next command
/// recomputes the owners, `owner:` filters on them and `show` prints them.
#[test]
fn the_binary_recomputes_owners_when_the_config_changes() {
    let sb = Sandbox::new();
    let sim = SimProcess::start(&sb, "wiz", 60, 5);
    let source = sim.source_toml();
    let env = sim.env();
    // Tags off (the simulated world tags some resources with `owner`): no owners yet.
    let cfg = sb.write(
        "config.toml",
        &format!("[owners]\ntag_keys = []\n\n{source}"),
    );
    let run = |args: &[&str]| {
        let mut c = sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &cfg);
        for (k, v) in &env {
            c.env(k, v);
        }
        c.args(args).output().expect("run")
    };
    let json = |args: &[&str]| -> Vec<Value> {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("json")
            .as_array()
            .expect("rows")
            .clone()
    };
    let synced = run(&["sync"]);
    drop(sim);
    assert!(
        synced.status.success(),
        "{}",
        String::from_utf8_lossy(&synced.stderr)
    );
    let all = json(&["list", "--all", "--format", "json", "--limit", "1000"]);
    let account = all
        .iter()
        .find_map(|r| r["account"].as_str())
        .expect("an account")
        .to_string();
    let in_account: Vec<&str> = all
        .iter()
        .filter(|r| r["account"] == account.as_str())
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert!(json(&["list", "--all", "--format", "json", "--filter", "owner:any"]).is_empty());

    // One CMDB row: exactly that account's alerts belong to payments.
    sb.write(
        "cmdb.csv",
        &format!("kind,match,team\naccount,{account},Payments\n"),
    );
    sb.write(
        "config.toml",
        &format!("[owners]\ntag_keys = []\ncmdb = \"cmdb.csv\"\n\n{source}"),
    );
    let owned = json(&[
        "list",
        "--all",
        "--format",
        "json",
        "--limit",
        "1000",
        "--filter",
        "owner:payments",
    ]);
    let mut got: Vec<&str> = owned
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    let mut want = in_account.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let out = run(&["show", in_account[0]]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\n  owner        payments\n"), "{text}");
}
