//! Alerts in the team store: a publisher's upsert of the vendor side, and the change feed a
//! replica pulls (vendor rows when their raw changed, the analyst side always).

use super::{TeamError, TeamStore};
use crate::store::{ApprovalRow, PublishRow, TeamHistory, TeamState, TicketRow, Verdict};

/// One alert pulled from the team store.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledAlert {
    pub seq: i64,
    pub source: String,
    pub vendor: String,
    /// The vendor's object, when it changed after the cursor (None: only the analyst side did).
    pub raw: Option<String>,
    pub state: TeamState,
}

/// One page of the change feed.
#[derive(Debug, Clone, Default)]
pub struct Pulled {
    pub alerts: Vec<PulledAlert>,
    pub history: Vec<TeamHistory>,
    /// Approval records (`seq` is the team's), for four-eyes across analysts.
    pub approvals: Vec<ApprovalRow>,
    /// The team's tickets that changed (new, or a new status).
    pub tickets: Vec<TicketRow>,
    /// The cursor after this page (unchanged when the page is empty).
    pub seq: i64,
    /// Whether a full page came back (pull again).
    pub more: bool,
}

/// What [`TeamStore::catch_up`] found for alerts a replica lacks.
#[derive(Debug, Clone, Default)]
pub struct CaughtUp {
    /// id → the vendor's object.
    pub raws: std::collections::HashMap<String, String>,
    pub history: Vec<TeamHistory>,
    pub approvals: Vec<ApprovalRow>,
}

/// The newest seq of the pulled tables (NULL-safe: GREATEST skips NULLs).
pub(super) const HEAD_SEQ: &str = "GREATEST((SELECT max(seq) FROM alerts), \
    (SELECT max(seq) FROM history), (SELECT max(seq) FROM approvals), \
    (SELECT max(seq) FROM tickets), 0)";

/// The analyst-side columns, in [`state_from`]'s order.
pub(super) const STATE_COLUMNS: &str = "id, status, status_reason, status_note, status_until, \
    ticket, claimed_by, claim_until, version";

pub(super) fn state_from(r: &tokio_postgres::Row, at: usize) -> TeamState {
    TeamState {
        id: r.get(at),
        status: r.get(at + 1),
        status_reason: r.get(at + 2),
        status_note: r.get(at + 3),
        status_until: r.get(at + 4),
        ticket: r.get(at + 5),
        claimed_by: r.get(at + 6),
        claim_until: r.get(at + 7),
        version: r.get(at + 8),
    }
}

