//! A loopback simulator of HashiCorp Vault's HTTP API, the parts sitrep and the `hvac` client
//! use (docs: developer.hashicorp.com/vault/api-docs):
//!
//! - KV v2 (`/v1/<mount>/data/<path>`): GET (`?version=N`) answers `data.data` and
//!   `data.metadata` (created_time, custom_metadata, deletion_time, destroyed, version); POST /
//!   PUT `{"data": {…}, "options": {"cas": N}}` writes a new version and answers its metadata;
//!   DELETE soft-deletes the latest version (a later read is a 404 whose body still carries the
//!   metadata, as Vault's is). `/v1/<mount>/metadata/<path>` GET answers the version history.
//! - AppRole `POST /v1/auth/approle/login` (`role_id`, `secret_id`) → `auth.client_token`,
//!   `lease_duration`, `renewable`; a bad pair is 400 `invalid role or secret ID`.
//! - `POST /v1/auth/token/renew-self`, `GET /v1/auth/token/lookup-self`.
//! - `GET /v1/sys/health` (200, or 503 with `sealed: true`), `GET /v1/sys/seal-status`.
//! - Sealed mode: every other call is 503 `{"errors":["Vault is sealed"]}`.
//! - Namespaces (`X-Vault-Namespace`): secrets and AppRole logins live in a namespace; a token
//!   is good in the namespace it was issued in (the root token everywhere); a token used in
//!   another namespace, or without a policy for the path, is 403 `permission denied`.
//!
//! Tokens carry path prefixes they may read and write (a stand-in for Vault's policies).
//! Errors use Vault's envelope `{"errors": [...]}`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::{SimError, json_response};
use crate::rng::Rng;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One version of a KV v2 secret.
#[derive(Debug, Clone)]
struct Version {
    data: Map<String, Value>,
    created: String,
    deleted: Option<String>,
}

#[derive(Debug, Clone)]
struct TokenInfo {
    namespace: String,
    /// Path prefixes (without `/v1/`) this token may use; `["*"]` for root.
    paths: Vec<String>,
    policies: Vec<String>,
    expires: Option<Instant>,
    ttl: Duration,
    renewable: bool,
    accessor: String,
    issued: String,
}

/// An AppRole: its ids, where it lives, what its tokens may read, how long they last.
#[derive(Debug, Clone)]
pub struct AppRole {
    pub namespace: String,
    pub role_id: String,
    pub secret_id: String,
    pub paths: Vec<String>,
    pub ttl: Duration,
}

/// What tests read back.
#[derive(Debug, Default)]
pub struct VaultCounters {
    pub logins: AtomicU64,
    pub renewals: AtomicU64,
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub lookups: AtomicU64,
    pub denied: AtomicU64,
    pub sealed_refusals: AtomicU64,
}

impl VaultCounters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }
}

