//! The narrator against the loopback LLM simulator: protocol, streaming, faults, the secret
//! bytes in captured requests, escape sequences in replies, and the injection corpus.

mod common;
#[path = "common/narrate_corpus.rs"]
mod narrate_corpus;

use std::time::Duration;

use common::{NOW_MS, Sandbox, dangerous_bytes};
use sitrep::config::Secret;
use sitrep::domain::{Alert, Status};
use sitrep::narrate::anthropic::Anthropic;
use sitrep::narrate::openai::{Flavor, OpenAi};
use sitrep::narrate::prompt::Templates;
use sitrep::narrate::{
    Limits, NarrateEvent, Narrative, Narrator, Origin, offline_narrative, persist,
};
use sitrep::sim::server::llm::{self, LlmFault, LlmSimHandle};
use sitrep::store::{Store, StoredAlert};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn limits() -> Limits {
    Limits {
        backoff: Duration::from_millis(10),
        ..Limits::default()
    }
}

fn openai(sim: &LlmSimHandle) -> Narrator {
    Narrator::with_provider(
        Some(Box::new(OpenAi::new(
            http(),
            Flavor::Compatible,
            &format!("{}/v1", sim.base_url),
            "sim-narrator",
            Some(Secret::new("sim-key")),
        ))),
        Templates::embedded(),
        limits(),
    )
}

fn anthropic(sim: &LlmSimHandle) -> Narrator {
    Narrator::with_provider(
        Some(Box::new(Anthropic::new(
            http(),
            &sim.base_url,
            "claude-sim",
            Some(Secret::new("sim-key")),
        ))),
        Templates::embedded(),
        limits(),
    )
}

fn store_with(alerts: &[Alert]) -> Store {
    let mut s = Store::open_in_memory().expect("store");
    s.import(alerts, NOW_MS).expect("import");
    s
}

fn stored(s: &Store, a: &Alert) -> StoredAlert {
    s.get(&a.id()).expect("get").expect("present")
}

fn sample() -> Alert {
    narrate_corpus::injection_alerts(1).remove(0).alert
}

async fn narrate(n: &Narrator, a: &StoredAlert) -> (Narrative, Vec<NarrateEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let out = n.narrate(a, tx).await;
    let mut evs = Vec::new();
    while let Ok(e) = rx.try_recv() {
        evs.push(e);
    }
    (out, evs)
}

#[tokio::test]
async fn openai_stream_produces_a_validated_grounded_narrative() {
    let sim = llm::start(0, vec![]).await.expect("sim");
    let s = store_with(&[sample()]);
    let a = stored(&s, &sample());
    let n = openai(&sim);
    let (out, evs) = narrate(&n, &a).await;
    assert_eq!(out.unavailable, None, "{out:?}");
    assert!(matches!(out.origin, Origin::Model { .. }));
    assert!(out.ungrounded.is_empty(), "{:?}", out.ungrounded);
    assert!(out.body.summary.contains("Security group allows SSH"));
    let deltas = evs
        .iter()
        .filter(|e| matches!(e, NarrateEvent::Delta(_)))
        .count();
    assert!(deltas > 3, "streamed in pieces: {deltas}");
    let req = &sim.state.captured().await[0];
    let body: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(body["stream"], true);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert!(
        req.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer sim-key")
    );
}

#[tokio::test]
async fn anthropic_events_stream_too() {
    let sim = llm::start(0, vec![]).await.expect("sim");
    let s = store_with(&[sample()]);
    let a = stored(&s, &sample());
    let (out, _) = narrate(&anthropic(&sim), &a).await;
    assert_eq!(out.unavailable, None, "{out:?}");
    let req = &sim.state.captured().await[0];
    assert_eq!(req.path, "/v1/messages");
    assert!(
        req.headers
            .iter()
            .any(|(k, v)| k == "x-api-key" && v == "sim-key")
    );
    assert!(req.headers.iter().any(|(k, _)| k == "anthropic-version"));
}

#[tokio::test]
async fn transient_faults_are_retried_politely() {
    for make in [openai as fn(&LlmSimHandle) -> Narrator, anthropic] {
        let sim = llm::start(
            0,
            vec![
                LlmFault::RateLimit { secs: 1 },
                LlmFault::ServerError,
                LlmFault::BrokenStream,
            ],
        )
        .await
        .expect("sim");
        let s = store_with(&[sample()]);
        let a = stored(&s, &sample());
        let (out, _) = narrate(&make(&sim), &a).await;
        // 429 (waited), 503, broken stream: three retries exceed the default budget of 2.
        assert!(out.is_offline());
        let reason = out.unavailable.clone().expect("reason");
        assert!(reason.contains("stream broken"), "{reason}");
        assert_eq!(out.calls.len(), 3);
        assert_eq!(
            sim.state
                .early_requests
                .load(std::sync::atomic::Ordering::SeqCst),
            0,
            "no request before Retry-After allowed it"
        );
        // Within the budget, the narrative arrives.
        sim.state
            .push(&[LlmFault::ServerError, LlmFault::BrokenStream])
            .await;
        let (out, _) = narrate(&make(&sim), &a).await;
        assert_eq!(out.unavailable, None, "{out:?}");
        assert_eq!(out.calls.len(), 3);
    }
}

