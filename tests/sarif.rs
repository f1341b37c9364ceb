//! `sitrep export --format sarif` against the official SARIF 2.1.0 JSON schema
//! (tests/fixtures/sarif/sarif-schema-2.1.0.json, OASIS errata 01), validated by Python's
//! reference `jsonschema` (`scripts/jsonschema.sh install`; without it the schema checks are
//! skipped with a note, except under `CI`, where they fail). The structure — one run per
//! vendor, rules from policies, levels from severity, logical and IaC locations — is checked
//! here in Rust either way.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Sandbox;
use serde_json::Value;
use sitrep::config::IacConfig;
use sitrep::domain::{Alert, Category, Cloud, Status, Vendor};
use sitrep::sim::world::World;
use sitrep::store::StoredAlert;
use sitrep::vendors::emit;

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/sarif/sarif-schema-2.1.0.json"
);

fn validator() -> Option<PathBuf> {
    common::cached_python(
        "SITREP_JSONSCHEMA_PYTHON",
        "jsonschema",
        None,
        "jsonschema venv",
        "scripts/jsonschema.sh install",
    )
}

/// Validate `doc` against the SARIF schema (draft 4, with format checks): Ok or the
/// validator's message.
fn validate(python: &Path, doc: &Value) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("log.sarif");
    std::fs::write(&file, doc.to_string()).expect("write");
    let out = Command::new(python)
        .arg("-c")
        .arg(
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             doc = json.load(open(sys.argv[2]))\n\
             jsonschema.Draft4Validator.check_schema(schema)\n\
             v = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)\n\
             errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))\n\
             [print(list(e.path), e.message) for e in errs[:5]]\n\
             sys.exit(1 if errs else 0)\n",
        )
        .arg(SCHEMA)
        .arg(&file)
        .output()
        .expect("run python");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A sandbox holding alerts of all six vendors from the simulators' seeded world.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    let world = World::generate(7, 4, common::NOW_MS - 3_600_000);
    for v in Vendor::ALL {
        let body = emit::vendor_body(v, &world);
        let f = sb.write(&format!("{}.json", v.as_str()), &body.to_string());
        sb.ok(&["import", "--vendor", v.as_str(), f.to_str().expect("path")]);
    }
    sb
}

fn level_of(sev: &str) -> &'static str {
    match sev {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    }
}

#[test]
fn the_export_is_valid_sarif_with_one_run_per_vendor_rules_and_levels() {
    let sb = sandbox();
    let list: Value =
        serde_json::from_str(&sb.ok(&["export", "--format", "json"])).expect("json export");
    let severity: BTreeMap<String, String> = list
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_string(),
                r["severity"].as_str().expect("severity").to_string(),
            )
        })
        .collect();
    let doc: Value =
        serde_json::from_str(&sb.ok(&["export", "--format", "sarif"])).expect("sarif json");
    assert_eq!(doc["version"], "2.1.0");
    let runs = doc["runs"].as_array().expect("runs");
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["tool"]["driver"]["name"].as_str().expect("driver name"))
        .collect();
    let want: Vec<&str> = Vendor::ALL.iter().map(|v| v.display_name()).collect();
    assert_eq!(names, want, "one run per vendor, in order");

    let mut seen = BTreeSet::new();
    for run in runs {
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        let ids: Vec<&str> = rules
            .iter()
            .map(|r| r["id"].as_str().expect("id"))
            .collect();
        let unique: BTreeSet<&&str> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "rule ids are unique in a run");
        for res in run["results"].as_array().expect("results") {
            let idx = res["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(
                res["ruleId"], rules[idx]["id"],
                "ruleIndex points at ruleId"
            );
            let id = res["partialFingerprints"]["sitrepAlertId/v1"]
                .as_str()
                .expect("fingerprint");
            assert_eq!(res["level"], level_of(&severity[id]), "{id}");
            let logical = &res["locations"][0]["logicalLocations"][0];
            assert_eq!(logical["kind"], "resource");
            assert!(logical["name"].as_str().is_some_and(|n| !n.is_empty()));
            seen.insert(id.to_string());
        }
        for rule in rules {
            let level = rule["defaultConfiguration"]["level"]
                .as_str()
                .expect("level");
            assert!(["error", "warning", "note"].contains(&level));
        }
    }
    let all: BTreeSet<String> = severity.keys().cloned().collect();
    assert_eq!(seen, all, "every alert is a result");
    assert!(
        !sitrep::sanitize::json_is_suspicious(&doc),
        "unsanitized text in the log"
    );

    if let Some(python) = validator() {
        validate(&python, &doc).unwrap_or_else(|e| panic!("schema: {e}"));
        // The validator can fail: a level SARIF does not have is refused.
        let mut bad = doc.clone();
        bad["runs"][0]["results"][0]["level"] = Value::String("critical".into());
        let err = validate(&python, &bad).expect_err("an invalid level must fail");
        assert!(err.contains("critical"), "{err}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

#[test]
fn an_alert_whose_resource_is_in_a_mapped_checkout_points_at_the_iac_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("infra repo");
    copy_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/iac")),
        &repo,
    );
    let mut a = Alert::new(Vendor::PrismaCspm, "n-1", Value::Null);
    a.policy.id = Some("pol-public-s3".into());
    a.policy.name = Some("Storage bucket is publicly readable".into());
    a.title = "Storage bucket is publicly readable\u{1b}[2J".into();
    a.category = Category::Misconfiguration;
    a.resource.rtype = Some("AWS::S3::Bucket".into());
    a.resource.cloud = Some(Cloud::Aws);
    a.resource.id = Some("arn:aws:s3:::acme-public-assets".into());
    a.resource.name = Some("acme-public-assets".into());
    a.resource.account = Some("123456789012".into());
    let stored = StoredAlert {
        id: a.id(),
        alert: a,
        status: Status::New,
        assignee: None,
        claim_until: None,
        ticket: None,
        has_controls: true,
        imported_at: 0,
        changed_at: 0,
        history: Vec::new(),
        content_hash: String::new(),
        owner: None,
    };
    let doc = sitrep::cli::sarif::log(&[stored], &IacConfig::single(&repo));
    let run = &doc["runs"][0];
    let loc = &run["results"][0]["locations"][0];
    assert_eq!(
        loc["physicalLocation"]["artifactLocation"]["uri"],
        "terraform/storage.tf"
    );
    let base = loc["physicalLocation"]["artifactLocation"]["uriBaseId"]
        .as_str()
        .expect("base");
    let root = run["originalUriBaseIds"][base]["uri"]
        .as_str()
        .expect("root uri");
    assert!(
        root.starts_with("file:///") && root.ends_with("/infra%20repo/"),
        "{root}"
    );
    assert!(
        loc["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .is_some_and(|l| l > 0),
        "{loc}"
    );
    assert_eq!(
        loc["logicalLocations"][0]["fullyQualifiedName"],
        "arn:aws:s3:::acme-public-assets"
    );
    let text = run["results"][0]["message"]["text"].as_str().expect("text");
    assert!(!text.contains('\u{1b}'), "{text}");
    if let Some(python) = validator() {
        validate(&python, &doc).unwrap_or_else(|e| panic!("schema: {e}"));
    }
}
