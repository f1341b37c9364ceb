//! Conformance with the real public vendor payloads in ../shared/corpus: every file listed in
//! MANIFEST.tsv imports exactly the number of alerts the manifest gives.

mod common;

use common::{Sandbox, corpus_dir, manifest};
use sitrep::store::Store;

#[test]
fn every_manifest_file_imports_its_count() {
    let Some(dir) = corpus_dir() else { return };
    let rows = manifest(&dir);
    assert!(rows.len() >= 20, "manifest has only {} rows", rows.len());
    let mut report = Vec::new();
    for (file, vendor, shape, expected) in &rows {
        let sb = Sandbox::new();
        let path = dir.join(file);
        let out = sb.run(&["import", "--vendor", vendor, path.to_str().expect("path")]);
        let stored = if sb.db().exists() {
            Store::open(&sb.db()).expect("open").total().expect("count")
        } else {
            0
        };
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if stored != *expected {
            report.push(format!(
                "{file}: stored {stored}, manifest says {expected}; stderr: {stderr}"
            ));
        }
        if shape == "other" {
            // A related response carries no alerts: a clear one-line error, exit 2.
            if out.status.code() != Some(2) || stderr.lines().count() != 1 {
                report.push(format!(
                    "{file}: expected one error line and exit 2, got {:?}: {stderr}",
                    out.status.code()
                ));
            }
        } else if !out.status.success() {
            report.push(format!("{file}: import failed: {stderr}"));
        }
    }
    assert!(
        report.is_empty(),
        "corpus conformance failures:\n{}",
        report.join("\n")
    );
}

#[test]
fn reimporting_a_file_changes_nothing() {
    let Some(dir) = corpus_dir() else { return };
    let sb = Sandbox::new();
    // (Two corpus files carry the same Wiz issue in different shapes, so each file is
    // re-imported right after itself.)
    for (file, vendor, _, _) in manifest(&dir).into_iter().filter(|r| r.2 != "other") {
        let path = dir.join(&file);
        sb.ok(&["import", "--vendor", &vendor, path.to_str().expect("path")]);
        let before = sb.ok(&["export", "--format", "json"]);
        let out = sb.ok(&["import", "--vendor", &vendor, path.to_str().expect("path")]);
        assert!(out.contains(" 0 new, 0 updated"), "{file}: {out}");
        assert_eq!(before, sb.ok(&["export", "--format", "json"]), "{file}");
    }
}
