//! OpenAI-compatible chat completions: OpenAI, Azure OpenAI, Ollama, llama.cpp, vLLM.
//!
//! Always streamed (`stream: true`, SSE `data:` chunks ending with `[DONE]`); structured
//! output is asked for with `response_format: json_schema`, which llama.cpp and Ollama
//! enforce with a grammar. A server that answers with one JSON body instead of a stream is
//! read as a non-streamed completion.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use super::sse::SseParser;
use super::{BoxFuture, ChatRequest, Completion, DeltaSink, Provider, ProviderError};
use crate::config::Secret;
use crate::config::llm::{ProviderKind, ResponseFormat};
use crate::net::describe;

/// Which dialect of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    /// api.openai.com: `Authorization: Bearer`, `max_completion_tokens`.
    OpenAi,
    /// Azure OpenAI: `api-key` header; with `api_version`, the classic
    /// `/openai/deployments/{deployment}/chat/completions?api-version=` URL, else the v1 API.
    Azure {
        deployment: Option<String>,
        api_version: Option<String>,
    },
    /// Ollama's OpenAI-compatible endpoint.
    Ollama,
    /// Any other compatible server (llama.cpp, vLLM): `max_tokens`, optional bearer key.
    Compatible,
}

impl Flavor {
    pub fn from_kind(
        kind: ProviderKind,
        deployment: Option<String>,
        api_version: Option<String>,
    ) -> Flavor {
        match kind {
            ProviderKind::OpenAi => Flavor::OpenAi,
            ProviderKind::AzureOpenAi => Flavor::Azure {
                deployment,
                api_version,
            },
            ProviderKind::Ollama => Flavor::Ollama,
            _ => Flavor::Compatible,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Flavor::OpenAi => "openai",
            Flavor::Azure { .. } => "azure-openai",
            Flavor::Ollama => "ollama",
            Flavor::Compatible => "openai-compatible",
        }
    }
}

pub struct OpenAi {
    http: reqwest::Client,
    flavor: Flavor,
    base_url: String,
    model: String,
    key: Option<Secret>,
    format: ResponseFormat,
}

impl OpenAi {
    /// A client asking for `json_schema` structured output (see [`OpenAi::with_format`]).
    pub fn new(
        http: reqwest::Client,
        flavor: Flavor,
        base_url: &str,
        model: &str,
        key: Option<Secret>,
    ) -> OpenAi {
        OpenAi {
            http,
            flavor,
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            key,
            format: ResponseFormat::JsonSchema,
        }
    }

    pub fn with_format(mut self, format: ResponseFormat) -> OpenAi {
        self.format = format;
        self
    }

    /// The request URL.
    pub fn url(&self) -> String {
        match &self.flavor {
            Flavor::Azure {
                deployment: Some(d),
                api_version: Some(v),
            } => format!(
                "{}/openai/deployments/{d}/chat/completions?api-version={v}",
                self.base_url
            ),
            Flavor::Azure { .. } if !self.base_url.ends_with("/openai/v1") => {
                format!("{}/openai/v1/chat/completions", self.base_url)
            }
            _ => format!("{}/chat/completions", self.base_url),
        }
    }

    /// The JSON body for `req`.
    pub fn body(&self, req: &ChatRequest) -> serde_json::Value {
        let mut messages = vec![
            serde_json::json!({"role": "system", "content": req.system}),
            serde_json::json!({"role": "user", "content": req.user}),
        ];
        if let Some((previous, why)) = &req.correction {
            messages.push(serde_json::json!({"role": "assistant", "content": previous}));
            messages
                .push(serde_json::json!({"role": "user", "content": super::correction_text(why)}));
        }
        let model = match &self.flavor {
            Flavor::Azure {
                deployment: Some(d),
                ..
            } => d.clone(),
            _ => self.model.clone(),
        };
        let mut body = serde_json::json!({
            "model": model,
            "messages": messages,
            "temperature": req.temperature,
            "stream": true,
        });
        match self.format {
            ResponseFormat::JsonSchema => {
                body["response_format"] = serde_json::json!({
                    "type": "json_schema",
                    "json_schema": {"name": "alert_narrative", "strict": true, "schema": req.schema}
                });
            }
            ResponseFormat::JsonObject => {
                body["response_format"] =
                    serde_json::json!({"type": "json_object", "schema": req.schema});
            }
            ResponseFormat::None => {}
        }
        match self.flavor {
            Flavor::OpenAi | Flavor::Azure { .. } => {
                body["max_completion_tokens"] = req.max_tokens.into();
                body["stream_options"] = serde_json::json!({"include_usage": true});
            }
            Flavor::Ollama | Flavor::Compatible => body["max_tokens"] = req.max_tokens.into(),
        }
        body
    }

