//! `sitrep listen`: the receiver on 127.0.0.1:0, in process and as the real binary, sent real
//! HTTP requests carrying each vendor's proof as docs/listen.md documents it. The proofs are
//! built here from the documentation (a bearer token, HTTP Basic, a URL parameter, a Standard
//! Webhooks HMAC), never by calling the receiver's own verification.

mod common;
#[path = "common/sim_source.rs"]
mod sim_source;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use sitrep::config::{Config, CredentialRef, ListenConfig, Secret};
use sitrep::domain::Vendor;
use sitrep::listen::{Running, Tally};
use sitrep::sim::world::World;
use sitrep::store::Store;

const WORLD_NOW: i64 = 1_760_000_000_000;

/// A Standard Webhooks key (`whsec_` + base64 of 32 bytes).
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw0123456789A=";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn secret_for(v: Vendor) -> String {
    match v {
        Vendor::CortexXdr => WHSEC.to_string(),
        _ => format!("hook-{}-Zq9x", v.as_str()),
    }
}

fn source_name(v: Vendor) -> String {
    format!("{}-push", v.as_str())
}

/// A config whose sources (one per vendor given) take webhooks, credentials as literals.
fn config(vendors: &[Vendor]) -> Config {
    let mut toml = String::new();
    for v in vendors {
        toml.push_str(&format!(
            "[[source]]\nname = \"{}\"\nvendor = \"{}\"\nbase_url = \"https://api.example.test\"\n[source.credentials]\n",
            source_name(*v),
            v.as_str()
        ));
        for c in v.credential_names() {
            toml.push_str(&format!("{c} = \"unused-for-pushes\"\n"));
        }
        toml.push_str(&format!("webhook_secret = \"{}\"\n", secret_for(*v)));
    }
    Config::from_text(None, &toml).expect("config")
}

fn listen_config(max_body_bytes: usize, rate_limit: f64, burst: u32) -> ListenConfig {
    ListenConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        tls: None,
        max_body_bytes,
        rate_limit,
        burst,
        report_every: Duration::from_secs(60),
    }
}

async fn start_on(db: &Path, config: &Config, cfg: &ListenConfig) -> Running {
    let routes = sitrep::listen::routes(config, &|_| None).expect("routes");
    let store = Store::open(db).expect("store");
    sitrep::listen::start(cfg, routes, store, now_ms)
        .await
        .expect("listen")
}

fn url(r: &Running, source: &str) -> String {
    format!("http://{}/webhook/{source}", r.addr)
}

/// A vendor's list body for the seeded world's findings of it.
fn body_for(v: Vendor, alerts: usize) -> Vec<u8> {
    let world = World::generate(7, alerts, WORLD_NOW);
    serde_json::to_vec(&sitrep::vendors::emit::vendor_body(v, &world)).expect("json")
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("key");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// Standard Webhooks headers, from the spec: `v1,` + base64(HMAC-SHA256(key, "id.ts.body")),
/// the key being the base64 after `whsec_`.
fn standard_webhooks(id: &str, ts: i64, body: &[u8], whsec: &str) -> Vec<(String, String)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(whsec.strip_prefix("whsec_").expect("whsec"))
        .expect("key");
    let ts_s = ts.to_string();
    let sig = hmac_sha256(&key, &[id.as_bytes(), b".", ts_s.as_bytes(), b".", body]);
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), ts_s),
        (
            "webhook-signature".into(),
            format!("v1,{}", b64.encode(sig)),
        ),
    ]
}

/// What each vendor documents its push carries, with `secret`.
fn proof(v: Vendor, secret: &str, body: &[u8]) -> (Vec<(String, String)>, String) {
    let b64 = base64::engine::general_purpose::STANDARD;
    match v {
        Vendor::PrismaCspm | Vendor::Orca => (
            vec![("authorization".into(), format!("Bearer {secret}"))],
            String::new(),
        ),
        Vendor::Wiz => (
            vec![("authorization".into(), format!("Bearer {secret}"))],
            String::new(),
        ),
        Vendor::PrismaCompute => (
            vec![(
                "authorization".into(),
                format!("Basic {}", b64.encode(format!("compute:{secret}"))),
            )],
            String::new(),
        ),
        Vendor::Lacework => (Vec::new(), format!("?api-token={secret}")),
        Vendor::CortexXdr => (
            standard_webhooks(&format!("msg_{}", now_ms()), now_ms() / 1000, body, secret),
            String::new(),
        ),
    }
}

