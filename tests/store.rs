//! The store on a real temp-file SQLite database.

use sitrep::domain::{Alert, DismissReason, Severity, Status, StatusKind, Vendor, VendorState};
use sitrep::store::{ListRequest, QueueKey, Seek, SortKey, StatusChange, Store};

const NOW: i64 = 1_795_305_600_000;
const DAY: i64 = 86_400_000;

fn alert(n: u32, sev: Severity, last_seen: i64) -> Alert {
    let mut a = Alert::new(
        Vendor::Wiz,
        format!("issue-{n}"),
        serde_json::json!({"id": format!("issue-{n}")}),
    );
    a.title = format!("Finding number {n}");
    a.severity = sev;
    a.last_seen = Some(last_seen);
    a.vendor_updated = Some(last_seen);
    a.resource.id = Some(format!(
        "arn:aws:ec2:us-east-1:123456789012:instance/i-{n:04}"
    ));
    a.resource.account = Some("123456789012".into());
    a
}

fn ids(rows: &[sitrep::store::QueueRow]) -> Vec<String> {
    rows.iter().map(|r| r.id.clone()).collect()
}

fn req() -> ListRequest<'static> {
    ListRequest {
        limit: 100,
        now_ms: NOW,
        ..Default::default()
    }
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("nested/dir/sitrep.db")).expect("open");
    (dir, store)
}

#[test]
fn reimport_is_a_no_op_and_updates_keep_the_analysts_work() {
    let (_d, mut s) = temp_store();
    let a = alert(1, Severity::High, NOW - DAY);
    let st = s
        .import(std::slice::from_ref(&a), NOW - DAY)
        .expect("import");
    assert_eq!((st.new, st.updated, st.unchanged), (1, 0, 0));
    let first = s.get("wiz:issue-1").expect("get").expect("present");

    // Same payload again: nothing changes, not even bookkeeping.
    let st = s.import(std::slice::from_ref(&a), NOW).expect("reimport");
    assert_eq!((st.new, st.updated, st.unchanged), (0, 0, 1));
    assert_eq!(s.get("wiz:issue-1").expect("get").expect("present"), first);

    // The analyst works on it.
    s.set_status(
        "wiz:issue-1",
        &StatusChange {
            status: Status::Dismissed {
                reason: DismissReason::AcceptedRisk,
                note: Some("compensating WAF".into()),
                until: Some(NOW + 30 * DAY),
            },
            actor: "alice".into(),
            note: None,
            at: NOW - 1000,
        },
    )
    .expect("dismiss");
    s.add_note(
        "wiz:issue-1",
        "alice",
        "checked with the app team",
        NOW - 500,
    )
    .expect("note");

    // A newer payload: vendor fields change, the analyst's status, notes and history stay.
    let mut b = a.clone();
    b.title = "Finding number 1 (renamed by the vendor)".into();
    b.vendor_status = VendorState::Resolved;
    b.vendor_updated = Some(NOW);
    let st = s.import(&[b], NOW).expect("update");
    assert_eq!((st.new, st.updated), (0, 1));
    let got = s.get("wiz:issue-1").expect("get").expect("present");
    assert_eq!(got.alert.title, "Finding number 1 (renamed by the vendor)");
    assert_eq!(got.alert.vendor_status, VendorState::Resolved);
    assert_eq!(got.status.kind(), StatusKind::Dismissed);
    assert!(
        matches!(&got.status, Status::Dismissed { note: Some(n), .. } if n == "compensating WAF")
    );
    let kinds: Vec<&str> = got.history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(kinds, vec!["status", "note", "vendor_update"]);
    assert_eq!(got.history[0].actor, "alice");
    assert_eq!(got.history[2].to_status.as_deref(), Some("resolved"));

    // An older payload than the stored one is kept out.
    let mut old = a.clone();
    old.title = "stale".into();
    old.vendor_updated = Some(NOW - 10 * DAY);
    let st = s.import(&[old], NOW).expect("stale");
    assert_eq!(st.stale, 1);
    assert_eq!(
        s.get("wiz:issue-1")
            .expect("get")
            .expect("present")
            .alert
            .title,
        "Finding number 1 (renamed by the vendor)"
    );
    assert_eq!(s.integrity_check().expect("check"), "ok");
}