    async fn run(
        &self,
        req: &ChatRequest,
        on_delta: DeltaSink<'_>,
    ) -> Result<Completion, ProviderError> {
        let mut rb = self
            .http
            .post(self.url())
            .header("accept", "text/event-stream")
            .json(&self.body(req));
        if let Some(k) = &self.key {
            rb = match self.flavor {
                Flavor::Azure { .. } => rb.header("api-key", k.expose()),
                _ => rb.bearer_auth(k.expose()),
            };
        }
        let mut resp = rb.send().await.map_err(|e| transport_error(&e))?;
        let status = resp.status();
        if !status.is_success() {
            let headers = resp.headers().clone();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(http_error(status.as_u16(), &headers, &body));
        }
        let is_json = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            let body = resp
                .bytes()
                .await
                .map_err(|e| ProviderError::Stream(describe(&e)))?;
            let c = parse_whole(&body)?;
            on_delta(&c.text);
            return Ok(c);
        }
        let mut parser = SseParser::new();
        let mut acc = StreamState::default();
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => return Err(ProviderError::Stream(describe(&e))),
            };
            for ev in parser.push(&chunk).map_err(ProviderError::Stream)? {
                if acc.event(&ev.data, on_delta)? {
                    return acc.finish();
                }
            }
        }
        if acc.finish.is_some() {
            return acc.finish();
        }
        Err(ProviderError::Stream(
            "the stream ended before [DONE] or a finish reason".into(),
        ))
    }
}

/// Text and finish reason gathered from stream chunks.
#[derive(Debug, Default)]
pub struct StreamState {
    pub text: String,
    pub refusal: String,
    pub finish: Option<String>,
}

impl StreamState {
    /// One `data:` payload. Returns true at `[DONE]`.
    pub fn event(&mut self, data: &str, on_delta: DeltaSink<'_>) -> Result<bool, ProviderError> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let v: serde_json::Value = serde_json::from_str(data).map_err(|e| {
            ProviderError::Stream(format!(
                "a stream chunk is not JSON ({e}): {}",
                crate::net::snippet(data.as_bytes())
            ))
        })?;
        if let Some(err) = v.get("error") {
            return Err(ProviderError::Stream(format!(
                "the server reported an error mid-stream: {}",
                error_message(err)
            )));
        }
        // vLLM sends `choices: null` on the usage chunk.
        if let Some(choices) = v.get("choices").and_then(|c| c.as_array()) {
            for ch in choices {
                let delta = ch.get("delta").or_else(|| ch.get("message"));
                if let Some(t) = delta
                    .and_then(|d| d.get("content"))
                    .and_then(|c| c.as_str())
                {
                    self.text.push_str(t);
                    on_delta(t);
                }
                if let Some(r) = delta
                    .and_then(|d| d.get("refusal"))
                    .and_then(|c| c.as_str())
                {
                    self.refusal.push_str(r);
                }
                if let Some(f) = ch.get("finish_reason").and_then(|f| f.as_str()) {
                    self.finish = Some(f.to_string());
                }
            }
        }
        Ok(false)
    }

    pub fn finish(&mut self) -> Result<Completion, ProviderError> {
        if !self.refusal.is_empty() {
            return Err(ProviderError::Refusal(crate::sanitize::one_line(
                &self.refusal,
            )));
        }
        if self.finish.as_deref() == Some("content_filter") {
            return Err(ProviderError::Refusal(
                "the provider's content filter stopped the reply".into(),
            ));
        }
        Ok(Completion {
            text: std::mem::take(&mut self.text),
            finish: self.finish.clone(),
        })
    }
}

/// A non-streamed `chat.completion` body.
fn parse_whole(body: &[u8]) -> Result<Completion, ProviderError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::Stream(format!(
            "the response is not JSON ({e}): {}",
            crate::net::snippet(body)
        ))
    })?;
    let mut st = StreamState::default();
    let noop = |_: &str| {};
    st.event(&v.to_string(), &noop)?;
    if st.finish.is_none() && st.text.is_empty() {
        return Err(ProviderError::Stream(
            "the response has no choices[0].message".into(),
        ));
    }
    st.finish()
}

pub(super) fn transport_error(e: &reqwest::Error) -> ProviderError {
    ProviderError::Transport(describe(e))
}

/// `error.message` (OpenAI) / `error.message` (Anthropic), or the value itself.
pub(super) fn error_message(err: &serde_json::Value) -> String {
    let m = err
        .get("message")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| err.to_string());
    crate::sanitize::one_line(&m.chars().take(300).collect::<String>())
}

/// The wait a 429/503/529 asks for (`retry-after-ms`, then Retry-After in its forms).
pub(super) fn wait_hint(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return crate::net::wait_secs(ms / 1000.0);
    }
    crate::net::retry_after(headers, SystemTime::now())
}

/// Map a non-2xx response to an error (OpenAI and Anthropic error bodies).
pub(super) fn http_error(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let err = v.as_ref().and_then(|v| v.get("error"));
    let message = match err {
        Some(e) => error_message(e),
        None => crate::net::snippet(body),
    };
    let code = err
        .and_then(|e| e.get("code").or_else(|| e.get("type")))
        .and_then(|c| c.as_str())
        .unwrap_or("");
    let spend = err
        .and_then(|e| e.pointer("/details/error_code"))
        .and_then(|c| c.as_str())
        == Some("enforced_spend_limit_reached");
    match status {
        429 if code == "insufficient_quota" || spend => ProviderError::Quota(message),
        429 => ProviderError::RateLimited {
            status,
            retry_after: wait_hint(headers),
        },
        529 => ProviderError::RateLimited {
            status,
            retry_after: wait_hint(headers),
        },
        500..=599 => ProviderError::Server { status, message },
        _ => ProviderError::Client { status, message },
    }
}