async fn post(
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, Value, Option<String>) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.body(body).send().await.expect("send");
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, json, retry)
}

async fn push(r: &Running, v: Vendor, secret: &str, body: Vec<u8>) -> (u16, Value) {
    let (headers, query) = proof(v, secret, &body);
    let (status, json, _) = post(
        &format!("{}{query}", url(r, &source_name(v))),
        &headers,
        body,
    )
    .await;
    (status, json)
}

fn total(db: &Path) -> usize {
    Store::open(db).expect("store").total().expect("total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendors_push_is_verified_mapped_and_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("push.db");
    let r = start_on(
        &db,
        &config(&Vendor::ALL),
        &listen_config(4 << 20, 1000.0, 1000),
    )
    .await;
    let mut expected = 0;
    for v in Vendor::ALL {
        let body = body_for(v, 3);
        let mapped = sitrep::vendors::map_payload(
            v,
            &source_name(v),
            &serde_json::from_slice(&body).expect("json"),
        )
        .expect("maps");
        assert!(!mapped.is_empty(), "{v}");

        // The wrong secret, in the vendor's own form, and no proof at all.
        let wrong = match v {
            Vendor::CortexXdr => "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string(),
            _ => secret_for(v).replace('h', "H"),
        };
        let (status, json) = push(&r, v, &wrong, body.clone()).await;
        assert_eq!(status, 401, "{v}: {json}");
        assert!(!json.to_string().contains(&secret_for(v)), "{v}: {json}");
        let (status, _, _) = post(&url(&r, &source_name(v)), &[], body.clone()).await;
        assert_eq!(status, 401, "{v}");
        assert_eq!(total(&db), expected, "{v}: nothing written when refused");

        let (status, json) = push(&r, v, &secret_for(v), body).await;
        assert_eq!(status, 200, "{v}: {json}");
        assert_eq!(json["alerts"], mapped.len(), "{v}: {json}");
        assert_eq!(json["new"], mapped.len(), "{v}: {json}");
        expected += mapped.len();
        // Stored by the time the reply came: the reply waits for the commit.
        assert_eq!(total(&db), expected, "{v}");
        let store = Store::open(&db).expect("store");
        for a in &mapped {
            let stored = store.get(&a.id()).expect("get").expect("stored");
            assert_eq!(stored.alert.title, a.title, "{v}");
            assert_eq!(stored.alert.severity, a.severity, "{v}");
            assert_eq!(stored.alert.source, source_name(v), "{v}");
        }
    }
    let t = r.shutdown().await;
    assert_eq!(
        t,
        Tally {
            received: 18,
            accepted: 6,
            new: expected as u64,
            unverified: 12,
            ..Tally::default()
        }
    );
}

/// The vendor's simulator with 4 alerts of `seed`, and its source taking webhooks.
async fn sim_with_webhook(
    v: Vendor,
    seed: u64,
) -> (sitrep::sim::server::SimHandle, sitrep::config::SourceConfig) {
    let h = sitrep::vendors::sim::start(
        v,
        sitrep::sim::server::SimOptions {
            alerts: 4,
            seed,
            ..Default::default()
        },
    )
    .await
    .expect("sim");
    let mut source = sim_source::source_config(&h);
    source.credentials.insert(
        "webhook_secret".into(),
        CredentialRef::Literal(Secret::new(secret_for(v))),
    );
    (h, source)
}

/// One sync of `source` into the database at `db`; its report line.
async fn sync_into(source: &sitrep::config::SourceConfig, db: &Path) -> String {
    let store = std::sync::Arc::new(std::sync::Mutex::new(Store::open(db).expect("store")));
    sitrep::sources::sync::run(
        sitrep::vendors::connect,
        source,
        &store,
        false,
        now_ms(),
        std::sync::Arc::new(|_: &sitrep::sources::sync::Progress| {}),
    )
    .await
    .line()
}

/// The same finding synced from the vendor's API (its simulator) and pushed by webhook is
/// one alert: the push of what sync already stored changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_alert_and_the_synced_one_are_one_alert() {
    for v in Vendor::ALL {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("both.db");
        let (h, source) = sim_with_webhook(v, 3).await;
        let line = sync_into(&source, &db).await;
        let synced = total(&db);
        assert!(synced > 0, "{v}: {line}");

        let body = {
            let world = h.state.world.read().await;
            serde_json::to_vec(&sitrep::vendors::emit::vendor_body(v, &world)).expect("json")
        };
        let mut config = Config::defaults();
        config.sources = vec![source.clone()];
        let r = start_on(&db, &config, &listen_config(4 << 20, 1000.0, 1000)).await;
        let (headers, query) = proof(v, &secret_for(v), &body);
        let (status, json, _) =
            post(&format!("{}{query}", url(&r, &source.name)), &headers, body).await;
        assert_eq!(status, 200, "{v}: {json}");
        assert_eq!(json["new"], 0, "{v}: {json}");
        assert_eq!(json["updated"], 0, "{v}: {json}");
        assert_eq!(total(&db), synced, "{v}");
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_413_whether_declared_or_streamed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("big.db");
    let v = Vendor::Wiz;
    let r = start_on(&db, &config(&[v]), &listen_config(2048, 1000.0, 1000)).await;
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(4096)).into_bytes();
    let (status, json) = push(&r, v, &secret_for(v), big).await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["error"], "the body is larger than 2048 bytes");

    // No Content-Length: chunks until the limit is passed.
    let mut s = tokio::net::TcpStream::connect(r.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /webhook/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        source_name(v),
        secret_for(v)
    );
    s.write_all(head.as_bytes()).await.expect("head");
    for _ in 0..3 {
        let chunk = "y".repeat(1000);
        s.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
            .await
            .expect("chunk");
    }
    s.write_all(b"0\r\n\r\n").await.expect("end");
    let mut reply = String::new();
    s.read_to_string(&mut reply).await.expect("reply");
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(total(&db), 0);
    let t = r.shutdown().await;
    assert_eq!((t.received, t.too_large, t.accepted), (2, 2, 0));
}

