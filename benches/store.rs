//! Ingest at 10k / 100k generated alerts; queue listing, counting and filtering at 1k and 1M
//! (`SITREP_BENCH_SIZES=1000,1000000`, databases kept under `SITREP_BENCH_DB_DIR`).
//!
//! Alerts come from the seeded world through each vendor's emitter and mapper, so the
//! payloads have the vendors' real shapes and sizes.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use sitrep::console::runtime::pager::Pager;
use sitrep::domain::{Alert, Vendor};
use sitrep::sim::world::World;
use sitrep::store::{ListRequest, Seek, SortKey, Store};
use sitrep::triage::query;
use sitrep::vendors::emit;

const NOW: i64 = 1_795_305_600_000;

/// `n` alerts spread over the six vendors.
fn alerts(n: usize) -> Vec<Alert> {
    let world = World::generate(7, n.div_ceil(6), NOW);
    let mut out = Vec::with_capacity(n);
    for v in Vendor::ALL {
        let body = emit::vendor_body(v, &world);
        out.extend(sitrep::vendors::map_payload(v, v.as_str(), &body).unwrap_or_default());
    }
    out.truncate(n);
    out
}

fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    for n in [10_000usize, 100_000] {
        let data = alerts(n);
        g.throughput(criterion::Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::new("import_into_empty_file_db", n),
            &data,
            |b, data| {
                b.iter_batched(
                    || {
                        let dir = tempfile::tempdir().expect("tempdir");
                        let s = Store::open(&dir.path().join("bench.db")).expect("open");
                        (dir, s)
                    },
                    |(_dir, mut s)| black_box(s.import(data, NOW).expect("import")),
                    BatchSize::PerIteration,
                )
            },
        );
    }
    // Mapping alone (payload JSON → model), per vendor mix.
    let world = World::generate(7, 10_000 / 6, NOW);
    let bodies: Vec<(Vendor, String)> = Vendor::ALL
        .into_iter()
        .map(|v| (v, emit::vendor_body(v, &world).to_string()))
        .collect();
    let n_alerts = world.findings.len() as u64;
    g.throughput(criterion::Throughput::Elements(n_alerts));
    g.bench_function("parse_and_map_10k", |b| {
        b.iter(|| {
            let mut n = 0;
            for (v, text) in &bodies {
                let body: serde_json::Value = serde_json::from_str(text).expect("json");
                n += sitrep::vendors::map_payload(*v, v.as_str(), &body)
                    .map(|a| a.len())
                    .unwrap_or(0);
            }
            black_box(n)
        })
    });
    g.finish();
}