/// The simulator's state.
pub struct VaultSim {
    /// (namespace, "mount/data/path" without "data/") → versions, oldest first.
    kv: Mutex<BTreeMap<(String, String), Vec<Version>>>,
    tokens: Mutex<HashMap<String, TokenInfo>>,
    approles: Mutex<Vec<AppRole>>,
    mounts: Vec<String>,
    pub sealed: AtomicBool,
    pub root_token: String,
    pub counters: VaultCounters,
    /// The `X-Vault-Namespace` of every request, in order ("" when absent).
    namespaces_seen: Mutex<Vec<String>>,
    rng: Mutex<Rng>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl VaultSim {
    /// Store `data` as a new version of `mount/data/path` (e.g. `secret/data/sitrep`) in
    /// `namespace` ("" for the root namespace), as a person with the CLI would.
    pub fn put(&self, namespace: &str, path: &str, data: Value) {
        let key = (namespace.to_string(), kv_key(path));
        let data = data.as_object().cloned().unwrap_or_default();
        lock(&self.kv).entry(key).or_default().push(Version {
            data,
            created: now_rfc3339(),
            deleted: None,
        });
    }

    /// The latest version's data of a secret (the ground truth), if it has a live one.
    pub fn get(&self, namespace: &str, path: &str) -> Option<Value> {
        let kv = lock(&self.kv);
        let v = kv.get(&(namespace.to_string(), kv_key(path)))?.last()?;
        v.deleted.is_none().then(|| Value::Object(v.data.clone()))
    }

    pub fn add_approle(&self, role: AppRole) {
        lock(&self.approles).push(role);
    }

    /// Revoke every token but the root token (a Vault restart or a `vault token revoke`).
    pub fn revoke_all(&self) {
        let root = self.root_token.clone();
        lock(&self.tokens).retain(|t, _| *t == root);
    }

    pub fn set_sealed(&self, sealed: bool) {
        self.sealed.store(sealed, Ordering::SeqCst);
    }

    pub fn namespaces_seen(&self) -> Vec<String> {
        lock(&self.namespaces_seen).clone()
    }

    fn new_token(&self, info: TokenInfo) -> String {
        let t = format!("hvs.{}", lock(&self.rng).hex(24));
        lock(&self.tokens).insert(t.clone(), info);
        t
    }

    fn accessor(&self) -> String {
        lock(&self.rng).hex(24)
    }
}

/// `secret/data/a/b` → `secret/a/b` (the key secrets are kept under).
fn kv_key(path: &str) -> String {
    let p = path.trim_matches('/');
    match p.split_once("/data/") {
        Some((m, rest)) => format!("{m}/{rest}"),
        None => p.to_string(),
    }
}

fn errors(status: StatusCode, msgs: &[&str]) -> Response {
    json_response(status, &json!({ "errors": msgs }))
}

fn denied(st: &VaultSim) -> Response {
    st.counters.denied.fetch_add(1, Ordering::SeqCst);
    // Vault's own text for a policy refusal.
    errors(
        StatusCode::FORBIDDEN,
        &["1 error occurred:\n\t* permission denied\n\n"],
    )
}

/// A running Vault simulator.
pub struct VaultSimHandle {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` (or https with `tls`).
    pub base_url: String,
    /// The CA a client must trust when serving TLS (PEM).
    pub ca_pem: Option<String>,
    pub state: Arc<VaultSim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for VaultSimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// How to start the Vault simulator.
#[derive(Debug, Clone)]
pub struct VaultSimOptions {
    /// 0: any free port.
    pub port: u16,
    /// Seeds the root token and the tokens issued.
    pub seed: u64,
    /// KV v2 mounts.
    pub mounts: Vec<String>,
    pub tls: bool,
}

impl Default for VaultSimOptions {
    fn default() -> Self {
        VaultSimOptions {
            port: 0,
            seed: 1,
            mounts: vec!["secret".into()],
            tls: false,
        }
    }
}

/// Start on 127.0.0.1.
pub async fn start(opts: VaultSimOptions) -> Result<VaultSimHandle, SimError> {
    let port = opts.port;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| SimError::Bind { port, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { port, source })?;
    let mut rng = Rng::new(opts.seed ^ 0x7A01_7A01);
    let root_token = format!("hvs.root{}", rng.hex(20));
    let state = Arc::new(VaultSim {
        kv: Mutex::new(BTreeMap::new()),
        tokens: Mutex::new(HashMap::new()),
        approles: Mutex::new(Vec::new()),
        mounts: opts.mounts.clone(),
        sealed: AtomicBool::new(false),
        root_token: root_token.clone(),
        counters: VaultCounters::default(),
        namespaces_seen: Mutex::new(Vec::new()),
        rng: Mutex::new(rng),
    });
    lock(&state.tokens).insert(
        root_token,
        TokenInfo {
            namespace: String::new(),
            paths: vec!["*".into()],
            policies: vec!["root".into()],
            expires: None,
            ttl: Duration::ZERO,
            renewable: false,
            accessor: state.accessor(),
            issued: now_rfc3339(),
        },
    );
    let router = Router::new()
        .route("/v1/{*rest}", any(handle))
        .with_state(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = rx.await;
    };
    let (base_url, ca_pem) = if opts.tls {
        let identity = super::tls::identity().map_err(SimError::Tls)?;
        let listener = super::tls::TlsListener::new(listener, &identity)
            .map_err(|source| SimError::Bind { port, source })?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await;
        });
        (format!("https://{addr}"), Some(identity.ca_pem))
    } else {
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await;
        });
        (format!("http://{addr}"), None)
    };
    Ok(VaultSimHandle {
        addr,
        base_url,
        ca_pem,
        state,
        shutdown: Some(tx),
    })
}

/// The token of a request, if it is one we issued and it has not expired.
fn token_of(st: &VaultSim, headers: &HeaderMap) -> Option<(String, TokenInfo)> {
    let t = headers.get("x-vault-token")?.to_str().ok()?.to_string();
    let tokens = lock(&st.tokens);
    let info = tokens.get(&t)?.clone();
    if info.expires.is_some_and(|e| e <= Instant::now()) {
        return None;
    }
    Some((t, info))
}

/// May a token issued in `info.namespace` use `path` in `namespace`?
fn allowed(info: &TokenInfo, namespace: &str, path: &str) -> bool {
    if info.paths.iter().any(|p| p == "*") {
        return true;
    }
    info.namespace == namespace && info.paths.iter().any(|p| path.starts_with(p.as_str()))
}

fn wrap(data: Value) -> Value {
    json!({
        "request_id": "00000000-0000-4000-8000-000000000000",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": null,
        "mount_type": "kv",
    })
}

fn auth_reply(token: &str, info: &TokenInfo) -> Value {
    json!({
        "request_id": "00000000-0000-4000-8000-000000000001",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": null,
        "wrap_info": null,
        "warnings": null,
        "auth": {
            "client_token": token,
            "accessor": info.accessor,
            "policies": info.policies,
            "token_policies": info.policies,
            "metadata": {"role_name": "sitrep"},
            "lease_duration": info.ttl.as_secs(),
            "renewable": info.renewable,
            "entity_id": "",
            "token_type": "service",
            "orphan": true,
            "mfa_requirement": null,
            "num_uses": 0,
        },
    })
}

fn health_body(sealed: bool) -> Value {
    json!({
        "initialized": true,
        "sealed": sealed,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": chrono::Utc::now().timestamp(),
        "version": "1.17.0+sim",
        "cluster_name": "sitrep-sim",
        "cluster_id": "00000000-0000-4000-8000-0000000000aa",
    })
}

async fn handle(
    State(st): State<Arc<VaultSim>>,
    Path(rest): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let namespace = headers
        .get("x-vault-namespace")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim_matches('/').to_string())
        .unwrap_or_default();
    lock(&st.namespaces_seen).push(namespace.clone());
    let sealed = st.sealed.load(Ordering::SeqCst);
    let path = rest.trim_matches('/').to_string();
    match (method.as_str(), path.as_str()) {
        ("GET" | "HEAD", "sys/health") => {
            let code = if sealed {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            return json_response(code, &health_body(sealed));
        }
        ("GET", "sys/seal-status") => {
            return json_response(
                StatusCode::OK,
                &json!({
                    "type": "shamir", "initialized": true, "sealed": sealed, "t": 1, "n": 1,
                    "progress": 0, "nonce": "", "version": "1.17.0+sim", "build_date": "2024-06-10T10:11:34Z",
                    "migration": false, "recovery_seal": false, "storage_type": "inmem",
                }),
            );
        }
        _ => {}
    }
    if sealed {
        st.counters.sealed_refusals.fetch_add(1, Ordering::SeqCst);
        return errors(StatusCode::SERVICE_UNAVAILABLE, &["Vault is sealed"]);
    }
    let json_body = || -> Option<Value> {
        if body.is_empty() {
            Some(json!({}))
        } else {
            serde_json::from_slice(&body).ok()
        }
    };
    if let Some(mount) = path
        .strip_prefix("auth/")
        .and_then(|p| p.strip_suffix("/login"))
        && method == Method::POST
    {
        let Some(req) = json_body() else {
            return errors(StatusCode::BAD_REQUEST, &["failed to parse JSON input"]);
        };
        if mount != "approle" {
            return errors(
                StatusCode::BAD_REQUEST,
                &[&format!(
                    "no handler for route \"auth/{mount}/login\". route entry not found."
                )],
            );
        }
        let role_id = req["role_id"].as_str().unwrap_or("");
        let secret_id = req["secret_id"].as_str().unwrap_or("");
        if role_id.is_empty() {
            return errors(StatusCode::BAD_REQUEST, &["missing role_id"]);
        }
        let role = lock(&st.approles)
            .iter()
            .find(|r| r.namespace == namespace && r.role_id == role_id && r.secret_id == secret_id)
            .cloned();
        let Some(role) = role else {
            return errors(StatusCode::BAD_REQUEST, &["invalid role or secret ID"]);
        };
        let info = TokenInfo {
            namespace: namespace.clone(),
            paths: role.paths.clone(),
            policies: vec!["default".into(), "sitrep".into()],
            expires: Some(Instant::now() + role.ttl),
            ttl: role.ttl,
            renewable: true,
            accessor: st.accessor(),
            issued: now_rfc3339(),
        };
        let token = st.new_token(info.clone());
        st.counters.logins.fetch_add(1, Ordering::SeqCst);
        return json_response(StatusCode::OK, &auth_reply(&token, &info));
    }
    let Some((token, info)) = token_of(&st, &headers) else {
        return denied(&st);
    };
    match (method.as_str(), path.as_str()) {
        ("POST" | "PUT", "auth/token/renew-self") => {
            if !info.renewable {
                return errors(StatusCode::BAD_REQUEST, &["lease is not renewable"]);
            }
            let increment = json_body()
                .and_then(|v| v["increment"].as_u64())
                .map(Duration::from_secs)
                .unwrap_or(info.ttl);
            let mut renewed = info.clone();
            renewed.ttl = increment;
            renewed.expires = Some(Instant::now() + increment);
            lock(&st.tokens).insert(token.clone(), renewed.clone());
            st.counters.renewals.fetch_add(1, Ordering::SeqCst);
            return json_response(StatusCode::OK, &auth_reply(&token, &renewed));
        }
        ("GET", "auth/token/lookup-self") => {
            st.counters.lookups.fetch_add(1, Ordering::SeqCst);
            let ttl = info
                .expires
                .map(|e| e.saturating_duration_since(Instant::now()).as_secs())
                .unwrap_or(0);
            return json_response(
                StatusCode::OK,
                &wrap(json!({
                    "accessor": info.accessor,
                    "creation_time": 0,
                    "creation_ttl": info.ttl.as_secs(),
                    "display_name": "approle",
                    "entity_id": "",
                    "expire_time": null,
                    "explicit_max_ttl": 0,
                    "id": token,
                    "issue_time": info.issued,
                    "meta": {"role_name": "sitrep"},
                    "num_uses": 0,
                    "orphan": true,
                    "path": "auth/approle/login",
                    "policies": info.policies,
                    "renewable": info.renewable,
                    "ttl": ttl,
                    "type": "service",
                    "namespace_path": if namespace.is_empty() { String::new() } else { format!("{namespace}/") },
                })),
            );
        }
        _ => {}
    }
    let Some((mount, kind, sub)) = kv_route(&st, &path) else {
        return errors(
            StatusCode::NOT_FOUND,
            &[&format!(
                "no handler for route \"{path}\". route entry not found."
            )],
        );
    };
    if !allowed(&info, &namespace, &path) {
        return denied(&st);
    }
    let key = (namespace.clone(), format!("{mount}/{sub}"));
    match (kind, method.as_str()) {
        ("data", "GET") => {
            st.counters.reads.fetch_add(1, Ordering::SeqCst);
            let kv = lock(&st.kv);
            let Some(versions) = kv.get(&key) else {
                return errors(StatusCode::NOT_FOUND, &[]);
            };
            let n = match q.get("version").map(|v| v.parse::<usize>()) {
                None | Some(Ok(0)) => versions.len(),
                Some(Ok(n)) => n,
                Some(Err(_)) => {
                    return errors(StatusCode::BAD_REQUEST, &["error parsing version"]);
                }
            };
            let Some(v) = n.checked_sub(1).and_then(|i| versions.get(i)) else {
                return errors(StatusCode::NOT_FOUND, &[]);
            };
            let metadata = json!({
                "created_time": v.created,
                "custom_metadata": null,
                "deletion_time": v.deleted.clone().unwrap_or_default(),
                "destroyed": false,
                "version": n,
            });
            if v.deleted.is_some() {
                // Vault answers a deleted version with 404 and the metadata.
                let mut body = wrap(json!({"data": null, "metadata": metadata}));
                body["errors"] = json!([]);
                return json_response(StatusCode::NOT_FOUND, &body);
            }
            json_response(
                StatusCode::OK,
                &wrap(json!({"data": v.data, "metadata": metadata})),
            )
        }
        ("data", "POST" | "PUT") => {
            let Some(req) = json_body() else {
                return errors(StatusCode::BAD_REQUEST, &["failed to parse JSON input"]);
            };
            let Some(data) = req["data"].as_object().cloned() else {
                return errors(StatusCode::BAD_REQUEST, &["no data provided"]);
            };
            let mut kv = lock(&st.kv);
            let versions = kv.entry(key).or_default();
            if let Some(cas) = req["options"]["cas"].as_u64()
                && cas as usize != versions.len()
            {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &["check-and-set parameter did not match the current version"],
                );
            }
            let created = now_rfc3339();
            versions.push(Version {
                data,
                created: created.clone(),
                deleted: None,
            });
            st.counters.writes.fetch_add(1, Ordering::SeqCst);
            json_response(
                StatusCode::OK,
                &wrap(json!({
                    "created_time": created,
                    "custom_metadata": null,
                    "deletion_time": "",
                    "destroyed": false,
                    "version": versions.len(),
                })),
            )
        }
        ("data", "DELETE") => {
            let mut kv = lock(&st.kv);
            if let Some(v) = kv.get_mut(&key).and_then(|v| v.last_mut()) {
                v.deleted = Some(now_rfc3339());
            }
            axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
        }
        ("metadata", "GET") => {
            let kv = lock(&st.kv);
            let Some(versions) = kv.get(&key) else {
                return errors(StatusCode::NOT_FOUND, &[]);
            };
            let mut vs = Map::new();
            for (i, v) in versions.iter().enumerate() {
                vs.insert(
                    (i + 1).to_string(),
                    json!({
                        "created_time": v.created,
                        "deletion_time": v.deleted.clone().unwrap_or_default(),
                        "destroyed": false,
                    }),
                );
            }
            let first = versions
                .first()
                .map(|v| v.created.clone())
                .unwrap_or_default();
            let last = versions
                .last()
                .map(|v| v.created.clone())
                .unwrap_or_default();
            json_response(
                StatusCode::OK,
                &wrap(json!({
                    "cas_required": false,
                    "created_time": first,
                    "current_version": versions.len(),
                    "custom_metadata": null,
                    "delete_version_after": "0s",
                    "max_versions": 0,
                    "oldest_version": 0,
                    "updated_time": last,
                    "versions": vs,
                })),
            )
        }
        _ => errors(StatusCode::METHOD_NOT_ALLOWED, &["unsupported operation"]),
    }
}

/// `mount/data/sub` or `mount/metadata/sub` on a KV v2 mount → (mount, kind, sub).
fn kv_route<'a>(st: &VaultSim, path: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
    st.mounts.iter().find_map(|m| {
        let rest = path.strip_prefix(m.as_str())?.strip_prefix('/')?;
        let (kind, sub) = rest.split_once('/')?;
        (matches!(kind, "data" | "metadata") && !sub.is_empty()).then_some((
            &path[..m.len()],
            kind,
            sub,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_keys_drop_the_data_segment() {
        assert_eq!(kv_key("secret/data/sitrep"), "secret/sitrep");
        assert_eq!(kv_key("/kv/team/data/a/b/"), "kv/team/a/b");
    }
}
