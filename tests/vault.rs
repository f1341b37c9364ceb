//! Credentials from HashiCorp Vault (issue 22 part 3): `{ vault = "…" }` in the config, read
//! through the KV v2 API of the loopback simulator (`sim/server/vault.rs`) with token and
//! AppRole auth, namespaces, renewal, TLS with a private CA, and the errors a user sees for a
//! sealed Vault, a missing path, a refused policy and a missing field. The simulator is
//! checked by `hvac` (HashiCorp's community Python client) as a peer, and `sitrep sync` runs
//! against a vendor simulator with its credentials in Vault.

mod common;
#[path = "common/sim_process.rs"]
mod sim_process;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::Sandbox;
use serde_json::{Value, json};
use sim_process::SimProcess;
use sitrep::config::vault::Vault;
use sitrep::config::{Config, CredentialRef};
use sitrep::sim::server::vault::{AppRole, VaultCounters, VaultSimHandle, VaultSimOptions, start};

const ROLE_ID: &str = "3c1a7e6f-role-sitrep";
const SECRET_ID: &str = "8d2f0b4a-secret-id-value";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn sim(rt: &tokio::runtime::Runtime, tls: bool) -> VaultSimHandle {
    rt.block_on(start(VaultSimOptions {
        tls,
        ..VaultSimOptions::default()
    }))
    .expect("vault sim")
}

fn approle(ns: &str, paths: &[&str], ttl_s: u64) -> AppRole {
    AppRole {
        namespace: ns.into(),
        role_id: ROLE_ID.into(),
        secret_id: SECRET_ID.into(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        ttl: Duration::from_secs(ttl_s),
    }
}

fn config(text: &str) -> Result<Config, String> {
    Config::from_text(Some(Path::new("/tmp/sitrep-vault-test.toml")), text)
        .map_err(|e| e.to_string())
}

/// A Wiz source whose two credentials come from Vault, under `vault` (a `[vault]` table).
fn wiz_source(vault: &str, path: &str) -> String {
    format!(
        "{vault}\n[[source]]\nname = \"wiz-prod\"\nvendor = \"wiz\"\nbase_url = \"https://api.us1.app.wiz.io\"\n\
         [source.credentials]\nclient_id = {{ vault = \"{path}#client_id\" }}\nclient_secret = {{ vault = \"{path}#client_secret\" }}\n"
    )
}

fn token_table(addr: &str, token: &str) -> String {
    format!("[vault]\naddr = \"{addr}\"\nauth = \"token\"\ntoken = \"{token}\"\n")
}

fn approle_table(addr: &str, ns: &str) -> String {
    format!(
        "[vault]\naddr = \"{addr}\"\nnamespace = \"{ns}\"\nauth = \"approle\"\nrole_id = \"{ROLE_ID}\"\nsecret_id = \"{SECRET_ID}\"\n"
    )
}

fn secret(c: &Config, key: &str) -> Result<String, String> {
    c.sources[0].secret(key).map(|s| s.expose().to_string())
}

#[test]
fn token_auth_reads_kv2_fields_and_names_what_went_wrong() {
    let rt = runtime();
    let v = sim(&rt, false);
    let st = &v.state;
    st.put(
        "",
        "secret/data/sitrep/wiz",
        json!({"client_id": "wiz-id-1", "client_secret": "wiz-secret-1"}),
    );
    let c = config(&wiz_source(
        &token_table(&v.base_url, &st.root_token),
        "secret/data/sitrep/wiz",
    ))
    .expect("config");
    assert_eq!(
        c.sources[0]
            .credential("client_secret")
            .map(CredentialRef::describe),
        Some("Vault secret secret/data/sitrep/wiz#client_secret".to_string())
    );
    // Nothing is read at config load.
    assert_eq!(VaultCounters::get(&st.counters.reads), 0);
    assert_eq!(secret(&c, "client_id").as_deref(), Ok("wiz-id-1"));
    assert_eq!(secret(&c, "client_secret").as_deref(), Ok("wiz-secret-1"));
    assert_eq!(VaultCounters::get(&st.counters.reads), 2);
    // A new version is what the next read sees: read when needed, not cached.
    st.put(
        "",
        "secret/data/sitrep/wiz",
        json!({"client_id": "wiz-id-2", "client_secret": "wiz-secret-2"}),
    );
    assert_eq!(secret(&c, "client_secret").as_deref(), Ok("wiz-secret-2"));

    let addr = v.base_url.clone();
    let at = |path: &str, field: &str| {
        format!("source 'wiz-prod': credential {field}: Vault {addr} secret {path}#{field}: ")
    };
    // Missing field: the fields there are, never their values.
    let c2 = config(&wiz_source(
        &token_table(&addr, &st.root_token),
        "secret/data/sitrep/other",
    ))
    .expect("config");
    st.put(
        "",
        "secret/data/sitrep/other",
        json!({"id": "x1", "key": "x2"}),
    );
    assert_eq!(
        secret(&c2, "client_id").unwrap_err(),
        format!(
            "{}the secret has no field 'client_id' (fields: id, key)",
            at("secret/data/sitrep/other", "client_id")
        )
    );
    // Missing path.
    let c3 = config(&wiz_source(
        &token_table(&addr, &st.root_token),
        "secret/data/sitrep/none",
    ))
    .expect("config");
    assert_eq!(
        secret(&c3, "client_id").unwrap_err(),
        format!(
            "{}no such secret (HTTP 404): check the mount and path, or the latest version was deleted",
            at("secret/data/sitrep/none", "client_id")
        )
    );
    // A token Vault does not know: permission denied, and the token is not in the message.
    let c4 = config(&wiz_source(
        &token_table(&addr, "hvs.not-a-real-token"),
        "secret/data/sitrep/wiz",
    ))
    .expect("config");
    let e = secret(&c4, "client_id").unwrap_err();
    assert!(
        e.starts_with(&at("secret/data/sitrep/wiz", "client_id"))
            && e.contains("permission denied (HTTP 403")
            && !e.contains("hvs.not-a-real-token")
            && !e.contains('\n'),
        "{e}"
    );
    // Sealed: one line that says so.
    st.set_sealed(true);
    let e = secret(&c, "client_id").unwrap_err();
    assert_eq!(
        e,
        format!(
            "{}Vault is sealed (HTTP 503); unseal it (vault operator unseal) and try again",
            at("secret/data/sitrep/wiz", "client_id")
        )
    );
    let root = st.root_token.clone();
    assert!(!e.contains(&root));
    st.set_sealed(false);
    assert_eq!(secret(&c, "client_id").as_deref(), Ok("wiz-id-2"));
    // Deleted latest version: a 404 with metadata, reported as missing.
    let http = raw::delete(&v.base_url, &st.root_token, "secret/data/sitrep/wiz");
    assert_eq!(http, 204);
    assert!(
        secret(&c, "client_id")
            .unwrap_err()
            .contains("no such secret (HTTP 404)")
    );
    // Vault down: the address is named, nothing else.
    drop(v);
    let e = secret(&c, "client_id").unwrap_err();
    assert!(
        e.starts_with(&at("secret/data/sitrep/wiz", "client_id")),
        "{e}"
    );
}

/// `DELETE /v1/<path>` with a token (soft-deletes the latest KV v2 version).
mod raw {
    pub fn delete(base: &str, token: &str, path: &str) -> u16 {
        let url = format!("{base}/v1/{path}");
        let token = token.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async {
                ::reqwest::Client::new()
                    .delete(url)
                    .header("X-Vault-Token", token)
                    .send()
                    .await
                    .expect("delete")
                    .status()
                    .as_u16()
            })
        })
        .join()
        .expect("join")
    }
}

