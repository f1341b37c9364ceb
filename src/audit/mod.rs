//! The tamper-evident audit log: append-only, hash-chained and keyed (docs/audit.md).
//!
//! Entry `i` stores seq, at, actor, action, subject, detail (canonical JSON), the previous
//! entry's mac and its own `mac_i = HMAC-SHA256(key, canonical(entry_i) ‖ mac_{i-1})`, so an
//! edit, deletion, insertion, duplication or reordering anywhere breaks the chain from that
//! entry on, and nobody without the key can rebuild it. The tail is anchored outside the
//! table by a keyed head record (`<db>.audit-head`, [`head`]), so cutting entries off the
//! end is caught too.
//!
//! [`append`] runs inside the caller's transaction (a decision, its outbox row and its audit
//! entry commit together); after the commit the caller brings the head file up to date with
//! [`write_head`]. [`verify`] walks the whole log and names the first bad entry.

pub mod canonical;
pub mod head;
mod key;

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::domain::EpochMs;
pub use head::{Head, HeadFile, head_path};
pub use key::{AuditKey, KEY_FILE, MIN_KEY_CHARS};

pub(crate) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Largest canonical detail accepted (bytes).
pub const MAX_DETAIL: usize = 64 * 1024;

/// Why the audit log could not be written or checked. Never carries the key.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Key(String),
    #[error("{0}")]
    Head(String),
    /// The log is not intact (from `write_head`, which refuses to move an anchor that no
    /// longer matches the table).
    #[error("{0}")]
    Broken(Broken),
    #[error("audit entry: {0}")]
    Invalid(String),
    #[error("audit log: database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// One entry to append. `detail` must carry no secret (it is stored and exported).
#[derive(Debug, Clone, Copy)]
pub struct AuditEntry<'a> {
    pub at: EpochMs,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub detail: &'a serde_json::Value,
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub seq: i64,
    pub at: EpochMs,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// Canonical JSON.
    pub detail: String,
    pub prev_mac: String,
    pub mac: String,
}

/// The first place the log is not intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first bad entry's seq (None: a problem of the head file as a whole).
    pub entry: Option<i64>,
    /// "2026-11-30 14:02 UTC, dismiss by alice" for the row found there, when readable.
    pub context: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("audit log broken")?;
        if let Some(e) = self.entry {
            write!(f, " at entry {e}")?;
        }
        if let Some(c) = &self.context {
            write!(f, " ({c})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries read (up to the first bad one).
    pub entries: i64,
    /// The last good entry's seq and mac (the chain head to record elsewhere).
    pub head: Option<(i64, String)>,
    /// What the head file records (None: no head file, or an in-memory database).
    pub anchored: Option<i64>,
    pub broken: Option<Broken>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.broken.is_none()
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(b) = &self.broken {
            return b.fmt(f);
        }
        match &self.head {
            Some((seq, mac)) => write!(
                f,
                "audit log ok: {} entries, head entry {seq} mac {mac}",
                self.entries
            ),
            None => f.write_str("audit log ok: 0 entries"),
        }
    }
}

/// The last entry's (seq, mac), if any.
fn last(conn: &Connection) -> Result<Option<(i64, String)>, rusqlite::Error> {
    conn.prepare_cached("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Append one entry inside the caller's transaction; returns its seq.
///
/// The transaction should be `IMMEDIATE` (or already hold the write lock) and the connection
/// should commit with `synchronous=FULL` (see [`with_full_sync`]). Call [`write_head`] after
/// the commit.
pub fn append(tx: &Transaction<'_>, key: &AuditKey, e: &AuditEntry<'_>) -> Result<i64, AuditError> {
    let detail = canonical::json(e.detail);
    if detail.len() > MAX_DETAIL {
        return Err(AuditError::Invalid(format!(
            "{} detail is {} bytes; at most {MAX_DETAIL}",
            crate::sanitize::one_line(e.action),
            detail.len()
        )));
    }
    let (seq, prev) = match last(tx)? {
        Some((s, m)) => (s + 1, m),
        None => (1, canonical::GENESIS.to_string()),
    };
    if seq == 1 {
        // Anchor the empty log before its first entry commits: from then on a missing head
        // file means a deleted one.
        if let Some(p) = tx.path().and_then(|p| head_path(Path::new(p)))
            && head::read(&p)? == HeadFile::Missing
        {
            head::write(&p, &Head::new(key, 0, canonical::GENESIS))?;
        }
    }
    let mac = key.mac_hex(&canonical::entry_bytes(
        seq, e.at, e.actor, e.action, e.subject, &detail, &prev,
    ));
    tx.prepare_cached(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_mac, mac) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        seq, e.at, e.actor, e.action, e.subject, detail, prev, mac
    ])?;
    Ok(seq)
}

