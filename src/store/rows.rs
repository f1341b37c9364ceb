//! Reading an alert back from its row: one function for every query that rebuilds an
//! [`Alert`] (one alert in full, the scorer's reloads), reading columns by name so a SELECT
//! may list them in any order and a missing one is an error naming it.
//!
//! A stored value that does not read back (an unknown vendor, JSON that does not parse, a
//! damaged payload) is an error naming the alert and the column (and the value, when it is a
//! word: a vendor, a status), never a silent default: rows are written by sitrep, so such a
//! value means a damaged or foreign database.

use std::collections::BTreeMap;

use rusqlite::types::{FromSql, Type};
use rusqlite::{Row, Statement};

use super::StoreError;
use crate::domain::{
    Alert, Category, Cloud, Compliance, Cve, Exposure, Policy, RawJson, Resource, Severity, Vendor,
    VendorState,
};

macro_rules! columns {
    ($($name:ident),* $(,)?) => {
        /// Where each column sits in one statement's result, looked up by name once per
        /// statement (a lookup scans the statement's column names; once per row would cost
        /// more than reading the row). `None`: the statement does not select it.
        pub(super) struct AlertColumns {
            $($name: Option<usize>,)*
        }

        impl AlertColumns {
            pub(super) fn of(stmt: &Statement<'_>) -> AlertColumns {
                AlertColumns {
                    $($name: stmt.column_index(stringify!($name)).ok(),)*
                }
            }
        }
    };
}

columns!(
    id,
    source,
    vendor,
    native_id,
    category,
    title,
    description,
    policy_id,
    policy_name,
    vendor_severity,
    severity,
    resource_id,
    resource_name,
    resource_type,
    cloud,
    account,
    region,
    tags_json,
    internet_facing,
    open_ports,
    cves_json,
    compliance_json,
    first_seen,
    last_seen,
    vendor_updated,
    vendor_status,
    attack_json,
    remediation,
    raw_json,
);

/// A stored value that does not read back as its column's type. Travels inside
/// rusqlite's conversion error, so `?` carries it out of a row closure; [`row_error`]
/// turns it into [`StoreError::Corrupt`].
#[derive(Debug)]
pub(super) struct BadColumn {
    /// The alert's id, when the statement selects it.
    id: Option<String>,
    column: &'static str,
    detail: String,
}

impl std::fmt::Display for BadColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.column, self.detail)
    }
}

impl std::error::Error for BadColumn {}

/// A store error from a row read: a [`BadColumn`] of a known alert becomes
/// [`StoreError::Corrupt`] (naming the alert, the column and the value), anything else stays
/// an SQLite error.
pub(super) fn row_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &e
        && let Some(bad) = inner.downcast_ref::<BadColumn>()
        && let Some(id) = &bad.id
    {
        return StoreError::Corrupt {
            id: id.clone(),
            detail: bad.to_string(),
        };
    }
    StoreError::Sql(e)
}

/// The value of a selected column.
fn get<T: FromSql>(r: &Row<'_>, at: Option<usize>, name: &str) -> rusqlite::Result<T> {
    match at {
        Some(i) => r.get(i),
        None => Err(rusqlite::Error::InvalidColumnName(name.to_string())),
    }
}

/// The error for a value of `column` that does not read back.
pub(super) fn bad_column(
    r: &Row<'_>,
    c: &AlertColumns,
    at: Option<usize>,
    column: &'static str,
    detail: String,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        at.unwrap_or(0),
        Type::Text,
        Box::new(BadColumn {
            id: c.id.and_then(|i| r.get(i).ok()),
            column,
            detail,
        }),
    )
}

/// A JSON column, parsed.
fn json<T: serde::de::DeserializeOwned>(
    r: &Row<'_>,
    c: &AlertColumns,
    at: Option<usize>,
    column: &'static str,
) -> rusqlite::Result<T> {
    let text: String = get(r, at, column)?;
    serde_json::from_str(&text).map_err(|e| bad_column(r, c, at, column, e.to_string()))
}

