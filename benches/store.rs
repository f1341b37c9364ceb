//! Ingest, queue listing and filtering at 1k / 10k / 100k generated alerts.
//!
//! Alerts come from the seeded world through each vendor's emitter and mapper, so the
//! payloads have the vendors' real shapes and sizes.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use sitrep::domain::{Alert, Vendor};
use sitrep::sim::world::World;
use sitrep::store::{ListRequest, Store};
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

fn store_with(alerts: &[Alert]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Store::open(&dir.path().join("bench.db")).expect("open");
    s.import(alerts, NOW).expect("import");
    (dir, s)
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

fn listing(c: &mut Criterion) {
    let mut g = c.benchmark_group("list");
    for n in [1_000usize, 10_000, 100_000] {
        let data = alerts(n);
        let (_dir, store) = store_with(&data);
        let q = query::parse("").expect("empty query");
        g.bench_function(BenchmarkId::new("first_page_50", n), |b| {
            let req = ListRequest {
                filter: Some(&q),
                limit: 50,
                now_ms: NOW,
                ..Default::default()
            };
            b.iter(|| black_box(store.list(&req).expect("list")))
        });
        for (name, text) in [
            ("filter_vendor_sev", "vendor:wiz sev:>=high"),
            ("filter_text", "ssh"),
            ("filter_tag_negated", "tag:env=prod -cat:runtime"),
        ] {
            let Ok(q) = query::parse(text) else { continue };
            g.bench_function(BenchmarkId::new(name, n), |b| {
                let req = ListRequest {
                    filter: Some(&q),
                    limit: 50,
                    now_ms: NOW,
                    ..Default::default()
                };
                b.iter(|| black_box(store.list(&req).expect("list")))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, ingest, listing);
criterion_main!(benches);
