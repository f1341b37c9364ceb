//! Credentials read from HashiCorp Vault's KV v2 engine: `{ vault = "secret/data/sitrep#key" }`
//! anywhere the config takes a secret (docs/configuration.md, "Secrets from Vault").
//!
//! ```toml
//! [vault]
//! addr = "https://vault.example.com:8200"
//! namespace = "soc"                         # Vault Enterprise / HCP namespaces (optional)
//! auth = "approle"                          # or "token" (the token from VAULT_TOKEN)
//! role_id = { env = "VAULT_ROLE_ID" }
//! secret_id = { env = "VAULT_SECRET_ID" }
//! ca_file = "/etc/ssl/vault-ca.pem"          # a private CA (optional)
//! ```
//!
//! A reference is read when the credential is needed (a sync, a delivery, `config check`), never
//! at config load: the console, `list`, `show` and every offline command work with Vault
//! unreachable. The value lives in memory only, for the request that needs it; it is never
//! written to disk, the cache, a log or an error. AppRole tokens are kept in memory, renewed
//! (`auth/token/renew-self`) once two thirds of their lease has passed, and replaced by a new
//! login when renewal fails or the lease ran out.
//!
//! The credential API (`CredentialRef::resolve`) is synchronous and called from async code, so
//! a read runs on a scoped thread of its own with a one-thread runtime: it never blocks the
//! caller's runtime from inside (which would panic) and needs no global client.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::duration::parse_duration;
use super::keyring::{KeyringEntry, KeyringStore, OsKeyring};
use super::secret::Secret;

/// How sitrep logs in to Vault.
#[derive(Debug, Clone, PartialEq)]
pub enum VaultAuth {
    /// A token given to sitrep (default: the `VAULT_TOKEN` environment variable), used as is.
    Token(CredentialRef),
    /// AppRole: `POST /v1/auth/<mount>/login` with a role id and a secret id.
    AppRole {
        mount: String,
        role_id: CredentialRef,
        secret_id: CredentialRef,
    },
}

/// The resolved `[vault]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct VaultConfig {
    /// Without a trailing slash.
    pub addr: String,
    pub namespace: Option<String>,
    pub auth: VaultAuth,
    /// A PEM bundle of extra trust anchors, read at config load.
    pub ca_file: Option<PathBuf>,
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVault {
    addr: Option<String>,
    namespace: Option<String>,
    auth: Option<String>,
    token: Option<RawCredential>,
    role_id: Option<RawCredential>,
    secret_id: Option<RawCredential>,
    approle_mount: Option<String>,
    ca_file: Option<String>,
    timeout: Option<String>,
}

/// Where a credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRef {
    Env(String),
    Keyring(KeyringEntry),
    Literal(Secret),
    /// A field of a HashiCorp Vault KV v2 secret (`config/vault.rs`), read when needed.
    Vault(VaultRef),
}

impl CredentialRef {
    /// Resolve now from the process environment or the OS keyring. The error names the
    /// variable or the entry, never a value.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, String> {
        self.resolve_in(env, &OsKeyring)
    }

    /// Resolve with an explicit keyring (tests use a map).
    pub fn resolve_in(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        keyring: &dyn KeyringStore,
    ) -> Result<Secret, String> {
        match self {
            CredentialRef::Literal(s) => Ok(s.clone()),
            CredentialRef::Env(var) => match env(var) {
                Some(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
                Some(_) => Err(format!("environment variable {var} is empty")),
                None => Err(format!("environment variable {var} is not set")),
            },
            CredentialRef::Keyring(entry) => match keyring.get(entry)? {
                Some(s) if !s.expose().trim().is_empty() => Ok(Secret::new(s.expose().trim())),
                Some(_) => Err(format!("keyring entry {entry} is empty")),
                None => Err(format!("keyring entry {entry} not found")),
            },
            CredentialRef::Vault(r) => r.read(),
        }
    }

    /// Where the credential comes from, for `sitrep config check` (never the value).
    pub fn describe(&self) -> String {
        match self {
            CredentialRef::Env(var) => format!("environment variable {var}"),
            CredentialRef::Keyring(entry) => format!("keyring entry {entry}"),
            CredentialRef::Literal(_) => "a literal in the config file".into(),
            CredentialRef::Vault(r) => format!("Vault secret {r}"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawCredential {
    Env { env: String },
    Keyring { keyring: String },
    Vault { vault: String },
    Literal(String),
}

/// A secret in Vault: a KV v2 path (`<mount>/data/<path>`) and the key inside its data.
#[derive(Clone)]
pub struct VaultRef {
    pub path: String,
    pub field: String,
    vault: Arc<Vault>,
}

impl PartialEq for VaultRef {
    fn eq(&self, other: &VaultRef) -> bool {
        self.path == other.path && self.field == other.field && self.vault.cfg == other.vault.cfg
    }
}

impl Eq for VaultRef {}

impl std::fmt::Debug for VaultRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaultRef({}#{})", self.path, self.field)
    }
}

impl std::fmt::Display for VaultRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.path, self.field)
    }
}

