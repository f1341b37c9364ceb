//! Prioritization in the store: scores, intel flags, correlation keys and path stages are
//! written at import (for the alerts the import touched) and recomputed when intel or the
//! scoring model changes; groups and attack paths are read from those indexed columns.

use std::collections::BTreeSet;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::queue::{
    ListRequest, QUEUE_COLUMNS, QueueRow, queue_row, resurfaced_columns, where_clause,
};
use super::rows::{AlertColumns, alert_from_row, row_error};
use super::{Store, StoreError};
use crate::domain::{Alert, AttackPath, EpochMs, Score, Stage, VendorState};
use crate::triage::intel::{EpssScore, KevEntry};
use crate::triage::score::{IntelSet, ScoreContext, ScoringConfig, assess};
use crate::triage::{correlate, paths};

/// `(rowid, id, alert without raw payload, scored_at)`.
type Light = (i64, String, Alert, Option<EpochMs>);

const LIGHT_COLUMNS: &str = "rowid, id, source, vendor, native_id, category, title, description, \
    policy_id, policy_name, vendor_severity, severity, resource_id, resource_name, resource_type, \
    cloud, account, region, tags_json, internet_facing, open_ports, cves_json, compliance_json, \
    first_seen, last_seen, vendor_updated, vendor_status, attack_json, scored_at";

/// An alert rebuilt for scoring: every field the scorer reads, without the raw payload.
fn light_alert(r: &Row<'_>, c: &AlertColumns) -> rusqlite::Result<Light> {
    let alert = alert_from_row(r, c)?;
    Ok((r.get("rowid")?, r.get("id")?, alert, r.get("scored_at")?))
}

/// KEV (whole table: about fifteen hundred rows) and EPSS for the given CVEs.
pub(super) fn intel_for<'a>(
    conn: &Connection,
    cves: impl IntoIterator<Item = &'a str>,
) -> Result<IntelSet, StoreError> {
    let mut set = IntelSet::default();
    let mut kev = conn.prepare_cached(
        "SELECT cve, vendor_project, product, name, date_added, due_date, ransomware FROM kev",
    )?;
    let rows = kev.query_map([], |r| {
        Ok(KevEntry {
            cve: r.get(0)?,
            vendor_project: r.get(1)?,
            product: r.get(2)?,
            name: r.get(3)?,
            date_added: r.get(4)?,
            due_date: r.get(5)?,
            ransomware: r.get::<_, i64>(6)? != 0,
        })
    })?;
    for k in rows {
        let k = k?;
        set.kev.insert(k.cve.clone(), k);
    }
    let any_epss: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM epss)", [], |r| r.get(0))?;
    if any_epss {
        let mut one = conn.prepare_cached("SELECT epss, percentile FROM epss WHERE cve = ?")?;
        let wanted: BTreeSet<String> = cves.into_iter().map(str::to_ascii_uppercase).collect();
        for cve in wanted {
            if let Some(s) = one
                .query_row([&cve], |r| {
                    Ok(EpssScore {
                        epss: r.get(0)?,
                        percentile: r.get(1)?,
                    })
                })
                .optional()?
            {
                set.epss.insert(cve, s);
            }
        }
    }
    Ok(set)
}

fn has_resource_facts(a: &Alert) -> bool {
    a.resource.id.is_some() || a.resource.name.is_some() || !a.resource.tags.is_empty()
}

/// One alert's assessment as the columns that hold it.
pub(super) struct Assessed {
    pub score: i64,
    pub kev: i64,
    pub epss: Option<f64>,
    pub stage_mask: i64,
    pub vendor_path: i64,
    pub group_key: Option<String>,
}

/// Assess one alert for its columns (written by the insert of a new alert, or below).
pub(super) fn assessed(
    alert: &Alert,
    intel: &IntelSet,
    cfg: &ScoringConfig,
    now_ms: EpochMs,
) -> Assessed {
    let ctx = ScoreContext {
        config: cfg,
        intel,
        now_ms,
    };
    let a = assess(alert, &ctx);
    Assessed {
        score: i64::from(a.score.total),
        kev: i64::from(a.kev),
        epss: a.epss,
        stage_mask: i64::from(a.stage_mask()),
        vendor_path: i64::from(alert.vendor_path.is_some()),
        group_key: correlate::resource_key(alert),
    }
}

