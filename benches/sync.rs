//! Sync throughput: a zero-latency loopback simulator per vendor → client → mapper → store.
//! Also the local side alone (parse + map + store of the same payloads), which must not be the
//! bottleneck, measured in the thread's CPU time (`ThreadCpu`).

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sitrep::config::Config;
use sitrep::config::sources::{CredentialRef, Secret};
use sitrep::domain::Vendor;
use sitrep::sim::server::{Faults, SimOptions};
use sitrep::sim::world::World;
use sitrep::store::Store;
use sitrep::vendors::emit;

/// The binary's allocator (src/main.rs), so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: i64 = 1_795_305_600_000;
const N: usize = 5_000;

fn sync(c: &mut Criterion) {
    // Simulators check time windows against the real clock, so the run uses it too.
    let now = chrono::Utc::now().timestamp_millis();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("sync");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    for vendor in Vendor::ALL {
        let sim = rt
            .block_on(sitrep::vendors::sim::start(
                vendor,
                SimOptions {
                    alerts: N,
                    seed: 11,
                    faults: Faults::none(),
                    now_ms: now,
                    ..Default::default()
                },
            ))
            .expect("sim");
        let mut cfg = Config::from_text(Some(std::path::Path::new("bench.toml")), &sim.source_toml)
            .expect("toml")
            .sources
            .remove(0);
        for c in cfg.credentials.values_mut() {
            if let CredentialRef::Env(var) = c.clone() {
                let v = sim
                    .env
                    .iter()
                    .find(|(n, _)| *n == var)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                *c = CredentialRef::Literal(Secret::new(v));
            }
        }
        g.bench_function(
            BenchmarkId::new("full_sync_zero_latency", vendor.as_str()),
            |b| {
                b.iter(|| {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store = Arc::new(Mutex::new(
                        Store::open(&dir.path().join("s.db")).expect("store"),
                    ));
                    let report = rt.block_on(sitrep::sources::sync::run(
                        sitrep::vendors::connect,
                        &cfg,
                        &store,
                        true,
                        now,
                        Arc::new(|_: &sitrep::sources::sync::Progress| {}),
                    ));
                    assert!(report.error.is_none(), "{:?}", report.error);
                    black_box(report.stats.alerts)
                })
            },
        );
        rt.block_on(sim.stop());
    }
    g.finish();
}

/// The CPU time of the calling thread (Linux: `/proc/thread-self/schedstat`, nanoseconds on a
/// CPU). The local pipeline runs on one thread, so this is its cost even when other work on
/// the machine delays it in wall-clock terms.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("thread CPU time needs Linux /proc/thread-self/schedstat")
}

static WALL: criterion::measurement::WallTime = criterion::measurement::WallTime;

impl criterion::measurement::Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, i: u64) -> u64 {
        thread_cpu_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        // Nanoseconds, like wall time.
        criterion::measurement::Measurement::formatter(&WALL)
    }
}

/// A page's text parsed and mapped, as a sync client does with a reply: item by item
/// (`Page`), except Lacework's, whose client maps the whole parsed body (its items are merged
/// with their Details first).
fn parse_map(vendor: Vendor, text: &str) -> Vec<sitrep::domain::Alert> {
    if vendor == Vendor::Lacework {
        let body: serde_json::Value = serde_json::from_str(text).expect("json");
        return sitrep::vendors::map_payload(vendor, vendor.as_str(), &body).expect("map");
    }
    let page = sitrep::vendors::parse_page(vendor, text.as_bytes()).expect("json");
    sitrep::vendors::map_page(vendor, vendor.as_str(), page).expect("map")
}

/// An empty file store in a directory of its own (dropped with the directory).
fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("s.db")).expect("store");
    (dir, store)
}