impl VaultRef {
    /// Read the secret now (blocking; safe to call from async code).
    pub fn read(&self) -> Result<Secret, String> {
        self.vault.read(&self.path, &self.field)
    }

    /// The client this reference reads through.
    pub fn vault(&self) -> &Arc<Vault> {
        &self.vault
    }
}

/// Split `mount/data/path#field`. Errors name the reference (never a value: it holds none).
pub fn parse_reference(s: &str) -> Result<(String, String), String> {
    let shown = crate::sanitize::one_line(s);
    let Some((path, field)) = s.rsplit_once('#') else {
        return Err(format!(
            "Vault reference '{shown}' must be MOUNT/data/PATH#FIELD, e.g. \"secret/data/sitrep#prisma_secret\""
        ));
    };
    let path = path.trim_matches('/');
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '@');
    if field.is_empty() || field.chars().any(char::is_control) {
        return Err(format!("Vault reference '{shown}' has no field after '#'"));
    }
    if !path.chars().all(ok_char) || path.contains("//") || path.split('/').any(|p| p == "..") {
        return Err(format!(
            "Vault reference '{shown}': the path may hold letters, digits and - _ . / @ only"
        ));
    }
    // KV v2 reads are `<mount>/data/<path>`: without `data/` this is a KV v1 path or a typo.
    let Some((mount, rest)) = path.split_once("/data/") else {
        return Err(format!(
            "Vault reference '{shown}' is not a KV v2 data path: write MOUNT/data/PATH (e.g. secret/data/sitrep)"
        ));
    };
    if mount.is_empty() || rest.is_empty() {
        return Err(format!(
            "Vault reference '{shown}' needs a mount before /data/ and a path after it"
        ));
    }
    Ok((path.to_string(), field.to_string()))
}

thread_local! {
    /// The `[vault]` client of the config being parsed on this thread (see [`Scope`]).
    static PARSING: RefCell<Option<Arc<Vault>>> = const { RefCell::new(None) };
}

/// While alive, `{ vault = … }` credentials parsed on this thread read through `vault`.
/// Each config's references carry its own client (tests parse several configs side by side),
/// and the section parsers need no extra parameter for it.
pub(super) struct Scope {
    prev: Option<Arc<Vault>>,
}

pub(super) fn scope(vault: Option<Arc<Vault>>) -> Scope {
    let prev = PARSING.with(|p| p.replace(vault));
    Scope { prev }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let prev = self.prev.take();
        PARSING.with(|p| *p.borrow_mut() = prev);
    }
}

/// The credential for `{ vault = "…" }` in the config being parsed.
pub(super) fn credential(reference: &str) -> Result<CredentialRef, String> {
    let (path, field) = parse_reference(reference)?;
    let vault = PARSING.with(|p| p.borrow().clone()).ok_or_else(|| {
        "{ vault = … } needs a [vault] table with addr (docs/configuration.md)".to_string()
    })?;
    Ok(CredentialRef::Vault(VaultRef { path, field, vault }))
}

/// A credential of the `[vault]` table itself: env, keyring or a literal in a private file.
fn own_credential(
    key: &str,
    raw: RawCredential,
    private: bool,
    path: &Path,
) -> Result<CredentialRef, (String, String)> {
    let at = || format!("[vault] {key}");
    match raw {
        RawCredential::Env { env } => Ok(CredentialRef::Env(env)),
        RawCredential::Keyring { keyring } => Ok(CredentialRef::Keyring(
            KeyringEntry::parse(&keyring).map_err(|e| (at(), e))?,
        )),
        RawCredential::Vault { .. } => Err((
            at(),
            "cannot come from Vault itself; use { env = \"VAR\" } or { keyring = \"SERVICE/USER\" }"
                .into(),
        )),
        RawCredential::Literal(v) => {
            if !private {
                return Err((
                    at(),
                    format!(
                        "{} holds a secret but is readable by group or others; run chmod 600 on it, or use {{ env = \"VAR\" }} or {{ keyring = \"SERVICE/USER\" }}",
                        path.display()
                    ),
                ));
            }
            Ok(CredentialRef::Literal(Secret::new(v.trim())))
        }
    }
}

