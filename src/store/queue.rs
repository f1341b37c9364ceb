//! The queue listing's SQL: the request, its WHERE clause (open, not muted, the filter), the
//! orders, and the row each line is read into. Imports (`alerts.rs`) and prioritization
//! (`triage.rs`) both list alerts through it, so neither has to reach into the other.

use rusqlite::Row;
use rusqlite::types::Value as SqlValue;

use super::StoreError;
use crate::domain::{Category, EpochMs, Severity, SortKey, VendorState};
use crate::triage::query::Query;

/// Ties in the index-backed orders fall back to index order (rowid), which is stable.
fn order_by(sort: SortKey) -> &'static str {
    match sort {
        SortKey::Score => "alerts.score DESC, alerts.severity_rank DESC, alerts.sort_time DESC",
        SortKey::Severity => "alerts.severity_rank DESC, alerts.sort_time DESC",
        SortKey::Recent => "alerts.sort_time DESC",
        SortKey::Oldest => "coalesce(alerts.first_seen, alerts.sort_time) ASC, alerts.rowid ASC",
        SortKey::Vendor => "alerts.vendor ASC, alerts.severity_rank DESC, alerts.sort_time DESC",
        SortKey::Title => "alerts.title COLLATE NOCASE ASC, alerts.rowid ASC",
        SortKey::Resource => {
            "coalesce(alerts.resource_name, alerts.resource_id) COLLATE NOCASE ASC, alerts.rowid ASC"
        }
        SortKey::Account => "alerts.account ASC, alerts.severity_rank DESC, alerts.sort_time DESC",
        SortKey::Status => "alerts.status ASC, alerts.severity_rank DESC, alerts.sort_time DESC",
    }
}

/// A queue listing.
#[derive(Debug, Clone, Default)]
pub struct ListRequest<'a> {
    pub filter: Option<&'a Query>,
    /// Include resolved, dismissed and snoozed alerts (an expired snooze or dismissal is
    /// always back in the queue).
    pub include_closed: bool,
    pub sort: SortKey,
    pub limit: usize,
    pub offset: usize,
    pub now_ms: EpochMs,
}

/// One queue line: what the table and the TUI's queue show. Text is raw (unsanitized).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueueRow {
    /// A short local handle (the row number in this database), for people: `sitrep show 42`.
    #[serde(rename = "ref")]
    pub local_ref: i64,
    pub id: String,
    pub source: String,
    pub vendor: String,
    pub severity: Severity,
    pub category: Category,
    pub title: String,
    pub resource: Option<String>,
    pub resource_id: Option<String>,
    pub cloud: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub status: String,
    pub assignee: Option<String>,
    pub ticket: Option<String>,
    pub cves: Vec<String>,
    pub first_seen: Option<EpochMs>,
    pub last_seen: Option<EpochMs>,
    pub sort_time: EpochMs,
    pub has_controls: bool,
    /// When sitrep first stored the alert, and when its vendor fields last changed: the
    /// console marks what is new or changed since the analyst last looked.
    pub imported_at: EpochMs,
    pub changed_at: EpochMs,
    /// Priority score 0..=100 (docs/prioritization.md).
    pub score: u8,
    /// The alert's state at the vendor (`resolved` when the vendor closed it or, for Prisma
    /// Cloud Compute, when a complete scan no longer lists it).
    pub vendor_status: VendorState,
    /// Back in the queue because a snooze, a dismissal's `until` or a suppression lapsed, or
    /// because the vendor reopened it after its status had followed the vendor's close.
    pub resurfaced: bool,
    /// Why it had been put away (the snooze note, dismissal reason, suppression reason, or the
    /// vendor's reopening).
    pub resurfaced_reason: Option<String>,
}

/// The default queue leaves out alerts muted by a suppression that has not lapsed.
/// (Unary `+` keeps the planner on the queue index.)
pub(super) const NOT_MUTED: &str =
    "(+alerts.suppressed_by IS NULL OR alerts.suppressed_until <= ?)";

