//! Alerts: import (upsert of vendor fields), the queue listing, one alert in full, and the
//! analyst's status changes.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use sha2::{Digest, Sha256};

use super::queue::{
    ListRequest, QueueCount, QueueRow, STEADY_OPEN, Seek, WALK_ABOVE, clock_rows_count,
    facet_count_sql, list_sql, order_index, queue_row, seek_sql, where_clause, where_clause_with,
};
use super::rows::{AlertColumns, alert_from_row, attack_json, bad_column, row_error};
use super::{Store, StoreError, triage};
use crate::domain::{
    Alert, Category, Cloud, Compliance, Cve, DismissReason, EpochMs, Exposure, HistoryEntry,
    Policy, Resource, Severity, Status, StatusKind, Vendor, VendorState,
};
use crate::sanitize;
use crate::triage::score::{IntelSet, ScoringConfig};

/// What one import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Alerts not seen before.
    pub new: usize,
    /// Known alerts whose vendor fields changed.
    pub updated: usize,
    /// Known alerts whose payload was identical.
    pub unchanged: usize,
    /// Payloads older than what the store already holds (kept out).
    pub stale: usize,
}

impl ImportStats {
    pub fn total(&self) -> usize {
        self.new + self.updated + self.unchanged + self.stale
    }

    pub fn add(&mut self, o: ImportStats) {
        self.new += o.new;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.stale += o.stale;
    }
}

/// An alert with everything the analyst has recorded about it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredAlert {
    pub id: String,
    #[serde(flatten)]
    pub alert: Alert,
    pub status: Status,
    pub assignee: Option<String>,
    /// Team mode: `assignee` holds a claim on the alert until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_until: Option<EpochMs>,
    pub ticket: Option<String>,
    /// The vendor's text carried escape sequences, controls, bidi or zero-width characters.
    pub has_controls: bool,
    pub imported_at: EpochMs,
    pub changed_at: EpochMs,
    pub history: Vec<HistoryEntry>,
    /// The owning team (`[owners]`, `store/owners.rs`); None when no rule names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// sha256 of the vendor fields as last imported (keys the narrative cache).
    #[serde(skip)]
    pub content_hash: String,
}

/// An analyst's decision on one alert.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    pub status: Status,
    pub actor: String,
    pub note: Option<String>,
    pub at: EpochMs,
}

/// The alert's normalized fields without its raw payload (hashed next to the raw JSON text,
/// so the payload is serialized once per import).
#[derive(serde::Serialize)]
struct Normalized<'a> {
    source: &'a str,
    vendor: Vendor,
    native_id: &'a str,
    category: &'a Category,
    title: &'a str,
    description: &'a Option<String>,
    policy: &'a Policy,
    severity: &'a Severity,
    resource: &'a Resource,
    exposure: &'a Exposure,
    cves: &'a [Cve],
    compliance: &'a [Compliance],
    first_seen: Option<EpochMs>,
    last_seen: Option<EpochMs>,
    vendor_updated: Option<EpochMs>,
    vendor_status: &'a VendorState,
    remediation: &'a Option<String>,
    attack_context: &'a Option<serde_json::Value>,
}

