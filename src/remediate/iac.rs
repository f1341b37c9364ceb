//! Finding IaC files in a mapped checkout.

use std::path::{Path, PathBuf};

use crate::highlight::Lang;

/// Files larger than this are not IaC we edit (generated state, bundles).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Stop after this many candidate files in one checkout.
const MAX_FILES: usize = 20_000;
/// Directories never searched.
const SKIP_DIRS: [&str; 6] = [
    ".git",
    ".terraform",
    "node_modules",
    ".venv",
    "target",
    "vendor",
];

/// One IaC file read from a checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the checkout root, `/`-separated.
    pub rel: PathBuf,
    pub lang: Lang,
    pub text: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScanError {
    #[error("IaC checkout {0} is not a readable directory")]
    NotADirectory(String),
}

/// Is this a file we look in: `.tf`, `.yaml`/`.yml`, `.json`, a Dockerfile?
pub fn is_iac_file(path: &Path) -> Option<Lang> {
    match Lang::from_path(path) {
        l @ (Lang::Hcl | Lang::Yaml | Lang::Json | Lang::Dockerfile) => Some(l),
        _ => None,
    }
}

/// Every IaC file under `root` (not following symlinks), sorted by path so results are stable.
/// Unreadable or non-UTF-8 files are skipped.
pub fn scan(root: &Path) -> Result<Vec<SourceFile>, ScanError> {
    if !root.is_dir() {
        return Err(ScanError::NotADirectory(root.display().to_string()));
    }
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            let name = entry.file_name();
            if ft.is_dir() {
                if !SKIP_DIRS.iter().any(|s| name == *s) {
                    stack.push(path);
                }
            } else if ft.is_file() && is_iac_file(&path).is_some() {
                paths.push(path);
                if paths.len() >= MAX_FILES {
                    break;
                }
            }
        }
    }
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let Some(lang) = is_iac_file(&path) else {
            continue;
        };
        if std::fs::metadata(&path)
            .map(|m| m.len())
            .unwrap_or(u64::MAX)
            > MAX_FILE_BYTES
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        out.push(SourceFile {
            rel: rel_slash(rel),
            lang,
            text,
        });
    }
    Ok(out)
}

/// A relative path with `/` separators.
fn rel_slash(rel: &Path) -> PathBuf {
    PathBuf::from(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_iac_files_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("tf/.terraform")).unwrap();
        std::fs::create_dir_all(root.join("k8s")).unwrap();
        std::fs::write(root.join("tf/main.tf"), "resource \"a\" \"b\" {}\n").unwrap();
        std::fs::write(root.join("tf/.terraform/x.tf"), "x").unwrap();
        std::fs::write(root.join("k8s/app.yaml"), "kind: Pod\n").unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM alpine\n").unwrap();
        std::fs::write(root.join("README.md"), "# hi\n").unwrap();
        let files = scan(root).unwrap();
        let rels: Vec<String> = files.iter().map(|f| f.rel.display().to_string()).collect();
        assert_eq!(rels, vec!["Dockerfile", "k8s/app.yaml", "tf/main.tf"]);
        assert_eq!(files[0].lang, Lang::Dockerfile);
        assert!(scan(&root.join("nope")).is_err());
    }
}