impl TeamStore {
    /// Upsert the vendor side of `rows` (one statement per call); an alert whose content hash
    /// and score are unchanged is not written (its seq stays, so nobody pulls it again).
    /// Returns how many rows were written.
    pub async fn publish(&self, rows: &[PublishRow]) -> Result<u64, TeamError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        super::feed::change_lock(&tx).await?;
        let n = publish_on(&*tx, rows).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Changes after `after_seq`, up to `limit` alerts and the history lines, approvals and
    /// tickets that go with them, in seq order.
    ///
    /// Every query reads ONE snapshot (a `REPEATABLE READ READ ONLY` transaction): the page
    /// is the team store as of one instant, so a line committed between two of the queries
    /// cannot land in one and miss the other. With every writer holding the change lock
    /// (feed.rs), that snapshot holds every seq up to the newest it sees, so the cursor after
    /// the page never passes a change still to commit.
    pub async fn pull(&self, after_seq: i64, limit: usize) -> Result<Pulled, TeamError> {
        let mut client = self.client().await?;
        let tx = super::feed::snapshot(&mut client).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT seq, source, vendor, CASE WHEN vendor_seq > $1 THEN raw END, \
                     {STATE_COLUMNS} FROM alerts WHERE seq > $1 ORDER BY seq LIMIT $2"
                ),
                &[&after_seq, &(limit as i64)],
            )
            .await?;
        let more = rows.len() == limit;
        let alerts: Vec<PulledAlert> = rows
            .iter()
            .map(|r| PulledAlert {
                seq: r.get(0),
                source: r.get(1),
                vendor: r.get(2),
                raw: r.get(3),
                state: state_from(r, 4),
            })
            .collect();
        // The rest up to the last alert seen, so a line never arrives before its alert.
        let upto = alerts.last().map_or(i64::MAX, |a| a.seq);
        let upto = if more { upto } else { i64::MAX };
        let mut seq = alerts.last().map_or(after_seq, |a| a.seq);
        let lines = tx
            .query(
                "SELECT seq, alert_id, at, actor, kind, from_status, to_status, reason, note \
                 FROM history WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                &[&after_seq, &upto],
            )
            .await?;
        let history = lines
            .iter()
            .map(|r| {
                seq = seq.max(r.get::<_, i64>(0));
                TeamHistory {
                    alert_id: r.get(1),
                    at: r.get(2),
                    actor: r.get(3),
                    kind: r.get(4),
                    from_status: r.get(5),
                    to_status: r.get(6),
                    reason: r.get(7),
                    note: r.get(8),
                }
            })
            .collect();
        let rows = tx
            .query(
                "SELECT seq, alert_id, diff_sha256, verdict, actor, at, note FROM approvals \
                 WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                &[&after_seq, &upto],
            )
            .await?;
        let approvals = rows
            .iter()
            .map(|r| {
                seq = seq.max(r.get::<_, i64>(0));
                ApprovalRow {
                    seq: r.get(0),
                    alert_id: r.get(1),
                    diff_sha256: r.get(2),
                    verdict: Verdict::parse(r.get::<_, &str>(3)),
                    actor: r.get(4),
                    at: r.get(5),
                    note: r.get(6),
                }
            })
            .collect();
        let rows = tx
            .query(
                &format!(
                    "SELECT seq, {} FROM tickets WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                    super::outbox::TICKET_COLUMNS
                ),
                &[&after_seq, &upto],
            )
            .await?;
        let tickets = rows
            .iter()
            .map(|r| {
                seq = seq.max(r.get::<_, i64>(0));
                super::outbox::ticket_at(r, 1)
            })
            .collect();
        tx.commit().await?;
        Ok(Pulled {
            alerts,
            history,
            approvals,
            tickets,
            seq,
            more,
        })
    }

    /// What a replica that lacks alerts `ids` missed of them up to its cursor `upto`: their
    /// vendor objects (a page sends an object only when it changed after the cursor) and
    /// their history lines and approvals with seq <= `upto` (lines of an alert the replica
    /// did not hold yet were passed over). Seqs up to a cursor are all committed (feed.rs),
    /// so this later snapshot holds exactly what was missed.
    pub async fn catch_up(&self, ids: &[String], upto: i64) -> Result<CaughtUp, TeamError> {
        let mut out = CaughtUp::default();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut client = self.client().await?;
        let tx = super::feed::snapshot(&mut client).await?;
        for r in tx
            .query("SELECT id, raw FROM alerts WHERE id = ANY($1)", &[&ids])
            .await?
        {
            out.raws.insert(r.get(0), r.get(1));
        }
        for r in tx
            .query(
                "SELECT alert_id, at, actor, kind, from_status, to_status, reason, note \
                 FROM history WHERE alert_id = ANY($1) AND seq <= $2 ORDER BY seq",
                &[&ids, &upto],
            )
            .await?
        {
            out.history.push(TeamHistory {
                alert_id: r.get(0),
                at: r.get(1),
                actor: r.get(2),
                kind: r.get(3),
                from_status: r.get(4),
                to_status: r.get(5),
                reason: r.get(6),
                note: r.get(7),
            });
        }
        for r in tx
            .query(
                "SELECT seq, alert_id, diff_sha256, verdict, actor, at, note FROM approvals \
                 WHERE alert_id = ANY($1) AND seq <= $2 ORDER BY seq",
                &[&ids, &upto],
            )
            .await?
        {
            out.approvals.push(ApprovalRow {
                seq: r.get(0),
                alert_id: r.get(1),
                diff_sha256: r.get(2),
                verdict: Verdict::parse(r.get::<_, &str>(3)),
                actor: r.get(4),
                at: r.get(5),
                note: r.get(6),
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The analyst side of one alert as the team store holds it now.
    pub async fn state(&self, id: &str) -> Result<Option<TeamState>, TeamError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {STATE_COLUMNS} FROM alerts WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.map(|r| state_from(&r, 0)))
    }

    /// How many alerts the team store holds.
    pub async fn alert_count(&self) -> Result<i64, TeamError> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT count(*) FROM alerts", &[])
            .await?
            .get(0))
    }
}

