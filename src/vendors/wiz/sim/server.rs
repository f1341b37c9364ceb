//! Wiz simulator: OAuth client credentials and a GraphQL endpoint.
//!
//! - `POST /oauth/token` (form-encoded `grant_type=client_credentials&audience=wiz-api&
//!   client_id&client_secret`) → `{access_token, expires_in, token_type: "Bearer"}`; wrong
//!   credentials → 401 `{"error": "access_denied", ...}`. Tokens live 24 h unless the fault plan
//!   says otherwise, and `expires_in` says how long.
//! - `POST /graphql` with `Authorization: Bearer` and `{"query", "variables"}`. One root field
//!   per operation, found by reading the operation text (selection sets are not evaluated: nodes
//!   are served whole, as the emitter renders them):
//!   - `issuesV2` / `issues` (alias kept as the response key): `filterBy` accepts `id`,
//!     `status`, `severity`, `type` and the date filters `createdAt`, `updatedAt`,
//!     `statusChangedAt`, `resolvedAt` (`{after, before}`, `after` inclusive at ms precision);
//!     `orderBy` `{field: CREATED_AT | STATUS_CHANGED_AT, direction}` (XSOAR's mirroring
//!     orders by `STATUS_CHANGED_AT`); `first` 1..=500; `after` a cursor.
//!   - `vulnerabilityFindings`: `filterBy` accepts `id`, `status`, `severity`, `updatedAt`
//!     (the finding's last detection); ordered by first detection.
//!   - `updateIssue(input: {id: $issueId, patch: $patch})`: patch `status` (OPEN, IN_PROGRESS,
//!     RESOLVED, REJECTED), `resolutionReason`, `note`, `dueAt`. REJECTED without a
//!     `resolutionReason` is refused (`BAD_USER_INPUT`): public integrations always send one
//!     (XSOAR's `reject_issue` requires it), so we model the API as needing it. The reason must
//!     be one of `FALSE_POSITIVE`, `WONT_FIX`, `EXCEPTION` (the values integrations are seen
//!     to use; the full enum is UNCONFIRMED).
//!   - `createIssueNote(input: $input)` with `{issueId, text}`.
//!
//!   Unknown root fields, unknown filter fields, bad enum values and bad cursors are answered
//!   like a GraphQL server: HTTP 200 with `errors[]` (code `GRAPHQL_VALIDATION_FAILED` or
//!   `BAD_USER_INPUT`) and `data: null`. Unknown ids: `NOT_FOUND`.
//! - Paging is keyset on (createdAt, id): the cursor is base64 JSON in Wiz's style
//!   (`{"fields":[{"Field":"Timestamp","Value":…},{"Field":"Id","Value":…}]}`), so a world that
//!   changes between pages neither skips nor repeats a node.
//! - Faults: the gate's 401 / 403 / 429 / 503 / truncation, its GraphQL-error flag served as a
//!   transient `errors[{extensions: {code: "INTERNAL"}}]` inside a 200, and `refuse=FIELD`:
//!   that `filterBy` field is answered as not defined by its type (a tenant whose schema
//!   lacks it).
//!
//! Notes created through the API are kept by the simulator and appended to the issue's
//! `notes[]`; they also touch the issue's `updatedAt`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use chrono::DateTime;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::emit;
use super::emit::status_changed_ms;
use crate::domain::{EpochMs, Vendor};
use crate::sim::server::{SimState, bearer, json_response};
use crate::sim::world::{RuleCategory, SevWord, SimFinding, SimStatus, World};

/// The largest `first` the simulator accepts (integrations use 500; Wiz's own limit is
/// UNCONFIRMED).
pub const MAX_PAGE: u64 = 500;
/// Token lifetime when the fault plan sets none (a third-party copy of Wiz docs shows 86400).
const TOKEN_TTL: Duration = Duration::from_secs(86_400);

