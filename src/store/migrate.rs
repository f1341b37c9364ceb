//! Numbered migrations, embedded in the binary, applied in order inside one transaction each.
//! The schema version is SQLite's `user_version`.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Every migration, in order. Version N is `MIGRATIONS[N-1]`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    ("0002_sources", include_str!("migrations/0002_sources.sql")),
    ("0003_console", include_str!("migrations/0003_console.sql")),
    ("0004_triage", include_str!("migrations/0004_triage.sql")),
    (
        "0005_narratives",
        include_str!("migrations/0005_narratives.sql"),
    ),
    ("0006_outbox", include_str!("migrations/0006_outbox.sql")),
    ("0007_audit", include_str!("migrations/0007_audit.sql")),
    (
        "0008_vendor_path",
        include_str!("migrations/0008_vendor_path.sql"),
    ),
    (
        "0009_vendor_closed",
        include_str!("migrations/0009_vendor_closed.sql"),
    ),
    (
        "0010_queue_scale",
        include_str!("migrations/0010_queue_scale.sql"),
    ),
    (
        "0011_source_full",
        include_str!("migrations/0011_source_full.sql"),
    ),
    (
        "0012_open_queue",
        include_str!("migrations/0012_open_queue.sql"),
    ),
    ("0013_owners", include_str!("migrations/0013_owners.sql")),
    ("0014_siem", include_str!("migrations/0014_siem.sql")),
    (
        "0015_pull_requests",
        include_str!("migrations/0015_pull_requests.sql"),
    ),
    (
        "0016_llm_flags",
        include_str!("migrations/0016_llm_flags.sql"),
    ),
    ("0017_team", include_str!("migrations/0017_team.sql")),
    (
        "0018_filter_counts",
        include_str!("migrations/0018_filter_counts.sql"),
    ),
    (
        "0019_alert_facets",
        include_str!("migrations/0019_alert_facets.sql"),
    ),
    (
        "0020_open_score_words",
        include_str!("migrations/0020_open_score_words.sql"),
    ),
];

