//! The queue read from the team store itself (`sitrep list --direct`): the filter language in
//! PostgreSQL's dialect (one walk of the query with the SQLite store, store/filter.rs), the
//! same orders with keyset pages, and capped counts, over the columns a publisher fills
//! (team migration 0004). What the team store does not know — this analyst's suppression rules,
//! a vendor reopening seen by a replica — is not part of these listings (docs/team.md).

use rusqlite::types::Value as SqlValue;
use tokio_postgres::types::ToSql;

use super::{TeamError, TeamStore};
use crate::domain::{Category, Severity, SortKey, VendorState};
use crate::store::filter::{self, Dialect};
use crate::store::queue::{self as q, KeyTerm, ListRequest, QueueCount, QueueRow, Seek};

/// PostgreSQL's side of the filter language: tags, CVEs and compliance standards are arrays
/// the publisher keeps in the compared form (lower- and upper-cased as SQLite's `lower()` and
/// `upper()` do, ASCII only), text is a `tsvector` of the same words as SQLite's FTS5 index.
struct Postgres;

impl Dialect for Postgres {
    fn ci_eq(&self, col: &str, mark: &str) -> String {
        format!("lower({col}) = lower({mark})")
    }
    fn ci_contains(&self, col: &str, mark: &str) -> String {
        format!("strpos(lower({col}), lower({mark})) > 0")
    }
    fn bytes(&self, col: &str) -> String {
        format!("({col} COLLATE \"C\")")
    }
    fn like_ci(&self) -> &'static str {
        "ILIKE"
    }
    fn rank_col(&self) -> &'static str {
        "alerts.severity_rank"
    }
    fn truth(&self, value: bool) -> &'static str {
        if value { "true" } else { "false" }
    }
    fn negate(&self, expr: &str) -> String {
        format!("(({expr}) IS NOT TRUE)")
    }
    fn text(&self, text: &str, phrase: bool, params: &mut Vec<SqlValue>) -> String {
        match super::text::tsquery(text, phrase) {
            Some(query) => format!("alerts.fts @@ ({})::tsquery", filter::mark(params, query)),
            None => "false".to_string(),
        }
    }
    fn tag(&self, key: &str, value: Option<&str>, params: &mut Vec<SqlValue>) -> String {
        match value {
            None => format!(
                "alerts.tag_keys @> ARRAY[{}]",
                filter::mark(params, key.to_ascii_lowercase())
            ),
            Some(v) => format!(
                "alerts.tag_pairs @> ARRAY[{}]",
                filter::mark(params, super::alerts::tag_pair(key, v))
            ),
        }
    }
    fn cves(&self, ids: &[&str], params: &mut Vec<SqlValue>) -> String {
        let marks: Vec<&str> = ids
            .iter()
            .map(|id| filter::mark(params, id.to_ascii_uppercase()))
            .collect();
        format!("alerts.cves && ARRAY[{}]", marks.join(", "))
    }
    fn compliance(&self, globs: &[&str], params: &mut Vec<SqlValue>) -> String {
        let tests: Vec<String> = globs
            .iter()
            .map(|g| format!("c.name ~ {}", filter::mark(params, glob_regex(g))))
            .collect();
        format!(
            "EXISTS (SELECT 1 FROM unnest(alerts.compliance) AS c(name) WHERE {})",
            tests.join(" OR ")
        )
    }
}

