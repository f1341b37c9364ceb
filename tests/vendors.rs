//! The vendor registry holds: every vendor has its kit and its folder of the one shape, and no
//! module outside `src/vendors/` picks code by vendor with a `match` (adding a vendor is its
//! folder plus one registry line; see docs/architecture.md, "Adding a vendor").

use std::path::{Path, PathBuf};

use sitrep::domain::Vendor;

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

#[test]
fn the_registry_covers_every_vendor_with_a_folder_of_the_one_shape() {
    for v in Vendor::ALL {
        let kit = sitrep::vendors::kit(v);
        assert_eq!(kit.vendor, v);
        assert!(!kit.item_paths.is_empty(), "{v}");
        assert!(!v.credential_names().is_empty(), "{v}");
        assert_eq!(
            serde_json::to_value(v).expect("json"),
            serde_json::json!(v.as_str())
        );
        let dir = Path::new(SRC)
            .join("vendors")
            .join(v.as_str().replace('-', "_"));
        for f in [
            "mod.rs",
            "map.rs",
            "client.rs",
            "webhook.rs",
            "sim/mod.rs",
            "sim/emit.rs",
            "sim/server.rs",
        ] {
            assert!(dir.join(f).is_file(), "{v}: no {}", dir.join(f).display());
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The production text of a source file: test modules (from their `#[cfg(test)]` on, which
/// the crate keeps at the end of a file) and `tests.rs` files are left out.
fn production_text(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).expect("read");
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[test]
fn no_module_outside_vendors_matches_on_a_vendor() {
    let variant = "Vendor::(PrismaCspm|PrismaCompute|Wiz|Lacework|Orca|CortexXdr)";
    // A match arm (`Vendor::Wiz =>`, `Vendor::Wiz | Vendor::Orca =>`) or `matches!(x, Vendor::Wiz)`.
    let arm = regex::Regex::new(&format!(r"{variant}\s*(=>|\|)")).expect("regex");
    let matches_macro = regex::Regex::new(&format!(r"matches!\([^;]*?{variant}")).expect("regex");
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let vendors = Path::new(SRC).join("vendors");
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.starts_with(&vendors)) {
        let text = production_text(f);
        for (n, line) in text.lines().enumerate() {
            if arm.is_match(line) || matches_macro.is_match(line) {
                found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "pick per-vendor code through vendors::kit(v), not a match:\n{}",
        found.join("\n")
    );
    // The scan sees what it looks for.
    assert!(arm.is_match("        Vendor::Wiz => &wiz::KIT,"));
    let registry = std::fs::read_to_string(vendors.join("mod.rs")).expect("read");
    assert_eq!(
        registry.lines().filter(|l| arm.is_match(l)).count(),
        Vendor::ALL.len()
    );
}

/// The layers below the vendors never reach up to them, and a vendor's mapper and client (the
/// production half of its folder) never use the simulator.
#[test]
fn the_shared_layers_never_import_the_vendors_and_clients_never_the_simulator() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut found = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(SRC).expect("under src");
        let rel = rel.to_string_lossy().replace('\\', "/");
        let text = production_text(f);
        let below = ["/sources/", "/sim/", "/domain/", "/rng.rs"]
            .iter()
            .any(|d| format!("/{rel}").starts_with(d));
        if below && text.contains("crate::vendors") {
            found.push(format!("{rel} imports crate::vendors"));
        }
        let production_half = rel.starts_with("vendors/")
            && (rel.ends_with("/map.rs")
                || rel.ends_with("/client.rs")
                || rel.ends_with("/webhook.rs")
                || rel.ends_with("/push.rs"));
        if production_half && text.contains("crate::sim") {
            found.push(format!("{rel} imports crate::sim"));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// A database written before the hints were typed (schema 7: `attack_json` holds the bare
/// context) reads after migration 0008 with exactly the hints the mappers give now, for every
/// vendor's simulated world (Wiz toxic combinations, Prisma attack-path policies, …).
#[test]
fn migration_0008_gives_old_rows_the_hints_the_mappers_give() {
    use sitrep::domain::Alert;
    use sitrep::store::Store;
    const NOW: i64 = 1_795_305_600_000;
    let world = sitrep::sim::world::World::generate(3, 400, NOW);
    let mut alerts: Vec<Alert> = Vec::new();
    for v in Vendor::ALL {
        let body = sitrep::vendors::emit::vendor_body(v, &world);
        alerts.extend(sitrep::vendors::map_payload(v, v.as_str(), &body).expect("maps"));
    }
    for v in [Vendor::Wiz, Vendor::PrismaCspm] {
        assert!(
            alerts
                .iter()
                .any(|a| a.vendor == v && a.vendor_path.is_some()),
            "{v}: the world holds no vendor path to migrate"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    Store::open(&path)
        .expect("store")
        .import(&alerts, NOW)
        .expect("import");
    // As schema 7 wrote them.
    let conn = rusqlite::Connection::open(&path).expect("sqlite");
    for a in &alerts {
        let bare = a
            .attack_context
            .as_ref()
            .map(|c| serde_json::to_string(c).expect("json"));
        conn.execute(
            "UPDATE alerts SET attack_json = ?1 WHERE id = ?2",
            rusqlite::params![bare, a.id()],
        )
        .expect("update");
    }
    // Schemas 9 (vendor-closed alerts), 10 (side tables), 11 (source full runs) and 12 (open
    // queue indexes) came after: take them back out so they apply again.
    conn.execute_batch(sitrep::store::UNDO_0012)
        .expect("back to 11");
    conn.execute_batch(sitrep::store::UNDO_0011)
        .expect("back to 10");
    conn.execute_batch(sitrep::store::UNDO_0010)
        .expect("back to 9");
    conn.execute_batch(
        "DROP INDEX alerts_followed;
         ALTER TABLE alerts DROP COLUMN followed_at;
         ALTER TABLE alerts DROP COLUMN reopened_at;",
    )
    .expect("downgrade");
    conn.pragma_update(None, "user_version", 7)
        .expect("version");
    drop(conn);
    let store = Store::open(&path).expect("migrates");
    for a in &alerts {
        let got = store.get(&a.id()).expect("get").expect("stored").alert;
        assert_eq!(got.vendor_path, a.vendor_path, "{}", a.id());
        assert_eq!(got.attack_context, a.attack_context, "{}", a.id());
    }
}