/// Rebuild an alert from a row that selects its columns (by name, in any order). The two
/// large ones, `remediation` and `raw_json`, are read when selected: a read of one alert in
/// full selects them, the scorer's reloads do not (the alert then has no remediation text
/// and an empty payload; what the scorer reads is all in the other columns).
pub(super) fn alert_from_row(r: &Row<'_>, c: &AlertColumns) -> rusqlite::Result<Alert> {
    let vendor_s: String = get(r, c.vendor, "vendor")?;
    let Some(vendor) = Vendor::parse(&vendor_s) else {
        return Err(bad_column(
            r,
            c,
            c.vendor,
            "vendor",
            format!("unknown vendor '{}'", crate::sanitize::one_line(&vendor_s)),
        ));
    };
    let tags: BTreeMap<String, String> = json(r, c, c.tags_json, "tags_json")?;
    let cves: Vec<Cve> = json(r, c, c.cves_json, "cves_json")?;
    let compliance: Vec<Compliance> = json(r, c, c.compliance_json, "compliance_json")?;
    let attack = match get::<Option<String>>(r, c.attack_json, "attack_json")? {
        Some(t) => Some(
            serde_json::from_str(&t)
                .map_err(|e| bad_column(r, c, c.attack_json, "attack_json", e.to_string()))?,
        ),
        None => None,
    };
    let (attack, vendor_path) = split_attack(attack);
    let raw = match c.raw_json {
        Some(i) => super::packed::unpack(r.get_ref(i)?)
            .and_then(|t| RawJson::parse(t).map_err(|e| e.to_string()))
            .map_err(|e| bad_column(r, c, c.raw_json, "raw_json", e))?,
        None => RawJson::default(),
    };
    let remediation = match c.remediation {
        Some(i) => r.get(i)?,
        None => None,
    };
    let ports: String = get(r, c.open_ports, "open_ports")?;
    Ok(Alert {
        source: get(r, c.source, "source")?,
        vendor,
        native_id: get(r, c.native_id, "native_id")?,
        category: Category::from_store(&get::<String>(r, c.category, "category")?),
        title: get(r, c.title, "title")?,
        description: get(r, c.description, "description")?,
        policy: Policy {
            id: get(r, c.policy_id, "policy_id")?,
            name: get(r, c.policy_name, "policy_name")?,
            vendor_severity: get(r, c.vendor_severity, "vendor_severity")?,
        },
        severity: Severity::from_store(&get::<String>(r, c.severity, "severity")?),
        resource: Resource {
            id: get(r, c.resource_id, "resource_id")?,
            name: get(r, c.resource_name, "resource_name")?,
            rtype: get(r, c.resource_type, "resource_type")?,
            cloud: get::<Option<String>>(r, c.cloud, "cloud")?.map(|c| Cloud::from_store(&c)),
            account: get(r, c.account, "account")?,
            region: get(r, c.region, "region")?,
            tags,
        },
        exposure: Exposure {
            internet_facing: get::<Option<i64>>(r, c.internet_facing, "internet_facing")?
                .map(|v| v != 0),
            open_ports: ports.split(',').filter_map(|p| p.parse().ok()).collect(),
        },
        cves,
        compliance,
        first_seen: get(r, c.first_seen, "first_seen")?,
        last_seen: get(r, c.last_seen, "last_seen")?,
        vendor_updated: get(r, c.vendor_updated, "vendor_updated")?,
        vendor_status: VendorState::from_store(&get::<String>(
            r,
            c.vendor_status,
            "vendor_status",
        )?),
        remediation,
        attack_context: attack,
        vendor_path,
        raw,
    })
}

/// The `attack_json` column: the vendor's context as before or, when the mapper typed an
/// attack-path hint, `{"context": <context or null>, "vendor_path": {"kind", "name"}}`
/// (migration 0008 wrapped the rows written before the hint was typed).
pub(super) fn attack_json(a: &Alert) -> Option<String> {
    match &a.vendor_path {
        None => a.attack_context.as_ref().map(|c| c.to_string()),
        Some(p) => Some(
            serde_json::json!({
                "context": a.attack_context,
                "vendor_path": p,
            })
            .to_string(),
        ),
    }
}