pub fn run(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: current,
            known,
        });
    }
    for (i, (_name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// SQL that takes a database at version 12 back to version 11's layout, data kept; with
/// [`UNDO_0011`] and [`UNDO_0010`] after it, to versions 10 and 9. Tests of migrations from
/// older databases (here and in `tests/`) start from them. Not for use on a real database.
#[doc(hidden)]
pub const UNDO_0012: &str = "
    -- 0019, 0018, 0017_team and 0013_owners first: a test database starts at the newest
    -- version.
    DROP TRIGGER alerts_facets_insert;
    DROP TRIGGER alerts_facets_delete;
    DROP TRIGGER alerts_facets_update;
    DROP TABLE alert_facets;
    DROP TRIGGER alerts_filter_counts_insert;
    DROP TRIGGER alerts_filter_counts_delete;
    DROP TRIGGER alerts_filter_counts_update;
    DROP TABLE alert_tag_counts;
    DROP TABLE alert_account_counts;
    DROP INDEX alerts_open_account_score;
    DROP TABLE team_journal;
    DROP INDEX alerts_changed;
    ALTER TABLE alerts DROP COLUMN claim_until;
    ALTER TABLE alerts DROP COLUMN team_version;
    DROP INDEX alerts_owner;
    ALTER TABLE alerts DROP COLUMN owner;
    DROP INDEX alerts_open_score;
    DROP INDEX alerts_open_status;
    DROP INDEX alerts_open_oldest;
    DROP INDEX alerts_open_title;
    DROP INDEX alerts_open_resource;
    DROP INDEX alerts_open_account;
    PRAGMA user_version = 11;
";

/// SQL that takes a database at version 11 back to version 10's layout, data kept (after
/// [`UNDO_0012`]).
#[doc(hidden)]
pub const UNDO_0011: &str = "
    ALTER TABLE source_state DROP COLUMN last_full_at;
    ALTER TABLE source_state DROP COLUMN failed_filters_json;
    PRAGMA user_version = 10;
";

/// SQL that takes a database at version 10 back to version 9's layout, data kept (after
/// [`UNDO_0011`]).
#[doc(hidden)]
pub const UNDO_0010: &str = "
    DROP TRIGGER alerts_after_insert;
    DROP TRIGGER alerts_after_delete;
    DROP TRIGGER alerts_counts_update;
    DROP TRIGGER alerts_tags_update;
    DROP TRIGGER alerts_cves_update;
    DROP TABLE alert_counts;
    DROP TABLE alert_tags;
    DROP TABLE alert_cves;
    DROP INDEX alerts_special;
    ALTER TABLE alerts ADD COLUMN remediation TEXT;
    ALTER TABLE alerts ADD COLUMN raw_json TEXT NOT NULL DEFAULT '';
    UPDATE alerts SET
        remediation = (SELECT b.remediation FROM alert_body b WHERE b.rowid = alerts.rowid),
        raw_json = (SELECT b.raw_json FROM alert_body b WHERE b.rowid = alerts.rowid);
    DROP TABLE alert_body;
    PRAGMA user_version = 9;
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().expect("open");
        run(&mut conn, Path::new(":memory:")).expect("first run");
        run(&mut conn, Path::new(":memory:")).expect("second run");
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    /// A database written before 0010 (payloads inside `alerts`, no kept counts or tag/CVE
    /// index) migrates: every alert reads back as it was, and the counts and indexes agree
    /// with the rows.
    #[test]
    fn an_old_database_gains_the_side_tables_and_reads_back_the_same() {
        use crate::domain::{Alert, Cve, Vendor};
        use crate::store::{ListRequest, Store};
        const NOW: i64 = 1_795_305_600_000;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        let alerts: Vec<Alert> = (0..30)
            .map(|n| {
                let mut a = Alert::new(
                    Vendor::Wiz,
                    format!("w{n}"),
                    serde_json::json!({"id": n, "pad": "p".repeat(n * 40)}),
                );
                a.title = format!("Finding {n}");
                a.remediation = (n % 2 == 0).then(|| format!("fix {n}"));
                a.resource.tags.insert("Env".into(), format!("e{}", n % 3));
                if n % 4 == 0 {
                    a.cves.push(Cve {
                        id: "CVE-2024-1".into(),
                        ..Cve::default()
                    });
                }
                a
            })
            .collect();
        let before: Vec<_> = {
            let mut s = Store::open(&path).expect("open");
            s.import(&alerts, NOW).expect("import");
            let got = alerts
                .iter()
                .map(|a| s.get(&a.id()).expect("get").expect("stored"))
                .collect();
            s.conn.execute_batch(UNDO_0012).expect("back to 11");
            s.conn.execute_batch(UNDO_0011).expect("back to 10");
            s.conn.execute_batch(UNDO_0010).expect("back to 9");
            got
        };
        let s = Store::open(&path).expect("migrate");
        assert_eq!(
            s.schema_version().expect("version"),
            MIGRATIONS.len() as i64
        );
        for (a, was) in alerts.iter().zip(&before) {
            let now = s.get(&a.id()).expect("get").expect("stored");
            assert_eq!(&now, was);
            assert_eq!(now.alert.raw, a.raw);
            assert_eq!(now.alert.remediation, a.remediation);
        }
        let count = |text: &str| {
            let q = crate::triage::query::parse(text).expect("query");
            let r = ListRequest {
                filter: Some(&q),
                limit: 1000,
                now_ms: NOW,
                ..Default::default()
            };
            (s.count(&r).expect("count"), s.list(&r).expect("list").len())
        };
        assert_eq!(count(""), (30, 30));
        assert_eq!(s.total().expect("total"), 30);
        assert_eq!(count("vendor:wiz sev:medium"), (30, 30));
        assert_eq!(count("tag:env=E1"), (10, 10));
        assert_eq!(count("cve:cve-2024-1"), (8, 8));
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM pragma_table_info('alerts') WHERE name IN ('raw_json', 'remediation')", [], |r| r.get(0))
            .expect("columns");
        assert_eq!(n, 0, "the large columns left the alerts table");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", 99).expect("set");
        let err = run(&mut conn, Path::new("x.db")).expect_err("must refuse");
        assert!(err.to_string().contains("newer sitrep"), "{err}");
    }
}
