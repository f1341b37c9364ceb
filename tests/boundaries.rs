//! Module boundaries (style.md): the layers that do HTTP, SQLite and data work never import the
//! terminal libraries, so they stay usable headless and testable without a terminal.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn data_layers_never_import_terminal_libraries() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for layer in [
        "domain",
        "sources",
        "store",
        "triage",
        "sim",
        "config",
        "remediate",
        "highlight.rs",
        "narrate",
    ] {
        let mut files = Vec::new();
        if layer.ends_with(".rs") {
            files.push(src.join(layer));
        } else {
            rust_files(&src.join(layer), &mut files);
        }
        assert!(!files.is_empty(), "no files under src/{layer}");
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            for (i, line) in text.lines().enumerate() {
                if line.contains("ratatui") || line.contains("crossterm") {
                    offenders.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "terminal libraries imported by data layers:\n{}",
        offenders.join("\n")
    );
}
