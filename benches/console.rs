//! Drawing one console frame with 100, 10k and 100k alerts in the queue. Rows are built only
//! for what is visible (the state holds a window of the list), so the cost should not grow
//! with the queue.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sitrep::config::keymap::Keymap;
use sitrep::config::theme::Theme;
use sitrep::console::model::{Init, State};
use sitrep::console::runtime::harness::Harness;
use sitrep::console::runtime::worker::Worker;
use sitrep::domain::{Alert, Vendor};
use sitrep::sim::world::World;
use sitrep::store::{SortKey, Store};
use sitrep::vendors::emit;

const NOW: i64 = 1_795_305_600_000;

fn clock() -> i64 {
    NOW
}

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

fn console(db: &std::path::Path) -> Harness {
    let state = State::new(Init {
        keymap: Keymap::default(),
        theme: Theme::dark(),
        actor: "bench".into(),
        now_ms: NOW,
        size: (160, 45),
        filter_text: String::new(),
        sort: SortKey::Severity,
        sources: Vendor::ALL.iter().map(|v| v.as_str().to_string()).collect(),
        last_looked: Some(NOW),
        label: "bench".into(),
        narrator_label: "offline narrator".into(),
        narrator_offline: true,
        team_mode: false,
        readonly: false,
    });
    let worker = Worker::new(Store::open(db).expect("open"), "bench".into(), clock);
    Harness::new(state, worker, 160, 45)
}

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("console_frame_160x45");
    for n in [100usize, 10_000, 100_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("bench.db");
        Store::open(&db)
            .expect("open")
            .import(&alerts(n), NOW)
            .expect("import");
        let mut h = console(&db);
        // Mid-queue, with the detail loaded: a realistic frame.
        h.press("ctrl-d ctrl-d j");
        g.bench_with_input(BenchmarkId::new("draw", n), &n, |b, _| {
            b.iter(|| black_box(h.render().area))
        });
        g.bench_with_input(BenchmarkId::new("key_j_and_draw", n), &n, |b, _| {
            b.iter(|| {
                h.press("j");
                h.press("k");
                black_box(h.render().area)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
