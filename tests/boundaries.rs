//! Module boundaries (docs/architecture.md, "Who may import whom"), as a table: one row per
//! top-level module of `src/` with what it must never import. Imports point down: the data
//! layers never reach up to dispatch, the console or the CLI; production code never uses the
//! simulator; only the console draws on a terminal; only the store (and the audit log, which
//! appends inside the store's transactions) speaks SQLite.
//!
//! The scan reads code only: comments, string literals and `#[cfg(test)]` items (test code may
//! use the simulator) are left out. It sees `use` lines (braces expanded), inline paths such
//! as `crate::sim::rng::Rng::new`, and `super::` paths that climb out of a module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The terminal libraries: the console's alone.
const TERMINAL: &[&str] = &["ratatui", "ratatui_textarea", "crossterm"];
/// The database drivers: the store's (SQLite and the team's PostgreSQL), and the audit log's
/// SQLite.
const SQLITE: &[&str] = &[
    "rusqlite",
    "tokio_postgres",
    "deadpool_postgres",
    "tokio_postgres_rustls",
];
/// The simulator: tests, `sitrep sim` and the demo only.
const SIM: &[&str] = &["crate::sim"];
/// What sits above the data layers: decisions leaving the machine, the console, the CLI.
const UPPER: &[&str] = &["crate::dispatch", "crate::console", "crate::cli"];
/// The vendor kits: above the shared client kit, the simulator machinery and the store.
const VENDORS: &[&str] = &["crate::vendors"];
/// The floors of docs/architecture.md's "Layers" picture, bottom up (floor 0 is domain,
/// sanitize, rng, paths). A row never imports a floor above its own.
const FLOOR_1: &[&str] = &["crate::triage", "crate::net", "crate::highlight"];
const FLOOR_2: &[&str] = &["crate::config"];
const FLOOR_3: &[&str] = &["crate::audit", "crate::remediate", "crate::signature"];
const FLOOR_4: &[&str] = &["crate::store", "crate::sim"];
const FLOOR_5: &[&str] = &["crate::sources", "crate::narrate", "crate::present"];
const FLOOR_6: &[&str] = VENDORS;

struct Row {
    /// A top-level module of `src/` (`store`, `paths.rs`), or a part of one (`console/model`).
    module: &'static str,
    /// Import roots it must never use: `crate::x` (a module of ours) or an external crate.
    never: &'static [&'static [&'static str]],
    /// Parts of a banned root the module may use for good (reading the terminal, not drawing).
    allowed: &'static [&'static str],
    /// Breaches another change is removing: (file under src/, import). Each must still occur,
    /// so a fixed one gets its entry deleted.
    known: &'static [(&'static str, &'static str)],
}

const fn row(module: &'static str, never: &'static [&'static [&'static str]]) -> Row {
    Row {
        module,
        never,
        allowed: &[],
        known: &[],
    }
}

