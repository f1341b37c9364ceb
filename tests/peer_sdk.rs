//! Vendor truth: what we believe about the vendor APIs, checked by code nobody on this project
//! wrote.
//!
//! - The vendors' own Python SDKs (`prismacloud-api` for Prisma Cloud CSPM and Compute,
//!   `laceworksdk`), installed by `scripts/peer-sdks.sh install`, drive `sitrep sim --tls`
//!   (the built binary) through `tests/peers/*.py`: login and renewal, every alert to the end,
//!   each write-back call sitrep makes, and error answers. What they list must be exactly what
//!   `sitrep sync` stores from the same simulator. Without the venv these tests are skipped
//!   with a note, except under `CI`, where they fail.
//! - The peers' manners that need no Python: pcapi's paging loop against the CSPM simulator, a
//!   Compute console that serves fewer than asked, a 403 for every vendor, and Prisma's
//!   `x-redlock-status` reasons in sitrep's errors.

mod common;
#[path = "common/sim_source.rs"]
mod sim_source;
#[path = "common/sync_prisma.rs"]
mod sync_prisma;

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Sandbox;
use serde_json::{Value, json};
use sim_source::with_credential;
use sitrep::domain::{DismissReason, Status, Vendor};
use sitrep::sim::server::{Faults, SimHandle, SimOptions};
use sitrep::sources::api::{ApiError, WriteBack, WriteOutcome};
use sitrep::vendors::{connect, emit};
use sync_prisma::{StoreSink, counter, fetch_all, source_config};

/// Longest a driver may run: pcapi against a simulator that never ends a listing loops
/// forever, and that must fail the test, not hang it.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------
// The SDK venv and the simulator process.

/// The venv's python, or None (skip) when it is not installed; under CI a missing venv fails.
fn peers_python() -> Option<PathBuf> {
    common::cached_python(
        "SITREP_PEERS_PYTHON",
        "peers",
        None,
        "peer SDK venv",
        "scripts/peer-sdks.sh install",
    )
}

struct Sim {
    child: Child,
    announcement: Value,
    ca: PathBuf,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    fn env(&self, var: &str) -> String {
        self.announcement["env"][var]
            .as_str()
            .unwrap_or_else(|| panic!("the simulator names {var}"))
            .to_string()
    }

    fn base_url(&self) -> &str {
        self.announcement["base_url"].as_str().expect("base_url")
    }
}

/// `sitrep sim --vendor V --tls` on the wall clock (the SDKs compute windows from it).
fn start_sim(sb: &Sandbox, vendor: &str, alerts: usize, faults: &str) -> Sim {
    let mut child = sb
        .cmd()
        .env_remove("SITREP_NOW")
        .args(["sim", "--vendor", vendor, "--tls", "--seed", "7"])
        .args(["--alerts", &alerts.to_string(), "--faults", faults])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("announcement");
    let announcement: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let base = announcement["base_url"].as_str().expect("base_url");
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let pem = announcement["ca_pem"]
        .as_str()
        .expect("a TLS sim names its CA");
    let ca = sb.write(&format!("{vendor}-ca.pem"), pem);
    Sim {
        child,
        announcement,
        ca,
    }
}

