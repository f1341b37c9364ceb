//! Tickets: Jira Cloud (v3), Jira Data Center (v2) and ServiceNow clients against their
//! loopback simulators: no duplicates after lost responses, idempotent comments and
//! resolutions, safe rendering, failure classification.

use std::time::Duration;

use serde_json::Value;
use sitrep::config::{
    CredentialRef, JiraConfig, JiraFlavor, Secret, ServiceNowConfig, SnTable, TicketsConfig,
};
use sitrep::dispatch::DispatchError;
use sitrep::dispatch::ticket::{
    Ensured, Section, SectionBody, TicketClient, TicketContent, TicketRef, TicketSystem,
};
use sitrep::domain::Severity;
use sitrep::sim::server::jira::{self, Fault, JiraSimHandle, WriteOp};
use sitrep::sim::server::servicenow::{self, ServiceNowSimHandle};

const TRIALS: usize = 1000;
/// Trials in flight at once (each has its own fingerprint and its own armed fault).
const CONCURRENCY: usize = 50;
/// The Jira index lag used in the trials (the real outbox waits ≥ 1 s before a retry).
const LAG: Duration = Duration::from_millis(25);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sys {
    Cloud,
    DataCenter,
    ServiceNow,
}

fn jira_cfg(
    h: &JiraSimHandle,
    flavor: JiraFlavor,
    done: &str,
    token: Option<&str>,
) -> TicketsConfig {
    let token = token.map(str::to_string).unwrap_or_else(|| match flavor {
        JiraFlavor::Cloud => h.api_token().to_string(),
        JiraFlavor::DataCenter => h.pat().to_string(),
    });
    TicketsConfig {
        default: Some(TicketSystem::Jira),
        jira: Some(JiraConfig {
            flavor,
            base_url: h.base_url.clone(),
            project: "SEC".into(),
            issue_type: "Task".into(),
            email: Some(h.email().to_string()),
            token: CredentialRef::Literal(Secret::new(token)),
            done_transition: done.into(),
            timeout: Duration::from_secs(10),
        }),
        servicenow: None,
    }
}

fn sn_cfg(h: &ServiceNowSimHandle, table: SnTable, password: Option<&str>) -> TicketsConfig {
    TicketsConfig {
        default: Some(TicketSystem::ServiceNow),
        jira: None,
        servicenow: Some(ServiceNowConfig {
            base_url: h.base_url.clone(),
            table,
            username: h.username().to_string(),
            password: CredentialRef::Literal(Secret::new(password.unwrap_or(h.password()))),
            assignment_group: Some("SOC".into()),
            close_code: "Solved (Permanently)".into(),
            timeout: Duration::from_secs(10),
        }),
    }
}

fn content(fp: &str) -> TicketContent {
    TicketContent {
        fingerprint: fp.to_string(),
        summary: format!("Public S3 bucket prod-logs ({fp})"),
        severity: Severity::High,
        sections: vec![
            Section {
                heading: "Narrative".into(),
                body: SectionBody::Text("The bucket allows public reads.\n\nFix it today.".into()),
            },
            Section {
                heading: "Resource".into(),
                body: SectionBody::Facts(vec![
                    ("ARN".into(), "arn:aws:s3:::prod-logs".into()),
                    ("Account".into(), "123456789012".into()),
                ]),
            },
            Section {
                heading: "Evidence".into(),
                body: SectionBody::Bullets(vec!["https://wiz.example/issue/1".into()]),
            },
            Section {
                heading: "Diff".into(),
                body: SectionBody::Code {
                    language: "diff".into(),
                    text: "- acl = \"public-read\"\n+ acl = \"private\"\n".into(),
                },
            },
        ],
    }
}

async fn jira_sim(lag: Duration) -> JiraSimHandle {
    jira::start(jira::JiraSimOptions {
        index_lag: lag,
        ..Default::default()
    })
    .await
    .expect("jira sim")
}

async fn sn_sim() -> ServiceNowSimHandle {
    servicenow::start(servicenow::ServiceNowSimOptions::default())
        .await
        .expect("sn sim")
}