/// The two SELECT columns that say whether a row resurfaced and why, with their parameters.
pub(super) fn resurfaced_columns(now_ms: EpochMs) -> (String, Vec<SqlValue>) {
    let sql = "CASE WHEN alerts.suppressed_by IS NOT NULL AND alerts.suppressed_until <= ? THEN 1 \
         WHEN alerts.status IN ('snoozed','dismissed') AND alerts.status_until <= ? THEN 1 \
         WHEN alerts.reopened_at IS NOT NULL THEN 1 \
         ELSE 0 END, \
         CASE WHEN alerts.suppressed_by IS NOT NULL AND alerts.suppressed_until <= ? THEN \
           (SELECT 'muted by suppression #' || s.id || ' (' || s.author || '): ' || s.reason \
            FROM suppressions s WHERE s.id = alerts.suppressed_by) \
         WHEN alerts.status = 'snoozed' AND alerts.status_until <= ? THEN \
           'snoozed' || coalesce(': ' || alerts.status_note, '') \
         WHEN alerts.status = 'dismissed' AND alerts.status_until <= ? THEN \
           'dismissed as ' || coalesce(alerts.status_reason, 'other') || coalesce(': ' || alerts.status_note, '') \
         WHEN alerts.reopened_at IS NOT NULL THEN 'reopened at the vendor after it had closed it' \
         END"
        .to_string();
    (sql, vec![SqlValue::Integer(now_ms); 5])
}

pub(super) fn list_sql(req: &ListRequest<'_>) -> Result<(String, Vec<SqlValue>), StoreError> {
    let (where_sql, where_params) = where_clause(req)?;
    let (resurfaced_sql, mut params) = resurfaced_columns(req.now_ms);
    params.extend(where_params);
    let sql = format!(
        "SELECT {QUEUE_COLUMNS}, {resurfaced_sql} FROM alerts WHERE {where_sql} \
         ORDER BY {} LIMIT ? OFFSET ?",
        order_by(req.sort)
    );
    params.push(SqlValue::Integer(req.limit.min(i64::MAX as usize) as i64));
    params.push(SqlValue::Integer(req.offset.min(i64::MAX as usize) as i64));
    Ok((sql, params))
}

/// The columns [`queue_row`] reads, in order (the resurfaced pair follows them).
pub(super) const QUEUE_COLUMNS: &str = "id, source, vendor, severity, category, title, \
    resource_name, resource_id, cloud, account, region, status, assignee, ticket, cve_ids, \
    first_seen, last_seen, sort_time, has_controls, rowid, score, imported_at, changed_at, \
    vendor_status";

pub(super) fn where_clause(req: &ListRequest<'_>) -> Result<(String, Vec<SqlValue>), StoreError> {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if !req.include_closed {
        clauses.push(
            // Unary `+` keeps SQLite from answering this with the status index and a sort:
            // the queue index then yields the first page in order.
            "(+alerts.status IN ('new','acknowledged','in_progress') OR \
             (+alerts.status IN ('snoozed','dismissed') AND alerts.status_until IS NOT NULL \
              AND alerts.status_until <= ?))"
                .to_string(),
        );
        params.push(SqlValue::Integer(req.now_ms));
        clauses.push(NOT_MUTED.to_string());
        params.push(SqlValue::Integer(req.now_ms));
    }
    if let Some(q) = req.filter.filter(|q| !q.is_empty()) {
        let (sql, p) =
            super::filter::to_sql(q, req.now_ms).map_err(|e| StoreError::Invalid(e.to_string()))?;
        clauses.push(format!("({sql})"));
        params.extend(p);
    }
    if clauses.is_empty() {
        clauses.push("1".into());
    }
    Ok((clauses.join(" AND "), params))
}

pub(super) fn queue_row(r: &Row<'_>) -> rusqlite::Result<QueueRow> {
    let name: Option<String> = r.get(6)?;
    let rid: Option<String> = r.get(7)?;
    let cve_ids: String = r.get(14)?;
    Ok(QueueRow {
        local_ref: r.get(19)?,
        id: r.get(0)?,
        source: r.get(1)?,
        vendor: r.get(2)?,
        severity: Severity::from_store(&r.get::<_, String>(3)?),
        category: Category::from_store(&r.get::<_, String>(4)?),
        title: r.get(5)?,
        resource: name.clone().or_else(|| rid.clone()),
        resource_id: rid,
        cloud: r.get(8)?,
        account: r.get(9)?,
        region: r.get(10)?,
        status: r.get(11)?,
        assignee: r.get(12)?,
        ticket: r.get(13)?,
        cves: cve_ids.split_whitespace().map(str::to_string).collect(),
        first_seen: r.get(15)?,
        last_seen: r.get(16)?,
        sort_time: r.get(17)?,
        has_controls: r.get::<_, i64>(18)? != 0,
        score: r.get::<_, i64>(20)?.clamp(0, 100) as u8,
        imported_at: r.get(21)?,
        changed_at: r.get(22)?,
        vendor_status: VendorState::from_store(&r.get::<_, String>(23)?),
        resurfaced: r.get::<_, Option<i64>>(24)?.unwrap_or(0) != 0,
        resurfaced_reason: r.get(25)?,
    })
}