/// Run `f` with `PRAGMA synchronous=FULL` (commits fsync the WAL: they survive power loss),
/// restoring the connection's previous level afterwards.
pub fn with_full_sync<T, E: From<rusqlite::Error>>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<T, E>,
) -> Result<T, E> {
    let before: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    if before < 2 {
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    let out = f(conn);
    if before < 2 {
        conn.pragma_update(None, "synchronous", before)?;
    }
    out
}

/// After the caller's commit: record the log's current end in the head file.
///
/// Refuses (with [`AuditError::Broken`]) to overwrite a head that the table no longer
/// matches — a head ahead of the table, one naming a different mac for its entry, one written
/// with another key, or a missing head beside a non-empty log — so the evidence of a cut or a
/// rewrite stays for `verify`. In-memory databases have no head.
pub fn write_head(db_path: &Path, conn: &Connection, key: &AuditKey) -> Result<(), AuditError> {
    let Some(path) = head_path(db_path) else {
        return Ok(());
    };
    let (count, mac) = last(conn)?.unwrap_or((0, canonical::GENESIS.to_string()));
    let refuse = |entry: Option<i64>, reason: String| {
        Err(AuditError::Broken(Broken {
            entry,
            context: None,
            reason: format!("{reason}; the head file was left as it is (run sitrep audit verify)"),
        }))
    };
    match head::read(&path)? {
        HeadFile::Missing if count > 1 => {
            return refuse(
                None,
                format!(
                    "the head file {} is missing but the log holds {count} entries",
                    path.display()
                ),
            );
        }
        HeadFile::Missing => {}
        HeadFile::Damaged(why) => {
            return refuse(None, format!("the head file {} is {why}", path.display()));
        }
        HeadFile::Present(h) => {
            if !h.authentic(key) {
                return refuse(
                    None,
                    format!(
                        "the head file {} does not verify with this key",
                        path.display()
                    ),
                );
            }
            if h.count > count {
                return refuse(
                    Some(count + 1),
                    format!(
                        "the head file records {} entries but the log ends at {count}",
                        h.count
                    ),
                );
            }
            if h.count == count && h.mac == mac {
                return Ok(());
            }
            if h.count > 0 {
                let at: Option<String> = conn
                    .prepare_cached("SELECT mac FROM audit_log WHERE seq = ?")?
                    .query_row([h.count], |r| r.get(0))
                    .optional()?;
                if at.as_deref() != Some(h.mac.as_str()) {
                    return refuse(
                        Some(h.count),
                        format!(
                            "entry {} does not match the head file's mac for it",
                            h.count
                        ),
                    );
                }
            }
        }
    }
    head::write(&path, &Head::new(key, count, &mac))
}

fn describe(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

/// "2026-11-30 14:02 UTC, dismiss by alice" (sanitized, bounded).
fn context(at: Option<i64>, action: Option<&str>, actor: Option<&str>) -> String {
    let time = at
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "unknown time".into());
    let clip = |s: &str| crate::sanitize::fit(&crate::sanitize::one_line(s), 40);
    match (action, actor) {
        (Some(a), Some(b)) => format!("{time}, {} by {}", clip(a), clip(b)),
        (Some(a), None) => format!("{time}, {}", clip(a)),
        _ => time,
    }
}

/// Walk the whole log with `key` and check it against the head file next to `db_path`.
/// `Err` only when the log cannot be read at all; a damaged log is `Ok` with `broken` set.
pub fn verify(
    db_path: &Path,
    conn: &Connection,
    key: &AuditKey,
) -> Result<VerifyReport, AuditError> {
    let head_file = match head_path(db_path) {
        Some(p) => Some((head::read(&p)?, p)),
        None => None,
    };
    let present = match &head_file {
        Some((HeadFile::Present(h), _)) => Some(h),
        _ => None,
    };
    let hint = wrong_key_hint(present, key, "the head file");
    let mut check = ChainCheck::new(key, present.map(|h| h.count), hint.clone());
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, subject, detail, prev_mac, mac FROM audit_log ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        // Read by type, not by rusqlite's conversions: a tampered row may hold anything, and
        // verify must name it rather than fail to read the log.
        let int = |i: usize| match r.get_ref(i) {
            Ok(ValueRef::Integer(n)) => Ok(n),
            Ok(v) => Err(describe(v)),
            Err(_) => Err("unreadable"),
        };
        let text = |i: usize| match r.get_ref(i) {
            Ok(ValueRef::Text(t)) => std::str::from_utf8(t).map_err(|_| "invalid UTF-8"),
            Ok(v) => Err(describe(v)),
            Err(_) => Err("unreadable"),
        };
        let (at, actor, action) = (int(1).ok(), text(2).ok(), text(3).ok());
        let ctx = Some(context(at, action, actor));
        let seq = match int(0) {
            Ok(s) => s,
            Err(what) => {
                let expected = check.expected();
                check.fail(expected, ctx, format!("its seq is {what}, not an integer"));
                break;
            }
        };
        if !check.place(seq, &ctx) {
            break;
        }
        let cols = (int(1), text(2), text(3), text(4), text(5), text(6), text(7));
        let entry = match cols {
            (Ok(at), Ok(b), Ok(c), Ok(d), Ok(e), Ok(f), Ok(g)) => StoredEntry {
                seq,
                at,
                actor: b.to_string(),
                action: c.to_string(),
                subject: d.to_string(),
                detail: e.to_string(),
                prev_mac: f.to_string(),
                mac: g.to_string(),
            },
            (a, b, c, d, e, f, g) => {
                let names = [
                    "at", "actor", "action", "subject", "detail", "prev_mac", "mac",
                ];
                let errs = [
                    a.err(),
                    b.err(),
                    c.err(),
                    d.err(),
                    e.err(),
                    f.err(),
                    g.err(),
                ];
                let (name, what) = names
                    .iter()
                    .zip(errs)
                    .find_map(|(n, e)| e.map(|e| (*n, e)))
                    .unwrap_or(("a column", "unreadable"));
                let want = if name == "at" { "an integer" } else { "text" };
                check.fail(seq, ctx, format!("its {name} is {what}, not {want}"));
                break;
            }
        };
        if !check.link(&entry, &ctx) {
            break;
        }
    }
    let (mut report, mac_at_anchor) = check.finish();
    let Some((hf, path)) = head_file else {
        return Ok(report);
    };
    let long = format!("the head file {}", path.display());
    check_head(
        &mut report,
        hf,
        key,
        mac_at_anchor.as_deref(),
        &hint,
        &HeadLabel {
            long: &long,
            short: "the head file",
            missing: " (deleted, or the database was copied without it)",
        },
    );
    Ok(report)
}

