//! The queue listing's SQL: the request, its WHERE clause (open, not muted, the filter), the
//! orders, and the row each line is read into. Imports (`alerts.rs`) and prioritization
//! (`triage.rs`) both list alerts through it, so neither has to reach into the other.

use rusqlite::Row;
use rusqlite::types::Value as SqlValue;

use super::StoreError;
use crate::domain::{Category, EpochMs, Severity, SortKey, VendorState};
use crate::triage::query::Query;

/// Each order as its terms (expression, descending?), ending in the rowid: a unique
/// tiebreaker, so a row's key says exactly where it stands and a page can start after it
/// ([`Seek`]). The index-backed orders (score, severity, recent) end their index with the
/// rowid ascending, so walking the index yields this order without a sort, either way round.
fn order_terms(sort: SortKey) -> &'static [(&'static str, bool)] {
    const ROWID: (&str, bool) = ("alerts.rowid", false);
    const RANK: (&str, bool) = ("alerts.severity_rank", true);
    const TIME: (&str, bool) = ("alerts.sort_time", true);
    match sort {
        SortKey::Score => &[("alerts.score", true), RANK, TIME, ROWID],
        SortKey::Severity => &[RANK, TIME, ROWID],
        SortKey::Recent => &[TIME, ROWID],
        SortKey::Oldest => &[
            ("coalesce(alerts.first_seen, alerts.sort_time)", false),
            ROWID,
        ],
        SortKey::Vendor => &[("alerts.vendor", false), RANK, TIME, ROWID],
        SortKey::Title => &[("alerts.title COLLATE NOCASE", false), ROWID],
        SortKey::Resource => &[
            (
                "coalesce(alerts.resource_name, alerts.resource_id, '') COLLATE NOCASE",
                false,
            ),
            ROWID,
        ],
        SortKey::Account => &[("coalesce(alerts.account, '')", false), RANK, TIME, ROWID],
        SortKey::Status => &[("alerts.status", false), RANK, TIME, ROWID],
    }
}

/// The ORDER BY list, read forwards or (`reverse`) backwards.
fn order_by(sort: SortKey, reverse: bool) -> String {
    order_by_terms(order_terms(sort), reverse)
}