/// A GLOB pattern of [`filter`]'s (`*`, bracket classes, plain characters) as an anchored
/// regular expression.
fn glob_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut class = false;
    for c in glob.chars() {
        match c {
            '[' if !class => {
                class = true;
                out.push(c);
            }
            ']' if class => {
                class = false;
                out.push(c);
            }
            _ if class => out.push(c),
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c if c.is_ascii_alphanumeric() || c == ' ' => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out.push('$');
    out
}

/// Each order's terms on the team store: SQLite's (store/queue.rs `order_terms`) with
/// `COLLATE "C"` for its BINARY text order, lower() for NOCASE, and `num` for the rowid.
/// The indexes of team migration 0004 hold these expressions.
fn order_terms(sort: SortKey) -> &'static [KeyTerm] {
    const NUM: KeyTerm = ("alerts.num", "?", false);
    const RANK: KeyTerm = ("alerts.severity_rank", "?", true);
    const TIME: KeyTerm = ("alerts.sort_time", "?", true);
    match sort {
        SortKey::Score => &[("alerts.score", "?", true), RANK, TIME, NUM],
        SortKey::Severity => &[RANK, TIME, NUM],
        SortKey::Recent => &[TIME, NUM],
        SortKey::Oldest => &[
            ("coalesce(alerts.first_seen, alerts.sort_time)", "?", false),
            NUM,
        ],
        SortKey::Vendor => &[
            ("(alerts.vendor COLLATE \"C\")", "?", false),
            RANK,
            TIME,
            NUM,
        ],
        SortKey::Title => &[
            ("(lower(alerts.title) COLLATE \"C\")", "lower(?)", false),
            NUM,
        ],
        SortKey::Resource => &[
            (
                "(lower(coalesce(alerts.resource_name, alerts.resource_id, '')) COLLATE \"C\")",
                "lower(?)",
                false,
            ),
            NUM,
        ],
        SortKey::Account => &[
            ("(coalesce(alerts.account, '') COLLATE \"C\")", "?", false),
            RANK,
            TIME,
            NUM,
        ],
        SortKey::Status => &[
            ("(alerts.status COLLATE \"C\")", "?", false),
            RANK,
            TIME,
            NUM,
        ],
    }
}

/// The rows that can be in the default queue at some time: word for word the WHERE of the
/// open-queue indexes (team migration 0004), so the planner may use them.
const CANDIDATE: &str =
    "(alerts.status IN ('new','acknowledged','in_progress') OR alerts.status_until IS NOT NULL)";

/// The default queue: open statuses, or put away until a time that has passed.
const OPEN: &str = "(alerts.status IN ('new','acknowledged','in_progress') OR \
     (alerts.status IN ('snoozed','dismissed') AND alerts.status_until IS NOT NULL \
      AND alerts.status_until <= ?))";

/// The columns [`queue_row`] reads, in order; the resurfaced pair follows (a snooze or a
/// dismissal that lapsed: the team store knows no suppressions and no vendor reopening).
const COLUMNS: &str = "alerts.id, alerts.source, alerts.vendor, alerts.severity, \
    alerts.category, alerts.title, alerts.resource_name, alerts.resource_id, alerts.cloud, \
    alerts.account, alerts.region, alerts.status, alerts.assignee, alerts.ticket, \
    alerts.cve_ids, alerts.first_seen, alerts.last_seen, alerts.sort_time, \
    alerts.has_controls, alerts.num, alerts.score, alerts.imported_at, alerts.changed_at, \
    alerts.vendor_status, alerts.claim_until, \
    CASE WHEN alerts.status IN ('snoozed','dismissed') AND alerts.status_until <= ? \
      THEN 1 ELSE 0 END, \
    CASE WHEN alerts.status = 'snoozed' AND alerts.status_until <= ? THEN \
      'snoozed' || coalesce(': ' || alerts.status_note, '') \
    WHEN alerts.status = 'dismissed' AND alerts.status_until <= ? THEN \
      'dismissed as ' || coalesce(alerts.status_reason, 'other') || \
      coalesce(': ' || alerts.status_note, '') END";

/// The WHERE clause of a listing (open queue unless `include_closed`, and the filter).
fn where_clause(req: &ListRequest<'_>) -> Result<(String, Vec<SqlValue>), TeamError> {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if !req.include_closed {
        clauses.push(CANDIDATE.to_string());
        clauses.push(OPEN.to_string());
        params.push(SqlValue::Integer(req.now_ms));
    }
    if let Some(query) = req.filter.filter(|q| !q.is_empty()) {
        let (sql, p) = filter::to_sql_in(query, req.now_ms, &Postgres)
            .map_err(|e| TeamError::Invalid(e.to_string()))?;
        clauses.push(format!("({sql})"));
        params.extend(p);
    }
    if clauses.is_empty() {
        clauses.push("true".into());
    }
    Ok((clauses.join(" AND "), params))
}