/// A stored `attack_json` value back as the context and the typed hint.
fn split_attack(
    v: Option<serde_json::Value>,
) -> (Option<serde_json::Value>, Option<crate::domain::VendorPath>) {
    if let Some(serde_json::Value::Object(m)) = &v
        && m.len() == 2
        && let (Some(ctx), Some(p)) = (m.get("context"), m.get("vendor_path"))
        && let Ok(p) = serde_json::from_value(p.clone())
    {
        return (Some(ctx.clone()).filter(|c| !c.is_null()), Some(p));
    }
    (v, None)
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    const NOW: i64 = 1_795_305_600_000;

    /// One alert with every kind of column filled (JSON ones included), imported.
    fn store_with_one() -> (Store, String) {
        let mut a = Alert::new(
            Vendor::Wiz,
            "issue-1",
            serde_json::json!({"id": "issue-1", "note": "x".repeat(600)}),
        );
        a.category = Category::Misconfiguration;
        a.title = "Bucket is public".into();
        a.description = Some("Anyone can list it.".into());
        a.severity = Severity::High;
        a.policy.id = Some("wiz-s3-public".into());
        a.resource = Resource {
            id: Some("arn:aws:s3:::logs".into()),
            name: Some("logs".into()),
            rtype: Some("bucket".into()),
            cloud: Some(Cloud::Aws),
            account: Some("111111111111".into()),
            region: Some("us-east-1".into()),
            tags: BTreeMap::from([("env".to_string(), "prod".to_string())]),
        };
        a.exposure.internet_facing = Some(true);
        a.exposure.open_ports = vec![22, 443];
        a.cves = vec![Cve {
            id: "CVE-2023-38545".into(),
            cvss: Some(9.8),
            ..Cve::default()
        }];
        a.compliance = vec![Compliance {
            standard: "CIS AWS".into(),
            requirement: Some("2.1.5".into()),
        }];
        a.first_seen = Some(NOW - 3_600_000);
        a.last_seen = Some(NOW);
        a.vendor_updated = Some(NOW);
        a.remediation = Some("Block public access.".into());
        let mut store = Store::open_in_memory().expect("store");
        store.import(std::slice::from_ref(&a), NOW).expect("import");
        (store, a.id())
    }

    /// The full read and the scorer's light read rebuild the same alert fields from the
    /// same row, whatever order their SELECTs list the columns in.
    #[test]
    fn full_and_light_reads_agree() {
        let (store, id) = store_with_one();
        let full = store.get(&id).expect("get").expect("stored");
        let (_, light_id, light, _) = store.light(&id).expect("light").expect("stored");
        assert_eq!(light_id, id);
        let mut expected = full.alert.clone();
        expected.remediation = None;
        expected.raw = RawJson::default();
        assert_eq!(light, expected);
        assert!(full.alert.raw.as_str().contains("issue-1"));
        assert_eq!(
            full.alert.remediation.as_deref(),
            Some("Block public access.")
        );
    }

    /// A vendor the build does not know is an error naming the alert, the column and the
    /// value on every read path (the scorer's used to take it for Wiz).
    #[test]
    fn an_unknown_vendor_is_an_error_naming_column_and_value() {
        let (mut store, id) = store_with_one();
        store
            .conn
            .execute("UPDATE alerts SET vendor = 'splunk' WHERE id = ?", [&id])
            .expect("update");
        let expected = format!("corrupt row for {id}: vendor: unknown vendor 'splunk'");
        let full = store.get(&id).expect_err("full read").to_string();
        assert_eq!(full, expected);
        let light = store.light(&id).expect_err("light read").to_string();
        assert_eq!(light, expected);
        let rescore = store.rescore(NOW).expect_err("rescore").to_string();
        assert_eq!(rescore, expected);
    }

    /// A JSON column that does not parse names itself.
    #[test]
    fn a_damaged_json_column_names_itself() {
        let (store, id) = store_with_one();
        store
            .conn
            .execute("UPDATE alerts SET cves_json = '[{' WHERE id = ?", [&id])
            .expect("update");
        let e = store.get(&id).expect_err("damaged").to_string();
        assert!(
            e.starts_with(&format!("corrupt row for {id}: cves_json: ")),
            "{e}"
        );
        let e = store.light(&id).expect_err("damaged").to_string();
        assert!(e.contains("cves_json"), "{e}");
    }
}
