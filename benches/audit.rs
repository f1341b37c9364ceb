//! The audit log: append throughput (one durable transaction per entry, as decisions commit,
//! and many entries in one transaction) and the time to verify 100k entries.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::Connection;
use serde_json::json;
use sitrep::audit::{self, AuditEntry, AuditKey};
use sitrep::store::Store;

const NOW: i64 = 1_795_305_600_000;

fn key() -> AuditKey {
    AuditKey::from_bytes(b"a bench audit key, long enough 0123456789")
}

fn detail(i: i64) -> serde_json::Value {
    json!({
        "status": "resolved",
        "reason": "fixed in terraform",
        "note": format!("note {i}"),
        "diff_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    })
}

fn entry<'a>(i: i64, d: &'a serde_json::Value, subject: &'a str) -> AuditEntry<'a> {
    AuditEntry {
        at: NOW + i,
        actor: "alice",
        action: "status",
        subject,
        detail: d,
    }
}

/// A file database with `n` entries, written in one transaction.
fn log_of(n: i64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bench.db");
    drop(Store::open(&db).expect("open"));
    let k = key();
    let mut conn = Connection::open(&db).expect("conn");
    let tx = conn.transaction().expect("tx");
    for i in 1..=n {
        let d = detail(i);
        let s = format!("wiz:{i}");
        audit::append(&tx, &k, &entry(i, &d, &s)).expect("append");
    }
    tx.commit().expect("commit");
    audit::write_head(&db, &conn, &k).expect("head");
    (dir, db)
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("audit_append");
    g.sample_size(10);
    // As the store appends: its own IMMEDIATE transaction, synchronous=FULL, head file.
    g.throughput(Throughput::Elements(100));
    g.bench_function("store_audit_append_x100_durable", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut s = Store::open(&dir.path().join("bench.db")).expect("open");
                s.set_audit_key(key());
                (dir, s)
            },
            |(_dir, mut s)| {
                for i in 0..100 {
                    let d = detail(i);
                    black_box(s.audit_append(&entry(i, &d, "wiz:1")).expect("append"));
                }
            },
            BatchSize::PerIteration,
        )
    });
    // Inside a caller's transaction: the cost of the chain itself.
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("append_x10k_in_one_transaction", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let db = dir.path().join("bench.db");
                drop(Store::open(&db).expect("open"));
                (dir, Connection::open(&db).expect("conn"))
            },
            |(_dir, mut conn)| {
                let k = key();
                let tx = conn.transaction().expect("tx");
                for i in 1..=10_000 {
                    let d = detail(i);
                    audit::append(&tx, &k, &entry(i, &d, "wiz:1")).expect("append");
                }
                tx.commit().expect("commit");
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("audit_verify");
    g.sample_size(10);
    let n = 100_000;
    let (_dir, db) = log_of(n);
    let conn = Connection::open(&db).expect("conn");
    let k = key();
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("verify_100k", |b| {
        b.iter(|| {
            let r = audit::verify(&db, &conn, &k).expect("verify");
            assert!(r.is_ok());
            black_box(r)
        })
    });
    g.finish();
}

criterion_group!(benches, append, verify);
criterion_main!(benches);