const ISSUE_FILTERS: &[&str] = &[
    "id",
    "status",
    "severity",
    "type",
    "createdAt",
    "updatedAt",
    "statusChangedAt",
    "resolvedAt",
];
const VULN_FILTERS: &[&str] = &["id", "status", "severity", "updatedAt"];
/// `resolutionReason` values the simulator takes (those public integrations use; the full enum
/// is UNCONFIRMED).
const RESOLUTION_REASONS: &[&str] = &["FALSE_POSITIVE", "WONT_FIX", "EXCEPTION"];
const DATE_FILTERS: &[&str] = &["createdAt", "updatedAt", "statusChangedAt", "resolvedAt"];

struct Wiz {
    state: Arc<SimState>,
    /// Notes created through the API, by issue id.
    notes: Mutex<HashMap<String, Vec<Value>>>,
}

pub fn router(state: Arc<SimState>) -> Router {
    let wiz = Arc::new(Wiz {
        state,
        notes: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/oauth/token", post(token))
        .route("/graphql", post(graphql))
        .with_state(wiz)
}

/// `SITREP_SIM_WIZ_CLIENT_ID` / `SITREP_SIM_WIZ_CLIENT_SECRET`, derived from the seed.
pub fn credentials(seed: u64) -> Vec<(String, String)> {
    let mut rng = crate::rng::Rng::new(seed ^ 0x5749_5a5f_c1e7);
    let id = format!("sim{}", rng.hex(29));
    let secret = rng.hex(64);
    vec![
        ("SITREP_SIM_WIZ_CLIENT_ID".into(), id),
        ("SITREP_SIM_WIZ_CLIENT_SECRET".into(), secret),
    ]
}

pub fn source_toml(name: &str, base_url: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nvendor = \"wiz\"\nbase_url = \"{base_url}\"\n\
         auth_url = \"{base_url}/oauth/token\"\n\
         [source.credentials]\n\
         client_id = {{ env = \"SITREP_SIM_WIZ_CLIENT_ID\" }}\n\
         client_secret = {{ env = \"SITREP_SIM_WIZ_CLIENT_SECRET\" }}\n"
    )
}

// ---------------------------------------------------------------------------------------------
// OAuth

async fn token(State(wiz): State<Arc<Wiz>>, headers: HeaderMap, body: Bytes) -> Response {
    wiz.state.auth_request();
    let form_ct = crate::sim::server::header(&headers, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form_ct {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "Content-Type must be application/x-www-form-urlencoded"}),
        );
    }
    let form: HashMap<String, String> = form_decode(&String::from_utf8_lossy(&body));
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "unsupported_grant_type"}),
        );
    }
    if form.get("audience").map(String::as_str) != Some("wiz-api") {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "invalid audience"}),
        );
    }
    let creds = credentials(wiz.state.seed);
    let ok = form.get("client_id") == Some(&creds[0].1)
        && form.get("client_secret") == Some(&creds[1].1);
    if !ok {
        wiz.state
            .counters
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "access_denied", "error_description": "Unauthorized"}),
        );
    }
    let ttl = wiz.state.faults.token_ttl.unwrap_or(TOKEN_TTL);
    let access_token = wiz.state.issue_token(Some(ttl)).await;
    json_response(
        StatusCode::OK,
        &json!({"access_token": access_token, "expires_in": ttl.as_secs(), "token_type": "Bearer"}),
    )
}

fn form_decode(s: &str) -> HashMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// GraphQL

fn gql_errors(errors: Vec<Value>) -> Response {
    json_response(StatusCode::OK, &json!({"errors": errors, "data": null}))
}

fn gql_error(message: &str, code: &str) -> Response {
    gql_errors(vec![
        json!({"message": message, "extensions": {"code": code}}),
    ])
}

