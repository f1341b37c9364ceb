//! Alerts the vendor closed (issue 23): the queue is what still needs someone, so when an
//! import sees the vendor close an alert that is still `new` or `acknowledged` here, its status
//! follows the vendor's outcome (resolved, or dismissed where the vendor dismissed it), set by
//! sitrep itself (history actor [`SYSTEM_ACTOR`]). A status an analyst set is never touched.
//! When the vendor reopens an alert whose status had followed it, it comes back as `new`,
//! marked resurfaced until an analyst decides.
//!
//! Those status changes are audited as system actions (actor `sitrep`, action `status`):
//! [`audit_system_changes`] appends an entry for every such history row not yet audited, in its
//! own fully synced transaction right after the import commits when the store has its key (the
//! import commits with synchronous=NORMAL, too weak for the audit log), or when the key is first
//! given to a store (the rows a migration or an unkeyed sync wrote). First sight of an alert that
//! is already closed is recorded in its history but not audited: no status changed.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{Store, StoreError};
use crate::domain::{EpochMs, VendorState};

/// Who the history and the audit log name for a status sitrep set itself.
pub const SYSTEM_ACTOR: &str = "sitrep";

/// The `kv` key holding the last history seq whose system status change is in the audit log.
const AUDITED_UP_TO: &str = "audit.system_history_seq";

fn is_closed(vendor_status: &str) -> bool {
    VendorState::CLOSED.contains(&vendor_status)
}

/// The status an alert takes when its vendor closed it: (status, reason, note).
fn followed(vendor_status: &str) -> (&'static str, &'static str, String) {
    let note = format!("closed at the vendor ({vendor_status} there)");
    if vendor_status == "dismissed" {
        ("dismissed", "other", note)
    } else {
        ("resolved", "vendor_closed", note)
    }
}

