//! The audit log's HMAC key: from the environment, the OS keyring, or a generated key file.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};

use super::{AuditError, HmacSha256, canonical};
use crate::config::AuditConfig;
use crate::config::keyring::{KeyringStore, OsKeyring};

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "audit.key";

/// Fewest characters of a configured (env or keyring) key.
pub const MIN_KEY_CHARS: usize = 32;

/// An HMAC key. Never printed: `Debug` shows only where it came from.
#[derive(Clone)]
pub struct AuditKey {
    mac: HmacSha256,
    source: String,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(*** from {})", self.source)
    }
}

impl AuditKey {
    /// A key from raw bytes (tests, benches, callers with their own key store).
    pub fn from_bytes(b: &[u8]) -> AuditKey {
        Self::with_source(b, "bytes")
    }

    fn with_source(b: &[u8], source: &str) -> AuditKey {
        // HMAC takes a key of any length; new_from_slice cannot fail for it.
        let mac = match <HmacSha256 as KeyInit>::new_from_slice(b) {
            Ok(m) => m,
            Err(_) => <HmacSha256 as KeyInit>::new(&Default::default()),
        };
        AuditKey {
            mac,
            source: source.to_string(),
        }
    }

    /// Where the key came from, for messages (never the key).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// HMAC-SHA256 of `bytes`, lowercase hex.
    pub fn mac_hex(&self, bytes: &[u8]) -> String {
        let mut m = self.mac.clone();
        m.update(bytes);
        canonical::hex(&m.finalize().into_bytes())
    }

    /// Does `hex` hold the MAC of `bytes`? (Constant-time comparison.)
    pub fn verify_hex(&self, bytes: &[u8], hex: &str) -> bool {
        let Some(tag) = canonical::unhex(hex) else {
            return false;
        };
        let mut m = self.mac.clone();
        m.update(bytes);
        m.verify_slice(&tag).is_ok()
    }

    /// A public fingerprint of the key (16 hex digits of a MAC over a fixed label): lets
    /// `verify` say "wrong key" without revealing anything about the key.
    pub fn id(&self) -> String {
        let mut h = self.mac_hex(canonical::key_id_bytes());
        h.truncate(16);
        h
    }

    /// The configured key, or the key file in `data_dir`, generated (0600) when absent.
    pub fn load(cfg: &AuditConfig, data_dir: &Path) -> Result<AuditKey, AuditError> {
        let env = |v: &str| std::env::var(v).ok();
        Self::load_in(cfg, data_dir, &env, &OsKeyring, true)?
            .ok_or_else(|| AuditError::Key("audit key: none could be loaded".into()))
    }

    /// As [`AuditKey::load`], but never creates a key file: `Ok(None)` when no key is
    /// configured and `data_dir` holds none (`sitrep audit verify` on a fresh install).
    pub fn load_existing(
        cfg: &AuditConfig,
        data_dir: &Path,
    ) -> Result<Option<AuditKey>, AuditError> {
        let env = |v: &str| std::env::var(v).ok();
        Self::load_in(cfg, data_dir, &env, &OsKeyring, false)
    }

    /// With an explicit environment and keyring (tests).
    pub fn load_in(
        cfg: &AuditConfig,
        data_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        keyring: &dyn KeyringStore,
        create: bool,
    ) -> Result<Option<AuditKey>, AuditError> {
        if let Some(r) = &cfg.key {
            let what = r.describe();
            let secret = r
                .resolve_in(env, keyring)
                .map_err(|e| AuditError::Key(format!("audit key ([audit] key): {e}")))?;
            let n = secret.expose().chars().count();
            if n < MIN_KEY_CHARS {
                return Err(AuditError::Key(format!(
                    "audit key ([audit] key): {what} holds {n} characters; an audit key needs at least {MIN_KEY_CHARS} (e.g. openssl rand -base64 32)"
                )));
            }
            return Ok(Some(Self::with_source(secret.expose().as_bytes(), &what)));
        }
        let path = data_dir.join(KEY_FILE);
        match read_key_file(&path)? {
            Some(k) => Ok(Some(k)),
            None if create => generate_key_file(&path).map(Some),
            None => Ok(None),
        }
    }
}

fn key_err(path: &Path, what: impl std::fmt::Display) -> AuditError {
    AuditError::Key(format!("audit key file {}: {what}", path.display()))
}