async fn graphql(State(wiz): State<Arc<Wiz>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = bearer(&headers).unwrap_or_default();
    let p = match wiz.state.gate(Some(&token)).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"errors": [{"message": "POST body must be JSON: {\"query\", \"variables\"}", "extensions": {"code": "BAD_REQUEST"}}]}),
        );
    };
    let Some(query) = req.get("query").and_then(Value::as_str) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"errors": [{"message": "Must provide query string.", "extensions": {"code": "BAD_REQUEST"}}]}),
        );
    };
    let empty = Value::Object(Map::new());
    let vars = match req.get("variables") {
        Some(v @ Value::Object(_)) => v,
        _ => &empty,
    };
    let Some(op) = root_field(query) else {
        return gql_error(
            "Syntax Error: could not find the operation's root field.",
            "GRAPHQL_PARSE_FAILED",
        );
    };
    if p.graphql_error {
        // Transient: what Wiz answers when a resolver times out or is throttled.
        return gql_errors(vec![json!({
            "message": "Internal server error, please try again later",
            "path": [op.alias],
            "extensions": {"code": "INTERNAL"},
        })]);
    }
    let result = match (op.mutation, op.field.as_str()) {
        (false, "issuesV2" | "issues") => wiz.issues(vars).await,
        (false, "vulnerabilityFindings") => wiz.vulns(vars).await,
        (true, "updateIssue") => wiz.update_issue(vars).await,
        (true, "createIssueNote") => wiz.create_note(vars).await,
        (m, f) => Err(vec![json!({
            "message": format!("Cannot query field \"{f}\" on type \"{}\".", if m { "Mutation" } else { "Query" }),
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        })]),
    };
    match result {
        Ok(v) => {
            let mut data = Map::new();
            data.insert(op.alias, v);
            wiz.state
                .respond(p, StatusCode::OK, &json!({ "data": data }))
        }
        Err(errors) => {
            let errors = errors
                .into_iter()
                .map(|mut e| {
                    if let Some(o) = e.as_object_mut() {
                        o.entry("path").or_insert_with(|| json!([op.field]));
                    }
                    e
                })
                .collect();
            gql_errors(errors)
        }
    }
}

struct Op {
    mutation: bool,
    alias: String,
    field: String,
}

/// The root field (and its alias) of a single-field operation.
fn root_field(query: &str) -> Option<Op> {
    let text: String = query
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let t = text.trim_start();
    let mutation = t.starts_with("mutation");
    let open = t.find('{')?;
    let rest = &t[open + 1..];
    let ident = |s: &str| -> (String, usize) {
        let s2 = s.trim_start();
        let skipped = s.len() - s2.len();
        let n = s2
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s2.len());
        (s2[..n].to_string(), skipped + n)
    };
    let (first, used) = ident(rest);
    if first.is_empty() {
        return None;
    }
    let after = rest[used..].trim_start();
    let (alias, field) = if let Some(r) = after.strip_prefix(':') {
        let (f, _) = ident(r);
        (first, f)
    } else {
        (first.clone(), first)
    };
    if field.is_empty() {
        return None;
    }
    Some(Op {
        mutation,
        alias,
        field,
    })
}

fn bad_input(message: String) -> Vec<Value> {
    vec![json!({"message": message, "extensions": {"code": "BAD_USER_INPUT"}})]
}

fn is_vuln(f: &SimFinding) -> bool {
    f.cve.is_some() && f.rule.category == RuleCategory::Vulnerability
}

fn status_word(s: SimStatus) -> &'static str {
    match s {
        SimStatus::Open => "OPEN",
        SimStatus::InProgress => "IN_PROGRESS",
        SimStatus::Resolved => "RESOLVED",
        SimStatus::Dismissed => "REJECTED",
    }
}

fn severity_word(s: SevWord) -> &'static str {
    match s {
        SevWord::Critical => "CRITICAL",
        SevWord::High => "HIGH",
        SevWord::Medium => "MEDIUM",
        SevWord::Low => "LOW",
        SevWord::Info => "INFORMATIONAL",
    }
}

fn issue_type(f: &SimFinding) -> &'static str {
    match f.rule.category {
        RuleCategory::Misconfiguration => "CLOUD_CONFIGURATION",
        RuleCategory::Runtime => "THREAT_DETECTION",
        _ => "TOXIC_COMBINATION",
    }
}

/// A parsed `filterBy`.
#[derive(Default)]
struct Filter {
    ids: Option<Vec<String>>,
    status: Option<Vec<String>>,
    severity: Option<Vec<String>>,
    types: Option<Vec<String>>,
    /// (field, after, before)
    dates: Vec<(String, Option<EpochMs>, Option<EpochMs>)>,
}