/// `io::Write` into a sha256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// sha256 over the normalized fields and the raw payload's JSON text.
fn content_hash(a: &Alert, raw_json: &str) -> String {
    let normalized = Normalized {
        source: &a.source,
        vendor: a.vendor,
        native_id: &a.native_id,
        category: &a.category,
        title: &a.title,
        description: &a.description,
        policy: &a.policy,
        severity: &a.severity,
        resource: &a.resource,
        exposure: &a.exposure,
        cves: &a.cves,
        compliance: &a.compliance,
        first_seen: a.first_seen,
        last_seen: a.last_seen,
        vendor_updated: a.vendor_updated,
        vendor_status: &a.vendor_status,
        remediation: &a.remediation,
        attack_context: &a.attack_context,
    };
    // Serialized straight into the hasher: no intermediate buffer.
    let mut h = HashWriter(Sha256::new());
    // Writing into a hasher cannot fail; a serialization error would hash a prefix, as the
    // empty buffer did before.
    let _ = serde_json::to_writer(&mut h, &normalized);
    let mut h = h.0;
    h.update([0u8]);
    h.update(raw_json.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// Did any vendor text in the alert carry controls, escapes, bidi or zero-width characters?
/// `raw_json` is `alert.raw`'s compact text.
fn carries_controls(alert: &Alert, raw_json: &str) -> bool {
    let fields = [
        Some(alert.title.as_str()),
        alert.description.as_deref(),
        alert.policy.name.as_deref(),
        alert.resource.id.as_deref(),
        alert.resource.name.as_deref(),
        alert.remediation.as_deref(),
    ];
    fields
        .into_iter()
        .flatten()
        .any(sanitize::is_suspicious_text)
        || alert
            .resource
            .tags
            .iter()
            .any(|(k, v)| sanitize::is_suspicious_text(k) || sanitize::is_suspicious_text(v))
        || raw_text_is_suspicious(raw_json)
}

/// [`sanitize::json_is_suspicious`] decided on serde_json's compact serialization of the same
/// value, a byte scan instead of a walk of the tree. serde_json writes a control character
/// below U+0020 as an escape (`\n` and `\t` are allowed; `\r`, `\b`, `\f` and `\u00XX` are
/// the suspicious ones, as no other character is written as `\u`), DEL and everything
/// non-ASCII verbatim, and a backslash as `\\`.
fn raw_text_is_suspicious(json: &str) -> bool {
    let b = json.as_bytes();
    // A 32-byte block with nothing to look at (no backslash, control, DEL or non-ASCII byte)
    // is skipped without the per-byte branches below; the compiler vectorizes that check.
    let boring = |c: u8| (0x20..0x7f).contains(&c) & (c != b'\\');
    let mut i = 0;
    while i < b.len() {
        let block_end = (i + 32).min(b.len());
        if block_end - i == 32 && b[i..block_end].iter().fold(true, |acc, &c| acc & boring(c)) {
            i = block_end;
            continue;
        }
        // Byte by byte to the block's end (an escape or a non-ASCII run may carry past it).
        while i < block_end {
            match b[i] {
                b'\\' => match b.get(i + 1) {
                    Some(b'r' | b'b' | b'f' | b'u') => return true,
                    _ => i += 2,
                },
                c if c < 0x20 || c == 0x7f => return true,
                c if c < 0x80 => i += 1,
                _ => {
                    // A run of non-ASCII characters (starts and ends on character boundaries).
                    let start = i;
                    while i < b.len() && b[i] >= 0x80 {
                        i += 1;
                    }
                    if sanitize::is_suspicious_text(&json[start..i]) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

fn resource_text(a: &Alert) -> String {
    super::words::index_text(&[
        a.resource.id.as_deref(),
        a.resource.name.as_deref(),
        a.resource.rtype.as_deref(),
    ])
}

fn policy_text(a: &Alert) -> String {
    super::words::index_text(&[a.policy.id.as_deref(), a.policy.name.as_deref()])
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The vendor columns of `alerts`. The remediation text and the raw payload live in
/// `alert_body` ([`BODY_WRITE`]), read only when one alert is opened (migration 0010).
const VENDOR_COLUMNS: &str = "source, vendor, native_id, category, title, description, policy_id, \
    policy_name, vendor_severity, severity, severity_rank, resource_id, resource_name, \
    resource_type, cloud, account, region, tags_json, internet_facing, open_ports, cves_json, \
    cve_ids, max_cvss, compliance_json, first_seen, last_seen, vendor_updated, vendor_status, \
    attack_json, content_hash, has_controls, sort_time";

/// An alert's large columns, written beside its row (insert and update alike).
const BODY_WRITE: &str =
    "INSERT OR REPLACE INTO alert_body (rowid, remediation, raw_json) VALUES (?, ?, ?)";

/// One alert's derived column values — content hash, JSON columns, the control-character
/// scan, the full-text index's text — everything an import computes from the alert alone,
/// without the store. A sync computes them on its fetch thread ([`prepare`]), so the thread
/// that writes the store only writes.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRow {
    hash: String,
    category: String,
    severity: String,
    cloud: Option<String>,
    tags_json: String,
    ports: String,
    cves_json: String,
    cve_ids: String,
    max_cvss: Option<f64>,
    compliance_json: String,
    vendor_status: String,
    attack_json: Option<String>,
    has_controls: bool,
    sort_time: EpochMs,
    fts_title: String,
    fts_resource: String,
    fts_policy: String,
    /// The payload's stored form when it is packed ([`super::packed`]); `None`: its text.
    raw_packed: Option<Vec<u8>>,
}

/// The derived values of each alert, in order, for [`Store::import_prepared`]. `now_ms` must
/// be the import's (an alert without vendor times sorts by it).
pub fn prepare(alerts: &[Alert], now_ms: EpochMs) -> Vec<PreparedRow> {
    alerts.iter().map(|a| PreparedRow::new(a, now_ms)).collect()
}

impl PreparedRow {
    fn new(a: &Alert, now_ms: EpochMs) -> PreparedRow {
        // Already serde_json's compact text (`RawJson`): no serialization here.
        let raw_json = a.raw.as_str();
        let hash = content_hash(a, raw_json);
        let mut cve_ids = String::new();
        if !a.cves.is_empty() {
            for c in &a.cves {
                cve_ids.push(' ');
                cve_ids.push_str(&c.id.to_ascii_uppercase());
            }
            cve_ids.push(' ');
        }
        let max_cvss = a
            .cves
            .iter()
            .filter_map(|c| c.cvss)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let mut ports = String::new();
        for (i, p) in a.exposure.open_ports.iter().enumerate() {
            if i > 0 {
                ports.push(',');
            }
            ports.push_str(&p.to_string());
        }
        PreparedRow {
            hash,
            category: a.category.to_store(),
            severity: a.severity.to_store(),
            cloud: a.resource.cloud.as_ref().map(Cloud::to_store),
            tags_json: to_json(&a.resource.tags),
            ports,
            cves_json: to_json(&a.cves),
            cve_ids,
            max_cvss,
            compliance_json: to_json(&a.compliance),
            vendor_status: a.vendor_status.to_store(),
            attack_json: attack_json(a),
            has_controls: carries_controls(a, raw_json),
            sort_time: a
                .last_seen
                .or(a.vendor_updated)
                .or(a.first_seen)
                .unwrap_or(now_ms),
            fts_title: sanitize::one_line(&a.title),
            fts_resource: resource_text(a),
            fts_policy: policy_text(a),
            raw_packed: super::packed::pack(raw_json),
        }
    }
}

/// One alert's vendor column values, bound by reference (in `VENDOR_COLUMNS` order) into the
/// insert or the update.
struct VendorRow<'a> {
    a: &'a Alert,
    p: &'a PreparedRow,
}

impl VendorRow<'_> {
    /// Bind the vendor columns to parameters `first`, `first + 1`, … of `stmt`.
    fn bind(&self, stmt: &mut rusqlite::Statement<'_>, first: usize) -> rusqlite::Result<()> {
        let (a, p) = (self.a, self.p);
        let values: [&dyn rusqlite::ToSql; 32] = [
            &a.source,
            &a.vendor.as_str(),
            &a.native_id,
            &p.category,
            &a.title,
            &a.description,
            &a.policy.id,
            &a.policy.name,
            &a.policy.vendor_severity,
            &p.severity,
            &i64::from(a.severity.rank()),
            &a.resource.id,
            &a.resource.name,
            &a.resource.rtype,
            &p.cloud,
            &a.resource.account,
            &a.resource.region,
            &p.tags_json,
            &a.exposure.internet_facing,
            &p.ports,
            &p.cves_json,
            &p.cve_ids,
            &p.max_cvss,
            &p.compliance_json,
            &a.first_seen,
            &a.last_seen,
            &a.vendor_updated,
            &p.vendor_status,
            &p.attack_json,
            &p.hash,
            &p.has_controls,
            &p.sort_time,
        ];
        for (i, v) in values.into_iter().enumerate() {
            stmt.raw_bind_parameter(first + i, v)?;
        }
        Ok(())
    }

    /// Write the large columns of the alert at `rowid` into `alert_body` ([`BODY_WRITE`]).
    fn write_body(&self, stmt: &mut rusqlite::Statement<'_>, rowid: i64) -> rusqlite::Result<()> {
        let raw_text = self.a.raw.as_str();
        let raw_json: &dyn rusqlite::ToSql = match &self.p.raw_packed {
            Some(blob) => blob,
            None => &raw_text,
        };
        stmt.execute(params![rowid, self.a.remediation, raw_json])?;
        Ok(())
    }
}

impl Store {
    /// Upsert alerts in one transaction: new alerts are inserted, changed ones get their vendor
    /// fields updated (notes untouched; the status only follows a vendor's close or reopening
    /// where no analyst decided, `closed.rs`), identical ones are left alone,
    /// and a payload older than the stored one (by the vendor's own update time) is skipped.
    /// Any error rolls the whole batch back.
    pub fn import(&mut self, alerts: &[Alert], now_ms: EpochMs) -> Result<ImportStats, StoreError> {
        self.import_prepared(alerts, &prepare(alerts, now_ms), now_ms)
    }

    /// [`Store::import`] with each alert's derived values already computed by [`prepare`]
    /// (with the same `now_ms`); rows that do not match the alerts are computed again.
    pub fn import_prepared(
        &mut self,
        alerts: &[Alert],
        rows: &[PreparedRow],
        now_ms: EpochMs,
    ) -> Result<ImportStats, StoreError> {
        let mut import = self.begin_import(now_ms)?;
        let stats = import.write_prepared(alerts, rows)?;
        import.commit()?;
        Ok(stats)
    }

    /// Start an import written in batches ([`Importing::write`]) inside one transaction: all
    /// of it lands at [`Importing::commit`], and none of it when the `Importing` is dropped
    /// uncommitted (a file that breaks halfway leaves the store as it was). SQLite spills the
    /// transaction's pages to the WAL past its page cache, so memory stays that of a batch.
    ///
    /// Into a store that holds no alert yet, the secondary indexes of the alerts and their tag
    /// and CVE tables are dropped inside the transaction and built again just before its
    /// commit ([`bulk_indexes`]): one sort per index instead of a random insert per row per
    /// index. A rollback restores them with everything else.
    pub fn begin_import(&mut self, now_ms: EpochMs) -> Result<Importing<'_>, StoreError> {
        self.begin_import_with(now_ms, false)
    }

    /// [`Store::begin_import`] for a bulk load of files (`sitrep import`): into a file store
    /// that holds no alert and that no other connection has open, it is written through a
    /// rollback journal until the commit ([`rollback_journal`]): the new pages go to the
    /// database file once, instead of to the WAL and then again to the file, and the index
    /// builds read them without looking each page up in a WAL of gigabytes. The file is then
    /// closed to every other connection until the commit, so the console's own writers (a
    /// sync, a team pull, each beside the console's readers) keep to [`Store::begin_import`].
    pub fn begin_bulk_import(&mut self, now_ms: EpochMs) -> Result<Importing<'_>, StoreError> {
        self.begin_import_with(now_ms, true)
    }

    fn begin_import_with(
        &mut self,
        now_ms: EpochMs,
        bulk: bool,
    ) -> Result<Importing<'_>, StoreError> {
        let journal = bulk
            && self.path.as_os_str() != ":memory:"
            && self.holds_no_alert()?
            && rollback_journal(&self.conn);
        if let Err(e) = self.conn.execute_batch("BEGIN") {
            if journal {
                wal_journal(&self.conn);
            }
            return Err(e.into());
        }
        let mut im = Importing {
            store: self,
            now_ms,
            stats: ImportStats::default(),
            followed: 0,
            open: true,
            deferred: Vec::new(),
            journal,
        };
        // Asked again inside the transaction: another writer may have come first.
        if im.store.holds_no_alert()? {
            im.deferred = bulk_indexes(&im.store.conn)?;
            for (name, _) in &im.deferred {
                im.store
                    .conn
                    .execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
            }
        }
        Ok(im)
    }

    fn holds_no_alert(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM alerts)", [], |r| r.get(0))?)
    }

    /// A source listed everything under `prefix` (native ids, e.g. Prisma Cloud Compute's
    /// `image/`) in full and `listed` is what it holds: every stored alert of `source` under
    /// that prefix that is missing from it and not already closed by the vendor is marked
    /// resolved by the vendor, with `note` in its history. Analyst fields are untouched; the
    /// alert's payload and content hash stay (a reappearance with the same payload reopens
    /// it: the import compares the vendor state too). Returns how many were marked.
    pub fn resolve_vanished(
        &mut self,
        source: &str,
        prefix: &str,
        listed: &std::collections::HashSet<String>,
        note: &str,
        now_ms: EpochMs,
    ) -> Result<usize, StoreError> {
        // The range of ids `<source>:<prefix>…` on the id index: the upper bound is the
        // prefix with its last byte raised by one.
        let lower = format!("{source}:{prefix}");
        let mut upper = lower.clone().into_bytes();
        match upper.last_mut() {
            Some(b) if prefix.ends_with(|c: char| c.is_ascii() && c != '\x7f') => *b += 1,
            _ => {
                return Err(StoreError::Invalid(format!(
                    "listing prefix '{prefix}' must be non-empty and end in an ASCII character"
                )));
            }
        }
        let upper = String::from_utf8(upper)
            .map_err(|_| StoreError::Invalid(format!("listing prefix '{prefix}'")))?;
        let tx = self.conn.transaction()?;
        let mut followed = 0;
        let gone: Vec<(i64, String, String)> = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT rowid, id, native_id, vendor_status FROM alerts \
                 WHERE id >= ?1 AND id < ?2 AND source = ?3 AND vendor_status NOT IN ('{}')",
                VendorState::CLOSED.join("', '")
            ))?;
            let rows = stmt.query_map(params![lower, upper, source], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            let mut gone = Vec::new();
            for row in rows {
                let (rowid, id, native, status) = row?;
                if !listed.contains(&native) {
                    gone.push((rowid, id, status));
                }
            }
            gone
        };
        {
            let mut update = tx.prepare_cached(
                "UPDATE alerts SET vendor_status = 'resolved', changed_at = ? WHERE rowid = ?",
            )?;
            let mut hist = tx.prepare_cached(VENDOR_HISTORY)?;
            for (rowid, id, status) in &gone {
                update.execute(params![now_ms, rowid])?;
                hist.execute(params![id, now_ms, status, "resolved", note])?;
                if super::closed::follow(&tx, *rowid, Some(status), "resolved", now_ms)? {
                    followed += 1;
                }
            }
        }
        // Closed at the vendor now: rescored (a closed alert ranks below every open one).
        let rowids = gone
            .iter()
            .map(|(r, _, _)| SqlValue::Integer(*r))
            .collect::<Vec<_>>();
        for chunk in rowids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            triage::rescore_where(
                &tx,
                &format!("alerts.rowid IN ({marks})"),
                chunk,
                &self.scoring,
                now_ms,
            )?;
        }
        tx.commit()?;
        if followed > 0 {
            self.audit_followed();
        }
        Ok(gone.len())
    }

    /// The queue: active alerts (or all, with `include_closed`) matching the filter.
    pub fn list(&self, req: &ListRequest<'_>) -> Result<Vec<QueueRow>, StoreError> {
        let (sql, params) = list_sql(req, self.walk_order(req)?)?;
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), queue_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// SQLite's plan for a listing (`EXPLAIN QUERY PLAN` details), to check index use.
    pub fn query_plan(&self, req: &ListRequest<'_>) -> Result<Vec<String>, StoreError> {
        let (sql, params) = list_sql(req, self.walk_order(req)?)?;
        self.explain(&sql, params)
    }

    /// How many alerts the listing would return without a limit. A filter on status, vendor
    /// and severity alone (or none) is counted from the kept counts; any other reads every
    /// match ([`Store::count_upto`] stops at a cap).
    pub fn count(&self, req: &ListRequest<'_>) -> Result<usize, StoreError> {
        if let Some(n) = self.facet_count(req)? {
            return Ok(n);
        }
        let (where_sql, params) = where_clause(req)?;
        let sql = format!("SELECT count(*) FROM alerts WHERE {where_sql}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let n: i64 = stmt.query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
        Ok(n as usize)
    }

    /// [`Store::count`] that stops counting past `cap` for a filter the kept counts cannot
    /// answer: "at least `cap`" (not exact) then. The default queue and a filter on status,
    /// vendor and severity alone are always exact, at the cost of a few rows.
    pub fn count_upto(&self, req: &ListRequest<'_>, cap: usize) -> Result<QueueCount, StoreError> {
        if let Some(n) = self.facet_count(req)? {
            return Ok(QueueCount { n, exact: true });
        }
        let (sql, params) = capped_count_sql(req)?;
        let key = params.clone();
        // A bare word is a prefix, and FTS5 merges every match of a prefix before its first
        // row (about 3 ms for `host*` at 1M alerts, LIMIT or not); the word itself is read
        // lazily. Its matches are some of the prefix's: when they alone pass the cap, so do
        // the prefix's.
        if let Some(words) = whole_words(req.filter) {
            let (exact_sql, exact_params) = capped_count_sql(&ListRequest {
                filter: Some(&words),
                ..req.clone()
            })?;
            let n = self.run_capped(&exact_sql, exact_params, cap)?;
            if n > cap {
                if n >= WALK_ABOVE {
                    *self.walk_memo.borrow_mut() = Some((sql, key, true));
                }
                return Ok(QueueCount {
                    n: cap,
                    exact: false,
                });
            }
        }
        let n = self.run_capped(&sql, params, cap)?;
        if n >= WALK_ABOVE || n <= cap {
            // Decides the walk whether it stopped at the cap or not (see `walk_order`).
            *self.walk_memo.borrow_mut() = Some((sql, key, n >= WALK_ABOVE));
        }
        Ok(if n > cap {
            QueueCount {
                n: cap,
                exact: false,
            }
        } else {
            QueueCount { n, exact: true }
        })
    }

    /// Run a [`capped_count_sql`] statement stopping past `cap`: at most `cap + 1`.
    fn run_capped(
        &self,
        sql: &str,
        mut params: Vec<SqlValue>,
        cap: usize,
    ) -> Result<usize, StoreError> {
        params.push(SqlValue::Integer(
            cap.saturating_add(1).min(i64::MAX as usize) as i64,
        ));
        let n: i64 = self
            .conn
            .prepare_cached(sql)?
            .query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
        Ok(n.max(0) as usize)
    }

    /// Should a page of this listing walk its order's index rather than let SQLite read every
    /// match through the filter's index and sort them? Yes when the filter matches more than
    /// [`WALK_ABOVE`] alerts (kept counts for facets; a capped count, through the filter's
    /// index, for the rest).
    fn walk_order(&self, req: &ListRequest<'_>) -> Result<bool, StoreError> {
        if req.filter.is_none_or(|q| q.is_empty()) || order_index(req.sort).is_none() {
            return Ok(false);
        }
        if self.facet_count_applies(req)? {
            return Ok(self.count_upto(req, WALK_ABOVE)?.n >= WALK_ABOVE);
        }
        let (sql, params) = capped_count_sql(req)?;
        if let Some((s, p, walk)) = self.walk_memo.borrow().as_ref()
            && *s == sql
            && *p == params
        {
            return Ok(*walk);
        }
        Ok(self.count_upto(req, WALK_ABOVE)?.n >= WALK_ABOVE)
    }

    /// Is this listing counted from the kept counts (a few rows, nothing to remember)?
    fn facet_count_applies(&self, req: &ListRequest<'_>) -> Result<bool, StoreError> {
        Ok(facet_count_sql(req)?.is_some())
    }

    /// The count from `alert_counts` when the filter reads facets only.
    fn facet_count(&self, req: &ListRequest<'_>) -> Result<Option<usize>, StoreError> {
        let Some((sql, params)) = facet_count_sql(req)? else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let n: i64 = stmt.query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
        Ok(Some(n.max(0) as usize))
    }

    /// A page of the queue from a [`Seek`]: `req.limit` rows after or before a row's key
    /// (skipping `req.offset` in that direction first), or the last ones; always in queue
    /// order. An index seek, whatever the position.
    pub fn list_seek(
        &self,
        req: &ListRequest<'_>,
        seek: &Seek,
    ) -> Result<Vec<QueueRow>, StoreError> {
        let (sql, params) = seek_sql(req, Some(seek), self.walk_order(req)?)?;
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), queue_row)?;
        let mut rows = rows.collect::<Result<Vec<_>, _>>()?;
        if !matches!(seek, Seek::After(_)) {
            rows.reverse();
        }
        Ok(rows)
    }

    /// SQLite's plan for a page from a [`Seek`] (`EXPLAIN QUERY PLAN` details).
    pub fn seek_plan(&self, req: &ListRequest<'_>, seek: &Seek) -> Result<Vec<String>, StoreError> {
        let (sql, params) = seek_sql(req, Some(seek), self.walk_order(req)?)?;
        self.explain(&sql, params)
    }

    /// SQLite's plan for the count of a listing (`EXPLAIN QUERY PLAN` details).
    pub fn count_plan(&self, req: &ListRequest<'_>) -> Result<Vec<String>, StoreError> {
        let (sql, params) = match facet_count_sql(req)? {
            Some(found) => found,
            None => {
                let (sql, mut params) = capped_count_sql(req)?;
                params.push(SqlValue::Integer(10_001));
                (sql, params)
            }
        };
        self.explain(&sql, params)
    }

    fn explain(&self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every alert in the store, counted (the kept counts' sum: a few rows, not every alert).
    pub fn total(&self) -> Result<usize, StoreError> {
        let n: i64 =
            self.conn
                .query_row("SELECT coalesce(sum(n), 0) FROM alert_counts", [], |r| {
                    r.get(0)
                })?;
        Ok(n.max(0) as usize)
    }

    /// One alert in full, with its history.
    pub fn get(&self, id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, {VENDOR_COLUMNS}, status, status_reason, status_note, status_until, \
             assignee, claim_until, ticket, imported_at, changed_at, owner, \
             alert_body.remediation, alert_body.raw_json \
             FROM alerts LEFT JOIN alert_body ON alert_body.rowid = alerts.rowid WHERE id = ?"
        ))?;
        let cols = AlertColumns::of(&stmt);
        let found = stmt
            .query_row([id], |r| stored_alert_row(r, &cols))
            .optional()
            .map_err(row_error)?;
        let Some(mut stored) = found else {
            return Ok(None);
        };
        stored.history = self.history(id)?;
        Ok(Some(stored))
    }

    /// Ids that start with `prefix` (for "did you mean" and short ids), at most `limit`.
    pub fn ids_like(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let escaped = prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM alerts WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?",
        )?;
        let rows = stmt.query_map(params![format!("{escaped}%"), limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<String>, _>>()?)
    }

    /// The id of the alert with local handle `local_ref`.
    pub fn id_by_ref(&self, local_ref: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id FROM alerts WHERE rowid = ?", [local_ref], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, actor, kind, from_status, to_status, reason, note FROM history \
             WHERE alert_id = ? ORDER BY seq",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(HistoryEntry {
                at: r.get(0)?,
                actor: r.get(1)?,
                kind: r.get(2)?,
                from_status: r.get(3)?,
                to_status: r.get(4)?,
                reason: r.get(5)?,
                note: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Record an analyst's status change (and its history entry) in one transaction.
    pub fn set_status(&mut self, id: &str, change: &StatusChange) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        apply_status(&tx, id, change)?;
        tx.commit()?;
        Ok(())
    }

    /// Attach a note to an alert's history.
    pub fn add_note(
        &mut self,
        id: &str,
        actor: &str,
        note: &str,
        at: EpochMs,
    ) -> Result<(), StoreError> {
        let n = self.conn.execute(
            "INSERT INTO history (alert_id, at, actor, kind, note) \
             SELECT id, ?, ?, 'note', ? FROM alerts WHERE id = ?",
            params![at, actor, note, id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(id.to_string()));
        }
        Ok(())
    }
}

/// The status columns a change writes: (status, status_reason, status_note, status_until).
/// Shared with the team store's decisions, so both backends store a status alike.
pub(crate) fn status_columns(
    change: &StatusChange,
) -> (StatusKind, Option<String>, Option<String>, Option<EpochMs>) {
    match &change.status {
        Status::New => (StatusKind::New, None, change.note.clone(), None),
        Status::Acknowledged => (StatusKind::Acknowledged, None, change.note.clone(), None),
        Status::InProgress => (StatusKind::InProgress, None, change.note.clone(), None),
        Status::Resolved { reason } => (
            StatusKind::Resolved,
            Some(reason.clone()),
            change.note.clone(),
            None,
        ),
        Status::Dismissed {
            reason,
            note,
            until,
        } => (
            StatusKind::Dismissed,
            Some(reason.as_str().to_string()),
            note.clone().or_else(|| change.note.clone()),
            *until,
        ),
        Status::Snoozed { until, note } => (
            StatusKind::Snoozed,
            None,
            note.clone().or_else(|| change.note.clone()),
            Some(*until),
        ),
    }
}

/// Apply a status change and its history entry inside `tx`; returns the history entry's seq.
pub(super) fn apply_status(
    tx: &Transaction<'_>,
    id: &str,
    change: &StatusChange,
) -> Result<i64, StoreError> {
    let from: Option<String> = tx
        .query_row("SELECT status FROM alerts WHERE id = ?", [id], |r| r.get(0))
        .optional()?;
    let Some(from) = from else {
        return Err(StoreError::NotFound(id.to_string()));
    };
    let (kind, reason, note, until) = status_columns(change);
    // An analyst's decision: no longer a status that follows the vendor (store/closed.rs).
    tx.execute(
        "UPDATE alerts SET status = ?, status_reason = ?, status_note = ?, status_until = ?, \
         followed_at = NULL, reopened_at = NULL WHERE id = ?",
        params![kind.as_str(), reason, note, until, id],
    )?;
    tx.execute(
        "INSERT INTO history (alert_id, at, actor, kind, from_status, to_status, reason, note) \
         VALUES (?, ?, ?, 'status', ?, ?, ?, ?)",
        params![
            id,
            change.at,
            change.actor,
            from,
            kind.as_str(),
            reason,
            note
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// The SQL of a count that stops at a cap (its last parameter, pushed by the caller). With a
/// tag, CVE or text term, that term's own index drives it in rowid order, each match tested
/// against the rest of the listing by a look-up, so the count stops after `cap` matches
/// instead of first listing every match of the term (a quarter of a million for a common
/// tag at 1M alerts).
fn capped_count_sql(req: &ListRequest<'_>) -> Result<(String, Vec<SqlValue>), StoreError> {
    if let Some(q) = req.filter.filter(|q| !q.is_empty())
        && let Some((at, (from, col, cond, mut params))) = super::filter::driver_term(q)
    {
        let mut rest = q.clone();
        rest.terms.remove(at);
        if super::filter::facets_only(&rest) {
            return facets_driven_count_sql(req, &rest, (from, col, cond, params));
        }
        let (where_sql, where_params) = where_clause_with(
            &ListRequest {
                filter: Some(&rest),
                ..req.clone()
            },
            true,
        )?;
        params.extend(where_params);
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {from} CROSS JOIN alerts \
             ON alerts.rowid = {col} WHERE {cond} AND {where_sql} LIMIT ?)"
        );
        return Ok((sql, params));
    }
    let (where_sql, params) = where_clause(req)?;
    let sql = format!("SELECT count(*) FROM (SELECT 1 FROM alerts WHERE {where_sql} LIMIT ?)");
    Ok((sql, params))
}

/// The filter with its driving text term, a bare word (a prefix: `host` is `host*`), read as
/// the whole word (`"host"`): a subset of its matches. None when the count is not driven by
/// such a term.
fn whole_words(
    filter: Option<&crate::triage::query::Query>,
) -> Option<crate::triage::query::Query> {
    use crate::triage::query::Cond;
    let q = filter.filter(|q| !q.is_empty())?;
    let (at, _) = super::filter::driver_term(q)?;
    let mut words = q.clone();
    match &mut words.terms[at].cond {
        Cond::Text { phrase, .. } if !*phrase => *phrase = true,
        _ => return None,
    }
    Some(words)
}

/// [`capped_count_sql`] for a driving term whose other terms are all facets (status, vendor,
/// severity): each match is tested on its `alert_facets` row (migration 0019, ~20 bytes)
/// instead of its alert's (~1.3 KB). As in the kept counts ([`facet_count_sql`]), rows whose
/// place in the default queue depends on the clock (`special`) are counted from the alerts
/// themselves through `alerts_special`, with the whole filter; the capped part comes last so
/// that its LIMIT is the statement's last parameter.
fn facets_driven_count_sql(
    req: &ListRequest<'_>,
    facets: &crate::triage::query::Query,
    (from, col, cond, mut params): super::filter::Driver,
) -> Result<(String, Vec<SqlValue>), StoreError> {
    let (facet_sql, facet_params) = super::filter::to_sql(facets, req.now_ms)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    params.extend(facet_params);
    let driven = |open: &str| {
        format!(
            "SELECT count(*) FROM (SELECT 1 FROM {from} CROSS JOIN alert_facets AS alerts \
             ON alerts.alert = {col} WHERE {cond}{open} AND {facet_sql} LIMIT ?)"
        )
    };
    if req.include_closed {
        return Ok((driven(""), params));
    }
    let (where_sql, mut all) = where_clause_with(req, true)?;
    all.extend(params);
    let sql = format!(
        "SELECT ({}) + ({})",
        clock_rows_count(&where_sql),
        driven(&format!(" AND {STEADY_OPEN}"))
    );
    Ok((sql, all))
}

/// An import under way in one open transaction ([`Store::begin_import`]).
pub struct Importing<'s> {
    store: &'s mut Store,
    now_ms: EpochMs,
    stats: ImportStats,
    /// Statuses that followed the vendor: audited after the commit.
    followed: usize,
    /// The transaction is still open (rolled back on drop).
    open: bool,
    /// Indexes dropped for a bulk load (name, CREATE statement), built again at the commit.
    deferred: Vec<(String, String)>,
    /// Written through a rollback journal ([`rollback_journal`]): back to WAL once it ends.
    journal: bool,
}

/// Leave WAL for a rollback journal (with `synchronous=FULL`, as SQLite advises for it) for
/// one bulk load into an empty store. SQLite refuses while another connection has the file
/// open (a console on the new store, say): false, and the import stays in WAL, as it would
/// have been anyway.
fn rollback_journal(conn: &Connection) -> bool {
    let mode = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    });
    if !matches!(mode.as_deref(), Ok("delete")) {
        return false;
    }
    if let Err(e) = conn.pragma_update(None, "synchronous", "FULL") {
        tracing::warn!("synchronous=FULL for a first import: {e}");
    }
    true
}

