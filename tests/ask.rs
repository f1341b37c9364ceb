//! Ask (issue 21): plain words → a filter. The test set (tests/fixtures/ask/questions.toml)
//! through the offline translator against a real SQLite store of the seeded world; the model
//! path through the real OpenAI-compatible client against a loopback server that speaks the
//! chat-completions protocol; `sitrep ask` end to end.

#[path = "fixtures/ask/world.rs"]
mod ask_world;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ask_world::{ANALYST, Case};
use sitrep::narrate::ask::{ASK_SUBJECT, persist};
use sitrep::narrate::openai::{Flavor, OpenAi};
use sitrep::narrate::prompt::Templates;
use sitrep::narrate::{Limits, Narrator, Origin};
use sitrep::store::Store;
use sitrep::triage::ask::translate;
use sitrep::triage::query;

/// Rewrite questions.toml's `ids` from each case's expected filter (SITREP_BLESS_ASK=1).
fn bless(store: &Store, cases: &[Case]) {
    let text = std::fs::read_to_string(ask_world::fixture_path()).expect("read");
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = header;
    for c in cases {
        let ids = ask_world::results(store, &c.filter)
            .unwrap_or_else(|e| panic!("{:?}: the expected filter does not parse: {e}", c.filter));
        out.push_str(&format!(
            "\n[[question]]\nask = {}\nfilter = {}\n",
            q(&c.ask),
            q(&c.filter)
        ));
        if let Some(m) = &c.known_miss {
            out.push_str(&format!("known_miss = {}\n", q(m)));
        }
        out.push_str("ids = [");
        for (n, id) in ids.iter().enumerate() {
            out.push_str(if n == 0 { "\n    " } else { ",\n    " });
            out.push_str(&q(id));
        }
        out.push_str(if ids.is_empty() { "]\n" } else { ",\n]\n" });
    }
    std::fs::write(ask_world::fixture_path(), out).expect("write");
}

