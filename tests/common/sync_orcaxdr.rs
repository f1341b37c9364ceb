//! Helpers for the Orca and Cortex XDR sync tests: a store-backed page sink, a source config
//! for a running simulator, and the simulator's ground truth.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;

use sitrep::domain::{Alert, EpochMs, Severity, Vendor, VendorState};
use sitrep::sim::server::{Counters, SimHandle};
use sitrep::sources::api::{ApiError, PageSink, Stats};
use sitrep::store::Store;
use sitrep::vendors::emit;

pub fn now_ms() -> EpochMs {
    chrono::Utc::now().timestamp_millis()
}

/// Imports every page into an in-memory store, and remembers what it was given.
pub struct StoreSink {
    pub store: Store,
    pub pages: usize,
    /// Native ids in the order they arrived (duplicates kept).
    pub received: Vec<String>,
    pub max_updated: Option<EpochMs>,
}

impl StoreSink {
    pub fn new() -> StoreSink {
        StoreSink {
            store: Store::open_in_memory().expect("store"),
            pages: 0,
            received: Vec::new(),
            max_updated: None,
        }
    }

    /// Forget what was received (the store stays).
    pub fn reset_counts(&mut self) {
        self.pages = 0;
        self.received.clear();
    }

    pub fn unique(&self) -> usize {
        self.received.iter().collect::<BTreeSet<_>>().len()
    }
}

impl PageSink for StoreSink {
    fn page(&mut self, alerts: Vec<Alert>) -> Result<(), ApiError> {
        self.pages += 1;
        for a in &alerts {
            self.received.push(a.native_id.clone());
            if let Some(t) = a.vendor_updated {
                self.max_updated = Some(self.max_updated.map_or(t, |m| m.max(t)));
            }
        }
        self.store
            .import(&alerts, now_ms())
            .map(|_| ())
            .map_err(|e| ApiError::Store(e.to_string()))
    }
}

pub use super::sim_source::source_config as config;

/// What the simulator's world says now, through the vendor's own mapper: native id →
/// (vendor status, severity, vendor_updated).
pub async fn truth(
    handle: &SimHandle,
    vendor: Vendor,
) -> BTreeMap<String, (VendorState, Severity, Option<EpochMs>)> {
    let world = handle.state.world.read().await;
    let body = emit::vendor_body(vendor, &world);
    drop(world);
    sitrep::vendors::map_payload(vendor, "truth", &body)
        .expect("emitted body maps")
        .into_iter()
        .map(|a| (a.native_id, (a.vendor_status, a.severity, a.vendor_updated)))
        .collect()
}

/// The store's alerts of `source`: native id → (vendor status, severity, vendor_updated).
pub fn stored(
    store: &Store,
    source: &str,
) -> BTreeMap<String, (VendorState, Severity, Option<EpochMs>)> {
    let prefix = format!("{source}:");
    store
        .ids_like(&prefix, 10_000_000)
        .expect("ids")
        .into_iter()
        .map(|id| {
            let a = store.get(&id).expect("get").expect("stored").alert;
            (
                a.native_id.clone(),
                (a.vendor_status, a.severity, a.vendor_updated),
            )
        })
        .collect()
}

/// The store holds exactly the simulator's alerts, with the same status, severity and update
/// time. Returns how many.
pub async fn assert_store_equals_truth(
    store: &Store,
    source: &str,
    handle: &SimHandle,
    vendor: Vendor,
) -> usize {
    let want = truth(handle, vendor).await;
    let got = stored(store, source);
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} missing (e.g. {:?}), {} extra (e.g. {:?})",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(3).collect::<Vec<_>>()
    );
    let differ: Vec<(&String, _, _)> = want
        .iter()
        .filter_map(|(k, w)| {
            let g = &got[k];
            (g != w).then_some((k, w, g))
        })
        .collect();
    assert!(
        differ.is_empty(),
        "{} alerts differ from the simulator, e.g. {:?}",
        differ.len(),
        differ.iter().take(3).collect::<Vec<_>>()
    );
    want.len()
}

pub fn c(x: &AtomicU64) -> u64 {
    Counters::get(x)
}

pub fn s(x: &AtomicU64) -> u64 {
    Stats::get(x)
}

/// Counts what arrives, without a store (for paging tests where the store is not the point).
#[derive(Default)]
pub struct CountSink {
    pub pages: usize,
    pub received: Vec<String>,
}

impl CountSink {
    pub fn unique(&self) -> usize {
        self.ids().len()
    }

    pub fn ids(&self) -> BTreeSet<String> {
        self.received.iter().cloned().collect()
    }
}

impl PageSink for CountSink {
    fn page(&mut self, alerts: Vec<Alert>) -> Result<(), ApiError> {
        self.pages += 1;
        self.received
            .extend(alerts.into_iter().map(|a| a.native_id));
        Ok(())
    }
}