/// Walks a log entry by entry, as either backend reads it, and stops at the first entry that
/// breaks the chain: the per-entry rules of [`verify`] (SQLite) and of the team store's
/// verify, kept in one place so both logs mean the same thing by "intact".
pub struct ChainCheck<'k> {
    key: &'k AuditKey,
    /// Appended to entry 1's MAC mismatch when the anchor names another key.
    wrong_key_hint: String,
    anchor: Option<i64>,
    expected: i64,
    prev: String,
    mac_at_anchor: Option<String>,
    report: VerifyReport,
}

impl<'k> ChainCheck<'k> {
    /// `anchor`: the entry count the head record names (its mac is remembered on the way).
    pub fn new(key: &'k AuditKey, anchor: Option<i64>, wrong_key_hint: String) -> ChainCheck<'k> {
        ChainCheck {
            key,
            wrong_key_hint,
            anchor,
            expected: 1,
            prev: canonical::GENESIS.to_string(),
            mac_at_anchor: None,
            report: VerifyReport {
                entries: 0,
                head: None,
                anchored: anchor,
                broken: None,
            },
        }
    }

    /// The seq the next entry must have.
    pub fn expected(&self) -> i64 {
        self.expected
    }

    pub fn is_broken(&self) -> bool {
        self.report.broken.is_some()
    }

    /// Record the first break (a reader's own finding, e.g. a column of the wrong type).
    pub fn fail(&mut self, entry: i64, context: Option<String>, reason: String) {
        if self.report.broken.is_none() {
            self.report.broken = Some(Broken {
                entry: Some(entry),
                context,
                reason,
            });
        }
    }

    /// Is `seq` where the next entry belongs? (A gap or a repeat breaks the chain.)
    pub fn place(&mut self, seq: i64, context: &Option<String>) -> bool {
        let expected = self.expected;
        if seq > expected {
            self.fail(
                expected,
                context.clone(),
                format!("entry {expected} is missing (the next stored entry is {seq})"),
            );
            return false;
        }
        if seq < expected {
            self.fail(
                expected,
                context.clone(),
                format!(
                    "a second entry {seq} stands where entry {expected} belongs (duplicated or reordered)"
                ),
            );
            return false;
        }
        true
    }

    /// Check an entry already [placed](ChainCheck::place): its link to the previous entry
    /// and its MAC. Returns false (and records why) when it breaks the chain.
    pub fn link(&mut self, e: &StoredEntry, context: &Option<String>) -> bool {
        let seq = e.seq;
        if e.prev_mac != self.prev {
            self.fail(
                seq,
                context.clone(),
                format!(
                    "its prev_mac does not match entry {}'s mac (an entry was removed, inserted or moved before it, or prev_mac was edited)",
                    seq - 1
                ),
            );
            return false;
        }
        let bytes = canonical::entry_bytes(
            seq,
            e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.detail,
            &e.prev_mac,
        );
        if !self.key.verify_hex(&bytes, &e.mac) {
            let reason = if seq == 1 && !self.wrong_key_hint.is_empty() {
                format!("MAC mismatch{}", self.wrong_key_hint)
            } else if seq == 1 {
                "MAC mismatch (edited, or a wrong key)".into()
            } else {
                "MAC mismatch".into()
            };
            self.fail(seq, context.clone(), reason);
            return false;
        }
        if Some(seq) == self.anchor {
            self.mac_at_anchor = Some(e.mac.clone());
        }
        self.prev = e.mac.clone();
        self.report.entries = seq;
        self.report.head = Some((seq, self.prev.clone()));
        self.expected += 1;
        true
    }

    /// Place and link one entry read whole (the team store's rows are typed by PostgreSQL).
    pub fn push(&mut self, e: &StoredEntry) -> bool {
        let ctx = Some(entry_context(e));
        self.place(e.seq, &ctx) && self.link(e, &ctx)
    }

    /// The report so far and the mac seen at the anchored entry.
    pub fn finish(self) -> (VerifyReport, Option<String>) {
        (self.report, self.mac_at_anchor)
    }
}

/// "2026-11-30 14:02 UTC, dismiss by alice" for an entry read whole.
pub fn entry_context(e: &StoredEntry) -> String {
    context(Some(e.at), Some(&e.action), Some(&e.actor))
}

/// " — this key (id …) did not write the log (…)" when a head names another key.
pub fn wrong_key_hint(head: Option<&Head>, key: &AuditKey, what: &str) -> String {
    match head {
        Some(h) if h.key_id != key.id() => format!(
            " — this key (id {}) did not write the log ({what} names key id {}): wrong key, or a log rewritten with another key",
            key.id(),
            crate::sanitize::fit(&crate::sanitize::one_line(&h.key_id), 16)
        ),
        _ => String::new(),
    }
}

/// How messages name a head record: `long` "the head file /path", `short` "the head file",
/// `missing` what a missing head beside entries suggests.
pub struct HeadLabel<'a> {
    pub long: &'a str,
    pub short: &'a str,
    pub missing: &'a str,
}