/// [`TeamStore::publish`] on a given connection or transaction (`store copy` publishes inside
/// its one transaction). Writes the queue's columns too (team migration 0004), and fills them in
/// on a row published before them (`mapped` false) even when its content has not changed.
pub(super) async fn publish_on<C: tokio_postgres::GenericClient + Sync>(
    client: &C,
    rows: &[PublishRow],
) -> Result<u64, TeamError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let text = |f: fn(&PublishRow) -> &str| -> Vec<&str> { rows.iter().map(f).collect() };
    let opt =
        |f: fn(&PublishRow) -> Option<&str>| -> Vec<Option<&str>> { rows.iter().map(f).collect() };
    let ids = text(|r| &r.id);
    let sources = text(|r| &r.source);
    let vendors = text(|r| &r.vendor);
    let raws = text(|r| &r.raw);
    let hashes = text(|r| &r.content_hash);
    let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let ranks: Vec<i16> = rows.iter().map(|r| r.severity_rank).collect();
    let imported: Vec<i64> = rows.iter().map(|r| r.imported_at).collect();
    let categories = text(|r| &r.queue.category);
    let titles = text(|r| &r.queue.title);
    let policy_ids = opt(|r| r.queue.policy_id.as_deref());
    let policy_names = opt(|r| r.queue.policy_name.as_deref());
    let severities = text(|r| &r.queue.severity);
    let resource_ids = opt(|r| r.queue.resource_id.as_deref());
    let resource_names = opt(|r| r.queue.resource_name.as_deref());
    let resource_types = opt(|r| r.queue.resource_type.as_deref());
    let clouds = opt(|r| r.queue.cloud.as_deref());
    let accounts = opt(|r| r.queue.account.as_deref());
    let regions = opt(|r| r.queue.region.as_deref());
    let derived: Vec<Derived> = rows.iter().map(|r| derive(&r.queue)).collect();
    let tag_keys: Vec<&str> = derived.iter().map(|d| d.tag_keys.as_str()).collect();
    let tag_pairs: Vec<&str> = derived.iter().map(|d| d.tag_pairs.as_str()).collect();
    let cves: Vec<&str> = derived.iter().map(|d| d.cves.as_str()).collect();
    let compliance: Vec<&str> = derived.iter().map(|d| d.compliance.as_str()).collect();
    let fts: Vec<&str> = derived.iter().map(|d| d.fts.as_str()).collect();
    let flag = |b: bool| i32::from(b);
    let exposed: Vec<Option<i32>> = rows
        .iter()
        .map(|r| r.queue.internet_facing.map(flag))
        .collect();
    let cve_ids = text(|r| &r.queue.cve_ids);
    let first_seen: Vec<Option<i64>> = rows.iter().map(|r| r.queue.first_seen).collect();
    let last_seen: Vec<Option<i64>> = rows.iter().map(|r| r.queue.last_seen).collect();
    let sort_time: Vec<i64> = rows.iter().map(|r| r.queue.sort_time).collect();
    let vendor_status = text(|r| &r.queue.vendor_status);
    let controls: Vec<i32> = rows.iter().map(|r| flag(r.queue.has_controls)).collect();
    let kev: Vec<i32> = rows.iter().map(|r| flag(r.queue.kev)).collect();
    let epss: Vec<Option<f64>> = rows.iter().map(|r| r.queue.epss).collect();
    let owners = opt(|r| r.queue.owner.as_deref());
    let changed: Vec<i64> = rows.iter().map(|r| r.changed_at).collect();
    // One sequence number per row for both seqs: the row's vendor side and its last
    // change are the same event. (A skipped row burns a number; the feed only needs order.)
    let n = client
        .execute(
            "INSERT INTO alerts AS a (id, source, vendor, raw, content_hash, score, \
             severity_rank, imported_at, seq, vendor_seq, mapped, category, title, policy_id, \
             policy_name, severity, resource_id, resource_name, resource_type, cloud, account, \
             region, tag_keys, tag_pairs, internet_facing, cve_ids, cves, compliance, \
             first_seen, last_seen, sort_time, vendor_status, has_controls, kev, epss, owner, \
             changed_at, fts) \
             SELECT id, source, vendor, raw, hash, score, rank, imported, s, s, true, category, \
             title, policy_id, policy_name, severity, resource_id, resource_name, resource_type, \
             cloud, account, region, \
             ARRAY(SELECT jsonb_array_elements_text(tag_keys::jsonb)), \
             ARRAY(SELECT jsonb_array_elements_text(tag_pairs::jsonb)), internet_facing, \
             cve_ids, ARRAY(SELECT jsonb_array_elements_text(cves::jsonb)), \
             ARRAY(SELECT jsonb_array_elements_text(compliance::jsonb)), first_seen, \
             last_seen, sort_time, vendor_status, has_controls, kev, epss, owner, changed_at, \
             fts::tsvector FROM ( \
               SELECT *, nextval('change_seq') AS s FROM unnest($1::text[], $2::text[], \
               $3::text[], $4::text[], $5::text[], $6::float8[], $7::int2[], $8::int8[], \
               $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
               $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], \
               $21::text[], $22::int4[], $23::text[], $24::text[], $25::text[], $26::int8[], \
               $27::int8[], $28::int8[], $29::text[], $30::int4[], $31::int4[], $32::float8[], \
               $33::text[], $34::int8[], $35::text[]) \
               AS u(id, source, vendor, raw, hash, score, rank, imported, category, title, \
               policy_id, policy_name, severity, resource_id, resource_name, resource_type, \
               cloud, account, region, tag_keys, tag_pairs, internet_facing, cve_ids, cves, \
               compliance, first_seen, last_seen, sort_time, vendor_status, has_controls, kev, \
               epss, owner, changed_at, fts)) v \
             ON CONFLICT (id) DO UPDATE SET source = excluded.source, \
             vendor = excluded.vendor, raw = excluded.raw, \
             content_hash = excluded.content_hash, score = excluded.score, \
             severity_rank = excluded.severity_rank, seq = excluded.seq, \
             vendor_seq = excluded.vendor_seq, mapped = true, category = excluded.category, \
             title = excluded.title, policy_id = excluded.policy_id, \
             policy_name = excluded.policy_name, severity = excluded.severity, \
             resource_id = excluded.resource_id, resource_name = excluded.resource_name, \
             resource_type = excluded.resource_type, cloud = excluded.cloud, \
             account = excluded.account, region = excluded.region, \
             tag_keys = excluded.tag_keys, tag_pairs = excluded.tag_pairs, \
             internet_facing = excluded.internet_facing, cve_ids = excluded.cve_ids, \
             cves = excluded.cves, compliance = excluded.compliance, \
             first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
             sort_time = excluded.sort_time, vendor_status = excluded.vendor_status, \
             has_controls = excluded.has_controls, kev = excluded.kev, epss = excluded.epss, \
             owner = excluded.owner, changed_at = excluded.changed_at, fts = excluded.fts \
             WHERE a.content_hash <> excluded.content_hash OR a.score <> excluded.score \
             OR NOT a.mapped",
            &[
                &ids,
                &sources,
                &vendors,
                &raws,
                &hashes,
                &scores,
                &ranks,
                &imported,
                &categories,
                &titles,
                &policy_ids,
                &policy_names,
                &severities,
                &resource_ids,
                &resource_names,
                &resource_types,
                &clouds,
                &accounts,
                &regions,
                &tag_keys,
                &tag_pairs,
                &exposed,
                &cve_ids,
                &cves,
                &compliance,
                &first_seen,
                &last_seen,
                &sort_time,
                &vendor_status,
                &controls,
                &kev,
                &epss,
                &owners,
                &changed,
                &fts,
            ],
        )
        .await?;
    Ok(n)
}

