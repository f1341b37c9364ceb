//! One sync run of one source, and the background refresher built on it.
//!
//! A run asks the vendor for what changed since the source's watermark minus an overlap window
//! (everything with `--full` or on the first run), and commits each page in its own transaction,
//! so a run that fails half-way keeps the pages it already stored. A successful run moves the
//! watermark to the newest vendor update time it saw; a failed one leaves it alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::api::{ApiError, Client, PageSink, Stats, Window};
use crate::config::SourceConfig;
use crate::domain::{Alert, EpochMs};
use crate::store::{ImportStats, Store};

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunStats {
    pub pages: usize,
    pub alerts: usize,
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub stale: usize,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub reauths: u64,
    pub elapsed_ms: u64,
    /// The window asked for (None: everything).
    pub since: Option<EpochMs>,
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub source: String,
    pub stats: RunStats,
    pub error: Option<ApiError>,
}

impl RunReport {
    /// The one-line summary `sitrep sync` prints.
    pub fn line(&self) -> String {
        let s = &self.stats;
        let what = format!(
            "{} page(s), {} alert(s): {} new, {} updated, {} unchanged; {} request(s), {} retr{}, {} rate-limited, {:.1}s",
            s.pages,
            s.alerts,
            s.new,
            s.updated,
            s.unchanged,
            s.requests,
            s.retries,
            if s.retries == 1 { "y" } else { "ies" },
            s.rate_limited,
            s.elapsed_ms as f64 / 1000.0
        );
        match &self.error {
            None => format!("{}: ok — {what}", self.source),
            Some(e) => format!(
                "{}: FAILED — {} (before failing: {what})",
                self.source,
                crate::sanitize::one_line(&e.to_string())
            ),
        }
    }
}

/// Progress within a run, for a status bar or a progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub source: String,
    pub pages: usize,
    pub alerts: usize,
}

/// Commits each page to the store and tracks the newest vendor update time.
struct StoreSink<'a> {
    store: &'a Mutex<Store>,
    now_ms: EpochMs,
    totals: ImportStats,
    pages: usize,
    alerts: usize,
    newest: Option<EpochMs>,
    source: String,
    progress: &'a (dyn Fn(&Progress) + Send + Sync),
}

impl PageSink for StoreSink<'_> {
    fn page(&mut self, alerts: Vec<Alert>) -> Result<(), ApiError> {
        for a in &alerts {
            if let Some(t) = a.vendor_updated.or(a.last_seen) {
                self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
            }
        }
        let stats = {
            let mut store = self
                .store
                .lock()
                .map_err(|_| ApiError::Store("the store lock is poisoned".into()))?;
            store
                .import(&alerts, self.now_ms)
                .map_err(|e| ApiError::Store(e.to_string()))?
        };
        self.totals.add(stats);
        self.pages += 1;
        self.alerts += alerts.len();
        (self.progress)(&Progress {
            source: self.source.clone(),
            pages: self.pages,
            alerts: self.alerts,
        });
        Ok(())
    }
}

fn stat(c: &std::sync::atomic::AtomicU64) -> u64 {
    Stats::get(c)
}

/// Run one sync of `cfg` into `store`. Never panics; every failure is in the report (and in
/// the store's source state).
pub async fn run(
    cfg: &SourceConfig,
    store: &Mutex<Store>,
    full: bool,
    now_ms: EpochMs,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> RunReport {
    let started = Instant::now();
    let watermark = store
        .lock()
        .ok()
        .and_then(|s| s.source_state(&cfg.name).ok().flatten())
        .and_then(|s| s.watermark);
    let since = if full {
        None
    } else {
        watermark.map(|w| w - cfg.overlap.as_millis() as i64)
    };
    let mut sink = StoreSink {
        store,
        now_ms,
        totals: ImportStats::default(),
        pages: 0,
        alerts: 0,
        newest: None,
        source: cfg.name.clone(),
        progress,
    };
    let mut client_stats = (0, 0, 0, 0);
    let result = match Client::new(cfg) {
        Ok(mut client) => {
            let r = client
                .fetch(
                    Window {
                        since,
                        until: now_ms,
                    },
                    &mut sink,
                )
                .await;
            let s = client.stats();
            client_stats = (
                stat(&s.requests),
                stat(&s.retries),
                stat(&s.rate_limited),
                stat(&s.reauths),
            );
            r
        }
        Err(e) => Err(e),
    };
    let stats = RunStats {
        pages: sink.pages,
        alerts: sink.alerts,
        new: sink.totals.new,
        updated: sink.totals.updated,
        unchanged: sink.totals.unchanged,
        stale: sink.totals.stale,
        requests: client_stats.0,
        retries: client_stats.1,
        rate_limited: client_stats.2,
        reauths: client_stats.3,
        elapsed_ms: started.elapsed().as_millis() as u64,
        since,
    };
    let stats_json = serde_json::to_value(&stats).unwrap_or(serde_json::Value::Null);
    let vendor = cfg.vendor.as_str();
    let error = match result {
        Ok(()) => {
            let newest = sink.newest.or(watermark);
            let recorded = store
                .lock()
                .map_err(|_| "the store lock is poisoned".to_string())
                .and_then(|mut s| {
                    s.record_success(&cfg.name, vendor, now_ms, newest, &stats_json)
                        .map_err(|e| e.to_string())
                });
            recorded.err().map(ApiError::Store)
        }
        Err(e) => {
            if let Ok(mut s) = store.lock() {
                let _ = s.record_failure(&cfg.name, vendor, now_ms, &e.to_string(), &stats_json);
            }
            Some(e)
        }
    };
    RunReport {
        source: cfg.name.clone(),
        stats,
        error,
    }
}

/// What a source's background refresher is doing, for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// Waiting for the next run.
    Idle {
        last_success: Option<EpochMs>,
        next_run_in: Duration,
    },
    Syncing {
        pages: usize,
        alerts: usize,
    },
    /// The last run failed; the next one is scheduled.
    Failed {
        reason: String,
        last_success: Option<EpochMs>,
        next_run_in: Duration,
    },
}

