//! The narrator's retry, validation, canary and fallback logic against a scripted provider.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;
use crate::domain::{Alert, Vendor};
use crate::narrate::prompt::tests::stored;

/// Replies in order; records the requests it got.
struct Scripted {
    replies: Mutex<VecDeque<Result<String, ProviderError>>>,
    seen: Mutex<Vec<ChatRequest>>,
}

impl Scripted {
    fn new(replies: Vec<Result<String, ProviderError>>) -> Scripted {
        Scripted {
            replies: Mutex::new(replies.into()),
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl Provider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn model(&self) -> &str {
        "m1"
    }
    fn host(&self) -> String {
        "test".into()
    }
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            self.seen.lock().expect("lock").push(req.clone());
            let next = self
                .replies
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or_else(|| Err(ProviderError::Transport("script exhausted".into())));
            let text = next?;
            let text = text.replace("{{canary}}", &canary_of(&req.system));
            on_delta(&text);
            Ok(Completion {
                text,
                finish: Some("stop".into()),
            })
        })
    }
}

fn canary_of(system: &str) -> String {
    system
        .split_whitespace()
        .find(|w| w.starts_with("SITREP-CANARY-"))
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn good_reply(extra: &str) -> String {
    serde_json::json!({
        "summary": format!("The bucket arn:aws:s3:::prod-exports is public.{extra}"),
        "impact": "Anyone can read the exports.",
        "root_cause": "A bucket policy grants s3:GetObject to *.",
        "attack_path": null,
        "actions": [{"step": "Block public access", "command": "aws s3api put-public-access-block --bucket prod-exports"}],
        "confidence": "high",
        "evidence": ["resource.id", "title"]
    })
    .to_string()
}

fn alert() -> StoredAlert {
    let mut a = Alert::new(Vendor::Wiz, "ISSUE-1", serde_json::json!({}));
    a.title = "Public bucket".into();
    a.resource.id = Some("arn:aws:s3:::prod-exports".into());
    a.description = Some("key AKIAIOSFODNN7EXAMPL3 in object".into());
    stored(a)
}

fn narrator(script: Scripted) -> (Narrator, std::sync::Arc<Scripted>) {
    // The narrator owns a Box<dyn Provider>; share the script through an Arc wrapper.
    struct Shared(std::sync::Arc<Scripted>);
    impl Provider for Shared {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn model(&self) -> &str {
            self.0.model()
        }
        fn host(&self) -> String {
            self.0.host()
        }
        fn complete<'a>(
            &'a self,
            req: &'a ChatRequest,
            on_delta: DeltaSink<'a>,
        ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
            self.0.complete(req, on_delta)
        }
    }
    let arc = std::sync::Arc::new(script);
    let n = Narrator::with_provider(
        Some(Box::new(Shared(arc.clone()))),
        Templates::embedded(),
        Limits {
            backoff: Duration::from_millis(1),
            ..Limits::default()
        },
    );
    (n, arc)
}

async fn run(n: &Narrator) -> (Narrative, Vec<NarrateEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let out = n.narrate(&alert(), tx).await;
    let mut evs = Vec::new();
    while let Ok(e) = rx.try_recv() {
        evs.push(e);
    }
    (out, evs)
}

#[tokio::test]
async fn a_valid_reply_streams_and_is_done() {
    let (n, script) = narrator(Scripted::new(vec![Ok(good_reply(""))]));
    let (out, evs) = run(&n).await;
    assert_eq!(out.unavailable, None);
    assert_eq!(out.body.confidence, Confidence::High);
    assert!(out.ungrounded.is_empty(), "{:?}", out.ungrounded);
    assert!(
        matches!(evs.first(), Some(NarrateEvent::Started { label }) if label == "scripted m1 @ test")
    );
    assert!(evs.iter().any(|e| matches!(e, NarrateEvent::Delta(_))));
    assert!(matches!(evs.last(), Some(NarrateEvent::Done(_))));
    assert_eq!(out.calls.len(), 1);
    assert_eq!(out.calls[0].outcome, "ok");
    assert_eq!(out.calls[0].redactions.get("AWS"), Some(&1));
    let req = &script.seen.lock().expect("lock")[0];
    assert!(!req.user.contains("AKIAIOSFODNN7EXAMPL3"));
}