/// A page's SQL from the start (`offset` rows in) or from a [`Seek`]; `Before` and `End`
/// read the order backwards.
///
/// `few`: the filter matches few alerts (under [`q::WALK_ABOVE`]): they are read first, through
/// the filter's own index, and sorted (a materialized CTE, ordered by its key columns).
/// Otherwise the planner may walk the order's index testing each row, which for a rare CVE
/// or tag it misjudges (it estimates array matches it has no statistics for) and reads the
/// whole queue.
fn page_sql(
    req: &ListRequest<'_>,
    seek: Option<&Seek>,
    few: bool,
) -> Result<(String, Vec<SqlValue>), TeamError> {
    let (mut where_sql, where_params) = where_clause(req)?;
    let mut params = vec![SqlValue::Integer(req.now_ms); 3];
    params.extend(where_params);
    let reverse = matches!(seek, Some(Seek::Before(_) | Seek::End));
    let terms = order_terms(req.sort);
    if let Some(Seek::After(key) | Seek::Before(key)) = seek {
        if key.sort != req.sort {
            return Err(TeamError::Invalid(format!(
                "a page of the {:?} order cannot start at a key of the {:?} order",
                req.sort, key.sort
            )));
        }
        let (sql, p) = q::keyset_over(terms, &key.values, reverse);
        where_sql = format!("{where_sql} AND {sql}");
        params.extend(p);
    }
    let sql = if few {
        let keys: Vec<String> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{} AS k{i}", t.0))
            .collect();
        let names: Vec<String> = (0..terms.len()).map(|i| format!("k{i}")).collect();
        let order: Vec<(&str, bool)> = names
            .iter()
            .zip(terms)
            .map(|(n, t)| (n.as_str(), t.2))
            .collect();
        format!(
            "WITH m AS MATERIALIZED (SELECT {COLUMNS}, {} FROM alerts WHERE {where_sql}) \
             SELECT * FROM m ORDER BY {} LIMIT ? OFFSET ?",
            keys.join(", "),
            q::order_by_terms(&order, reverse)
        )
    } else {
        let order: Vec<(&str, bool)> = terms.iter().map(|t| (t.0, t.2)).collect();
        format!(
            "SELECT {COLUMNS} FROM alerts WHERE {where_sql} ORDER BY {} LIMIT ? OFFSET ?",
            q::order_by_terms(&order, reverse)
        )
    };
    params.push(SqlValue::Integer(req.limit.min(i64::MAX as usize) as i64));
    params.push(SqlValue::Integer(req.offset.min(i64::MAX as usize) as i64));
    Ok((sql, params))
}