#[test]
fn the_queue_orders_by_severity_then_recency_and_hides_closed_alerts() {
    let (_d, mut s) = temp_store();
    let alerts = vec![
        alert(1, Severity::Medium, NOW - DAY),
        alert(2, Severity::Critical, NOW - 5 * DAY),
        alert(3, Severity::Critical, NOW - DAY),
        alert(4, Severity::Other("weird".into()), NOW - 2 * DAY),
        alert(5, Severity::Info, NOW),
    ];
    s.import(&alerts, NOW).expect("import");
    let rows = s.list(&req()).expect("list");
    assert_eq!(
        ids(&rows),
        [
            "wiz:issue-3",
            "wiz:issue-2",
            "wiz:issue-1",
            "wiz:issue-4",
            "wiz:issue-5"
        ]
    );
    assert_eq!(rows[3].severity, Severity::Other("weird".into()));

    let recent = s
        .list(&ListRequest {
            sort: SortKey::Recent,
            ..req()
        })
        .expect("list");
    assert_eq!(ids(&recent)[0], "wiz:issue-5");

    // Resolve one, snooze one until tomorrow, and one until yesterday (lapsed).
    let change = |status| StatusChange {
        status,
        actor: "bob".into(),
        note: None,
        at: NOW,
    };
    s.set_status(
        "wiz:issue-3",
        &change(Status::Resolved {
            reason: "patched".into(),
        }),
    )
    .expect("resolve");
    s.set_status(
        "wiz:issue-2",
        &change(Status::Snoozed {
            until: NOW + DAY,
            note: None,
        }),
    )
    .expect("snooze");
    s.set_status(
        "wiz:issue-1",
        &change(Status::Snoozed {
            until: NOW - DAY,
            note: None,
        }),
    )
    .expect("snooze");
    let rows = s.list(&req()).expect("list");
    assert_eq!(
        ids(&rows),
        ["wiz:issue-1", "wiz:issue-4", "wiz:issue-5"],
        "lapsed snooze is back"
    );
    assert_eq!(s.count(&req()).expect("count"), 3);
    let all = s
        .list(&ListRequest {
            include_closed: true,
            ..req()
        })
        .expect("list");
    assert_eq!(all.len(), 5);

    let page = s
        .list(&ListRequest {
            limit: 2,
            offset: 1,
            include_closed: true,
            ..req()
        })
        .expect("page");
    assert_eq!(ids(&page), ["wiz:issue-2", "wiz:issue-1"]);
    assert!(
        s.set_status("wiz:nope", &change(Status::Acknowledged))
            .is_err()
    );
}

#[test]
fn a_batch_with_the_same_alert_twice_keeps_the_last() {
    let (_d, mut s) = temp_store();
    let a = alert(1, Severity::Low, NOW - DAY);
    let mut b = a.clone();
    b.severity = Severity::High;
    let st = s.import(&[a, b], NOW).expect("import");
    assert_eq!(st.total(), 1);
    assert_eq!(
        s.get("wiz:issue-1")
            .expect("get")
            .expect("present")
            .alert
            .severity,
        Severity::High
    );
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("not.db");
    std::fs::write(
        &p,
        b"this is not sqlite, just text that is long enough to look like a header....",
    )
    .expect("write");
    let err = Store::open(&p).err().expect("must fail").to_string();
    assert!(
        err.starts_with(&format!("cannot open database {}", p.display())),
        "{err}"
    );
}

/// A store another program holds (a first import writes through a rollback journal and,
/// once its pages spill, holds the file until its commit) is named as busy, after the 5 s
/// busy timeout, instead of as a database that cannot be opened.
#[test]
fn a_store_held_by_a_first_import_is_named_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.db");
    let writer = rusqlite::Connection::open(&path).expect("writer");
    writer
        .execute_batch("CREATE TABLE t (x); PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE")
        .expect("exclusive");
    let err = Store::open(&path).err().expect("busy").to_string();
    assert_eq!(
        err,
        format!(
            "database {} is busy: another sitrep is writing it (an import into a new store \
             holds it until the import ends); try again when that is done",
            path.display()
        )
    );
    writer.execute_batch("ROLLBACK").expect("rollback");
    Store::open(&path).expect("free again");
}

#[test]
fn alerts_round_trip_through_the_store() {
    let (_d, mut s) = temp_store();
    let mut a = alert(7, Severity::Critical, NOW - DAY);
    a.first_seen = Some(NOW - 3 * DAY);
    a.resource.tags.insert("env".into(), "prod".into());
    a.resource.cloud = Some(sitrep::domain::Cloud::Aws);
    a.exposure.internet_facing = Some(true);
    a.exposure.open_ports = vec![22, 443];
    a.cves.push(sitrep::domain::Cve {
        id: "CVE-2021-44228".into(),
        cvss: Some(10.0),
        ..Default::default()
    });
    a.compliance.push(sitrep::domain::Compliance {
        standard: "CIS AWS".into(),
        requirement: Some("5.2".into()),
    });
    a.attack_context = Some(serde_json::json!({"path": ["internet", "vm", "role"]}));
    a.remediation = Some("close port 22".into());
    s.import(std::slice::from_ref(&a), NOW).expect("import");
    let got = s.get(&a.id()).expect("get").expect("present");
    assert_eq!(got.alert, a);
    assert_eq!(got.status, Status::New);
    assert_eq!(got.imported_at, NOW);
}

#[test]
fn the_first_page_of_the_queue_walks_the_index_without_sorting() {
    let (_d, mut s) = temp_store();
    let alerts: Vec<Alert> = (0..200)
        .map(|n| alert(n, Severity::High, NOW - i64::from(n) * 1000))
        .collect();
    s.import(&alerts, NOW).expect("import");
    for sort in [SortKey::Score, SortKey::Severity, SortKey::Recent] {
        let plan = s
            .query_plan(&ListRequest {
                sort,
                limit: 50,
                ..req()
            })
            .expect("plan")
            .join(" | ");
        assert!(plan.contains("USING INDEX"), "{sort:?}: {plan}");
        assert!(
            !plan.contains("TEMP B-TREE"),
            "{sort:?} sorts instead of walking an index: {plan}"
        );
    }
}

