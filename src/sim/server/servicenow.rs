//! A loopback simulator of the ServiceNow Table API (docs: integrations.md §1.2):
//! `/api/now/table/{incident,change_request}` POST (201 + Location, `{"result":{…}}`), GET with
//! `sysparm_query` (`field=value`, `!=`, `LIKE`, `STARTSWITH`, `^`, `^OR`, `ORDERBY`,
//! `ORDERBYDESC`), `sysparm_fields`, `sysparm_limit`, `sysparm_offset`,
//! `sysparm_display_value`; GET/PATCH `/{sys_id}`; journal entries (`work_notes`, `comments`)
//! readable through `/api/now/table/sys_journal_field`; Basic auth; the error envelope
//! `{"error":{"message","detail"},"status":"failure"}`.
//!
//! Faults through [`TicketFaults`] (shared with the Jira simulator). No index lag: the table
//! API reads what was just written. Ground truth: [`ServiceNowSimHandle::records`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::Digest;

use super::jira::{TicketCounters, TicketFaults, WriteOp};
use super::{SimError, json_response};

type Record = Map<String, Value>;

const TABLES: [&str; 2] = ["incident", "change_request"];
const JOURNAL: &str = "sys_journal_field";

struct Db {
    tables: HashMap<String, Vec<Record>>,
    journal: Vec<Record>,
    seq: u64,
}

/// The simulator's state.
pub struct ServiceNowSim {
    db: Mutex<Db>,
    pub faults: TicketFaults,
    pub counters: TicketCounters,
    pub username: String,
    pub password: String,
    seed: u64,
    base_url: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ServiceNowSim {
    /// Every record of `table` (incident, change_request, sys_journal_field), in creation order.
    pub fn records(&self, table: &str) -> Vec<Record> {
        let db = lock(&self.db);
        if table == JOURNAL {
            return db.journal.clone();
        }
        db.tables.get(table).cloned().unwrap_or_default()
    }

    /// Records of `table` whose correlation_id is `fp`.
    pub fn with_correlation(&self, table: &str, fp: &str) -> Vec<Record> {
        self.records(table)
            .into_iter()
            .filter(|r| r.get("correlation_id").and_then(Value::as_str) == Some(fp))
            .collect()
    }

    /// Journal entries (work notes and comments) of one record.
    pub fn journal_of(&self, sys_id: &str) -> Vec<Record> {
        self.records(JOURNAL)
            .into_iter()
            .filter(|r| r.get("element_id").and_then(Value::as_str) == Some(sys_id))
            .collect()
    }
}

/// ServiceNow's error envelope.
fn sn_error(status: StatusCode, message: &str) -> Response {
    let detail = match status.as_u16() {
        401 => "Required to provide Auth information",
        404 => "Record doesn't exist or ACL restricts the record retrieval",
        429 => "Rate limit rule exceeded",
        _ => "",
    };
    json_response(
        status,
        &json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

/// A running ServiceNow simulator.
pub struct ServiceNowSimHandle {
    pub base_url: String,
    pub addr: SocketAddr,
    pub state: Arc<ServiceNowSim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ServiceNowSimHandle {
    pub fn username(&self) -> &str {
        &self.state.username
    }
    pub fn password(&self) -> &str {
        &self.state.password
    }
    pub fn records(&self, table: &str) -> Vec<Record> {
        self.state.records(table)
    }

    /// Environment a client needs: `SERVICENOW_PASSWORD`.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("SERVICENOW_PASSWORD".into(), self.state.password.clone())]
    }

    /// A ready `[tickets.servicenow]` table.
    pub fn tickets_toml(&self, table: &str) -> String {
        format!(
            "[tickets.servicenow]\nbase_url = \"{}\"\ntable = \"{table}\"\nusername = \"{}\"\npassword = {{ env = \"SERVICENOW_PASSWORD\" }}\nassignment_group = \"SOC\"\n",
            self.base_url, self.state.username
        )
    }
}

impl Drop for ServiceNowSimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// How to start the ServiceNow simulator.
#[derive(Debug, Clone)]
pub struct ServiceNowSimOptions {
    /// 0: any free port.
    pub port: u16,
    /// Seeds the password and the sys_ids.
    pub seed: u64,
}

impl Default for ServiceNowSimOptions {
    fn default() -> Self {
        ServiceNowSimOptions { port: 0, seed: 1 }
    }
}

/// Start on 127.0.0.1.
pub async fn start(opts: ServiceNowSimOptions) -> Result<ServiceNowSimHandle, SimError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|source| SimError::Bind {
            port: opts.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        port: opts.port,
        source,
    })?;
    let base_url = format!("http://{addr}");
    let state = Arc::new(ServiceNowSim {
        db: Mutex::new(Db {
            tables: HashMap::new(),
            journal: Vec::new(),
            seq: 0,
        }),
        faults: TicketFaults::default(),
        counters: TicketCounters::default(),
        username: "sitrep".into(),
        password: format!(
            "sn-sim-{:016x}",
            opts.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ),
        seed: opts.seed,
        base_url: base_url.clone(),
    });
    let router = Router::new()
        .route("/api/now/table/{table}", get(list).post(create))
        .route(
            "/api/now/table/{table}/{sys_id}",
            get(read).patch(update).put(update),
        )
        .with_state(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(ServiceNowSimHandle {
        base_url,
        addr,
        state,
        shutdown: Some(tx),
    })
}

async fn admit(st: &ServiceNowSim, headers: &HeaderMap) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", st.username, st.password))
    );
    if auth != want {
        st.counters.requests.fetch_add(1, Ordering::SeqCst);
        st.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        return Some(sn_error(StatusCode::UNAUTHORIZED, "User Not Authenticated"));
    }
    st.faults.gate(&st.counters, sn_error).await
}

fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn sys_id(seed: u64, seq: u64) -> String {
    let d = sha2::Sha256::digest(format!("{seed}:{seq}").as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// State labels for `sysparm_display_value`.
fn state_label(table: &str, code: &str) -> Option<&'static str> {
    Some(match (table, code) {
        ("incident", "1") => "New",
        ("incident", "2") => "In Progress",
        ("incident", "3") => "On Hold",
        ("incident", "6") => "Resolved",
        ("incident", "7") => "Closed",
        ("incident", "8") => "Canceled",
        ("change_request", "-5") => "New",
        ("change_request", "-4") => "Assess",
        ("change_request", "-3") => "Authorize",
        ("change_request", "-2") => "Scheduled",
        ("change_request", "-1") => "Implement",
        ("change_request", "0") => "Review",
        ("change_request", "3") => "Closed",
        ("change_request", "4") => "Canceled",
        _ => return None,
    })
}

fn active_for(table: &str, state: &str) -> bool {
    !matches!(
        (table, state),
        ("incident", "7" | "8") | ("change_request", "3" | "4")
    )
}

/// Render a record with `sysparm_fields` and `sysparm_display_value`.
fn shape(table: &str, r: &Record, q: &HashMap<String, String>) -> Value {
    let fields: Option<Vec<&str>> = q.get("sysparm_fields").map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    let display = q
        .get("sysparm_display_value")
        .map(String::as_str)
        .unwrap_or("false");
    let mut out = Map::new();
    for (k, v) in r {
        if fields.as_ref().is_some_and(|f| !f.contains(&k.as_str())) {
            continue;
        }
        let text = v.as_str().unwrap_or("").to_string();
        let label = if k == "state" {
            state_label(table, &text).map(str::to_string)
        } else {
            None
        }
        .unwrap_or_else(|| text.clone());
        let val = match display {
            "true" => json!(label),
            "all" => json!({"value": text, "display_value": label}),
            _ => v.clone(),
        };
        out.insert(k.clone(), val);
    }
    Value::Object(out)
}

/// One encoded-query condition.
struct Cond {
    field: String,
    op: String,
    value: String,
}

fn parse_cond(t: &str) -> Option<Cond> {
    let end = t
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
        .unwrap_or(t.len());
    let (field, rest) = t.split_at(end);
    for op in ["!=", ">=", "<=", "LIKE", "STARTSWITH", "=", ">", "<"] {
        if let Some(v) = rest.strip_prefix(op) {
            return Some(Cond {
                field: field.to_string(),
                op: op.to_string(),
                value: v.to_string(),
            });
        }
    }
    if rest == "ISEMPTY" || rest == "ISNOTEMPTY" {
        return Some(Cond {
            field: field.to_string(),
            op: rest.to_string(),
            value: String::new(),
        });
    }
    None
}

fn cond_matches(c: &Cond, r: &Record) -> bool {
    let v = r.get(&c.field).and_then(Value::as_str).unwrap_or("");
    match c.op.as_str() {
        "=" => v == c.value,
        "!=" => v != c.value,
        "LIKE" => v.to_lowercase().contains(&c.value.to_lowercase()),
        "STARTSWITH" => v.starts_with(&c.value),
        "ISEMPTY" => v.is_empty(),
        "ISNOTEMPTY" => !v.is_empty(),
        op => {
            let (a, b) = (v.parse::<f64>(), c.value.parse::<f64>());
            match (a, b, op) {
                (Ok(a), Ok(b), ">") => a > b,
                (Ok(a), Ok(b), "<") => a < b,
                (Ok(a), Ok(b), ">=") => a >= b,
                (Ok(a), Ok(b), "<=") => a <= b,
                _ => false,
            }
        }
    }
}

/// AND of OR-groups, plus ordering.
struct EncodedQuery {
    groups: Vec<Vec<Cond>>,
    order: Option<(String, bool)>,
}

fn parse_query(q: &str) -> Result<EncodedQuery, String> {
    let mut groups: Vec<Vec<Cond>> = Vec::new();
    let mut order = None;
    for tok in q.split('^').filter(|t| !t.is_empty()) {
        if let Some(f) = tok.strip_prefix("ORDERBYDESC") {
            order = Some((f.to_string(), true));
        } else if let Some(f) = tok.strip_prefix("ORDERBY") {
            order = Some((f.to_string(), false));
        } else if tok == "NQ" {
            return Err("NQ (new query) is not supported by this simulator".into());
        } else if let Some(rest) = tok.strip_prefix("OR").filter(|_| !groups.is_empty()) {
            let c = parse_cond(rest).ok_or_else(|| format!("invalid condition '{rest}'"))?;
            if let Some(g) = groups.last_mut() {
                g.push(c);
            }
        } else {
            let c = parse_cond(tok).ok_or_else(|| format!("invalid condition '{tok}'"))?;
            groups.push(vec![c]);
        }
    }
    Ok(EncodedQuery { groups, order })
}

fn table_ok(table: &str, write: bool) -> bool {
    TABLES.contains(&table) || (!write && table == JOURNAL)
}

fn invalid_table(table: &str) -> Response {
    sn_error(
        StatusCode::BAD_REQUEST,
        &format!("Invalid table {}", crate::sanitize::one_line(table)),
    )
}

async fn list(
    State(st): State<Arc<ServiceNowSim>>,
    Path(table): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(&st, &headers).await {
        return r;
    }
    if !table_ok(&table, false) {
        return invalid_table(&table);
    }
    let query = match parse_query(q.get("sysparm_query").map(String::as_str).unwrap_or("")) {
        Ok(x) => x,
        Err(e) => return sn_error(StatusCode::BAD_REQUEST, &e),
    };
    st.counters.searches.fetch_add(1, Ordering::SeqCst);
    let limit: usize = q
        .get("sysparm_limit")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let offset: usize = q
        .get("sysparm_offset")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut hits: Vec<Record> = {
        let db = lock(&st.db);
        let rows = if table == JOURNAL {
            db.journal.clone()
        } else {
            db.tables.get(&table).cloned().unwrap_or_default()
        };
        rows.into_iter()
            .filter(|r| {
                query
                    .groups
                    .iter()
                    .all(|g| g.iter().any(|c| cond_matches(c, r)))
            })
            .collect()
    };
    if let Some((f, desc)) = &query.order {
        hits.sort_by(|a, b| {
            let (x, y) = (
                a.get(f).and_then(Value::as_str).unwrap_or(""),
                b.get(f).and_then(Value::as_str).unwrap_or(""),
            );
            if *desc { y.cmp(x) } else { x.cmp(y) }
        });
    }
    let total = hits.len();
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| shape(&table, r, &q))
        .collect();
    let mut resp = json_response(StatusCode::OK, &json!({"result": page}));
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        resp.headers_mut().insert("x-total-count", v);
    }
    resp
}

