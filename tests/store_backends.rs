//! The queue's behaviours on both backends: the same alerts in a SQLite store and, published
//! from it, in a PostgreSQL team store (tests/common/pg.rs), with the team's statuses, claims
//! and history pulled back into the SQLite store. One table of filters, every order's first
//! page and keyset walk, counts exact and capped, and `--all`, asserted identical on both
//! (`ref` aside: each backend numbers its rows). `list --direct` reads the same from the CLI.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::collections::HashMap;

use common::{NOW_MS, Sandbox, corpus_dir};
use pg::TestDb;
use sitrep::domain::SortKey;
use sitrep::store::team::TeamStore;
use sitrep::store::{ListRequest, QueueCount, QueueKey, QueueRow, Seek, Store};
use sitrep::triage::query::{Query, parse};

const HOUR: i64 = 3_600_000;

struct Both {
    rt: tokio::runtime::Runtime,
    store: Store,
    team: TeamStore,
    sb: Sandbox,
    db: TestDb,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Generated Prisma alerts and corpus alerts of every vendor (CVEs, compliance, other
/// clouds) imported into SQLite, published to a fresh team store, the team's analyst side
/// set there and pulled back. None when no PostgreSQL answers (outside CI).
fn both() -> Option<Both> {
    let db = TestDb::create()?;
    let sb = Sandbox::new();
    sb.import_generated(21, 300);
    if let Some(dir) = corpus_dir() {
        for (f, v) in [
            (
                "prisma-cspm/elastic-v2-alert-post-page1.json",
                "prisma-cspm",
            ),
            ("wiz/elastic-graphql-issues-list-response.json", "wiz"),
            ("wiz/port-ocean-issue-a.json", "wiz"),
            (
                "prisma-compute/xsoar-containers-scan-results.json",
                "prisma-compute",
            ),
            ("orca/xsoar-eventcollector-get-alerts.json", "orca"),
            ("lacework/gosdk-alerts-list.json", "lacework"),
            ("cortex-xdr/xsoar-get-incidents-list.json", "cortex-xdr"),
        ] {
            sb.ok(&["import", "--vendor", v, dir.join(f).to_str().expect("p")]);
        }
    }
    let rt = rt();
    let team = db.migrated_team(&rt);
    let mut store = Store::open(&sb.db()).expect("open");
    // The analyst side, as decisions and claims leave it (each write takes a seq to be pulled).
    let ids = db.published(&rt, &mut store, &team);
    assert!(ids.len() > 300, "{}", ids.len());
    let set = |range: std::ops::Range<usize>, assignments: &str| {
        let list: Vec<String> = ids[range].iter().map(|i| format!("'{i}'")).collect();
        db.query(&format!(
            "UPDATE alerts SET {assignments}, version = version + 1, \
             seq = nextval('change_seq') WHERE id IN ({})",
            list.join(", ")
        ));
    };
    set(0..20, "status = 'acknowledged'");
    set(
        20..30,
        "status = 'dismissed', status_reason = 'false_positive'",
    );
    set(
        30..35,
        &format!(
            "status = 'snoozed', status_note = 'wait', status_until = {}",
            NOW_MS - HOUR
        ),
    );
    set(
        35..40,
        &format!("status = 'snoozed', status_until = {}", NOW_MS + 24 * HOUR),
    );
    set(40..50, "status = 'resolved'");
    set(
        50..60,
        &format!(
            "status = 'in_progress', claimed_by = 'alice', claim_until = {}",
            NOW_MS + HOUR
        ),
    );
    set(60..64, "ticket = 'SEC-1'");
    for id in &ids[64..70] {
        db.query(&format!(
            "INSERT INTO history (alert_id, at, actor, kind, from_status, to_status) \
             VALUES ('{id}', {NOW_MS}, 'Alice', 'status', 'new', 'acknowledged')"
        ));
    }
    rt.block_on(sitrep::team::pull(&mut store, &team, NOW_MS))
        .expect("pull");
    Some(Both {
        rt,
        store,
        team,
        sb,
        db,
    })
}

fn req(q: &Query, sort: SortKey, all: bool, limit: usize) -> ListRequest<'_> {
    ListRequest {
        filter: Some(q),
        include_closed: all,
        sort,
        limit,
        offset: 0,
        now_ms: NOW_MS,
    }
}

/// What a row shows, but its `ref` (each backend numbers its own rows).
fn shown(r: &QueueRow) -> QueueRow {
    QueueRow {
        local_ref: 0,
        ..r.clone()
    }
}

/// The values that place a row in `sort`'s order (the row number aside), as both backends
/// compare them: rows equal on these may come in either backend's numbering order.
fn place(r: &QueueRow, sort: SortKey) -> String {
    let rank = r.severity.rank();
    let seen = r.first_seen.unwrap_or(r.sort_time);
    let lower = |s: &str| s.to_ascii_lowercase();
    match sort {
        SortKey::Score => format!("{} {rank} {}", r.score, r.sort_time),
        SortKey::Severity => format!("{rank} {}", r.sort_time),
        SortKey::Recent => format!("{}", r.sort_time),
        SortKey::Oldest => format!("{seen}"),
        SortKey::Vendor => format!("{} {rank} {}", r.vendor, r.sort_time),
        SortKey::Title => lower(&r.title),
        SortKey::Resource => lower(r.resource.as_deref().unwrap_or("")),
        SortKey::Account => format!(
            "{} {rank} {}",
            r.account.as_deref().unwrap_or(""),
            r.sort_time
        ),
        SortKey::Status => format!("{} {rank} {}", r.status, r.sort_time),
    }
}

/// A listing in a form both backends must agree on: runs of rows tied in the order, each
/// run's rows sorted by id.
fn canonical(rows: &[QueueRow], sort: SortKey) -> Vec<(String, Vec<QueueRow>)> {
    let mut runs: Vec<(String, Vec<QueueRow>)> = Vec::new();
    for r in rows {
        let at = place(r, sort);
        match runs.last_mut() {
            Some((p, run)) if *p == at => run.push(shown(r)),
            _ => runs.push((at, vec![shown(r)])),
        }
    }
    for (_, run) in &mut runs {
        run.sort_by(|a, b| a.id.cmp(&b.id));
    }
    runs
}

impl Both {
    fn sqlite(&self, r: &ListRequest<'_>) -> Vec<QueueRow> {
        self.store.list(r).expect("sqlite list")
    }
    fn pg(&self, r: &ListRequest<'_>) -> Vec<QueueRow> {
        self.rt.block_on(self.team.queue_list(r)).expect("pg list")
    }
    fn counts(&self, r: &ListRequest<'_>, cap: usize) -> (QueueCount, QueueCount) {
        (
            self.store.count_upto(r, cap).expect("sqlite count"),
            self.rt
                .block_on(self.team.queue_count_upto(r, cap))
                .expect("pg count"),
        )
    }