/// Run `tests/peers/<script>` with the SDK venv; its stdout as JSON. Fails on a timeout.
fn drive(python: &Path, sb: &Sandbox, script: &str, env: &[(&str, String)]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(script);
    let work = sb.path("driver");
    std::fs::create_dir_all(&work).expect("driver dir");
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &work)
        // No __pycache__ beside the drivers in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn the SDK driver");
    // Read both pipes while waiting, so a chatty driver cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > DRIVER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish within {}s (a listing that never ends?)",
                script.display(),
                DRIVER_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    assert!(
        status.success(),
        "{} failed ({status}):\n{stderr}",
        script.display()
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

/// `sitrep sync` against the simulator (trusting its CA through SSL_CERT_FILE), then the
/// native ids the store holds.
fn sitrep_sync_ids(sb: &Sandbox, sim: &Sim) -> BTreeSet<String> {
    let cfg = sb.write(
        "config.toml",
        sim.announcement["source_toml"].as_str().expect("toml"),
    );
    let run = |args: &[&str]| {
        let mut c = sb.cmd();
        c.env_remove("SITREP_NOW")
            .env("SITREP_CONFIG", &cfg)
            .env("SSL_CERT_FILE", &sim.ca);
        for (k, v) in sim.announcement["env"].as_object().expect("env") {
            c.env(k, v.as_str().expect("value"));
        }
        let out = c.args(args).output().expect("run sitrep");
        assert!(
            out.status.success(),
            "sitrep {args:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&["sync"]);
    let rows: Value = serde_json::from_slice(&run(&[
        "list", "--all", "--format", "json", "--limit", "1000000",
    ]))
    .expect("list json");
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let id = r["id"].as_str().expect("id");
            id.split_once(':').expect("source:native").1.to_string()
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("the SDK call should have been refused: {v}"))
}

// ---------------------------------------------------------------------------------------
// The SDKs.

#[test]
fn prismacloud_api_lists_10000_cspm_alerts_to_the_end_and_writes_back() {
    let Some(python) = peers_python() else { return };
    let sb = Sandbox::new();
    let sim = start_sim(&sb, "prisma-cspm", 10_000, "none");
    let stored = sitrep_sync_ids(&sb, &sim);
    assert_eq!(stored.len(), 10_000);

    let out = drive(
        &python,
        &sb,
        "prisma_cspm.py",
        &[
            ("SIM_URL", sim.base_url().to_string()),
            (
                "SIM_ACCESS_KEY",
                sim.env("SITREP_SIM_PRISMA_CSPM_ACCESS_KEY"),
            ),
            (
                "SIM_SECRET_KEY",
                sim.env("SITREP_SIM_PRISMA_CSPM_SECRET_KEY"),
            ),
            ("REQUESTS_CA_BUNDLE", sim.ca.display().to_string()),
            ("PAGE_LIMIT", "1000".into()),
        ],
    );
    let ids = strings(&out["ids"]);
    let listed: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), listed.len(), "pcapi got an alert twice");
    assert_eq!(listed, stored, "pcapi and sitrep saw different alerts");

    assert!(
        text(&out["bad_login"]).contains("Status Code: 401"),
        "{out}"
    );
    assert_eq!(
        out["extended"], true,
        "GET /auth_token/extend gave no new token"
    );
    assert!(
        text(&out["dismiss_again"]).contains("Status Code: 404"),
        "{out}"
    );
    assert!(
        text(&out["no_filter"]).contains("Status Code: 400"),
        "{out}"
    );
    assert_eq!(out["snoozed_now"], json!([out["snoozed"]]), "{out}");
}