/// The local side alone: the same payloads parsed from text, mapped and stored, in thread CPU
/// time. `parse_map` alone shows the split (store = the difference).
fn local(c: &mut Criterion<ThreadCpu>) {
    let mut g = c.benchmark_group("local_pipeline");
    g.sample_size(10);
    // Each iteration is 5,000 alerts: equal-sized samples, not criterion's growing ones.
    g.sampling_mode(criterion::SamplingMode::Flat);
    let world = World::generate(11, N, NOW);
    for vendor in Vendor::ALL {
        let text = emit::vendor_body(vendor, &world).to_string();
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function(BenchmarkId::new("parse_map_store", vendor.as_str()), |b| {
            // A sync opens (and migrates) its store once, not per alert: the fresh store is
            // made outside the measurement, and dropped outside it too.
            b.iter_batched(
                fresh_store,
                |(dir, mut store)| {
                    let alerts = parse_map(vendor, &text);
                    black_box(store.import(&alerts, NOW).expect("import"));
                    (dir, store, alerts)
                },
                criterion::BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("parse_map", vendor.as_str()), |b| {
            b.iter(|| black_box(parse_map(vendor, &text)))
        });
    }
    g.finish();
}

/// Alerts per page as the clients ask for them (the page sizes in docs/performance.md).
fn page_size(vendor: Vendor) -> usize {
    sitrep::vendors::default_page_size(vendor)
        .map_or(sitrep::vendors::lacework::sim::server::ROWS_PER_PAGE, |n| {
            n as usize
        })
}

/// The local side as a sync runs it: the vendor's pages (its own page size) parsed and mapped
/// on this thread while the run's `PageWriter` commits the page before on its own thread, in
/// wall-clock time (the two halves overlap on two cores). One fresh store per iteration, made
/// and dropped outside the measurement, as a sync opens its store once.
fn pipelined(c: &mut Criterion) {
    let mut g = c.benchmark_group("local_pipeline_paged");
    g.sample_size(10);
    g.sampling_mode(criterion::SamplingMode::Flat);
    let world = World::generate(11, N, NOW);
    for vendor in Vendor::ALL {
        let findings: Vec<_> = world.findings_for(vendor).collect();
        let pages: Vec<String> = findings
            .chunks(page_size(vendor))
            .map(|chunk| emit::list_body(vendor, emit::items(vendor, &world, chunk)).to_string())
            .collect();
        // Some vendors' pages map to a few more or fewer alerts than findings (Compute scan
        // results carry several findings an item): the throughput counts alerts.
        let alerts: usize = pages.iter().map(|t| parse_map(vendor, t).len()).sum();
        g.throughput(Throughput::Elements(alerts as u64));
        g.bench_function(BenchmarkId::new("parse_map_store", vendor.as_str()), |b| {
            b.iter_batched(
                || {
                    let (dir, store) = fresh_store();
                    (dir, Arc::new(Mutex::new(store)))
                },
                |(dir, store)| {
                    let started = std::time::Instant::now();
                    let mut writer = sitrep::sources::sync::PageWriter::spawn(
                        store.clone(),
                        vendor.as_str().to_string(),
                        NOW,
                        Arc::new(|_: &sitrep::sources::sync::Progress| {}),
                    )
                    .expect("writer");
                    let (mut mapping, mut handing) = (Duration::ZERO, Duration::ZERO);
                    for text in &pages {
                        let t = std::time::Instant::now();
                        let alerts = parse_map(vendor, text);
                        mapping += t.elapsed();
                        let t = std::time::Instant::now();
                        writer.send(alerts).expect("store");
                        handing += t.elapsed();
                    }
                    let written = writer.finish();
                    assert!(written.error.is_none(), "{:?}", written.error);
                    if std::env::var_os("SITREP_BENCH_SPLIT").is_some() {
                        eprintln!(
                            "{vendor}: iteration {:?}: parse+map {mapping:?}, prepare+hand over \
                             {handing:?}; the writer stored for {:?}",
                            started.elapsed(),
                            written.busy
                        );
                    }
                    assert_eq!(written.alerts, alerts);
                    (dir, store)
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, sync, pipelined);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = local
}
criterion_main!(benches, cpu);