/// The ORDER BY list of an order's terms (expression, descending?).
pub(super) fn order_by_terms(terms: &[(&str, bool)], reverse: bool) -> String {
    terms
        .iter()
        .map(|(e, desc)| format!("{e} {}", if desc ^ reverse { "DESC" } else { "ASC" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a row stands in a queue order: the values of the order's terms for it, the rowid
/// last ([`QueueKey::of`]).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueKey {
    pub(super) sort: SortKey,
    pub(super) values: Vec<SqlValue>,
}

impl QueueKey {
    /// The key of `row` in `sort`'s order.
    pub fn of(row: &QueueRow, sort: SortKey) -> QueueKey {
        let int = SqlValue::Integer;
        let text = |s: &str| SqlValue::Text(s.to_string());
        let rank = int(i64::from(row.severity.rank()));
        let time = int(row.sort_time);
        let mut values = match sort {
            SortKey::Score => vec![int(i64::from(row.score)), rank, time],
            SortKey::Severity => vec![rank, time],
            SortKey::Recent => vec![time],
            SortKey::Oldest => vec![int(row.first_seen.unwrap_or(row.sort_time))],
            SortKey::Vendor => vec![text(&row.vendor), rank, time],
            SortKey::Title => vec![text(&row.title)],
            SortKey::Resource => vec![text(row.resource.as_deref().unwrap_or(""))],
            SortKey::Account => vec![text(row.account.as_deref().unwrap_or("")), rank, time],
            SortKey::Status => vec![text(&row.status), rank, time],
        };
        values.push(int(row.local_ref));
        QueueKey { sort, values }
    }
}

/// Where a keyset page starts: after or before a row (`ListRequest::offset` rows further on
/// in that direction), or at the end of the queue (the last `limit` rows, `offset` from the
/// end). Each is an index seek, so the last page costs what the first does.
#[derive(Debug, Clone, PartialEq)]
pub enum Seek {
    After(QueueKey),
    Before(QueueKey),
    End,
}

/// The condition "strictly after `key` in the order read forwards (or `reverse`)", with its
/// parameters: the lexicographic comparison spelled out, led by a row-value range over the
/// longest leading run of terms sharing a direction, which the planner turns into an index
/// seek (the spelled-out form alone would walk the index from its start).
fn keyset_sql(key: &QueueKey, reverse: bool) -> (String, Vec<SqlValue>) {
    let terms: Vec<KeyTerm> = order_terms(key.sort)
        .iter()
        .map(|&(expr, desc)| (expr, "?", desc))
        .collect();
    keyset_over(&terms, &key.values, reverse)
}

/// One term of an order for a keyset condition: its expression, how a key's value (`?`) is
/// written to compare with it, and whether it descends.
pub(super) type KeyTerm = (&'static str, &'static str, bool);

/// [`keyset_sql`] over any order's terms and a key's values (the team store's orders,
/// store/team/queue.rs, have their own expressions).
pub(super) fn keyset_over(
    terms: &[KeyTerm],
    values: &[SqlValue],
    reverse: bool,
) -> (String, Vec<SqlValue>) {
    let desc = |i: usize| terms[i].2 ^ reverse;
    let mut params = Vec::new();
    let run = (1..terms.len())
        .find(|&i| desc(i) != desc(0))
        .unwrap_or(terms.len());
    let cols: Vec<&str> = terms[..run].iter().map(|t| t.0).collect();
    let op = if desc(0) { "<=" } else { ">=" };
    let marks: Vec<&str> = terms[..run].iter().map(|t| t.1).collect();
    let lead = format!("({}) {op} ({})", cols.join(", "), marks.join(", "));
    params.extend(values[..run].iter().cloned());
    let mut ors = Vec::new();
    for i in 0..terms.len() {
        let mut and = Vec::new();
        for (j, term) in terms.iter().enumerate().take(i) {
            and.push(format!("{} = {}", term.0, term.1));
            params.push(values[j].clone());
        }
        and.push(format!(
            "{} {} {}",
            terms[i].0,
            if desc(i) { "<" } else { ">" },
            terms[i].1
        ));
        params.push(values[i].clone());
        ors.push(format!("({})", and.join(" AND ")));
    }
    (format!("{lead} AND ({})", ors.join(" OR ")), params)
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

/// How far a count stops when a text term drives it ([`ListRequest::count_cap`]): each match
/// counted costs a look-up (of its `alert_facets` row when the other terms are facets, else
/// of its alert's row; the kept counts answer tag and account filters). [`WALK_ABOVE`], so
/// the same count still decides the page's plan and no second count is needed.
pub const TEXT_COUNT_CAP: usize = WALK_ABOVE;

impl ListRequest<'_> {
    /// The cap to count this listing to, given the caller's: [`TEXT_COUNT_CAP`] when its
    /// count would be driven by a text term (the kept counts do not answer it), else `cap`.
    /// Shown as `5,000+` then: a capped count never claims to be exact.
    pub fn count_cap(&self, cap: usize) -> usize {
        match self.filter.and_then(super::filter::driver_term) {
            Some((_, (from, ..))) if from == "alerts_fts" => cap.min(TEXT_COUNT_CAP),
            _ => cap,
        }
    }
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
    /// Team mode: `assignee` holds the alert until then (a claim; lapsed once past).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_until: Option<EpochMs>,
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

/// The index that yields `sort`'s order without a sort step, if there is one.
pub(super) fn order_index(sort: SortKey) -> Option<&'static str> {
    match sort {
        SortKey::Score => Some("alerts_score"),
        SortKey::Severity => Some("alerts_queue"),
        SortKey::Recent => Some("alerts_recent"),
        SortKey::Vendor => Some("alerts_vendor"),
        SortKey::Status => Some("alerts_status"),
        SortKey::Oldest | SortKey::Title | SortKey::Resource | SortKey::Account => None,
    }
}

/// The index of the rows that can be in the default queue (migration 0012) yielding `sort`'s
/// order: for the orders where closed alerts bunch together (at the end of the score order,
/// they score 0; in blocks of the status order), and for the orders no full index serves,
/// which would otherwise sort every open alert. Severity, recent and vendor walk their full
/// indexes: closed alerts are spread among the open ones there, a few skipped per page.
fn open_index(sort: SortKey) -> Option<&'static str> {
    match sort {
        SortKey::Score => Some("alerts_open_score"),
        SortKey::Status => Some("alerts_open_status"),
        SortKey::Oldest => Some("alerts_open_oldest"),
        SortKey::Title => Some("alerts_open_title"),
        SortKey::Resource => Some("alerts_open_resource"),
        SortKey::Account => Some("alerts_open_account"),
        SortKey::Severity | SortKey::Recent | SortKey::Vendor => None,
    }
}

/// Above this many matches a filtered page walks the order's index, testing each row, instead
/// of reading every match through the filter's own index and sorting them: a walk reads about
/// `limit × alerts / matches` rows, a sort every match, and SQLite's planner (no statistics)
/// always takes the filter's index. Both ways read at most a few thousand rows at 1M alerts.
pub(super) const WALK_ABOVE: usize = 5_000;

pub(super) fn list_sql(
    req: &ListRequest<'_>,
    walk: bool,
) -> Result<(String, Vec<SqlValue>), StoreError> {
    seek_sql(req, None, walk)
}

/// A listing's SQL, from the start (`seek` None, `offset` rows in) or from a [`Seek`].
/// `Before` and `End` read the order backwards: their rows come out last first.
///
/// `walk`: read the order's index ([`order_index`]), whatever the filter.
pub(super) fn seek_sql(
    req: &ListRequest<'_>,
    seek: Option<&Seek>,
    walk: bool,
) -> Result<(String, Vec<SqlValue>), StoreError> {
    let index = driving_index(req, walk);
    let (mut where_sql, where_params) = where_clause_with(req, index.is_some())?;
    let (resurfaced_sql, mut params) = resurfaced_columns(req.now_ms);
    params.extend(where_params);
    let reverse = matches!(seek, Some(Seek::Before(_) | Seek::End));
    if let Some(Seek::After(key) | Seek::Before(key)) = seek {
        if key.sort != req.sort {
            return Err(StoreError::Invalid(format!(
                "a page of the {:?} order cannot start at a key of the {:?} order",
                req.sort, key.sort
            )));
        }
        let (sql, p) = keyset_sql(key, reverse);
        where_sql = format!("{where_sql} AND {sql}");
        params.extend(p);
    }
    let indexed = match index {
        Some(index) => format!(" INDEXED BY {index}"),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {QUEUE_COLUMNS}, {resurfaced_sql} FROM alerts{indexed} WHERE {where_sql} \
         ORDER BY {} LIMIT ? OFFSET ?",
        order_by(req.sort, reverse)
    );
    params.push(SqlValue::Integer(req.limit.min(i64::MAX as usize) as i64));
    params.push(SqlValue::Integer(req.offset.min(i64::MAX as usize) as i64));
    Ok((sql, params))
}

/// The index a page names (`INDEXED BY`), if any; the filter's tag and CVE terms are then
/// per-row look-ups. The default queue reads the open-queue index of its order when there is
/// one, so no page (the last one included) skips the closed alerts one table row at a time;
/// in score order, a filter naming one account reads that account's part of the open queue
/// (migration 0018) whatever its size: a seek, then the page's rows in order.
fn driving_index(req: &ListRequest<'_>, walk: bool) -> Option<&'static str> {
    let filter = req.filter.filter(|q| !q.is_empty());
    if req.sort == SortKey::Score
        && !req.include_closed
        && filter.is_some_and(super::filter::names_one_account)
    {
        return Some("alerts_open_account_score");
    }
    match open_index(req.sort).filter(|_| !req.include_closed) {
        Some(open) if walk || filter.is_none() => Some(open),
        _ => order_index(req.sort).filter(|_| walk),
    }
}

/// The columns [`queue_row`] reads, in order (the resurfaced pair follows them).
pub(super) const QUEUE_COLUMNS: &str = "id, source, vendor, severity, category, title, \
    resource_name, resource_id, cloud, account, region, status, assignee, ticket, cve_ids, \
    first_seen, last_seen, sort_time, has_controls, rowid, score, imported_at, changed_at, \
    vendor_status, claim_until";

/// The default queue: open statuses, or put away until a time that has passed.
const OPEN: &str = "(+alerts.status IN ('new','acknowledged','in_progress') OR \
     (+alerts.status IN ('snoozed','dismissed') AND alerts.status_until IS NOT NULL \
      AND alerts.status_until <= ?))";

/// Whether a row can be in the default queue at some time: an open status or one put away
/// until a time, and not muted for good. Implied by [`OPEN`] and [`NOT_MUTED`] together, so it
/// changes no listing; it is there because it is, word for word, the WHERE of the open-queue
/// indexes (migration 0012), which SQLite uses only when the query's WHERE carries it.
const CANDIDATE: &str = "(alerts.status IN ('new','acknowledged','in_progress') OR \
     alerts.status_until IS NOT NULL) AND \
     (alerts.suppressed_by IS NULL OR alerts.suppressed_until IS NOT NULL)";

pub(super) fn where_clause(req: &ListRequest<'_>) -> Result<(String, Vec<SqlValue>), StoreError> {
    where_clause_with(req, false)
}

/// [`where_clause`], with tag, CVE and text terms as per-row look-ups (`probes`) when an
/// index other than theirs drives the query ([`super::filter::to_sql_probing`]).
pub(super) fn where_clause_with(
    req: &ListRequest<'_>,
    probes: bool,
) -> Result<(String, Vec<SqlValue>), StoreError> {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if !req.include_closed {
        clauses.push(CANDIDATE.to_string());
        // Unary `+` keeps SQLite from answering this with the status index and a sort: the
        // queue index then yields the first page in order.
        clauses.push(OPEN.to_string());
        params.push(SqlValue::Integer(req.now_ms));
        clauses.push(NOT_MUTED.to_string());
        params.push(SqlValue::Integer(req.now_ms));
    }
    if let Some(q) = req.filter.filter(|q| !q.is_empty()) {
        let (sql, p) = if probes {
            super::filter::to_sql_probing(q, req.now_ms)
                .map_err(|e| StoreError::Invalid(e.to_string()))?
        } else {
            super::filter::to_sql(q, req.now_ms).map_err(|e| StoreError::Invalid(e.to_string()))?
        };
        clauses.push(format!("({sql})"));
        params.extend(p);
    }
    if clauses.is_empty() {
        clauses.push("1".into());
    }
    Ok((clauses.join(" AND "), params))
}

/// How many alerts a listing holds: exact, or at least `n` when counting stopped at a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueCount {
    pub n: usize,
    pub exact: bool,
}

impl std::fmt::Display for QueueCount {
    /// `1234`, or `10,000+` when counting stopped there.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.exact {
            return write!(f, "{}", self.n);
        }
        let digits = self.n.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{grouped}+")
    }
}