/// Check a walked chain against its head record. Sets `report.broken` for the first
/// disagreement.
pub fn check_head(
    report: &mut VerifyReport,
    head: HeadFile,
    key: &AuditKey,
    mac_at_anchor: Option<&str>,
    wrong_key_hint: &str,
    names: &HeadLabel<'_>,
) {
    let label = names.long;
    if report.broken.is_some() {
        return;
    }
    let n = report.entries;
    let broken = |entry: Option<i64>, reason: String| Broken {
        entry,
        context: None,
        reason,
    };
    report.broken = match head {
        HeadFile::Missing if n > 0 => Some(broken(
            None,
            format!(
                "{label} is missing but the log holds {n} entries{}",
                names.missing
            ),
        )),
        HeadFile::Missing => None,
        HeadFile::Damaged(why) => Some(broken(None, format!("{label} is {why}"))),
        HeadFile::Present(h) if !h.authentic(key) => Some(broken(
            None,
            format!(
                "{label} does not verify with this key{}",
                if wrong_key_hint.is_empty() {
                    " (edited)".to_string()
                } else {
                    wrong_key_hint.to_string()
                }
            ),
        )),
        HeadFile::Present(h) if h.count > n => Some(broken(
            Some(n + 1),
            format!(
                "entry {} is missing: {} records {} entries but the log ends at {n} (tail truncated)",
                n + 1,
                names.short,
                h.count
            ),
        )),
        HeadFile::Present(h) if h.count > 0 && mac_at_anchor != Some(h.mac.as_str()) => {
            Some(broken(
                Some(h.count),
                format!(
                    "entry {} does not match {}'s mac for it (the log was cut and extended)",
                    h.count, names.short
                ),
            ))
        }
        HeadFile::Present(h) if h.count < 0 => {
            Some(broken(None, format!("{label} records a negative count")))
        }
        HeadFile::Present(_) => None,
    };
}

fn read_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEntry> {
    Ok(StoredEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        detail: r.get(5)?,
        prev_mac: r.get(6)?,
        mac: r.get(7)?,
    })
}

/// Entries from seq `since` on (all when None), oldest first, one at a time.
pub fn for_each_entry<E: From<rusqlite::Error>>(
    conn: &Connection,
    since: Option<i64>,
    mut f: impl FnMut(StoredEntry) -> Result<(), E>,
) -> Result<(), E> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, subject, detail, prev_mac, mac FROM audit_log \
         WHERE seq >= ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([since.unwrap_or(i64::MIN)])?;
    while let Some(r) = rows.next()? {
        f(read_entry(r)?)?;
    }
    Ok(())
}

/// Entries from seq `since` on (all when None), oldest first.
pub fn entries(conn: &Connection, since: Option<i64>) -> Result<Vec<StoredEntry>, AuditError> {
    let mut out = Vec::new();
    for_each_entry::<AuditError>(conn, since, |e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

/// Entries in the log (the last seq; 0 when empty).
pub fn count(conn: &Connection) -> Result<i64, AuditError> {
    Ok(last(conn)?.map_or(0, |(s, _)| s))
}

#[cfg(test)]
mod tests;