/// Journal fields are written to sys_journal_field, not stored on the record.
fn journal(db: &mut Db, table: &str, id: &str, body: &Map<String, Value>) -> usize {
    let mut n = 0;
    for element in ["work_notes", "comments"] {
        if let Some(text) = body
            .get(element)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            db.seq += 1;
            let mut e = Record::new();
            e.insert("sys_id".into(), json!(format!("j{:031x}", db.seq)));
            e.insert("element_id".into(), json!(id));
            e.insert("element".into(), json!(element));
            e.insert("name".into(), json!(table));
            e.insert("value".into(), json!(text));
            e.insert("sys_created_on".into(), json!(now_text()));
            db.journal.push(e);
            n += 1;
        }
    }
    n
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

async fn create(
    State(st): State<Arc<ServiceNowSim>>,
    Path(table): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = admit(&st, &headers).await {
        return r;
    }
    if !table_ok(&table, true) {
        return invalid_table(&table);
    }
    st.counters.create_requests.fetch_add(1, Ordering::SeqCst);
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return sn_error(
            StatusCode::BAD_REQUEST,
            "Exception while reading request: the body is not a JSON object",
        );
    };
    let record = {
        let mut db = lock(&st.db);
        db.seq += 1;
        let seq = db.seq;
        let id = sys_id(st.seed, seq);
        let (prefix, base, state) = if table == "incident" {
            ("INC", 10_000, "1")
        } else {
            ("CHG", 30_000, "-5")
        };
        let count = db.tables.get(&table).map_or(0, Vec::len) as u64;
        let mut r = Record::new();
        r.insert("sys_id".into(), json!(id));
        r.insert(
            "number".into(),
            json!(format!("{prefix}{:07}", base + count + 1)),
        );
        r.insert("state".into(), json!(state));
        r.insert("active".into(), json!("true"));
        r.insert("sys_created_on".into(), json!(now_text()));
        for (k, v) in &body {
            if k == "work_notes" || k == "comments" || k == "sys_id" || k == "number" {
                continue;
            }
            r.insert(k.clone(), json!(as_text(v)));
        }
        if let Some(s) = r.get("state").and_then(Value::as_str) {
            let a = active_for(&table, s);
            r.insert("active".into(), json!(a.to_string()));
        }
        journal(&mut db, &table, &id, &body);
        db.tables.entry(table.clone()).or_default().push(r.clone());
        r
    };
    st.counters.creates.fetch_add(1, Ordering::SeqCst);
    let out = json!({"result": shape(&table, &record, &q)});
    let fp = record
        .get("correlation_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(r) = st.faults.after_write(
        WriteOp::Create,
        &[fp],
        &st.counters,
        StatusCode::CREATED,
        &out,
        sn_error,
    ) {
        return r;
    }
    let mut resp = json_response(StatusCode::CREATED, &out);
    let id = record.get("sys_id").and_then(Value::as_str).unwrap_or("");
    if let Ok(v) = HeaderValue::from_str(&format!("{}/api/now/table/{table}/{id}", st.base_url)) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