#[test]
fn a_payload_without_resource_facts_keeps_the_ones_already_known() {
    let (_d, mut s) = temp_store();
    let mut rich = alert(9, Severity::High, NOW - DAY);
    rich.resource.region = Some("eu-west-1".into());
    rich.resource.tags.insert("env".into(), "prod".into());
    s.import(std::slice::from_ref(&rich), NOW).expect("import");
    let mut bare = rich.clone();
    bare.resource = Default::default();
    bare.title = "renamed".into();
    bare.vendor_updated = Some(NOW);
    let st = s.import(&[bare], NOW).expect("update");
    assert_eq!(st.updated, 1);
    let got = s.get("wiz:issue-9").expect("get").expect("present");
    assert_eq!(got.alert.title, "renamed");
    assert_eq!(got.alert.resource.id, rich.resource.id);
    assert_eq!(got.alert.resource.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        got.alert.resource.tags.get("env").map(String::as_str),
        Some("prod")
    );
}

/// `resolve_vanished` marks only the source's alerts under the prefix that the complete
/// listing did not hold and the vendor had not closed; the analyst's status stays, and the
/// same payload arriving again reopens the alert.
#[test]
fn alerts_gone_from_a_complete_listing_are_resolved_by_the_vendor() {
    let (_dir, mut store) = temp_store();
    let compute = |source: &str, native: &str, state: VendorState| {
        let mut a = Alert::new(
            Vendor::PrismaCompute,
            native,
            serde_json::json!({ "id": native }),
        );
        a.source = source.to_string();
        a.title = format!("finding {native}");
        a.vendor_status = state;
        a
    };
    let batch = vec![
        compute("cmp", "image/a/CVE-1/p", VendorState::Open),
        compute("cmp", "image/b/CVE-2/p", VendorState::Open),
        compute("cmp", "image/c/CVE-3/p", VendorState::Dismissed),
        compute("cmp", "host/h/CVE-4/p", VendorState::Open),
        compute("cmp", "image0", VendorState::Open),
        compute("cmp2", "image/b/CVE-2/p", VendorState::Open),
    ];
    store.import(&batch, NOW).expect("import");
    store
        .set_status(
            "cmp:image/b/CVE-2/p",
            &StatusChange {
                status: Status::Acknowledged,
                actor: "ana".into(),
                note: None,
                at: NOW,
            },
        )
        .expect("ack");
    let listed: std::collections::HashSet<String> = ["image/a/CVE-1/p".to_string()].into();
    let n = store
        .resolve_vanished("cmp", "image/", &listed, "gone", NOW + 1)
        .expect("resolve");
    assert_eq!(n, 1);
    let state = |s: &Store, id: &str| {
        let a = s.get(id).expect("get").expect("stored");
        (a.alert.vendor_status.clone(), a.status.kind())
    };
    // Only acknowledged here: the status follows the vendor's (issue 23).
    assert_eq!(
        state(&store, "cmp:image/b/CVE-2/p"),
        (VendorState::Resolved, StatusKind::Resolved)
    );
    for (id, want) in [
        ("cmp:image/a/CVE-1/p", VendorState::Open),
        ("cmp:image/c/CVE-3/p", VendorState::Dismissed),
        ("cmp:host/h/CVE-4/p", VendorState::Open),
        ("cmp:image0", VendorState::Open),
        ("cmp2:image/b/CVE-2/p", VendorState::Open),
    ] {
        assert_eq!(state(&store, id).0, want, "{id}");
    }
    let b = store
        .get("cmp:image/b/CVE-2/p")
        .expect("get")
        .expect("stored");
    let kinds: Vec<(&str, &str, Option<&str>)> = b
        .history
        .iter()
        .rev()
        .take(2)
        .map(|h| (h.kind.as_str(), h.actor.as_str(), h.note.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "status",
                sitrep::store::SYSTEM_ACTOR,
                Some("closed at the vendor (resolved there)")
            ),
            ("vendor_update", "vendor", Some("gone")),
        ]
    );
    // Marking again finds nothing new; the same payload again reopens it.
    assert_eq!(
        store
            .resolve_vanished("cmp", "image/", &listed, "gone", NOW + 2)
            .expect("again"),
        0
    );
    let stats = store.import(&batch[1..2], NOW + 3).expect("reimport");
    assert_eq!(stats.updated, 1);
    // Back as new (the status sitrep set is undone; the acknowledgement was followed).
    assert_eq!(
        state(&store, "cmp:image/b/CVE-2/p"),
        (VendorState::Open, StatusKind::New)
    );
    // A prefix that cannot bound an id range is refused.
    assert!(
        store
            .resolve_vanished("cmp", "", &listed, "gone", NOW)
            .is_err()
    );
}

// ---- a queue at scale: keyset pages, kept counts, index-backed filters -----------------------

