//! sitrep — a terminal triage console for cloud-security alerts.
//!
//! Data flows one way: vendor payloads → [`sources`] (fetch and normalize) → [`store`]
//! (SQLite) → [`triage`] (filter, score, correlate) → the headless [`cli`] and the console.
//!
//! - At the bottom, plain data and helpers: [`domain`], [`sanitize`] (the one place untrusted
//!   text is made safe), [`paths`], [`net`] (what an HTTP failure says), [`highlight`].
//! - [`config`]: defaults embedded in the binary ⊕ the user's file, validated.
//! - The pipeline: [`sources`] (vendor clients and mappers), [`store`] (SQLite; every SQL
//!   statement), [`triage`] (filter language, score, correlation, suppression), [`audit`]
//!   (the hash-chained log).
//! - Acting on an alert: [`narrate`] (an LLM behind guardrails, or the offline narrator),
//!   [`remediate`] (fixes as diffs), [`dispatch`] (tickets, notifications, write-back).
//! - What people see: [`present`] (text shared by the CLI and the console), [`app`] (state and
//!   update), [`ui`] (drawing), [`tui`] (the terminal), [`cli`] (the commands).
//! - [`sim`]: the seeded world and simulators of every peer, for tests and the demo.
//!
//! `docs/architecture.md` draws the layers and says who may import whom.

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