async fn read(
    State(st): State<Arc<ServiceNowSim>>,
    Path((table, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(&st, &headers).await {
        return r;
    }
    if !table_ok(&table, false) {
        return invalid_table(&table);
    }
    let rec = lock(&st.db).tables.get(&table).and_then(|rows| {
        rows.iter()
            .find(|r| r.get("sys_id").and_then(Value::as_str) == Some(id.as_str()))
            .cloned()
    });
    match rec {
        Some(r) => json_response(StatusCode::OK, &json!({"result": shape(&table, &r, &q)})),
        None => sn_error(StatusCode::NOT_FOUND, "No Record found"),
    }
}

async fn update(
    State(st): State<Arc<ServiceNowSim>>,
    Path((table, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = admit(&st, &headers).await {
        return r;
    }
    if !table_ok(&table, true) {
        return invalid_table(&table);
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return sn_error(
            StatusCode::BAD_REQUEST,
            "Exception while reading request: the body is not a JSON object",
        );
    };
    let (record, notes, state_changed) = {
        let mut db = lock(&st.db);
        let Some(r) = db.tables.get_mut(&table).and_then(|rows| {
            rows.iter_mut()
                .find(|r| r.get("sys_id").and_then(Value::as_str) == Some(id.as_str()))
        }) else {
            return sn_error(StatusCode::NOT_FOUND, "No Record found");
        };
        let mut state_changed = false;
        for (k, v) in &body {
            if k == "work_notes" || k == "comments" || k == "sys_id" || k == "number" {
                continue;
            }
            if k == "state" {
                state_changed = true;
            }
            r.insert(k.clone(), json!(as_text(v)));
        }
        if let Some(s) = r.get("state").and_then(Value::as_str).map(str::to_string) {
            r.insert("active".into(), json!(active_for(&table, &s).to_string()));
        }
        let r = r.clone();
        let notes = journal(&mut db, &table, &id, &body);
        (r, notes, state_changed)
    };
    if notes > 0 {
        st.counters
            .comments
            .fetch_add(notes as u64, Ordering::SeqCst);
    }
    if state_changed {
        st.counters.transitions.fetch_add(1, Ordering::SeqCst);
    }
    let out = json!({"result": shape(&table, &record, &q)});
    let op = if notes > 0 {
        WriteOp::Comment
    } else {
        WriteOp::Update
    };
    if let Some(r) = st
        .faults
        .after_write(op, &[], &st.counters, StatusCode::OK, &out, sn_error)
    {
        return r;
    }
    json_response(StatusCode::OK, &out)
}