/// The tickets carrying `fp` in the simulator's ground truth, as (key, id).
enum Sim {
    Jira(JiraSimHandle),
    Sn(ServiceNowSimHandle),
}

impl Sim {
    fn tickets(&self, fp: &str) -> Vec<(String, String)> {
        match self {
            Sim::Jira(h) => h
                .state
                .issues_with_label(fp)
                .into_iter()
                .map(|i| (i.key, i.id))
                .collect(),
            Sim::Sn(h) => h
                .state
                .with_correlation("incident", fp)
                .into_iter()
                .map(|r| {
                    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    (s("number"), s("sys_id"))
                })
                .collect(),
        }
    }
    fn faults(&self) -> &jira::TicketFaults {
        match self {
            Sim::Jira(h) => &h.state.faults,
            Sim::Sn(h) => &h.state.faults,
        }
    }
    fn counters(&self) -> &jira::TicketCounters {
        match self {
            Sim::Jira(h) => &h.state.counters,
            Sim::Sn(h) => &h.state.counters,
        }
    }
}

async fn setup(sys: Sys, lag: Duration) -> (Sim, TicketClient) {
    match sys {
        Sys::Cloud | Sys::DataCenter => {
            let h = jira_sim(lag).await;
            let flavor = if sys == Sys::Cloud {
                JiraFlavor::Cloud
            } else {
                JiraFlavor::DataCenter
            };
            let c = TicketClient::new(&jira_cfg(&h, flavor, "Done", None), TicketSystem::Jira)
                .expect("client");
            (Sim::Jira(h), c)
        }
        Sys::ServiceNow => {
            let h = sn_sim().await;
            let c = TicketClient::new(
                &sn_cfg(&h, SnTable::Incident, None),
                TicketSystem::ServiceNow,
            )
            .expect("client");
            (Sim::Sn(h), c)
        }
    }
}

/// What one lost-response trial needed.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The search right after the failed create found the ticket.
    FoundAfterFailure,
    /// The create's error went back to the outbox; its retry found the ticket.
    FoundOnRetry,
}

async fn trial(
    sim: &Sim,
    client: &TicketClient,
    sys: Sys,
    i: usize,
) -> (Outcome, TicketRef, String) {
    let fp = format!("sitrep-fp-{:?}-{i:04}", sys).to_lowercase();
    sim.faults().drop_create_for(&fp);
    let c = content(&fp);
    let (outcome, t) = match client.ensure(&c).await {
        Ok(Ensured::Existing(t)) => (Outcome::FoundAfterFailure, t),
        Ok(Ensured::Created(_)) => panic!("{fp}: the create's response was dropped, yet Created"),
        Err(e) => {
            assert!(
                e.is_transient(),
                "{fp}: a lost response must be transient: {e}"
            );
            // The outbox waits its backoff (≥ 1 s in production; here just the index lag).
            tokio::time::sleep(LAG).await;
            match client.ensure(&c).await.expect("retry") {
                Ensured::Existing(t) => (Outcome::FoundOnRetry, t),
                Ensured::Created(t) => panic!("{fp}: retry created a second ticket {t:?}"),
            }
        }
    };
    (outcome, t, fp)
}

