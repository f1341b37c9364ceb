//! Helpers for the Prisma Cloud sync tests: a store-backed page sink and a source config
//! pointed at a running simulator.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

use sitrep::domain::{Alert, EpochMs, VendorState};
use sitrep::sources::api::{ApiError, PageSink};
use sitrep::store::Store;

/// Imports every page into an in-memory store and remembers what it saw.
pub struct StoreSink {
    pub store: Store,
    pub pages: usize,
    /// Every native id delivered, in order (duplicates kept, to count them).
    pub delivered: Vec<String>,
    pub max_updated: Option<EpochMs>,
    /// The last alert delivered per native id.
    pub latest: HashMap<String, Alert>,
    /// Time spent importing into the store.
    pub import_time: std::time::Duration,
}

impl StoreSink {
    pub fn new() -> StoreSink {
        StoreSink {
            store: Store::open_in_memory().expect("store"),
            pages: 0,
            delivered: Vec::new(),
            max_updated: None,
            latest: HashMap::new(),
            import_time: std::time::Duration::ZERO,
        }
    }

    /// Forget what was delivered (the store keeps its alerts).
    pub fn reset_counts(&mut self) {
        self.pages = 0;
        self.delivered.clear();
        self.latest.clear();
    }

    pub fn duplicates(&self) -> usize {
        let distinct: HashSet<&String> = self.delivered.iter().collect();
        self.delivered.len() - distinct.len()
    }

    /// Native ids in the store for `source`.
    pub fn stored_ids(&self, source: &str) -> HashSet<String> {
        let prefix = format!("{source}:");
        self.store
            .ids_like(&prefix, 10_000_000)
            .expect("ids")
            .into_iter()
            .map(|id| id[prefix.len()..].to_string())
            .collect()
    }

    pub fn stored(&self, source: &str, native_id: &str) -> sitrep::store::StoredAlert {
        self.store
            .get(&format!("{source}:{native_id}"))
            .expect("get")
            .unwrap_or_else(|| panic!("{native_id} is not in the store"))
    }
}

impl PageSink for StoreSink {
    fn page(&mut self, alerts: Vec<Alert>) -> Result<(), ApiError> {
        self.pages += 1;
        for a in &alerts {
            self.delivered.push(a.native_id.clone());
            if let Some(u) = a.vendor_updated {
                self.max_updated = Some(self.max_updated.map_or(u, |m| m.max(u)));
            }
            self.latest.insert(a.native_id.clone(), a.clone());
        }
        let t = std::time::Instant::now();
        self.store
            .import(&alerts, chrono::Utc::now().timestamp_millis())
            .map_err(|e| ApiError::Store(e.to_string()))?;
        self.import_time += t.elapsed();
        Ok(())
    }
}

pub use super::sim_source::source_config;

/// Fetch everything (no window) into `sink`.
pub async fn fetch_all(
    client: &mut dyn sitrep::sources::api::SourceClient,
    sink: &mut dyn PageSink,
) -> Result<(), ApiError> {
    client
        .fetch(sitrep::sources::api::Window::full(now_ms()), sink)
        .await
}

pub fn counter(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::SeqCst)
}

pub fn now_ms() -> EpochMs {
    chrono::Utc::now().timestamp_millis()
}

/// A vendor status in words, for assertion messages.
pub fn state(s: &VendorState) -> String {
    s.to_store()
}
