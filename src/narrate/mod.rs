//! The AI narrative, with guardrails.
//!
//! A [`Narrator`] explains one alert. With no `[llm]` provider configured it is the offline
//! narrator: deterministic text built from the structured fields, labelled as offline. With a
//! provider it streams a reply from an OpenAI-compatible or Anthropic endpoint, validates it
//! against [`schema::json_schema`], and falls back to the offline narrative (saying why)
//! when the reply is unusable.
//!
//! Guardrails (docs/ai.md):
//! - secrets are redacted before the prompt is built ([`redact`]);
//! - every alert field is fenced between nonce-marked markers and described as data
//!   ([`prompt`]); the system prompt carries a per-call canary, and a reply echoing it is
//!   refused;
//! - replies are schema-validated (one retry on an invalid one) and every string is
//!   sanitized before it is shown; references to resources, CVEs, accounts or URLs that are
//!   not in the alert are flagged ([`ground`]);
//! - the model has no tools and nothing here can change an alert: this module holds no
//!   store handle except to read and write its own cache and call records;
//! - a model narrative that repeats the alert's attacker-writable text or states a
//!   disposition the alert does not support is flagged ([`echo`]); every recommended command
//!   is labelled destructive, exfiltration or privilege when it is one ([`risk`]); vendor
//!   values that read like instructions are quoted and marked, never prose ([`hostile`]);
//! - every call is recorded ([`LlmCall`]) for the audit log, with the flags its reply got.

pub mod anthropic;
pub mod ask;
pub mod echo;
pub mod ground;
pub mod hostile;
pub mod offline;
pub mod openai;
pub mod prompt;
pub mod redact;
pub mod risk;
pub mod schema;
pub mod sse;
pub mod summary;

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use offline::offline_narrative;
pub use schema::{Confidence, NarrativeBody, RecommendedAction};

use crate::config::llm::{LlmConfig, ProviderKind};
use crate::domain::EpochMs;
use crate::store::{LlmCallRecord, Store, StoreError, StoredAlert};
use prompt::{Prompt, Templates};

/// Who wrote a narrative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// The deterministic offline narrator.
    Offline,
    /// A model, through a provider.
    Model {
        provider: String,
        model: String,
        /// Served from the local cache.
        #[serde(default)]
        cached: bool,
    },
}

/// An explanation of one alert, as shown in the detail pane and by `sitrep narrate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Narrative {
    #[serde(flatten)]
    pub body: NarrativeBody,
    pub origin: Origin,
    pub prompt_version: String,
    /// References to resources, CVEs, accounts, URLs or fields the alert does not contain.
    #[serde(default)]
    pub ungrounded: Vec<String>,
    /// Why the model's narrative is unavailable (this one is then the offline fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Sentences that repeat the alert's free text or state a disposition its fields do not
    /// support: possibly injected ([`echo`]).
    #[serde(default)]
    pub injected: Vec<echo::Flag>,
    /// The recommended commands labelled destructive, exfiltration or privilege ([`risk`]).
    #[serde(default)]
    pub command_risks: Vec<risk::CommandRisk>,
    /// The provider calls that produced it (for the audit log; not part of the cache).
    #[serde(skip)]
    pub calls: Vec<LlmCall>,
}

impl Narrative {
    pub fn is_offline(&self) -> bool {
        self.origin == Origin::Offline
    }

    /// Run the reply checks on a model narrative of `alert`: echoes and unsupported
    /// dispositions, and the risk of every recommended command.
    pub fn check_reply(&mut self, alert: &StoredAlert) {
        self.injected = echo::check(&self.body, alert);
        self.command_risks = risk::of_actions(&self.body.actions);
    }

    /// What the call record and the audit entry keep of the checks: kinds, narrative parts
    /// and alert field names, never the alert's or the model's text.
    pub fn audit_flags(&self) -> Vec<String> {
        let mut out: Vec<String> = self.injected.iter().map(echo::Flag::audit_label).collect();
        for c in &self.command_risks {
            let kinds: Vec<&str> = c.risks.iter().map(|r| r.kind.as_str()).collect();
            let mut kinds = kinds;
            kinds.dedup();
            out.push(format!(
                "command actions[{}]: {}",
                c.action + 1,
                kinds.join(", ")
            ));
        }
        if !self.ungrounded.is_empty() {
            out.push(format!("ungrounded: {}", self.ungrounded.len()));
        }
        out
    }