const ALL_SORTS: [SortKey; 9] = [
    SortKey::Score,
    SortKey::Severity,
    SortKey::Recent,
    SortKey::Oldest,
    SortKey::Vendor,
    SortKey::Title,
    SortKey::Resource,
    SortKey::Account,
    SortKey::Status,
];

/// 240 alerts over three vendors with many ties in every order (few distinct times,
/// severities, titles and accounts, some without an account or resource name), some
/// resolved, snoozed (lapsed or not), dismissed until a time, or muted by a suppression.
fn varied_store() -> (tempfile::TempDir, Store) {
    let (d, mut s) = temp_store();
    let sevs = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];
    let vendors = [Vendor::Wiz, Vendor::Orca, Vendor::Lacework];
    let alerts: Vec<Alert> = (0..240u32)
        .map(|n| {
            let v = vendors[(n % 3) as usize];
            let mut a = alert(
                n,
                sevs[(n % 4) as usize].clone(),
                NOW - i64::from(n % 5) * DAY,
            );
            a.vendor = v;
            a.source = v.as_str().to_string();
            a.title = format!("Finding {}", n % 7);
            if n % 6 == 0 {
                a.resource.account = None;
            }
            if n % 4 == 1 {
                a.resource.name = Some(format!("host-{}", n % 3));
            }
            if n % 10 == 0 {
                a.first_seen = Some(NOW - 30 * DAY);
            }
            a.resource
                .tags
                .insert("env".into(), ["prod", "Dev"][(n % 2) as usize].into());
            if n % 9 == 0 {
                a.cves.push(sitrep::domain::Cve {
                    id: format!("cve-2021-{}", 44228 + n % 2),
                    ..Default::default()
                });
            }
            a
        })
        .collect();
    s.import(&alerts, NOW).expect("import");
    let change = |status| StatusChange {
        status,
        actor: "bob".into(),
        note: None,
        at: NOW,
    };
    for n in (0..240).step_by(11) {
        let status = match n % 4 {
            0 => Status::Resolved {
                reason: "fixed".into(),
            },
            1 => Status::Snoozed {
                until: NOW + DAY,
                note: None,
            },
            2 => Status::Snoozed {
                until: NOW - DAY,
                note: None,
            },
            _ => Status::Dismissed {
                reason: DismissReason::AcceptedRisk,
                note: None,
                until: Some(NOW - DAY),
            },
        };
        s.set_status(
            &format!("{}:issue-{n}", vendors[n % 3].as_str()),
            &change(status),
        )
        .expect("status");
    }
    s.add_suppression(&sitrep::triage::suppress::NewSuppression {
        kind: sitrep::triage::suppress::RuleKind::Filter,
        value: "\"Finding 3\" sev:high".into(),
        reason: "known".into(),
        author: "bob".into(),
        created_at: NOW - DAY,
        expires_at: None,
    })
    .expect("suppress");
    (d, s)
}

/// Walking the queue page by page from keys, forwards and backwards, and reading its end,
/// gives exactly the rows of one offset listing, in every order and with a filter.
#[test]
fn keyset_pages_agree_with_offset_pages_in_every_order() {
    let (_d, s) = varied_store();
    let q = sitrep::triage::query::parse("tag:env=prod").expect("query");
    for filter in [None, Some(&q)] {
        for sort in ALL_SORTS {
            let base = ListRequest {
                filter,
                sort,
                limit: 1000,
                ..req()
            };
            let all = ids(&s.list(&base).expect("list"));
            assert!(all.len() > 50, "{sort:?}");
            let page = |limit| ListRequest {
                limit,
                ..base.clone()
            };
            // Forwards, 17 at a time, each page after the last row of the one before.
            let mut walked = ids(&s.list(&page(17)).expect("first"));
            let mut last = s.list(&page(17)).expect("first").pop().expect("row");
            loop {
                let next = s
                    .list_seek(&page(17), &Seek::After(QueueKey::of(&last, sort)))
                    .expect("next");
                let Some(l) = next.last().cloned() else { break };
                walked.extend(ids(&next));
                last = l;
            }
            assert_eq!(walked, all, "{sort:?} forwards");
            // Backwards from the end.
            let end = s.list_seek(&page(17), &Seek::End).expect("end");
            assert_eq!(ids(&end), all[all.len() - 17..], "{sort:?} end");
            let mut back = ids(&end);
            let mut first = end[0].clone();
            loop {
                let prev = s
                    .list_seek(&page(17), &Seek::Before(QueueKey::of(&first, sort)))
                    .expect("prev");
                let Some(f) = prev.first().cloned() else {
                    break;
                };
                back.splice(0..0, ids(&prev));
                first = f;
            }
            assert_eq!(back, all, "{sort:?} backwards");
            // An offset from a key, and from the end.
            let skip = ListRequest {
                offset: 5,
                ..page(3)
            };
            let after = s
                .list_seek(
                    &skip,
                    &Seek::After(QueueKey::of(&s.list(&page(10)).expect("p")[9], sort)),
                )
                .expect("skip");
            assert_eq!(ids(&after), all[15..18], "{sort:?} after + offset");
            let from_end = s.list_seek(&skip, &Seek::End).expect("end + offset");
            assert_eq!(
                ids(&from_end),
                all[all.len() - 8..all.len() - 5],
                "{sort:?}"
            );
        }
    }
}

