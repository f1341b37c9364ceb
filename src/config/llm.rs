//! `[llm]`: which model writes the narratives (docs/ai.md).
//!
//! ```toml
//! [llm]
//! provider = "openai"            # openai | azure-openai | anthropic | ollama | llamacpp | vllm | openai-compatible | none
//! model = "gpt-4o-mini"
//! api_key = { env = "OPENAI_API_KEY" }
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::duration::parse_duration;
use super::secret::Secret;
use super::vault::{CredentialRef, RawCredential};

/// The API dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    None,
    OpenAi,
    AzureOpenAi,
    Anthropic,
    Ollama,
    /// llama.cpp server, vLLM, or any other OpenAI-compatible server.
    Compatible,
}

impl ProviderKind {
    pub const NAMES: [&'static str; 8] = [
        "none",
        "openai",
        "azure-openai",
        "anthropic",
        "ollama",
        "llamacpp",
        "vllm",
        "openai-compatible",
    ];

    pub fn parse(s: &str) -> Option<ProviderKind> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "none" | "offline" | "" => ProviderKind::None,
            "openai" => ProviderKind::OpenAi,
            "azure-openai" | "azure" => ProviderKind::AzureOpenAi,
            "anthropic" => ProviderKind::Anthropic,
            "ollama" => ProviderKind::Ollama,
            "llamacpp" | "llama.cpp" | "llama-cpp" | "vllm" | "openai-compatible" => {
                ProviderKind::Compatible
            }
            _ => return None,
        })
    }

    fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Ollama => Some("http://127.0.0.1:11434/v1"),
            ProviderKind::Compatible => Some("http://127.0.0.1:8080/v1"),
            ProviderKind::AzureOpenAi | ProviderKind::None => None,
        }
    }
}

/// How structured output is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    /// `{"type": "json_schema", "json_schema": {"name", "strict", "schema"}}` (OpenAI, Azure,
    /// Ollama, vLLM, llama.cpp's llama-server).
    JsonSchema,
    /// `{"type": "json_object", "schema": …}` (llama-cpp-python's server, llama-server).
    JsonObject,
    /// No `response_format`: the schema is in the prompt and the reply is validated.
    None,
}

impl ResponseFormat {
    pub fn parse(s: &str) -> Option<ResponseFormat> {
        Some(match s.trim() {
            "json_schema" => ResponseFormat::JsonSchema,
            "json_object" => ResponseFormat::JsonObject,
            "none" => ResponseFormat::None,
            _ => return None,
        })
    }
}

/// The resolved `[llm]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    pub provider: ProviderKind,
    /// Without a trailing slash. OpenAI-compatible URLs include `/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<CredentialRef>,
    /// Azure: the dated data-plane version (absent: the v1 API).
    pub api_version: Option<String>,
    /// Azure: the deployment name.
    pub deployment: Option<String>,
    pub timeout: Duration,
    pub max_tokens: u32,
    pub temperature: f64,
    /// Retries of a 429, a 5xx, a timeout or a broken stream.
    pub max_retries: u32,
    /// OpenAI-compatible providers: how the schema is sent.
    pub response_format: ResponseFormat,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            provider: ProviderKind::None,
            base_url: String::new(),
            model: String::new(),
            api_key: None,
            api_version: None,
            deployment: None,
            timeout: Duration::from_secs(120),
            max_tokens: 800,
            temperature: 0.2,
            max_retries: 2,
            response_format: ResponseFormat::JsonSchema,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLlm {
    provider: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
    api_key: Option<RawCredential>,
    api_version: Option<String>,
    deployment: Option<String>,
    timeout: Option<String>,
    max_tokens: Option<i64>,
    temperature: Option<f64>,
    max_retries: Option<i64>,
    response_format: Option<String>,
}

impl RawLlm {
    /// `self` (the user's) over `d` (the defaults).
    pub(super) fn over(self, d: RawLlm) -> RawLlm {
        RawLlm {
            provider: self.provider.or(d.provider),
            base_url: self.base_url.or(d.base_url),
            model: self.model.or(d.model),
            api_key: self.api_key.or(d.api_key),
            api_version: self.api_version.or(d.api_version),
            deployment: self.deployment.or(d.deployment),
            timeout: self.timeout.or(d.timeout),
            max_tokens: self.max_tokens.or(d.max_tokens),
            temperature: self.temperature.or(d.temperature),
            max_retries: self.max_retries.or(d.max_retries),
            response_format: self.response_format.or(d.response_format),
        }
    }
}

