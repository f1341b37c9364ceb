//! Plain data: the normalized alert and everything an analyst records about it.
//!
//! Nothing in here does I/O. Every other layer (sources, store, triage, ui) speaks these types.

mod alert;
mod sort;
mod status;
mod triage;

pub use alert::{
    Alert, Category, Cloud, Compliance, Cve, Exposure, Policy, RawJson, Resource, Severity, Vendor,
    VendorPath, VendorPathKind, VendorState,
};
pub use sort::SortKey;
pub use status::{DismissReason, HistoryEntry, Intent, Status, StatusKind};
pub use triage::{AttackPath, Factor, PathStep, Score, Stage};

/// Milliseconds since the Unix epoch, UTC. The one time representation the store and the
/// model share; formatting happens at the edges.
pub type EpochMs = i64;