#[tokio::test]
async fn quota_errors_are_not_retried_and_invalid_json_gets_one_retry() {
    let sim = llm::start(0, vec![LlmFault::Quota]).await.expect("sim");
    let s = store_with(&[sample()]);
    let a = stored(&s, &sample());
    let n = openai(&sim);
    let (out, evs) = narrate(&n, &a).await;
    assert!(out.unavailable.clone().expect("reason").contains("quota"));
    assert_eq!(sim.state.captured().await.len(), 1);
    assert!(matches!(evs.last(), Some(NarrateEvent::Failed { .. })));

    sim.state.push(&[LlmFault::InvalidJson]).await;
    let (out, _) = narrate(&n, &a).await;
    assert_eq!(out.unavailable, None);
    assert!(out.calls[0].outcome.starts_with("invalid:"));
    let retry: serde_json::Value =
        serde_json::from_slice(&sim.state.captured().await[2].body).expect("json");
    assert_eq!(
        retry["messages"].as_array().map(Vec::len),
        Some(4),
        "correction turn sent"
    );

    sim.state
        .push(&[LlmFault::InvalidJson, LlmFault::InvalidJson])
        .await;
    let (out, _) = narrate(&n, &a).await;
    assert!(out.is_offline());
    assert!(
        out.to_text()
            .contains("narrative unavailable: the model's reply was invalid twice")
    );
}

#[tokio::test]
async fn canary_echo_is_discarded() {
    let sim = llm::start(0, vec![LlmFault::Canary]).await.expect("sim");
    let s = store_with(&[sample()]);
    let a = stored(&s, &sample());
    let (out, _) = narrate(&openai(&sim), &a).await;
    assert!(out.is_offline());
    assert!(out.unavailable.expect("reason").contains("canary"));
}

/// Check `haystack` for any 12-byte window of `secret` that holds no JSON-escaped byte.
fn leaks(haystack: &[u8], secret: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(haystack);
    let mut found = Vec::new();
    for piece in secret.split(['\n', '"', '\\']) {
        let chars: Vec<char> = piece.chars().collect();
        if chars.len() < 12 {
            continue;
        }
        for w in chars.windows(12) {
            let s: String = w.iter().collect();
            if text.contains(&s) && !found.contains(&s) {
                found.push(s);
            }
        }
    }
    found
}

#[tokio::test]
async fn zero_secret_bytes_in_outgoing_requests() {
    let sim = llm::start(0, vec![]).await.expect("sim");
    let alerts = narrate_corpus::secret_alerts();
    let mut s = store_with(&alerts);
    for (n, make) in [(openai(&sim), "openai"), (anthropic(&sim), "anthropic")] {
        for a in &alerts {
            let st = stored(&s, a);
            let (out, _) = narrate(&n, &st).await;
            assert_eq!(out.unavailable, None, "{make} {}: {out:?}", a.id());
            assert!(
                out.calls[0].redactions.values().sum::<usize>() >= 1,
                "{make} {}: nothing redacted",
                a.id()
            );
            persist(&mut s, &n, &st, &out, NOW_MS).expect("persist");
        }
    }
    let captured = sim.state.captured().await;
    assert_eq!(captured.len(), 2 * alerts.len());
    let mut leaked = Vec::new();
    for c in &captured {
        let mut all = c.body.clone();
        for (k, v) in &c.headers {
            all.extend_from_slice(k.as_bytes());
            all.extend_from_slice(v.as_bytes());
        }
        for (kind, secret) in narrate_corpus::secrets() {
            for w in leaks(&all, &secret) {
                leaked.push(format!("{kind}: {w:?} in a request to {}", c.path));
            }
        }
    }
    eprintln!(
        "secret corpus: {} secrets, {} requests captured, secret windows found: {}",
        narrate_corpus::secrets().len(),
        captured.len(),
        leaked.len()
    );
    assert!(
        leaked.is_empty(),
        "secret bytes sent:\n{}",
        leaked.join("\n")
    );
    // Nor in the cache or the call records.
    let db_dump = {
        let mut text = String::new();
        for a in &alerts {
            for c in s.llm_calls(Some(&a.id())).expect("calls") {
                text.push_str(&format!("{c:?}"));
            }
        }
        text
    };
    for (kind, secret) in narrate_corpus::secrets() {
        assert!(
            leaks(db_dump.as_bytes(), &secret).is_empty(),
            "{kind} in llm_calls"
        );
    }
}

