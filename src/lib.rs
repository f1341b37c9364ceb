//! sitrep — a terminal triage console for cloud-security alerts.
//!
//! Data flows one way: vendor payloads → [`sources`] (normalize) → [`store`] (SQLite) →
//! [`triage`] (filter, later score and correlate) → the headless [`cli`] and the TUI.
//! [`sanitize`] is the one place untrusted text is made safe for a terminal or an export.
//! [`narrate`] explains an alert (an LLM behind guardrails, or the offline narrator).
//! [`sim`] holds the seeded generator and the vendor simulators (and an LLM endpoint simulator).

pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod highlight;
pub mod narrate;
pub mod net;
pub mod paths;
pub mod present;
pub mod remediate;
pub mod sanitize;
pub mod sim;
pub mod sources;
pub mod store;
pub mod triage;
pub mod tui;
pub mod ui;