#[tokio::test]
async fn an_invalid_reply_gets_one_retry_then_the_fallback() {
    let (n, script) = narrator(Scripted::new(vec![
        Ok("{\"summary\": 1}".into()),
        Ok(good_reply("")),
    ]));
    let (out, _) = run(&n).await;
    assert_eq!(out.unavailable, None);
    assert_eq!(out.calls.len(), 2);
    assert!(out.calls[0].outcome.starts_with("invalid:"));
    let corrected = script.seen.lock().expect("lock")[1].correction.is_some();
    assert!(corrected);

    let (n, _) = narrator(Scripted::new(vec![
        Ok("nope".into()),
        Ok("still nope".into()),
    ]));
    let (out, evs) = run(&n).await;
    assert!(out.is_offline());
    let reason = out.unavailable.clone().expect("reason");
    assert!(reason.contains("invalid twice"), "{reason}");
    assert!(matches!(evs.last(), Some(NarrateEvent::Failed { .. })));
    assert!(
        out.to_text()
            .contains("narrative unavailable: the model's reply was invalid twice")
    );
}

#[tokio::test]
async fn transient_errors_retry_and_permanent_ones_do_not() {
    let (n, _) = narrator(Scripted::new(vec![
        Err(ProviderError::Server {
            status: 503,
            message: "busy".into(),
        }),
        Err(ProviderError::RateLimited {
            status: 429,
            retry_after: Some(Duration::from_millis(5)),
        }),
        Ok(good_reply("")),
    ]));
    let (out, _) = run(&n).await;
    assert_eq!(out.unavailable, None);
    assert_eq!(out.calls.len(), 3);

    let (n, script) = narrator(Scripted::new(vec![Err(ProviderError::Client {
        status: 401,
        message: "bad key".into(),
    })]));
    let (out, _) = run(&n).await;
    assert!(out.unavailable.expect("reason").contains("401"));
    assert_eq!(script.seen.lock().expect("lock").len(), 1);

    let (n, _) = narrator(Scripted::new(vec![Err(ProviderError::RateLimited {
        status: 429,
        retry_after: Some(Duration::from_secs(3600)),
    })]));
    let (out, _) = run(&n).await;
    assert!(out.unavailable.expect("reason").contains("wait exceeds"));
}

#[tokio::test]
async fn a_reply_leaking_the_canary_is_discarded() {
    let (n, _) = narrator(Scripted::new(vec![Ok(good_reply(" {{canary}}"))]));
    let (out, _) = run(&n).await;
    assert!(out.is_offline());
    assert!(out.unavailable.expect("reason").contains("canary"));
    assert_eq!(out.calls[0].outcome, "canary");
}

#[tokio::test]
async fn ungrounded_references_and_escapes_are_handled() {
    let (n, _) = narrator(Scripted::new(vec![Ok(good_reply(
        " Also see arn:aws:iam::999999999999:role/Admin and \u{1b}]52;c;ZXZpbA==\u{7} CVE-2021-44228.",
    ))]));
    let (out, _) = run(&n).await;
    assert!(out.ungrounded.iter().any(|u| u.contains("CVE-2021-44228")));
    assert!(out.ungrounded.iter().any(|u| u.contains("999999999999")));
    assert!(!out.body.summary.contains('\u{1b}'));
    assert!(out.to_text().contains("warning: ungrounded references"));
}

#[tokio::test]
async fn the_offline_narrator_needs_no_provider() {
    let n = Narrator::offline();
    assert!(n.is_offline());
    assert_eq!(n.label(), "offline narrator");
    let (out, evs) = run(&n).await;
    assert!(out.is_offline());
    assert_eq!(out.unavailable, None);
    assert!(matches!(evs.last(), Some(NarrateEvent::Done(_))));
}

#[tokio::test]
async fn persisted_narratives_come_back_from_the_cache() {
    let mut store = Store::open_in_memory().expect("store");
    let (n, _) = narrator(Scripted::new(vec![Ok(good_reply(""))]));
    let a = alert();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let out = n.narrate(&a, tx).await;
    assert!(n.cached(&store, &a).is_none());
    persist(&mut store, &n, &a, &out, 10).expect("persist");
    let c = n.cached(&store, &a).expect("cached");
    assert_eq!(c.body, out.body);
    assert!(matches!(c.origin, Origin::Model { cached: true, .. }));
    assert_eq!(store.llm_calls(Some(&a.id)).expect("calls").len(), 1);
    // Changed content: a different key.
    let mut changed = a.clone();
    changed.content_hash = "other".into();
    assert!(n.cached(&store, &changed).is_none());
    // A fallback is never cached.
    let (n2, _) = narrator(Scripted::new(vec![Ok("x".into()), Ok("y".into())]));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let fb = n2.narrate(&changed, tx).await;
    persist(&mut store, &n2, &changed, &fb, 11).expect("persist");
    assert!(n2.cached(&store, &changed).is_none());
    assert_eq!(store.llm_calls(Some(&a.id)).expect("calls").len(), 3);
}