fn string_list(v: &Value, field: &str) -> Result<Vec<String>, Vec<Value>> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    bad_input(format!("Variable \"$filterBy\" got invalid value at \"filterBy.{field}\"; expected a list of strings."))
                })
            })
            .collect(),
        _ => Err(bad_input(format!(
            "Variable \"$filterBy\" got invalid value at \"filterBy.{field}\"; expected a list."
        ))),
    }
}

fn enum_list(
    v: &Value,
    field: &str,
    allowed: &[&str],
    type_name: &str,
) -> Result<Vec<String>, Vec<Value>> {
    let list = string_list(v, field)?;
    for x in &list {
        if !allowed.contains(&x.as_str()) {
            return Err(bad_input(format!(
                "Variable \"$filterBy\" got invalid value \"{x}\" at \"filterBy.{field}\"; Value \"{x}\" does not exist in \"{type_name}\" enum."
            )));
        }
    }
    Ok(list)
}

fn parse_filter(
    v: Option<&Value>,
    allowed: &[&str],
    refused: &[String],
    type_name: &str,
) -> Result<Filter, Vec<Value>> {
    let mut f = Filter::default();
    let obj = match v {
        None | Some(Value::Null) => return Ok(f),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(bad_input(format!(
                "Variable \"$filterBy\" got invalid value; Expected type \"{type_name}\" to be an object."
            )));
        }
    };
    for (k, val) in obj {
        if !allowed.contains(&k.as_str()) || refused.iter().any(|r| r == k) {
            return Err(bad_input(format!(
                "Variable \"$filterBy\" got invalid value {val} at \"filterBy.{k}\"; Field \"{k}\" is not defined by type \"{type_name}\"."
            )));
        }
        match k.as_str() {
            "id" => f.ids = Some(string_list(val, k)?),
            "status" => {
                f.status = Some(enum_list(
                    val,
                    k,
                    &["OPEN", "IN_PROGRESS", "RESOLVED", "REJECTED"],
                    "IssueStatus",
                )?)
            }
            "severity" => {
                f.severity = Some(enum_list(
                    val,
                    k,
                    &["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "NONE"],
                    "Severity",
                )?)
            }
            "type" => {
                f.types = Some(enum_list(
                    val,
                    k,
                    &[
                        "TOXIC_COMBINATION",
                        "THREAT_DETECTION",
                        "CLOUD_CONFIGURATION",
                    ],
                    "IssueType",
                )?)
            }
            d if DATE_FILTERS.contains(&d) => {
                let Some(o) = val.as_object() else {
                    return Err(bad_input(format!(
                        "Variable \"$filterBy\" got invalid value at \"filterBy.{d}\"; Expected type \"DateFilter\" to be an object."
                    )));
                };
                let mut after = None;
                let mut before = None;
                for (dk, dv) in o {
                    let t = match dv {
                        Value::Null => None,
                        Value::String(s) => Some(crate::sources::json::parse_time(s).ok_or_else(|| {
                            bad_input(format!(
                                "Variable \"$filterBy\" got invalid value \"{s}\" at \"filterBy.{d}.{dk}\"; DateTime cannot represent an invalid date-time-string."
                            ))
                        })?),
                        _ => {
                            return Err(bad_input(format!(
                                "Variable \"$filterBy\" got invalid value at \"filterBy.{d}.{dk}\"; DateTime must be a string."
                            )));
                        }
                    };
                    match dk.as_str() {
                        "after" => after = t,
                        "before" => before = t,
                        other => {
                            return Err(bad_input(format!(
                                "Variable \"$filterBy\" got invalid value at \"filterBy.{d}\"; Field \"{other}\" is not defined by type \"DateFilter\"."
                            )));
                        }
                    }
                }
                f.dates.push((d.to_string(), after, before));
            }
            _ => {}
        }
    }
    Ok(f)
}

