//! sitrep — a terminal triage console for cloud-security alerts.
//!
//! Data flows one way: vendor payloads → [`vendors`] (one folder per vendor: mapper, client,
//! simulator) over the shared client kit and sync engine in [`sources`] → [`store`] (SQLite) →
//! [`triage`] (filter, score, correlate) → the headless [`cli`] and the [`console`]. The modules,
//! bottom layer first (docs/architecture.md has who may import whom; `tests/boundaries.rs`
//! holds it):
//!
//! - [`domain`]: plain data (alerts, statuses, scores, sort keys, decision intents), no I/O.
//! - [`sanitize`]: the one place untrusted text is made safe for a terminal or an export.
//! - [`paths`]: every file and directory the app uses.
//! - [`rng`]: the seeded generator (stable seeds for the world, jitter, the simulators).
//! - [`net`]: what an HTTP failure says (no URL), `Retry-After`, body snippets.
//! - [`signature`]: Standard Webhooks signing and checking (the sender and the simulator's
//!   receiver).
//! - [`present`]: ages, timestamps and an alert's text, shared by the CLI and the console.
//! - [`highlight`]: syntax highlighting into plain styled lines (no terminal types).
//! - [`config`]: the embedded defaults ⊕ the user's `config.toml`, keymap, themes.
//! - [`triage`]: the filter language (parsed to a typed query), the score, correlation,
//!   attack paths, mute rules.
//! - [`store`]: SQLite — every SQL statement: migrations, the queue query, history, the outbox.
//! - [`audit`]: the hash-chained, keyed audit log and its verification.
//! - [`sources`]: what every vendor shares: the client kit (transport, session, pages) and
//!   the sync engine with the refresher.
//! - [`sim`]: the seeded world, the simulator machinery and the non-vendor peers (Jira,
//!   ServiceNow, chat, LLM), for tests and the demo.
//! - [`vendors`]: one folder per vendor (mapper, client, simulator) and the registry
//!   (`vendors::kit`), the only place that matches on every vendor.
//! - [`remediate`]: remediation as diffs against IaC checkouts.
//! - [`narrate`]: an alert explained (an LLM behind guardrails, or the offline narrator).
//! - [`dispatch`]: decisions leaving the machine: tickets, chat, webhooks, vendor write-back.
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
pub mod net;
pub mod paths;
pub mod present;
pub mod remediate;
pub mod rng;
pub mod sanitize;
pub mod signature;
pub mod sim;
pub mod sources;
pub mod store;
pub mod triage;
pub mod vendors;