#[test]
fn prismacloud_api_lists_every_compute_list_to_the_end_and_archives() {
    let Some(python) = peers_python() else { return };
    let sb = Sandbox::new();
    let sim = start_sim(&sb, "prisma-compute", 3_000, "none");
    let stored = sitrep_sync_ids(&sb, &sim);

    let out = drive(
        &python,
        &sb,
        "prisma_compute.py",
        &[
            ("SIM_URL", sim.base_url().to_string()),
            (
                "SIM_USERNAME",
                sim.env("SITREP_SIM_PRISMA_COMPUTE_USERNAME"),
            ),
            (
                "SIM_PASSWORD",
                sim.env("SITREP_SIM_PRISMA_COMPUTE_PASSWORD"),
            ),
            ("REQUESTS_CA_BUNDLE", sim.ca.display().to_string()),
        ],
    );
    // Incidents are one alert each: the same ids.
    let incidents: BTreeSet<String> = strings(&out["incidents"])
        .into_iter()
        .map(|i| format!("incident/{i}"))
        .collect();
    let stored_incidents: BTreeSet<String> = stored
        .iter()
        .filter(|i| i.starts_with("incident/"))
        .cloned()
        .collect();
    assert_eq!(
        incidents.len(),
        strings(&out["incidents"]).len(),
        "duplicates"
    );
    assert_eq!(incidents, stored_incidents);
    // A scan result is one object per workload holding its findings: sitrep's native ids are
    // `<kind>/<object id>/<finding>`, and object ids may hold slashes.
    for (prefix, key) in [
        ("image/", "images"),
        ("container/", "containers"),
        ("host/", "hosts"),
        ("function/", "serverless"),
    ] {
        let objects = strings(&out[key]);
        assert_eq!(
            objects.len(),
            objects.iter().collect::<HashSet<_>>().len(),
            "{key}: pcapi got an object twice"
        );
        let mine: Vec<&String> = stored.iter().filter(|i| i.starts_with(prefix)).collect();
        assert!(!mine.is_empty(), "no {key} in the store");
        for id in &mine {
            assert!(
                objects
                    .iter()
                    .any(|o| id.starts_with(&format!("{prefix}{o}/"))),
                "{id}: its object is not in pcapi's {key}"
            );
        }
        for o in &objects {
            assert!(
                mine.iter()
                    .any(|id| id.starts_with(&format!("{prefix}{o}/"))),
                "{key}: pcapi's {o} has no alert in the store"
            );
        }
    }
    assert!(
        text(&out["bad_login"]).contains("Status Code: 401"),
        "{out}"
    );
    assert_eq!(out["renewed"], true, "{out}");
    assert_eq!(out["archived_after_ack"], true, "{out}");
    assert_eq!(out["archived_after_restore"], false, "{out}");
    assert!(
        text(&out["ack_unknown"]).contains("Status Code: 404"),
        "{out}"
    );
}

#[test]
fn laceworksdk_lists_every_alert_renews_its_token_and_writes_back() {
    let Some(python) = peers_python() else { return };
    let sb = Sandbox::new();
    // Tokens live 3 s, so the SDK must renew its own.
    let sim = start_sim(&sb, "lacework", 3_000, "ttl=3s");
    let stored = sitrep_sync_ids(&sb, &sim);
    assert_eq!(stored.len(), 3_000);

    let out = drive(
        &python,
        &sb,
        "lacework.py",
        &[
            ("SIM_URL", sim.base_url().to_string()),
            ("SIM_KEY_ID", sim.env("SITREP_SIM_LACEWORK_KEY_ID")),
            ("SIM_SECRET", sim.env("SITREP_SIM_LACEWORK_SECRET")),
            ("SIM_TOKEN_TTL", "3".into()),
            ("REQUESTS_CA_BUNDLE", sim.ca.display().to_string()),
        ],
    );
    let listed: BTreeSet<String> = strings(&out["ids"]).into_iter().collect();
    assert_eq!(
        listed, stored,
        "laceworksdk and sitrep saw different alerts"
    );
    assert!(text(&out["bad_login"]).starts_with("[401]"), "{out}");
    assert_eq!(out["renewed"], true, "{out}");
    assert_eq!(out["details_id"], out["ids"][0], "{out}");
    assert_eq!(out["commented"], true, "{out}");
    assert_eq!(out["close_other"]["message"], "SUCCESS", "{out}");
    assert_eq!(out["close_fp"]["message"], "SUCCESS", "{out}");
    assert!(
        text(&out["close_without_comment"]).starts_with("[400]"),
        "{out}"
    );
    assert!(text(&out["unknown"]).starts_with("[404]"), "{out}");
}

// ---------------------------------------------------------------------------------------
// The peers' manners, without Python.