    /// The risk labels of action `i` (0-based), if its command has any.
    pub fn command_risk(&self, i: usize) -> Option<&risk::CommandRisk> {
        self.command_risks.iter().find(|c| c.action == i)
    }

    /// The marker line under a narrative part that was flagged.
    fn part_marks(&self, part: &str) -> String {
        let has = |k: echo::FlagKind| self.injected.iter().any(|f| f.part == part && f.kind == k);
        let kinds: Vec<&str> = [
            (echo::FlagKind::Echo, "repeats text from the alert"),
            (
                echo::FlagKind::Disposition,
                "states an unsupported disposition",
            ),
        ]
        .into_iter()
        .filter(|(k, _)| has(*k))
        .map(|(_, t)| t)
        .collect();
        if kinds.is_empty() {
            String::new()
        } else {
            format!("  ^ possibly injected: {}\n", kinds.join("; "))
        }
    }

    /// Readable text for panes and the CLI, every string sanitized.
    pub fn to_text(&self) -> String {
        use crate::sanitize::text as clean;
        let mut out = String::new();
        match &self.origin {
            Origin::Offline => {
                out.push_str("[offline narrator: built from the alert's fields, no AI model]\n")
            }
            Origin::Model {
                provider,
                model,
                cached,
            } => {
                out.push_str(&format!(
                    "[AI narrative: {} {}{} — a proposal, verify before acting]\n",
                    clean(provider),
                    clean(model),
                    if *cached { ", cached" } else { "" }
                ));
            }
        }
        if let Some(reason) = &self.unavailable {
            out.push_str(&format!(
                "narrative unavailable: {}\n",
                crate::sanitize::one_line(reason)
            ));
        }
        if !self.ungrounded.is_empty() {
            out.push_str(&format!(
                "warning: ungrounded references (not in the alert): {}\n",
                self.ungrounded
                    .iter()
                    .map(|u| crate::sanitize::one_line(u))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        for f in &self.injected {
            out.push_str(&format!("warning: {}\n", f.text()));
        }
        let b = &self.body;
        out.push_str(&format!("\nSummary\n  {}\n", clean(&b.summary).trim()));
        out.push_str(&self.part_marks("summary"));
        out.push_str(&format!("\nImpact\n  {}\n", clean(&b.impact).trim()));
        out.push_str(&self.part_marks("impact"));
        out.push_str(&format!(
            "\nLikely root cause\n  {}\n",
            clean(&b.root_cause).trim()
        ));
        out.push_str(&self.part_marks("root_cause"));
        if let Some(p) = &b.attack_path {
            out.push_str(&format!("\nAttack path\n  {}\n", clean(p).trim()));
            out.push_str(&self.part_marks("attack_path"));
        }
        if !b.actions.is_empty() {
            out.push_str("\nRecommended actions (review before running; sitrep runs nothing)\n");
            for (i, a) in b.actions.iter().enumerate() {
                out.push_str(&format!("  {}. {}\n", i + 1, clean(&a.step).trim()));
                out.push_str(&self.part_marks(&format!("actions[{}].step", i + 1)));
                if let Some(c) = &a.command {
                    out.push_str(&format!("     $ {}\n", crate::sanitize::one_line(c)));
                    out.push_str(&self.part_marks(&format!("actions[{}].command", i + 1)));
                    if let Some(r) = self.command_risk(i) {
                        out.push_str(&format!(
                            "     ! {} — do not run without review\n",
                            r.label()
                        ));
                    }
                }
            }
        }
        out.push_str(&format!("\nConfidence: {}\n", b.confidence.as_str()));
        if !b.evidence.is_empty() {
            out.push_str(&format!(
                "Evidence: {}\n",
                b.evidence
                    .iter()
                    .map(|e| crate::sanitize::one_line(e))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }

    /// The same narrative with every string sanitized (for JSON output and the cache).
    pub fn sanitized(&self) -> Narrative {
        use crate::sanitize::text as clean;
        let mut n = self.clone();
        let b = &mut n.body;
        b.summary = clean(&b.summary).into_owned();
        b.impact = clean(&b.impact).into_owned();
        b.root_cause = clean(&b.root_cause).into_owned();
        b.attack_path = b.attack_path.as_deref().map(|p| clean(p).into_owned());
        for a in &mut b.actions {
            a.step = clean(&a.step).into_owned();
            a.command = a.command.as_deref().map(crate::sanitize::one_line);
        }
        b.evidence = b
            .evidence
            .iter()
            .map(|e| crate::sanitize::one_line(e))
            .collect();
        n.ungrounded = n
            .ungrounded
            .iter()
            .map(|e| crate::sanitize::one_line(e))
            .collect();
        n.unavailable = n.unavailable.as_deref().map(crate::sanitize::one_line);
        for f in &mut n.injected {
            f.excerpt = crate::sanitize::one_line(&f.excerpt);
            f.what = crate::sanitize::one_line(&f.what);
        }
        n
    }
}

/// One provider call, for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmCall {
    pub at: EpochMs,
    pub alert_id: String,
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
    /// sha256 of system prompt, NUL, user prompt.
    pub prompt_sha256: String,
    /// sha256 of the reply text (or of the error body).
    pub response_sha256: String,
    /// Secrets redacted from the prompt, per kind.
    pub redactions: BTreeMap<String, usize>,
    pub latency_ms: u64,
    /// `ok`, `invalid: …`, `canary`, `error: …`.
    pub outcome: String,
    /// What the checks flagged in this call's reply ([`Narrative::audit_flags`]).
    #[serde(default)]
    pub flags: Vec<String>,
}

impl LlmCall {
    pub fn record(&self) -> LlmCallRecord {
        LlmCallRecord {
            at: self.at,
            alert_id: self.alert_id.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            prompt_version: self.prompt_version.clone(),
            prompt_sha256: self.prompt_sha256.clone(),
            response_sha256: self.response_sha256.clone(),
            redactions_json: serde_json::to_string(&self.redactions).unwrap_or_default(),
            redaction_total: self.redactions.values().sum::<usize>() as i64,
            latency_ms: self.latency_ms as i64,
            outcome: self.outcome.clone(),
            flags_json: serde_json::to_string(&self.flags).unwrap_or_else(|_| "[]".into()),
        }
    }
}

/// What the narrator tells the UI while it works.
#[derive(Debug, Clone)]
pub enum NarrateEvent {
    Started {
        label: String,
    },
    /// Reply text as it streams in (sanitized).
    Delta(String),
    Done(Narrative),
    Failed {
        reason: String,
        fallback: Narrative,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum NarrateError {
    #[error("[llm] {0}")]
    Config(String),
}

/// What a request asks a provider for.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub system: String,
    pub user: String,
    /// A previous invalid reply and what was wrong with it (the one retry).
    pub correction: Option<(String, String)>,
    pub schema: serde_json::Value,
    pub max_tokens: u32,
    pub temperature: f64,
}

/// A finished reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    /// `stop`, `length`, `end_turn`, `max_tokens`, …
    pub finish: Option<String>,
}

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("rate limited (HTTP {status}){}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("quota or spend limit exhausted: {0}")]
    Quota(String),
    #[error("server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("request refused (HTTP {status}): {message}")]
    Client { status: u16, message: String },
    #[error("{0}")]
    Transport(String),
    #[error("stream broken: {0}")]
    Stream(String),
    #[error("the model refused: {0}")]
    Refusal(String),
}

impl ProviderError {
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Server { .. }
                | ProviderError::Transport(_)
                | ProviderError::Stream(_)
        )
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// Receives reply text as it streams.
pub type DeltaSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A model endpoint. Implementations stream and report text deltas through `on_delta`.
pub trait Provider: Send + Sync {
    /// `openai`, `azure-openai`, `anthropic`, `ollama`.
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    /// Host (and port) for labels.
    fn host(&self) -> String;
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;
}

/// Retry settings of the narrator.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_retries: u32,
    pub max_tokens: u32,
    pub temperature: f64,
    /// Longest Retry-After honoured; a longer one fails the call.
    pub max_wait: Duration,
    /// First backoff step (doubles).
    pub backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_retries: 2,
            max_tokens: 800,
            temperature: 0.2,
            max_wait: Duration::from_secs(60),
            backoff: Duration::from_millis(500),
        }
    }
}

struct Inner {
    provider: Option<Box<dyn Provider>>,
    templates: Templates,
    limits: Limits,
    clock: fn() -> EpochMs,
}

/// The narration service. Cheap to clone.
#[derive(Clone)]
pub struct Narrator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Narrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format!("Narrator({})", self.label()))
    }
}