impl Filter {
    fn matches(&self, world: &World, f: &SimFinding, vuln: bool) -> bool {
        if let Some(ids) = &self.ids {
            let id = emit::native_id(world, f);
            if !ids.contains(&id) {
                return false;
            }
        }
        if let Some(s) = &self.status
            && !s.iter().any(|x| x == status_word(f.status))
        {
            return false;
        }
        if let Some(s) = &self.severity
            && !s.iter().any(|x| x == severity_word(f.severity))
        {
            return false;
        }
        if let Some(t) = &self.types
            && (vuln || !t.iter().any(|x| x == issue_type(f)))
        {
            return false;
        }
        for (field, after, before) in &self.dates {
            let closed = matches!(f.status, SimStatus::Resolved | SimStatus::Dismissed);
            // As the emitter renders them.
            let t = match field.as_str() {
                "createdAt" => Some(f.created_ms),
                "updatedAt" => Some(f.updated_ms),
                "statusChangedAt" => Some(status_changed_ms(f)),
                "resolvedAt" => closed.then_some(f.updated_ms),
                _ => None,
            };
            let Some(t) = t else { return false };
            if after.is_some_and(|a| t < a) || before.is_some_and(|b| t > b) {
                return false;
            }
        }
        true
    }
}

fn wiz_time(ms: EpochMs) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

fn cursor_of(created_ms: EpochMs, id: &str) -> String {
    let json = json!({"fields": [
        {"Field": "Timestamp", "Value": wiz_time(created_ms)},
        {"Field": "Id", "Value": id},
    ]});
    base64_encode(json.to_string().as_bytes())
}

fn parse_cursor(c: &str) -> Option<(EpochMs, String)> {
    let bytes = base64_decode(c)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let fields = v.get("fields")?.as_array()?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|f| f.get("Field").and_then(Value::as_str) == Some(name))
            .and_then(|f| f.get("Value"))
            .and_then(Value::as_str)
    };
    let t = crate::sources::json::parse_time(get("Timestamp")?)?;
    Some((t, get("Id")?.to_string()))
}

/// `first` and `after` of a connection request.
/// A decoded cursor: (createdAt, id) of the last node served.
type Cursor = (EpochMs, String);

fn page_args(vars: &Value) -> Result<(usize, Option<Cursor>), Vec<Value>> {
    let first = match vars.get("first") {
        None | Some(Value::Null) => MAX_PAGE,
        Some(v) => v.as_u64().ok_or_else(|| {
            bad_input(
                "Variable \"$first\" got invalid value; Int cannot represent a non-integer value."
                    .into(),
            )
        })?,
    };
    if first == 0 || first > MAX_PAGE {
        return Err(bad_input(format!(
            "first must be between 1 and {MAX_PAGE}, got {first}"
        )));
    }
    let after = match vars.get("after") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(parse_cursor(s).ok_or_else(|| bad_input(format!("invalid cursor \"{s}\"")))?)
        }
        Some(_) => return Err(bad_input("Variable \"$after\" must be a string.".into())),
    };
    Ok((first as usize, after))
}

impl Wiz {
    async fn issues(&self, vars: &Value) -> Result<Value, Vec<Value>> {
        let refused = &self.state.faults.refused_filters;
        let filter = parse_filter(vars.get("filterBy"), ISSUE_FILTERS, refused, "IssueFilters")?;
        let (by_status_change, desc) = match vars.get("orderBy") {
            None | Some(Value::Null) => (false, false),
            Some(o) => {
                let by = match o.get("field").and_then(Value::as_str).unwrap_or("") {
                    "CREATED_AT" => false,
                    "STATUS_CHANGED_AT" => true,
                    field => {
                        return Err(bad_input(format!(
                            "Variable \"$orderBy\" got invalid value; the simulator orders by CREATED_AT or STATUS_CHANGED_AT only, got \"{field}\""
                        )));
                    }
                };
                match o.get("direction").and_then(Value::as_str) {
                    None | Some("ASC") => (by, false),
                    Some("DESC") => (by, true),
                    Some(d) => {
                        return Err(bad_input(format!(
                            "Value \"{d}\" does not exist in \"OrderDirection\" enum."
                        )));
                    }
                }
            }
        };
        let key = if by_status_change {
            status_changed_ms
        } else {
            |f: &SimFinding| f.created_ms
        };
        self.connection(vars, &filter, false, desc, key).await
    }