async fn start(vendor: Vendor, alerts: usize, faults: Faults) -> SimHandle {
    sitrep::vendors::sim::start(
        vendor,
        SimOptions {
            alerts,
            faults,
            seed: 7,
            ..SimOptions::default()
        },
    )
    .await
    .expect("simulator starts")
}

/// pcapi's `cspm.py::execute(paginated=True)`: POST the query, then bodies of only
/// `{"pageToken"}` while a page carries a `nextPageToken`. It must end, with every alert once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cspm_simulator_ends_a_listing_as_pcapi_expects() {
    let h = start(Vendor::PrismaCspm, 250, Faults::none()).await;
    let env: std::collections::HashMap<_, _> = h.env.iter().cloned().collect();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{}/login", h.base_url))
        .json(&json!({
            "username": env["SITREP_SIM_PRISMA_CSPM_ACCESS_KEY"],
            "password": env["SITREP_SIM_PRISMA_CSPM_SECRET_KEY"],
        }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["token"].as_str().expect("token").to_string();
    let mut body = json!({
        "timeRange": {"type": "to_now", "value": "epoch"},
        "filters": [],
        "limit": 100,
        "sortBy": ["id:asc"],
    });
    let mut ids = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..20 {
        let page: Value = http
            .post(format!("{}/v2/alert", h.base_url))
            .header("x-redlock-auth", &token)
            .json(&body)
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("page json");
        for a in page["items"].as_array().expect("items") {
            ids.push(a["id"].as_str().expect("id").to_string());
        }
        let next = page["nextPageToken"].as_str().map(str::to_string);
        pages.push(page);
        match next {
            Some(t) if !t.is_empty() => body = json!({ "pageToken": t }),
            _ => break,
        }
    }
    let last = pages.last().expect("a page");
    assert!(
        last.get("nextPageToken").is_none(),
        "still a token after {} pages: pcapi would never stop",
        pages.len()
    );
    // As the corpus shows: the last data page carries a token, the empty page after it none.
    assert_eq!(pages.len(), 4, "3 pages of data and the empty one");
    assert!(last["items"].as_array().expect("items").is_empty());
    assert!(pages[2]["nextPageToken"].is_string());
    assert_eq!(ids.len(), 250);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 250);
    h.stop().await;
}

/// A Compute console that serves 50 objects whatever `limit` asks (older ones do): the client
/// asks for 250 and must still get every object, moving its offset by what it received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compute_pages_by_the_objects_received_when_the_console_caps_pages() {
    let faults = Faults {
        page_cap: Some(50),
        ..Faults::none()
    };
    let h = start(Vendor::PrismaCompute, 1_500, faults).await;
    let mut cfg = source_config(&h);
    cfg.page_size = Some(250);
    cfg.concurrency = 3;
    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    fetch_all(&mut client, &mut sink).await.expect("fetch");
    let want: HashSet<String> = {
        let world = h.state.world.read().await;
        world
            .findings_for(Vendor::PrismaCompute)
            .map(|f| emit::native_id(Vendor::PrismaCompute, &world, f))
            .collect()
    };
    let have = sink.stored_ids(&cfg.name);
    let missing: Vec<&String> = want.difference(&have).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} of {} missing, e.g. {missing:?}",
        want.difference(&have).count(),
        want.len()
    );
    assert_eq!(have.len(), want.len());
    assert_eq!(sink.duplicates(), 0, "pages overlapped");
    h.stop().await;
}

/// A 403 is a permission the credential lacks: final at once, for every vendor — no second
/// login, no replay, and an error that says so in the vendor's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_is_a_permission_error_without_a_new_login_for_every_vendor() {
    for v in Vendor::ALL {
        let faults = Faults {
            forbidden: vec![(1, 1_000)],
            ..Faults::none()
        };
        let h = start(v, 50, faults).await;
        let cfg = source_config(&h);
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        let err = fetch_all(&mut client, &mut sink)
            .await
            .expect_err("a 403 fails the run");
        assert!(
            matches!(err, ApiError::Forbidden { .. }),
            "{v}: expected a permission error, got {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with("permission denied by "), "{v}: {msg}");
        let c = &h.state.counters;
        assert_eq!(
            counter(&c.forbidden),
            1,
            "{v}: the refused request was replayed"
        );
        assert!(
            counter(&c.auth_requests) <= 1,
            "{v}: {} logins for one 403",
            counter(&c.auth_requests)
        );
        h.stop().await;
    }
}