/// Standard Webhooks deliveries (the Cortex XDR relay) carry a signed timestamp: the same
/// delivery twice, or one signed too long ago, is refused; the sender's retry (same id, new
/// timestamp) is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_stale_signed_deliveries_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("replay.db");
    let v = Vendor::CortexXdr;
    let r = start_on(&db, &config(&[v]), &listen_config(4 << 20, 1000.0, 1000)).await;
    let u = url(&r, &source_name(v));
    let body = body_for(v, 2);
    let now_s = now_ms() / 1000;
    let signed = standard_webhooks("msg_1", now_s, &body, WHSEC);
    let (status, json, _) = post(&u, &signed, body.clone()).await;
    assert_eq!(status, 200, "{json}");
    let (status, json, _) = post(&u, &signed, body.clone()).await;
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["error"], "this signed delivery was received before");

    let old = standard_webhooks("msg_2", now_s - 600, &body, WHSEC);
    let (status, _, _) = post(&u, &old, body.clone()).await;
    assert_eq!(status, 401);
    let future = standard_webhooks("msg_3", now_s + 600, &body, WHSEC);
    let (status, _, _) = post(&u, &future, body.clone()).await;
    assert_eq!(status, 401);
    // Signed with another key; and a body changed after signing.
    let other = standard_webhooks(
        "msg_4",
        now_s,
        &body,
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    let (status, _, _) = post(&u, &other, body.clone()).await;
    assert_eq!(status, 401);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (status, _, _) = post(&u, &signed, tampered).await;
    assert_eq!(status, 401);

    let retry = standard_webhooks("msg_1", now_s + 1, &body, WHSEC);
    let (status, json, _) = post(&u, &retry, body).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["new"], 0, "{json}");
    let t = r.shutdown().await;
    assert_eq!((t.accepted, t.unverified), (2, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_400_not_alerts_is_422_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("bad.db");
    let v = Vendor::PrismaCspm;
    let r = start_on(&db, &config(&[v]), &listen_config(4 << 20, 1000.0, 1000)).await;
    let (status, json) = push(&r, v, &secret_for(v), b"{\"items\": [".to_vec()).await;
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("the body is not JSON")),
        "{json}"
    );
    // JSON, but a Wiz issue sent to the Prisma route.
    let wiz = body_for(Vendor::Wiz, 1);
    let (status, json) = push(&r, v, &secret_for(v), wiz).await;
    assert_eq!(status, 422, "{json}");
    // A vendor's "test" message with no alert in it.
    let (status, json) = push(&r, v, &secret_for(v), b"[]".to_vec()).await;
    assert_eq!(status, 422, "{json}");
    // Garbage from someone without the secret is refused before it is parsed.
    let (status, _) = push(&r, v, "wrong", b"not json".to_vec()).await;
    assert_eq!(status, 401);
    let (status, json, _) = post(&url(&r, "no-such-source"), &[], b"{}".to_vec()).await;
    assert_eq!(status, 404, "{json}");
    assert_eq!(total(&db), 0);
    let t = r.shutdown().await;
    assert_eq!((t.malformed, t.unverified, t.accepted), (3, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_past_its_rate_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("rate.db");
    let v = Vendor::Orca;
    let r = start_on(&db, &config(&[v]), &listen_config(4 << 20, 0.01, 2)).await;
    let body = body_for(v, 1);
    for _ in 0..2 {
        let (status, json) = push(&r, v, &secret_for(v), body.clone()).await;
        assert_eq!(status, 200, "{json}");
    }
    let (headers, _) = proof(v, &secret_for(v), &body);
    let (status, json, retry) = post(&url(&r, &source_name(v)), &headers, body).await;
    assert_eq!(status, 429, "{json}");
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!(retry >= 1, "{retry}");
    let t = r.shutdown().await;
    assert_eq!((t.accepted, t.rate_limited), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_operators_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("tls.db");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let cert_path = dir.path().join("listen.crt");
    let key_path = dir.path().join("listen.key");
    std::fs::write(&cert_path, &cert_pem).expect("cert file");
    std::fs::write(&key_path, &key_pem).expect("key file");
    let mut cfg = listen_config(4 << 20, 1000.0, 1000);
    cfg.tls = Some((cert_path, key_path.clone()));
    let v = Vendor::Wiz;
    let r = start_on(&db, &config(&[v]), &cfg).await;
    assert!(r.https);
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("ca"))
        .build()
        .expect("client");
    let resp = client
        .post(format!("https://{}/webhook/{}", r.addr, source_name(v)))
        .header("authorization", format!("Bearer {}", secret_for(v)))
        .body(body_for(v, 2))
        .send()
        .await
        .expect("https");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(total(&db) > 0);
    r.shutdown().await;

    // A key file that is not a key: a start-up error naming the file.
    std::fs::write(&key_path, "not a key").expect("write");
    let routes = sitrep::listen::routes(&config(&[v]), &|_| None).expect("routes");
    let err = sitrep::listen::start(&cfg, routes, Store::open(&db).expect("store"), now_ms)
        .await
        .err()
        .expect("bad key");
    assert!(err.to_string().starts_with("[listen] tls_key "), "{err}");
}

#[test]
fn start_up_errors_name_the_source_and_the_variable() {
    let text = "[[source]]\nname = \"w\"\nvendor = \"wiz\"\nbase_url = \"https://api.example.test\"\n[source.credentials]\nclient_id = \"a\"\nclient_secret = \"b\"\nwebhook_secret = { env = \"W_HOOK\" }\n";
    let c = Config::from_text(None, text).expect("config");
    let err = sitrep::listen::routes(&c, &|_| None).expect_err("unset");
    assert_eq!(
        err,
        "source 'w': credential webhook_secret: environment variable W_HOOK is not set"
    );
    let none = Config::defaults();
    let err = sitrep::listen::routes(&none, &|_| None).expect_err("none");
    assert!(err.starts_with("no source takes webhooks"), "{err}");
    // A Standard Webhooks source needs a whsec_ key.
    let xdr = text
        .replace("vendor = \"wiz\"", "vendor = \"cortex-xdr\"")
        .replace(
            "client_id = \"a\"\nclient_secret = \"b\"\n",
            "key_id = \"1\"\nkey = \"k\"\n",
        );
    let c = Config::from_text(None, &xdr).expect("config");
    let err = sitrep::listen::routes(&c, &|_| Some("plain".into())).expect_err("whsec");
    assert_eq!(
        err,
        "source 'w': credential webhook_secret: the webhook secret is not whsec_<base64>"
    );
}

/// The real binary in the foreground: it prints where it listens, stores a push while a
/// second process reads the database, and prints its counters after SIGINT.
#[test]
fn the_binary_serves_until_sigint_and_prints_a_summary() {
    let sb = common::Sandbox::new();
    let cfg = sb.write(
        "config.toml",
        "[[source]]\nname = \"lw\"\nvendor = \"lacework\"\nbase_url = \"https://x.lacework.net\"\n[source.credentials]\nkey_id = { env = \"LW_KEY\" }\nsecret = { env = \"LW_SECRET\" }\nwebhook_secret = { env = \"LW_HOOK\" }\n",
    );
    let cfg = cfg.to_str().expect("path");
    // Without the secret in the environment: a usage error naming the variable.
    let out = sb
        .cmd()
        .args(["--config", cfg, "listen", "--addr", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("environment variable LW_HOOK is not set")
    );

    let mut child = sb
        .cmd()
        .args(["--config", cfg, "listen", "--addr", "127.0.0.1:0"])
        .env("LW_HOOK", "lw-hook-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("first line");
    let addr = first
        .trim()
        .strip_prefix("sitrep listen: listening on http://")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let body = body_for(Vendor::Lacework, 2);
    let (status, json, _) = rt.block_on(post(
        &format!("http://{addr}/webhook/lw?api-token=lw-hook-secret"),
        &[],
        body,
    ));
    assert_eq!(status, 200, "{json}");
    // Committed before the reply, visible to another connection while the listener runs.
    assert_eq!(Some(total(&sb.db()) as u64), json["alerts"].as_u64());
    let shown = sb.ok(&[
        "--config",
        cfg,
        "list",
        "--format",
        "json",
        "--filter",
        "vendor:lacework",
    ]);
    assert!(serde_json::from_str::<Value>(&shown).is_ok(), "{shown}");

    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("sitrep listen: stopped; received 1, accepted 1 ("),
        "{stdout}"
    );
}

/// The vendors' own push bodies (tests/fixtures/webhooks, written from their documentation).
const NATIVE: [Vendor; 3] = [Vendor::PrismaCspm, Vendor::Wiz, Vendor::Lacework];

fn native_fixture(v: Vendor) -> Vec<u8> {
    let name = match v {
        Vendor::PrismaCspm => "prisma-cspm-alert-notification.json",
        Vendor::Wiz => "wiz-automation-issue.json",
        _ => "lacework-alert-channel.json",
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stored(db: &Path, id: &str) -> sitrep::domain::Alert {
    Store::open(db)
        .expect("store")
        .get(id)
        .expect("get")
        .unwrap_or_else(|| panic!("{id} is stored"))
        .alert
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_vendors_own_push_body_is_accepted_and_mapped() {
    use sitrep::domain::{Cloud, Severity, VendorState};
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("native.db");
    let r = start_on(&db, &config(&NATIVE), &listen_config(4 << 20, 1000.0, 1000)).await;
    for v in NATIVE {
        let (status, json) = push(&r, v, &secret_for(v), native_fixture(v)).await;
        assert_eq!(status, 200, "{v}: {json}");
        assert_eq!(json["new"], json["alerts"], "{v}: {json}");
    }
    assert_eq!(total(&db), 4);

    let p = stored(&db, "prisma-cspm-push:P-418207");
    assert_eq!(p.title, "AWS S3 bucket is publicly accessible");
    assert_eq!(
        p.policy.id.as_deref(),
        Some("b82f90ce-ed8b-4b49-970c-2268b0a6c2e5")
    );
    assert_eq!(p.severity, Severity::High);
    assert_eq!(p.vendor_status, VendorState::Open);
    assert_eq!(p.resource.name.as_deref(), Some("payments-exports"));
    assert_eq!(p.resource.cloud, Some(Cloud::Aws));
    assert_eq!(p.resource.account.as_deref(), Some("123456789012"));
    assert_eq!(p.resource.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        p.description.as_deref(),
        Some("The bucket's ACL or policy grants access to everyone.")
    );
    assert_eq!(p.first_seen, Some(1_760_000_000_000));
    assert_eq!(
        p.raw["callbackUrl"],
        "https://app.prismacloud.io/alerts/P-418207"
    );
    let sparse = stored(&db, "prisma-cspm-push:P-418208");
    assert_eq!(sparse.vendor_status, VendorState::Resolved);
    assert_eq!(sparse.severity, Severity::Medium);
    assert_eq!(sparse.resource.cloud, Some(Cloud::Azure));
    assert_eq!(sparse.first_seen, Some(1_760_000_000_000));

    let w = stored(&db, "wiz-push:e3188a71-794c-5ee8-b97c-eb794aa5b752");
    assert_eq!(w.title, "Recon:EC2/PortProbeUnprotectedPort");
    assert_eq!(
        w.policy.id.as_deref(),
        Some("cer-awsguardduty-recon-ec2-portprobeunprotectedport")
    );
    assert_eq!(w.severity, Severity::Critical);
    assert_eq!(w.vendor_status, VendorState::Open);
    assert_eq!(
        w.resource.id.as_deref(),
        Some("arn:aws:ec2:us-east-2:111111111111:instance/i-0abc12345def67890")
    );
    assert_eq!(w.resource.name.as_deref(), Some("jenkins-aws"));
    assert_eq!(w.resource.account.as_deref(), Some("111111111111"));
    assert_eq!(w.resource.region.as_deref(), Some("us-east-2"));
    assert!(w.description.is_some_and(|d| d.contains("probed")));

    let l = stored(&db, "lacework-push:917364");
    assert_eq!(l.title, "Unauthorized API Call");
    assert_eq!(l.severity, Severity::High);
    assert!(
        l.description
            .is_some_and(|d| d.contains("DescribeInstances"))
    );
    assert_eq!(l.first_seen, Some(1_760_000_000_000));
    assert_eq!(l.resource.id, None);

    // The same notifications again change nothing.
    for v in NATIVE {
        let (status, json) = push(&r, v, &secret_for(v), native_fixture(v)).await;
        assert_eq!(status, 200, "{v}: {json}");
        assert_eq!(json["unchanged"], json["alerts"], "{v}: {json}");
    }
    let t = r.shutdown().await;
    assert_eq!((t.accepted, t.malformed), (6, 0));
}

/// A native push body for `a` as the vendor would send it when its state changes: only the
/// summary fields, no resource, no description.
fn native_push_for(v: Vendor, a: &sitrep::domain::Alert) -> Vec<u8> {
    let body = match v {
        Vendor::PrismaCspm => serde_json::json!([{
            "alertId": a.native_id, "policyName": a.title, "policyId": a.policy.id,
            "severity": "low", "alertStatus": "resolved", "alertTs": a.first_seen,
        }]),
        Vendor::Wiz => serde_json::json!({
            "trigger": {"source": "ISSUE", "type": "Resolved"},
            "issue": {"id": a.native_id, "status": "RESOLVED", "severity": "LOW",
                      "created": "2025-10-09 08:53:20"},
            "control": {"id": a.policy.id, "name": a.title},
            "resource": {"id": "", "name": ""},
        }),
        _ => serde_json::json!({
            "event_id": a.native_id, "event_title": a.title, "event_severity": 4,
            "event_type": "ComplianceChange",
        }),
    };
    serde_json::to_vec(&body).expect("json")
}

/// With the vendor's simulator: an alert pushed in its native shape and then synced is one
/// alert, and a later partial push changes what it says (status, severity) without erasing
/// the resource facts and description the sync stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_pushes_and_syncs_are_one_alert_and_keep_the_synced_facts() {
    use sitrep::domain::{Severity, VendorState};
    for v in NATIVE {
        let dir = tempfile::tempdir().expect("dir");
        let (_sim, source) = sim_with_webhook(v, 5).await;
        // What a sync stores, in a scratch database: the alert to push and the full count.
        let scratch = dir.path().join("scratch.db");
        let line = sync_into(&source, &scratch).await;
        let synced = total(&scratch);
        assert!(synced > 0, "{v}: {line}");
        let ids = Store::open(&scratch)
            .expect("store")
            .ids_like(&format!("{}:", source.name), 100)
            .expect("ids");
        let full = ids
            .iter()
            .map(|id| stored(&scratch, id))
            .find(|a| a.resource.id.is_some() && a.policy.id.is_some())
            .or_else(|| ids.first().map(|id| stored(&scratch, id)))
            .expect("an alert");

        // Pushed first, into an empty database: a new alert with the push's facts.
        let db = dir.path().join("live.db");
        let mut config = Config::defaults();
        config.sources = vec![source.clone()];
        let r = start_on(&db, &config, &listen_config(4 << 20, 1000.0, 1000)).await;
        let (status, json) = post_native(&r, v, &source.name, native_push_for(v, &full)).await;
        assert_eq!(status, 200, "{v}: {json}");
        assert_eq!(json["new"], 1, "{v}: {json}");

        // Then synced: the pushed alert is the synced one, not a second copy.
        let line = sync_into(&source, &db).await;
        assert_eq!(total(&db), synced, "{v}: {line}");
        let after_sync = stored(&db, &full.id());
        assert_eq!(after_sync.resource, full.resource, "{v}");
        assert_eq!(after_sync.description, full.description, "{v}");

        // A later partial push: its status and severity land, the synced facts stay.
        let (status, json) = post_native(&r, v, &source.name, native_push_for(v, &full)).await;
        assert_eq!(status, 200, "{v}: {json}");
        assert_eq!(json["stale"], 0, "{v}: {json}");
        assert_eq!(total(&db), synced, "{v}");
        let after_push = stored(&db, &full.id());
        assert_eq!(after_push.resource, full.resource, "{v}: resource erased");
        assert_eq!(
            after_push.description, full.description,
            "{v}: description erased"
        );
        assert_eq!(after_push.policy.id, full.policy.id, "{v}");
        assert_eq!(after_push.first_seen, full.first_seen, "{v}");
        assert_eq!(after_push.severity, Severity::Low, "{v}");
        if v != Vendor::Lacework {
            assert_eq!(after_push.vendor_status, VendorState::Resolved, "{v}");
        } else {
            // The channel's body carries no status: the synced one stays.
            assert_eq!(after_push.vendor_status, full.vendor_status, "{v}");
        }
        r.shutdown().await;
    }
}

async fn post_native(r: &Running, v: Vendor, source: &str, body: Vec<u8>) -> (u16, Value) {
    let (headers, query) = proof(v, &secret_for(v), &body);
    let (status, json, _) = post(&format!("{}{query}", url(r, source)), &headers, body).await;
    (status, json)
}