fn wall_clock() -> EpochMs {
    chrono::Utc::now().timestamp_millis()
}

/// 128 unpredictable bits as hex (std's RandomState is seeded from the OS).
fn random_hex() -> String {
    let mut s = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s
}

impl Narrator {
    /// The narrator the configuration asks for: offline when `[llm] provider = "none"`.
    pub fn from_config(cfg: &crate::config::Config) -> Result<Narrator, NarrateError> {
        let llm = &cfg.llm;
        let templates = match cfg.path.as_deref().and_then(std::path::Path::parent) {
            Some(dir) => Templates::load(&dir.join("prompts")).map_err(NarrateError::Config)?,
            None => Templates::embedded(),
        };
        let provider = build_provider(llm, &|k| std::env::var(k).ok())?;
        Ok(Narrator::with_provider(
            provider,
            templates,
            Limits {
                max_retries: llm.max_retries,
                max_tokens: llm.max_tokens,
                temperature: llm.temperature,
                ..Limits::default()
            },
        ))
    }

    /// The offline narrator.
    pub fn offline() -> Narrator {
        Narrator::with_provider(None, Templates::embedded(), Limits::default())
    }

    /// A narrator over any provider (tests and embedders).
    pub fn with_provider(
        provider: Option<Box<dyn Provider>>,
        templates: Templates,
        limits: Limits,
    ) -> Narrator {
        Narrator {
            inner: Arc::new(Inner {
                provider,
                templates,
                limits,
                clock: wall_clock,
            }),
        }
    }

