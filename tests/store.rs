//! The store on a real temp-file SQLite database.

use sitrep::domain::{Alert, DismissReason, Severity, Status, StatusKind, Vendor, VendorState};
use sitrep::store::{ListRequest, SortKey, StatusChange, Store};

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
