//! sitrep — a terminal triage console for cloud-security alerts.
//!
//! Data flows one way: vendor payloads → [`vendors`] (one folder per vendor: mapper, client,
//! simulator; `vendors::kit(v)` picks them) over the shared client kit and sync engine in
//! [`sources`] → [`store`] (SQLite) → [`triage`] (filter, score, correlate) → the headless
//! [`cli`] and the TUI.
//! [`sanitize`] is the one place untrusted text is made safe for a terminal or an export.
//! [`narrate`] explains an alert (an LLM behind guardrails, or the offline narrator).
//! [`sim`] holds the seeded world, the simulator machinery and the non-vendor simulators (Jira,
//! ServiceNow, chat, LLM); [`rng`] is the seeded generator production code shares with it.

pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
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
pub mod tui;
pub mod ui;
pub mod vendors;