    async fn vulns(&self, vars: &Value) -> Result<Value, Vec<Value>> {
        let filter = parse_filter(
            vars.get("filterBy"),
            VULN_FILTERS,
            &self.state.faults.refused_filters,
            "VulnerabilityFindingFilters",
        )?;
        if vars.get("orderBy").is_some_and(|o| !o.is_null()) {
            return Err(bad_input(
                "the simulator serves vulnerability findings in first-detection order only".into(),
            ));
        }
        self.connection(vars, &filter, true, false, |f| f.created_ms)
            .await
    }

    /// One page of a connection, keyset-paged on (`key`, id).
    async fn connection(
        &self,
        vars: &Value,
        filter: &Filter,
        vuln: bool,
        desc: bool,
        key: fn(&SimFinding) -> EpochMs,
    ) -> Result<Value, Vec<Value>> {
        let (first, after) = page_args(vars)?;
        let world = self.state.world.read().await;
        let mut rows: Vec<(EpochMs, String, &SimFinding)> = world
            .findings_for(Vendor::Wiz)
            .filter(|f| is_vuln(f) == vuln && filter.matches(&world, f, vuln))
            .map(|f| (key(f), emit::native_id(&world, f), f))
            .collect();
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        if desc {
            rows.reverse();
        }
        let start = match &after {
            None => 0,
            Some((t, id)) => rows
                .iter()
                .position(|(rt, rid, _)| {
                    let k = (*rt, rid.as_str());
                    let c = (*t, id.as_str());
                    if desc { k < c } else { k > c }
                })
                .unwrap_or(rows.len()),
        };
        let page: Vec<&(EpochMs, String, &SimFinding)> =
            rows.iter().skip(start).take(first).collect();
        let has_next = start + page.len() < rows.len();
        let notes = self.notes.lock().await;
        let nodes: Vec<Value> = page
            .iter()
            .map(|(_, id, f)| {
                let mut node = emit::item(&world, f);
                if let Some(extra) = notes.get(id)
                    && let Some(Value::Array(list)) = node.get_mut("notes")
                {
                    list.extend(extra.iter().cloned());
                }
                node
            })
            .collect();
        let end_cursor = page.last().map(|(t, id, _)| cursor_of(*t, id));
        Ok(json!({
            "nodes": nodes,
            "pageInfo": {"hasNextPage": has_next, "endCursor": end_cursor},
        }))
    }

