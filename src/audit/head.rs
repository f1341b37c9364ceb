//! The head record: an anchor outside the table, in `<db>.audit-head`.
//!
//! One line of JSON: `{"version":1,"count":N,"mac":"…","key_id":"…","head_mac":"…"}`, where
//! `head_mac` is the HMAC of (count, mac, key_id). Written atomically (temporary file, fsync,
//! rename, fsync of the directory) after each commit that appended entries. A head behind
//! the table is normal after a crash between commit and head write; a head ahead of the table
//! means the table lost its tail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{AuditError, AuditKey, canonical};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub version: u32,
    /// Entries in the log when the head was written (the last entry's seq).
    pub count: i64,
    /// That entry's mac (64 zeros when count is 0).
    pub mac: String,
    /// The fingerprint of the key that wrote the head ([`AuditKey::id`]).
    pub key_id: String,
    pub head_mac: String,
}

impl Head {
    pub fn new(key: &AuditKey, count: i64, mac: &str) -> Head {
        let key_id = key.id();
        let head_mac = key.mac_hex(&canonical::head_bytes(count, mac, &key_id));
        Head {
            version: 1,
            count,
            mac: mac.to_string(),
            key_id,
            head_mac,
        }
    }

    /// Was this head written with `key`, unmodified?
    pub fn authentic(&self, key: &AuditKey) -> bool {
        self.version == 1
            && key.verify_hex(
                &canonical::head_bytes(self.count, &self.mac, &self.key_id),
                &self.head_mac,
            )
    }
}

/// What is at the head path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadFile {
    /// No file (or an in-memory database, which has no head).
    Missing,
    Present(Head),
    /// A file that is not a head record (detail says why).
    Damaged(String),
}

/// `<db>.audit-head`, or None for an in-memory database.
pub fn head_path(db_path: &Path) -> Option<PathBuf> {
    let s = db_path.as_os_str();
    if s.is_empty() || s == ":memory:" {
        return None;
    }
    let mut p = s.to_os_string();
    p.push(".audit-head");
    Some(PathBuf::from(p))
}

fn head_err(path: &Path, what: impl std::fmt::Display) -> AuditError {
    AuditError::Head(format!("audit head file {}: {what}", path.display()))
}

pub fn read(path: &Path) -> Result<HeadFile, AuditError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HeadFile::Missing),
        Err(e) => return Err(head_err(path, e)),
    };
    if bytes.len() > 4096 {
        return Ok(HeadFile::Damaged("it is far too long".into()));
    }
    Ok(match serde_json::from_slice::<Head>(&bytes) {
        Ok(h) => HeadFile::Present(h),
        Err(e) => HeadFile::Damaged(format!("not a head record ({})", e.classify_name())),
    })
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "wrong fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// fsync a directory so a rename or a new link in it survives power loss (best effort:
/// not every platform can open a directory).
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replace the head file atomically.
pub fn write(path: &Path, head: &Head) -> Result<(), AuditError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "audit-head".into());
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let text = serde_json::to_string(head).map_err(|e| head_err(path, e))?;
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(head_err(path, format!("cannot write: {e}")));
    }
    sync_dir(dir);
    Ok(())
}