#[test]
fn approle_logs_in_inside_its_namespace_and_policies_bound_it() {
    let rt = runtime();
    let v = sim(&rt, false);
    let st = &v.state;
    st.add_approle(approle("soc", &["secret/data/sitrep/"], 3600));
    st.put(
        "soc",
        "secret/data/sitrep/wiz",
        json!({"client_id": "ns-id", "client_secret": "ns-secret"}),
    );
    // The same path in the root namespace holds something else: the namespace decides.
    st.put(
        "",
        "secret/data/sitrep/wiz",
        json!({"client_id": "root-id", "client_secret": "root-secret"}),
    );
    let c = config(&wiz_source(
        &approle_table(&v.base_url, "soc"),
        "secret/data/sitrep/wiz",
    ))
    .expect("config");
    assert_eq!(secret(&c, "client_id").as_deref(), Ok("ns-id"));
    assert_eq!(secret(&c, "client_secret").as_deref(), Ok("ns-secret"));
    // One login for both reads: the token is kept in memory.
    assert_eq!(VaultCounters::get(&st.counters.logins), 1);
    assert!(st.namespaces_seen().iter().all(|n| n == "soc"));

    // A path outside the role's policy: 403 with Vault's text, one line.
    st.put("soc", "secret/data/payments/db", json!({"client_id": "p"}));
    let c2 = config(&wiz_source(
        &approle_table(&v.base_url, "soc"),
        "secret/data/payments/db",
    ))
    .expect("config");
    let before = VaultCounters::get(&st.counters.logins);
    let e = secret(&c2, "client_id").unwrap_err();
    // Refused right after its login: the policy, not a stale token; no second login.
    assert_eq!(VaultCounters::get(&st.counters.logins), before + 1);
    assert!(
        e.ends_with("permission denied (HTTP 403: 1 error occurred: * permission denied): the token's policies do not allow reading this path"),
        "{e}"
    );
    // The role lives in "soc": logging in elsewhere is refused, without the ids in the text.
    let c3 = config(&wiz_source(
        &approle_table(&v.base_url, "other"),
        "secret/data/sitrep/wiz",
    ))
    .expect("config");
    let e = secret(&c3, "client_id").unwrap_err();
    assert!(
        e.ends_with(
            "login refused (invalid role or secret ID): check role_id, secret_id and the AppRole"
        ) && !e.contains(SECRET_ID)
            && !e.contains(ROLE_ID),
        "{e}"
    );
    // Tokens revoked behind sitrep's back: one fresh login, then the read succeeds.
    let before = VaultCounters::get(&st.counters.logins);
    st.revoke_all();
    assert_eq!(secret(&c, "client_id").as_deref(), Ok("ns-id"));
    assert_eq!(VaultCounters::get(&st.counters.logins), before + 1);
}

