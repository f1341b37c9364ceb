//! Test harness: run the real binary in a hermetic environment (temp HOME and XDG dirs, a
//! fixed clock), and find the shared corpus.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// 2026-11-22T00:00:00Z — the clock every binary run sees.
pub const NOW: &str = "2026-11-22T00:00:00Z";
pub const NOW_MS: i64 = 1_795_305_600_000;

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// `n` Prisma CSPM alerts made by scripts/bench/gen-prisma.py with `seed`, imported
    /// through the CLI into this sandbox's cache.
    pub fn import_generated(&self, seed: u64, n: usize) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench/gen-prisma.py");
        let out = Command::new("python3")
            .arg(script)
            .args(["--seed", &seed.to_string(), "--count", &n.to_string()])
            .output()
            .expect("gen-prisma");
        assert!(out.status.success(), "gen-prisma failed");
        let body = self.write(
            "alerts.json",
            &String::from_utf8(out.stdout).expect("utf-8"),
        );
        self.ok(&[
            "import",
            "--vendor",
            "prisma-cspm",
            body.to_str().expect("path"),
        ]);
    }

    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn db(&self) -> PathBuf {
        self.path("data/sitrep.db")
    }

    /// A command for the real binary with a private HOME, XDG dirs and clock.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sitrep"));
        let home = self.path("home");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("SITREP_NOW", NOW)
            .env("USER", "tester")
            .env("SITREP_DB", self.db());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run sitrep")
    }

    /// Run, assert success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sitrep {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Run, assert exit code `code`, return stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(code),
            "sitrep {args:?}: expected exit {code}\nstdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }
}

/// `../shared/corpus`, or None (and a note) when this checkout has no shared directory.
/// In CI (CI set) a missing corpus is a failure.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("MANIFEST.tsv").exists() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "the shared corpus is missing at {} (CI must have ../shared)",
            dir.display()
        );
    }
    eprintln!(
        "note: {} not found; corpus tests skipped (they run in CI)",
        dir.display()
    );
    None
}

/// Rows of MANIFEST.tsv: (relative file, vendor, shape, alerts).
pub fn manifest(dir: &Path) -> Vec<(String, String, String, usize)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read manifest");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "bad manifest line: {l}");
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].parse().expect("count"),
            )
        })
        .collect()
}

/// Bytes a terminal could act on: C0 controls other than \n and \t, DEL, the C1 range as
/// UTF-8 (C2 80..C2 9F), bidi controls and zero-width characters.
pub fn dangerous_bytes(out: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, b) in out.iter().enumerate() {
        if (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f {
            found.push(format!("byte 0x{b:02x} at {i}"));
        }
    }
    let text = String::from_utf8_lossy(out);
    for (i, c) in text.char_indices() {
        let bad = ('\u{80}'..='\u{9f}').contains(&c)
            || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{180E}');
        if bad {
            found.push(format!("U+{:04X} at {i}", c as u32));
        }
    }
    found
}

/// A cached test venv's python (`what` names it in messages): `$env_var` if set, else
/// `<XDG cache>/sitrep-test/<dir>/venv/bin/python`, usable when it exists and, with
/// `module`, imports it. None (the test skips) when not; under CI a missing venv fails.
pub fn cached_python(
    env_var: &str,
    dir: &str,
    module: Option<&str>,
    what: &str,
    install: &str,
) -> Option<PathBuf> {
    let python = match std::env::var_os(env_var) {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_default()
            .join(format!("sitrep-test/{dir}/venv/bin/python")),
    };
    let usable = python.is_file()
        && module.is_none_or(|m| {
            Command::new(&python)
                .args(["-c", &format!("import {m}")])
                .status()
                .is_ok_and(|s| s.success())
        });
    if usable {
        return Some(python);
    }
    let msg = format!("{what} not found at {}: run {install}", python.display());
    assert!(
        std::env::var_os("CI").is_none(),
        "{msg} (CI must run these)"
    );
    eprintln!("skipped: {msg}");
    None
}