/// The counting SQL: exact for no filter and a filter on status, vendor and severity alone
/// (as the SQLite store's kept counts are), else stopped after `cap` + 1 matches.
fn count_sql(
    req: &ListRequest<'_>,
    cap: usize,
) -> Result<(String, Vec<SqlValue>, bool), TeamError> {
    let (where_sql, mut params) = where_clause(req)?;
    let exact = req.filter.is_none_or(filter::facets_only);
    if exact {
        // Status, vendor and severity terms read the kept counts (team migration 0005), whose
        // columns they name as `alerts.…`; the rows put away until a time are counted one by
        // one, since whether they are open depends on the clock.
        let (facets, mut kept_params) = match req.filter.filter(|q| !q.is_empty()) {
            Some(query) => filter::to_sql_in(query, req.now_ms, &Postgres)
                .map_err(|e| TeamError::Invalid(e.to_string()))?,
            None => ("true".to_string(), Vec::new()),
        };
        if req.include_closed {
            return Ok((
                format!(
                    "SELECT coalesce(sum(alerts.n), 0)::int8 FROM alert_counts AS alerts \
                     WHERE {facets}"
                ),
                kept_params,
                true,
            ));
        }
        kept_params.extend(params);
        return Ok((
            format!(
                "SELECT (SELECT coalesce(sum(alerts.n), 0)::int8 FROM alert_counts AS alerts \
                         WHERE NOT alerts.special \
                         AND alerts.status IN ('new','acknowledged','in_progress') \
                         AND ({facets})) \
                      + (SELECT count(*) FROM alerts \
                         WHERE alerts.status_until IS NOT NULL AND {where_sql})"
            ),
            kept_params,
            true,
        ));
    }
    params.push(SqlValue::Integer(
        cap.saturating_add(1).min(i64::MAX as usize) as i64,
    ));
    Ok((
        format!("SELECT count(*) FROM (SELECT 1 FROM alerts WHERE {where_sql} LIMIT ?) AS m"),
        params,
        false,
    ))
}

/// `?` placeholders numbered for PostgreSQL, each cast to its value's type (`$3::int8`): the
/// shared SQL never holds a `?` of its own (every user value is bound).
fn numbered(sql: &str, params: &[SqlValue]) -> Result<String, TeamError> {
    let mut out = String::with_capacity(sql.len() + params.len() * 8);
    let mut n = 0;
    for c in sql.chars() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let ty = match params.get(n) {
            Some(SqlValue::Integer(_)) => "int8",
            Some(SqlValue::Real(_)) => "float8",
            Some(SqlValue::Text(_) | SqlValue::Null) => "text",
            Some(SqlValue::Blob(_)) => "bytea",
            None => return Err(placeholders(n + 1, params.len())),
        };
        n += 1;
        out.push_str(&format!("${n}::{ty}"));
    }
    if n != params.len() {
        return Err(placeholders(n, params.len()));
    }
    Ok(out)
}

fn placeholders(marks: usize, values: usize) -> TeamError {
    TeamError::Invalid(format!(
        "a queue statement has {marks} placeholders for {values} values"
    ))
}

/// The values as PostgreSQL parameters.
fn pg_params(params: &[SqlValue]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync + Send> {
            match v {
                SqlValue::Integer(i) => Box::new(*i),
                SqlValue::Real(f) => Box::new(*f),
                SqlValue::Text(s) => Box::new(s.clone()),
                SqlValue::Null => Box::new(None::<String>),
                SqlValue::Blob(b) => Box::new(b.clone()),
            }
        })
        .collect()
}

fn queue_row(r: &tokio_postgres::Row) -> QueueRow {
    let name: Option<String> = r.get(6);
    let rid: Option<String> = r.get(7);
    let cve_ids: String = r.get(14);
    QueueRow {
        local_ref: r.get(19),
        id: r.get(0),
        source: r.get(1),
        vendor: r.get(2),
        severity: Severity::from_store(r.get::<_, &str>(3)),
        category: Category::from_store(r.get::<_, &str>(4)),
        title: r.get(5),
        resource: name.clone().or_else(|| rid.clone()),
        resource_id: rid,
        cloud: r.get(8),
        account: r.get(9),
        region: r.get(10),
        status: r.get(11),
        assignee: r.get(12),
        ticket: r.get(13),
        cves: cve_ids.split_whitespace().map(str::to_string).collect(),
        first_seen: r.get(15),
        last_seen: r.get(16),
        sort_time: r.get(17),
        has_controls: r.get::<_, i32>(18) != 0,
        score: r.get::<_, f64>(20).clamp(0.0, 100.0) as u8,
        imported_at: r.get(21),
        changed_at: r.get(22),
        vendor_status: VendorState::from_store(r.get::<_, &str>(23)),
        claim_until: r.get(24),
        resurfaced: r.get::<_, i32>(25) != 0,
        resurfaced_reason: r.get(26),
    }
}

