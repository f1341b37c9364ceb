//! This store as a replica of a team store (docs/team.md): the rows a publisher sends up,
//! and the team's analyst side (status, claim, ticket, version) written down after a pull.
//! `crate::team` moves them; the PostgreSQL side is `store/team/`.

use rusqlite::{OptionalExtension, params};

use super::{ApprovalRow, Importing, Store, StoreError, TicketRow};
use crate::domain::EpochMs;

/// One alert as a publisher sends it to the team store.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRow {
    pub id: String,
    pub source: String,
    pub vendor: String,
    /// The vendor's object verbatim (compact JSON text).
    pub raw: String,
    pub content_hash: String,
    pub score: f64,
    pub severity_rank: i16,
    pub imported_at: EpochMs,
    /// Where the publisher's scan stands after this row (keyset: changed_at, id).
    pub changed_at: EpochMs,
    /// The mapped columns the queue reads, for `list --direct` on the team store.
    pub queue: QueueColumns,
}

/// The columns of a mapped alert that the queue filters, orders and shows, as the SQLite
/// store holds them (team store migration 0004 mirrors them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueColumns {
    pub category: String,
    pub title: String,
    pub policy_id: Option<String>,
    pub policy_name: Option<String>,
    pub severity: String,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    pub resource_type: Option<String>,
    pub cloud: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// `{"key": "value", …}` as stored (vendor text).
    pub tags_json: String,
    pub internet_facing: Option<bool>,
    /// `" CVE-… CVE-… "`, upper-cased and padded.
    pub cve_ids: String,
    /// `[{"standard": …, "requirement": …}, …]`.
    pub compliance_json: String,
    pub first_seen: Option<EpochMs>,
    pub last_seen: Option<EpochMs>,
    pub sort_time: EpochMs,
    pub vendor_status: String,
    pub has_controls: bool,
    /// The publisher's intel and owner rules.
    pub kev: bool,
    pub epss: Option<f64>,
    pub owner: Option<String>,
}

/// The team's analyst side of one alert, as pulled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TeamState {
    pub id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub status_note: Option<String>,
    pub status_until: Option<EpochMs>,
    pub ticket: Option<String>,
    /// The claim's holder (None: unclaimed or lapsed).
    pub claimed_by: Option<String>,
    pub claim_until: Option<EpochMs>,
    pub version: i64,
}

/// One history line pulled from the team store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamHistory {
    pub alert_id: String,
    pub at: EpochMs,
    pub actor: String,
    pub kind: String,
    /// A status line's change (None on other kinds).
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

