//! Golden prioritization scenarios on the real store (a temp-file SQLite database), and a few
//! through the real binary: scores, KEV/EPSS, correlation, attack paths, suppressions.

mod common;

use sitrep::domain::{Alert, Category, Cve, Severity, Stage, Status, Vendor};
use sitrep::store::{ListRequest, SortKey, StatusChange, Store};
use sitrep::triage::intel;
use sitrep::triage::suppress::{NewSuppression, RuleKind};

const NOW: i64 = common::NOW_MS;
const DAY: i64 = 86_400_000;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open(&dir.path().join("sitrep.db")).expect("open");
    (dir, s)
}

fn load_intel(s: &mut Store) {
    let root = env!("CARGO_MANIFEST_DIR");
    let kev = intel::parse_kev(
        &std::fs::read(format!("{root}/examples/data/intel/kev.json")).expect("kev"),
    )
    .expect("parse kev");
    let epss = intel::parse_epss(
        &std::fs::read(format!("{root}/examples/data/intel/epss.csv")).expect("epss"),
    )
    .expect("parse epss");
    s.import_kev(&kev, "kev.json", NOW).expect("kev");
    s.import_epss(&epss, "epss.csv", NOW).expect("epss");
}

fn req() -> ListRequest<'static> {
    ListRequest {
        limit: 100,
        now_ms: NOW,
        ..Default::default()
    }
}

const INSTANCE: &str = "i-0a1b2c3d4e5f60718";

/// Prisma: SSH open to the world on the instance.
fn prisma_ssh() -> Alert {
    let mut a = Alert::new(
        Vendor::PrismaCspm,
        "P-SSH-1",
        serde_json::json!({"id": "P-SSH-1"}),
    );
    a.title = "AWS Security Group allows all traffic on SSH port (22)".into();
    a.policy.id = Some("pc-aws-sg-ssh-open".into());
    a.policy.name = Some("AWS Security Group allows 0.0.0.0/0 on port 22".into());
    a.severity = Severity::High;
    a.category = Category::Network;
    a.resource.id = Some(format!(
        "arn:aws:ec2:us-east-1:111122223333:instance/{INSTANCE}"
    ));
    a.resource.name = Some("web-1".into());
    a.resource.rtype = Some("AWS::EC2::Instance".into());
    a.resource.account = Some("111122223333".into());
    a.exposure.open_ports = vec![22];
    a.first_seen = Some(NOW - DAY);
    a.last_seen = Some(NOW - DAY);
    a
}

/// Wiz: Log4Shell (a KEV entry) on the same instance, spelled as a bare instance id.
fn wiz_log4shell() -> Alert {
    let mut a = Alert::new(
        Vendor::Wiz,
        "W-VULN-1",
        serde_json::json!({"id": "W-VULN-1"}),
    );
    a.title = "CVE-2021-44228 in log4j-core 2.14.1".into();
    a.severity = Severity::Critical;
    a.category = Category::Vulnerability;
    a.resource.id = Some(INSTANCE.to_uppercase());
    a.resource.name = Some("web-1".into());
    a.resource.cloud = Some(sitrep::domain::Cloud::Aws);
    a.cves = vec![Cve {
        id: "CVE-2021-44228".into(),
        cvss: Some(10.0),
        cvss_vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H".into()),
        package: Some("log4j-core".into()),
        ..Cve::default()
    }];
    a.first_seen = Some(NOW - 2 * DAY);
    a.last_seen = Some(NOW - 2 * DAY);
    a
}

/// Lacework: the instance's role is an admin.
fn lacework_admin_role() -> Alert {
    let mut a = Alert::new(
        Vendor::Lacework,
        "L-IAM-1",
        serde_json::json!({"id": "L-IAM-1"}),
    );
    a.title = "EC2 instance profile role web-1-role has AdministratorAccess attached".into();
    a.severity = Severity::Medium;
    a.category = Category::Identity;
    a.resource.id = Some(format!(
        "arn:aws:ec2:us-east-1:111122223333:instance/{INSTANCE}"
    ));
    a.first_seen = Some(NOW - 3 * DAY);
    a.last_seen = Some(NOW - 3 * DAY);
    a
}

/// An unrelated critical finding on another resource.
fn lone_critical() -> Alert {
    let mut a = Alert::new(Vendor::Orca, "O-1", serde_json::json!({"id": "O-1"}));
    a.title = "Storage account allows shared key access".into();
    a.severity = Severity::Critical;
    a.category = Category::Misconfiguration;
    a.resource.id = Some(
        "/subscriptions/abc/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs"
            .into(),
    );
    a.first_seen = Some(NOW - DAY);
    a
}