    async fn update_issue(&self, vars: &Value) -> Result<Value, Vec<Value>> {
        let id = vars
            .get("issueId")
            .or_else(|| vars.pointer("/input/id"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                bad_input("Variable \"$issueId\" of required type \"ID!\" was not provided.".into())
            })?
            .to_string();
        let patch = vars
            .get("patch")
            .or_else(|| vars.pointer("/input/patch"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for k in patch.keys() {
            if !["status", "resolutionReason", "note", "dueAt"].contains(&k.as_str()) {
                return Err(bad_input(format!(
                    "Field \"{k}\" is not defined by type \"UpdateIssuePatch\"."
                )));
            }
        }
        let new_status = match patch.get("status").and_then(Value::as_str) {
            None => None,
            Some("OPEN") => Some(SimStatus::Open),
            Some("IN_PROGRESS") => Some(SimStatus::InProgress),
            Some("RESOLVED") => Some(SimStatus::Resolved),
            Some("REJECTED") => Some(SimStatus::Dismissed),
            Some(s) => {
                return Err(bad_input(format!(
                    "Value \"{s}\" does not exist in \"IssueStatus\" enum."
                )));
            }
        };
        match patch.get("resolutionReason") {
            None | Some(Value::Null) if new_status == Some(SimStatus::Dismissed) => {
                return Err(bad_input(
                    "A resolutionReason is required to set an issue's status to REJECTED.".into(),
                ));
            }
            None | Some(Value::Null) => {}
            Some(r) => {
                let word = r.as_str().unwrap_or("");
                if !RESOLUTION_REASONS.contains(&word) {
                    return Err(bad_input(format!(
                        "Value \"{}\" does not exist in \"IssueResolutionReason\" enum.",
                        crate::sanitize::one_line(&r.to_string())
                    )));
                }
            }
        }
        let now = self.state.now_ms();
        let mut world = self.state.world.write().await;
        let Some(i) = issue_index(&world, &id) else {
            return Err(not_found());
        };
        let f = &mut world.findings[i];
        if let Some(s) = new_status {
            f.status = s;
        }
        f.updated_ms = now;
        let status = status_word(f.status);
        drop(world);
        if let Some(text) = patch
            .get("note")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
        {
            self.add_note(&id, text, now).await;
        }
        let notes = self
            .notes
            .lock()
            .await
            .get(&id)
            .cloned()
            .unwrap_or_default();
        Ok(json!({"issue": {
            "id": id,
            "status": status,
            "dueAt": patch.get("dueAt").cloned().unwrap_or(Value::Null),
            "resolutionReason": patch.get("resolutionReason").cloned().unwrap_or(Value::Null),
            "notes": notes,
        }}))
    }

    async fn create_note(&self, vars: &Value) -> Result<Value, Vec<Value>> {
        let input = vars.get("input").ok_or_else(|| {
            bad_input(
                "Variable \"$input\" of required type \"CreateIssueNoteInput!\" was not provided."
                    .into(),
            )
        })?;
        let id = input
            .get("issueId")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                bad_input("Field \"issueId\" of required type \"ID!\" was not provided.".into())
            })?
            .to_string();
        let text = input
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                bad_input("Field \"text\" of required type \"String!\" was not provided.".into())
            })?
            .to_string();
        let now = self.state.now_ms();
        {
            let mut world = self.state.world.write().await;
            let Some(i) = issue_index(&world, &id) else {
                return Err(not_found());
            };
            world.findings[i].updated_ms = now;
        }
        let note = self.add_note(&id, &text, now).await;
        self.state.record_comment(&id, &text);
        Ok(json!({"issueNote": note}))
    }

    async fn add_note(&self, issue: &str, text: &str, now: EpochMs) -> Value {
        let note = json!({
            "id": self.state.random_hex(32).await,
            "createdAt": wiz_time(now),
            "updatedAt": wiz_time(now),
            "text": text,
            "user": null,
            "serviceAccount": {"name": "sitrep"},
        });
        self.notes
            .lock()
            .await
            .entry(issue.to_string())
            .or_default()
            .push(note.clone());
        note
    }
}

/// The index of the issue (not a vulnerability finding) whose id is `id`.
fn issue_index(world: &World, id: &str) -> Option<usize> {
    world
        .findings
        .iter()
        .position(|f| f.vendor == Vendor::Wiz && !is_vuln(f) && emit::native_id(world, f) == id)
}

fn not_found() -> Vec<Value> {
    vec![json!({"message": "Issue not found", "extensions": {"code": "NOT_FOUND"}})]
}

/// Standard base64, padded on the way out; cursors read back with or without their padding.
const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    B64.encode(bytes)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    B64.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_fields_with_aliases() {
        let op = root_field("query IssuesTable($first: Int) {\n  issues: issuesV2(first: $first) { nodes { id } } }")
            .expect("op");
        assert_eq!(
            (op.mutation, op.alias.as_str(), op.field.as_str()),
            (false, "issues", "issuesV2")
        );
        let op = root_field(
            "mutation U($issueId: ID!) { updateIssue(input: {id: $issueId}) { issue { id } } }",
        )
        .expect("op");
        assert_eq!(
            (op.mutation, op.alias.as_str(), op.field.as_str()),
            (true, "updateIssue", "updateIssue")
        );
    }

    #[test]
    fn cursors_round_trip() {
        let c = cursor_of(1_692_777_369_903, "abc");
        assert_eq!(
            parse_cursor(&c),
            Some((1_692_777_369_903, "abc".to_string()))
        );
        assert_eq!(base64_decode("YWI="), Some(b"ab".to_vec()));
        assert_eq!(base64_decode("YWI"), Some(b"ab".to_vec()));
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_decode("Y?I="), None);
    }

    #[test]
    fn form_decoding() {
        let f = form_decode("grant_type=client_credentials&client_secret=a%2Bb%3D&x=y+z");
        assert_eq!(f.get("client_secret").map(String::as_str), Some("a+b="));
        assert_eq!(f.get("x").map(String::as_str), Some("y z"));
    }
}