    /// Every page of `r`'s order, `r.limit` rows at a time, each after the last row's key.
    fn walk(&self, r: &ListRequest<'_>, pg: bool) -> Vec<QueueRow> {
        let mut out: Vec<QueueRow> = Vec::new();
        let mut seek: Option<Seek> = None;
        loop {
            let page = match (&seek, pg) {
                (None, false) => self.sqlite(r),
                (None, true) => self.pg(r),
                (Some(s), false) => self.store.list_seek(r, s).expect("sqlite seek"),
                (Some(s), true) => self
                    .rt
                    .block_on(self.team.queue_seek(r, s))
                    .expect("pg seek"),
            };
            let Some(last) = page.last() else { break };
            seek = Some(Seek::After(QueueKey::of(last, r.sort)));
            let full = page.len() == r.limit;
            out.extend(page);
            if !full {
                break;
            }
        }
        out
    }
}

/// One filter of every kind (negation, lists as OR, text prefix and phrase, tags with and
/// without a value, CVEs, accounts, severity comparisons, age/since, statuses, people).
fn filters(both: &Both) -> Vec<String> {
    let account = both.db.query(
        "SELECT account FROM alerts WHERE account IS NOT NULL \
         GROUP BY account ORDER BY count(*) DESC, account LIMIT 1",
    );
    let cve = both
        .db
        .query("SELECT min(c) FROM alerts, unnest(cves) AS c");
    let account = account.into_iter().flatten().next().unwrap_or_default();
    let mut out: Vec<String> = [
        "",
        "sev:critical",
        "sev:>=high",
        "sev:<medium",
        "-sev:low",
        "sev:critical,info",
        "vendor:prisma-cspm",
        "vendor:wiz,orca",
        "-vendor:prisma-cspm",
        "source:prisma-cspm",
        "status:acknowledged",
        "status:open",
        "-status:open",
        "status:snoozed,dismissed",
        "status:resolved",
        "cloud:aws",
        "-cloud:azure",
        "cloud:other",
        "region:us-east-1,eu-west-1",
        "cat:misconfiguration",
        "-cat:vuln",
        "tag:env=prod",
        "tag:ENV=Prod",
        "tag:env",
        "tag:ENV",
        "-tag:team",
        "tag:team=payments tag:env=dev",
        "tag:env=pro",
        "cve:any",
        "cve:none",
        "-cve:any",
        "host",
        "hos",
        "HOST",
        "\"public read\"",
        "\"read public\"",
        "\"publ\"",
        "bucket -instance",
        "prod-1",
        "policy:ssh",
        "-policy:ssh",
        "resource:web-prod",
        "age:<200d",
        "age:>=300d",
        "-age:<250d",
        "since:2025-10-01",
        "assignee:alice",
        "assignee:ALICE",
        "assignee:any",
        "assignee:none",
        "ticket:SEC-1",
        "ticket:none",
        "owner:none",
        "kind:vm",
        "kind:bucket,database",
        "exposed:yes",
        "kev:false",
        "score:>=40",
        "epss:>0.1",
        "compliance:pci,cis",
        "-compliance:nist",
        "sev:>=high vendor:prisma-cspm tag:env=prod -status:acknowledged",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !account.is_empty() {
        out.push(format!("account:{account}"));
        out.push(format!("-account:{account} sev:>=medium"));
    }
    if let Some(c) = cve.into_iter().flatten().next() {
        out.push(format!("cve:{}", c.to_ascii_lowercase()));
        out.push(format!("cve:{c},CVE-1999-0001"));
    }
    out
}

#[test]
fn every_filter_lists_and_counts_alike_on_both_backends() {
    let Some(both) = both() else { return };
    let mut matched = 0;
    for text in filters(&both) {
        let q = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        for all in [false, true] {
            let r = req(&q, SortKey::Score, all, 10_000);
            let (lite, pg) = (both.sqlite(&r), both.pg(&r));
            assert_eq!(
                canonical(&lite, r.sort),
                canonical(&pg, r.sort),
                "{text:?} (all: {all}): {} rows on SQLite, {} on PostgreSQL",
                lite.len(),
                pg.len()
            );
            matched += usize::from(!lite.is_empty());
            let (a, b) = both.counts(&r, 10_000);
            assert_eq!(a, b, "{text:?} (all: {all}) count");
            assert_eq!(a.n, lite.len(), "{text:?} (all: {all}) count");
            // Capped at 5: each backend either counts exactly (what it keeps counted: SQLite
            // keeps tag and account counts, PostgreSQL does not) or says "5+", and either
            // way tells the truth.
            let total = lite.len();
            let (a, b) = both.counts(&r, 5);
            for (backend, c) in [("SQLite", a), ("PostgreSQL", b)] {
                let truthful = if c.exact {
                    c.n == total
                } else {
                    c.n == 5 && total >= 5
                };
                assert!(
                    truthful,
                    "{text:?} (all: {all}) capped count on {backend}: {c:?}, {total} rows"
                );
                if total < 5 {
                    assert!(
                        c.exact,
                        "{text:?} (all: {all}) {backend}: under the cap is exact"
                    );
                }
            }
        }
    }
    // The table would prove little if most filters matched nothing.
    assert!(matched > 80, "only {matched} listings matched anything");
}

#[test]
fn every_order_pages_alike_by_keyset_to_the_end() {
    let Some(both) = both() else { return };
    let none = parse("").expect("parses");
    let tagged = parse("tag:env=prod -status:acknowledged").expect("parses");
    for sort in SortKey::NAMES.iter().filter_map(|n| SortKey::parse(n)) {
        let sort = &sort;
        for (q, all) in [(&none, false), (&none, true), (&tagged, false)] {
            let whole = req(q, *sort, all, 10_000);
            let paged = req(q, *sort, all, 13);
            let lite = both.walk(&paged, false);
            let pg = both.walk(&paged, true);
            let expect = both.sqlite(&whole);
            for (name, rows) in [("SQLite", &lite), ("PostgreSQL", &pg)] {
                let mut ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len(), rows.len(), "{sort:?}: {name} repeated a row");
                assert_eq!(rows.len(), expect.len(), "{sort:?}: {name} missed rows");
            }
            assert_eq!(
                canonical(&pg, *sort),
                canonical(&expect, *sort),
                "{sort:?} (all: {all})"
            );
            assert_eq!(canonical(&lite, *sort), canonical(&expect, *sort));
            // The first page alone, too.
            let first = req(q, *sort, all, 13);
            assert_eq!(
                both.pg(&first).len(),
                both.sqlite(&first).len(),
                "{sort:?} first page"
            );
        }
    }
}

#[test]
fn direct_listing_reads_the_team_store_and_is_refused_outside_team_mode() {
    let Some(both) = both() else { return };
    // Outside team mode: one line, an input error.
    let err = both.sb.fails(&["list", "--direct"], 2);
    assert!(err.contains("--direct reads the team store"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let q = parse("sev:>=high").expect("parses");
    let r = req(&q, SortKey::Score, false, 7);
    let expect: Vec<String> = both.pg(&r).iter().map(|r| r.id.clone()).collect();
    let direct = |args: &[&str]| {
        let out = both
            .sb
            .cmd()
            .env("SITREP_DATABASE_URL", &both.db.url)
            .args(args)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let json = direct(&[
        "list",
        "--direct",
        "-f",
        "sev:>=high",
        "-n",
        "7",
        "--format",
        "json",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("json");
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids, expect);
    let (_, count) = both.counts(&r, 10_000);
    let table = direct(&["list", "--direct", "-f", "sev:>=high", "-n", "7"]);
    assert!(table.contains(&format!("… 7 of {count} shown")), "{table}");
    // A bad filter is the user's error, as on the replica.
    let bad = both
        .sb
        .cmd()
        .env("SITREP_DATABASE_URL", &both.db.url)
        .args(["list", "--direct", "-f", "sev:"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    // A machine that has not pulled the team store yet is pointed at --direct, not at import.
    let fresh = both
        .sb
        .cmd()
        .env("SITREP_DATABASE_URL", &both.db.url)
        .env("SITREP_DB", both.sb.path("not-pulled-yet.db"))
        .args(["list"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&fresh.stderr);
    assert_eq!(fresh.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no replica of the team store") && err.contains("sitrep list --direct"),
        "{err}"
    );
}

/// A team store migrated from version 1 lists its older rows once a publish fills them in.
#[test]
fn a_publish_fills_rows_published_before_the_queue_columns() {
    let Some(both) = both() else { return };
    let mut store = both.store;
    both.db
        .query("UPDATE alerts SET mapped = false, title = '', tag_keys = '{}', fts = ''");
    // As a publisher that last published before version 2: no note of the backfill.
    rusqlite::Connection::open(both.sb.db())
        .expect("open")
        .execute("DELETE FROM kv WHERE key LIKE 'team.queue-columns.%'", [])
        .expect("forget the backfill");
    let q = parse("tag:env host").expect("parses");
    let r = req(&q, SortKey::Score, true, 10_000);
    assert!(
        both.rt
            .block_on(both.team.queue_list(&r))
            .expect("list")
            .is_empty()
    );
    let n = both
        .rt
        .block_on(sitrep::team::publish(&mut store, &both.team))
        .expect("publish");
    assert!(n > 300, "{n}");
    assert_eq!(both.rt.block_on(both.team.unmapped_count()).expect("n"), 0);
    let lite: HashMap<String, QueueRow> = store
        .list(&r)
        .expect("list")
        .into_iter()
        .map(|r| (r.id.clone(), shown(&r)))
        .collect();
    let pg: HashMap<String, QueueRow> = both
        .rt
        .block_on(both.team.queue_list(&r))
        .expect("list")
        .into_iter()
        .map(|r| (r.id.clone(), shown(&r)))
        .collect();
    assert!(!lite.is_empty());
    assert_eq!(lite, pg);
}
