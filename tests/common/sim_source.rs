//! A simulator's `[[source]]` as a `SourceConfig`, for tests that drive the sync engine in
//! process: the announced env credentials become literals, so the test process's environment
//! is never touched (tests run in parallel threads).
#![allow(dead_code)]

use sitrep::config::{Config, CredentialRef, Secret, SourceConfig};
use sitrep::domain::Vendor;
use sitrep::sim::server::SimHandle;

/// The simulator's `[[source]]` table, parsed, with its credentials as literals taken from
/// the simulator's env.
pub fn source_config(handle: &SimHandle) -> SourceConfig {
    let config = Config::from_text(None, &handle.source_toml).expect("source_toml parses");
    let mut cfg = config.sources.into_iter().next().expect("one source");
    for c in cfg.credentials.values_mut() {
        if let CredentialRef::Env(var) = c {
            let value = handle
                .env
                .iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("the simulator announces {var}"));
            *c = CredentialRef::Literal(Secret::new(value));
        }
    }
    cfg
}

/// The same config with one credential replaced.
pub fn with_credential(cfg: &SourceConfig, key: &str, value: &str) -> SourceConfig {
    let mut c = cfg.clone();
    c.credentials.insert(
        key.to_string(),
        CredentialRef::Literal(Secret::new(value.to_string())),
    );
    c
}

/// The secret each vendor's case replaces, and a wrong value of the right form.
pub fn wrong_secret(v: Vendor) -> (&'static str, String) {
    match v {
        Vendor::PrismaCspm => ("secret_key", "not-the-secret-Zq9".into()),
        Vendor::PrismaCompute => ("password", "not-the-password-Zq9".into()),
        Vendor::Wiz => ("client_secret", "definitely-not-the-secret-4242".into()),
        Vendor::Lacework => ("secret", "_definitely0not0the0secret4242".into()),
        Vendor::Orca => ("token", "orca-wrong-token-0123456789".into()),
        Vendor::CortexXdr => ("key", "0123456789abcdef".repeat(8)),
    }
}
