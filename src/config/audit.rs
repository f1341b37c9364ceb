//! `[audit]`: where the audit log's HMAC key comes from (docs/audit.md).
//!
//! ```toml
//! [audit]
//! key = { env = "SITREP_AUDIT_KEY" }        # or { keyring = "sitrep/audit-key" }
//! ```
//!
//! Without a `key`, sitrep generates 32 random bytes into `<data dir>/audit.key` (mode 0600)
//! the first time it needs them. A key in the environment or the OS keyring is stronger: it
//! does not sit next to the database it protects.

use serde::Deserialize;

use super::vault::{CredentialRef, RawCredential};

/// The resolved `[audit]` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditConfig {
    /// None: the generated key file in the data directory.
    pub key: Option<CredentialRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    key: Option<RawCredential>,
}

/// Validate. Errors are `(key, message)`.
pub(super) fn resolve(r: RawAudit) -> Result<AuditConfig, (String, String)> {
    let key = match r.key {
        None => None,
        Some(RawCredential::Env { env }) => {
            if env.trim().is_empty() || env.chars().any(|c| c.is_control() || c == '=') {
                return Err((
                    "[audit] key".into(),
                    format!(
                        "'{}' is not an environment variable name",
                        crate::sanitize::one_line(&env)
                    ),
                ));
            }
            Some(CredentialRef::Env(env))
        }
        Some(RawCredential::Keyring { keyring }) => Some(CredentialRef::Keyring(
            super::keyring::KeyringEntry::parse(&keyring)
                .map_err(|e| ("[audit] key".to_string(), e))?,
        )),
        Some(RawCredential::Vault { vault }) => {
            Some(super::vault::credential(&vault).map_err(|e| ("[audit] key".to_string(), e))?)
        }
        // A key written into the config file would sit beside the log it protects, in a file
        // that is often shared or committed: refuse it whatever the file's mode.
        Some(RawCredential::Literal(_)) => {
            return Err((
                "[audit] key".into(),
                "the audit key cannot be written in the config file; use { env = \"VAR\" } or { keyring = \"SERVICE/USER\" }, or leave key out to use a generated key file".into(),
            ));
        }
    };
    Ok(AuditConfig { key })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    use super::*;

    fn parse(t: &str) -> Result<AuditConfig, String> {
        Config::from_text_private(Some(Path::new("c.toml")), t, true)
            .map(|c| c.audit)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn keys_come_from_env_or_keyring_or_the_generated_file() {
        assert_eq!(parse("").expect("ok"), AuditConfig { key: None });
        assert_eq!(
            parse("[audit]\nkey = { env = \"SITREP_AUDIT_KEY\" }\n")
                .expect("ok")
                .key,
            Some(CredentialRef::Env("SITREP_AUDIT_KEY".into()))
        );
        let k = parse("[audit]\nkey = { keyring = \"sitrep/audit-key\" }\n")
            .expect("ok")
            .key
            .expect("key");
        assert_eq!(k.describe(), "keyring entry sitrep/audit-key");
    }

    #[test]
    fn bad_audit_tables_get_precise_errors() {
        let e = |t: &str| parse(t).expect_err("must fail");
        let literal = e("[audit]\nkey = \"0123456789abcdef0123456789abcdef\"\n");
        assert_eq!(
            literal,
            "config file c.toml: [audit] key: the audit key cannot be written in the config file; use { env = \"VAR\" } or { keyring = \"SERVICE/USER\" }, or leave key out to use a generated key file"
        );
        assert!(!literal.contains("0123456789abcdef"));
        assert_eq!(
            e("[audit]\nkey = { keyring = \"audit\" }\n"),
            "config file c.toml: [audit] key: keyring entry 'audit' must be SERVICE/USER, e.g. \"sitrep/prisma-key\""
        );
        assert_eq!(
            e("[audit]\nkey = { env = \"\" }\n"),
            "config file c.toml: [audit] key: '' is not an environment variable name"
        );
        assert!(e("[audit]\nkeyy = 1\n").contains("unknown field `keyy`"));
    }
}