/// The kept counts give what counting every row gives, for the default queue, facet
/// filters and everything (with clock-dependent rows: snoozes, lapsed or not, and a
/// suppression), before and after more writes; other filters are capped and say so.
#[test]
fn kept_counts_agree_with_counting_rows() {
    let (_d, mut s) = varied_store();
    let exact = |s: &Store, filter: Option<&sitrep::triage::query::Query>, all: bool| {
        let r = ListRequest {
            filter,
            include_closed: all,
            limit: 100_000,
            ..req()
        };
        (s.list(&r).expect("list").len(), s.count(&r).expect("count"))
    };
    let check = |s: &Store| {
        for text in [
            "",
            "sev:high",
            "sev:>=high vendor:wiz",
            "-vendor:orca",
            "status:snoozed",
            "status:open sev:critical,low",
        ] {
            let q = sitrep::triage::query::parse(text).expect("query");
            for all in [false, true] {
                let (listed, counted) = exact(s, Some(&q), all);
                assert_eq!(listed, counted, "{text:?} all={all}");
                let r = ListRequest {
                    filter: Some(&q),
                    include_closed: all,
                    ..req()
                };
                let capped = s.count_upto(&r, 5).expect("count_upto");
                assert_eq!(capped.n, counted, "facets are always exact: {text:?}");
                assert!(capped.exact);
            }
        }
    };
    check(&s);
    // More writes: a re-import that changes severities, a status change, a new alert.
    let mut a = alert(3, Severity::Info, NOW);
    a.vendor = Vendor::Lacework;
    a.source = "lacework".into();
    s.import(&[a, alert(999, Severity::High, NOW)], NOW + 1)
        .expect("import");
    s.set_status(
        "wiz:issue-999",
        &StatusChange {
            status: Status::Acknowledged,
            actor: "bob".into(),
            note: None,
            at: NOW,
        },
    )
    .expect("ack");
    check(&s);
    // A filter the counts cannot answer (text): capped, and says so.
    let q = sitrep::triage::query::parse("finding").expect("query");
    let r = ListRequest {
        filter: Some(&q),
        ..req()
    };
    let full = s.count(&r).expect("count");
    assert!(full > 20, "{full}");
    let capped = s.count_upto(&r, 20).expect("capped");
    assert_eq!((capped.n, capped.exact), (20, false));
    assert_eq!(capped.to_string(), "20+");
    let roomy = s.count_upto(&r, full).expect("roomy");
    assert_eq!((roomy.n, roomy.exact), (full, true));
    let big = sitrep::store::QueueCount {
        n: 10_000,
        exact: false,
    };
    assert_eq!(big.to_string(), "10,000+");
}

/// Tag and CVE filters read their indexes and match as before (case-insensitive).
#[test]
fn tag_and_cve_filters_match_through_their_indexes() {
    let (_d, s) = varied_store();
    let count = |text: &str| {
        let q = sitrep::triage::query::parse(text).expect("query");
        s.count(&ListRequest {
            filter: Some(&q),
            include_closed: true,
            ..req()
        })
        .expect("count")
    };
    assert_eq!(count("tag:ENV=dev"), 120);
    assert_eq!(count("tag:env"), 240);
    assert_eq!(count("-tag:env=prod"), 120);
    assert_eq!(count("cve:CVE-2021-44228"), 14);
    assert_eq!(count("cve:cve-2021-44229"), 13);
    assert_eq!(count("cve:CVE-2021-44228,CVE-2021-44229"), 27);
    assert_eq!(count("cve:any"), 27);
}

