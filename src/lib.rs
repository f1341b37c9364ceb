//! sitrep — a terminal triage console for cloud-security alerts.
//!
//! Data flows one way: vendor payloads → [`sources`] (normalize) → [`store`] (SQLite) →
//! [`triage`] (filter, score, correlate) → the headless [`cli`] and the [`console`]. The modules,
//! bottom layer first (docs/architecture.md has who may import whom; `tests/boundaries.rs`
//! holds it):
//!
//! - [`domain`]: plain data (alerts, statuses, scores, decision intents), no I/O.
//! - [`sanitize`]: the one place untrusted text is made safe for a terminal or an export.
//! - [`paths`]: every file and directory the app uses.
//! - [`highlight`]: syntax highlighting into plain styled lines (no terminal types).
//! - [`triage`]: the filter language, the score, correlation, attack paths, mute rules.
//! - [`store`]: SQLite — migrations, the queue query, history, the outbox.
//! - [`audit`]: the hash-chained, keyed audit log and its verification.
//! - [`config`]: the embedded defaults ⊕ the user's `config.toml`, keymap, themes.
//! - [`sources`]: vendor payloads → alerts, the vendor API clients, sync and the refresher.
//! - [`remediate`]: remediation as diffs against IaC checkouts.
//! - [`narrate`]: an alert explained (an LLM behind guardrails, or the offline narrator).
//! - [`dispatch`]: decisions leaving the machine: tickets, chat, webhooks, vendor write-back.
//! - [`sim`]: the seeded world and loopback simulators of every peer, for tests and the demo.
//! - [`console`]: the interactive screen — model (state + update), view, runtime.
//! - [`cli`]: clap definitions, the headless commands, and starting the console or the demo.

pub mod audit;
pub mod cli;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod domain;
pub mod highlight;
pub mod narrate;
pub mod paths;
pub mod remediate;
pub mod rng;
pub mod sanitize;
pub mod sim;
pub mod sources;
pub mod store;
pub mod triage;
pub mod vendors;
