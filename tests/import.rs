//! `sitrep import` streams: files larger than a batch, gzip, stdin, several files, and a file
//! that breaks at 90% of its bytes leaving nothing of itself in the store.

mod common;

use std::io::Write;

use common::Sandbox;
use serde_json::{Value, json};
use sitrep::domain::{StatusKind, VendorState};
use sitrep::store::Store;

/// More items than one batch (1,000), so a file is written in several before it ends.
const N: usize = 3000;

/// A Prisma Cloud CSPM alert with vendor state `status`.
fn item(n: usize, status: &str) -> Value {
    json!({
        "id": format!("P-{n}"),
        "status": status,
        "alertTime": 1_790_000_000_000i64 + n as i64,
        "lastUpdated": 1_790_000_000_000i64 + n as i64,
        "policy": {"policyType": "config", "severity": "high", "name": format!("Policy {}", n % 7)},
        "resource": {"id": format!("r-{n}"), "name": format!("bucket-{n}"), "cloudType": "aws"}
    })
}

/// A `/v2/alert` list body of items `range`.
fn page(range: std::ops::Range<usize>, status: &str) -> Value {
    let items: Vec<Value> = range.map(|n| item(n, status)).collect();
    json!({"totalRows": items.len(), "items": items})
}

fn audit_count(sb: &Sandbox) -> usize {
    Store::open(&sb.db())
        .expect("open")
        .audit_entries(None)
        .expect("audit")
        .len()
}