/// The first page, the last page, a page after a key and the count of the default queue are
/// index walks: no sort step, no scan of the table.
#[test]
fn pages_and_counts_at_any_position_walk_an_index() {
    let (_d, s) = varied_store();
    let rows = s.list(&req()).expect("list");
    for sort in [
        SortKey::Score,
        SortKey::Severity,
        SortKey::Recent,
        SortKey::Status,
        SortKey::Oldest,
        SortKey::Title,
        SortKey::Resource,
        SortKey::Account,
    ] {
        let r = ListRequest {
            sort,
            limit: 50,
            ..req()
        };
        let key = QueueKey::of(&rows[40], sort);
        for seek in [Seek::End, Seek::After(key.clone()), Seek::Before(key)] {
            let plan = s.seek_plan(&r, &seek).expect("plan").join(" | ");
            assert!(plan.contains("USING INDEX"), "{sort:?} {seek:?}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sort:?} {seek:?}: {plan}");
            // Closed alerts bunch at the end of the score order (they score 0) and in blocks
            // of the status order: those orders read the index of the open queue, which
            // holds none of them, so the last page skips nothing.
            // The orders no full index serves read theirs too, instead of sorting.
            if !matches!(sort, SortKey::Severity | SortKey::Recent) {
                assert!(plan.contains("alerts_open_"), "{sort:?} {seek:?}: {plan}");
            }
        }
        let first = s.query_plan(&r).expect("plan").join(" | ");
        assert!(
            !first.contains("TEMP B-TREE"),
            "{sort:?} first page: {first}"
        );
        let all = ListRequest {
            include_closed: true,
            ..r.clone()
        };
        let plan = s.seek_plan(&all, &Seek::End).expect("plan").join(" | ");
        assert!(
            !plan.contains("alerts_open_"),
            "{sort:?} with closed: {plan}"
        );
    }
    for text in [
        "",
        "sev:critical",
        "vendor:wiz sev:>=high",
        "status:open",
        "tag:env=prod",
        "tag:ENV",
        "tag:env=prod sev:high -vendor:orca",
        "account:123456789012",
        "account:123456789012,999 status:open",
    ] {
        let q = sitrep::triage::query::parse(text).expect("query");
        let plan = s
            .count_plan(&ListRequest {
                filter: Some(&q),
                ..req()
            })
            .expect("plan");
        // The one scan allowed is of the partial index of clock-dependent rows (muted, or
        // put away until a time): it holds those rows only.
        assert!(
            !plan
                .iter()
                .any(|l| (l == "SCAN alerts" || l.starts_with("SCAN alerts "))
                    && l != "SCAN alerts USING INDEX alerts_special"),
            "{text:?}: {}",
            plan.join(" | ")
        );
        assert!(
            plan.iter().any(|l| l.contains("alerts USING PRIMARY KEY")),
            "{text:?} is read from the kept counts: {}",
            plan.join(" | ")
        );
        assert!(
            !plan.iter().any(|l| l.contains("alerts_queue")
                || l.contains("alerts_vendor")
                || l.contains("alerts_status")),
            "{text:?} reads the clock-dependent rows only: {}",
            plan.join(" | ")
        );
    }
    // In score order, a page of one account walks that account's part of the open queue
    // (migration 0018), from the top, the end or a key, with more terms tested per row.
    let key = QueueKey::of(&rows[40], SortKey::Score);
    for text in [
        "account:123456789012",
        "account:123456789012 sev:high",
        "account:123456789012 tag:env=prod",
    ] {
        let q = sitrep::triage::query::parse(text).expect("query");
        let r = ListRequest {
            filter: Some(&q),
            limit: 50,
            ..req()
        };
        let mut plans = vec![s.query_plan(&r).expect("plan").join(" | ")];
        for seek in [
            Seek::End,
            Seek::After(key.clone()),
            Seek::Before(key.clone()),
        ] {
            plans.push(s.seek_plan(&r, &seek).expect("plan").join(" | "));
        }
        for plan in plans {
            assert!(
                plan.contains("USING INDEX alerts_open_account_score (account=?"),
                "{text:?}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{text:?}: {plan}");
            assert!(!plan.contains("LIST SUBQUERY"), "{text:?}: {plan}");
        }
    }
    // A capped count of a tag, CVE or text filter is driven by that term's own index and
    // stops at the cap: no list of every match first (a common tag's quarter of a million).
    // (One tag or account with facets is a kept count, above.)
    for (text, driver) in [
        ("tag:env=prod tag:env", "alert_tags"),
        ("tag:env=prod account:123456789012", "alert_tags"),
        ("cve:CVE-2021-44228 sev:high", "alert_cves"),
        ("bucket", "alerts_fts"),
        ("bucket tag:env=prod", "alerts_fts"),
    ] {
        let q = sitrep::triage::query::parse(text).expect("query");
        let plan = s
            .count_plan(&ListRequest {
                filter: Some(&q),
                ..req()
            })
            .expect("plan");
        let joined = plan.join(" | ");
        let first = plan
            .iter()
            .position(|l| l.contains(driver))
            .unwrap_or_else(|| panic!("{text:?} driven by {driver}: {joined}"));
        let alerts = plan
            .iter()
            .position(|l| l.contains("alerts USING INTEGER PRIMARY KEY"))
            .unwrap_or_else(|| panic!("{text:?} looks alerts up by rowid: {joined}"));
        assert!(first < alerts, "{text:?}: {joined}");
        assert!(!joined.contains("LIST SUBQUERY"), "{text:?}: {joined}");
    }
}

