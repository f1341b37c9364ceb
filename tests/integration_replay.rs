//! Requests that public open-source integrations make (Wiz, Orca and Cortex XDR have no
//! official SDK), replayed against our simulators: each must be answered with a response of the
//! recorded shape. The fixtures and where each came from: tests/fixtures/integrations/README.md.

use serde_json::Value;

use sitrep::domain::Vendor;
use sitrep::sim::server::{Faults, SimHandle, SimOptions};

fn fixtures() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/integrations");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("fixtures dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).expect("read");
            let v: Value = serde_json::from_str(&text).expect("fixture json");
            out.push((p.display().to_string(), v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where `actual` lacks a key of `recorded`, or holds another JSON type (null matches any).
fn shape_gaps(recorded: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (recorded, actual) {
        (Value::Object(r), Value::Object(a)) => {
            for (k, rv) in r {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    None => out.push(p),
                    Some(av) => shape_gaps(rv, av, &p, out),
                }
            }
        }
        (Value::Array(r), Value::Array(a)) => {
            if let (Some(rf), Some(af)) = (r.first(), a.first()) {
                shape_gaps(rf, af, &format!("{path}[]"), out);
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (r, a) if kind(r) != kind(a) => out.push(format!("{path} ({} vs {})", kind(r), kind(a))),
        _ => {}
    }
}

fn env(h: &SimHandle, suffix: &str) -> String {
    h.env
        .iter()
        .find(|(n, _)| n.ends_with(suffix))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {suffix} credential"))
}

async fn wiz_token(h: &SimHandle, http: &reqwest::Client) -> String {
    let v: Value = http
        .post(format!("{}/oauth/token", h.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "wiz-api"),
            ("client_id", &env(h, "CLIENT_ID")),
            ("client_secret", &env(h, "CLIENT_SECRET")),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    v["access_token"].as_str().expect("token").to_string()
}

/// The recorded request, with the simulator's credentials put where the fixture says.
async fn send(h: &SimHandle, http: &reqwest::Client, req: &Value) -> (u16, Value) {
    let url = format!("{}{}", h.base_url, req["path"].as_str().expect("path"));
    let mut b = match req["method"].as_str() {
        Some("GET") => http.get(&url),
        _ => http.post(&url),
    };
    match req["auth"].as_str() {
        Some("bearer") => b = b.bearer_auth(wiz_token(h, http).await),
        Some("orca-token") => b = b.header("Authorization", format!("Token {}", env(h, "TOKEN"))),
        Some("xdr-advanced") => {
            let key = env(h, "_KEY");
            // 64 alphanumerics, fresh per request (hex of the clock, zero-padded).
            let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
            let nonce = format!("{nanos:064x}");
            let ts = chrono::Utc::now().timestamp_millis().to_string();
            let sig = sitrep::vendors::cortex_xdr::sim::server::signature(&key, &nonce, &ts);
            b = b
                .header("x-xdr-auth-id", env(h, "KEY_ID"))
                .header("x-xdr-nonce", nonce)
                .header("x-xdr-timestamp", ts)
                .header("Authorization", sig);
        }
        _ => {}
    }
    if let Some(form) = req["form"].as_object() {
        let pairs: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().unwrap_or("");
                let v = match v {
                    "$CLIENT_ID" => env(h, "CLIENT_ID"),
                    "$CLIENT_SECRET" => env(h, "CLIENT_SECRET"),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect();
        b = b.form(&pairs);
    }
    if let Some(json) = req.get("json") {
        b = b.json(json);
    }
    let r = b.send().await.expect("send");
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("a JSON answer");
    (status, body)
}

/// Each recorded request gets an answer of the recorded status and shape; the item fields the
/// simulator does not serve are exactly the fixture's `sim_omits` (a new gap, or a gap closed,
/// fails until the fixture says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_integration_requests_get_answers_of_the_recorded_shape() {
    let http = reqwest::Client::new();
    let all = fixtures();
    assert!(all.len() >= 4, "fixtures missing");
    for (path, f) in all {
        let vendor = Vendor::parse(f["vendor"].as_str().expect("vendor")).expect("a vendor");
        let h = sitrep::vendors::sim::start(
            vendor,
            SimOptions {
                alerts: 40,
                seed: 9,
                faults: Faults::none(),
                now_ms: chrono::Utc::now().timestamp_millis(),
                ..Default::default()
            },
        )
        .await
        .expect("sim");
        let (status, body) = send(&h, &http, &f["request"]).await;
        assert_eq!(
            status,
            f["response"]["status"].as_u64().expect("status") as u16,
            "{path}: {body}"
        );
        let mut gaps = Vec::new();
        shape_gaps(&f["response"]["body"], &body, "", &mut gaps);
        let omits: Vec<String> = f["sim_omits"]
            .as_array()
            .expect("sim_omits")
            .iter()
            .map(|v| v.as_str().expect("string").to_string())
            .collect();
        assert_eq!(
            gaps, omits,
            "{path}: shape gaps (update sim_omits or the simulator)"
        );
        h.stop().await;
    }
}