/// Write one alert's assessment.
fn write_assessment(
    conn: &Connection,
    rowid: i64,
    alert: &Alert,
    intel: &IntelSet,
    cfg: &ScoringConfig,
    now_ms: EpochMs,
) -> Result<(), StoreError> {
    let a = assessed(alert, intel, cfg, now_ms);
    let mut update = conn.prepare_cached(
        "UPDATE alerts SET score = ?, scored_at = ?, kev = ?, epss = ?, stage_mask = ?, \
         vendor_path = ?, group_key = coalesce(?, group_key) WHERE rowid = ?",
    )?;
    update.execute(params![
        a.score,
        now_ms,
        a.kev,
        a.epss,
        a.stage_mask,
        a.vendor_path,
        a.group_key,
        rowid
    ])?;
    Ok(())
}

/// Score the alerts an import updated (`Some(index in alerts)`; the ones it inserted were
/// scored by their insert, `None`), and mute the ones an active suppression matches. Runs
/// inside the import's transaction; `intel` covers the alerts' CVEs ([`intel_for`]).
pub(super) fn after_import(
    conn: &Connection,
    alerts: &[Alert],
    touched: &[(i64, Option<usize>)],
    intel: &IntelSet,
    cfg: &ScoringConfig,
    now_ms: EpochMs,
) -> Result<(), StoreError> {
    if touched.is_empty() {
        return Ok(());
    }
    let mut reload = conn.prepare_cached(&format!(
        "SELECT {LIGHT_COLUMNS} FROM alerts WHERE rowid = ?"
    ))?;
    let cols = AlertColumns::of(&reload);
    for &(rowid, i) in touched {
        let Some(i) = i else { continue };
        let a = &alerts[i];
        if has_resource_facts(a) {
            write_assessment(conn, rowid, a, intel, cfg, now_ms)?;
        } else {
            // The update kept the resource facts of an earlier payload: score what is stored.
            let (_, _, stored, _) = reload
                .query_row([rowid], |r| light_alert(r, &cols))
                .map_err(row_error)?;
            write_assessment(conn, rowid, &stored, intel, cfg, now_ms)?;
        }
    }
    let rowids = serde_json::to_string(&touched.iter().map(|(r, _)| *r).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into());
    super::suppress::apply_active(conn, now_ms, Some(&rowids))?;
    Ok(())
}