/// Back to WAL after [`rollback_journal`]. Should SQLite refuse (another process opened the
/// file and is reading it), the store stays in a rollback journal, which is as safe, and the
/// next [`Store::open`] turns WAL on again.
fn wal_journal(conn: &Connection) {
    if let Err(e) = conn.pragma_update(None, "synchronous", "NORMAL") {
        tracing::warn!("synchronous=NORMAL after a first import: {e}");
    }
    let mode = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
    if !matches!(mode.as_deref(), Ok("wal")) {
        tracing::warn!("the store stays in a rollback journal until it is opened again: {mode:?}");
    }
}

/// The indexes a bulk load into an empty store builds after its rows instead of row by row:
/// every explicitly created index of `alerts`, `alert_tags` and `alert_cves` (name, CREATE
/// statement, as the migrations wrote it). Primary keys and the unique id index stay: the
/// import looks alerts up by id as it goes.
fn bulk_indexes(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name IN ('alerts', 'alert_tags', 'alert_cves') ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

impl Importing<'_> {
    /// The import's connection, inside its open transaction.
    pub(super) fn conn(&self) -> &Connection {
        &self.store.conn
    }

    /// Upsert one batch, as [`Store::import`] does; returns what the batch did. The same alert
    /// twice in one batch counts once (the later wins); in two batches, the later is an update.
    pub fn write(&mut self, alerts: &[Alert]) -> Result<ImportStats, StoreError> {
        self.write_prepared(alerts, &prepare(alerts, self.now_ms))
    }

    /// [`Importing::write`] with each alert's derived values already computed by [`prepare`]
    /// (with the import's `now_ms`, e.g. on the thread that reads the input); rows that do
    /// not match the alerts are computed again.
    pub fn write_prepared(
        &mut self,
        alerts: &[Alert],
        rows: &[PreparedRow],
    ) -> Result<ImportStats, StoreError> {
        let fresh;
        let rows = if rows.len() == alerts.len() {
            rows
        } else {
            fresh = prepare(alerts, self.now_ms);
            &fresh
        };
        let (conn, scoring, now_ms) = (&self.store.conn, &self.store.scoring, self.now_ms);
        let mut touched = Vec::new();
        let mut intel = None;
        let (stats, followed) = import_tx(
            conn,
            alerts,
            rows,
            now_ms,
            scoring,
            &mut intel,
            &mut touched,
        )?;
        if let Some(intel) = &intel {
            super::triage::after_import(conn, alerts, &touched, intel, scoring, now_ms)?;
            super::owners::after_import(conn, &touched, &self.store.owners)?;
        }
        self.stats.add(stats);
        self.followed += followed;
        Ok(stats)
    }

    /// What the batches written so far did.
    pub fn stats(&self) -> ImportStats {
        self.stats
    }

    /// Commit every batch; statuses that followed the vendor are then audited.
    pub fn commit(mut self) -> Result<ImportStats, StoreError> {
        for (_, create) in std::mem::take(&mut self.deferred) {
            self.store.conn.execute_batch(&create)?;
        }
        self.store.conn.execute_batch("COMMIT")?;
        self.open = false;
        if std::mem::take(&mut self.journal) {
            wal_journal(&self.store.conn);
        }
        if self.followed > 0 {
            self.store.audit_followed();
        }
        Ok(self.stats)
    }
}

