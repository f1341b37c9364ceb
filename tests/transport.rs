//! The shared transport and session against a tiny loopback server: Retry-After is honoured,
//! 5xx and truncated bodies are retried, a 401 gets one re-authentication and one replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use sitrep::config::{Config, SourceConfig};
use sitrep::sources::api::{ApiError, AuthToken, Session, Transport};

#[derive(Default)]
struct Server {
    hits: AtomicU64,
    logins: AtomicU64,
    /// When the last 429 said the next request may come.
    allowed_at: std::sync::Mutex<Option<Instant>>,
    early: AtomicU64,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn cfg(base: &str, max_retries: u32) -> SourceConfig {
    let text = format!(
        "[[source]]\nname = \"t\"\nvendor = \"orca\"\nbase_url = \"{base}\"\nmax_retries = {max_retries}\n[source.credentials]\ntoken = {{ env = \"T\" }}\n"
    );
    let c = Config::from_text(Some(std::path::Path::new("t.toml")), &text).expect("config");
    c.sources[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_5xx_and_truncation_are_retried() {
    let st = Arc::new(Server::default());
    let s = st.clone();
    let router = Router::new().route(
        "/data",
        get(move || {
            let s = s.clone();
            async move {
                let n = s.hits.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(t) = *s.allowed_at.lock().expect("lock")
                    && Instant::now() < t
                {
                    s.early.fetch_add(1, Ordering::SeqCst);
                }
                match n {
                    1 | 2 => {
                        *s.allowed_at.lock().expect("lock") =
                            Some(Instant::now() + Duration::from_secs(1));
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "1")],
                            "{}".to_string(),
                        )
                            .into_response()
                    }
                    3 | 4 => (StatusCode::BAD_GATEWAY, "upstream down").into_response(),
                    5 => (StatusCode::OK, "{\"items\": [1, 2").into_response(),
                    _ => (StatusCode::OK, "{\"items\": [1, 2, 3]}").into_response(),
                }
            }
        }),
    );
    let base = serve(router).await;
    let t = Transport::new(&cfg(&base, 5)).expect("transport");
    let url = format!("{base}/data");
    let started = Instant::now();
    let (_, v) = t.json(&|| t.http().get(&url)).await.expect("eventually ok");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(st.hits.load(Ordering::SeqCst), 6);
    assert_eq!(
        st.early.load(Ordering::SeqCst),
        0,
        "a request arrived before Retry-After allowed it"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(sitrep::sources::api::Stats::get(&t.stats().rate_limited), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_5xx_fails_with_a_clear_error_after_the_retry_limit() {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let router = Router::new().route(
        "/data",
        get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{\"error\":\"maintenance\"}",
                )
            }
        }),
    );
    let base = serve(router).await;
    let t = Transport::new(&cfg(&base, 2)).expect("transport");
    let url = format!("{base}/data");
    let err = t.json(&|| t.http().get(&url)).await.expect_err("must fail");
    assert_eq!(hits.load(Ordering::SeqCst), 3, "one try and two retries");
    match err {
        ApiError::Http {
            status: 503,
            detail,
            ..
        } => assert!(detail.contains("maintenance"), "{detail}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_gets_one_login_and_one_replay_and_a_second_401_is_final() {
    let st = Arc::new(Server::default());
    let (s1, s2) = (st.clone(), st.clone());
    let router = Router::new()
        .route(
            "/login",
            post(move || {
                let n = s1.logins.fetch_add(1, Ordering::SeqCst) + 1;
                async move { format!("{{\"token\": \"tok-{n}\"}}") }
            }),
        )
        .route(
            "/data",
            get(move |headers: HeaderMap| {
                let s = s2.clone();
                async move {
                    s.hits.fetch_add(1, Ordering::SeqCst);
                    let tok = headers
                        .get("x-auth")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    // The first token is "expired"; later ones are fine unless told otherwise.
                    if tok == "tok-1" || tok == "never" {
                        (StatusCode::UNAUTHORIZED, "{\"error\":\"token expired\"}").into_response()
                    } else {
                        (StatusCode::OK, "{\"ok\": true}").into_response()
                    }
                }
            }),
        );
    let base = serve(router).await;
    let t = Transport::new(&cfg(&base, 1)).expect("transport");
    let session = Session::new();
    let login_url = format!("{base}/login");
    let login = |_prev: Option<String>| -> sitrep::sources::api::LoginFuture<'_> {
        let t = &t;
        let url = login_url.clone();
        Box::pin(async move {
            let (_, v) = t.json(&|| t.http().post(&url)).await?;
            Ok(AuthToken::expiring(
                v["token"].as_str().unwrap_or("").to_string(),
                None,
                Duration::ZERO,
            ))
        })
    };
    let url = format!("{base}/data");
    let (_, v) = session
        .json(&t, &login, &|tok| t.http().get(&url).header("x-auth", tok))
        .await
        .expect("replayed after one re-login");
    assert_eq!(v["ok"], true);
    assert_eq!(st.logins.load(Ordering::SeqCst), 2);
    assert_eq!(sitrep::sources::api::Stats::get(&t.stats().reauths), 1);

    // A server that refuses every token: one re-login, one replay, then a clear error.
    let never = Session::new();
    let login_never = |_prev: Option<String>| -> sitrep::sources::api::LoginFuture<'_> {
        Box::pin(async { Ok(AuthToken::expiring("never".into(), None, Duration::ZERO)) })
    };
    let hits_before = st.hits.load(Ordering::SeqCst);
    let err = never
        .json(&t, &login_never, &|tok| {
            t.http().get(&url).header("x-auth", tok)
        })
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, ApiError::Unauthorized(d) if d.contains("again after a fresh login")),
        "{err:?}"
    );
    assert_eq!(st.hits.load(Ordering::SeqCst) - hits_before, 2);
}