#[test]
fn approle_tokens_are_renewed_before_expiry_and_replaced_after() {
    let rt = runtime();
    let v = sim(&rt, false);
    let st = &v.state;
    st.add_approle(approle("", &["secret/data/sitrep/"], 60));
    st.put(
        "",
        "secret/data/sitrep/llm",
        json!({"api_key": "sk-test-1"}),
    );
    let c = config(&format!(
        "[vault]\naddr = \"{}\"\nauth = \"approle\"\nrole_id = \"{ROLE_ID}\"\nsecret_id = \"{SECRET_ID}\"\n",
        v.base_url
    ))
    .expect("config");
    // A clock the test steps: the lease is 60 s, renewal is due after 40 s.
    let now = Arc::new(AtomicU64::new(1_000));
    let clock = now.clone();
    let vault = Vault::with_world(
        c.vault.clone().expect("vault"),
        Box::new(move || clock.load(Ordering::SeqCst)),
        Box::new(|_| None),
    );
    let read = || {
        rt.block_on(vault.read_async("secret/data/sitrep/llm", "api_key"))
            .map(|s| s.expose().to_string())
    };
    assert_eq!(read().as_deref(), Ok("sk-test-1"));
    now.fetch_add(30_000, Ordering::SeqCst);
    assert_eq!(read().as_deref(), Ok("sk-test-1"));
    assert_eq!(VaultCounters::get(&st.counters.renewals), 0);
    now.fetch_add(15_000, Ordering::SeqCst);
    assert_eq!(read().as_deref(), Ok("sk-test-1"));
    assert_eq!(VaultCounters::get(&st.counters.renewals), 1);
    assert_eq!(vault.stats.renewals.load(Ordering::SeqCst), 1);
    assert_eq!(VaultCounters::get(&st.counters.logins), 1);
    // The renewed lease runs from the renewal: no second renewal right after.
    now.fetch_add(10_000, Ordering::SeqCst);
    assert_eq!(read().as_deref(), Ok("sk-test-1"));
    assert_eq!(VaultCounters::get(&st.counters.renewals), 1);
    // Past the lease: a fresh login, no renewal attempt of a dead token.
    now.fetch_add(120_000, Ordering::SeqCst);
    assert_eq!(read().as_deref(), Ok("sk-test-1"));
    assert_eq!(VaultCounters::get(&st.counters.logins), 2);
    assert_eq!(VaultCounters::get(&st.counters.renewals), 1);
}

#[test]
fn tls_with_a_private_ca_file() {
    let rt = runtime();
    let v = sim(&rt, true);
    assert!(v.base_url.starts_with("https://127.0.0.1:"));
    let st = &v.state;
    st.put(
        "",
        "secret/data/sitrep/wiz",
        json!({"client_id": "tls-id", "client_secret": "tls-secret"}),
    );
    let sb = Sandbox::new();
    let ca = sb.write("vault-ca.pem", v.ca_pem.as_deref().expect("ca"));
    let with_ca = format!(
        "{}ca_file = \"{}\"\n",
        token_table(&v.base_url, &st.root_token),
        ca.display()
    );
    let c = config(&wiz_source(&with_ca, "secret/data/sitrep/wiz")).expect("config");
    assert_eq!(secret(&c, "client_secret").as_deref(), Ok("tls-secret"));
    // Without the CA the certificate is not trusted: the read fails, naming no secret.
    let c = config(&wiz_source(
        &token_table(&v.base_url, &st.root_token),
        "secret/data/sitrep/wiz",
    ))
    .expect("config");
    let e = secret(&c, "client_secret").unwrap_err();
    assert!(!e.contains(&st.root_token) && !e.contains('\n'), "{e}");
    assert_eq!(VaultCounters::get(&st.counters.reads), 1);
}

