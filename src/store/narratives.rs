//! The narrative cache and the record of model calls (narrate/ writes both; the audit log
//! folds `llm_calls` in later).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::audit::{self, AuditEntry};
use crate::domain::EpochMs;

/// What the audit log keeps of a model call: which model, the hashes of what went out and
/// came back, and how it ended. Never the prompt or the response.
fn llm_call_detail(c: &LlmCallRecord) -> serde_json::Value {
    serde_json::json!({
        "provider": c.provider,
        "model": c.model,
        "prompt_version": c.prompt_version,
        "prompt_sha256": c.prompt_sha256,
        "response_sha256": c.response_sha256,
        "redactions": c.redaction_total,
        "latency_ms": c.latency_ms,
        "outcome": c.outcome,
        "flags": serde_json::from_str::<serde_json::Value>(&c.flags_json)
            .unwrap_or_else(|_| serde_json::json!([])),
    })
}

/// One model call, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmCallRecord {
    pub at: EpochMs,
    pub alert_id: String,
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
    pub prompt_sha256: String,
    pub response_sha256: String,
    /// `{"AWS": 2}`: secrets redacted from the prompt, per kind.
    pub redactions_json: String,
    pub redaction_total: i64,
    pub latency_ms: i64,
    pub outcome: String,
    /// `["echo summary < resource.name"]`: what the reply checks flagged (docs/ai.md).
    pub flags_json: String,
}

impl Store {
    /// Cache a validated, sanitized narrative (JSON) under (content hash, prompt version,
    /// model). A newer narrative for the same key replaces the older one.
    pub fn save_narrative(
        &mut self,
        content_hash: &str,
        prompt_version: &str,
        model: &str,
        alert_id: &str,
        narrative_json: &str,
        now: EpochMs,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO narratives (content_hash, prompt_version, model, alert_id, narrative_json, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (content_hash, prompt_version, model) DO UPDATE SET \
             alert_id = excluded.alert_id, narrative_json = excluded.narrative_json, created_at = excluded.created_at",
            params![content_hash, prompt_version, model, alert_id, narrative_json, now],
        )?;
        Ok(())
    }

    /// The cached narrative JSON for a key, if any.
    pub fn cached_narrative(
        &self,
        content_hash: &str,
        prompt_version: &str,
        model: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT narrative_json FROM narratives \
                 WHERE content_hash = ? AND prompt_version = ? AND model = ?",
            )?
            .query_row(params![content_hash, prompt_version, model], |r| r.get(0))
            .optional()?)
    }

    /// Record one model call. With an audit key set, an `llm_call` audit entry (model, prompt
    /// and response hashes, outcome — never the prompt text) commits in the same transaction.
    pub fn record_llm_call(&mut self, c: &LlmCallRecord) -> Result<(), StoreError> {
        let insert = |conn: &rusqlite::Connection| {
            conn.execute(
                "INSERT INTO llm_calls (at, alert_id, provider, model, prompt_version, prompt_sha256, \
                 response_sha256, redactions_json, redaction_total, latency_ms, outcome) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    c.at,
                    c.alert_id,
                    c.provider,
                    c.model,
                    c.prompt_version,
                    c.prompt_sha256,
                    c.response_sha256,
                    c.redactions_json,
                    c.redaction_total,
                    c.latency_ms,
                    c.outcome
                ],
            )?;
            conn.execute(
                "INSERT INTO llm_call_flags (call_id, flags_json) VALUES (?, ?)",
                params![conn.last_insert_rowid(), c.flags_json],
            )
        };
        let Store {
            conn,
            audit_key,
            path,
            ..
        } = self;
        let Some(key) = audit_key.as_ref() else {
            let tx = conn.transaction()?;
            insert(&tx)?;
            tx.commit()?;
            return Ok(());
        };
        let detail = llm_call_detail(c);
        audit::with_full_sync(conn, |conn| -> Result<(), StoreError> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            insert(&tx)?;
            audit::append(
                &tx,
                key,
                &AuditEntry {
                    at: c.at,
                    actor: "sitrep",
                    action: "llm_call",
                    subject: &c.alert_id,
                    detail: &detail,
                },
            )?;
            tx.commit()?;
            Ok(())
        })?;
        // The call and its entry are committed; a head file that cannot move forward is
        // evidence for `sitrep audit verify`, not a reason to fail the narration.
        if let Err(e) = audit::write_head(path, conn, key) {
            tracing::warn!("audit head not updated after an llm_call entry: {e}");
        }
        Ok(())
    }

    /// Recorded model calls, oldest first (all alerts when `alert_id` is None).
    pub fn llm_calls(&self, alert_id: Option<&str>) -> Result<Vec<LlmCallRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, alert_id, provider, model, prompt_version, prompt_sha256, response_sha256, \
             redactions_json, redaction_total, latency_ms, outcome, COALESCE(f.flags_json, '[]') \
             FROM llm_calls LEFT JOIN llm_call_flags f ON f.call_id = llm_calls.id \
             WHERE ?1 IS NULL OR alert_id = ?1 ORDER BY llm_calls.id",
        )?;
        let rows = stmt.query_map([alert_id], |r| {
            Ok(LlmCallRecord {
                at: r.get(0)?,
                alert_id: r.get(1)?,
                provider: r.get(2)?,
                model: r.get(3)?,
                prompt_version: r.get(4)?,
                prompt_sha256: r.get(5)?,
                response_sha256: r.get(6)?,
                redactions_json: r.get(7)?,
                redaction_total: r.get(8)?,
                latency_ms: r.get(9)?,
                outcome: r.get(10)?,
                flags_json: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narratives_are_keyed_by_hash_version_and_model() {
        let mut s = Store::open_in_memory().expect("store");
        s.save_narrative("h1", "v1", "openai/m@h", "wiz:1", "{\"a\":1}", 5)
            .expect("save");
        s.save_narrative("h1", "v1", "openai/m@h", "wiz:1", "{\"a\":2}", 6)
            .expect("replace");
        assert_eq!(
            s.cached_narrative("h1", "v1", "openai/m@h")
                .expect("get")
                .as_deref(),
            Some("{\"a\":2}")
        );
        assert_eq!(
            s.cached_narrative("h2", "v1", "openai/m@h").expect("get"),
            None
        );
        assert_eq!(
            s.cached_narrative("h1", "v2", "openai/m@h").expect("get"),
            None
        );
        assert_eq!(s.cached_narrative("h1", "v1", "other").expect("get"), None);
    }

    #[test]
    fn calls_are_recorded_in_order() {
        let mut s = Store::open_in_memory().expect("store");
        let c = LlmCallRecord {
            at: 1,
            alert_id: "wiz:1".into(),
            provider: "openai".into(),
            model: "m".into(),
            prompt_version: "narrate-v1".into(),
            prompt_sha256: "p".into(),
            response_sha256: "r".into(),
            redactions_json: "{\"AWS\":1}".into(),
            redaction_total: 1,
            latency_ms: 12,
            outcome: "ok".into(),
            flags_json: "[\"echo summary < resource.name\"]".into(),
        };
        s.record_llm_call(&c).expect("rec");
        s.record_llm_call(&LlmCallRecord {
            alert_id: "wiz:2".into(),
            ..c.clone()
        })
        .expect("rec");
        assert_eq!(s.llm_calls(Some("wiz:1")).expect("calls"), vec![c]);
        assert_eq!(s.llm_calls(None).expect("calls").len(), 2);
    }
}
