//! Credentials kept in the OS keyring: `{ keyring = "SERVICE/USER" }`.
//!
//! The backends are the `keyring` crate's native stores: the kernel key-management facility
//! (keyutils) on Linux, the login Keychain on macOS, the Credential Manager on Windows. On Linux
//! the kernel keyring lives in memory: an entry lasts while the user's session or persistent
//! keyring does and is gone after a reboot (store it again with `sitrep config set-secret`).
//!
//! Messages name the entry (`service/user`), never the secret.

use super::secret::Secret;

/// One keyring entry: a service and a user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyringEntry {
    pub service: String,
    pub user: String,
}

impl KeyringEntry {
    /// Parse `SERVICE/USER`: split at the first `/`; both parts non-empty, no control
    /// characters, the service without spaces at its ends.
    pub fn parse(s: &str) -> Result<KeyringEntry, String> {
        let shown = crate::sanitize::one_line(s);
        let Some((service, user)) = s.split_once('/') else {
            return Err(format!(
                "keyring entry '{shown}' must be SERVICE/USER, e.g. \"sitrep/prisma-key\""
            ));
        };
        if service.trim().is_empty() || user.trim().is_empty() {
            return Err(format!(
                "keyring entry '{shown}' must be SERVICE/USER with both parts non-empty"
            ));
        }
        if s.chars().any(char::is_control) || service.trim() != service || user.trim() != user {
            return Err(format!(
                "keyring entry '{shown}' has control characters or spaces at the ends of a part"
            ));
        }
        Ok(KeyringEntry {
            service: service.to_string(),
            user: user.to_string(),
        })
    }
}

impl std::fmt::Display for KeyringEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.service, self.user)
    }
}

/// Where keyring entries are read and written: the OS keyring, or a map in tests.
pub trait KeyringStore {
    /// The secret, `Ok(None)` when there is no such entry, `Err` (one line, no secret) when
    /// the keyring cannot be used.
    fn get(&self, entry: &KeyringEntry) -> Result<Option<Secret>, String>;
}

/// The platform's keyring.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsKeyring;

/// Which backend this build uses, for messages and `config check`.
pub fn backend_name() -> &'static str {
    if cfg!(target_os = "linux") {
        "the Linux kernel keyring (keyutils)"
    } else if cfg!(target_os = "macos") {
        "the macOS Keychain"
    } else if cfg!(target_os = "windows") {
        "the Windows Credential Manager"
    } else {
        "no keyring backend on this platform"
    }
}

fn describe(e: &::keyring::Error) -> String {
    // BadEncoding carries the secret's bytes: never show them.
    match e {
        ::keyring::Error::BadEncoding(_) => "the stored secret is not UTF-8 text".into(),
        ::keyring::Error::PlatformFailure(inner) | ::keyring::Error::NoStorageAccess(inner) => {
            crate::sanitize::one_line(&inner.to_string())
        }
        ::keyring::Error::TooLong(what, max) => format!("{what} is longer than {max}"),
        ::keyring::Error::Invalid(what, why) => format!("{what} {why}"),
        ::keyring::Error::Ambiguous(_) => "more than one entry matches".into(),
        other => crate::sanitize::one_line(&other.to_string()),
    }
}

/// The `keyring` entry for `entry`.
///
/// keyutils: a process without a session keyring of its own is given one (holding a link to
/// the user's persistent keyring) while its first entry is built, and that first entry still
/// points at the user-session keyring, which may refuse writes (EACCES, seen in containers) and
/// does not see the persistent keyring. An entry built after that uses the new session keyring,
/// so on Linux the entry is built twice.
fn os_entry(entry: &KeyringEntry) -> Result<::keyring::Entry, String> {
    let make = || {
        ::keyring::Entry::new(&entry.service, &entry.user)
            .map_err(|e| format!("keyring entry {entry}: {}", describe(&e)))
    };
    if cfg!(target_os = "linux") {
        make()?;
    }
    make()
}

impl KeyringStore for OsKeyring {
    fn get(&self, entry: &KeyringEntry) -> Result<Option<Secret>, String> {
        let e = os_entry(entry)?;
        match e.get_password() {
            Ok(s) => Ok(Some(Secret::new(s))),
            Err(::keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(format!(
                "keyring entry {entry}: cannot read {}: {}",
                backend_name(),
                describe(&err)
            )),
        }
    }
}

/// Store `secret` under `entry` in the OS keyring (replacing what was there).
pub fn store(entry: &KeyringEntry, secret: &Secret) -> Result<(), String> {
    if secret.expose().trim().is_empty() {
        return Err("the secret is empty; nothing stored".into());
    }
    let e = os_entry(entry)?;
    e.set_password(secret.expose()).map_err(|err| {
        format!(
            "keyring entry {entry}: cannot write {}: {}",
            backend_name(),
            describe(&err)
        )
    })
}

/// Remove `entry` from the OS keyring. `Ok(false)` when it was not there.
pub fn delete(entry: &KeyringEntry) -> Result<bool, String> {
    let e = os_entry(entry)?;
    match e.delete_credential() {
        Ok(()) => Ok(true),
        Err(::keyring::Error::NoEntry) => Ok(false),
        Err(err) => Err(format!("keyring entry {entry}: {}", describe(&err))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_as_service_slash_user() {
        let e = KeyringEntry::parse("sitrep/prisma-key").unwrap();
        assert_eq!(
            (e.service.as_str(), e.user.as_str()),
            ("sitrep", "prisma-key")
        );
        assert_eq!(e.to_string(), "sitrep/prisma-key");
        // Only the first slash splits: users may hold slashes.
        let e = KeyringEntry::parse("sitrep/team/wiz").unwrap();
        assert_eq!(
            (e.service.as_str(), e.user.as_str()),
            ("sitrep", "team/wiz")
        );
        for bad in ["sitrep", "/user", "sitrep/", " sitrep/u", "s/u\n", ""] {
            let err = KeyringEntry::parse(bad).unwrap_err();
            assert!(err.starts_with("keyring entry '"), "{bad:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    /// The real OS keyring (the kernel keyring on Linux): store, read back, delete.
    #[test]
    fn os_keyring_round_trip() {
        let entry = KeyringEntry {
            service: format!("sitrep-test-{}", std::process::id()),
            user: "round-trip".into(),
        };
        assert_eq!(OsKeyring.get(&entry).unwrap(), None);
        store(&entry, &Secret::new("s3cr3t value")).unwrap();
        assert_eq!(
            OsKeyring.get(&entry).unwrap(),
            Some(Secret::new("s3cr3t value"))
        );
        store(&entry, &Secret::new("replaced")).unwrap();
        assert_eq!(
            OsKeyring.get(&entry).unwrap(),
            Some(Secret::new("replaced"))
        );
        assert!(store(&entry, &Secret::new("  ")).is_err());
        assert!(delete(&entry).unwrap());
        assert!(!delete(&entry).unwrap());
        assert_eq!(OsKeyring.get(&entry).unwrap(), None);
    }
}