impl TeamStore {
    /// Run one queue statement: its rows.
    async fn queue_query(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<tokio_postgres::Row>, TeamError> {
        let sql = numbered(sql, params)?;
        let values = pg_params(params);
        let refs: Vec<&(dyn ToSql + Sync)> = values
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let client = self.client().await?;
        Ok(client.query(&sql, &refs).await?)
    }

    /// The queue as the team store holds it: what [`crate::store::Store::list`] returns on a
    /// replica, read here directly (`ref` is the team store's row number, not a replica's).
    pub async fn queue_list(&self, req: &ListRequest<'_>) -> Result<Vec<QueueRow>, TeamError> {
        let few = self.few(req).await?;
        let (sql, params) = page_sql(req, None, few)?;
        Ok(self
            .queue_query(&sql, &params)
            .await?
            .iter()
            .map(queue_row)
            .collect())
    }

    /// A page from a [`Seek`], in queue order (as [`crate::store::Store::list_seek`]).
    pub async fn queue_seek(
        &self,
        req: &ListRequest<'_>,
        seek: &Seek,
    ) -> Result<Vec<QueueRow>, TeamError> {
        let few = self.few(req).await?;
        let (sql, params) = page_sql(req, Some(seek), few)?;
        let mut rows: Vec<QueueRow> = self
            .queue_query(&sql, &params)
            .await?
            .iter()
            .map(queue_row)
            .collect();
        if !matches!(seek, Seek::After(_)) {
            rows.reverse();
        }
        Ok(rows)
    }

    /// Does the listing's filter match few alerts, so that a page reads them all and sorts
    /// them ([`page_sql`])? Facets and no filter walk the order's index: never.
    async fn few(&self, req: &ListRequest<'_>) -> Result<bool, TeamError> {
        if req.filter.is_none_or(filter::facets_only) {
            return Ok(false);
        }
        let n = self.queue_count_upto(req, q::WALK_ABOVE).await?;
        Ok(n.exact && n.n < q::WALK_ABOVE)
    }

    /// How many alerts the listing holds, as [`crate::store::Store::count_upto`] answers:
    /// exact for no filter and for status, vendor and severity filters, else at most `cap`.
    pub async fn queue_count_upto(
        &self,
        req: &ListRequest<'_>,
        cap: usize,
    ) -> Result<QueueCount, TeamError> {
        let (sql, params, exact) = count_sql(req, cap)?;
        let rows = self.queue_query(&sql, &params).await?;
        let n = rows.first().map_or(0, |r| r.get::<_, i64>(0)).max(0) as usize;
        Ok(if !exact && n > cap {
            QueueCount {
                n: cap,
                exact: false,
            }
        } else {
            QueueCount { n, exact: true }
        })
    }

    /// How many alerts were published before the queue's columns (team migration 0004) and have
    /// not been published since: they list with empty fields until a publisher sends them.
    pub async fn unmapped_count(&self) -> Result<i64, TeamError> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT count(*) FROM alerts WHERE NOT mapped", &[])
            .await?
            .get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_anchored_regexes() {
        assert_eq!(
            glob_regex("*[^a-z0-9]pci[^a-z0-9]*"),
            "^.*[^a-z0-9]pci[^a-z0-9].*$"
        );
        assert_eq!(glob_regex("* isoiec*27001*"), "^.* isoiec.*27001.*$");
        assert_eq!(glob_regex("*soc2*"), "^.*soc2.*$");
    }

    #[test]
    fn placeholders_are_numbered_and_typed() {
        let params = [
            SqlValue::Integer(1),
            SqlValue::Text("a".into()),
            SqlValue::Real(0.5),
        ];
        assert_eq!(
            numbered("a = ? AND b = lower(?) AND c > ?", &params).expect("numbered"),
            "a = $1::int8 AND b = lower($2::text) AND c > $3::float8"
        );
        assert!(numbered("a = ?", &[]).is_err());
        assert!(numbered("a = 1", &params).is_err());
    }
}