/// Validate `[vault]`. Errors are `(key, message)`.
pub(super) fn resolve(
    raw: Option<RawVault>,
    private: bool,
    path: &Path,
) -> Result<Option<VaultConfig>, (String, String)> {
    let Some(r) = raw else { return Ok(None) };
    let one = crate::sanitize::one_line;
    let addr = r
        .addr
        .map(|a| a.trim().trim_end_matches('/').to_string())
        .ok_or_else(|| {
            (
                "[vault] addr".to_string(),
                "is required, e.g. \"https://vault.example.com:8200\"".to_string(),
            )
        })?;
    let loopback = ["http://127.", "http://localhost", "http://[::1]"];
    if !(addr.starts_with("https://") || loopback.iter().any(|p| addr.starts_with(p)))
        || reqwest::Url::parse(&addr).is_err()
    {
        return Err((
            "[vault] addr".into(),
            format!(
                "'{}' must be an https:// URL (plain http only for loopback)",
                one(&addr)
            ),
        ));
    }
    let namespace = match r.namespace.map(|n| n.trim().trim_matches('/').to_string()) {
        Some(n) if n.is_empty() => None,
        Some(n)
            if !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')) =>
        {
            return Err((
                "[vault] namespace".into(),
                format!(
                    "'{}' is not a namespace (letters, digits, - _ . /)",
                    one(&n)
                ),
            ));
        }
        other => other,
    };
    let auth = match r.auth.as_deref().map(str::trim).unwrap_or("token") {
        "token" => {
            if r.role_id.is_some() || r.secret_id.is_some() {
                return Err((
                    "[vault] auth".into(),
                    "role_id and secret_id are for auth = \"approle\"".into(),
                ));
            }
            let token = match r.token {
                Some(t) => own_credential("token", t, private, path)?,
                None => CredentialRef::Env("VAULT_TOKEN".into()),
            };
            VaultAuth::Token(token)
        }
        "approle" => {
            if r.token.is_some() {
                return Err((
                    "[vault] token".into(),
                    "is for auth = \"token\"; AppRole logs in with role_id and secret_id".into(),
                ));
            }
            let need = |k: &str, v: Option<RawCredential>| {
                v.ok_or_else(|| {
                    (
                        format!("[vault] {k}"),
                        format!(
                            "is required with auth = \"approle\", e.g. {{ env = \"VAULT_{}\" }}",
                            k.to_uppercase()
                        ),
                    )
                })
            };
            let role_id = own_credential("role_id", need("role_id", r.role_id)?, true, path)?;
            let secret_id =
                own_credential("secret_id", need("secret_id", r.secret_id)?, private, path)?;
            let mount = r
                .approle_mount
                .unwrap_or_else(|| "approle".into())
                .trim()
                .trim_matches('/')
                .to_string();
            if mount.is_empty()
                || !mount
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
            {
                return Err((
                    "[vault] approle_mount".into(),
                    format!("'{}' is not a mount path", one(&mount)),
                ));
            }
            VaultAuth::AppRole {
                mount,
                role_id,
                secret_id,
            }
        }
        other => {
            return Err((
                "[vault] auth".into(),
                format!("'{}' is not token or approle", one(other)),
            ));
        }
    };
    let (ca_file, ca_pem) = match r.ca_file {
        None => (None, None),
        Some(f) => {
            let file = PathBuf::from(f.trim());
            let pem = std::fs::read(&file).map_err(|e| {
                (
                    "[vault] ca_file".to_string(),
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            if reqwest::Certificate::from_pem_bundle(&pem).map_or(true, |c| c.is_empty()) {
                return Err((
                    "[vault] ca_file".into(),
                    format!("{} holds no PEM certificate", file.display()),
                ));
            }
            (Some(file), Some(pem))
        }
    };
    let timeout = match r.timeout {
        None => Duration::from_secs(10),
        Some(t) => match parse_duration(&t) {
            Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(300) => d,
            _ => {
                return Err((
                    "[vault] timeout".into(),
                    format!("'{}' is not a duration from 1s to 5m", one(&t)),
                ));
            }
        },
    };
    Ok(Some(VaultConfig {
        addr,
        namespace,
        auth,
        ca_file,
        ca_pem,
        timeout,
    }))
}

/// A token sitrep logged in for (AppRole), with its lease.
struct Session {
    token: Secret,
    /// Renew (or log in again) from here on; None: the token does not expire.
    renew_at: Option<u64>,
    expires_at: Option<u64>,
    renewable: bool,
}

/// What went wrong talking to Vault; rendered into one line by [`Vault::read`].
#[derive(Debug)]
enum Failure {
    Sealed,
    Denied(String),
    NotFound,
    /// Another HTTP status, with Vault's `errors` (sanitized).
    Status(u16, String),
    /// No usable reply (connection, timeout, TLS), or a reply of the wrong shape.
    Other(String),
}

/// Counters tests read back (how often sitrep logged in and renewed).
#[derive(Debug, Default)]
pub struct VaultStats {
    pub logins: std::sync::atomic::AtomicU64,
    pub renewals: std::sync::atomic::AtomicU64,
}

/// The environment a client reads its own credentials from (tests pass a map).
pub type EnvFn = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A Vault client for one `[vault]` table: the config, the AppRole session, a clock.
pub struct Vault {
    cfg: VaultConfig,
    session: Mutex<Option<Session>>,
    /// Milliseconds on a monotonic scale (tests step it to reach a lease's renewal point).
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
    /// The process environment (tests pass a map).
    env: EnvFn,
    pub stats: VaultStats,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.cfg.addr)
    }
}

fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Vault {
    pub fn new(cfg: VaultConfig) -> Vault {
        Vault::with_world(
            cfg,
            Box::new(monotonic_ms),
            Box::new(|k| std::env::var(k).ok()),
        )
    }

    /// As [`Vault::new`] with an injected clock (ms) and environment.
    pub fn with_world(
        cfg: VaultConfig,
        clock: Box<dyn Fn() -> u64 + Send + Sync>,
        env: EnvFn,
    ) -> Vault {
        Vault {
            cfg,
            session: Mutex::new(None),
            clock,
            env,
            stats: VaultStats::default(),
        }
    }

    pub fn config(&self) -> &VaultConfig {
        &self.cfg
    }

    /// Read `field` of the KV v2 secret at `path` (blocking; safe from async code).
    pub fn read(&self, path: &str, field: &str) -> Result<Secret, String> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a runtime for Vault: {e}"))?;
                rt.block_on(self.read_async(path, field))
            })
            .join()
            .unwrap_or_else(|_| Err("the Vault read failed unexpectedly".into()))
        })
    }

    /// Read `field` of the KV v2 secret at `path`. The error is one line naming the address,
    /// the path and the field, never a token or a value.
    pub async fn read_async(&self, path: &str, field: &str) -> Result<Secret, String> {
        let at = format!("Vault {} secret {path}#{field}", self.cfg.addr);
        let http = self.http().map_err(|e| format!("{at}: {e}"))?;
        let mut relogged = false;
        loop {
            let logins = self.stats.logins.load(std::sync::atomic::Ordering::SeqCst);
            let token = self
                .token(&http)
                .await
                .map_err(|f| format!("{at}: {}", self.explain(f, "login")))?;
            let fresh = self.stats.logins.load(std::sync::atomic::Ordering::SeqCst) != logins;
            match self.kv_get(&http, &token, path).await {
                Ok(data) => return pick(&data, field).map_err(|e| format!("{at}: {e}")),
                // A kept AppRole token revoked or expired early: one fresh login, then give
                // up. A token just issued and refused is the policy speaking: no new login.
                Err(Failure::Denied(_)) if self.is_approle() && !relogged && !fresh => {
                    relogged = true;
                    self.forget();
                }
                Err(f) => return Err(format!("{at}: {}", self.explain(f, "read"))),
            }
        }
    }

    fn is_approle(&self) -> bool {
        matches!(self.cfg.auth, VaultAuth::AppRole { .. })
    }

    fn forget(&self) {
        if let Ok(mut s) = self.session.lock() {
            *s = None;
        }
    }

    fn explain(&self, f: Failure, what: &str) -> String {
        match f {
            Failure::Sealed => "Vault is sealed (HTTP 503); unseal it (vault operator unseal) and try again".into(),
            Failure::Denied(detail) if what == "login" => format!(
                "login refused ({}): check role_id, secret_id and the AppRole",
                if detail.is_empty() { "HTTP 403" } else { detail.as_str() }
            ),
            Failure::Denied(detail) if detail.is_empty() => "permission denied (HTTP 403): the token's policies do not allow reading this path".into(),
            Failure::Denied(detail) => format!(
                "permission denied (HTTP 403: {detail}): the token's policies do not allow reading this path"
            ),
            Failure::NotFound => "no such secret (HTTP 404): check the mount and path, or the latest version was deleted".into(),
            Failure::Status(code, detail) => format!("HTTP {code}: {detail}"),
            Failure::Other(s) => s,
        }
    }

    fn http(&self) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .timeout(self.cfg.timeout)
            .connect_timeout(self.cfg.timeout.min(Duration::from_secs(10)))
            // A redirect could carry X-Vault-Token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sitrep/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.cfg.ca_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("ca_file: {e}"))?;
            b = b.tls_certs_merge(certs);
        }
        b.build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))
    }

    fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        api: &str,
        token: Option<&Secret>,
    ) -> reqwest::RequestBuilder {
        let mut req = http
            .request(method, format!("{}/v1/{api}", self.cfg.addr))
            .header("X-Vault-Request", "true");
        if let Some(ns) = &self.cfg.namespace {
            req = req.header("X-Vault-Namespace", ns.as_str());
        }
        if let Some(t) = token
            && let Ok(mut v) = reqwest::header::HeaderValue::from_str(t.expose())
        {
            v.set_sensitive(true);
            req = req.header("X-Vault-Token", v);
        }
        req
    }

    /// Send and read a JSON reply; failures classified (the body's `errors`, sanitized).
    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::Other(crate::net::describe(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| Failure::Other(crate::net::describe(&e)))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let errors: Vec<String> = v["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| crate::sanitize::fit(&crate::sanitize::one_line(s), 160))
                    .collect()
            })
            .unwrap_or_default();
        match status {
            200..=299 => {
                if v.is_object() {
                    Ok(v)
                } else {
                    Err(Failure::Other(format!(
                        "HTTP {status} with a body that is not a JSON object"
                    )))
                }
            }
            503 if errors
                .iter()
                .any(|e| e.to_ascii_lowercase().contains("sealed")) =>
            {
                Err(Failure::Sealed)
            }
            403 => Err(Failure::Denied(errors.join("; "))),
            404 => Err(Failure::NotFound),
            _ => Err(Failure::Status(
                status,
                if errors.is_empty() {
                    crate::net::snippet(&body)
                } else {
                    errors.join("; ")
                },
            )),
        }
    }

    async fn kv_get(
        &self,
        http: &reqwest::Client,
        token: &Secret,
        path: &str,
    ) -> Result<Value, Failure> {
        let v = self
            .call(self.request(http, reqwest::Method::GET, path, Some(token)))
            .await?;
        match &v["data"]["data"] {
            Value::Object(_) => Ok(v["data"]["data"].clone()),
            // A deleted (not destroyed) latest version reads as data: null.
            Value::Null
                if !v["data"]["metadata"]["deletion_time"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty() =>
            {
                Err(Failure::NotFound)
            }
            _ => Err(Failure::Other(
                "the reply has no data.data object (is this a KV v2 mount?)".into(),
            )),
        }
    }

    fn resolve_own(&self, c: &CredentialRef, what: &str) -> Result<Secret, Failure> {
        c.resolve_in(&|k| (self.env)(k), &OsKeyring)
            .map_err(|e| Failure::Other(format!("{what}: {e}")))
    }

    /// The token to send: the configured one, or the AppRole session's (logging in or renewing
    /// as its lease asks).
    async fn token(&self, http: &reqwest::Client) -> Result<Secret, Failure> {
        let (mount, role_id, secret_id) = match &self.cfg.auth {
            VaultAuth::Token(c) => return self.resolve_own(c, "token"),
            VaultAuth::AppRole {
                mount,
                role_id,
                secret_id,
            } => (mount, role_id, secret_id),
        };
        let now = (self.clock)();
        let current = self.session.lock().ok().and_then(|s| {
            s.as_ref()
                .map(|s| (s.token.clone(), s.renew_at, s.expires_at, s.renewable))
        });
        if let Some((token, renew_at, expires_at, renewable)) = current {
            let expired = expires_at.is_some_and(|e| now >= e);
            let due = renew_at.is_some_and(|r| now >= r);
            if !due && !expired {
                return Ok(token);
            }
            if renewable && !expired {
                let req = self
                    .request(
                        http,
                        reqwest::Method::POST,
                        "auth/token/renew-self",
                        Some(&token),
                    )
                    .json(&serde_json::json!({}));
                if let Ok(v) = self.call(req).await {
                    self.stats
                        .renewals
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    self.keep(&v, token.clone(), now);
                    return Ok(token);
                }
                // A renewal refused (max TTL reached, token revoked): log in afresh below.
            }
        }
        let role_id = self.resolve_own(role_id, "role_id")?;
        let secret_id = self.resolve_own(secret_id, "secret_id")?;
        let req = self
            .request(
                http,
                reqwest::Method::POST,
                &format!("auth/{mount}/login"),
                None,
            )
            .json(&serde_json::json!({
                "role_id": role_id.expose(),
                "secret_id": secret_id.expose(),
            }));
        let v = match self.call(req).await {
            // Vault answers a bad role_id or secret_id with 400 "invalid role or secret ID".
            Err(Failure::Status(400, detail)) => return Err(Failure::Denied(detail)),
            other => other?,
        };
        let token = v["auth"]["client_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| Failure::Other("the login reply has no auth.client_token".into()))?;
        self.stats
            .logins
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.keep(&v, token.clone(), now);
        Ok(token)
    }

    /// Remember a token with the lease in `v["auth"]`.
    fn keep(&self, v: &Value, token: Secret, now: u64) {
        let lease_ms = v["auth"]["lease_duration"].as_u64().unwrap_or(0) * 1000;
        let renewable = v["auth"]["renewable"].as_bool().unwrap_or(false);
        let (renew_at, expires_at) = if lease_ms == 0 {
            (None, None)
        } else {
            // Renew with a third of the lease left: room for a slow Vault or a retry.
            (Some(now + lease_ms * 2 / 3), Some(now + lease_ms))
        };
        if let Ok(mut s) = self.session.lock() {
            *s = Some(Session {
                token,
                renew_at,
                expires_at,
                renewable,
            });
        }
    }
}

/// The string at `field` of a secret's data, or an error naming the fields there are.
fn pick(data: &Value, field: &str) -> Result<Secret, String> {
    match data.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Secret::new(s.trim())),
        Some(Value::String(_)) => Err(format!("field '{field}' is empty")),
        Some(_) => Err(format!("field '{field}' is not a string")),
        None => {
            let keys: Vec<String> = data
                .as_object()
                .map(|o| o.keys().map(|k| crate::sanitize::one_line(k)).collect())
                .unwrap_or_default();
            Err(format!(
                "the secret has no field '{}' (fields: {})",
                crate::sanitize::one_line(field),
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_kv2_paths_with_a_field() {
        assert_eq!(
            parse_reference("secret/data/sitrep#prisma_secret").unwrap(),
            ("secret/data/sitrep".into(), "prisma_secret".into())
        );
        assert_eq!(
            parse_reference("kv/team/data/soc/wiz#client-secret").unwrap(),
            ("kv/team/data/soc/wiz".into(), "client-secret".into())
        );
        for bad in [
            "secret/data/sitrep",
            "secret/sitrep#x",
            "secret/data/sitrep#",
            "/data/x#y",
            "secret/data/#y",
            "secret/data/../sys#y",
            "secret/data/a b#y",
            "secret/data/a?version=1#y",
        ] {
            let e = parse_reference(bad).unwrap_err();
            assert!(e.starts_with("Vault reference '"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_field_is_picked_or_the_fields_are_named() {
        let data = serde_json::json!({"a": "one", "b": 2, "c": " "});
        assert_eq!(pick(&data, "a").unwrap().expose(), "one");
        assert_eq!(pick(&data, "b").unwrap_err(), "field 'b' is not a string");
        assert_eq!(pick(&data, "c").unwrap_err(), "field 'c' is empty");
        assert_eq!(
            pick(&data, "z").unwrap_err(),
            "the secret has no field 'z' (fields: a, b, c)"
        );
    }
}
