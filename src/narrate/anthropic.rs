//! Anthropic Messages API, streamed (named SSE events; no `[DONE]`, the stream ends with
//! `message_stop`). The schema is given in the system prompt and the reply validated; no
//! tool is ever offered to the model.

use super::openai::{error_message, host_of, http_error, transport_error};
use super::sse::SseParser;
use super::{BoxFuture, ChatRequest, Completion, DeltaSink, Provider, ProviderError};
use crate::config::Secret;
use crate::net::describe;

pub const API_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    http: reqwest::Client,
    base_url: String,
    model: String,
    key: Option<Secret>,
}

impl Anthropic {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        model: &str,
        key: Option<Secret>,
    ) -> Anthropic {
        Anthropic {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            key,
        }
    }

    pub fn url(&self) -> String {
        if self.base_url.ends_with("/v1") {
            format!("{}/messages", self.base_url)
        } else {
            format!("{}/v1/messages", self.base_url)
        }
    }

    pub fn body(&self, req: &ChatRequest) -> serde_json::Value {
        let mut messages = vec![serde_json::json!({"role": "user", "content": req.user})];
        if let Some((previous, why)) = &req.correction {
            messages.push(serde_json::json!({"role": "assistant", "content": previous}));
            messages
                .push(serde_json::json!({"role": "user", "content": super::correction_text(why)}));
        }
        serde_json::json!({
            "model": self.model,
            "max_tokens": req.max_tokens,
            "system": req.system,
            "messages": messages,
            "temperature": req.temperature,
            "stream": true,
        })
    }

    async fn run(
        &self,
        req: &ChatRequest,
        on_delta: DeltaSink<'_>,
    ) -> Result<Completion, ProviderError> {
        let mut rb = self
            .http
            .post(self.url())
            .header("anthropic-version", API_VERSION)
            .header("accept", "text/event-stream")
            .json(&self.body(req));
        if let Some(k) = &self.key {
            rb = rb.header("x-api-key", k.expose());
        }
        let mut resp = rb.send().await.map_err(|e| transport_error(&e))?;
        let status = resp.status();
        if !status.is_success() {
            let headers = resp.headers().clone();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(http_error(status.as_u16(), &headers, &body));
        }
        let mut parser = SseParser::new();
        let mut st = MessageStream::default();
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => return Err(ProviderError::Stream(describe(&e))),
            };
            for ev in parser.push(&chunk).map_err(ProviderError::Stream)? {
                if st.event(ev.event.as_deref(), &ev.data, on_delta)? {
                    return Ok(st.completion());
                }
            }
        }
        Err(ProviderError::Stream(
            "the stream ended before message_stop".into(),
        ))
    }
}

/// The state of one Messages stream.
#[derive(Debug, Default)]
pub struct MessageStream {
    pub text: String,
    pub stop_reason: Option<String>,
}

impl MessageStream {
    /// One event. Returns true at `message_stop`.
    pub fn event(
        &mut self,
        name: Option<&str>,
        data: &str,
        on_delta: DeltaSink<'_>,
    ) -> Result<bool, ProviderError> {
        let v: serde_json::Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                return Err(ProviderError::Stream(format!(
                    "an event is not JSON ({e}): {}",
                    crate::net::snippet(data.as_bytes())
                )));
            }
        };
        let kind = name
            .map(str::to_string)
            .or_else(|| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default();
        match kind.as_str() {
            "content_block_delta" => {
                if v.pointer("/delta/type").and_then(|t| t.as_str()) == Some("text_delta")
                    && let Some(t) = v.pointer("/delta/text").and_then(|t| t.as_str())
                {
                    self.text.push_str(t);
                    on_delta(t);
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(|r| r.as_str()) {
                    self.stop_reason = Some(r.to_string());
                }
            }
            "message_stop" => return Ok(true),
            "error" => {
                let err = v.get("error").cloned().unwrap_or(v.clone());
                let etype = err.get("type").and_then(|t| t.as_str()).unwrap_or("");
                let msg = error_message(&err);
                return Err(
                    if etype == "overloaded_error" || etype == "rate_limit_error" {
                        ProviderError::RateLimited {
                            status: 529,
                            retry_after: None,
                        }
                    } else {
                        ProviderError::Stream(format!(
                            "the server reported an error mid-stream: {msg}"
                        ))
                    },
                );
            }
            // message_start, content_block_start/stop, ping
            _ => {}
        }
        Ok(false)
    }

    pub fn completion(&mut self) -> Completion {
        Completion {
            text: std::mem::take(&mut self.text),
            finish: self.stop_reason.clone(),
        }
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_stream_in_order() {
        let mut st = MessageStream::default();
        let sink = |_: &str| {};
        let evs = [
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":3}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"{\"a\""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":":1}"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}"#,
            ),
        ];
        for (n, d) in evs {
            assert!(!st.event(Some(n), d, &sink).expect("ok"));
        }
        assert!(
            st.event(Some("message_stop"), r#"{"type":"message_stop"}"#, &sink)
                .expect("ok")
        );
        let c = st.completion();
        assert_eq!(c.text, "{\"a\":1}");
        assert_eq!(c.finish.as_deref(), Some("end_turn"));
    }

    #[test]
    fn mid_stream_errors() {
        let sink = |_: &str| {};
        let e = MessageStream::default()
            .event(
                Some("error"),
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                &sink,
            )
            .expect_err("overloaded");
        assert!(e.retryable());
        let e = MessageStream::default()
            .event(
                Some("error"),
                r#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#,
                &sink,
            )
            .expect_err("api error");
        assert!(matches!(e, ProviderError::Stream(_)));
    }

    #[test]
    fn url_and_body() {
        let a = Anthropic::new(
            reqwest::Client::new(),
            "https://api.anthropic.com/",
            "claude-x",
            None,
        );
        assert_eq!(a.url(), "https://api.anthropic.com/v1/messages");
        let b = a.body(&ChatRequest {
            system: "s".into(),
            user: "u".into(),
            correction: None,
            schema: serde_json::json!({}),
            max_tokens: 9,
            temperature: 0.0,
        });
        assert_eq!(b["system"], "s");
        assert_eq!(b["max_tokens"], 9);
        assert!(b.get("tools").is_none());
    }
}