/// Rescore every alert matching `where_sql`; returns how many.
pub(super) fn rescore_where(
    conn: &Connection,
    where_sql: &str,
    where_params: &[SqlValue],
    cfg: &ScoringConfig,
    now_ms: EpochMs,
) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {LIGHT_COLUMNS} FROM alerts WHERE {where_sql}"
    ))?;
    let cols = AlertColumns::of(&stmt);
    let rows = stmt
        .query_map(rusqlite::params_from_iter(where_params), |r| {
            light_alert(r, &cols)
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(row_error)?;
    let intel = intel_for(
        conn,
        rows.iter()
            .flat_map(|(_, _, a, _)| a.cves.iter().map(|c| c.id.as_str())),
    )?;
    for (rowid, _, alert, _) in &rows {
        write_assessment(conn, *rowid, alert, &intel, cfg, now_ms)?;
    }
    Ok(rows.len())
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM triage_meta WHERE key = ?", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO triage_meta (key, value) VALUES (?, ?) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Ageing rescores run at most this often (the SLA factor works in whole days).
const AGEING_EVERY_MS: i64 = 3_600_000;

/// One correlated group of alerts: one row of `sitrep list --groups`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupRow {
    /// The normalized resource key (or `alert:<id>` for an alert without a resource).
    pub group_key: String,
    /// Alerts in the group (that match the listing).
    pub members: usize,
    /// The group's score: an attack path's whole-path score, else its strongest member's.
    pub score: u8,
    /// The members chain into an attack path.
    pub is_path: bool,
    pub stages: Vec<Stage>,
    pub vendors: Vec<String>,
    /// The highest-scoring member.
    pub top: QueueRow,
}

impl Store {
    /// Use this scoring model (from the config's `[scoring]`) for imports and rescoring.
    pub fn set_scoring(&mut self, cfg: crate::triage::score::ScoringConfig) {
        self.scoring = cfg;
    }

    pub fn scoring(&self) -> &ScoringConfig {
        &self.scoring
    }

    /// Recompute every score (after new intel or a new model). Returns how many alerts.
    pub fn rescore(&mut self, now_ms: EpochMs) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let n = rescore_where(&tx, "1", &[], &self.scoring, now_ms)?;
        set_meta(&tx, "scoring_fingerprint", &self.scoring.fingerprint())?;
        set_meta(&tx, "scored_at", &now_ms.to_string())?;
        tx.commit()?;
        Ok(n)
    }

    /// Bring stored scores up to date: everything when the model or weights differ from the
    /// ones the scores were computed with; otherwise only alerts that crossed their SLA since
    /// the last pass (checked at most hourly). Returns how many alerts were rescored.
    pub fn ensure_scored(&mut self, now_ms: EpochMs) -> Result<usize, StoreError> {
        let fp = self.scoring.fingerprint();
        if meta(&self.conn, "scoring_fingerprint")?.as_deref() != Some(fp.as_str()) {
            return self.rescore(now_ms);
        }
        let last: EpochMs = meta(&self.conn, "scored_at")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if now_ms - last < AGEING_EVERY_MS {
            return Ok(0);
        }
        const DAY: i64 = 86_400_000;
        let d = &self.scoring.sla_days;
        let mut clauses = Vec::new();
        let mut p = Vec::new();
        for (rank, days) in [(5, d.critical), (4, d.high), (3, d.medium), (2, d.low)] {
            // Crossed the deadline in (last, now]: first_seen + days*DAY in that window.
            clauses.push(
                "(alerts.severity_rank = ? AND alerts.first_seen > ? AND alerts.first_seen <= ?)",
            );
            p.push(SqlValue::Integer(rank));
            p.push(SqlValue::Integer(last - days * DAY));
            p.push(SqlValue::Integer(now_ms - days * DAY));
        }
        let tx = self.conn.transaction()?;
        let n = rescore_where(&tx, &clauses.join(" OR "), &p, &self.scoring, now_ms)?;
        set_meta(&tx, "scored_at", &now_ms.to_string())?;
        tx.commit()?;
        Ok(n)
    }

    /// The alert's score with its breakdown under `cfg`, computed for the time its stored
    /// score was (so the words explain the number in the queue). None: no such alert.
    pub fn score_breakdown(
        &self,
        id: &str,
        cfg: &ScoringConfig,
    ) -> Result<Option<Score>, StoreError> {
        let Some((_, _, alert, scored_at)) = self.light(id)? else {
            return Ok(None);
        };
        let intel = intel_for(&self.conn, alert.cves.iter().map(|c| c.id.as_str()))?;
        let ctx = ScoreContext {
            config: cfg,
            intel: &intel,
            now_ms: scored_at.unwrap_or(0),
        };
        Ok(Some(assess(&alert, &ctx).score))
    }

    pub(super) fn light(&self, id: &str) -> Result<Option<Light>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {LIGHT_COLUMNS} FROM alerts WHERE id = ?"))?;
        let cols = AlertColumns::of(&stmt);
        stmt.query_row([id], |r| light_alert(r, &cols))
            .optional()
            .map_err(row_error)
    }

    /// The attack paths the alert is part of (its resource group's chain, when its active
    /// members form one), under the store's scoring model.
    pub fn attack_paths_for(&self, id: &str) -> Result<Vec<AttackPath>, StoreError> {
        let key: Option<Option<String>> = self
            .conn
            .query_row("SELECT group_key FROM alerts WHERE id = ?", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(key) = key else {
            return Err(StoreError::NotFound(id.to_string()));
        };
        let Some(key) = key else {
            return Ok(Vec::new());
        };
        // Active members only (what is muted, resolved or put away, here or at the vendor,
        // is not an open door), plus the alert asked about.
        let now: i64 = self.conn.query_row(
            "SELECT coalesce(scored_at, 0) FROM alerts WHERE id = ?",
            [id],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {LIGHT_COLUMNS} FROM alerts WHERE group_key = ? AND (id = ? OR (\
             (status IN ('new','acknowledged','in_progress') OR \
              (status IN ('snoozed','dismissed') AND status_until <= ?)) AND \
             (suppressed_by IS NULL OR suppressed_until <= ?) AND \
             vendor_status NOT IN ('{}'))) ORDER BY id",
            VendorState::CLOSED.join("', '")
        ))?;
        let cols = AlertColumns::of(&stmt);
        let rows = stmt
            .query_map(params![key, id, now, now], |r| light_alert(r, &cols))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(row_error)?;
        let intel = intel_for(
            &self.conn,
            rows.iter()
                .flat_map(|(_, _, a, _)| a.cves.iter().map(|c| c.id.as_str())),
        )?;
        let assessed: Vec<_> = rows
            .iter()
            .map(|(_, _, a, scored_at)| {
                let ctx = ScoreContext {
                    config: &self.scoring,
                    intel: &intel,
                    now_ms: scored_at.unwrap_or(now),
                };
                assess(a, &ctx)
            })
            .collect();
        let members: Vec<paths::Member<'_>> = rows
            .iter()
            .zip(&assessed)
            .map(|((_, id, alert, _), assessment)| paths::Member {
                id,
                alert,
                assessment,
            })
            .collect();
        Ok(paths::build(&key, &members, &self.scoring)
            .into_iter()
            .collect())
    }

    /// The queue as correlated groups (one row per resource), highest group score first,
    /// then severity, then recency. Uses the listing's filter, status and mute rules.
    pub fn list_groups(&self, req: &ListRequest<'_>) -> Result<Vec<GroupRow>, StoreError> {
        let (where_sql, params) = where_clause(req)?;
        // The path facts (stages, contributors, a vendor's path) come from open members only:
        // what the vendor closed is no longer a door (a closed member scores 0 already).
        let open_mask = format!(
            "(CASE WHEN alerts.vendor_status IN ('{}') THEN 0 ELSE alerts.stage_mask END)",
            VendorState::CLOSED.join("', '")
        );
        let sql = format!(
            "SELECT coalesce(alerts.group_key, 'alert:' || alerts.id), count(*), \
             max(alerts.score), max({open_mask} & 1), max({open_mask} & 2), \
             max({open_mask} & 4), max({open_mask} & 8), \
             sum({open_mask} <> 0), \
             max(CASE WHEN alerts.vendor_status IN ('{closed}') THEN 0 ELSE alerts.vendor_path END), \
             max(alerts.severity_rank), \
             max(alerts.sort_time), max(alerts.score * 1099511627776 + alerts.rowid), \
             group_concat(DISTINCT alerts.vendor) \
             FROM alerts WHERE {where_sql} GROUP BY 1",
            closed = VendorState::CLOSED.join("', '")
        );
        struct Agg {
            key: String,
            members: usize,
            facts: paths::GroupFacts,
            severity: i64,
            recent: i64,
            top_rowid: i64,
            vendors: String,
        }
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut groups = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                let mask = r.get::<_, i64>(3)?
                    | r.get::<_, i64>(4)?
                    | r.get::<_, i64>(5)?
                    | r.get::<_, i64>(6)?;
                Ok(Agg {
                    key: r.get(0)?,
                    members: r.get::<_, i64>(1)? as usize,
                    facts: paths::GroupFacts {
                        max_score: r.get::<_, i64>(2)?.clamp(0, 100) as u8,
                        stage_mask: mask as u8,
                        contributors: r.get::<_, i64>(7)? as usize,
                        vendor_path: r.get::<_, i64>(8)? != 0,
                    },
                    severity: r.get(9)?,
                    recent: r.get(10)?,
                    top_rowid: r.get::<_, i64>(11)? & 0xFF_FFFF_FFFF,
                    vendors: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let cfg = &self.scoring;
        let mut scored: Vec<(u8, Agg)> =
            groups.drain(..).map(|g| (g.facts.score(cfg), g)).collect();
        scored.sort_by(|(sa, a), (sb, b)| {
            sb.cmp(sa)
                .then(b.facts.is_path().cmp(&a.facts.is_path()))
                .then(b.severity.cmp(&a.severity))
                .then(b.recent.cmp(&a.recent))
                .then(a.key.cmp(&b.key))
        });
        let page: Vec<(u8, Agg)> = scored
            .into_iter()
            .skip(req.offset)
            .take(req.limit)
            .collect();
        let (res_sql, res_params) = resurfaced_columns(req.now_ms);
        let mut top = self.conn.prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS}, {res_sql} FROM alerts WHERE rowid = ?"
        ))?;
        let mut out = Vec::with_capacity(page.len());
        for (score, g) in page {
            let mut p = res_params.clone();
            p.push(SqlValue::Integer(g.top_rowid));
            let row = top.query_row(rusqlite::params_from_iter(p), queue_row)?;
            out.push(GroupRow {
                group_key: g.key,
                members: g.members,
                score,
                is_path: g.facts.is_path(),
                stages: g.facts.stages(),
                vendors: g
                    .vendors
                    .split(',')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect(),
                top: row,
            });
        }
        Ok(out)
    }

    /// Member ids of a group (by key), best first.
    pub fn group_members(&self, group_key: &str) -> Result<Vec<(String, u8)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, score FROM alerts WHERE group_key = ? \
             ORDER BY score DESC, severity_rank DESC, sort_time DESC",
        )?;
        let rows = stmt.query_map([group_key], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)?.clamp(0, 100) as u8))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