#[test]
fn config_errors_name_the_key() {
    let err = |t: &str| config(t).expect_err("must fail");
    let file = "config file /tmp/sitrep-vault-test.toml";
    assert_eq!(
        err(&wiz_source("", "secret/data/sitrep/wiz")),
        format!(
            "{file}: [[source]] wiz-prod: credentials.client_id: {{ vault = … }} needs a [vault] table with addr (docs/configuration.md)"
        )
    );
    assert_eq!(
        err(&wiz_source(
            &token_table("https://vault.example", "t"),
            "secret/sitrep/wiz"
        )),
        format!(
            "{file}: [[source]] wiz-prod: credentials.client_id: Vault reference 'secret/sitrep/wiz#client_id' is not a KV v2 data path: write MOUNT/data/PATH (e.g. secret/data/sitrep)"
        )
    );
    assert_eq!(
        err("[vault]\naddr = \"http://vault.example:8200\"\n"),
        format!(
            "{file}: [vault] addr: 'http://vault.example:8200' must be an https:// URL (plain http only for loopback)"
        )
    );
    assert_eq!(
        err("[vault]\naddr = \"https://v.example\"\nauth = \"approle\"\nrole_id = \"r\"\n"),
        format!(
            "{file}: [vault] secret_id: is required with auth = \"approle\", e.g. {{ env = \"VAULT_SECRET_ID\" }}"
        )
    );
    assert_eq!(
        err("[vault]\naddr = \"https://v.example\"\nauth = \"ldap\"\n"),
        format!("{file}: [vault] auth: 'ldap' is not token or approle")
    );
    assert_eq!(
        err("[vault]\naddr = \"https://v.example\"\ntoken = { vault = \"secret/data/x#t\" }\n"),
        format!(
            "{file}: [vault] token: cannot come from Vault itself; use {{ env = \"VAR\" }} or {{ keyring = \"SERVICE/USER\" }}"
        )
    );
    assert!(
        err("[vault]\naddr = \"https://v.example\"\nca_file = \"/nonexistent/ca.pem\"\n")
            .starts_with(&format!(
                "{file}: [vault] ca_file: cannot read /nonexistent/ca.pem: "
            ))
    );
    // Other secrets take Vault references too: tickets, notifications, the LLM key, audit.
    let c = config(&format!(
        "{}\n[llm]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\napi_key = {{ vault = \"secret/data/sitrep/llm#key\" }}\n[audit]\nkey = {{ vault = \"secret/data/sitrep/audit#key\" }}\n[notify.slack]\nwebhook_url = {{ vault = \"secret/data/sitrep/slack#url\" }}\n",
        token_table("https://vault.example", "t")
    ))
    .expect("config");
    assert!(matches!(c.llm.api_key, Some(CredentialRef::Vault(_))));
    assert!(matches!(c.audit.key, Some(CredentialRef::Vault(_))));
    assert!(matches!(c.notify.slack, Some(CredentialRef::Vault(_))));
}

// ---------------------------------------------------------------------------------------
// hvac as a peer.

/// The peers venv's python (scripts/peer-sdks.sh), or None (skip) outside CI.
fn peers_python() -> Option<PathBuf> {
    common::cached_python(
        "SITREP_PEERS_PYTHON",
        "peers",
        Some("hvac"),
        "hvac in the peer SDK venv",
        "scripts/peer-sdks.sh install",
    )
}