/// A running background refresher: one tokio task per source.
pub struct Refresher {
    pub status: Vec<(String, tokio::sync::watch::Receiver<SourceStatus>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Fires after every committed page or finished run, so a UI can reload.
    pub changed: tokio::sync::watch::Receiver<u64>,
    /// Wakes every source waiting for its next run ("sync now").
    trigger: Arc<tokio::sync::Notify>,
}

impl Refresher {
    /// Start refreshing every source on its interval (±10% jitter), first run immediately.
    /// `clock` gives epoch milliseconds.
    pub fn spawn(
        sources: Vec<SourceConfig>,
        store: Arc<Mutex<Store>>,
        clock: fn() -> EpochMs,
    ) -> Refresher {
        let (changed_tx, changed) = tokio::sync::watch::channel(0u64);
        let changed_tx = Arc::new(changed_tx);
        let trigger = Arc::new(tokio::sync::Notify::new());
        let mut status = Vec::new();
        let mut tasks = Vec::new();
        for (i, cfg) in sources.into_iter().enumerate() {
            let (tx, rx) = tokio::sync::watch::channel(SourceStatus::Syncing {
                pages: 0,
                alerts: 0,
            });
            status.push((cfg.name.clone(), rx));
            let store = store.clone();
            let changed_tx = changed_tx.clone();
            let trigger = trigger.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = crate::sim::rng::Rng::new(clock() as u64 ^ (i as u64) << 32);
                let tx = Arc::new(tx);
                let mut last_success = store
                    .lock()
                    .ok()
                    .and_then(|s| s.source_state(&cfg.name).ok().flatten())
                    .and_then(|s| s.last_success_at);
                loop {
                    let _ = tx.send(SourceStatus::Syncing {
                        pages: 0,
                        alerts: 0,
                    });
                    let ptx = tx.clone();
                    let pchanged = changed_tx.clone();
                    let progress = move |p: &Progress| {
                        let _ = ptx.send(SourceStatus::Syncing {
                            pages: p.pages,
                            alerts: p.alerts,
                        });
                        pchanged.send_modify(|n| *n += 1);
                    };
                    let report = run(&cfg, &store, false, clock(), &progress).await;
                    changed_tx.send_modify(|n| *n += 1);
                    let base = cfg.interval.as_millis() as i64;
                    let jitter = rng.range(-base / 10, base / 10);
                    let next = Duration::from_millis((base + jitter).max(1000) as u64);
                    match report.error {
                        None => {
                            last_success = Some(clock());
                            let _ = tx.send(SourceStatus::Idle {
                                last_success,
                                next_run_in: next,
                            });
                        }
                        Some(e) => {
                            let _ = tx.send(SourceStatus::Failed {
                                reason: crate::sanitize::one_line(&e.to_string()),
                                last_success,
                                next_run_in: next,
                            });
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(next) => {}
                        _ = trigger.notified() => {}
                    }
                }
            }));
        }
        Refresher {
            status,
            tasks,
            changed,
            trigger,
        }
    }

    /// Start every source that is waiting for its next run now (a running one carries on).
    pub fn sync_now(&self) {
        self.trigger.notify_waiters();
    }

    /// Stop every source's task.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}