    pub fn is_offline(&self) -> bool {
        self.inner.provider.is_none()
    }

    /// "offline narrator" or "openai gpt-4o-mini @ host".
    pub fn label(&self) -> String {
        match &self.inner.provider {
            None => "offline narrator".into(),
            Some(p) => {
                crate::sanitize::one_line(&format!("{} {} @ {}", p.name(), p.model(), p.host()))
            }
        }
    }

    pub fn prompt_version(&self) -> &str {
        &self.inner.templates.version
    }

    /// The cache key's model part: `provider/model@host`.
    fn model_key(&self) -> Option<String> {
        self.inner
            .provider
            .as_ref()
            .map(|p| format!("{}/{}@{}", p.name(), p.model(), p.host()))
    }

    /// A cached model narrative for this alert's current content, if one was saved.
    pub fn cached(&self, store: &Store, alert: &StoredAlert) -> Option<Narrative> {
        let key = self.model_key()?;
        let json = store
            .cached_narrative(&alert.content_hash, self.prompt_version(), &key)
            .ok()??;
        let mut n: Narrative = serde_json::from_str(&json).ok()?;
        if let Origin::Model { cached, .. } = &mut n.origin {
            *cached = true;
        }
        // Checked again: a narrative cached before a check existed gets it too.
        let mut n = n.sanitized();
        n.check_reply(alert);
        Some(n)
    }