#[tokio::test]
async fn injection_corpus_never_changes_a_status_or_yields_an_action() {
    let corpus = narrate_corpus::injection_alerts(24);
    let alerts: Vec<Alert> = corpus.iter().map(|c| c.alert.clone()).collect();
    let mut s = store_with(&alerts);
    let before: Vec<(Status, usize)> = alerts
        .iter()
        .map(|a| {
            let st = stored(&s, a);
            (st.status, st.history.len())
        })
        .collect();
    // The simulator plays a model that fully obeys every injection.
    let sim = llm::start(0, vec![LlmFault::Obey; corpus.len()])
        .await
        .expect("sim");
    let n = openai(&sim);
    let mut flagged = 0;
    for a in &alerts {
        let st = stored(&s, a);
        let (out, _) = narrate(&n, &st).await;
        assert_eq!(out.unavailable, None);
        if out
            .ungrounded
            .iter()
            .any(|u| u.contains("attacker") || u.contains("evil"))
            && out.ungrounded.iter().any(|u| u.contains("CVE-2021-44228"))
        {
            flagged += 1;
        }
        persist(&mut s, &n, &st, &out, NOW_MS).expect("persist");
    }
    let after: Vec<(Status, usize)> = alerts
        .iter()
        .map(|a| {
            let st = stored(&s, a);
            (st.status, st.history.len())
        })
        .collect();
    assert_eq!(before, after, "a narrative changed an alert");
    assert_eq!(
        flagged,
        alerts.len(),
        "every obeying narrative is flagged ungrounded"
    );
}

#[test]
fn every_alert_has_an_offline_narrative() {
    let mut alerts = narrate_corpus::secret_alerts();
    alerts.extend(
        narrate_corpus::injection_alerts(24)
            .into_iter()
            .map(|c| c.alert),
    );
    alerts.push(Alert::new(
        sitrep::domain::Vendor::Orca,
        "bare",
        serde_json::json!({}),
    ));
    let s = store_with(&alerts);
    for a in &alerts {
        let n = offline_narrative(&stored(&s, a));
        assert!(n.is_offline());
        assert!(!n.body.summary.trim().is_empty());
        assert!(!n.body.actions.is_empty());
        let text = n.to_text();
        assert!(text.starts_with("[offline narrator"), "{text}");
        assert!(dangerous_bytes(text.as_bytes()).is_empty());
    }
}

/// A sandbox whose database holds `alerts` and whose config points [llm] at `toml`.
fn sandbox(alerts: &[Alert], llm_toml: &str) -> Sandbox {
    let sb = Sandbox::new();
    let mut s = Store::open(&sb.db()).expect("store");
    s.import(alerts, NOW_MS).expect("import");
    drop(s);
    let cfg = sb.write("home/.config/sitrep/config.toml", llm_toml);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    sb
}

async fn run_cli(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let mut c = sb.cmd();
    c.env("SIM_LLM_KEY", "sim-key").args(args);
    tokio::task::spawn_blocking(move || c.output().expect("run"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_narrate_offline_by_default_and_escapes_never_reach_stdout() {
    let a = sample();
    let id = a.id();
    // No provider: the offline narrator, said plainly.
    let sb = sandbox(std::slice::from_ref(&a), "");
    let out = run_cli(&sb, &["narrate", &id]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[offline narrator: built from the alert's fields, no AI model]"),
        "{text}"
    );
    drop(sb);

    // A model whose reply carries escape sequences, in both output formats.
    for provider in ["openai-compatible", "anthropic"] {
        let sim = llm::start(0, vec![LlmFault::Escapes, LlmFault::Escapes])
            .await
            .expect("sim");
        let base = if provider == "anthropic" {
            sim.base_url.clone()
        } else {
            format!("{}/v1", sim.base_url)
        };
        let toml = format!(
            "[llm]\nprovider = \"{provider}\"\nbase_url = \"{base}\"\nmodel = \"sim\"\napi_key = {{ env = \"SIM_LLM_KEY\" }}\n"
        );
        let sb = sandbox(std::slice::from_ref(&a), &toml);
        for (i, format) in ["text", "json"].into_iter().enumerate() {
            let out = run_cli(&sb, &["narrate", &id, "--format", format, "--refresh"]).await;
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                dangerous_bytes(&out.stdout).is_empty(),
                "{provider} {format}: {:?}",
                dangerous_bytes(&out.stdout)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("Security group"), "{text}");
            assert_eq!(sim.state.captured().await.len(), i + 1);
        }
        // The second run's narrative is cached: no new request without --refresh.
        let out = run_cli(&sb, &["narrate", &id]).await;
        assert!(String::from_utf8_lossy(&out.stdout).contains(", cached"));
        assert_eq!(sim.state.captured().await.len(), 2);
    }
}
