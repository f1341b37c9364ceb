//! The resilient HTTP transport shared by every vendor client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

use super::ApiError;
use crate::config::SourceConfig;
use crate::net::{describe, retry_after, snippet};
use crate::rng::Rng;

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of a 5xx, a timeout, a connection error or a malformed body.
    pub max_retries: u32,
    /// Retries of 429 responses (each waits as told).
    pub max_rate_limited: u32,
    /// First backoff step; doubles per attempt.
    pub base: Duration,
    /// Longest backoff step.
    pub cap: Duration,
    /// Longest wait a Retry-After may impose before the run gives up.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            max_rate_limited: 20,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
        }
    }
}

/// What a source's transport did (read by the progress line and the tests).
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    pub reauths: AtomicU64,
    pub bytes: AtomicU64,
}

impl Stats {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A successful (2xx) response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Longest text kept of Prisma Cloud's `x-redlock-status` header, and how many of its entries.
const MAX_STATUS_CHARS: usize = 200;
const MAX_STATUS_ENTRIES: usize = 4;

/// What the vendor said about a failed request, for an error message: Prisma Cloud's
/// `x-redlock-status` keys first (where it puts the reason, often with an empty body: the
/// official spec's error responses declare no content, and public integrations read the
/// header), then the start of the body. One line, sanitized, bounded.
fn vendor_words(headers: &HeaderMap, body: &[u8]) -> String {
    let keys = redlock_status(headers);
    let text = snippet(body);
    match keys {
        Some(k) if body.iter().all(u8::is_ascii_whitespace) => k,
        Some(k) => format!("{k}; {text}"),
        None => text,
    }
}

/// `[{"i18nKey": "alert_no_longer_in_expected_state", "severity": "error", "subject": …}]`
/// → `alert_no_longer_in_expected_state` (with ` (subject)` when there is one).
fn redlock_status(headers: &HeaderMap) -> Option<String> {
    let raw = String::from_utf8_lossy(headers.get("x-redlock-status")?.as_bytes()).to_string();
    let entries = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(v @ serde_json::Value::Object(_)) => vec![v],
        _ => return bounded(&raw),
    };
    let words: Vec<String> = entries
        .iter()
        .take(MAX_STATUS_ENTRIES)
        .filter_map(|e| {
            let key = e.get("i18nKey")?.as_str()?;
            Some(match e.get("subject").and_then(serde_json::Value::as_str) {
                Some(sub) if !sub.is_empty() => format!("{key} ({sub})"),
                _ => key.to_string(),
            })
        })
        .collect();
    if words.is_empty() {
        return bounded(&raw);
    }
    bounded(&words.join(", "))
}

/// One sanitized line of at most [`MAX_STATUS_CHARS`] characters; None when empty.
fn bounded(text: &str) -> Option<String> {
    let mut t: String = crate::sanitize::one_line(text)
        .chars()
        .take(MAX_STATUS_CHARS + 1)
        .collect();
    if t.chars().count() > MAX_STATUS_CHARS {
        t = t.chars().take(MAX_STATUS_CHARS).collect::<String>() + "…";
    }
    (!t.trim().is_empty()).then_some(t)
}

/// Request pacing: at most `rate` requests per second.
#[derive(Debug)]
struct Limiter {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Limiter {
    async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep(*next - now).await;
        }
        *next = Instant::now().max(*next) + self.interval;
    }
}

/// One source's HTTP transport.
pub struct Transport {
    http: reqwest::Client,
    policy: RetryPolicy,
    limiter: Option<Limiter>,
    concurrency: Arc<tokio::sync::Semaphore>,
    stats: Stats,
    /// Not before this instant (a 429 said so): shared by every request of the source.
    not_before: tokio::sync::Mutex<Option<Instant>>,
    rng: std::sync::Mutex<Rng>,
    /// For messages: "wiz-prod (https://api.example)".
    what: String,
}