async fn lost_response_trials(sys: Sys) {
    let (sim, client) = setup(sys, LAG).await;
    let mut after_failure = 0;
    let mut on_retry = 0;
    for batch in (0..TRIALS).collect::<Vec<_>>().chunks(CONCURRENCY) {
        let futs = batch.iter().map(|&i| trial(&sim, &client, sys, i));
        for (outcome, t, fp) in futures_util::future::join_all(futs).await {
            let truth = sim.tickets(&fp);
            assert_eq!(truth.len(), 1, "{fp}: {truth:?}");
            assert_eq!((t.key.clone(), t.id.clone()), truth[0], "{fp}");
            match outcome {
                Outcome::FoundAfterFailure => after_failure += 1,
                Outcome::FoundOnRetry => on_retry += 1,
            }
        }
    }
    let c = sim.counters();
    assert_eq!(jira::TicketCounters::get(&c.creates), TRIALS as u64);
    assert_eq!(jira::TicketCounters::get(&c.create_requests), TRIALS as u64);
    assert_eq!(jira::TicketCounters::get(&c.dropped), TRIALS as u64);
    println!(
        "{sys:?}: {TRIALS} lost-response trials, 0 duplicates; found by the search after the failure: {after_failure}, by the retry: {on_retry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_responses_never_duplicate_jira_cloud() {
    lost_response_trials(Sys::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_responses_never_duplicate_jira_data_center() {
    lost_response_trials(Sys::DataCenter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_responses_never_duplicate_servicenow() {
    lost_response_trials(Sys::ServiceNow).await;
}

#[tokio::test]
async fn a_second_ensure_links_the_existing_ticket() {
    for sys in [Sys::Cloud, Sys::DataCenter, Sys::ServiceNow] {
        let (sim, client) = setup(sys, Duration::from_millis(200)).await;
        let c = content("sitrep-fp-3f9a1c2e77ab");
        let first = client.ensure(&c).await.expect("create");
        let Ensured::Created(t) = first else {
            panic!("{sys:?}: expected Created, got {first:?}")
        };
        let requests = jira::TicketCounters::get(&sim.counters().create_requests);
        // At once (within the index lag: the client reads the issue it created by id) …
        assert_eq!(
            client.ensure(&c).await.expect("again"),
            Ensured::Existing(t.clone())
        );
        assert_eq!(
            client.find("sitrep-fp-3f9a1c2e77ab").await.expect("find"),
            Some(t.clone())
        );
        // … and through the search, from a client that did not create it.
        if let Sim::Jira(h) = &sim {
            tokio::time::sleep(h.state.index_lag()).await;
        }
        let fresh = match &sim {
            Sim::Jira(h) => TicketClient::new(
                &jira_cfg(
                    h,
                    if sys == Sys::Cloud {
                        JiraFlavor::Cloud
                    } else {
                        JiraFlavor::DataCenter
                    },
                    "Done",
                    None,
                ),
                TicketSystem::Jira,
            ),
            Sim::Sn(h) => TicketClient::new(
                &sn_cfg(h, SnTable::Incident, None),
                TicketSystem::ServiceNow,
            ),
        }
        .expect("client");
        assert_eq!(fresh.ensure(&c).await.expect("fresh"), Ensured::Existing(t));
        assert_eq!(
            jira::TicketCounters::get(&sim.counters().create_requests),
            requests,
            "{sys:?}: no create request after the first"
        );
        assert_eq!(fresh.find("sitrep-fp-none").await.expect("find"), None);
    }
}

fn hostile() -> TicketContent {
    let evil = "ok \x1b]0;pwned\x07\x1b[31mred\x1b[0m \u{202E}gnp.exe\u{200B} <!channel> @here [~admin] \x1b]52;c;Y3VybCBldmls\x07 \u{9b}31m";
    TicketContent {
        fingerprint: "sitrep-fp-hostile".into(),
        summary: format!("{evil}\nsecond line"),
        severity: Severity::Critical,
        sections: vec![
            Section {
                heading: format!("h1. {evil}"),
                body: SectionBody::Text(format!(
                    "{evil}\n{{code}}\nh1. injected heading\n{{code}}\n*bold* [link|http://evil] !http://evil/i.png!\n\n\n[code]<img src=x onerror=alert(1)>[/code]"
                )),
            },
            Section {
                heading: "".into(),
                body: SectionBody::Facts(vec![
                    (evil.into(), "".into()),
                    ("a|b".into(), "{color:red}x{color}".into()),
                ]),
            },
            Section {
                heading: "Items".into(),
                body: SectionBody::Bullets(vec!["".into(), evil.into(), "- nested".into()]),
            },
            Section {
                heading: "Diff".into(),
                body: SectionBody::Code {
                    language: "bash}{code".into(),
                    text: format!(
                        "echo hi\n{{code}}\nh1. out of the block\n{{CODE:sh}}\n{{noformat}}\n{evil}\n[code]<b>x</b>[/code]"
                    ),
                },
            },
            Section {
                heading: "Empty code".into(),
                body: SectionBody::Code {
                    language: "".into(),
                    text: "".into(),
                },
            },
        ],
    }
}

fn dangerous(s: &str) -> Option<char> {
    s.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
    })
}

fn walk_adf(n: &Value, in_code: bool, types: &mut Vec<String>) {
    let t = n["type"].as_str().expect("type").to_string();
    if t == "text" {
        assert!(
            !n["text"].as_str().expect("text").is_empty(),
            "empty text node"
        );
        if in_code {
            assert!(n.get("marks").is_none(), "marks in a codeBlock");
        }
    }
    for c in n["content"].as_array().into_iter().flatten() {
        walk_adf(c, in_code || t == "codeBlock", types);
    }
    types.push(t);
}

#[tokio::test]
async fn hostile_content_is_rendered_harmless() {
    // Jira Cloud: valid ADF, nothing but text.
    let (sim, client) = setup(Sys::Cloud, Duration::ZERO).await;
    client.ensure(&hostile()).await.expect("cloud create");
    let Sim::Jira(h) = &sim else { unreachable!() };
    let issue = &h.issues()[0];
    jira::validate_adf(&issue.description).expect("valid ADF");
    let mut types = Vec::new();
    walk_adf(&issue.description, false, &mut types);
    for t in &types {
        assert!(
            [
                "doc",
                "paragraph",
                "text",
                "hardBreak",
                "heading",
                "table",
                "tableRow",
                "tableHeader",
                "tableCell",
                "bulletList",
                "listItem",
                "codeBlock"
            ]
            .contains(&t.as_str()),
            "node type {t}"
        );
    }
    let all = issue.description.to_string();
    assert_eq!(dangerous(&all), None);
    assert_eq!(dangerous(&issue.summary), None);
    assert!(!issue.summary.contains('\n'));
    assert!(!all.contains("\"language\":\"bash}{code\""), "{all}");
    assert!(all.contains("<!channel>"), "kept as plain text");

    // Jira Data Center: wiki markup escaped, one code block that cannot be broken out of.
    let (sim, client) = setup(Sys::DataCenter, Duration::ZERO).await;
    client.ensure(&hostile()).await.expect("dc create");
    let Sim::Jira(h) = &sim else { unreachable!() };
    let desc = h.issues()[0]
        .description
        .as_str()
        .expect("string")
        .to_string();
    assert_eq!(dangerous(&desc), None);
    let opens: Vec<_> = desc.lines().filter(|l| l.starts_with("{code")).collect();
    assert_eq!(
        opens.len(),
        4,
        "two code sections, each opened and closed once:\n{desc}"
    );
    assert!(!desc.to_lowercase().contains("{noformat"), "{desc}");
    let mut in_code = false;
    for l in desc.lines() {
        if l.starts_with("{code") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            assert!(!l.starts_with("h1."), "unescaped heading outside code: {l}");
            assert!(!l.contains("[link|"), "unescaped link: {l}");
            let unescaped = l
                .match_indices("{color")
                .any(|(i, _)| i == 0 || l.as_bytes()[i - 1] != b'\\');
            assert!(!unescaped, "unescaped macro: {l}");
        }
    }
    assert!(desc.contains("\\*bold\\*"));

    // ServiceNow: plain text, no [code] HTML escape hatch.
    let (sim, client) = setup(Sys::ServiceNow, Duration::ZERO).await;
    let t = client.ensure(&hostile()).await.expect("sn create");
    client
        .comment(
            t.ticket(),
            "note [code]<script>x</script>[/code] \x1b[2J",
            "hostile-1",
        )
        .await
        .expect("note");
    let Sim::Sn(h) = &sim else { unreachable!() };
    let rec = &h.records("incident")[0];
    let text = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    for field in ["description", "short_description"] {
        let v = text(field);
        assert_eq!(dangerous(&v), None, "{field}");
        assert!(!v.to_lowercase().contains("[code]"), "{field}: {v}");
    }
    assert!(text("short_description").chars().count() <= 160);
    assert_eq!(text("correlation_id"), "sitrep-fp-hostile");
    assert_eq!(text("correlation_display"), "sitrep");
    assert_eq!(
        (text("urgency").as_str(), text("impact").as_str()),
        ("1", "1")
    );
    let note = h.state.journal_of(&t.ticket().id);
    let v = note[0].get("value").and_then(Value::as_str).expect("value");
    assert_eq!(dangerous(v), None);
    assert!(!v.to_lowercase().contains("[code]"));
}

#[tokio::test]
async fn long_text_is_cut_visibly() {
    let mut c = content("sitrep-fp-long");
    c.summary = "S".repeat(1000);
    c.sections.push(Section {
        heading: "Evidence".into(),
        body: SectionBody::Code {
            language: "json".into(),
            text: "{\"a\": 1}\n".repeat(20_000),
        },
    });
    let (sim, client) = setup(Sys::DataCenter, Duration::ZERO).await;
    client.ensure(&c).await.expect("dc");
    let Sim::Jira(h) = &sim else { unreachable!() };
    let i = &h.issues()[0];
    let d = i.description.as_str().expect("string");
    assert!(d.chars().count() <= 32_000 && d.contains("…(truncated)"));
    assert!(
        d.trim_end().ends_with("{code}"),
        "the code block is still closed"
    );
    assert_eq!(i.summary.chars().count(), 255);
    assert!(i.summary.ends_with("…(truncated)"));

    let (sim, client) = setup(Sys::Cloud, Duration::ZERO).await;
    client.ensure(&c).await.expect("cloud");
    let Sim::Jira(h) = &sim else { unreachable!() };
    let d = h.issues()[0].description.to_string();
    assert!(d.chars().count() <= 32_000 && d.contains("…(truncated)"));

    let (sim, client) = setup(Sys::ServiceNow, Duration::ZERO).await;
    client.ensure(&c).await.expect("sn");
    let Sim::Sn(h) = &sim else { unreachable!() };
    let d = h.records("incident")[0]["description"]
        .as_str()
        .expect("d")
        .to_string();
    assert!(d.chars().count() <= 4000 && d.contains("…(truncated)"));
}

fn assert_permanent_naming(e: &DispatchError, system: &str, secret: &str) {
    let DispatchError::Permanent { detail } = e else {
        panic!("expected Permanent: {e:?}")
    };
    assert!(detail.contains(system), "{detail}");
    assert!(detail.contains("401"), "{detail}");
    assert!(!detail.contains(secret), "{detail}");
}

#[tokio::test]
async fn refused_credentials_and_throttling_are_classified() {
    let h = jira_sim(Duration::ZERO).await;
    let wrong = "ATATT-wrong-token-1234567890";
    let c = TicketClient::new(
        &jira_cfg(&h, JiraFlavor::Cloud, "Done", Some(wrong)),
        TicketSystem::Jira,
    )
    .expect("client");
    let e = c.ensure(&content("sitrep-fp-auth")).await.unwrap_err();
    assert_permanent_naming(&e, "Jira Cloud", wrong);
    let c = TicketClient::new(
        &jira_cfg(&h, JiraFlavor::DataCenter, "Done", Some(wrong)),
        TicketSystem::Jira,
    )
    .expect("client");
    assert_permanent_naming(
        &c.ensure(&content("sitrep-fp-auth")).await.unwrap_err(),
        "Jira Data Center",
        wrong,
    );

    let s = sn_sim().await;
    let c = TicketClient::new(
        &sn_cfg(&s, SnTable::Incident, Some("hunter2-wrong")),
        TicketSystem::ServiceNow,
    )
    .expect("client");
    assert_permanent_naming(
        &c.ensure(&content("sitrep-fp-auth")).await.unwrap_err(),
        "ServiceNow",
        "hunter2-wrong",
    );

    for sys in [Sys::Cloud, Sys::DataCenter, Sys::ServiceNow] {
        let (sim, client) = setup(sys, Duration::ZERO).await;
        sim.faults().fail_next(Fault::RateLimit { secs: 7 }, 1);
        match client.ensure(&content("sitrep-fp-429")).await {
            Err(DispatchError::Transient {
                retry_after,
                detail,
            }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)), "{detail}");
                assert!(detail.contains("429"), "{detail}");
            }
            other => panic!("{sys:?}: expected Transient, got {other:?}"),
        }
        // A 5xx after the create committed is ambiguous: the search right after finds it.
        sim.faults().fail_after_commit(WriteOp::Create, 504);
        match client.ensure(&content("sitrep-fp-5xx")).await {
            Ok(Ensured::Existing(t)) => {
                assert_eq!(sim.tickets("sitrep-fp-5xx"), vec![(t.key, t.id)])
            }
            other => panic!("{sys:?}: expected Existing after a 504, got {other:?}"),
        }
        // A plain 5xx on a read is transient.
        sim.faults().fail_next(Fault::ServerError(503), 1);
        assert!(
            client
                .find("sitrep-fp-5xx")
                .await
                .unwrap_err()
                .is_transient()
        );
        // Nothing armed any more: the throttled ticket is created once and only once.
        assert!(matches!(
            client.ensure(&content("sitrep-fp-429")).await,
            Ok(Ensured::Created(_))
        ));
        assert_eq!(sim.tickets("sitrep-fp-429").len(), 1);
    }
}