#[test]
fn an_exposed_kev_workload_with_an_admin_role_is_one_path_ranked_above_each_finding() {
    let (_d, mut s) = store();
    load_intel(&mut s);
    s.import(
        &[
            prisma_ssh(),
            wiz_log4shell(),
            lacework_admin_role(),
            lone_critical(),
        ],
        NOW,
    )
    .expect("import");

    let rows = s.list(&req()).expect("list");
    let score_of = |id: &str| {
        rows.iter()
            .find(|r| r.id == id)
            .map(|r| r.score)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    let groups = s.list_groups(&req()).expect("groups");
    let first = &groups[0];
    assert!(first.is_path, "{first:?}");
    assert_eq!(first.group_key, format!("aws:{INSTANCE}"));
    assert_eq!(first.members, 3);
    assert_eq!(
        first.stages,
        vec![Stage::Exposure, Stage::Exploitable, Stage::Privilege]
    );
    for id in [
        "prisma-cspm:P-SSH-1",
        "wiz:W-VULN-1",
        "lacework:L-IAM-1",
        "orca:O-1",
    ] {
        assert!(
            first.score > score_of(id),
            "path {} vs {id} {}",
            first.score,
            score_of(id)
        );
    }
    // The lone finding is its own group, below the path.
    assert_eq!(groups.len(), 2);
    assert!(!groups[1].is_path);

    // The path reads as a chain, from every member's point of view.
    for id in ["prisma-cspm:P-SSH-1", "wiz:W-VULN-1", "lacework:L-IAM-1"] {
        let paths = s.attack_paths_for(id).expect("paths");
        assert_eq!(paths.len(), 1, "{id}");
        let p = &paths[0];
        assert_eq!(p.total, first.score);
        let steps: Vec<(Stage, &str)> = p
            .steps
            .iter()
            .map(|st| (st.stage, st.alert_id.as_str()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (Stage::Exposure, "prisma-cspm:P-SSH-1"),
                (Stage::Exploitable, "wiz:W-VULN-1"),
                (Stage::Privilege, "lacework:L-IAM-1"),
            ]
        );
        assert_eq!(
            p.steps[0].label,
            "internet-facing: instance web-1 allows 0.0.0.0/0 on port 22"
        );
        assert_eq!(
            p.steps[1].label,
            "known exploited: CVE-2021-44228 is in CISA KEV since 2021-12-10"
        );
    }
    assert!(s.attack_paths_for("orca:O-1").expect("none").is_empty());

    // The breakdown explains the stored number.
    let b = s
        .score_breakdown("prisma-cspm:P-SSH-1", s.scoring())
        .expect("breakdown")
        .expect("some");
    assert_eq!(b.total, score_of("prisma-cspm:P-SSH-1"));
    assert_eq!(
        b.factors.iter().map(|f| f.points).sum::<i32>(),
        i32::from(b.total)
    );
    assert!(b.factors.iter().any(|f| f.label
        == "internet-facing: instance web-1 allows 0.0.0.0/0 on port 22"
        && f.points == 15));
}

fn exposed_vuln(id: &str, cve: &str, cvss: f64, sev: Severity) -> Alert {
    let mut a = Alert::new(Vendor::Wiz, id, serde_json::json!({"id": id}));
    a.title = format!("{cve} in a network service");
    a.severity = sev;
    a.category = Category::Vulnerability;
    a.exposure.internet_facing = Some(true);
    a.resource.id = Some(format!(
        "arn:aws:ec2:us-east-1:1:instance/i-{:0>17}",
        id.len()
    ));
    a.cves = vec![Cve {
        id: cve.into(),
        cvss: Some(cvss),
        ..Cve::default()
    }];
    a.first_seen = Some(NOW - DAY);
    a
}

#[test]
fn a_kev_cve_outranks_an_unexploited_one_of_higher_cvss_at_equal_exposure() {
    let (_d, mut s) = store();
    // Imported before the intel: scored without it, then rescored when it arrives.
    s.import(
        &[
            exposed_vuln("rapid-reset", "CVE-2023-44487", 7.5, Severity::High),
            exposed_vuln("curl-socks", "CVE-2023-38545", 9.8, Severity::Critical),
        ],
        NOW,
    )
    .expect("import");
    let before = s.list(&req()).expect("list");
    assert_eq!(
        before[0].id, "wiz:curl-socks",
        "without intel, CVSS and severity lead"
    );
    load_intel(&mut s);
    let after = s.list(&req()).expect("list");
    assert_eq!(after[0].id, "wiz:rapid-reset");
    assert!(after[0].score > after[1].score);
    // The filter language reads the same columns.
    let q = sitrep::triage::query::parse("kev:true epss:>0.9 score:>=50").expect("parse");
    let hits = s
        .list(&ListRequest {
            filter: Some(&q),
            ..req()
        })
        .expect("filter");
    assert_eq!(
        hits.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["wiz:rapid-reset"]
    );
}

#[test]
fn the_default_queue_walks_the_score_index() {
    let (_d, mut s) = store();
    s.import(&[prisma_ssh(), wiz_log4shell(), lone_critical()], NOW)
        .expect("import");
    let plan = s.query_plan(&req()).expect("plan").join(" | ");
    assert_eq!(req().sort, SortKey::Score);
    // The score index of the open queue (closed alerts, all scoring 0, are not in it).
    assert!(plan.contains("alerts_open_score"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[test]
fn a_muted_alert_leaves_the_queue_and_resurfaces_after_its_expiry_with_its_reason() {
    let (_d, mut s) = store();
    s.import(&[prisma_ssh(), wiz_log4shell()], NOW)
        .expect("import");
    let (rule, n) = s
        .add_suppression(&NewSuppression {
            kind: RuleKind::Policy,
            value: "pc-aws-sg-ssh-open".into(),
            reason: "bastion host; SSH is by design".into(),
            author: "alice".into(),
            created_at: NOW,
            expires_at: Some(NOW + 7 * DAY),
        })
        .expect("add");
    assert_eq!(n, 1);
    fn ids(s: &Store, r: &ListRequest<'_>) -> Vec<String> {
        s.list(r).expect("list").into_iter().map(|r| r.id).collect()
    }
    assert_eq!(ids(&s, &req()), ["wiz:W-VULN-1"]);
    // An alert imported later that matches the rule is muted too.
    let mut again = prisma_ssh();
    again.native_id = "P-SSH-2".into();
    s.import(&[again], NOW + DAY).expect("import");
    assert_eq!(
        ids(
            &s,
            &ListRequest {
                now_ms: NOW + DAY,
                ..req()
            }
        ),
        ["wiz:W-VULN-1"]
    );
    // --all still shows them, not flagged.
    let all = s
        .list(&ListRequest {
            include_closed: true,
            ..req()
        })
        .expect("all");
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| !r.resurfaced));

    // After the expiry both come back, flagged, with the rule's reason.
    let later = ListRequest {
        now_ms: NOW + 8 * DAY,
        ..req()
    };
    let rows = s.list(&later).expect("list");
    assert_eq!(rows.len(), 3);
    for r in rows.iter().filter(|r| r.vendor == "prisma-cspm") {
        assert!(r.resurfaced, "{r:?}");
        assert_eq!(
            r.resurfaced_reason.as_deref(),
            Some(
                format!(
                    "muted by suppression #{} (alice): bastion host; SSH is by design",
                    rule.id
                )
                .as_str()
            )
        );
    }
    assert!(
        !rows
            .iter()
            .find(|r| r.vendor == "wiz")
            .expect("wiz")
            .resurfaced
    );

    // Removing a rule releases its alerts at once.
    let (rule2, _) = s
        .add_suppression(&NewSuppression {
            kind: RuleKind::Vendor,
            value: "wiz".into(),
            reason: "tenant being migrated".into(),
            author: "bob".into(),
            created_at: NOW,
            expires_at: None,
        })
        .expect("add");
    assert!(!ids(&s, &req()).contains(&"wiz:W-VULN-1".to_string()));
    assert_eq!(
        s.remove_suppression(rule2.id, "bob", NOW).expect("remove"),
        1
    );
    assert!(ids(&s, &req()).contains(&"wiz:W-VULN-1".to_string()));
    assert!(s.remove_suppression(rule2.id, "bob", NOW).is_err());
}

#[test]
fn a_lapsed_snooze_resurfaces_with_its_note() {
    let (_d, mut s) = store();
    s.import(&[wiz_log4shell()], NOW).expect("import");
    s.set_status(
        "wiz:W-VULN-1",
        &StatusChange {
            status: Status::Snoozed {
                until: NOW + DAY,
                note: Some("waiting for the vendor patch".into()),
            },
            actor: "alice".into(),
            note: None,
            at: NOW,
        },
    )
    .expect("snooze");
    assert!(s.list(&req()).expect("list").is_empty());
    let rows = s
        .list(&ListRequest {
            now_ms: NOW + 2 * DAY,
            ..req()
        })
        .expect("list");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].resurfaced);
    assert_eq!(
        rows[0].resurfaced_reason.as_deref(),
        Some("snoozed: waiting for the vendor patch")
    );
}