/// The forms the team store's filters compare with, computed from a row's columns the way
/// the SQLite store keeps them (`alert_tags`, `alert_cves`, `alerts_fts`). Each list is a
/// JSON array of strings (the statement unpacks it), so no vendor text needs a separator.
struct Derived {
    /// ASCII-lower-cased tag keys.
    tag_keys: String,
    /// `["key","value"]` (JSON text), both ASCII-lower-cased: [`tag_pair`].
    tag_pairs: String,
    cves: String,
    /// `' ' || lower(standard) || ' '` per compliance entry, as SQLite's filter builds it.
    compliance: String,
    /// The `tsvector` literal of title, resource and policy.
    fts: String,
}

/// One tag as the team store's `tag_pairs` holds it (the filter builds the same string).
pub(super) fn tag_pair(key: &str, value: &str) -> String {
    serde_json::Value::from(vec![key.to_ascii_lowercase(), value.to_ascii_lowercase()]).to_string()
}

/// A JSON value as SQLite's `json_each` gives it to `lower()`: strings bare, NULL empty,
/// booleans 1/0, anything else its JSON text.
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Bool(b) => i32::from(*b).to_string(),
        other => other.to_string(),
    }
}

fn derive(q: &crate::store::QueueColumns) -> Derived {
    use serde_json::Value;
    let list = |v: Vec<String>| Value::from(v).to_string();
    let tags = match serde_json::from_str::<Value>(&q.tags_json) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let tag_keys = tags.keys().map(|k| k.to_ascii_lowercase()).collect();
    let tag_pairs = tags
        .iter()
        .map(|(k, v)| tag_pair(k, &json_text(v)))
        .collect();
    let cves = q.cve_ids.split_whitespace().map(str::to_string).collect();
    let compliance = match serde_json::from_str::<Value>(&q.compliance_json) {
        Ok(Value::Array(items)) => items
            .iter()
            .map(|c| {
                let name = c.get("standard").map(json_text).unwrap_or_default();
                format!(" {} ", name.to_ascii_lowercase())
            })
            .collect(),
        _ => Vec::new(),
    };
    let text = crate::store::words::index_text;
    let fts = super::text::tsvector(&[
        &text(&[Some(q.title.as_str())]),
        &text(&[
            q.resource_id.as_deref(),
            q.resource_name.as_deref(),
            q.resource_type.as_deref(),
        ]),
        &text(&[q.policy_id.as_deref(), q.policy_name.as_deref()]),
    ]);
    Derived {
        tag_keys: list(tag_keys),
        tag_pairs: list(tag_pairs),
        cves: list(cves),
        compliance: list(compliance),
        fts,
    }
}