/// Every row of a kept count table against grouping the alerts themselves: (kept, grouped).
fn kept_and_grouped(path: &std::path::Path) -> Vec<(Vec<String>, Vec<String>)> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let rows = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| {
                    r.get::<_, rusqlite::types::Value>(i)
                        .map(|v| format!("{v:?}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.join(" "))
        })
        .and_then(|rows| rows.collect())
        .expect("rows")
    };
    const SPECIAL: &str = "(a.suppressed_by IS NOT NULL OR a.status_until IS NOT NULL)";
    vec![
        (
            rows(
                "SELECT key, value, status, vendor, severity_rank, special, n \
                  FROM alert_tag_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6",
            ),
            rows(&format!(
                "SELECT t.key, t.value, a.status, a.vendor, a.severity_rank, {SPECIAL}, count(*) \
                 FROM alert_tags t JOIN alerts a ON a.rowid = t.alert \
                 GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
            )),
        ),
        (
            rows(
                "SELECT account, status, vendor, severity_rank, special, n \
                  FROM alert_account_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5",
            ),
            rows(&format!(
                "SELECT a.account, a.status, a.vendor, a.severity_rank, {SPECIAL}, count(*) \
                 FROM alerts a WHERE a.account IS NOT NULL \
                 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
            )),
        ),
        (
            rows(
                "SELECT alert, status, vendor, severity_rank, special \
                  FROM alert_facets ORDER BY 1",
            ),
            rows(&format!(
                "SELECT a.rowid, a.status, a.vendor, a.severity_rank, {SPECIAL} \
                 FROM alerts a ORDER BY 1"
            )),
        ),
    ]
}