/// Statuses that follow the vendor's close, history, text index and audit log: none of a file
/// that breaks late (bad JSON, or an item the mapper refuses, at 90%) is kept, while the other
/// files of the same command import; the exit code is input's, and the message says so.
#[test]
fn a_file_that_breaks_at_90_percent_leaves_nothing_of_itself() {
    let sb = Sandbox::new();
    let base = sb.write("base.json", &page(0..N, "open").to_string());
    sb.ok(&[
        "import",
        "--vendor",
        "prisma-cspm",
        base.to_str().expect("p"),
    ]);
    let history_before = Store::open(&sb.db())
        .expect("open")
        .history("prisma-cspm:P-100")
        .expect("history")
        .len();
    let audit_before = audit_count(&sb);

    // The same alerts closed at the vendor (every one would follow), broken late.
    let closed = page(0..N, "resolved").to_string();
    let id_at = closed.find("\"P-2700\"").expect("item 2700");
    let at = closed[..id_at].rfind('{').expect("its object");
    assert!(
        at > closed.len() * 85 / 100,
        "breaks late: {at} of {}",
        closed.len()
    );
    let bad_json = sb.write(
        "bad-json.json",
        &format!("{}#{}", &closed[..at], &closed[at..]),
    );
    let mut refused = page(0..N, "resolved");
    if let Some(obj) = refused["items"][2700].as_object_mut() {
        obj.remove("id");
    }
    let bad_item = sb.write("bad-item.json", &refused.to_string());
    let good = sb.write("good.json", &page(5000..5010, "open").to_string());

    let out = sb.run(&[
        "import",
        "--vendor",
        "prisma-cspm",
        bad_json.to_str().expect("p"),
        good.to_str().expect("p"),
        bad_item.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("bad-json.json: invalid JSON at line 1 column")
            && stderr.contains("nothing of bad-json.json was imported"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad-item.json: item 2700:")
            && stderr.contains("nothing of bad-item.json was imported"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 of 3 file(s) were not imported"),
        "{stderr}"
    );
    assert!(
        stdout.contains("good.json: 10 alert(s): 10 new"),
        "{stdout}"
    );

    let store = Store::open(&sb.db()).expect("open");
    assert_eq!(store.total().expect("n"), N + 10);
    for n in [0, 999, 1000, 2000, 2699, 2999] {
        let a = store
            .get(&format!("prisma-cspm:P-{n}"))
            .expect("get")
            .expect("kept");
        assert_eq!(a.alert.vendor_status, VendorState::Open, "P-{n}");
        assert_eq!(a.status.kind(), StatusKind::New, "P-{n}");
    }
    let history = store.history("prisma-cspm:P-100").expect("history");
    assert_eq!(history.len(), history_before);
    drop(store);
    assert_eq!(
        audit_count(&sb),
        audit_before,
        "no audit entry of a rolled-back file"
    );

    // The same closes, whole: every batch lands, and every followed close is audited.
    let closed = sb.write("closed.json", &closed);
    let out = sb.ok(&[
        "import",
        "--vendor",
        "prisma-cspm",
        closed.to_str().expect("p"),
    ]);
    assert!(
        out.contains(&format!("{N} alert(s): 0 new, {N} updated")),
        "{out}"
    );
    let store = Store::open(&sb.db()).expect("open");
    let a = store.get("prisma-cspm:P-2999").expect("get").expect("kept");
    assert_eq!(a.status.kind(), StatusKind::Resolved);
    drop(store);
    assert!(
        audit_count(&sb) >= audit_before + N,
        "followed closes audited"
    );
    sb.ok(&["audit", "verify"]);
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).expect("gzip");
    enc.finish().expect("gzip")
}

/// Gzip (by its magic bytes, whatever the name), stdin and several files in one command
/// import alike; piped stderr carries no progress line.
#[test]
fn gzip_stdin_and_several_files_stream_alike() {
    let sb = Sandbox::new();
    let text = serde_json::to_string_pretty(&page(0..1500, "open")).expect("json");
    let gz = sb.path("page.json.gz");
    std::fs::write(&gz, gzip(&text)).expect("write");
    let disguised = sb.path("page-gzipped.json");
    std::fs::write(&disguised, gzip(&text)).expect("write");
    let plain = sb.write("plain.json", &text);

    let out = sb.run(&[
        "import",
        "--vendor",
        "prisma-cspm",
        gz.to_str().expect("p"),
        disguised.to_str().expect("p"),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("page.json.gz: 1500 alert(s): 1500 new"),
        "{stdout}"
    );
    assert!(
        stdout.contains("page-gzipped.json: 1500 alert(s): 0 new, 0 updated, 1500 unchanged"),
        "{stdout}"
    );
    assert!(
        stdout.contains("total: 3000 alert(s) from 2 file(s)"),
        "{stdout}"
    );

    let mut child = sb
        .cmd()
        .args(["import", "--vendor", "prisma-cspm", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(&std::fs::read(&plain).expect("read"))
        .expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "stdin: 1500 alert(s): 0 new, 0 updated, 1500 unchanged"
    );
    assert!(out.stderr.is_empty());
}

/// Other shapes stay as they were: an empty list imports nothing and says so, a single alert
/// object is one alert; a truncated gzip file and an empty one are named.
#[test]
fn single_items_empty_lists_and_broken_gzip() {
    let sb = Sandbox::new();
    let empty = sb.write("empty-list.json", r#"{"totalRows": 0, "items": []}"#);
    let out = sb.ok(&[
        "import",
        "--vendor",
        "prisma-cspm",
        empty.to_str().expect("p"),
    ]);
    assert_eq!(
        out.trim(),
        format!(
            "{}: 0 alert(s): 0 new, 0 updated, 0 unchanged",
            empty.display()
        )
    );
    let one = sb.write("one.json", &item(7, "open").to_string());
    let out = sb.ok(&[
        "import",
        "--vendor",
        "prisma-cspm",
        one.to_str().expect("p"),
    ]);
    assert!(out.contains("1 alert(s): 1 new"), "{out}");

    let whole = gzip(&page(0..200, "open").to_string());
    let cut = sb.path("cut.json.gz");
    std::fs::write(&cut, &whole[..whole.len() / 2]).expect("write");
    let err = sb.fails(
        &[
            "import",
            "--vendor",
            "prisma-cspm",
            cut.to_str().expect("p"),
        ],
        2,
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cut.json.gz") && err.contains("nothing of cut.json.gz"),
        "{err}"
    );
    let blank = sb.path("blank.json.gz");
    std::fs::write(&blank, gzip("  \n")).expect("write");
    let err = sb.fails(
        &[
            "import",
            "--vendor",
            "prisma-cspm",
            blank.to_str().expect("p"),
        ],
        2,
    );
    assert!(err.contains("blank.json.gz: the file is empty"), "{err}");
    assert_eq!(Store::open(&sb.db()).expect("open").total().expect("n"), 1);
}

/// Every index of the store, as SQLite keeps it (name, CREATE statement).
fn indexes(db: &std::path::Path) -> Vec<(String, Option<String>)> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' ORDER BY name")
        .expect("schema");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<Vec<_>, _>>()
        .expect("read")
}

/// The first import into an empty store builds the secondary indexes after its rows: the
/// store it leaves has the same indexes as one migrated and filled row by row, the queries
/// that use them answer alike, and a first import that breaks late leaves them in place.
#[test]
fn a_first_import_builds_its_indexes_after_its_rows() {
    let fresh = Sandbox::new();
    std::fs::create_dir_all(fresh.db().parent().expect("dir")).expect("mkdir");
    drop(Store::open(&fresh.db()).expect("a new store"));
    let schema = indexes(&fresh.db());
    assert!(
        schema.iter().filter(|(_, sql)| sql.is_some()).count() >= 15,
        "{schema:?}"
    );

    // Broken at 90%, as the store's first import: nothing lands, every index is there.
    let sb = Sandbox::new();
    let text = page(0..N, "open").to_string();
    let id_at = text.find("\"P-2700\"").expect("item 2700");
    let at = text[..id_at].rfind('{').expect("its object");
    let broken = sb.write("broken.json", &format!("{}#{}", &text[..at], &text[at..]));
    let out = sb.run(&[
        "import",
        "--vendor",
        "prisma-cspm",
        broken.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(Store::open(&sb.db()).expect("open").total().expect("n"), 0);
    assert_eq!(
        indexes(&sb.db()),
        schema,
        "after a rolled-back first import"
    );

    // Whole: the indexes are built again, and an index-driven page reads what a second,
    // row-by-row import (into a store that is no longer empty) gives.
    let whole = sb.write("whole.json", &text);
    sb.ok(&[
        "import",
        "--vendor",
        "prisma-cspm",
        whole.to_str().expect("p"),
    ]);
    assert_eq!(indexes(&sb.db()), schema, "after a first import");
    let more = sb.write("more.json", &page(N..N + 10, "open").to_string());
    sb.ok(&[
        "import",
        "--vendor",
        "prisma-cspm",
        more.to_str().expect("p"),
    ]);
    assert_eq!(indexes(&sb.db()), schema, "after a second import");
    let store = Store::open(&sb.db()).expect("open");
    assert_eq!(store.total().expect("n"), N + 10);
    let conn = rusqlite::Connection::open(sb.db()).expect("open");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(check, "ok");
    let recent = sb.ok(&[
        "list", "--sort", "recent", "--limit", "3", "--format", "json",
    ]);
    for n in [N + 9, N + 8, N + 7] {
        assert!(
            recent.contains(&format!("\"prisma-cspm:P-{n}\"")),
            "{recent}"
        );
    }
    let found = sb.ok(&["list", "--filter", "2005", "--format", "json"]);
    assert!(found.contains("\"prisma-cspm:P-2005\""), "{found}");
}

/// Text rows are written per batch after the batch's alerts: every alert of a file of several
/// batches, inserted or updated, is found by its text and by nothing it no longer says, and
/// the FTS5 index passes its own integrity check.
#[test]
fn every_batch_of_an_import_is_found_by_its_text() {
    let sb = Sandbox::new();
    let first = sb.write("first.json", &page(0..N, "open").to_string());
    sb.ok(&[
        "import",
        "--vendor",
        "prisma-cspm",
        first.to_str().expect("p"),
    ]);
    // The same alerts renamed (updates), and some new ones, in one file of several batches.
    let mut renamed = page(0..N + 500, "open");
    if let Some(items) = renamed["items"].as_array_mut() {
        for (n, it) in items.iter_mut().enumerate() {
            it["resource"]["name"] = json!(format!("pail-{n}"));
            it["lastUpdated"] = json!(1_790_000_100_000i64 + n as i64);
        }
    }
    let renamed = sb.write("renamed.json", &renamed.to_string());
    let out = sb.ok(&[
        "import",
        "--vendor",
        "prisma-cspm",
        renamed.to_str().expect("p"),
    ]);
    assert!(
        out.contains(&format!("{} alert(s): 500 new, {N} updated", N + 500)),
        "{out}"
    );

    let conn = rusqlite::Connection::open(sb.db()).expect("open");
    let matches = |q: &str| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM alerts_fts WHERE alerts_fts MATCH ?",
            [q],
            |r| r.get(0),
        )
        .expect("match")
    };
    assert_eq!(matches("pail"), (N + 500) as i64);
    assert_eq!(matches("bucket"), 0);
    for n in [0, 999, 1000, 2999, 3000, N + 499] {
        assert_eq!(matches(&format!("\"pail-{n}\"")), 1, "pail-{n}");
    }
    conn.execute(
        "INSERT INTO alerts_fts (alerts_fts) VALUES ('integrity-check')",
        [],
    )
    .expect("the text index is sound");
    let found = sb.ok(&["list", "--filter", "pail-3400", "--format", "json"]);
    assert!(found.contains("\"prisma-cspm:P-3400\""), "{found}");
}