#[test]
fn changed_weights_rescore_and_ageing_crosses_the_sla() {
    let (_d, mut s) = store();
    let mut old = prisma_ssh();
    old.first_seen = Some(NOW - 29 * DAY); // high: SLA 30 days
    s.import(&[old], NOW).expect("import");
    s.ensure_scored(NOW).expect("first pass");
    let before = s.list(&req()).expect("list")[0].score;
    // Two days later the alert is past its SLA: the hourly ageing pass picks it up.
    assert_eq!(s.ensure_scored(NOW + 2 * DAY).expect("age"), 1);
    let aged = s
        .list(&ListRequest {
            now_ms: NOW + 2 * DAY,
            ..req()
        })
        .expect("list")[0]
        .score;
    assert_eq!(aged, before + 5);
    // New weights: everything is rescored once.
    let mut cfg = s.scoring().clone();
    cfg.internet_facing = 40;
    s.set_scoring(cfg.clone());
    assert_eq!(s.ensure_scored(NOW + 2 * DAY).expect("rescore"), 1);
    assert_eq!(s.ensure_scored(NOW + 2 * DAY).expect("no-op"), 0);
    let rescored = s
        .list(&ListRequest {
            now_ms: NOW + 2 * DAY,
            ..req()
        })
        .expect("list")[0]
        .score;
    assert_eq!(rescored, aged + 25);
}

