//! Reading the shared corpus of real payloads (`../shared/corpus`, never copied into the
//! repository) in the mappers' tests. When it is missing the tests say so and pass, unless `CI`
//! is set.

use std::path::PathBuf;

use serde_json::Value;

pub fn dir() -> Option<PathBuf> {
    let d = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus"));
    if d.is_dir() {
        return Some(d);
    }
    eprintln!("corpus directory {} is missing; skipping", d.display());
    assert!(
        std::env::var_os("CI").is_none(),
        "the corpus is required on CI"
    );
    None
}

pub fn load(rel: &str) -> Option<Value> {
    let path = dir()?.join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Every JSON file of the vendors' directories other than `own`.
pub fn others(own: &str) -> Vec<(String, Value)> {
    let Some(out) = walk(|vendor| vendor != own) else {
        return Vec::new();
    };
    assert!(
        out.len() >= 10,
        "expected the other vendors' corpus files, found {}",
        out.len()
    );
    out
}

/// Every JSON file in `vendor`'s own directory, listed or not in MANIFEST.tsv, so that a new
/// file dropped there is checked too.
pub fn of(vendor: &str) -> Vec<(String, Value)> {
    walk(|v| v == vendor).unwrap_or_default()
}

/// The check every mapper's `sniff` gets: each of `vendor`'s own files is recognised and no
/// other vendor's file is. Returns the other vendors' files for a mapper's further checks;
/// empty when the corpus is missing (outside CI).
pub fn assert_sniff_claims_only_its_own(
    vendor: &str,
    sniff: fn(&Value) -> Option<&'static str>,
) -> Vec<(String, Value)> {
    let mine = of(vendor);
    if mine.is_empty() && dir().is_none() {
        return Vec::new();
    }
    assert!(!mine.is_empty(), "no {vendor} files in the corpus");
    for (file, body) in &mine {
        assert!(sniff(body).is_some(), "{file} not recognised as {vendor}");
    }
    let others = others(vendor);
    for (file, body) in &others {
        assert_eq!(sniff(body), None, "{file} claimed as {vendor}");
    }
    others
}

/// (path, parsed JSON) of every file in the vendor directories whose name `keep` accepts; None
/// when the corpus is missing.
fn walk(keep: impl Fn(&str) -> bool) -> Option<Vec<(String, Value)>> {
    let d = dir()?;
    let mut out = Vec::new();
    for vendor in std::fs::read_dir(&d).expect("corpus dir").flatten() {
        if !vendor.path().is_dir() || !keep(&vendor.file_name().to_string_lossy()) {
            continue;
        }
        for f in std::fs::read_dir(vendor.path())
            .expect("vendor dir")
            .flatten()
        {
            let text = std::fs::read_to_string(f.path()).expect("corpus file");
            let v = serde_json::from_str(&text).expect("corpus JSON");
            out.push((f.path().display().to_string(), v));
        }
    }
    Some(out)
}

/// MANIFEST.tsv rows of `vendor`: (relative file, shape, alerts). Empty when the corpus is
/// missing (outside CI).
pub fn manifest(vendor: &str) -> Vec<(String, String, usize)> {
    let Some(d) = dir() else { return Vec::new() };
    let text = std::fs::read_to_string(d.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c.len() == 4 && c[1] == vendor).then(|| {
                let n = c[3]
                    .trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("bad count in {l}: {e}"));
                (c[0].to_string(), c[2].to_string(), n)
            })
        })
        .collect()
}