fn hvac(python: &Path, url: &str, ns: &str, mode: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/vault_hvac.py");
    let out = Command::new(python)
        .arg(script)
        .args([url, ns, ROLE_ID, SECRET_ID, mode])
        .output()
        .expect("run hvac driver");
    assert!(
        out.status.success(),
        "hvac driver failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("driver JSON")
}

#[test]
fn hvac_logs_in_reads_and_writes_against_the_simulator() {
    let Some(python) = peers_python() else { return };
    let rt = runtime();
    let v = sim(&rt, false);
    let st = &v.state;
    st.add_approle(approle(
        "soc",
        &["secret/data/sitrep/", "secret/metadata/sitrep/"],
        1800,
    ));
    st.put("soc", "secret/data/sitrep/app", json!({"token": "v1"}));
    st.put(
        "soc",
        "secret/data/sitrep/app",
        json!({"token": "v2", "user": "svc"}),
    );
    let got = hvac(&python, &v.base_url, "soc", "normal");
    assert_eq!(
        got,
        json!({
            "sealed": false,
            "lease_duration": 1800,
            "renewable": true,
            "authenticated": true,
            "written_version": 1,
            "read_back": {"api_key": "written-by-hvac", "note": "peer"},
            "seeded": {"token": "v2", "user": "svc"},
            "seeded_version": 2,
            "versions": ["1", "2"],
            "renewed_lease": 1800,
            "missing_error": "InvalidPath",
            "denied_error": "Forbidden",
        })
    );
    assert!(st.namespaces_seen().iter().all(|n| n == "soc"));
    assert_eq!(
        st.get("soc", "secret/data/sitrep/from-hvac"),
        Some(json!({"api_key": "written-by-hvac", "note": "peer"}))
    );
    // What hvac wrote, sitrep reads through the same API.
    let c = config(&format!(
        "{}\n[llm]\nprovider = \"openai\"\nmodel = \"m\"\napi_key = {{ vault = \"secret/data/sitrep/from-hvac#api_key\" }}\n",
        approle_table(&v.base_url, "soc")
    ))
    .expect("config");
    let key = c.llm.api_key.as_ref().expect("key").resolve(&|_| None);
    assert_eq!(
        key.map(|k| k.expose().to_string()).as_deref(),
        Ok("written-by-hvac")
    );
    // Sealed: hvac sees the seal and gets VaultDown from the login; sitrep says it is sealed.
    st.set_sealed(true);
    let got = hvac(&python, &v.base_url, "soc", "sealed");
    assert_eq!(got, json!({"sealed": true, "login_error": "VaultDown"}));
}

// ---------------------------------------------------------------------------------------
// The real binary: a vendor sync whose credentials are in Vault.

#[test]
fn sync_and_config_check_read_vendor_credentials_from_vault() {
    let sb = Sandbox::new();
    let wiz = SimProcess::start(&sb, "wiz", 40, 7);
    let rt = runtime();
    let v = sim(&rt, false);
    let st = &v.state;
    st.add_approle(approle("soc", &["secret/data/sitrep/"], 600));
    let mut toml = wiz.source_toml();
    let mut data = serde_json::Map::new();
    let mut secrets = Vec::new();
    for (var, value) in wiz.env() {
        let field = var.to_ascii_lowercase();
        data.insert(field.clone(), Value::String(value.clone()));
        secrets.push(value);
        toml = toml.replace(
            &format!("{{ env = \"{var}\" }}"),
            &format!("{{ vault = \"secret/data/sitrep/wiz#{field}\" }}"),
        );
    }
    st.put("soc", "secret/data/sitrep/wiz", Value::Object(data));
    let table = format!(
        "[vault]\naddr = \"{}\"\nnamespace = \"soc\"\nauth = \"approle\"\nrole_id = {{ env = \"VAULT_ROLE_ID\" }}\nsecret_id = {{ env = \"VAULT_SECRET_ID\" }}\n",
        v.base_url
    );
    let cfg = sb.write("config.toml", &format!("{table}\n{toml}"));
    let run = |args: &[&str]| {
        let mut c = sb.cmd();
        c.env_remove("SITREP_NOW")
            .env("SITREP_CONFIG", &cfg)
            .env("VAULT_ROLE_ID", ROLE_ID)
            .env("VAULT_SECRET_ID", SECRET_ID);
        c.args(args).output().expect("run")
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let no_secret =
        |t: &str| secrets.iter().all(|s| !t.contains(s.as_str())) && !t.contains(SECRET_ID);

    let out = run(&["config", "check"]);
    let check = text(&out);
    let check_ok = out.status.success()
        && check.contains("Vault secret secret/data/sitrep/wiz#")
        && check.contains("(ok)")
        && no_secret(&check);
    let out = run(&["sync"]);
    let synced = text(&out);
    let sync_ok = out.status.success() && synced.contains("40 alert(s)") && no_secret(&synced);

    st.set_sealed(true);
    let out = run(&["sync"]);
    let sealed = text(&out);
    let sealed_code = out.status.code();
    drop(wiz);
    assert!(check_ok, "config check:\n{check}");
    assert!(sync_ok, "sync:\n{synced}");
    assert_eq!(sealed_code, Some(2), "{sealed}");
    assert!(
        sealed.contains("Vault is sealed (HTTP 503)") && no_secret(&sealed),
        "{sealed}"
    );
}