/// Prisma Cloud names its reason in the `x-redlock-status` header, with an empty body: sitrep's
/// errors carry it, and a write-back the alert is already past is recognised by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prisma_errors_carry_the_x_redlock_status_reason() {
    let h = start(Vendor::PrismaCspm, 60, Faults::none()).await;
    let cfg = source_config(&h);

    let wrong = with_credential(&cfg, "secret_key", "not-the-secret");
    let mut client = connect(&wrong).expect("client");
    let err = fetch_all(&mut client, &mut StoreSink::new())
        .await
        .expect_err("wrong secret");
    let msg = err.to_string();
    assert!(msg.contains("invalid_credentials"), "{msg}");
    assert!(
        !msg.contains("not-the-secret"),
        "a secret reached the error: {msg}"
    );

    let mut client = connect(&cfg).expect("client");
    let mut sink = StoreSink::new();
    fetch_all(&mut client, &mut sink).await.expect("fetch");
    let open = sink
        .latest
        .values()
        .find(|a| a.vendor_status.to_store() == "open")
        .expect("an open alert")
        .native_id
        .clone();
    let dismiss = WriteBack::SetStatus {
        native_id: open,
        status: Status::Dismissed {
            reason: DismissReason::AcceptedRisk,
            note: Some("peer test".into()),
            until: None,
        },
        note: None,
    };
    assert_eq!(
        client.write_back(&dismiss).await.expect("dismiss"),
        WriteOutcome::Done
    );
    // Again: Prisma answers 404 with only `alert_no_longer_in_expected_state` in the header.
    assert!(
        matches!(
            client.write_back(&dismiss).await.expect("redelivered"),
            WriteOutcome::Already(_)
        ),
        "a redelivered dismissal is not recognised as done"
    );
    h.stop().await;

    let faults = Faults {
        forbidden: vec![(1, 1_000)],
        ..Faults::none()
    };
    let h = start(Vendor::PrismaCspm, 20, faults).await;
    let mut client = connect(&source_config(&h)).expect("client");
    let err = fetch_all(&mut client, &mut StoreSink::new())
        .await
        .expect_err("403");
    assert!(err.to_string().contains("permission_error"), "{err}");
    h.stop().await;
}

/// `sitrep sim --tls`: HTTPS with a CA made at start; a client that trusts the announced CA
/// gets in, one that does not is refused at the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_simulator_is_trusted_through_its_announced_ca() {
    let h = sitrep::vendors::sim::start(
        Vendor::PrismaCspm,
        SimOptions {
            alerts: 5,
            tls: true,
            ..SimOptions::default()
        },
    )
    .await
    .expect("simulator starts");
    assert!(
        h.base_url.starts_with("https://127.0.0.1:"),
        "{}",
        h.base_url
    );
    let pem = h.announcement()["ca_pem"]
        .as_str()
        .expect("the announcement carries the CA")
        .to_string();
    let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("a PEM certificate");
    let trusting = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let login = |c: reqwest::Client| {
        let url = format!("{}/login", h.base_url);
        async move {
            c.post(url)
                .json(&json!({"username": "x", "password": "y"}))
                .send()
                .await
        }
    };
    let r = login(trusting).await.expect("a TLS connection");
    assert_eq!(r.status(), 401, "the simulator answered over TLS");
    assert!(
        login(reqwest::Client::new()).await.is_err(),
        "a client without the CA must not connect"
    );
    h.stop().await;
}
