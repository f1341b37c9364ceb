//! The narrator's local work per alert: building the prompt (sanitize, cap, redact, fence) and
//! the offline narrative, over alerts from the seeded world in every vendor's real shape.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sitrep::domain::{Status, Vendor};
use sitrep::narrate::{offline_narrative, prompt};
use sitrep::sim::world::World;
use sitrep::store::StoredAlert;
use sitrep::vendors::emit;

const NOW: i64 = 1_795_305_600_000;

fn alerts(n: usize) -> Vec<StoredAlert> {
    let world = World::generate(11, n.div_ceil(6), NOW);
    let mut out = Vec::new();
    for v in Vendor::ALL {
        let body = emit::vendor_body(v, &world);
        for a in sitrep::vendors::map_payload(v, v.as_str(), &body).unwrap_or_default() {
            out.push(StoredAlert {
                id: a.id(),
                alert: a,
                status: Status::New,
                assignee: None,
                claim_until: None,
                ticket: None,
                has_controls: false,
                imported_at: NOW,
                changed_at: NOW,
                history: Vec::new(),
                owner: None,
                content_hash: String::new(),
            });
        }
    }
    out.truncate(n);
    out
}

fn narrate(c: &mut Criterion) {
    let data = alerts(600);
    let t = prompt::Templates::embedded();
    let mut g = c.benchmark_group("narrate");
    g.throughput(criterion::Throughput::Elements(data.len() as u64));
    g.bench_function("prompt_build_600", |b| {
        b.iter(|| {
            for a in &data {
                black_box(prompt::build(a, &t, "SITREP-CANARY-x", "n0nce"));
            }
        })
    });
    g.bench_function("offline_narrative_600", |b| {
        b.iter(|| {
            for a in &data {
                black_box(offline_narrative(a).to_text());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, narrate);
criterion_main!(benches);
