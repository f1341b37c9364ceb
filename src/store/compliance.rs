//! What `sitrep report --compliance` reads: the alerts a framework's requirements cover (in
//! the report's scope), the audit entries about them, and the counts the
//! previous report of the same framework and scope left (kept in `kv`).

use rusqlite::params;

use super::{Store, StoreError};
use crate::audit::StoredEntry;
use crate::domain::{Compliance, EpochMs};
use crate::triage::compliance::{Framework, Normalized, requirements};

/// Which alerts a compliance report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplianceScope {
    /// Alerts seen (last seen, updated, first seen or imported) at or after this time.
    pub since: Option<EpochMs>,
    /// The cloud account, exactly.
    pub account: Option<String>,
    /// A tag: `key` (any value) or `key=value`, compared without ASCII case.
    pub tag: Option<(String, Option<String>)>,
}

/// One alert a framework's requirements cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceHit {
    pub id: String,
    pub score: i64,
    /// The framework's requirements this alert fails, one per requirement id.
    pub requirements: Vec<Normalized>,
}

impl Store {
    /// The alerts in `scope` whose compliance references normalize to `framework`, highest
    /// score first. The framework test is [`crate::triage::compliance`]'s, run on each
    /// candidate's stored references (alerts without any are skipped by the WHERE).
    pub fn compliance_hits(
        &self,
        framework: Framework,
        scope: &ComplianceScope,
    ) -> Result<Vec<ComplianceHit>, StoreError> {
        let (tag_key, tag_value) = match &scope.tag {
            Some((k, v)) => (Some(k.to_lowercase()), v.as_ref().map(|v| v.to_lowercase())),
            None => (None, None),
        };
        let mut stmt = self.conn.prepare(
            "SELECT id, score, compliance_json FROM alerts \
             WHERE compliance_json <> '[]' \
             AND (?1 IS NULL OR sort_time >= ?1) \
             AND (?2 IS NULL OR account = ?2) \
             AND (?3 IS NULL OR EXISTS (SELECT 1 FROM alert_tags t WHERE t.alert = alerts.rowid \
                  AND t.key = ?3 AND (?4 IS NULL OR t.value = ?4))) \
             ORDER BY score DESC, severity_rank DESC, id",
        )?;
        let rows = stmt.query_map(
            params![scope.since, scope.account, tag_key, tag_value],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, score, json) = row?;
            let refs: Vec<Compliance> =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    id: id.clone(),
                    detail: format!("compliance_json does not read back: {e}"),
                })?;
            let requirements = requirements(&refs, framework);
            if !requirements.is_empty() {
                out.push(ComplianceHit {
                    id,
                    score,
                    requirements,
                });
            }
        }
        Ok(out)
    }

    /// Audit entries whose subject is one of `alert_ids`, in chain order. One pass over the
    /// log through [`crate::audit`]'s reader (decisions, not imports, grow it).
    pub fn audit_entries_about(&self, alert_ids: &[&str]) -> Result<Vec<StoredEntry>, StoreError> {
        let wanted: std::collections::HashSet<&str> = alert_ids.iter().copied().collect();
        let mut out = Vec::new();
        self.audit_for_each(None, |e| {
            if wanted.contains(e.subject.as_str()) {
                out.push(e);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// What the last report of `framework` in `scope_key` recorded (JSON text), if any.
    pub fn compliance_previous(
        &self,
        framework: Framework,
        scope_key: &str,
    ) -> Result<Option<String>, StoreError> {
        self.get_value(&previous_key(framework, scope_key))
    }

    /// Keep this report's counts for the next one of the same framework and scope.
    pub fn compliance_record(
        &mut self,
        framework: Framework,
        scope_key: &str,
        counts_json: &str,
    ) -> Result<(), StoreError> {
        self.set_value(&previous_key(framework, scope_key), counts_json)
    }
}

fn previous_key(framework: Framework, scope_key: &str) -> String {
    format!("compliance_report:{}:{scope_key}", framework.id())
}
