//! Prioritization at 100k alerts: scoring and correlating in memory, rescoring a file store,
//! the default (score-ordered) first page, and the grouped queue.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sitrep::domain::{Alert, Vendor};
use sitrep::sim::world::World;
use sitrep::store::{ListRequest, Store};
use sitrep::triage::score::{IntelSet, ScoreContext, ScoringConfig, assess};
use sitrep::triage::{correlate, intel};
use sitrep::vendors::emit;

const NOW: i64 = 1_795_305_600_000;

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

fn intel_set() -> (intel::KevCatalog, intel::EpssFile, IntelSet) {
    let root = env!("CARGO_MANIFEST_DIR");
    let kev = intel::parse_kev(
        &std::fs::read(format!("{root}/examples/data/intel/kev.json")).expect("kev"),
    )
    .expect("parse");
    let epss = intel::parse_epss(
        &std::fs::read(format!("{root}/examples/data/intel/epss.csv")).expect("epss"),
    )
    .expect("parse");
    let mut set = IntelSet::default();
    for k in &kev.entries {
        set.kev.insert(k.cve.clone(), k.clone());
    }
    for (c, s) in &epss.scores {
        set.epss.insert(c.clone(), *s);
    }
    (kev, epss, set)
}

fn triage(c: &mut Criterion) {
    let n = 100_000;
    let data = alerts(n);
    let (kev, epss, set) = intel_set();
    let cfg = ScoringConfig::default();
    let mut g = c.benchmark_group("triage");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(n as u64));
    g.bench_function("score_and_group_in_memory_100k", |b| {
        let ctx = ScoreContext {
            config: &cfg,
            intel: &set,
            now_ms: NOW,
        };
        b.iter(|| {
            let mut groups = std::collections::HashMap::<String, (u8, u8)>::new();
            for a in &data {
                let r = assess(a, &ctx);
                if let Some(k) = correlate::resource_key(a) {
                    let e = groups.entry(k).or_default();
                    e.0 = e.0.max(r.score.total);
                    e.1 |= r.stage_mask();
                }
            }
            black_box(groups.len())
        })
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Store::open(&dir.path().join("bench.db")).expect("open");
    s.import(&data, NOW).expect("import");
    s.import_kev(&kev, "kev.json", NOW).expect("kev");
    s.import_epss(&epss, "epss.csv", NOW).expect("epss");
    g.bench_function("rescore_file_store_100k", |b| {
        b.iter(|| black_box(s.rescore(NOW).expect("rescore")))
    });
    g.throughput(criterion::Throughput::Elements(1));
    let req = ListRequest {
        limit: 50,
        now_ms: NOW,
        ..Default::default()
    };
    g.bench_function("first_page_by_score_100k", |b| {
        b.iter(|| black_box(s.list(&req).expect("list").len()))
    });
    g.bench_function("groups_first_page_100k", |b| {
        b.iter(|| black_box(s.list_groups(&req).expect("groups").len()))
    });
    g.bench_function("attack_paths_for_one_alert_100k", |b| {
        let id = s.list(&req).expect("list")[0].id.clone();
        b.iter(|| black_box(s.attack_paths_for(&id).expect("paths").len()))
    });
    g.finish();
}

criterion_group!(benches, triage);
criterion_main!(benches);