impl Store {
    /// Up to `limit` alerts whose vendor fields changed after `(after_ms, after_id)`, in
    /// (changed_at, id) order: what a publisher has not sent yet.
    pub fn publish_rows(
        &self,
        after_ms: EpochMs,
        after_id: &str,
        limit: usize,
    ) -> Result<Vec<PublishRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, source, vendor, alert_body.raw_json, content_hash, score, \
             severity_rank, imported_at, changed_at, category, title, policy_id, policy_name, \
             severity, resource_id, resource_name, resource_type, cloud, account, region, \
             tags_json, internet_facing, cve_ids, compliance_json, first_seen, last_seen, \
             sort_time, vendor_status, has_controls, kev, epss, owner FROM alerts \
             LEFT JOIN alert_body ON alert_body.rowid = alerts.rowid \
             WHERE changed_at > ?1 OR (changed_at = ?1 AND id > ?2) \
             ORDER BY changed_at, id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![after_ms, after_id, limit as i64], |r| {
            let id: String = r.get(0)?;
            let raw = super::packed::unpack(r.get_ref(3)?).map_err(|detail| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Blob,
                    // Name the alert: one damaged row stops every later publish page.
                    format!("alert {}: {detail}", crate::sanitize::one_line(&id)).into(),
                )
            })?;
            Ok(PublishRow {
                id,
                source: r.get(1)?,
                vendor: r.get(2)?,
                raw,
                content_hash: r.get(4)?,
                score: f64::from(r.get::<_, i64>(5)? as i32),
                severity_rank: r.get::<_, i64>(6)? as i16,
                imported_at: r.get(7)?,
                changed_at: r.get(8)?,
                queue: QueueColumns {
                    category: r.get(9)?,
                    title: r.get(10)?,
                    policy_id: r.get(11)?,
                    policy_name: r.get(12)?,
                    severity: r.get(13)?,
                    resource_id: r.get(14)?,
                    resource_name: r.get(15)?,
                    resource_type: r.get(16)?,
                    cloud: r.get(17)?,
                    account: r.get(18)?,
                    region: r.get(19)?,
                    tags_json: r.get(20)?,
                    internet_facing: r.get::<_, Option<i64>>(21)?.map(|v| v != 0),
                    cve_ids: r.get(22)?,
                    compliance_json: r.get(23)?,
                    first_seen: r.get(24)?,
                    last_seen: r.get(25)?,
                    sort_time: r.get(26)?,
                    vendor_status: r.get(27)?,
                    has_controls: r.get::<_, i64>(28)? != 0,
                    kev: r.get::<_, i64>(29)? != 0,
                    epss: r.get(30)?,
                    owner: r.get(31)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The team version this replica last pulled for an alert (None: not here).
    pub fn team_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT team_version FROM alerts WHERE id = ?", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Show a journaled status decision in this replica before the team store has it (the
    /// analyst is offline): the status columns only — no history, outbox or audit, which the
    /// team store writes when the decision is sent. `team_version` stays: the next pull that
    /// brings this alert writes the team's state over it, whatever became of the decision.
    pub fn show_journaled_status(
        &mut self,
        alert_id: &str,
        change: &super::StatusChange,
    ) -> Result<(), StoreError> {
        let (kind, reason, note, until) = super::alerts::status_columns(change);
        self.conn.execute(
            "UPDATE alerts SET status = ?2, status_reason = ?3, status_note = ?4, \
             status_until = ?5 WHERE id = ?1",
            params![alert_id, kind.as_str(), reason, note, until],
        )?;
        Ok(())
    }

    /// Put the team's state of one alert back (a journaled decision the team store did not
    /// apply: what [`Store::show_journaled_status`] showed is undone).
    pub fn restore_team_state(&mut self, state: &TeamState) -> Result<(), StoreError> {
        write_states(&self.conn, std::slice::from_ref(state))?;
        Ok(())
    }

    /// Which of `ids` this replica does not hold (a pull catches those up: see
    /// `crate::team::pull`).
    pub fn missing_ids(&self, ids: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM alerts WHERE id = ?")?;
        let mut out = Vec::new();
        for id in ids {
            if stmt.query_row([id], |_| Ok(())).optional()?.is_none() {
                out.push((*id).to_string());
            }
        }
        Ok(out)
    }
}

impl Importing<'_> {
    /// The team's analyst side, written in this import's transaction (a pull writes the
    /// vendor rows and the team's state together, so a console never shows one without the
    /// other).
    pub fn team_state(&mut self, states: &[TeamState]) -> Result<usize, StoreError> {
        write_states(self.conn(), states)
    }

    /// The rest of a pulled page, in this import's transaction: history lines, approvals and
    /// tickets, and the replica's cursor after the page. One transaction, so a crash leaves
    /// either the whole page and its cursor or neither (a page is never applied twice).
    pub fn team_page(
        &mut self,
        history: &[TeamHistory],
        approvals: &[ApprovalRow],
        tickets: &[TicketRow],
        cursor: (&str, &str),
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        write_history(conn, history)?;
        // The team's approvals are this replica's (in team mode no decision writes here
        // directly): four-eyes (dispatch::approve) reads them. Idempotent all the same, should
        // a row arrive twice.
        let mut ins = conn.prepare_cached(
            "INSERT INTO approvals (alert_id, diff_sha256, verdict, actor, at, note) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM alerts WHERE id = ?1) \
             AND NOT EXISTS (SELECT 1 FROM approvals WHERE alert_id = ?1 AND diff_sha256 = ?2 \
               AND verdict = ?3 AND actor = ?4 AND at = ?5)",
        )?;
        for a in approvals {
            ins.execute(params![
                a.alert_id,
                a.diff_sha256,
                a.verdict.as_str(),
                a.actor,
                a.at,
                a.note
            ])?;
        }
        // One ticket per fingerprint; the team's row is the truth (its status moves).
        let mut up = conn.prepare_cached(
            "INSERT INTO tickets (fingerprint, system, key, native_id, url, status, done, \
             created, at, polled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT(fingerprint) DO UPDATE SET system = excluded.system, \
             key = excluded.key, native_id = excluded.native_id, url = excluded.url, \
             status = excluded.status, done = excluded.done, created = excluded.created, \
             at = excluded.at, polled_at = excluded.polled_at",
        )?;
        for t in tickets {
            up.execute(params![
                t.fingerprint,
                t.system,
                t.key,
                t.native_id,
                t.url,
                t.status,
                t.done,
                t.created,
                t.at,
                t.polled_at
            ])?;
        }
        conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![cursor.0, cursor.1],
        )?;
        Ok(())
    }
}

/// Pulled history lines (an alert this replica does not hold gets none).
fn write_history(conn: &rusqlite::Connection, lines: &[TeamHistory]) -> Result<(), StoreError> {
    let mut ins = conn.prepare_cached(
        "INSERT INTO history (alert_id, at, actor, kind, from_status, to_status, reason, note) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM alerts WHERE id = ?1)",
    )?;
    for h in lines {
        ins.execute(params![
            h.alert_id,
            h.at,
            h.actor,
            h.kind,
            h.from_status,
            h.to_status,
            h.reason,
            h.note
        ])?;
    }
    Ok(())
}

fn write_states(conn: &rusqlite::Connection, states: &[TeamState]) -> Result<usize, StoreError> {
    let mut up = conn.prepare_cached(
        "UPDATE alerts SET status = ?2, status_reason = ?3, status_note = ?4, \
         status_until = ?5, ticket = ?6, assignee = ?7, claim_until = ?8, team_version = ?9 \
         WHERE id = ?1 AND (status IS NOT ?2 OR status_reason IS NOT ?3 OR \
         status_note IS NOT ?4 OR status_until IS NOT ?5 OR ticket IS NOT ?6 OR \
         assignee IS NOT ?7 OR claim_until IS NOT ?8 OR team_version IS NOT ?9)",
    )?;
    let mut n = 0;
    for s in states {
        n += up.execute(params![
            s.id,
            s.status,
            s.status_reason,
            s.status_note,
            s.status_until,
            s.ticket,
            s.claimed_by,
            s.claim_until,
            s.version
        ])?;
    }
    Ok(n)
}