fn one(s: &str) -> String {
    crate::sanitize::one_line(s)
}

/// Validate. Errors are `(key, message)`.
pub(super) fn resolve(
    r: RawLlm,
    file_private: bool,
    path: &Path,
) -> Result<LlmConfig, (String, String)> {
    let at = |k: &str| format!("[llm] {k}");
    let provider_s = r.provider.unwrap_or_else(|| "none".into());
    let provider = ProviderKind::parse(&provider_s).ok_or_else(|| {
        (
            at("provider"),
            format!(
                "unknown provider '{}'; expected one of {}",
                one(&provider_s),
                ProviderKind::NAMES.join(", ")
            ),
        )
    })?;
    let mut c = LlmConfig {
        provider,
        ..LlmConfig::default()
    };
    if let Some(t) = r.timeout {
        c.timeout = parse_duration(&t).filter(|d| !d.is_zero()).ok_or_else(|| {
            (
                at("timeout"),
                format!("'{}' is not a duration (like 90s, 5m)", one(&t)),
            )
        })?;
    }
    if let Some(n) = r.max_tokens {
        if !(16..=100_000).contains(&n) {
            return Err((at("max_tokens"), format!("{n} is out of range 16..=100000")));
        }
        c.max_tokens = n as u32;
    }
    if let Some(t) = r.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err((at("temperature"), format!("{t} is out of range 0..=2")));
        }
        c.temperature = t;
    }
    if let Some(n) = r.max_retries {
        if !(0..=10).contains(&n) {
            return Err((at("max_retries"), format!("{n} is out of range 0..=10")));
        }
        c.max_retries = n as u32;
    }
    c.api_key = match r.api_key {
        None => None,
        Some(RawCredential::Env { env }) => Some(CredentialRef::Env(env)),
        Some(RawCredential::Keyring { keyring }) => Some(CredentialRef::Keyring(
            super::keyring::KeyringEntry::parse(&keyring).map_err(|e| (at("api_key"), e))?,
        )),
        Some(RawCredential::Vault { vault }) => {
            Some(super::vault::credential(&vault).map_err(|e| (at("api_key"), e))?)
        }
        Some(RawCredential::Literal(v)) => {
            if !file_private {
                return Err((
                    at("api_key"),
                    format!(
                        "{} holds a secret but is readable by group or others; run chmod 600 on it, or use {{ env = \"VAR\" }}",
                        path.display()
                    ),
                ));
            }
            Some(CredentialRef::Literal(Secret::new(v)))
        }
    };
    let default_format = match provider_s.trim().to_ascii_lowercase().as_str() {
        "llamacpp" | "llama.cpp" | "llama-cpp" => "json_object",
        _ => "json_schema",
    };
    let rf = r.response_format.unwrap_or_else(|| default_format.into());
    c.response_format = ResponseFormat::parse(&rf).ok_or_else(|| {
        (
            at("response_format"),
            format!(
                "unknown response_format '{}'; expected json_schema, json_object or none",
                one(&rf)
            ),
        )
    })?;
    c.api_version = r.api_version.filter(|v| !v.trim().is_empty());
    c.deployment = r.deployment.filter(|v| !v.trim().is_empty());
    if provider == ProviderKind::None {
        return Ok(c);
    }
    let base = r
        .base_url
        .filter(|u| !u.trim().is_empty())
        .or_else(|| provider.default_base_url().map(str::to_string))
        .ok_or_else(|| {
            (
                at("base_url"),
                format!("is required for provider '{}'", one(&provider_s)),
            )
        })?;
    let base = base.trim().trim_end_matches('/').to_string();
    let loopback = base.starts_with("http://127.")
        || base.starts_with("http://localhost")
        || base.starts_with("http://[::1]");
    if !base.starts_with("https://") && !loopback {
        return Err((
            at("base_url"),
            format!(
                "'{}' must be an https:// URL (plain http only for loopback)",
                one(&base)
            ),
        ));
    }
    c.base_url = base;
    c.model = r.model.map(|m| m.trim().to_string()).unwrap_or_default();
    if c.model.is_empty() {
        if provider == ProviderKind::AzureOpenAi {
            c.model = c.deployment.clone().unwrap_or_default();
        }
        if c.model.is_empty() {
            return Err((
                at("model"),
                format!("is required for provider '{}'", one(&provider_s)),
            ));
        }
    }
    if provider == ProviderKind::AzureOpenAi && c.api_version.is_some() && c.deployment.is_none() {
        return Err((
            at("deployment"),
            "is required with api_version (the classic Azure URL names the deployment)".into(),
        ));
    }
    let needs_key = matches!(
        provider,
        ProviderKind::OpenAi | ProviderKind::AzureOpenAi | ProviderKind::Anthropic
    );
    if needs_key && c.api_key.is_none() {
        return Err((
            at("api_key"),
            format!(
                "is required for provider '{}' (e.g. api_key = {{ env = \"VAR\" }})",
                one(&provider_s)
            ),
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    use super::*;

    fn parse(t: &str) -> Result<LlmConfig, String> {
        Config::from_text_private(Some(Path::new("c.toml")), t, false)
            .map(|c| c.llm)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_is_the_offline_narrator() {
        assert_eq!(parse("").expect("ok").provider, ProviderKind::None);
    }

    #[test]
    fn providers_resolve_with_defaults() {
        let c = parse("[llm]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\napi_key = { env = \"OPENAI_API_KEY\" }\n")
            .expect("ok");
        assert_eq!(c.base_url, "https://api.openai.com/v1");
        assert_eq!(c.api_key, Some(CredentialRef::Env("OPENAI_API_KEY".into())));
        let o = parse("[llm]\nprovider = \"ollama\"\nmodel = \"llama3.1\"\n").expect("ok");
        assert_eq!(o.base_url, "http://127.0.0.1:11434/v1");
        let az = parse("[llm]\nprovider = \"azure-openai\"\nbase_url = \"https://r.openai.azure.com/\"\ndeployment = \"narr\"\napi_version = \"2024-10-21\"\napi_key = { env = \"AZ\" }\ntimeout = \"30s\"\n").expect("ok");
        assert_eq!(az.model, "narr");
        assert_eq!(az.timeout, Duration::from_secs(30));
    }

    #[test]
    fn bad_llm_tables_get_precise_errors() {
        let e = |t: &str| parse(t).expect_err("must fail");
        assert_eq!(
            e("[llm]\nprovider = \"gpt\"\n"),
            "config file c.toml: [llm] provider: unknown provider 'gpt'; expected one of none, openai, azure-openai, anthropic, ollama, llamacpp, vllm, openai-compatible"
        );
        assert_eq!(
            e("[llm]\nprovider = \"openai\"\nmodel = \"m\"\n"),
            "config file c.toml: [llm] api_key: is required for provider 'openai' (e.g. api_key = { env = \"VAR\" })"
        );
        assert_eq!(
            e(
                "[llm]\nprovider = \"vllm\"\nbase_url = \"http://10.0.0.5:8000/v1\"\nmodel = \"m\"\n"
            ),
            "config file c.toml: [llm] base_url: 'http://10.0.0.5:8000/v1' must be an https:// URL (plain http only for loopback)"
        );
        assert_eq!(
            e(
                "[llm]\nprovider = \"anthropic\"\nmodel = \"claude\"\napi_key = \"sk-ant-api03-xyz\"\n"
            ),
            "config file c.toml: [llm] api_key: c.toml holds a secret but is readable by group or others; run chmod 600 on it, or use { env = \"VAR\" }"
        );
        assert_eq!(
            e("[llm]\nmax_tokens = 5\n"),
            "config file c.toml: [llm] max_tokens: 5 is out of range 16..=100000"
        );
        assert_eq!(
            e("[llm]\nprovider = \"llamacpp\"\n"),
            "config file c.toml: [llm] model: is required for provider 'llamacpp'"
        );
    }
}