/// Adding a module means adding its row here (`every_top_level_module_has_a_row` insists).
const TABLE: &[Row] = &[
    row(
        "domain",
        &[
            FLOOR_1, FLOOR_2, FLOOR_3, FLOOR_4, FLOOR_5, FLOOR_6, UPPER, TERMINAL, SQLITE,
        ],
    ),
    row(
        "sanitize.rs",
        &[
            &["crate::domain"],
            FLOOR_1,
            FLOOR_2,
            FLOOR_3,
            FLOOR_4,
            FLOOR_5,
            FLOOR_6,
            UPPER,
            TERMINAL,
            SQLITE,
        ],
    ),
    row(
        "paths.rs",
        &[
            FLOOR_1, FLOOR_2, FLOOR_3, FLOOR_4, FLOOR_5, FLOOR_6, UPPER, TERMINAL, SQLITE,
        ],
    ),
    row(
        "rng.rs",
        &[
            FLOOR_1, FLOOR_2, FLOOR_3, FLOOR_4, FLOOR_5, FLOOR_6, UPPER, TERMINAL, SQLITE,
        ],
    ),
    row(
        "net.rs",
        &[
            FLOOR_2, FLOOR_3, FLOOR_4, FLOOR_5, FLOOR_6, UPPER, TERMINAL, SQLITE,
        ],
    ),
    row(
        "highlight.rs",
        &[
            FLOOR_2, FLOOR_3, FLOOR_4, FLOOR_5, FLOOR_6, UPPER, TERMINAL, SQLITE,
        ],
    ),
    row(
        "triage",
        &[
            FLOOR_2, FLOOR_3, FLOOR_4, FLOOR_5, FLOOR_6, UPPER, TERMINAL, SQLITE,
        ],
    ),
    row(
        "config",
        &[FLOOR_3, FLOOR_4, FLOOR_5, FLOOR_6, UPPER, TERMINAL, SQLITE],
    ),
    // Standard Webhooks signing: the sender (dispatch) and the simulator's receiver share it.
    row(
        "signature.rs",
        &[FLOOR_4, FLOOR_5, FLOOR_6, UPPER, SIM, TERMINAL, SQLITE],
    ),
    // The audit log keeps its own statements: its chain is appended inside the caller's
    // store transaction, so it may speak SQLite.
    row("audit", &[FLOOR_4, FLOOR_5, FLOOR_6, UPPER, SIM, TERMINAL]),
    row(
        "remediate",
        &[FLOOR_4, FLOOR_5, FLOOR_6, UPPER, SIM, TERMINAL, SQLITE],
    ),
    // Store files importing each other is fine (one module).
    row("store", &[FLOOR_5, FLOOR_6, UPPER, SIM, TERMINAL]),
    // The simulator machinery and the non-vendor peers; each vendor's routes are its kit's.
    row("sim", &[FLOOR_5, FLOOR_6, UPPER, TERMINAL, SQLITE]),
    // What the CLI and the console both show.
    row("present.rs", &[FLOOR_6, UPPER, SIM, TERMINAL, SQLITE]),
    // The shared client kit and the sync engine: the caller hands in a vendor's client.
    row("sources", &[FLOOR_6, UPPER, SIM, TERMINAL, SQLITE]),
    row("narrate", &[FLOOR_6, UPPER, SIM, TERMINAL, SQLITE]),
    // One folder per vendor; its sim/ part uses the simulator machinery (tests/vendors.rs
    // checks that a vendor's map.rs and client.rs never do).
    row("vendors", &[UPPER, TERMINAL, SQLITE]),
    row(
        "dispatch",
        &[&["crate::console", "crate::cli"], SIM, TERMINAL, SQLITE],
    ),
    // Alerts pushed in (`sitrep listen`): beside dispatch, below the console and the CLI.
    row(
        "listen",
        &[
            &["crate::dispatch", "crate::console", "crate::cli"],
            SIM,
            TERMINAL,
            SQLITE,
        ],
    ),
    // Team mode: moves changes between the team's PostgreSQL store and this machine's
    // replica; the dispatcher, the console and the CLI call it, and its SQL is the store's.
    row(
        "team",
        &[
            &["crate::dispatch", "crate::console", "crate::cli"],
            SIM,
            TERMINAL,
            SQLITE,
        ],
    ),
    row("console", &[&["crate::cli"], SIM, SQLITE]),
    // The console's parts point down: runtime → view → model. The model does no I/O.
    row(
        "console/model",
        &[&[
            "crate::console::view",
            "crate::console::runtime",
            "crate::dispatch",
            "crate::narrate::Narrator",
            "crossterm",
            "ratatui::crossterm",
        ]],
    ),
    row(
        "console/view",
        &[&[
            "crate::console::runtime",
            "crate::dispatch",
            "crossterm",
            "ratatui::crossterm",
        ]],
    ),
    // The CLI starts the console and the demo (which needs the simulators). It never draws,
    // but it reads the terminal: its width for tables, a secret typed without echo.
    Row {
        module: "cli",
        never: &[TERMINAL, SQLITE],
        allowed: &["ratatui::crossterm::terminal", "ratatui::crossterm::event"],
        known: &[],
    },
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The text with comments and string/char literals blanked (newlines kept, so line numbers
/// hold).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |ch: char, out: &mut String| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank(c[i], &mut out);
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(c[i], &mut out);
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0
                || !is_ident(c[i - 1])
                || (c[i - 1] == 'b' && (i == 1 || !is_ident(c[i - 2]))))
        {
            // A raw string: r"…", r#"…"#, or a raw byte string br"…", br#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            if i > 0 && c[i - 1] == 'b' {
                out.pop();
                out.push(' ');
            }
            for &ch in &c[i..j.min(c.len())] {
                blank(ch, &mut out);
            }
            i = j;
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(c[i], &mut out);
                    i += 1;
                }
                if i < c.len() {
                    blank(c[i], &mut out);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{1b}'), or a lifetime ('a), which stays.
            let end = if next == Some('\\') && c.get(i + 2) == Some(&'u') {
                (i + 3..c.len()).find(|&j| c[j] == '\'')
            } else if next == Some('\\') {
                Some(i + 3)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for &ch in &c[i..=e.min(c.len() - 1)] {
                        blank(ch, &mut out);
                    }
                    i = e + 1;
                }
                None => {
                    out.push(c[i]);
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Blank out every `#[cfg(test)]` item; return the names of `#[cfg(test)] mod name;` files.
fn drop_test_items(code: &mut String) -> Vec<String> {
    let mut test_mods = Vec::new();
    const ATTR: &str = "#[cfg(test)]";
    while let Some(at) = code.find(ATTR) {
        let c: Vec<char> = code.chars().collect();
        // Byte offsets equal char offsets only for ASCII; work on chars throughout.
        let start = code[..at].chars().count();
        let mut i = start + ATTR.chars().count();
        // Skip further attributes and whitespace up to the item.
        loop {
            while i < c.len() && c[i].is_whitespace() {
                i += 1;
            }
            if c.get(i) == Some(&'#') {
                let mut depth = 0;
                while i < c.len() {
                    match c[i] {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            } else {
                break;
            }
        }
        let item_start = i;
        let mut depth = 0;
        while i < c.len() {
            match c[i] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ';' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let item: String = c[item_start..i.min(c.len())].iter().collect();
        let words: Vec<&str> = item.split_whitespace().collect();
        if let ["mod", name] | ["pub", "mod", name] | ["pub(crate)", "mod", name] = words[..] {
            test_mods.push(name.to_string());
        }
        let blanked: String = c[start..(i + 1).min(c.len())]
            .iter()
            .map(|&ch| if ch == '\n' { '\n' } else { ' ' })
            .collect();
        let mut rebuilt: String = c[..start].iter().collect();
        rebuilt.push_str(&blanked);
        rebuilt.extend(c[(i + 1).min(c.len())..].iter());
        *code = rebuilt;
    }
    test_mods
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// Every path in `code` with the line it starts on: `a::b::{c, d::e}` gives `a::b::c` and
/// `a::b::d::e`. Paths that follow `.` (fields, methods) or another segment are not roots.
fn paths(code: &str) -> Vec<(usize, String)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        if c[i] == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        // A path from the extern prelude: `::rusqlite::Connection` (not `Vec::<u8>::new`).
        if c[i] == ':'
            && c.get(i + 1) == Some(&':')
            && (i == 0 || !(is_ident(c[i - 1]) || c[i - 1] == '>' || c[i - 1] == ':'))
        {
            let mut j = i + 2;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            if c.get(j)
                .is_some_and(|&ch| is_ident(ch) && !ch.is_ascii_digit())
            {
                i = parse_path(&c, j, String::new(), line, &mut out).max(j + 1);
                continue;
            }
            i += 2;
            continue;
        }
        let starts = is_ident(c[i])
            && !c[i].is_ascii_digit()
            && (i == 0 || !(is_ident(c[i - 1]) || c[i - 1] == '.' || c[i - 1] == ':'));
        if !starts {
            i += 1;
            continue;
        }
        let end = parse_path(&c, i, String::new(), line, &mut out);
        i = end.max(i + 1);
    }
    out
}

/// Parse one path (with groups) at `i`, prefixed by `prefix`; push what it names; return where
/// it ends.
fn parse_path(
    c: &[char],
    mut i: usize,
    prefix: String,
    line: usize,
    out: &mut Vec<(usize, String)>,
) -> usize {
    let mut path = prefix;
    loop {
        let s = i;
        while i < c.len() && is_ident(c[i]) {
            i += 1;
        }
        let seg: String = c[s..i].iter().collect();
        if seg.is_empty() || (seg == "use" && path.is_empty()) {
            // `use` is a keyword, not a segment: `use ::x::Y` names `x::Y`.
            break;
        }
        if seg != "self" || path.is_empty() {
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(&seg);
        }
        let mut j = i;
        while j < c.len() && c[j].is_whitespace() {
            j += 1;
        }
        if c.get(j) == Some(&':') && c.get(j + 1) == Some(&':') {
            i = j + 2;
            while i < c.len() && c[i].is_whitespace() {
                i += 1;
            }
            if c.get(i) == Some(&'{') {
                // A group: each member continues the path so far.
                i += 1;
                loop {
                    while i < c.len() && (c[i].is_whitespace() || c[i] == ',') {
                        i += 1;
                    }
                    match c.get(i) {
                        None => return i,
                        Some('}') => return i + 1,
                        Some(&ch) if is_ident(ch) => {
                            i = parse_path(c, i, path.clone(), line, out);
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            continue;
        }
        break;
    }
    if path.contains("::") || path == "ratatui" || path == "crossterm" || path == "rusqlite" {
        out.push((line, path));
    }
    i
}

/// The module a file is, as path segments under the crate (`src/store/mod.rs` → `store`).
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).expect("under src");
    let mut segs: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    segs
}

/// `path` as written in `file`, made absolute (`crate::…`) when it is relative to our crate.
fn absolute(file: &Path, path: &str) -> String {
    let segs: Vec<&str> = path.split("::").collect();
    let mut here = module_of(file);
    let mut k = 0;
    match segs.first() {
        Some(&"super") => {
            while segs.get(k) == Some(&"super") {
                here.pop();
                k += 1;
            }
        }
        Some(&"self") => k = 1,
        _ => return path.to_string(),
    }
    let mut abs = vec!["crate".to_string()];
    abs.extend(here);
    abs.extend(segs[k..].iter().map(|s| s.to_string()));
    abs.join("::")
}

/// `path` is `root` or below it (`crate::sim::rng` is under `crate::sim`, not `crate::simple`).
fn under(path: &str, root: &str) -> bool {
    path == root || path.starts_with(&format!("{root}::"))
}

/// (file under src/, line, import) for every production-code import in `module`.
fn imports(module: &str) -> Vec<(String, usize, String)> {
    let root = src().join(module);
    let mut files = Vec::new();
    if module.ends_with(".rs") {
        files.push(root);
    } else {
        rust_files(&root, &mut files);
    }
    assert!(!files.is_empty(), "no files under src/{module}");
    files.sort();
    // Files that are `#[cfg(test)] mod x;` of another are test code whole.
    let mut test_files = BTreeSet::new();
    let mut texts = Vec::new();
    for f in &files {
        let mut code = code_only(&std::fs::read_to_string(f).expect("read"));
        let dir = if f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        {
            f.parent().expect("dir").to_path_buf()
        } else {
            f.with_extension("")
        };
        for m in drop_test_items(&mut code) {
            test_files.insert(dir.join(format!("{m}.rs")));
            test_files.insert(dir.join(&m).join("mod.rs"));
        }
        texts.push((f.clone(), code));
    }
    let mut out = Vec::new();
    for (f, code) in texts {
        if test_files.contains(&f) {
            continue;
        }
        let rel = f
            .strip_prefix(src())
            .expect("under src")
            .to_string_lossy()
            .to_string();
        for (line, p) in paths(&code) {
            out.push((rel.clone(), line, absolute(&f, &p)));
        }
    }
    out
}

#[test]
fn every_module_keeps_to_its_row() {
    let mut offenders = Vec::new();
    let mut stale = Vec::new();
    for r in TABLE {
        let found = imports(r.module);
        let mut used = vec![false; r.known.len()];
        for (file, line, path) in &found {
            // A module may always name itself (`crate::highlight::…` inside highlight.rs).
            let own = format!("crate::{}", r.module.trim_end_matches(".rs"));
            let Some(banned) = r
                .never
                .iter()
                .flat_map(|s| s.iter())
                .find(|b| under(path, b) && !under(b, &own))
            else {
                continue;
            };
            if r.allowed.iter().any(|a| under(path, a)) {
                continue;
            };
            if let Some(k) = r
                .known
                .iter()
                .position(|(kf, ki)| kf == file && under(path, ki))
            {
                used[k] = true;
                continue;
            }
            offenders.push(format!(
                "src/{file}:{line}: {path} (row {}: never {banned})",
                r.module
            ));
        }
        for (k, (kf, ki)) in r.known.iter().enumerate() {
            if !used[k] {
                stale.push(format!("row {}: src/{kf} no longer imports {ki}", r.module));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "imports that break tests/boundaries.rs' table:\n{}",
        offenders.join("\n")
    );
    assert!(
        stale.is_empty(),
        "known exceptions that are gone (delete them from the table):\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_row() {
    let rows: BTreeSet<&str> = TABLE.iter().map(|r| r.module).collect();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(src()).expect("read_dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let module = entry.path().is_dir() || name.ends_with(".rs");
        if module && name != "lib.rs" && name != "main.rs" && !rows.contains(name.as_str()) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "modules with no row in tests/boundaries.rs: {missing:?}"
    );
    for r in TABLE {
        assert!(
            src().join(r.module).exists(),
            "a row for src/{}, which does not exist",
            r.module
        );
    }
}

/// The scanner itself: comments, strings and test items out; groups and `super` resolved.
#[test]
fn the_scan_sees_code_only() {
    let text = r##"
// use crate::sim::rng;
/* crate::cli */ let s = "crate::sim::x"; let r = r#"crate::sim"#;
use crate::{config::Config, sim::{rng::Rng, self}};
use super::super::cli::render::age;
let c = '"'; let x = crate::dispatch::http::TIMEOUT;
let b = br#"a"b"#; let d = br"crate::sim"; let e = Vec::<u8>::new();
use ::rusqlite::Connection;
let k = ::rusqlite::Connection::open(p);
#[cfg(test)]
mod tests {
    use crate::sim::world;
}
#[cfg(test)]
mod more;
"##;
    let mut code = code_only(text);
    assert_eq!(drop_test_items(&mut code), vec!["more".to_string()]);
    let file = src().join("store/alerts.rs");
    let found: Vec<String> = paths(&code)
        .into_iter()
        .map(|(_, p)| absolute(&file, &p))
        .collect();
    assert_eq!(
        found,
        vec![
            "crate::config::Config",
            "crate::sim::rng::Rng",
            "crate::sim",
            "crate::cli::render::age",
            "crate::dispatch::http::TIMEOUT",
            "rusqlite::Connection",
            "rusqlite::Connection::open",
        ]
    );
}