    /// Narrate one alert. Never fails: on error it sends [`NarrateEvent::Failed`] and returns
    /// the offline narrative, which says why. Dropping the future cancels the request.
    pub async fn narrate(
        &self,
        alert: &StoredAlert,
        events: tokio::sync::mpsc::UnboundedSender<NarrateEvent>,
    ) -> Narrative {
        let _ = events.send(NarrateEvent::Started {
            label: self.label(),
        });
        let Some(provider) = self.inner.provider.as_deref() else {
            let n = offline_narrative(alert);
            let _ = events.send(NarrateEvent::Done(n.clone()));
            return n;
        };
        match self.call_model(provider, alert, &events).await {
            Ok(n) => {
                let _ = events.send(NarrateEvent::Done(n.clone()));
                n
            }
            Err((reason, calls)) => {
                let mut fallback = offline_narrative(alert);
                fallback.unavailable = Some(reason.clone());
                fallback.calls = calls;
                let _ = events.send(NarrateEvent::Failed {
                    reason,
                    fallback: fallback.clone(),
                });
                fallback
            }
        }
    }

    async fn call_model(
        &self,
        provider: &dyn Provider,
        alert: &StoredAlert,
        events: &tokio::sync::mpsc::UnboundedSender<NarrateEvent>,
    ) -> Result<Narrative, (String, Vec<LlmCall>)> {
        let limits = &self.inner.limits;
        let canary = format!("SITREP-CANARY-{}", random_hex());
        let nonce = random_hex()[..16].to_string();
        let prompt: Prompt = prompt::build(alert, &self.inner.templates, &canary, &nonce);
        let mut req = ChatRequest {
            system: prompt.system.clone(),
            user: prompt.user.clone(),
            correction: None,
            schema: schema::json_schema(),
            max_tokens: limits.max_tokens,
            temperature: limits.temperature,
        };
        let mut calls: Vec<LlmCall> = Vec::new();
        let mut transport_retries = 0u32;
        let mut invalid_retries = 0u32;
        let sink_tx = events.clone();
        let on_delta = move |d: &str| {
            let clean = crate::sanitize::text(d);
            if !clean.is_empty() {
                let _ = sink_tx.send(NarrateEvent::Delta(clean.into_owned()));
            }
        };
        loop {
            let started = Instant::now();
            let at = (self.inner.clock)();
            let result = provider.complete(&req, &on_delta).await;
            let mut call = LlmCall {
                at,
                alert_id: alert.id.clone(),
                provider: provider.name().to_string(),
                model: provider.model().to_string(),
                prompt_version: prompt.version.clone(),
                prompt_sha256: sha_of_request(&req),
                response_sha256: String::new(),
                redactions: prompt.redactions.clone(),
                latency_ms: started.elapsed().as_millis() as u64,
                outcome: String::new(),
                flags: Vec::new(),
            };
            match result {
                Err(e) => {
                    call.response_sha256 = prompt::sha256_hex(&[e.to_string().as_bytes()]);
                    call.outcome = format!("error: {e}");
                    calls.push(call);
                    if e.retryable() && transport_retries < limits.max_retries {
                        let wait = match &e {
                            ProviderError::RateLimited {
                                retry_after: Some(d),
                                ..
                            } => *d,
                            _ => limits.backoff.saturating_mul(1 << transport_retries.min(8)),
                        };
                        if wait > limits.max_wait {
                            return Err((
                                format!("{e}; the wait exceeds {}s", limits.max_wait.as_secs()),
                                calls,
                            ));
                        }
                        transport_retries += 1;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err((e.to_string(), calls));
                }
                Ok(c) => {
                    call.response_sha256 = prompt::sha256_hex(&[c.text.as_bytes()]);
                    if c.text.contains(&prompt.canary) {
                        call.outcome = "canary".into();
                        calls.push(call);
                        return Err((
                            "the reply repeated the system prompt's canary (possible prompt injection); it was discarded"
                                .into(),
                            calls,
                        ));
                    }
                    let checked = if c.finish.as_deref() == Some("length")
                        || c.finish.as_deref() == Some("max_tokens")
                    {
                        Err(format!(
                            "the reply was cut at the token limit ({} tokens)",
                            limits.max_tokens
                        ))
                    } else {
                        schema::validate(&c.text)
                    };
                    match checked {
                        Ok(body) => {
                            call.outcome = "ok".into();
                            calls.push(call);
                            let mut n = Narrative {
                                body,
                                origin: Origin::Model {
                                    provider: provider.name().to_string(),
                                    model: provider.model().to_string(),
                                    cached: false,
                                },
                                prompt_version: prompt.version.clone(),
                                ungrounded: Vec::new(),
                                unavailable: None,
                                injected: Vec::new(),
                                command_risks: Vec::new(),
                                calls: Vec::new(),
                            }
                            .sanitized();
                            n.ungrounded = grounding(&n.body, &prompt);
                            n.check_reply(alert);
                            if let Some(last) = calls.last_mut() {
                                last.flags = n.audit_flags();
                            }
                            n.calls = calls;
                            return Ok(n);
                        }
                        Err(why) => {
                            call.outcome = format!("invalid: {why}");
                            calls.push(call);
                            if invalid_retries >= 1 {
                                return Err((
                                    format!("the model's reply was invalid twice: {why}"),
                                    calls,
                                ));
                            }
                            invalid_retries += 1;
                            let previous: String = c.text.chars().take(2000).collect();
                            req.correction = Some((previous, why));
                        }
                    }
                }
            }
        }
    }
}

fn sha_of_request(req: &ChatRequest) -> String {
    let mut parts: Vec<&[u8]> = vec![req.system.as_bytes(), b"\0", req.user.as_bytes()];
    if let Some((prev, why)) = &req.correction {
        parts.extend([b"\0".as_slice(), prev.as_bytes(), b"\0", why.as_bytes()]);
    }
    prompt::sha256_hex(&parts)
}

/// Ungrounded references in a narrative, and evidence fields the model was never given.
fn grounding(body: &NarrativeBody, prompt: &Prompt) -> Vec<String> {
    let mut text = vec![
        body.summary.clone(),
        body.impact.clone(),
        body.root_cause.clone(),
    ];
    text.extend(body.attack_path.clone());
    for a in &body.actions {
        text.push(a.step.clone());
        text.extend(a.command.clone());
    }
    let mut out = ground::ungrounded(&text.join("\n"), &prompt.evidence_text);
    for e in &body.evidence {
        if !prompt::is_known_field(&prompt.fields, e) {
            out.push(format!("evidence field: {e}"));
        }
    }
    out
}

/// The correction turn of the one retry after an invalid reply.
pub fn correction_text(why: &str) -> String {
    format!(
        "Your previous reply was not valid: {}. Reply again with only one JSON object that matches the schema.",
        crate::sanitize::one_line(why)
    )
}

fn build_provider(
    llm: &LlmConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Box<dyn Provider>>, NarrateError> {
    let key = match &llm.api_key {
        Some(k) => Some(k.resolve(env).map_err(NarrateError::Config)?),
        None => None,
    };
    let http = reqwest::Client::builder()
        .timeout(llm.timeout)
        .connect_timeout(llm.timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("sitrep/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NarrateError::Config(format!("cannot build an HTTP client: {e}")))?;
    Ok(match llm.provider {
        ProviderKind::None => None,
        ProviderKind::Anthropic => Some(Box::new(anthropic::Anthropic::new(
            http,
            &llm.base_url,
            &llm.model,
            key,
        ))),
        kind => Some(Box::new(
            openai::OpenAi::new(
                http,
                openai::Flavor::from_kind(kind, llm.deployment.clone(), llm.api_version.clone()),
                &llm.base_url,
                &llm.model,
                key,
            )
            .with_format(llm.response_format),
        )),
    })
}

/// Save what a narration produced: every call into `llm_calls`, and a model narrative (not
/// a fallback) into the cache under (content hash, prompt version, model).
pub fn persist(
    store: &mut Store,
    narrator: &Narrator,
    alert: &StoredAlert,
    n: &Narrative,
    now: EpochMs,
) -> Result<(), StoreError> {
    for c in &n.calls {
        store.record_llm_call(&c.record())?;
    }
    if n.unavailable.is_none()
        && let (Origin::Model { cached: false, .. }, Some(key)) = (&n.origin, narrator.model_key())
    {
        let json = serde_json::to_string(&n.sanitized())
            .map_err(|e| StoreError::Invalid(format!("cannot encode narrative: {e}")))?;
        store.save_narrative(
            &alert.content_hash,
            narrator.prompt_version(),
            &key,
            &alert.id,
            &json,
            now,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
