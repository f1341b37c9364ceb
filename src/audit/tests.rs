use serde_json::json;

use super::*;
use crate::store::{LlmCallRecord, Store};

fn key() -> AuditKey {
    AuditKey::from_bytes(b"unit test audit key 0123456789abcdef")
}

#[test]
fn entries_chain_and_verify_in_memory() {
    let mut s = Store::open_in_memory().expect("store");
    s.set_audit_key(key());
    let d = json!({"b": 2, "a": 1});
    for i in 1..=3 {
        let seq = s
            .audit_append(&AuditEntry {
                at: i,
                actor: "alice",
                action: "note",
                subject: "wiz:1",
                detail: &d,
            })
            .expect("append");
        assert_eq!(seq, i);
    }
    let e = s.audit_entries(None).expect("entries");
    assert_eq!(e.len(), 3);
    assert_eq!(e[0].prev_mac, canonical::GENESIS);
    assert_eq!(e[1].prev_mac, e[0].mac);
    assert_eq!(e[2].detail, r#"{"a":1,"b":2}"#);
    let r = s.audit_verify().expect("verify");
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.head, Some((3, e[2].mac.clone())));
    assert_eq!(r.anchored, None, "an in-memory store has no head file");
    assert_eq!(s.audit_entries(Some(3)).expect("since").len(), 1);
}

#[test]
fn a_store_without_a_key_refuses_to_append_and_an_oversized_detail_is_refused() {
    let mut s = Store::open_in_memory().expect("store");
    let d = json!({});
    let e = AuditEntry {
        at: 1,
        actor: "a",
        action: "note",
        subject: "s",
        detail: &d,
    };
    assert_eq!(
        s.audit_append(&e).expect_err("no key").to_string(),
        "no audit key is set on the store"
    );
    s.set_audit_key(key());
    let big = json!({"note": "x".repeat(MAX_DETAIL)});
    let err = s
        .audit_append(&AuditEntry { detail: &big, ..e })
        .expect_err("too big")
        .to_string();
    assert!(err.starts_with("audit entry: note detail is "), "{err}");
    assert_eq!(s.audit_count().expect("count"), 0);
}

#[test]
fn llm_calls_are_audited_with_hashes_never_text() {
    let mut s = Store::open_in_memory().expect("store");
    let c = LlmCallRecord {
        at: 7,
        alert_id: "wiz:1".into(),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        prompt_version: "narrate-v1".into(),
        prompt_sha256: "p".repeat(64),
        response_sha256: "r".repeat(64),
        redactions_json: "{\"AWS\":1}".into(),
        redaction_total: 1,
        latency_ms: 12,
        outcome: "ok".into(),
        flags_json: "[\"command actions[1]: destructive\"]".into(),
    };
    // Without a key: recorded, not audited.
    s.record_llm_call(&c).expect("record");
    assert_eq!(s.audit_count().expect("count"), 0);
    s.set_audit_key(key());
    s.record_llm_call(&c).expect("record");
    assert_eq!(s.llm_calls(None).expect("calls").len(), 2);
    let e = s.audit_entries(None).expect("entries");
    assert_eq!(e.len(), 1);
    assert_eq!(
        (
            e[0].at,
            e[0].actor.as_str(),
            e[0].action.as_str(),
            e[0].subject.as_str()
        ),
        (7, "sitrep", "llm_call", "wiz:1")
    );
    let d: serde_json::Value = serde_json::from_str(&e[0].detail).expect("json");
    assert_eq!(d["model"], "gpt-4o-mini");
    assert_eq!(d["prompt_sha256"], "p".repeat(64));
    assert_eq!(d["response_sha256"], "r".repeat(64));
    assert_eq!(d["outcome"], "ok");
    assert_eq!(
        d["flags"],
        serde_json::json!(["command actions[1]: destructive"])
    );
    assert!(d.get("prompt").is_none());
    assert!(s.audit_verify().expect("verify").is_ok());
}
