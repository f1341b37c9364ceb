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
//! - [`rng`]: the seeded generator (stable seeds for the world, jitter, the simulators).
//! - [`paths`]: every file and directory the app uses.
//! - [`triage`]: the filter language (parsed to a typed query), the score, correlation,
//!   attack paths, mute rules.
//! - [`net`]: what an HTTP failure says (no URL), `Retry-After`, body snippets.
//! - [`highlight`]: syntax highlighting into plain styled lines (no terminal types).
//! - [`config`]: the embedded defaults ⊕ the user's `config.toml`, keymap, themes.
//! - [`audit`]: the hash-chained, keyed audit log and its verification.
//! - [`remediate`]: remediation as diffs against IaC checkouts.
//! - [`signature`]: Standard Webhooks signing and checking (the sender and the simulator's
//!   receiver).
//! - [`store`]: SQLite — every SQL statement: migrations, the queue query, history, the outbox.
//! - [`sim`]: the seeded world, the simulator machinery and the non-vendor peers (Jira,
//!   ServiceNow, chat, LLM), for tests and the demo.
//! - [`sources`]: what every vendor shares: the client kit (transport, session, pages) and
//!   the sync engine with the refresher.
//! - [`narrate`]: an alert explained (an LLM behind guardrails, or the offline narrator).
//! - [`present`]: ages, timestamps and an alert's text, shared by the CLI and the console.
//! - [`vendors`]: one folder per vendor (mapper, client, simulator) and the registry
//!   (`vendors::kit`), the only place that matches on every vendor.
//! - [`dispatch`]: decisions leaving the machine: tickets, chat, webhooks, vendor write-back.
//! - [`listen`]: alerts pushed in: the webhook receiver of `sitrep listen`.
//! - [`team`]: team mode: the shared PostgreSQL store and this machine's replica of it.
//! - [`console`]: the interactive screen — model (state + update), view, runtime.
//! - [`cli`]: clap definitions, the headless commands, and starting the console or the demo.

pub mod audit;
pub mod cli;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod domain;
pub mod highlight;
pub mod listen;
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
pub mod team;
pub mod triage;
pub mod vendors;