/// The counting SQL for a listing the kept counts answer, with its parameters; None for any
/// other filter. A filter that reads only facets ([`super::filter::facets_only`]) sums
/// `alert_counts`; one positive `tag:` or `account:` term with facets sums
/// `alert_tag_counts` or `alert_account_counts` ([`super::filter::kept_count_term`]). Each sum
/// covers the rows that do not depend on the clock (for those the default queue is just the
/// open statuses); the clock-dependent ones (muted, or put away until a time) are counted
/// from the alerts themselves through the `alerts_special` partial index (named: the planner
/// would otherwise take a facet's index and read every alert of that severity or vendor),
/// with tag terms as per-row look-ups.
pub(super) fn facet_count_sql(
    req: &ListRequest<'_>,
) -> Result<Option<(String, Vec<SqlValue>)>, StoreError> {
    let filter = req.filter.filter(|q| !q.is_empty());
    // The kept table, the condition on its own columns, and the facet terms besides it.
    let (table, mut filter_sql, mut params, facets) = match filter {
        None => ("alert_counts", None, Vec::new(), None),
        Some(q) if super::filter::facets_only(q) => {
            ("alert_counts", None, Vec::new(), Some(q.clone()))
        }
        Some(q) => match super::filter::kept_count_term(q) {
            Some((at, (table, cond, p))) => {
                let mut rest = q.clone();
                rest.terms.remove(at);
                (table, Some(cond), p, Some(rest))
            }
            None => return Ok(None),
        },
    };
    if let Some(q) = facets.filter(|q| !q.is_empty()) {
        let (sql, p) = super::filter::to_sql(&q, req.now_ms)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        filter_sql = Some(match filter_sql {
            Some(kept) => format!("{kept} AND {sql}"),
            None => sql,
        });
        params.extend(p);
    }
    let filter_sql = filter_sql.unwrap_or_else(|| "1".to_string());
    if req.include_closed {
        let sql =
            format!("SELECT coalesce(sum(alerts.n), 0) FROM {table} AS alerts WHERE {filter_sql}");
        return Ok(Some((sql, params)));
    }
    let (where_sql, where_params) = where_clause_with(req, true)?;
    params.extend(where_params);
    let sql = format!(
        "SELECT (SELECT coalesce(sum(alerts.n), 0) FROM {table} AS alerts \
                 WHERE {STEADY_OPEN} AND {filter_sql}) + ({})",
        clock_rows_count(&where_sql)
    );
    Ok(Some((sql, params)))
}

/// In a table split like `alert_counts` (`special`, `status`): the rows in the default
/// queue whatever the clock. The others are counted by [`clock_rows_count`].
pub(super) const STEADY_OPEN: &str =
    "alerts.special = 0 AND alerts.status IN ('new','acknowledged','in_progress')";

/// Counts the alerts whose place in the default queue depends on the clock (muted, or put
/// away until a time: few) that `where_sql` (the default queue's, [`where_clause_with`])
/// keeps, through `alerts_special`.
pub(super) fn clock_rows_count(where_sql: &str) -> String {
    format!(
        "SELECT count(*) FROM alerts INDEXED BY alerts_special \
         WHERE (alerts.suppressed_by IS NOT NULL OR alerts.status_until IS NOT NULL) \
         AND {where_sql}"
    )
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
        claim_until: r.get(24)?,
        resurfaced: r.get::<_, Option<i64>>(25)?.unwrap_or(0) != 0,
        resurfaced_reason: r.get(26)?,
    })
}