/// Each filter of `texts` over the open queue and over every alert: `f` gets the request,
/// how many rows it lists and a label for messages.
fn each_listing(s: &Store, texts: &[&str], mut f: impl FnMut(&ListRequest<'_>, usize, &str)) {
    for text in texts {
        let q = sitrep::triage::query::parse(text).expect("query");
        for all in [false, true] {
            let r = ListRequest {
                filter: Some(&q),
                include_closed: all,
                limit: 100_000,
                ..req()
            };
            let listed = s.list(&r).expect("list").len();
            f(&r, listed, &format!("{text:?} all={all}"));
        }
    }
}

/// The counts kept per tag and per account (migration 0018) and each alert's facets (0019)
/// stay what the rows say through every write: the first (bulk) import, status changes and a
/// suppression (in `varied_store`), re-imports as a sync and a streamed import write them (tags, accounts and
/// severities changed), more status changes, a suppression lifted, and deletes. Each filter
/// they answer is counted exactly and agrees with its listing.
#[test]
fn tag_and_account_counts_stay_true_under_every_write() {
    let (d, mut s) = varied_store();
    let path = d.path().join("nested/dir/sitrep.db");
    let check = |s: &Store, when: &str| {
        for (kept, grouped) in kept_and_grouped(&path) {
            assert!(!grouped.is_empty(), "{when}");
            assert_eq!(kept, grouped, "{when}");
        }
        let kept = &[
            "tag:env=prod",
            "tag:ENV=dev",
            "tag:env",
            "tag:team",
            "tag:env=prod sev:high",
            "tag:env=dev -vendor:orca status:open",
            "status:snoozed tag:env=prod",
            "account:123456789012",
            "account:123456789012,999 vendor:wiz",
            "account:999 sev:>=high",
        ];
        each_listing(s, kept, |r, listed, what| {
            let counted = s.count_upto(r, 5).expect("count");
            assert!(counted.exact, "{when}: {what} is a kept count");
            assert_eq!(counted.n, listed, "{when}: {what}");
        });
        // Text and CVE terms with facets are counted through `alert_facets` (migration
        // 0019), the clock-dependent rows from the alerts themselves.
        let driven = &[
            "host",
            "host-1",
            "finding sev:critical",
            "\"finding 3\" -vendor:wiz",
            "host status:snoozed",
            "host status:resolved",
            "cve:CVE-2021-44228",
            "cve:cve-2021-44229 vendor:wiz,orca sev:>=high",
        ];
        each_listing(s, driven, |r, listed, what| {
            let counted = s.count_upto(r, 100_000).expect("count");
            assert_eq!((counted.n, counted.exact), (listed, true), "{when}: {what}");
            let capped = s.count_upto(r, 2).expect("capped");
            assert_eq!(capped.exact, listed <= 2, "{when}: {what}");
            assert_eq!(capped.n, listed.min(2), "{when}: {what}");
        });
    };
    check(&s, "after the first import");
    let vendors = [Vendor::Wiz, Vendor::Orca, Vendor::Lacework];
    let changed = |n: u32, env: &str| {
        let mut a = alert(n, Severity::Critical, NOW);
        a.vendor = vendors[(n % 3) as usize];
        a.source = a.vendor.as_str().to_string();
        a.title = format!("Finding {}", n % 7);
        a.resource.tags.insert("env".into(), env.into());
        // Two keys that are one tag once lower-cased.
        a.resource.tags.insert("Team".into(), "Red".into());
        a.resource.tags.insert("team".into(), "red".into());
        a.resource.account = match n % 3 {
            0 => Some("999".into()),
            1 => None,
            _ => a.resource.account.clone(),
        };
        a
    };
    // A re-import as a sync writes it (one batch), and as `sitrep import` streams it.
    let batch: Vec<Alert> = (0..40).map(|n| changed(n, "staging")).collect();
    s.import(&batch, NOW + 1).expect("re-import");
    check(&s, "after a re-import");
    let mut im = s.begin_import(NOW + 2).expect("begin");
    let streamed: Vec<Alert> = (30..60)
        .map(|n| changed(n, "prod"))
        .chain((1000..1010).map(|n| changed(n, "dev")))
        .collect();
    im.write(&streamed).expect("write");
    im.commit().expect("commit");
    check(&s, "after a streamed import");
    for (n, status) in [
        (
            33,
            Status::Resolved {
                reason: "fixed".into(),
            },
        ),
        (
            34,
            Status::Snoozed {
                until: NOW + DAY,
                note: None,
            },
        ),
        (35, Status::Acknowledged),
        (11, Status::New),
    ] {
        let id = format!("{}:issue-{n}", vendors[(n % 3) as usize].as_str());
        let change = StatusChange {
            status,
            actor: "bob".into(),
            note: None,
            at: NOW,
        };
        s.set_status(&id, &change).expect("status");
    }
    check(&s, "after status changes");
    let (rule, _) = s.suppressions().expect("rules").remove(0);
    s.remove_suppression(rule.id, "bob", NOW).expect("lift");
    check(&s, "after a suppression is lifted");
    let conn = rusqlite::Connection::open(&path).expect("open");
    let gone = conn
        .execute(
            "DELETE FROM alerts WHERE id IN ('wiz:issue-30', 'orca:issue-1', 'lacework:issue-1004')",
            [],
        )
        .expect("delete");
    assert_eq!(gone, 3);
    check(&s, "after deletes");
}

/// A word on more alerts than the walk threshold (5,000) is tested on each row the open
/// queue's score index yields, from the row's own title, resource and policy split as the
/// text index splits them (store/words.rs): no list of every match first, and no FTS5
/// look-up per row (which expands a prefix such as `host*` again each time). Every match is
/// still reached once, page by page, and the count (through the text index and
/// `alert_facets`) agrees.
#[test]
fn a_frequent_word_walks_the_queue_and_tests_each_row() {
    let (_d, mut s) = temp_store();
    let sevs = [Severity::Critical, Severity::High, Severity::Medium];
    let alerts: Vec<Alert> = (0..6_300)
        .map(|n| {
            let mut a = alert(n, sevs[(n % 3) as usize].clone(), NOW - i64::from(n));
            // One in ten has no "host": an accented near-miss, a word that only contains it,
            // or no such word at all.
            a.resource.name = Some(match n % 10 {
                0 => format!("hóst{n}-ghost"),
                1 => format!("db-{n}"),
                _ => format!("Host-{n}"),
            });
            a
        })
        .collect();
    s.import(&alerts, NOW).expect("import");
    let close = StatusChange {
        status: Status::Resolved {
            reason: "fixed".into(),
        },
        actor: "bob".into(),
        note: None,
        at: NOW,
    };
    s.set_status("wiz:issue-2", &close).expect("close");
    let q = sitrep::triage::query::parse("host").expect("query");
    let r = ListRequest {
        filter: Some(&q),
        limit: 50,
        ..req()
    };
    let counted = s.count_upto(&r, 10_000).expect("count");
    // 5,040 "Host-n" and 630 "hóst…" (accents go: "host…" as a prefix), one of them closed;
    // not the 630 "db-n".
    assert_eq!((counted.n, counted.exact), (5_669, true));
    let plan = s.query_plan(&r).expect("plan").join(" | ");
    assert!(plan.contains("alerts_open_score"), "{plan}");
    assert!(!plan.contains("alerts_fts"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    let mut page = s.list(&r).expect("first page");
    let mut seen = std::collections::HashSet::new();
    let mut last_key = None;
    while !page.is_empty() {
        for row in &page {
            let name = row.resource.as_deref().unwrap_or("");
            assert!(
                name.starts_with("Host-") || name.starts_with("hóst"),
                "{name}"
            );
            assert!(seen.insert(row.id.clone()), "{} twice", row.id);
        }
        let key = QueueKey::of(page.last().expect("row"), SortKey::Score);
        if let Some(previous) = &last_key {
            assert_ne!(previous, &key);
        }
        last_key = Some(key.clone());
        page = s.list_seek(&r, &Seek::After(key)).expect("next page");
    }
    assert_eq!(seen.len(), 5_669);
    assert!(!seen.contains("wiz:issue-2"));
    // A capped count first reads the whole word's matches (FTS5 reads a word lazily, a
    // prefix all at once); when they do not reach the cap, the prefix's own are counted:
    // `host6` is no word here, but "hóst60", "hóst600"… start with it.
    let q = sitrep::triage::query::parse("host6").expect("query");
    let r = ListRequest {
        filter: Some(&q),
        limit: 50,
        ..req()
    };
    let all = s.count_upto(&r, 10_000).expect("count");
    assert_eq!(
        (all.n, all.exact),
        (
            s.list(&ListRequest {
                limit: 10_000,
                ..r.clone()
            })
            .expect("list")
            .len(),
            true
        )
    );
    assert!(all.n > 40, "{all:?}");
    let capped = s.count_upto(&r, 40).expect("capped");
    assert_eq!((capped.n, capped.exact), (40, false));
    let words = s
        .count_upto(
            &ListRequest {
                filter: Some(&sitrep::triage::query::parse("host").expect("query")),
                ..r
            },
            40,
        )
        .expect("words");
    assert_eq!((words.n, words.exact), (40, false));
}
