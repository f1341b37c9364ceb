//! Helpers of the Wiz and Lacework sections of tests/sync_vendors.rs: a store-backed page sink,
//! a source config pointed at a simulator, and ground-truth checks.
#![allow(dead_code)]

use std::collections::HashSet;

use sitrep::domain::{Alert, EpochMs, Vendor, VendorState};
use sitrep::sim::server::SimHandle;
use sitrep::sim::world::{SimFinding, SimStatus, World};
use sitrep::sources::api::{ApiError, PageSink};
use sitrep::store::Store;

/// Imports each page into an in-memory store, and counts what it saw.
pub struct StoreSink {
    pub store: Store,
    pub pages: usize,
    pub delivered: usize,
    pub duplicates: usize,
    pub max_updated: Option<EpochMs>,
    seen: HashSet<String>,
}

impl StoreSink {
    pub fn new() -> StoreSink {
        StoreSink {
            store: Store::open_in_memory().expect("store"),
            pages: 0,
            delivered: 0,
            duplicates: 0,
            max_updated: None,
            seen: HashSet::new(),
        }
    }

    /// Forget per-run counters (the store stays).
    pub fn new_run(&mut self) {
        self.pages = 0;
        self.delivered = 0;
        self.duplicates = 0;
        self.seen.clear();
    }
}

impl PageSink for StoreSink {
    fn page(&mut self, alerts: Vec<Alert>) -> Result<(), ApiError> {
        self.pages += 1;
        self.delivered += alerts.len();
        for a in &alerts {
            if !self.seen.insert(a.native_id.clone()) {
                self.duplicates += 1;
            }
            if let Some(u) = a.vendor_updated {
                self.max_updated = Some(self.max_updated.map_or(u, |m| m.max(u)));
            }
        }
        self.store
            .import(&alerts, chrono::Utc::now().timestamp_millis())
            .map_err(|e| ApiError::Store(e.to_string()))?;
        Ok(())
    }
}

pub use super::sim_source::source_config as config;

/// The simulator's findings of `vendor` and the native ids the emitter gives them.
pub async fn truth(h: &SimHandle, vendor: Vendor) -> Vec<(String, SimFinding)> {
    let world = h.state.world.read().await;
    world
        .findings_for(vendor)
        .map(|f| (native_id(vendor, &world, f), f.clone()))
        .collect()
}

fn native_id(vendor: Vendor, world: &World, f: &SimFinding) -> String {
    match vendor {
        Vendor::Wiz => sitrep::vendors::wiz::sim::emit::native_id(world, f),
        Vendor::Lacework => sitrep::vendors::lacework::sim::emit::native_id(world, f),
        _ => unreachable!("only wiz and lacework here"),
    }
}

/// Check the store against the simulator: every id present with the expected vendor status
/// and severity, nothing extra. Returns the number of alerts checked.
pub async fn assert_store_equals_truth(
    sink: &StoreSink,
    h: &SimHandle,
    source: &str,
    vendor: Vendor,
    status_of: fn(SimStatus) -> VendorState,
) -> usize {
    let truth = truth(h, vendor).await;
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (id, f) in &truth {
        match sink.store.get(&format!("{source}:{id}")).expect("get") {
            None => missing.push(id.clone()),
            Some(s) => {
                if s.alert.vendor_status != status_of(f.status)
                    || s.alert.severity != f.severity.severity()
                {
                    wrong.push((id.clone(), s.alert.vendor_status.clone(), f.status));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        wrong.is_empty(),
        "{} differ, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(
        sink.store.total().expect("total"),
        truth.len(),
        "extra alerts in the store"
    );
    truth.len()
}