#[test]
fn the_offline_translator_answers_the_test_set() {
    let dir = tempfile::tempdir().expect("dir");
    let store = ask_world::seeded_store(dir.path());
    let cases = ask_world::cases();
    assert!(cases.len() >= 40, "{} questions", cases.len());
    if std::env::var("SITREP_BLESS_ASK").is_ok_and(|v| v == "1") {
        bless(&store, &cases);
        return;
    }
    let mut right = 0;
    let mut failures = Vec::new();
    for c in &cases {
        // The expected sets are what the expected filters give, and not all empty.
        assert_eq!(
            ask_world::results(&store, &c.filter).as_ref(),
            Ok(&c.ids),
            "{:?}: ids are stale; regenerate with SITREP_BLESS_ASK=1",
            c.ask
        );
        let t = translate(&c.ask);
        // Every answer parses with the real parser, right or wrong.
        let got = ask_world::results(&store, &t.filter)
            .unwrap_or_else(|e| panic!("{:?} → {:?} does not parse: {e}", c.ask, t.filter));
        let ok = t.filter == c.filter && got == c.ids;
        match (&c.known_miss, ok) {
            (None, true) => right += 1,
            (None, false) => failures.push(format!(
                "{:?}: got {:?} ({} alerts; not understood {:?}), want {:?} ({} alerts)",
                c.ask,
                t.filter,
                got.len(),
                t.not_understood,
                c.filter,
                c.ids.len()
            )),
            (Some(_), true) => failures.push(format!(
                "{:?} is answered right now: drop its known_miss (and update docs/ai.md)",
                c.ask
            )),
            (Some(_), false) => {
                // A miss says what it did not understand rather than drop it silently.
                assert!(
                    !t.not_understood.is_empty(),
                    "{:?}: a miss with nothing listed back",
                    c.ask
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let nonempty = cases.iter().filter(|c| !c.ids.is_empty()).count();
    println!(
        "offline translator: {right}/{} right ({:.0}%); {nonempty} questions have a non-empty answer",
        cases.len(),
        100.0 * right as f64 / cases.len() as f64
    );
    // docs/ai.md states these numbers.
    assert_eq!((right, cases.len()), (45, 48));
    assert!(nonempty >= 35, "{nonempty}");
}

#[test]
fn mine_is_the_analyst_and_needs_one() {
    let dir = tempfile::tempdir().expect("dir");
    let store = ask_world::seeded_store(dir.path());
    let mine = ask_world::results(&store, "mine").expect("parses");
    assert!(!mine.is_empty());
    for id in &mine {
        let a = store.get(id).expect("get").expect("alert");
        let last = a
            .history
            .iter()
            .rfind(|h| h.kind == "status")
            .expect("a status change");
        assert_eq!(last.actor, ANALYST, "{id}");
    }
    // Not filled in: the store refuses to guess who "me" is.
    let q = query::parse("sev:high mine").expect("parses");
    let req = sitrep::store::ListRequest {
        filter: Some(&q),
        include_closed: true,
        sort: sitrep::store::SortKey::Severity,
        limit: 10,
        offset: 0,
        now_ms: ask_world::NOW_MS,
    };
    let e = store.list(&req).expect_err("refused").to_string();
    assert!(e.contains("'mine' needs to know who you are"), "{e}");
}

/// `kind:`, `compliance:` and `exposed:` against the ground truth: each alert's resource in
/// the simulator's world (what it really is), and its own mapped fields.
#[test]
fn kinds_frameworks_and_exposure_match_the_ground_truth() {
    use sitrep::domain::Cloud;
    use sitrep::sim::world::ResourceKind as K;
    let dir = tempfile::tempdir().expect("dir");
    let store = ask_world::seeded_store(dir.path());
    let world = ask_world::world();
    let alerts: Vec<_> = ask_world::all_ids(&store)
        .into_iter()
        .map(|id| store.get(&id).expect("get").expect("alert"))
        .collect();
    let truth = |keep: &dyn Fn(&sitrep::store::StoredAlert) -> bool| -> Vec<String> {
        let mut ids: Vec<String> = alerts
            .iter()
            .filter(|a| keep(a))
            .map(|a| a.id.clone())
            .collect();
        ids.sort();
        ids
    };
    let resource = |a: &sitrep::store::StoredAlert| {
        let rid = a.alert.resource.id.clone().unwrap_or_default();
        world
            .resources
            .iter()
            .find(|r| r.id == rid)
            .map(|r| (r.kind, r.cloud.clone()))
    };
    // Every alert's resource is one of the world's (else the truth below is no truth).
    assert!(alerts.iter().all(|a| resource(a).is_some()));
    let all = |f: &str| {
        ask_world::results(
            &store,
            &format!("{f} status:new,acknowledged,in_progress,resolved,dismissed,snoozed"),
        )
        .expect("parses")
    };
    let is = |k: K| move |a: &sitrep::store::StoredAlert| resource(a).is_some_and(|r| r.0 == k);
    for (filter, want) in [
        ("kind:bucket", truth(&is(K::Bucket))),
        (
            "kind:s3-bucket",
            truth(&|a| resource(a).is_some_and(|r| r.0 == K::Bucket && r.1 == Cloud::Aws)),
        ),
        ("kind:security-group", truth(&is(K::SecurityGroup))),
        ("kind:iam-role", truth(&is(K::Role))),
        ("kind:database", truth(&is(K::Database))),
        ("kind:load-balancer", truth(&is(K::LoadBalancer))),
        ("kind:function", truth(&is(K::Function))),
        (
            "kind:k8s",
            truth(&|a| resource(a).is_some_and(|r| r.1 == Cloud::Kubernetes)),
        ),
        (
            "kind:vm",
            truth(&|a| {
                resource(a).is_some_and(|r| {
                    r.0 == K::Instance || (r.0 == K::Workload && r.1 != Cloud::Kubernetes)
                })
            }),
        ),
        (
            "exposed:public",
            truth(&|a| a.alert.exposure.internet_facing == Some(true)),
        ),
    ] {
        // The simulator gives a GCP function a compute instance's id, and Orca calls it
        // `GcpVmInstance`: what the vendor says is all sitrep can go by, so those few are
        // left out of the comparison (they are functions in truth, VMs in the data).
        let gcp_function = |id: &String| {
            alerts.iter().any(|a| {
                &a.id == id && resource(a).is_some_and(|r| r.0 == K::Function && r.1 == Cloud::Gcp)
            })
        };
        let got: Vec<String> = all(filter)
            .into_iter()
            .filter(|i| !gcp_function(i))
            .collect();
        let want: Vec<String> = want.into_iter().filter(|i| !gcp_function(i)).collect();
        assert!(!want.is_empty(), "{filter}: the world has none");
        assert_eq!(got, want, "{filter}");
    }
    // compliance: agrees with the compliance report's reading of each standard name.
    use sitrep::triage::compliance::{Framework, framework_of};
    let mut seen = 0;
    for f in Framework::ALL {
        let want = truth(&|a| {
            a.alert
                .compliance
                .iter()
                .any(|c| framework_of(&c.standard) == Some(f))
        });
        seen += want.len();
        assert_eq!(all(&format!("compliance:{}", f.id())), want, "{f:?}");
    }
    assert!(seen > 0);
}

// ---- the model path, over real HTTP ------------------------------------------------------

/// A loopback OpenAI-compatible chat-completions endpoint answering from a script (one reply
/// text per request, in order; a one-JSON-body response, which the client reads as well as
/// a stream) and keeping every request body.
struct ChatServer {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn chat_server(replies: Vec<String>) -> ChatServer {
    use axum::routing::post;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(std::collections::VecDeque::from(replies)));
    let (b, s) = (bodies.clone(), script.clone());
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |body: axum::Json<serde_json::Value>| {
            let (b, s) = (b.clone(), s.clone());
            async move {
                b.lock().expect("lock").push(body.0);
                let text = s.lock().expect("lock").pop_front().unwrap_or_default();
                axum::Json(serde_json::json!({
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": "test-model",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}]
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    ChatServer {
        url: format!("http://{addr}/v1"),
        bodies,
        _task: task,
    }
}

fn model_narrator(url: &str) -> Narrator {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    Narrator::with_provider(
        Some(Box::new(OpenAi::new(
            http,
            Flavor::Compatible,
            url,
            "test-model",
            None,
        ))),
        Templates::embedded(),
        Limits::default(),
    )
}

fn reply(filter: &str, explanation: &str) -> String {
    serde_json::json!({"filter": filter, "explanation": explanation}).to_string()
}

/// Everything the model was sent, as text.
fn sent(server: &ChatServer) -> String {
    serde_json::to_string(&*server.bodies.lock().expect("lock")).expect("json")
}

#[tokio::test]
async fn a_model_answer_that_parses_is_used_and_audited() {
    let server = chat_server(vec![reply(
        "sev:critical kind:s3-bucket",
        "critical findings on S3 buckets",
    )])
    .await;
    let a = model_narrator(&server.url)
        .ask("critical s3 buckets of host db-7.corp, key AKIAIOSFODNN7EXAMPL3")
        .await;
    assert_eq!(a.filter, "sev:critical kind:s3-bucket");
    assert!(matches!(a.origin, Origin::Model { .. }), "{a:?}");
    assert_eq!(a.unavailable, None);
    // Redacted and fenced like a narrative's alert data; the schema is the two-field one.
    let body = sent(&server);
    assert!(!body.contains("AKIAIOSFODNN7EXAMPL3"), "secret sent");
    assert!(body.contains("«SECRET_AWS_1»"));
    assert!(body.contains("<<<QUESTION "));
    assert!(
        body.contains("\\\"required\\\":[\\\"filter\\\",\\\"explanation\\\"]")
            || body.contains("\"required\":[\"filter\",\"explanation\"]")
    );
    // Recorded in llm_calls, with the audit entry, under the ask's subject.
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(&dir.path().join("a.db")).expect("open");
    persist(&mut store, &a).expect("persist");
    let calls = store.llm_calls(Some(ASK_SUBJECT)).expect("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].outcome, "ok");
    assert_eq!(calls[0].redaction_total, 1);
    assert_eq!(calls[0].prompt_version, "ask-v1");
}

#[tokio::test]
async fn an_invalid_filter_gets_one_retry_with_the_parser_error() {
    let server = chat_server(vec![
        reply("severity:urgent", "urgent things"),
        reply("sev:critical", "critical alerts"),
    ])
    .await;
    let a = model_narrator(&server.url).ask("urgent alerts").await;
    assert_eq!(a.filter, "sev:critical");
    assert!(matches!(a.origin, Origin::Model { .. }));
    let outcomes: Vec<&str> = a.calls.iter().map(|c| c.outcome.as_str()).collect();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes[0].starts_with("invalid: the filter does not parse: unknown severity 'urgent'"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], "ok");
    // The retry carried the parser's words back to the model.
    let second = serde_json::to_string(&server.bodies.lock().expect("lock")[1]).expect("json");
    assert!(second.contains("unknown severity 'urgent'"), "{second}");
}

#[tokio::test]
async fn twice_invalid_or_an_action_falls_back_to_the_offline_translator() {
    // An answer smuggling an action is not a filter answer: refused, like a bad filter.
    let server = chat_server(vec![
        r#"{"filter": "sev:high", "explanation": "x", "action": "dismiss all"}"#.to_string(),
        reply("status:deleted", "done"),
    ])
    .await;
    let a = model_narrator(&server.url)
        .ask("critical runtime alerts on prod")
        .await;
    assert_eq!(a.origin, Origin::Offline);
    assert_eq!(
        a.filter,
        translate("critical runtime alerts on prod").filter
    );
    let why = a.unavailable.expect("says why");
    assert!(
        why.starts_with("the model's answer was invalid twice"),
        "{why}"
    );
    assert_eq!(a.calls.len(), 2);
    assert!(
        a.calls[0].outcome.contains("unexpected field 'action'"),
        "{:?}",
        a.calls
    );
}

#[tokio::test]
async fn a_reply_echoing_the_canary_is_discarded() {
    // The server cannot know the canary, so it echoes the whole system prompt back.
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|body: axum::Json<serde_json::Value>| async move {
            let system = body.0["messages"][0]["content"].as_str().unwrap_or("").to_string();
            axum::Json(serde_json::json!({
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply("sev:high", &system)}}]
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let a = model_narrator(&format!("http://{addr}/v1"))
        .ask("high alerts")
        .await;
    assert_eq!(a.origin, Origin::Offline);
    assert!(a.unavailable.expect("why").contains("canary"));
}

// ---- the console's :ask ------------------------------------------------------------------

#[test]
fn console_ask_proposes_an_editable_filter_that_runs_on_enter() {
    use sitrep::config::keymap::Keymap;
    use sitrep::config::theme::Theme;
    use sitrep::console::model::{Init, PromptKind, State};
    use sitrep::console::runtime::harness::Harness;
    use sitrep::console::runtime::worker::Worker;
    let dir = tempfile::tempdir().expect("dir");
    drop(ask_world::seeded_store(dir.path()));
    let db = dir.path().join("ask.db");
    let state = State::new(Init {
        keymap: Keymap::default(),
        theme: Theme::dark(),
        actor: ANALYST.into(),
        now_ms: ask_world::NOW_MS,
        size: (160, 40),
        filter_text: String::new(),
        sort: sitrep::store::SortKey::Severity,
        sources: Vec::new(),
        last_looked: Some(ask_world::NOW_MS),
        label: "test".into(),
        narrator_label: "offline narrator".into(),
        narrator_offline: true,
        team_mode: false,
        readonly: false,
    });
    fn clock() -> i64 {
        ask_world::NOW_MS
    }
    let worker = Worker::new(Store::open(&db).expect("open"), ANALYST.into(), clock);
    let mut h = Harness::new(state, worker, 160, 40);
    let before = h.state.total;
    h.press(":");
    h.type_text("ask my acknowledged alerts from frobnicator");
    h.press("enter");
    // The answer waits in the filter prompt, editable; nothing ran yet.
    let p = h.state.prompt.as_ref().expect("the filter prompt");
    assert_eq!(p.kind, PromptKind::Filter);
    assert_eq!(p.text(), "status:acknowledged mine");
    let note = p.note.clone().expect("what it means");
    assert!(
        note.starts_with("offline translator: Alerts status acknowledged; assigned to you."),
        "{note}"
    );
    assert!(note.contains("not understood: frobnicator"), "{note}");
    assert_eq!(h.state.total, before);
    let screen = h.screen();
    assert!(screen.contains("/status:acknowledged mine"), "{screen}");
    assert!(screen.contains("not understood: frobnicator"), "{screen}");
    // Edited before it runs: the analyst's text is what applies.
    h.press("backspace backspace backspace backspace backspace");
    h.press("enter");
    assert!(h.state.prompt.is_none());
    assert_eq!(h.state.filter_text, "status:acknowledged");
    let want = ask_world::results(&Store::open(&db).expect("open"), "status:acknowledged")
        .expect("parses");
    assert_eq!(h.state.total, want.len());
    // `mine` in the console is the console's analyst.
    h.press(":");
    h.type_text("ask mine");
    h.press("enter enter");
    let mine = ask_world::results(&Store::open(&db).expect("open"), "mine").expect("parses");
    assert_eq!(
        (h.state.filter_text.as_str(), h.state.total),
        ("mine", mine.len())
    );
    // An empty question is a usage error on the command line.
    h.press(":");
    h.type_text("ask");
    h.press("enter");
    let p = h.state.prompt.as_ref().expect("still the command line");
    assert!(
        p.error
            .as_deref()
            .is_some_and(|e| e.starts_with("usage: :ask QUESTION"))
    );
}

// ---- sitrep ask, end to end --------------------------------------------------------------

#[test]
fn sitrep_ask_prints_the_filter_and_runs_it() {
    let sb = common::Sandbox::new();
    let dir = tempfile::tempdir().expect("dir");
    drop(ask_world::seeded_store(dir.path()));
    std::fs::create_dir_all(sb.path("data")).expect("mkdir");
    std::fs::copy(dir.path().join("ask.db"), sb.db()).expect("copy db");
    let out = sb.ok(&[
        "ask",
        "critical",
        "runtime",
        "alerts",
        "from",
        "the",
        "frobnicator",
    ]);
    assert!(out.contains("filter: sev:critical cat:runtime\n"), "{out}");
    assert!(out.contains("not understood: frobnicator\n"), "{out}");
    assert!(out.contains("answered by: offline translator\n"), "{out}");
    assert!(
        out.contains("run it: sitrep list --filter 'sev:critical cat:runtime'"),
        "{out}"
    );
    // --run lists exactly what `sitrep list --filter` lists.
    let ran = sb.ok(&["ask", "--run", "critical runtime alerts"]);
    let listed = sb.ok(&["list", "--filter", "sev:critical cat:runtime"]);
    assert!(ran.ends_with(&listed), "{ran}\n---\n{listed}");
    let json: serde_json::Value =
        serde_json::from_str(&sb.ok(&["ask", "--run", "--format", "json", "S3 buckets"]))
            .expect("json");
    assert_eq!(json["filter"], "kind:s3-bucket");
    assert!(
        json["alerts"].as_array().is_some_and(|a| !a.is_empty()),
        "{json}"
    );
    let e = sb.fails(&["ask", "--format", "csv", "critical"], 2);
    assert!(
        e.contains("--format csv prints the matching alerts; add --run"),
        "{e}"
    );
}