// ---- through the binary --------------------------------------------------------------

fn example(name: &str) -> String {
    format!("{}/examples/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn cli_intel_import_status_show_and_suppress() {
    let sb = common::Sandbox::new();
    sb.ok(&["import", "--vendor", "wiz", &example("wiz.json")]);
    let status = sb.ok(&["intel", "status"]);
    assert!(status.contains("kev   not loaded"), "{status}");
    let out = sb.ok(&[
        "intel",
        "import",
        "--kev",
        &example("intel/kev.json"),
        "--epss",
        &example("intel/epss.csv"),
    ]);
    assert!(
        out.contains("KEV catalog 2026.11.20 (2026-11-20T17:02:11.0321Z): 5 CVEs"),
        "{out}"
    );
    let status = sb.ok(&["intel", "status"]);
    assert!(
        status.contains("kev   2026.11.20 released 2026-11-20T17:02:11.0321Z, 5 entries"),
        "{status}"
    );
    assert!(
        status.contains("epss  v2025.03.14 released 2026-11-20T12:55:00Z, 18 entries"),
        "{status}"
    );

    let rows: serde_json::Value =
        serde_json::from_str(&sb.ok(&["list", "--format", "json"])).expect("json");
    let rows = rows.as_array().expect("array");
    assert!(!rows.is_empty());
    let top = rows[0]["id"].as_str().expect("id").to_string();
    let text = sb.ok(&["show", &top]);
    assert!(text.contains("\nPriority score "), "{text}");
    assert!(text.contains("  +"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&sb.ok(&["show", &top, "--format", "json"])).expect("json");
    assert_eq!(json["score"]["total"], rows[0]["score"]);

    // Bad intel files change nothing and say why.
    let bad = sb.path("bad.csv");
    std::fs::write(&bad, "cve,epss,percentile\nCVE-2021-44228,2,0.5\n").expect("write");
    let out = sb.run(&["intel", "import", "--epss", bad.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EPSS file line 2: epss '2' is not a number from 0 to 1; nothing imported"),
        "{err}"
    );
    assert!(sb.ok(&["intel", "status"]).contains("18 entries"));

    // Mute the top alert's vendor for a day; it resurfaces the day after.
    let vendor = rows[0]["vendor"].as_str().expect("vendor").to_string();
    let out = sb.ok(&[
        "suppress",
        "add",
        "--vendor",
        &vendor,
        "--reason",
        "noisy tenant",
        "--until",
        "1d",
    ]);
    assert!(
        out.starts_with("suppression #1 (vendor:\"wiz\") mutes "),
        "{out}"
    );
    assert!(sb.ok(&["list"]).starts_with("No alerts match"));
    let listed = sb.ok(&["suppress", "list"]);
    assert!(
        listed.contains("#1  vendor:\"wiz\"  [until 2026-11-23"),
        "{listed}"
    );
    let later = sb
        .cmd()
        .env("SITREP_NOW", "2026-11-24T00:00:00Z")
        .args(["list", "--format", "csv"])
        .output()
        .expect("run");
    let csv = String::from_utf8_lossy(&later.stdout);
    assert!(
        csv.lines().nth(1).is_some_and(|l| l.ends_with(",true")),
        "{csv}"
    );
    let out = sb.run(&["suppress", "add", "--tag", "env=dev"]);
    assert_eq!(out.status.code(), Some(2), "a reason is required");
    assert!(
        sb.ok(&["suppress", "remove", "1"])
            .contains("back in the queue")
    );
    let groups = sb.ok(&["list", "--groups"]);
    assert!(groups.starts_with("SCORE  PATH"), "{groups}");
}

#[test]
fn cli_bad_scoring_config_is_a_precise_error() {
    let sb = common::Sandbox::new();
    let cfg = sb.path("c.toml");
    std::fs::write(&cfg, "[scoring]\nepss = 1000\n").expect("write");
    let out = sb.run(&["--config", cfg.to_str().expect("p"), "config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("[scoring] epss: 1000 is out of range -100..=100")
    );
}

#[test]
fn cli_intel_update_fetches_from_the_configured_urls() {
    use axum::{Router, routing::get};
    let root = env!("CARGO_MANIFEST_DIR");
    let kev = std::fs::read(format!("{root}/examples/data/intel/kev.json")).expect("kev");
    let epss_plain = std::fs::read(format!("{root}/examples/data/intel/epss.csv")).expect("epss");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &epss_plain).expect("gz");
    let epss = gz.finish().expect("finish");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/kev.json", get(move || async move { kev.clone() }))
        .route("/epss.csv.gz", get(move || async move { epss.clone() }))
        .route(
            "/missing",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }),
        );
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let sb = common::Sandbox::new();
    let cfg = sb.path("c.toml");
    std::fs::write(
        &cfg,
        format!("[intel]\nkev_url = \"http://{addr}/kev.json\"\nepss_url = \"http://{addr}/epss.csv.gz\"\n"),
    )
    .expect("write");
    let c = cfg.to_str().expect("p");
    let out = sb.ok(&["--config", c, "intel", "update"]);
    assert!(out.contains("KEV catalog 2026.11.20"), "{out}");
    assert!(
        out.contains("EPSS v2025.03.14 scored 2026-11-20T12:55:00Z: 18 CVEs"),
        "{out}"
    );
    let status = sb.ok(&["--config", c, "intel", "status"]);
    assert!(
        status.contains(&format!("from http://{addr}/epss.csv.gz")),
        "{status}"
    );

    std::fs::write(
        &cfg,
        format!("[intel]\nkev_url = \"http://{addr}/missing\"\nepss_url = \"http://{addr}/epss.csv.gz\"\n"),
    )
    .expect("write");
    let out = sb.run(&["--config", c, "intel", "update"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 404 Not Found; nothing imported"));
}

#[test]
fn a_vendor_toxic_combination_is_a_path_on_its_own() {
    let (_d, mut s) = store();
    let mut a = Alert::new(Vendor::Wiz, "W-TC-1", serde_json::json!({"id": "W-TC-1"}));
    a.title = "Publicly exposed VM with admin privileges".into();
    a.severity = Severity::High;
    a.category = Category::Other("toxic_combination".into());
    a.exposure.internet_facing = Some(true);
    a.resource.id = Some("arn:aws:ec2:us-east-1:1:instance/i-0fedcba9876543210".into());
    a.attack_context = Some(serde_json::json!({
        "issueType": "TOXIC_COMBINATION",
        "rule": {"id": "r1", "name": "Publicly exposed VM with admin privileges"}
    }));
    // As the Wiz mapper types it; triage reads only the typed hint.
    a.vendor_path = Some(sitrep::domain::VendorPath {
        kind: sitrep::domain::VendorPathKind::WizToxicCombination,
        name: "Publicly exposed VM with admin privileges".into(),
    });
    s.import(&[a], NOW).expect("import");
    let groups = s.list_groups(&req()).expect("groups");
    assert_eq!(groups.len(), 1);
    assert!(groups[0].is_path);
    assert_eq!(groups[0].stages, vec![Stage::Exposure, Stage::Privilege]);
    assert_eq!(groups[0].score, groups[0].top.score + 10);
    let p = s.attack_paths_for("wiz:W-TC-1").expect("paths");
    assert_eq!(
        p[0].vendor_context,
        vec!["Wiz toxic combination: Publicly exposed VM with admin privileges".to_string()]
    );
}