#[tokio::test]
async fn comments_are_deduplicated_under_lost_responses() {
    for sys in [Sys::Cloud, Sys::DataCenter, Sys::ServiceNow] {
        let (sim, client) = setup(sys, Duration::ZERO).await;
        let t = client
            .ensure(&content("sitrep-fp-comment"))
            .await
            .expect("create")
            .ticket()
            .clone();
        sim.faults().drop_next(WriteOp::Comment, 1);
        let e = client
            .comment(&t, "Approved by alice: diff sha256 ab12", "approval-7")
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{sys:?}: {e}");
        client
            .comment(&t, "Approved by alice: diff sha256 ab12", "approval-7")
            .await
            .expect("retry");
        client
            .comment(&t, "Approved by alice: diff sha256 ab12", "approval-7")
            .await
            .expect("again");
        client
            .comment(&t, "Another decision", "approval-8")
            .await
            .expect("other");
        let bodies: Vec<String> = match &sim {
            Sim::Jira(h) => h.issues()[0]
                .comments
                .iter()
                .map(|c| c.body.to_string())
                .collect(),
            Sim::Sn(h) => h
                .state
                .journal_of(&t.id)
                .iter()
                .map(|r| {
                    r.get("value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                })
                .collect(),
        };
        // Data Center bodies are wiki markup: the marker's `[`, `-`, `]` are escaped.
        let count = |k: &str| {
            bodies
                .iter()
                .filter(|b| b.replace('\\', "").contains(k))
                .count()
        };
        assert_eq!(count("sitrep:approval-7"), 1, "{sys:?}: {bodies:?}");
        assert_eq!(count("sitrep:approval-8"), 1, "{sys:?}: {bodies:?}");
        assert_eq!(bodies.len(), 2, "{sys:?}");
        assert!(client.comment(&t, "x", "Not Valid").await.is_err());
    }
}

#[tokio::test]
async fn resolve_picks_the_configured_transition_and_status_maps_done() {
    let h = jira_sim(Duration::ZERO).await;
    for (flavor, done, want) in [
        (JiraFlavor::Cloud, "Close as Won't Fix", "Closed"),
        (JiraFlavor::DataCenter, "closed", "Closed"), // by the target status's name
        (JiraFlavor::Cloud, "Done", "Done"),
    ] {
        let c = TicketClient::new(&jira_cfg(&h, flavor, done, None), TicketSystem::Jira)
            .expect("client");
        let fp = format!("sitrep-fp-resolve-{}", want.to_lowercase());
        let fp = format!("{fp}-{}", flavor.as_str());
        let t = c
            .ensure(&content(&fp))
            .await
            .expect("create")
            .ticket()
            .clone();
        let s = c.status(&t).await.expect("status");
        assert_eq!((s.name.as_str(), s.done), ("To Do", false));
        h.state.faults.drop_next(WriteOp::Transition, 1);
        assert!(
            c.resolve(&t, "Fixed by PR 42")
                .await
                .unwrap_err()
                .is_transient()
        );
        c.resolve(&t, "Fixed by PR 42")
            .await
            .expect("retry is a no-op");
        let s = c.status(&t).await.expect("status");
        assert_eq!((s.name.as_str(), s.done), (want, true));
        let issue = h.state.issues_with_label(&fp).remove(0);
        assert_eq!(issue.comments.len(), 1, "one resolution comment");
        assert!(
            issue.comments[0]
                .body
                .to_string()
                .contains("Fixed by PR 42")
        );
    }
    let c = TicketClient::new(
        &jira_cfg(&h, JiraFlavor::Cloud, "Nope", None),
        TicketSystem::Jira,
    )
    .expect("client");
    let t = c
        .ensure(&content("sitrep-fp-nope"))
        .await
        .expect("create")
        .ticket()
        .clone();
    let e = c.resolve(&t, "x").await.unwrap_err();
    assert!(!e.is_transient());
    assert!(
        e.to_string()
            .contains("no transition or status named 'Nope'"),
        "{e}"
    );
    assert!(e.to_string().contains("Close as Won't Fix"), "{e}");

    for (table, want) in [
        (SnTable::Incident, "Resolved"),
        (SnTable::ChangeRequest, "Closed"),
    ] {
        let s = sn_sim().await;
        let c =
            TicketClient::new(&sn_cfg(&s, table, None), TicketSystem::ServiceNow).expect("client");
        let t = c
            .ensure(&content("sitrep-fp-sn-resolve"))
            .await
            .expect("create")
            .ticket()
            .clone();
        assert!(
            t.key.starts_with(if table == SnTable::Incident {
                "INC"
            } else {
                "CHG"
            }),
            "{t:?}"
        );
        assert!(!c.status(&t).await.expect("status").done);
        s.state.faults.drop_next(WriteOp::Update, 1);
        assert!(c.resolve(&t, "Fixed").await.unwrap_err().is_transient());
        c.resolve(&t, "Fixed").await.expect("retry");
        let st = c.status(&t).await.expect("status");
        assert_eq!((st.name.as_str(), st.done), (want, true));
        assert_eq!(jira::TicketCounters::get(&s.state.counters.transitions), 1);
        let rec = &s.records(table.as_str())[0];
        assert_eq!(rec["close_notes"], "Fixed");
    }
}

#[tokio::test]
async fn jira_search_jql_pages_by_token_and_refuses_start_at() {
    let h = jira_sim(Duration::ZERO).await;
    let c = TicketClient::new(
        &jira_cfg(&h, JiraFlavor::Cloud, "Done", None),
        TicketSystem::Jira,
    )
    .expect("client");
    for i in 0..5 {
        c.ensure(&content(&format!("sitrep-fp-page-{i}")))
            .await
            .expect("create");
    }
    let http = reqwest::Client::new();
    let url = format!("{}/rest/api/3/search/jql", h.base_url);
    let auth = |r: reqwest::RequestBuilder| r.basic_auth(h.email(), Some(h.api_token()));
    let body = |v: serde_json::Value| {
        let req = auth(http.post(&url)).json(&v);
        async move {
            let r = req.send().await.expect("send");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    };
    let (s, ids_only) =
        body(serde_json::json!({"jql": "project = SEC AND labels = sitrep", "maxResults": 2}))
            .await;
    assert_eq!(s, 200);
    assert_eq!(
        ids_only["issues"][0].as_object().expect("obj").len(),
        1,
        "IDs only without fields"
    );
    let mut seen = 0;
    let mut token: Option<String> = None;
    loop {
        let mut q = serde_json::json!({"jql": "project = SEC AND labels = sitrep", "maxResults": 2, "fields": ["summary"]});
        if let Some(t) = &token {
            q["nextPageToken"] = serde_json::json!(t);
        }
        let (s, page) = body(q).await;
        assert_eq!(s, 200);
        seen += page["issues"].as_array().expect("issues").len();
        match page["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, 5);
    let (s, _) = body(serde_json::json!({"jql": "labels = sitrep", "startAt": 0})).await;
    assert_eq!(s, 400);
    // Labels with spaces are refused.
    let r = auth(http.post(format!("{}/rest/api/3/issue", h.base_url)))
        .json(&serde_json::json!({"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "x", "labels": ["has space"]}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["errors"]["labels"]
            .as_str()
            .expect("labels error")
            .contains("spaces")
    );
}