/// After an import wrote an alert's vendor state: follow a close or a reopen. `old` is the
/// vendor state stored before (None: the alert is new). Only a change of the vendor's state
/// moves anything, so an analyst who reopens (`N`) an alert the vendor still holds closed keeps
/// it open. Runs inside the import's transaction. Returns whether the status changed (the
/// import then audits the change after its commit, [`Store::audit_pending_system_changes`]).
pub(super) fn follow(
    tx: &rusqlite::Connection,
    rowid: i64,
    old: Option<&str>,
    new: &str,
    now_ms: EpochMs,
) -> Result<bool, StoreError> {
    let was_closed = old.is_some_and(is_closed);
    if is_closed(new) == was_closed {
        return Ok(false);
    }
    let mut read = tx
        .prepare_cached("SELECT id, status, followed_at IS NOT NULL FROM alerts WHERE rowid = ?")?;
    let Some((id, status, followed_before)) = read
        .query_row([rowid], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })
        .optional()?
    else {
        return Ok(false);
    };
    let mut hist = tx.prepare_cached(
        "INSERT INTO history (alert_id, at, actor, kind, from_status, to_status, reason, note) \
         VALUES (?, ?, ?, 'status', ?, ?, ?, ?)",
    )?;
    if is_closed(new) {
        if status != "new" && status != "acknowledged" {
            return Ok(false);
        }
        let (to, reason, note) = followed(new);
        tx.prepare_cached(
            "UPDATE alerts SET status = ?, status_reason = ?, status_note = ?, \
             status_until = NULL, followed_at = ?, reopened_at = NULL WHERE rowid = ?",
        )?
        .execute(params![to, reason, note, now_ms, rowid])?;
        // A first sight has no status to change from: its history says what it was born as.
        let from = old.map(|_| status.as_str());
        hist.execute(params![id, now_ms, SYSTEM_ACTOR, from, to, reason, note])?;
    } else if followed_before {
        // Still the status sitrep set (a decision clears `followed_at`): back to the queue.
        tx.prepare_cached(
            "UPDATE alerts SET status = 'new', status_reason = NULL, status_note = NULL, \
             status_until = NULL, followed_at = NULL, reopened_at = ? WHERE rowid = ?",
        )?
        .execute(params![now_ms, rowid])?;
        let note = format!("reopened at the vendor ({new} there)");
        hist.execute(params![
            id,
            now_ms,
            SYSTEM_ACTOR,
            status,
            "new",
            Option::<String>::None,
            note
        ])?;
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// Append an audit entry for every system status change in the history not yet audited, and
/// move the watermark, inside `tx`. Returns how many entries were appended.
pub(super) fn audit_system_changes(
    tx: &Transaction<'_>,
    key: &crate::audit::AuditKey,
) -> Result<usize, StoreError> {
    let after: i64 = tx
        .query_row("SELECT value FROM kv WHERE key = ?", [AUDITED_UP_TO], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut stmt = tx.prepare_cached(
        "SELECT seq, alert_id, at, from_status, to_status, reason, note FROM history \
         WHERE seq > ? AND actor = ? AND kind = 'status' ORDER BY seq",
    )?;
    type Row = (
        i64,
        String,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows = stmt
        .query_map(params![after, SYSTEM_ACTOR], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<Result<Vec<Row>, _>>()?;
    // The watermark moves past every history row there is, so the next call reads only what
    // was added since (vendor updates and notes included).
    let last: Option<i64> = tx.query_row("SELECT max(seq) FROM history", [], |r| r.get(0))?;
    let Some(last) = last.filter(|l| *l > after) else {
        return Ok(0);
    };
    let mut n = 0;
    for (seq, alert, at, from, to, reason, note) in &rows {
        // First sight (no previous status): nothing changed, nothing to audit.
        let Some(from) = from else { continue };
        let detail = serde_json::json!({
            "status": to,
            "from": from,
            "reason": reason,
            "note": note,
            "by": "vendor",
            "history_seq": seq,
        });
        crate::audit::append(
            tx,
            key,
            &crate::audit::AuditEntry {
                at: *at,
                actor: SYSTEM_ACTOR,
                action: "status",
                subject: alert,
                detail: &detail,
            },
        )?;
        n += 1;
    }
    tx.execute(
        "INSERT INTO kv (key, value) VALUES (?, ?) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![AUDITED_UP_TO, last.to_string()],
    )?;
    Ok(n)
}

impl Store {
    /// Audit the system status changes not yet in the audit log (see the module docs); a
    /// no-op without the audit key. Returns how many entries were appended.
    pub fn audit_pending_system_changes(&mut self) -> Result<usize, StoreError> {
        let Store {
            conn, audit_key, ..
        } = self;
        let Some(key) = audit_key.as_ref() else {
            return Ok(0);
        };
        let n = crate::audit::with_full_sync(conn, |conn| -> Result<usize, StoreError> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = audit_system_changes(&tx, key)?;
            tx.commit()?;
            Ok(n)
        })?;
        if n > 0 {
            self.audit_after_commit();
        }
        Ok(n)
    }

    /// After an import committed statuses that followed the vendor: audit them, in their own
    /// fully synced transaction (no-op without the key). A failure is logged and leaves them
    /// for the next keyed write or open; the import itself has committed.
    pub(super) fn audit_followed(&mut self) {
        if self.audit_key.is_none() {
            return;
        }
        if let Err(e) = self.audit_pending_system_changes() {
            tracing::warn!("audit of system status changes: {e}");
        }
    }

    /// How many alerts left the queue because the vendor closed them after `since` (alerts
    /// sitrep already knew; the first sight of an alert closed at the vendor is not counted),
    /// still with the status that followed the vendor.
    pub fn closed_at_vendor_since(&self, since: EpochMs) -> Result<usize, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM alerts WHERE followed_at > ? AND followed_at > imported_at",
            [since],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Alert, Severity, Status, Vendor};
    use crate::store::{ListRequest, StatusChange};

    const T0: EpochMs = 1_795_305_600_000;

    fn alert(n: u32, state: VendorState, updated: EpochMs) -> Alert {
        let mut a = Alert::new(
            Vendor::Wiz,
            format!("issue-{n}"),
            serde_json::json!({"id": n, "state": state.to_store(), "u": updated}),
        );
        a.title = format!("Finding {n}");
        a.severity = Severity::High;
        a.vendor_status = state;
        a.vendor_updated = Some(updated);
        a
    }

    fn status(s: &Store, n: u32) -> String {
        s.get(&format!("wiz:issue-{n}"))
            .expect("get")
            .expect("stored")
            .status
            .kind()
            .as_str()
            .to_string()
    }

    fn queue(s: &Store, now: EpochMs) -> Vec<String> {
        let mut ids: Vec<String> = s
            .list(&ListRequest {
                limit: 1000,
                now_ms: now,
                ..Default::default()
            })
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    }

    fn mark(s: &mut Store, n: u32, st: Status, at: EpochMs) {
        s.set_status(
            &format!("wiz:issue-{n}"),
            &StatusChange {
                status: st,
                actor: "ana".into(),
                note: None,
                at,
            },
        )
        .expect("mark");
    }

    /// Closed at the vendor: `new` and `acknowledged` follow (resolved, or dismissed), with a
    /// history entry by sitrep; every status an analyst chose stays; a reopening brings a
    /// followed alert back as new and resurfaced, and leaves an analyst's choice alone.
    #[test]
    fn statuses_follow_the_vendor_only_where_nobody_decided() {
        let mut s = Store::open_in_memory().expect("store");
        let open: Vec<Alert> = (1..=8).map(|n| alert(n, VendorState::Open, T0)).collect();
        s.import(&open, T0).expect("import");
        mark(&mut s, 2, Status::Acknowledged, T0 + 1);
        mark(&mut s, 3, Status::InProgress, T0 + 1);
        mark(
            &mut s,
            4,
            Status::Snoozed {
                until: T0 + 10 * 86_400_000,
                note: None,
            },
            T0 + 1,
        );
        mark(
            &mut s,
            5,
            Status::Resolved {
                reason: "fixed".into(),
            },
            T0 + 1,
        );
        let t1 = T0 + 60_000;
        let mut closed: Vec<Alert> = (1..=6)
            .map(|n| alert(n, VendorState::Resolved, t1))
            .collect();
        closed.push(alert(7, VendorState::Dismissed, t1));
        s.import(&closed, t1).expect("close");
        assert_eq!(status(&s, 1), "resolved");
        assert_eq!(status(&s, 2), "resolved");
        assert_eq!(status(&s, 3), "in_progress");
        assert_eq!(status(&s, 4), "snoozed");
        assert_eq!(status(&s, 5), "resolved");
        assert_eq!(status(&s, 7), "dismissed");
        assert_eq!(status(&s, 6), "resolved");
        let got = s.get("wiz:issue-1").expect("get").expect("stored");
        let h = got.history.last().expect("history");
        assert_eq!(
            (
                h.actor.as_str(),
                h.from_status.as_deref(),
                h.to_status.as_deref()
            ),
            (SYSTEM_ACTOR, Some("new"), Some("resolved"))
        );
        assert_eq!(
            h.note.as_deref(),
            Some("closed at the vendor (resolved there)")
        );
        assert_eq!(
            got.status,
            Status::Resolved {
                reason: "vendor_closed".into()
            }
        );
        // The queue: what still needs someone (3 in progress, 8 untouched).
        assert_eq!(queue(&s, t1), ["wiz:issue-3", "wiz:issue-8"]);
        assert_eq!(s.closed_at_vendor_since(T0).expect("count"), 4);
        assert_eq!(s.closed_at_vendor_since(t1).expect("count"), 0);

        // An analyst reopens 6 by hand while the vendor still has it closed: kept open on
        // the next import of a changed payload.
        mark(&mut s, 6, Status::New, t1 + 1);
        let t2 = t1 + 60_000;
        let mut again = alert(6, VendorState::Resolved, t2);
        again.title = "Finding 6, retitled".into();
        s.import(&[again], t2).expect("import");
        assert_eq!(status(&s, 6), "new");

        // The vendor reopens 1 (followed), 5 (the analyst's resolution) and 7 (dismissed).
        let t3 = t2 + 60_000;
        let reopened: Vec<Alert> = [1, 5, 7].map(|n| alert(n, VendorState::Open, t3)).into();
        s.import(&reopened, t3).expect("reopen");
        assert_eq!(status(&s, 1), "new");
        assert_eq!(status(&s, 5), "resolved");
        assert_eq!(status(&s, 7), "new");
        let rows = s
            .list(&ListRequest {
                limit: 100,
                now_ms: t3,
                ..Default::default()
            })
            .expect("list");
        let mut resurfaced: Vec<(&str, Option<&str>)> = rows
            .iter()
            .filter(|r| r.resurfaced)
            .map(|r| (r.id.as_str(), r.resurfaced_reason.as_deref()))
            .collect();
        resurfaced.sort();
        assert_eq!(
            resurfaced,
            [
                (
                    "wiz:issue-1",
                    Some("reopened at the vendor after it had closed it")
                ),
                (
                    "wiz:issue-7",
                    Some("reopened at the vendor after it had closed it")
                ),
            ]
        );
        // An analyst's decision ends the marker.
        mark(&mut s, 1, Status::Acknowledged, t3 + 1);
        let still: Vec<String> = s
            .list(&ListRequest {
                limit: 100,
                now_ms: t3,
                ..Default::default()
            })
            .expect("list")
            .into_iter()
            .filter(|r| r.resurfaced)
            .map(|r| r.id)
            .collect();
        assert_eq!(still, ["wiz:issue-7"]);
    }

    /// First sight of a closed alert: stored with the vendor's outcome, out of the queue, not
    /// counted as "closed since you last looked", and nothing audited (no status changed).
    /// A close of a known alert is audited as sitrep's, right after the import commits.
    #[test]
    fn system_changes_are_audited_and_first_sight_is_not() {
        let mut s = Store::open_in_memory().expect("store");
        s.set_audit_key(crate::audit::AuditKey::from_bytes(
            b"unit test audit key 0123456789abcdef",
        ));
        s.import(
            &[
                alert(1, VendorState::Dismissed, T0),
                alert(2, VendorState::Open, T0),
            ],
            T0,
        )
        .expect("import");
        assert_eq!(status(&s, 1), "dismissed");
        assert_eq!(queue(&s, T0), ["wiz:issue-2"]);
        assert_eq!(s.audit_count().expect("count"), 0);
        assert_eq!(s.closed_at_vendor_since(T0 - 1).expect("count"), 0);
        s.import(&[alert(2, VendorState::Resolved, T0 + 5)], T0 + 5)
            .expect("close");
        let entries = s.audit_entries(None).expect("entries");
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(
            (e.actor.as_str(), e.action.as_str(), e.subject.as_str()),
            (SYSTEM_ACTOR, "status", "wiz:issue-2")
        );
        assert!(e.detail.contains("\"by\":\"vendor\""), "{}", e.detail);
        assert!(e.detail.contains("\"from\":\"new\""), "{}", e.detail);
        assert!(s.audit_verify().expect("verify").is_ok());
        // Nothing is audited twice.
        assert_eq!(s.audit_pending_system_changes().expect("again"), 0);
        assert_eq!(s.closed_at_vendor_since(T0).expect("count"), 1);
    }

    /// An existing database (schema 8) with vendor-closed alerts still `new`: migration 9
    /// moves them, with their history entry; the first keyed store audits them.
    #[test]
    fn migration_moves_vendor_closed_new_alerts_and_they_are_audited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            let mut s = Store::open(&path).expect("open");
            s.import(
                &[
                    alert(1, VendorState::Open, T0),
                    alert(2, VendorState::Open, T0),
                    alert(3, VendorState::Open, T0),
                    alert(4, VendorState::Open, T0),
                ],
                T0,
            )
            .expect("import");
            mark(&mut s, 3, Status::InProgress, T0 + 1);
            mark(&mut s, 4, Status::Acknowledged, T0 + 1);
            // As a build before this change left it: vendor-closed, status untouched.
            s.conn
                .execute_batch(super::super::migrate::UNDO_0012)
                .expect("back to 11");
            s.conn
                .execute_batch(super::super::migrate::UNDO_0011)
                .expect("back to 10");
            s.conn
                .execute_batch(super::super::migrate::UNDO_0010)
                .expect("back to 9");
            s.conn
                .execute_batch(
                    "UPDATE alerts SET vendor_status = 'resolved' WHERE id IN ('wiz:issue-1', 'wiz:issue-3', 'wiz:issue-4');
                     UPDATE alerts SET vendor_status = 'dismissed' WHERE id = 'wiz:issue-2';
                     DROP INDEX alerts_followed;
                     ALTER TABLE alerts DROP COLUMN followed_at;
                     ALTER TABLE alerts DROP COLUMN reopened_at;
                     PRAGMA user_version = 8;",
                )
                .expect("downgrade");
        }
        let mut s = Store::open(&path).expect("migrate");
        // Every migration since 8 applied again (0009 is the one under test).
        assert!(s.schema_version().expect("version") >= 9);
        assert_eq!(status(&s, 1), "resolved");
        assert_eq!(status(&s, 2), "dismissed");
        assert_eq!(status(&s, 3), "in_progress");
        assert_eq!(status(&s, 4), "acknowledged");
        let h = s.history("wiz:issue-2").expect("history");
        let last = h.last().expect("entry");
        assert_eq!(last.actor, SYSTEM_ACTOR);
        assert_eq!(
            last.note.as_deref(),
            Some("closed at the vendor (dismissed there)")
        );
        assert_eq!(s.audit_count().expect("count"), 0);
        s.set_audit_key(crate::audit::AuditKey::from_bytes(
            b"unit test audit key 0123456789abcdef",
        ));
        let subjects: Vec<String> = s
            .audit_entries(None)
            .expect("entries")
            .into_iter()
            .map(|e| format!("{} {} {}", e.actor, e.action, e.subject))
            .collect();
        assert_eq!(
            subjects,
            ["sitrep status wiz:issue-1", "sitrep status wiz:issue-2"]
        );
        assert!(s.audit_verify().expect("verify").is_ok());
        // A reopening undoes what the migration did, as for an import's.
        s.import(&[alert(1, VendorState::Open, T0 + 10)], T0 + 10)
            .expect("reopen");
        assert_eq!(status(&s, 1), "new");
    }
}