/// A file store of `n` alerts under `SITREP_BENCH_DB_DIR` (default: the system temp dir),
/// built once through the store's import (the fast path, no HTTP) and kept for later runs:
/// 6,000 generated alerts (seed 7) repeated with fresh native ids and spread times, 10,000 to a
/// transaction, so memory stays at one batch.
fn file_store(n: usize) -> Store {
    let dir = std::env::var_os("SITREP_BENCH_DB_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("sitrep-bench"));
    let path = dir.join(format!("queue-{n}.db"));
    let template = alerts(6_000.min(n));
    // A build cut short resumes at its last whole copy of the template.
    let mut s = match Store::open(&path) {
        Ok(s)
            if s.total()
                .is_ok_and(|t| t == n || (t < n && t % template.len() == 0)) =>
        {
            s
        }
        _ => {
            let _ = std::fs::remove_file(&path);
            Store::open(&path).expect("open")
        }
    };
    let mut made = s.total().expect("total");
    let mut copy = (made / template.len()) as i64;
    while made < n {
        let batch: Vec<Alert> = template
            .iter()
            .take(10_000.min(n - made))
            .map(|a| {
                let mut a = a.clone();
                a.native_id = format!("{}~{copy}", a.native_id);
                // Spread in time so copies interleave in the queue's order.
                let shift = (copy * 7_919) % 2_000_000;
                a.last_seen = a.last_seen.map(|t| t - shift);
                a.vendor_updated = a.vendor_updated.map(|t| t - shift);
                a
            })
            .collect();
        made += batch.len();
        copy += 1;
        s.hold_checkpoints();
        s.import(&batch, NOW).expect("import");
        s.release_checkpoints();
    }
    s
}

/// Queue reads at 1k and 1M alerts (issue 19's targets: 1M / 1k ≤ 1.5×): the first page,
/// the count, each filter kind's first page and count, the last page, and the console's
/// window reads for `G` and for paging on from the middle.
fn listing(c: &mut Criterion) {
    let mut g = c.benchmark_group("list");
    g.sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    let sizes: Vec<usize> = match std::env::var("SITREP_BENCH_SIZES") {
        Ok(v) => v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) => vec![1_000, 1_000_000],
    };
    for n in sizes {
        let store = file_store(n);
        let base = ListRequest {
            limit: 50,
            now_ms: NOW,
            ..Default::default()
        };
        // Values that occur in the data: the first page's account and a CVE.
        let first = store.list(&base).expect("list");
        let account = first
            .iter()
            .find_map(|r| r.account.clone())
            .unwrap_or_else(|| "none".into());
        let cve = store
            .list(&ListRequest {
                filter: Some(&query::parse("cve:any").expect("query")),
                ..base.clone()
            })
            .expect("list")
            .iter()
            .find_map(|r| r.cves.first().cloned())
            .unwrap_or_else(|| "CVE-2021-44228".into());
        g.bench_function(BenchmarkId::new("first_page_50", n), |b| {
            b.iter(|| black_box(store.list(&base).expect("list")))
        });
        g.bench_function(BenchmarkId::new("count", n), |b| {
            b.iter(|| black_box(store.count_upto(&base, 10_000).expect("count")))
        });
        g.bench_function(BenchmarkId::new("last_page_50", n), |b| {
            b.iter(|| black_box(store.list_seek(&base, &Seek::End).expect("end")))
        });
        let filters = [
            ("severity", "sev:critical".to_string()),
            ("vendor", "vendor:wiz".to_string()),
            ("status", "status:new".to_string()),
            ("account", format!("account:{account}")),
            ("tag", "tag:env=prod".to_string()),
            ("cve", format!("cve:{cve}")),
            ("text", "ssh".to_string()),
        ];
        for (name, text) in &filters {
            let q = query::parse(text).expect("filter");
            let req = ListRequest {
                filter: Some(&q),
                include_closed: q.decides_statuses(),
                ..base.clone()
            };
            g.bench_function(BenchmarkId::new(format!("filter_{name}"), n), |b| {
                b.iter(|| black_box(store.list(&req).expect("list")))
            });
            g.bench_function(BenchmarkId::new(format!("count_{name}"), n), |b| {
                b.iter(|| black_box(store.count_upto(&req, 10_000).expect("count")))
            });
        }
        // The console's worker: `G` from the top (count, then the last window), and the next
        // window down from one in the middle of the queue.
        let total = store.count(&base).expect("count");
        let window = 250;
        g.bench_function(BenchmarkId::new("console_end_key", n), |b| {
            b.iter_batched(
                Pager::default,
                |mut p| {
                    let start = total.saturating_sub(window);
                    black_box(
                        p.window(&store, None, SortKey::Score, start, window, NOW)
                            .expect("window"),
                    )
                },
                BatchSize::SmallInput,
            )
        });
        let middle = total / 2;
        g.bench_function(BenchmarkId::new("console_page_down_middle", n), |b| {
            b.iter_batched(
                || {
                    let mut p = Pager::default();
                    p.window(&store, None, SortKey::Score, middle, window, NOW)
                        .expect("window");
                    p
                },
                |mut p| {
                    black_box(
                        p.window(&store, None, SortKey::Score, middle + 50, window, NOW)
                            .expect("window"),
                    )
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, ingest, listing);
criterion_main!(benches);