impl Drop for Importing<'_> {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback leaves SQLite to roll back when the connection closes.
            if let Err(e) = self.store.conn.execute_batch("ROLLBACK") {
                tracing::warn!("rolling back an unfinished import: {e}");
            }
        }
        if self.journal {
            wal_journal(&self.store.conn);
        }
    }
}

/// A change of the vendor's state in an alert's history: alert id, time, from, to, note.
const VENDOR_HISTORY: &str = "INSERT INTO history (alert_id, at, actor, kind, from_status, \
    to_status, note) VALUES (?, ?, 'vendor', 'vendor_update', ?, ?, ?)";

/// `touched` receives the rowid of every inserted alert (scored by its insert: `None`) and
/// `(rowid, Some(index in alerts))` of every updated one, for `triage::after_import`.
/// `intel` (KEV and EPSS for the batch's CVEs) is loaded when the first row is written.
fn import_tx(
    tx: &Connection,
    alerts: &[Alert],
    rows: &[PreparedRow],
    now_ms: EpochMs,
    scoring: &ScoringConfig,
    intel: &mut Option<IntelSet>,
    touched: &mut Vec<(i64, Option<usize>)>,
) -> Result<(ImportStats, usize), StoreError> {
    let mut stats = ImportStats::default();
    // Status changes that followed the vendor: audited after the commit.
    let mut followed = 0;
    let mut lookup = tx.prepare_cached(
        "SELECT rowid, content_hash, vendor_updated, vendor_status FROM alerts WHERE id = ?",
    )?;
    // Parameters: ?1 id, ?2..=?(n+1) the vendor columns, then imported_at and changed_at.
    let n_vendor = VENDOR_COLUMNS.split(',').count();
    let placeholders = (2..=n_vendor + 3)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    // New alerts are scored before their insert, which writes the assessment too: a scoring
    // UPDATE afterwards would rewrite the whole row (raw payload's overflow pages included).
    let placeholders = format!(
        "{placeholders}, {}",
        (n_vendor + 4..=n_vendor + 10)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO alerts (id, {VENDOR_COLUMNS}, imported_at, changed_at, \
         score, scored_at, kev, epss, stage_mask, vendor_path, group_key) \
         VALUES (?1, {placeholders})"
    ))?;
    // A payload that carries no resource facts (e.g. a list item a vendor serves without its
    // details) does not erase the ones an earlier, richer payload gave.
    let assignments = VENDOR_COLUMNS
        .split(',')
        .enumerate()
        .map(|(i, c)| {
            let c = c.trim();
            match c {
                "resource_id" | "resource_name" | "resource_type" | "cloud" | "account"
                | "region" => {
                    format!("{c} = coalesce(?{n}, {c})", n = i + 1)
                }
                "tags_json" => format!(
                    "{c} = CASE WHEN ?{n} = '{{}}' THEN {c} ELSE ?{n} END",
                    n = i + 1
                ),
                _ => format!("{c} = ?{n}", n = i + 1),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Parameters: ?1..=?n the vendor columns, then changed_at and the rowid.
    let mut update = tx.prepare_cached(&format!(
        "UPDATE alerts SET {assignments}, changed_at = ?{} WHERE rowid = ?{}",
        n_vendor + 1,
        n_vendor + 2
    ))?;
    let mut fts_insert = tx.prepare_cached(
        "INSERT INTO alerts_fts (rowid, title, resource, policy) VALUES (?, ?, ?, ?)",
    )?;
    let mut fts_delete = tx.prepare_cached("DELETE FROM alerts_fts WHERE rowid = ?")?;
    let mut body = tx.prepare_cached(BODY_WRITE)?;
    let mut hist = tx.prepare_cached(VENDOR_HISTORY)?;

    // Text rows are written after the batch's alerts (see the end of this function).
    let mut texts: Vec<(i64, &PreparedRow)> = Vec::with_capacity(alerts.len());

    // The same alert twice in one batch: the later payload wins, counted once.
    let ids: Vec<String> = alerts.iter().map(Alert::id).collect();
    let mut last = std::collections::HashMap::<&str, usize>::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        last.insert(id, i);
    }
    for (i, ((a, p), id)) in alerts.iter().zip(rows).zip(&ids).enumerate() {
        if last.get(id.as_str()) != Some(&i) {
            continue;
        }
        let row = VendorRow { a, p };
        let existing = lookup
            .query_row([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()?;
        match existing {
            None => {
                let intel = intel_of(tx, alerts, intel)?;
                let s = triage::assessed(a, intel, scoring, now_ms);
                insert.raw_bind_parameter(1, id)?;
                row.bind(&mut insert, 2)?;
                insert.raw_bind_parameter(n_vendor + 2, now_ms)?;
                insert.raw_bind_parameter(n_vendor + 3, now_ms)?;
                insert.raw_bind_parameter(n_vendor + 4, s.score)?;
                insert.raw_bind_parameter(n_vendor + 5, now_ms)?;
                insert.raw_bind_parameter(n_vendor + 6, s.kev)?;
                insert.raw_bind_parameter(n_vendor + 7, s.epss)?;
                insert.raw_bind_parameter(n_vendor + 8, s.stage_mask)?;
                insert.raw_bind_parameter(n_vendor + 9, s.vendor_path)?;
                insert.raw_bind_parameter(n_vendor + 10, &s.group_key)?;
                insert.raw_execute()?;
                let rowid = tx.last_insert_rowid();
                row.write_body(&mut body, rowid)?;
                texts.push((rowid, p));
                if super::closed::follow(tx, rowid, None, &p.vendor_status, now_ms)? {
                    followed += 1;
                }
                touched.push((rowid, None));
                stats.new += 1;
            }
            // The same payload is unchanged unless the store's vendor state was set apart
            // from it (a finding that vanished from a complete listing and came back).
            Some((_, old_hash, _, old_status))
                if old_hash == p.hash && old_status == p.vendor_status =>
            {
                stats.unchanged += 1
            }
            Some((_, _, Some(old_updated), _))
                if a.vendor_updated.is_some_and(|new| new < old_updated) =>
            {
                stats.stale += 1
            }
            Some((rowid, _, _, old_status)) => {
                intel_of(tx, alerts, intel)?;
                row.bind(&mut update, 1)?;
                update.raw_bind_parameter(n_vendor + 1, now_ms)?;
                update.raw_bind_parameter(n_vendor + 2, rowid)?;
                update.raw_execute()?;
                row.write_body(&mut body, rowid)?;
                fts_delete.execute([rowid])?;
                texts.push((rowid, p));
                if p.vendor_status != old_status {
                    hist.execute(params![
                        id,
                        now_ms,
                        old_status,
                        p.vendor_status,
                        "the vendor changed the alert's state"
                    ])?;
                    if super::closed::follow(
                        tx,
                        rowid,
                        Some(&old_status),
                        &p.vendor_status,
                        now_ms,
                    )? {
                        followed += 1;
                    }
                }
                touched.push((rowid, Some(i)));
                stats.updated += 1;
            }
        }
    }
    // FTS5 flushes its pending terms into a new segment whenever a statement that can roll
    // back alone begins (`alerts` has triggers, so each of its inserts is one): written beside
    // each alert, every row became a one-document segment for the merges to fold again. The
    // batch's rows written together make one segment per batch.
    for (rowid, p) in texts {
        fts_insert.execute(params![rowid, p.fts_title, p.fts_resource, p.fts_policy])?;
    }
    Ok((stats, followed))
}

/// KEV and EPSS for the batch's CVEs, loaded once, when the first row is written.
fn intel_of<'i>(
    tx: &Connection,
    alerts: &[Alert],
    intel: &'i mut Option<IntelSet>,
) -> Result<&'i IntelSet, StoreError> {
    if intel.is_none() {
        let cves = alerts
            .iter()
            .flat_map(|a| a.cves.iter().map(|c| c.id.as_str()));
        *intel = Some(triage::intel_for(tx, cves)?);
    }
    Ok(intel.get_or_insert_default())
}

/// Rebuild a stored alert; a column that does not read back is a [`rows::BadColumn`].
fn stored_alert_row(r: &Row<'_>, c: &AlertColumns) -> rusqlite::Result<StoredAlert> {
    let alert = alert_from_row(r, c)?;
    let kind_s: String = r.get("status")?;
    let reason: Option<String> = r.get("status_reason")?;
    let note: Option<String> = r.get("status_note")?;
    let until: Option<i64> = r.get("status_until")?;
    let Some(kind) = StatusKind::parse(&kind_s) else {
        let shown = crate::sanitize::one_line(&kind_s);
        return Err(bad_column(
            r,
            c,
            None,
            "status",
            format!("unknown status '{shown}'"),
        ));
    };
    let status = match kind {
        StatusKind::New => Status::New,
        StatusKind::Acknowledged => Status::Acknowledged,
        StatusKind::InProgress => Status::InProgress,
        StatusKind::Resolved => Status::Resolved {
            reason: reason.unwrap_or_default(),
        },
        StatusKind::Dismissed => Status::Dismissed {
            reason: reason
                .as_deref()
                .and_then(DismissReason::parse)
                .unwrap_or(DismissReason::Other),
            note,
            until,
        },
        StatusKind::Snoozed => Status::Snoozed {
            until: until.unwrap_or(0),
            note,
        },
    };
    Ok(StoredAlert {
        id: r.get("id")?,
        alert,
        status,
        assignee: r.get("assignee")?,
        claim_until: r.get("claim_until")?,
        ticket: r.get("ticket")?,
        has_controls: r.get::<_, i64>("has_controls")? != 0,
        imported_at: r.get("imported_at")?,
        changed_at: r.get("changed_at")?,
        history: Vec::new(),
        owner: r
            .get::<_, Option<String>>("owner")?
            .filter(|o| !o.is_empty()),
        content_hash: r.get("content_hash")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed vendor path is stored beside the context and read back (also by scoring);
    /// a row written before it was typed gets it from migration 0008, the context unchanged.
    #[test]
    fn vendor_paths_are_kept_and_old_rows_are_migrated() {
        use crate::domain::{VendorPath, VendorPathKind};
        let mut store = Store::open_in_memory().expect("store");
        let ctx = serde_json::json!({"issueType": "TOXIC_COMBINATION", "rule": {"name": "R"}});
        let mut wiz = Alert::new(Vendor::Wiz, "W", serde_json::json!({"id": "W"}));
        wiz.title = "T".into();
        wiz.attack_context = Some(ctx.clone());
        wiz.vendor_path = Some(VendorPath {
            kind: VendorPathKind::WizToxicCombination,
            name: "R".into(),
        });
        let mut orca = Alert::new(Vendor::Orca, "O", serde_json::json!({"id": "O"}));
        orca.title = "Attack path: VM to bucket".into();
        orca.vendor_path = Some(VendorPath {
            kind: VendorPathKind::OrcaAttackPath,
            name: orca.title.clone(),
        });
        let mut plain = Alert::new(Vendor::CortexXdr, "X", serde_json::json!({"id": "X"}));
        plain.attack_context = Some(serde_json::json!({"mitre_tactics": ["TA0001"]}));
        let alerts = [wiz, orca, plain];
        store.import(&alerts, 1_795_305_600_000).expect("import");
        let read = |store: &Store| -> Vec<Alert> {
            alerts
                .iter()
                .map(|a| store.get(&a.id()).expect("get").expect("stored").alert)
                .collect()
        };
        for (got, want) in read(&store).iter().zip(&alerts) {
            assert_eq!(got.attack_context, want.attack_context, "{}", want.id());
            assert_eq!(got.vendor_path, want.vendor_path, "{}", want.id());
        }
        // As written before 0008: the bare context, no hint.
        for a in &alerts {
            store
                .conn
                .execute(
                    "UPDATE alerts SET attack_json = ? WHERE id = ?",
                    rusqlite::params![a.attack_context.as_ref().map(to_json), a.id()],
                )
                .expect("update");
        }
        assert!(read(&store).iter().all(|a| a.vendor_path.is_none()));
        store
            .conn
            .execute_batch(include_str!("migrations/0008_vendor_path.sql"))
            .expect("migrate");
        for (got, want) in read(&store).iter().zip(&alerts) {
            assert_eq!(got.attack_context, want.attack_context, "{}", want.id());
            assert_eq!(got.vendor_path, want.vendor_path, "{}", want.id());
        }
    }

    /// A long payload is stored packed, a short one as text, a row from before packing (text)
    /// still reads, and a damaged packed column is an error naming the column, not a panic.
    #[test]
    fn raw_payloads_are_stored_packed_and_read_back_in_either_form() {
        let world = crate::sim::world::World::generate(5, 40, 1_795_305_600_000);
        let body = crate::vendors::emit::vendor_body(Vendor::CortexXdr, &world);
        let mut alerts =
            crate::vendors::map_payload(Vendor::CortexXdr, "x", &body).expect("cortex alerts");
        alerts.truncate(2);
        alerts[1].raw = crate::domain::RawJson::of(&serde_json::json!({"alert_id": "2"}));
        let mut store = Store::open_in_memory().expect("store");
        store.import(&alerts, 1_795_305_600_000).expect("import");
        let form = |id: &str| -> String {
            store
                .conn
                .query_row(
                    "SELECT typeof(raw_json), length(CAST(raw_json AS BLOB)) FROM alert_body \
                     WHERE rowid = (SELECT rowid FROM alerts WHERE id = ?)",
                    [id],
                    |r| {
                        Ok(format!(
                            "{} {}",
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?
                        ))
                    },
                )
                .expect("row")
        };
        let (long, short) = (alerts[0].id(), alerts[1].id());
        let packed = form(&long);
        assert!(packed.starts_with("blob "), "{packed}");
        let stored_len: usize = packed[5..].parse().expect("length");
        assert!(
            stored_len * 3 < alerts[0].raw.as_str().len() * 2,
            "{packed}"
        );
        assert!(form(&short).starts_with("text "), "{}", form(&short));
        for a in &alerts {
            let got = store.get(&a.id()).expect("get").expect("stored");
            assert_eq!(got.alert.raw.as_str(), a.raw.as_str());
        }
        // Written before packing: plain text.
        store
            .conn
            .execute(
                "UPDATE alert_body SET raw_json = ? \
                 WHERE rowid = (SELECT rowid FROM alerts WHERE id = ?)",
                rusqlite::params![alerts[0].raw.as_str(), long],
            )
            .expect("update");
        let got = store.get(&long).expect("get").expect("stored");
        assert_eq!(got.alert.raw.as_str(), alerts[0].raw.as_str());
        // Damaged.
        store
            .conn
            .execute(
                "UPDATE alert_body SET raw_json = x'01ffffff7f00' \
                 WHERE rowid = (SELECT rowid FROM alerts WHERE id = ?)",
                [&long],
            )
            .expect("update");
        let err = store.get(&long).expect_err("damaged column").to_string();
        assert!(err.contains("raw_json") && err.contains("claims"), "{err}");
    }

    /// Walking the order's index (what a page of a filter with many matches does) gives the
    /// rows reading through the filter's index and sorting gives, in every order, both ways.
    #[test]
    fn walking_the_order_index_lists_the_same_rows() {
        use crate::domain::SortKey;
        const NOW: i64 = 1_795_305_600_000;
        let sevs = [Severity::Critical, Severity::High, Severity::Low];
        let alerts: Vec<Alert> = (0..300u32)
            .map(|n| {
                let mut a = Alert::new(
                    [Vendor::Wiz, Vendor::Orca][(n % 2) as usize],
                    format!("a{n}"),
                    serde_json::json!({"n": n}),
                );
                a.title = format!("finding {}", n % 4);
                a.severity = sevs[(n % 3) as usize].clone();
                a.last_seen = Some(NOW - i64::from(n % 7) * 1000);
                a.resource.tags.insert("env".into(), format!("e{}", n % 2));
                a
            })
            .collect();
        let mut store = Store::open_in_memory().expect("store");
        store.import(&alerts, NOW).expect("import");
        let read = |req: &ListRequest<'_>, seek: Option<&Seek>, walk: bool| -> Vec<String> {
            let (sql, params) = seek_sql(req, seek, walk).expect("sql");
            assert_eq!(
                sql.contains("INDEXED BY"),
                walk && order_index(req.sort).is_some()
            );
            let mut stmt = store.conn.prepare(&sql).expect("prepare");
            stmt.query_map(rusqlite::params_from_iter(params), queue_row)
                .and_then(|rows| rows.map(|r| r.map(|r| r.id)).collect())
                .expect("rows")
        };
        for text in ["sev:critical", "vendor:orca", "tag:env=e1", "finding"] {
            let q = crate::triage::query::parse(text).expect("query");
            for sort in [
                SortKey::Score,
                SortKey::Severity,
                SortKey::Recent,
                SortKey::Vendor,
                SortKey::Status,
            ] {
                let req = ListRequest {
                    filter: Some(&q),
                    sort,
                    limit: 30,
                    offset: 7,
                    now_ms: NOW,
                    ..Default::default()
                };
                assert_eq!(
                    read(&req, None, true),
                    read(&req, None, false),
                    "{text} {sort:?}"
                );
                assert_eq!(
                    read(&req, Some(&Seek::End), true),
                    read(&req, Some(&Seek::End), false),
                    "{text} {sort:?} end"
                );
            }
        }
    }

    /// A text page walking the score order tests each alert on its `alerts_open_score` entry
    /// (migration 0020): in SQLite's program for the page, every column read before the text
    /// test comes from the index cursor, and the table row is sought only after it (a
    /// deferred seek), so a row the word is not in is never read. Seek pages too.
    #[test]
    fn a_text_walk_tests_the_index_entry_not_the_row() {
        const NOW: i64 = 1_795_305_600_000;
        let store = Store::open_in_memory().expect("store");
        let table_root: i64 = store
            .conn
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'alerts'",
                [],
                |r| r.get(0),
            )
            .expect("root");
        for text in ["host", "\"db host\"", "host sev:high vendor:wiz", "-host"] {
            let q = crate::triage::query::parse(text).expect("query");
            let req = ListRequest {
                filter: Some(&q),
                limit: 50,
                now_ms: NOW,
                ..Default::default()
            };
            let after = Seek::After(super::super::queue::QueueKey {
                sort: crate::domain::SortKey::Score,
                values: vec![
                    SqlValue::Integer(50),
                    SqlValue::Integer(3),
                    SqlValue::Integer(NOW),
                    SqlValue::Integer(9),
                ],
            });
            for seek in [None, Some(&after), Some(&Seek::End)] {
                let (sql, params) = seek_sql(&req, seek, true).expect("sql");
                assert!(sql.contains("INDEXED BY alerts_open_score"), "{sql}");
                let mut stmt = store
                    .conn
                    .prepare(&format!("EXPLAIN {sql}"))
                    .expect("explain");
                let ops: Vec<(String, i64, i64, String)> = stmt
                    .query_map(rusqlite::params_from_iter(params), |r| {
                        let p4 = r.get_ref(5)?.as_str().unwrap_or_default().to_string();
                        Ok((r.get(1)?, r.get(2)?, r.get(3)?, p4))
                    })
                    .and_then(|rows| rows.collect())
                    .expect("program");
                let table = ops
                    .iter()
                    .find(|(op, _, p2, _)| op == "OpenRead" && *p2 == table_root)
                    .map(|(_, p1, _, _)| *p1)
                    .expect("table cursor");
                let test = ops
                    .iter()
                    .position(|(op, _, _, p4)| op == "Function" && p4.starts_with("sitrep_text"))
                    .unwrap_or_else(|| panic!("no text test in {ops:?}"));
                assert!(
                    ops[..test]
                        .iter()
                        .any(|(op, p1, _, _)| op == "DeferredSeek" && *p1 != table),
                    "{text}: no deferred seek before the text test: {ops:?}"
                );
                let early: Vec<_> = ops[..test]
                    .iter()
                    .filter(|(op, p1, _, _)| op == "Column" && *p1 == table)
                    .collect();
                assert!(
                    early.is_empty(),
                    "{text}: the row is read before its text is tested: {early:?}"
                );
            }
        }
    }

    /// The byte scan over the serialized payload agrees with the sanitizer's walk of the tree.
    #[test]
    fn raw_text_scan_agrees_with_the_tree_walk() {
        let cases = [
            serde_json::json!({"a": "plain text", "n": 3, "t": true, "x": null}),
            serde_json::json!({"a": "line\nbreak\tand tab"}),
            serde_json::json!({"a": "carriage\rreturn"}),
            serde_json::json!({"a": "esc \u{1b}[31m red"}),
            serde_json::json!({"a": "bell \u{07}"}),
            serde_json::json!({"a": "back\u{08}space and \u{0c} feed"}),
            serde_json::json!({"a": "del \u{7f}"}),
            serde_json::json!({"a": "c1 \u{9b}31m"}),
            serde_json::json!({"a": "bidi \u{202e}evil"}),
            serde_json::json!({"a": "zero\u{200b}width"}),
            serde_json::json!({"a": "bom \u{feff}"}),
            serde_json::json!({"a": "accents é ü 漢字 emoji 🚀"}),
            serde_json::json!({"a": "a literal backslash-r: \\r and \\u001b"}),
            serde_json::json!({"key\u{1b}": "value"}),
            serde_json::json!({"nested": [{"deep": ["ok", "still ok", "\u{2066}isolate"]}]}),
            serde_json::json!(["quote \" and slash / fine"]),
        ];
        for v in cases {
            // Padded so the interesting byte falls at every offset of the 32-byte blocks, and
            // escapes and non-ASCII runs straddle a block's end.
            for pad in 0..70 {
                let v = serde_json::json!({"pad": "x".repeat(pad), "v": v.clone()});
                let text = serde_json::to_string(&v).unwrap();
                assert_eq!(
                    raw_text_is_suspicious(&text),
                    sanitize::json_is_suspicious(&v),
                    "{text}"
                );
            }
        }
    }
}

#[cfg(test)]
mod batched {
    use super::*;

    const T0: EpochMs = 1_795_305_600_000;

    fn alert(n: u32, state: VendorState) -> Alert {
        let mut a = Alert::new(
            Vendor::Wiz,
            format!("issue-{n}"),
            serde_json::json!({"id": n, "state": state.to_store()}),
        );
        a.title = format!("Finding {n}");
        a.severity = Severity::High;
        a.vendor_status = state;
        a.vendor_updated = Some(T0);
        a
    }

    fn history_rows(s: &Store) -> i64 {
        s.conn
            .query_row("SELECT count(*) FROM history", [], |r| r.get(0))
            .expect("count")
    }

    /// Batches land together at the commit; an import dropped after some batches leaves no
    /// row, no history entry and no text-index entry of them, and the store goes on working.
    #[test]
    fn an_unfinished_import_leaves_nothing_of_its_batches() {
        let mut s = Store::open_in_memory().expect("store");
        s.import(&[alert(1, VendorState::Open)], T0).expect("seed");
        let before = history_rows(&s);
        {
            let mut im = s.begin_import(T0 + 1).expect("begin");
            let first: Vec<Alert> = (2..5).map(|n| alert(n, VendorState::Open)).collect();
            assert_eq!(im.write(&first).expect("batch").new, 3);
            // A closed reopening of a known alert: history, status followed.
            let second = [alert(1, VendorState::Resolved), alert(9, VendorState::Open)];
            let st = im.write(&second).expect("batch");
            assert_eq!((st.new, st.updated), (1, 1));
            assert_eq!(im.stats().total(), 5);
        }
        assert_eq!(s.total().expect("n"), 1);
        assert_eq!(history_rows(&s), before);
        let fts: i64 = s
            .conn
            .query_row("SELECT count(*) FROM alerts_fts", [], |r| r.get(0))
            .expect("fts");
        assert_eq!(fts, 1);
        // The same batches committed: all of them, the followed close included.
        let mut im = s.begin_import(T0 + 2).expect("begin");
        im.write(
            &(2..5)
                .map(|n| alert(n, VendorState::Open))
                .collect::<Vec<_>>(),
        )
        .expect("batch");
        im.write(&[alert(1, VendorState::Resolved)]).expect("batch");
        let st = im.commit().expect("commit");
        assert_eq!((st.new, st.updated), (3, 1));
        assert_eq!(s.total().expect("n"), 4);
        let got = s.get("wiz:issue-1").expect("get").expect("stored");
        assert_eq!(got.status.kind(), StatusKind::Resolved);
        assert!(history_rows(&s) > before);
    }

    fn journal_mode(conn: &Connection) -> String {
        conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode")
    }

    /// A first import into an empty file store writes through a rollback journal and turns
    /// WAL on again once it ends, committed or not; an import into a store that holds
    /// alerts, or one another connection has open, stays in WAL and lands all the same.
    #[test]
    fn a_first_import_writes_through_a_rollback_journal_then_wal_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("a.db")).expect("store");
        assert_eq!(journal_mode(&s.conn), "wal");
        let mut im = s.begin_bulk_import(T0).expect("begin");
        assert_eq!(journal_mode(im.conn()), "delete");
        im.write(&[alert(1, VendorState::Open)]).expect("write");
        im.commit().expect("commit");
        assert_eq!(journal_mode(&s.conn), "wal");
        let im = s.begin_bulk_import(T0 + 1).expect("begin");
        assert_eq!(journal_mode(im.conn()), "wal", "the store holds an alert");
        drop(im);
        // Any other writer (a sync, a team pull) stays in WAL, even into an empty store.
        let mut fresh = Store::open(&dir.path().join("d.db")).expect("store");
        let im = fresh.begin_import(T0).expect("begin");
        assert_eq!(journal_mode(im.conn()), "wal", "not a bulk import");
        drop(im);

        // Dropped before its commit: nothing of it, WAL again, the file sound.
        let mut s = Store::open(&dir.path().join("b.db")).expect("store");
        let mut im = s.begin_bulk_import(T0).expect("begin");
        assert_eq!(journal_mode(im.conn()), "delete");
        im.write(&[alert(1, VendorState::Open), alert(2, VendorState::Open)])
            .expect("write");
        drop(im);
        assert_eq!(journal_mode(&s.conn), "wal");
        assert_eq!(s.total().expect("total"), 0);
        assert_eq!(s.integrity_check().expect("check"), "ok");

        // Another connection (a console on the new store) keeps it in WAL.
        let path = dir.path().join("c.db");
        let mut s = Store::open(&path).expect("store");
        let other = Store::open(&path).expect("another connection");
        let mut im = s.begin_bulk_import(T0).expect("begin");
        assert_eq!(journal_mode(im.conn()), "wal");
        im.write(&[alert(1, VendorState::Open)]).expect("write");
        im.commit().expect("commit");
        assert_eq!(other.total().expect("total"), 1);
        assert_eq!(journal_mode(&s.conn), "wal");
    }
}