/// Read the key file; `Ok(None)` when it does not exist. A file readable by group or others
/// is refused, as ssh refuses such a private key.
fn read_key_file(path: &Path) -> Result<Option<AuditKey>, AuditError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(key_err(path, e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_err(
                path,
                format!(
                    "is readable by group or others (mode {mode:04o}); it is ignored — run chmod 600 on it"
                ),
            ));
        }
    }
    if !meta.is_file() {
        return Err(key_err(path, "is not a regular file"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| key_err(path, e))?;
    let bytes = canonical::unhex(text.trim())
        .filter(|b| b.len() == 32)
        .ok_or_else(|| key_err(path, "does not hold a key (64 hex digits)"))?;
    Ok(Some(AuditKey::with_source(
        &bytes,
        &format!("key file {}", path.display()),
    )))
}

/// 32 random bytes, written as hex to a private temporary file and linked into place, so a
/// concurrent process either wins the race or reads the complete winner.
fn generate_key_file(path: &Path) -> Result<AuditKey, AuditError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| key_err(path, format!("cannot create its directory: {e}")))?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| key_err(path, format!("no random bytes from the OS: {e}")))?;
    let tmp: PathBuf = dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(format!("{}\n", canonical::hex(&key)).as_bytes())?;
        f.sync_all()
    };
    let _ = std::fs::remove_file(&tmp);
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(key_err(path, format!("cannot write: {e}")));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            super::head::sync_dir(dir);
            tracing::warn!(
                "generated a new audit key in {}; a key in the OS keyring or the environment is stronger",
                path.display()
            );
            Ok(AuditKey::with_source(
                &key,
                &format!("key file {}", path.display()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key_file(path)?.ok_or_else(|| key_err(path, "vanished while it was being created"))
        }
        Err(e) => Err(key_err(path, format!("cannot create: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CredentialRef;
    use crate::config::Secret;
    use crate::config::keyring::KeyringEntry;

    struct NoKeyring;
    impl KeyringStore for NoKeyring {
        fn get(&self, _: &KeyringEntry) -> Result<Option<Secret>, String> {
            Ok(None)
        }
    }

    #[test]
    fn a_generated_key_file_is_private_and_reused() {
        let d = tempfile::tempdir().expect("tmp");
        let cfg = AuditConfig::default();
        let none = |_: &str| None;
        assert!(
            AuditKey::load_in(&cfg, d.path(), &none, &NoKeyring, false)
                .expect("ok")
                .is_none()
        );
        let k1 = AuditKey::load_in(&cfg, d.path(), &none, &NoKeyring, true)
            .expect("ok")
            .expect("created");
        let k2 = AuditKey::load_in(&cfg, d.path(), &none, &NoKeyring, false)
            .expect("ok")
            .expect("exists");
        assert_eq!(k1.id(), k2.id());
        assert_eq!(k1.mac_hex(b"x"), k2.mac_hex(b"x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = d.path().join(KEY_FILE);
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = AuditKey::load_in(&cfg, d.path(), &none, &NoKeyring, true)
                .expect_err("refused")
                .to_string();
            assert_eq!(
                e,
                format!(
                    "audit key file {}: is readable by group or others (mode 0644); it is ignored — run chmod 600 on it",
                    p.display()
                )
            );
        }
    }

    #[test]
    fn configured_keys_must_be_long_and_never_print() {
        let d = tempfile::tempdir().expect("tmp");
        let cfg = AuditConfig {
            key: Some(CredentialRef::Env("SITREP_AUDIT_KEY".into())),
        };
        let short = |_: &str| Some("hunter2".to_string());
        let e = AuditKey::load_in(&cfg, d.path(), &short, &NoKeyring, true)
            .expect_err("short")
            .to_string();
        assert_eq!(
            e,
            "audit key ([audit] key): environment variable SITREP_AUDIT_KEY holds 7 characters; an audit key needs at least 32 (e.g. openssl rand -base64 32)"
        );
        assert!(!e.contains("hunter2"));
        let unset = |_: &str| None;
        assert_eq!(
            AuditKey::load_in(&cfg, d.path(), &unset, &NoKeyring, true)
                .expect_err("unset")
                .to_string(),
            "audit key ([audit] key): environment variable SITREP_AUDIT_KEY is not set"
        );
        let good = |_: &str| Some("correct horse battery staple 0123456789".to_string());
        let k = AuditKey::load_in(&cfg, d.path(), &good, &NoKeyring, true)
            .expect("ok")
            .expect("key");
        let shown = format!("{k:?}");
        assert_eq!(
            shown,
            "AuditKey(*** from environment variable SITREP_AUDIT_KEY)"
        );
        assert!(!d.path().join(KEY_FILE).exists(), "no key file generated");
        assert_ne!(
            k.id(),
            AuditKey::from_bytes(b"correct horse battery staple 012345678").id()
        );
    }
}