impl Provider for OpenAi {
    fn name(&self) -> &str {
        self.flavor.name()
    }

    fn model(&self) -> &str {
        match &self.flavor {
            Flavor::Azure {
                deployment: Some(d),
                ..
            } => d,
            _ => &self.model,
        }
    }

    fn host(&self) -> String {
        host_of(&self.base_url)
    }

    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(self.run(req, on_delta))
    }
}

/// `host[:port]` of a URL.
pub(super) fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ChatRequest {
        ChatRequest {
            system: "s".into(),
            user: "u".into(),
            correction: Some(("{bad".into(), "not JSON".into())),
            schema: serde_json::json!({"type": "object"}),
            max_tokens: 100,
            temperature: 0.2,
        }
    }

    fn client(flavor: Flavor, base: &str) -> OpenAi {
        OpenAi::new(reqwest::Client::new(), flavor, base, "gpt-4o-mini", None)
    }

    #[test]
    fn urls_and_bodies_per_flavor() {
        let o = client(Flavor::OpenAi, "https://api.openai.com/v1/");
        assert_eq!(o.url(), "https://api.openai.com/v1/chat/completions");
        let b = o.body(&req());
        assert_eq!(b["max_completion_tokens"], 100);
        assert_eq!(b["response_format"]["type"], "json_schema");
        assert_eq!(b["messages"].as_array().map(Vec::len), Some(4));
        let az = client(
            Flavor::Azure {
                deployment: Some("narr".into()),
                api_version: Some("2024-10-21".into()),
            },
            "https://r.openai.azure.com",
        );
        assert_eq!(
            az.url(),
            "https://r.openai.azure.com/openai/deployments/narr/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(az.body(&req())["model"], "narr");
        let v1 = client(
            Flavor::Azure {
                deployment: Some("narr".into()),
                api_version: None,
            },
            "https://r.openai.azure.com",
        );
        assert_eq!(
            v1.url(),
            "https://r.openai.azure.com/openai/v1/chat/completions"
        );
        let l = client(Flavor::Compatible, "http://127.0.0.1:8080/v1")
            .with_format(ResponseFormat::JsonObject);
        assert_eq!(l.body(&req())["max_tokens"], 100);
        assert_eq!(l.body(&req())["response_format"]["type"], "json_object");
        assert_eq!(
            l.body(&req())["response_format"]["schema"]["type"],
            "object"
        );
        assert_eq!(l.host(), "127.0.0.1:8080");
    }

    #[test]
    fn stream_chunks_accumulate_and_refusals_fail() {
        let mut st = StreamState::default();
        let seen = std::sync::Mutex::new(String::new());
        let sink = |d: &str| seen.lock().expect("lock").push_str(d);
        assert!(!st
            .event(r#"{"choices":[{"delta":{"role":"assistant","content":"{\"a\""},"finish_reason":null}]}"#, &sink)
            .expect("ok"));
        assert!(
            !st.event(
                r#"{"choices":[{"delta":{"content":":1}"},"finish_reason":"stop"}]}"#,
                &sink
            )
            .expect("ok")
        );
        assert!(
            !st.event(r#"{"choices":null,"usage":{"total_tokens":3}}"#, &sink)
                .expect("ok")
        );
        assert!(st.event("[DONE]", &sink).expect("ok"));
        let c = st.finish().expect("done");
        assert_eq!(c.text, "{\"a\":1}");
        assert_eq!(c.finish.as_deref(), Some("stop"));
        assert_eq!(*seen.lock().expect("lock"), "{\"a\":1}");
        let mut r = StreamState::default();
        r.event(
            r#"{"choices":[{"delta":{"refusal":"no"},"finish_reason":"stop"}]}"#,
            &sink,
        )
        .expect("ok");
        assert!(matches!(r.finish(), Err(ProviderError::Refusal(_))));
        let e = StreamState::default()
            .event("{not json", &sink)
            .expect_err("bad chunk");
        assert!(matches!(e, ProviderError::Stream(_)));
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().expect("hv"));
        let quota = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert!(matches!(
            http_error(429, &h, quota),
            ProviderError::Quota(_)
        ));
        let rl = br#"{"error":{"message":"slow down","code":"rate_limit_exceeded"}}"#;
        assert_eq!(
            http_error(429, &h, rl),
            ProviderError::RateLimited {
                status: 429,
                retry_after: Some(Duration::from_secs(2))
            }
        );
        assert!(http_error(503, &h, b"oops").retryable());
        let c = http_error(401, &h, br#"{"error":{"message":"bad key \u001b[31m"}}"#);
        assert!(!c.retryable());
        assert!(!c.to_string().contains('\x1b'));
    }
}
