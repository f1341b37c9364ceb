//! Vendor truth: what we believe about the vendor APIs, checked against how other clients
//! behave. The peers' manners that need no Python: pcapi's paging loop against the CSPM
//! simulator, a Compute console that serves fewer than asked, a 403 for every vendor, and
//! Prisma's `x-redlock-status` reasons in sitrep's errors.

#[path = "common/sync_prisma.rs"]
mod sync_prisma;

use std::collections::HashSet;

use serde_json::{Value, json};
use sitrep::domain::{DismissReason, Status, Vendor};
use sitrep::sim::server::{Faults, SimHandle, SimOptions};
use sitrep::sources::api::{ApiError, WriteBack, WriteOutcome};
use sitrep::vendors::{connect, emit};
use sync_prisma::{StoreSink, counter, fetch_all, source_config, with_credential};

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