impl Transport {
    pub fn new(cfg: &SourceConfig) -> Result<Transport, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("sitrep/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ApiError::Config(format!(
                    "source '{}': cannot build an HTTP client: {e}",
                    cfg.name
                ))
            })?;
        let policy = RetryPolicy {
            max_retries: cfg.max_retries,
            ..RetryPolicy::default()
        };
        Ok(Transport {
            http,
            policy,
            limiter: cfg.rate_limit.map(|r| Limiter {
                interval: Duration::from_secs_f64(1.0 / r),
                next: tokio::sync::Mutex::new(Instant::now()),
            }),
            concurrency: Arc::new(tokio::sync::Semaphore::new(cfg.concurrency.max(1) as usize)),
            stats: Stats::default(),
            not_before: tokio::sync::Mutex::new(None),
            rng: std::sync::Mutex::new(Rng::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7),
            )),
            // The source and its host only: a base URL's path can name the tenant (Prisma
            // Cloud Compute's `/us-2-123456`), and these messages reach logs and the status bar.
            what: match reqwest::Url::parse(&cfg.base_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
            {
                Some(host) => format!("{} ({host})", cfg.name),
                None => cfg.name.clone(),
            },
        })
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Transport {
        self.policy = policy;
        self
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn what(&self) -> &str {
        &self.what
    }

    /// Full-jitter exponential backoff for attempt `n` (0-based).
    fn backoff(&self, n: u32) -> Duration {
        let ceiling = self
            .policy
            .base
            .saturating_mul(1u32 << n.min(16))
            .min(self.policy.cap);
        let ms = ceiling.as_millis().max(1) as u64;
        let r = self
            .rng
            .lock()
            .map(|mut r| r.below(ms + 1))
            .unwrap_or(ms / 2);
        Duration::from_millis(r)
    }

    /// Send with retries. `build` makes a fresh request each attempt. A 401 comes back as
    /// [`ApiError::Unauthorized`] for the session to handle, a 403 as [`ApiError::Forbidden`].
    pub async fn send(
        &self,
        build: &(dyn Fn() -> RequestBuilder + Send + Sync),
    ) -> Result<Reply, ApiError> {
        let _permit = self
            .concurrency
            .acquire()
            .await
            .map_err(|_| ApiError::Config("transport closed".into()))?;
        let mut failures = 0u32;
        let mut throttled = 0u32;
        loop {
            // Honour a Retry-After that any request of this source received.
            let wait = { *self.not_before.lock().await };
            if let Some(t) = wait {
                let now = Instant::now();
                if t > now {
                    tokio::time::sleep(t - now).await;
                }
            }
            if let Some(l) = &self.limiter {
                l.wait().await;
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let result = build().send().await;
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    let detail = describe(&e);
                    if failures >= self.policy.max_retries {
                        return Err(ApiError::Network {
                            what: self.what.clone(),
                            detail,
                        });
                    }
                    tracing::debug!(source = %self.what, %detail, "request failed; retrying");
                    tokio::time::sleep(self.backoff(failures)).await;
                    failures += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                if throttled >= self.policy.max_rate_limited {
                    return Err(ApiError::Http {
                        status: 429,
                        what: self.what.clone(),
                        detail: format!("still rate limited after {throttled} waits"),
                    });
                }
                let told = retry_after(&headers, std::time::SystemTime::now());
                let wait = told.unwrap_or_else(|| self.backoff(throttled));
                if wait > self.policy.max_wait {
                    return Err(ApiError::RateLimited {
                        what: self.what.clone(),
                        secs: wait.as_secs(),
                        max: self.policy.max_wait.as_secs(),
                    });
                }
                // A little slack past the server's instant so we never arrive early.
                let until = Instant::now()
                    + wait
                    + Duration::from_millis(if told.is_some() { 50 } else { 0 });
                {
                    let mut nb = self.not_before.lock().await;
                    *nb = Some(nb.map_or(until, |t| t.max(until)));
                }
                throttled += 1;
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                let words = vendor_words(&headers, &body);
                if status == StatusCode::FORBIDDEN {
                    return Err(ApiError::Forbidden {
                        what: self.what.clone(),
                        detail: words,
                    });
                }
                return Err(ApiError::Unauthorized(format!(
                    "HTTP {} from {}: {words}",
                    status.as_u16(),
                    self.what,
                )));
            }
            let retryable = status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT;
            let body = match resp.bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) if failures < self.policy.max_retries => {
                    tracing::debug!(source = %self.what, error = %describe(&e), "body read failed; retrying");
                    tokio::time::sleep(self.backoff(failures)).await;
                    failures += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Err(e) => {
                    return Err(ApiError::Network {
                        what: self.what.clone(),
                        detail: describe(&e),
                    });
                }
            };
            self.stats
                .bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            if status.is_success() {
                return Ok(Reply {
                    status,
                    headers,
                    body,
                });
            }
            if retryable && failures < self.policy.max_retries {
                tokio::time::sleep(self.backoff(failures)).await;
                failures += 1;
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            return Err(ApiError::Http {
                status: status.as_u16(),
                what: self.what.clone(),
                detail: vendor_words(&headers, &body),
            });
        }
    }

    /// Send and parse a JSON body; a body that does not parse (a truncated page) is fetched
    /// again, up to the retry limit, before the run fails with a clear error.
    pub async fn json(
        &self,
        build: &(dyn Fn() -> RequestBuilder + Send + Sync),
    ) -> Result<(Reply, serde_json::Value), ApiError> {
        let mut attempt = 0;
        loop {
            let reply = self.send(build).await?;
            match serde_json::from_slice::<serde_json::Value>(&reply.body) {
                Ok(v) => return Ok((reply, v)),
                Err(e) if attempt < self.policy.max_retries => {
                    tracing::debug!(source = %self.what, error = %e, "malformed body; fetching again");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    return Err(ApiError::Malformed {
                        what: self.what.clone(),
                        detail: format!(
                            "invalid JSON at line {} column {} ({} bytes)",
                            e.line(),
                            e.column(),
                            reply.body.len()
                        ),
                    });
                }
            }
        }
    }

    /// POST `body` as JSON to a login endpoint and return the reply's non-empty `token`
    /// (Prisma Cloud's `/login` and Compute's `/authenticate` speak alike). `path` names the
    /// endpoint in errors instead of `url`, which can carry a tenant; `refused` says who refused
    /// what, and the vendor's words follow it in brackets.
    pub async fn login_token(
        &self,
        url: &str,
        path: &str,
        body: &serde_json::Value,
        refused: &str,
    ) -> Result<String, ApiError> {
        let (_, v) = self
            .json(&|| {
                self.http()
                    .post(url)
                    .header("accept", "application/json")
                    .json(body)
            })
            .await
            .map_err(|e| match e {
                ApiError::Unauthorized(d) => ApiError::Unauthorized(format!("{refused} ({d})")),
                other => other,
            })?;
        match v.get("token").and_then(serde_json::Value::as_str) {
            Some(t) if !t.is_empty() => Ok(t.to_string()),
            _ => Err(ApiError::Malformed {
                what: self.what.clone(),
                detail: format!("the {path} response carries no token"),
            }),
        }
    }

    /// Count a re-authentication (called by the session).
    pub fn count_reauth(&self) {
        self.stats.reauths.fetch_add(1, Ordering::Relaxed);
    }

    /// Wait a backoff step before retrying something the caller judged transient (e.g. a
    /// GraphQL error inside a 200). Returns false once the retry budget is spent.
    pub async fn retry_pause(&self, attempt: u32) -> bool {
        if attempt >= self.policy.max_retries {
            return false;
        }
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.backoff(attempt)).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn with_status(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-redlock-status", HeaderValue::from_str(v).expect("value"));
        h
    }

    #[test]
    fn prisma_reasons_come_from_the_header() {
        let h = with_status(
            r#"[{"i18nKey":"alert_no_longer_in_expected_state","severity":"error","subject":null}]"#,
        );
        assert_eq!(vendor_words(&h, b""), "alert_no_longer_in_expected_state");
        assert_eq!(
            vendor_words(&h, b"{\"status\":404}"),
            "alert_no_longer_in_expected_state; {\"status\":404}"
        );
        let h = with_status(
            r#"[{"i18nKey":"invalid_parameter_value","subject":"limit"},{"i18nKey":"x"}]"#,
        );
        assert_eq!(vendor_words(&h, b" "), "invalid_parameter_value (limit), x");
        // Not JSON: the text itself, still one bounded line.
        assert_eq!(
            vendor_words(&with_status("permission_error"), b""),
            "permission_error"
        );
        assert_eq!(vendor_words(&HeaderMap::new(), b""), "(empty body)");
    }

    /// The shared login against a loopback endpoint: the token, a refusal in the caller's
    /// words with the vendor's after it, and a reply with an empty token.
    #[tokio::test]
    async fn login_token_reads_the_token_and_says_what_went_wrong() {
        use axum::{Json, Router, routing::post};
        use serde_json::{Value, json};
        let app = Router::new()
            .route(
                "/ok",
                post(|Json(b): Json<Value>| async move {
                    Json(json!({"token": format!("t-{}", b["username"].as_str().unwrap_or(""))}))
                }),
            )
            .route("/empty", post(|| async { Json(json!({"token": ""})) }))
            .route(
                "/denied",
                post(|| async { (StatusCode::UNAUTHORIZED, "invalid_credentials") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let text = format!(
            "[[source]]\nname = \"p\"\nvendor = \"prisma-cspm\"\nbase_url = \"{base}\"\n[source.credentials]\naccess_key = {{ env = \"A\" }}\nsecret_key = {{ env = \"B\" }}\n"
        );
        let config = crate::config::Config::from_text(None, &text).expect("config");
        let t = Transport::new(&config.sources[0]).expect("transport");
        let body = json!({"username": "u", "password": "pw"});

        let token = t
            .login_token(&format!("{base}/ok"), "/ok", &body, "refused")
            .await;
        assert_eq!(token.expect("token"), "t-u");

        let err = t
            .login_token(
                &format!("{base}/denied"),
                "/denied",
                &body,
                "p refused the key",
            )
            .await
            .expect_err("refused");
        match err {
            ApiError::Unauthorized(d) => {
                assert!(d.starts_with("p refused the key ("), "{d}");
                assert!(d.contains("invalid_credentials"), "{d}");
            }
            other => panic!("{other:?}"),
        }

        let err = t
            .login_token(&format!("{base}/empty"), "/empty", &body, "refused")
            .await
            .expect_err("no token");
        match err {
            ApiError::Malformed { detail, .. } => {
                assert_eq!(detail, "the /empty response carries no token")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_header_is_bounded_and_sanitized() {
        let long = format!(r#"[{{"i18nKey":"{}"}}]"#, "k".repeat(500));
        let w = vendor_words(&with_status(&long), b"");
        assert_eq!(w.chars().count(), MAX_STATUS_CHARS + 1, "{w}");
        assert!(w.ends_with('…'));
        let many: Vec<String> = (0..10)
            .map(|i| format!(r#"{{"i18nKey":"k{i}"}}"#))
            .collect();
        let w = vendor_words(&with_status(&format!("[{}]", many.join(","))), b"");
        assert_eq!(w, "k0, k1, k2, k3");
        // An escape sequence inside the JSON string never reaches a terminal raw.
        let w = vendor_words(&with_status(r#"[{"i18nKey":"a\u001b[31mb\nc"}]"#), b"");
        assert!(!w.contains('\u{1b}') && !w.contains('\n'), "{w:?}");
    }
}
