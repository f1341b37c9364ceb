//! Configuration: defaults embedded in the binary, overridden by the user's `config.toml`.
//!
//! A bad file gets one precise line naming the file, the position and the key.

pub mod audit;
pub mod duration;
pub mod iac;
pub mod keymap;
pub mod keyring;
pub mod listen;
pub mod llm;
pub mod notify;
pub mod owners;
pub mod pr;
pub mod scoring;
pub mod secret;
pub mod siem;
pub mod sources;
pub mod team;
pub mod theme;
pub mod tickets;
pub mod vault;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use audit::AuditConfig;
pub use iac::{IacConfig, IacRepo};
pub use listen::ListenConfig;
pub use llm::{LlmConfig, ProviderKind, ResponseFormat};
pub use notify::{ApprovalsConfig, NotifyConfig, OnApprove, WebhookTarget};
pub use scoring::IntelConfig;
pub use secret::Secret;
pub use sources::{CredentialRef, SourceConfig};
pub use tickets::{JiraConfig, JiraFlavor, ServiceNowConfig, SnTable, TicketSystem, TicketsConfig};

use crate::domain::SortKey;
use crate::triage::query;

/// The defaults shipped inside the binary.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// The commented template `sitrep config init` writes.
pub const TEMPLATE: &str = include_str!("template.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {key}: {message}")]
    Value {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Name recorded as the actor of decisions.
    pub analyst: String,
    pub sort: SortKey,
    pub limit: usize,
    /// Default filter text (already validated).
    pub filter: String,
    /// Vendor tenants to sync (`[[source]]` tables).
    pub sources: Vec<SourceConfig>,
    /// The console's theme name (`[ui] theme`).
    pub theme: String,
    /// The console's keys: built-in defaults with the `[keys]` table applied.
    pub keymap: keymap::Keymap,
    /// Local IaC checkouts (`[[iac]]` tables).
    pub iac: IacConfig,
    /// The priority model's weights and tag rules (`[scoring]`).
    pub scoring: crate::triage::score::ScoringConfig,
    /// Exploit-intelligence feed URLs (`[intel]`).
    pub intel: IntelConfig,
    /// The narrative's model (`[llm]`); provider `none` is the offline narrator.
    pub llm: LlmConfig,
    /// Where the audit log's key comes from (`[audit]`).
    pub audit: AuditConfig,
    /// Notification destinations and events (`[notify]`).
    pub notify: NotifyConfig,
    /// Approval rules and what an approval dispatches (`[approvals]`).
    pub approvals: ApprovalsConfig,
    /// Ticket systems (`[tickets]`).
    pub tickets: TicketsConfig,
    /// HashiCorp Vault, for `{ vault = … }` credentials (`[vault]`).
    pub vault: Option<vault::VaultConfig>,
    /// Which tags and CMDB rows name an alert's team (`[owners]`).
    pub owners: owners::OwnersConfig,
    /// Where each team's tickets and notifications go (`[[route]]`).
    pub routes: Vec<owners::Route>,
    /// Where audit entries are forwarded (`[[siem]]` tables).
    pub siem: Vec<siem::SiemDestination>,
    /// Pull requests for approved fixes (`[pr]`).
    pub pr: pr::PrConfig,
    /// The alert-push receiver of `sitrep listen` (`[listen]`).
    pub listen: ListenConfig,
    /// Where the store is (`[store]`): SQLite only, or a team's PostgreSQL store.
    pub store: team::StoreConfig,
    /// Where the user part came from (None: defaults only).
    pub path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    general: Option<General>,
    queue: Option<Queue>,
    ui: Option<Ui>,
    keys: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    source: Vec<sources::RawSource>,
    #[serde(default)]
    iac: Vec<iac::RawIac>,
    scoring: Option<scoring::RawScoring>,
    intel: Option<scoring::RawIntel>,
    llm: Option<llm::RawLlm>,
    audit: Option<audit::RawAudit>,
    notify: Option<notify::RawNotify>,
    approvals: Option<notify::RawApprovals>,
    tickets: Option<tickets::RawTickets>,
    vault: Option<vault::RawVault>,
    owners: Option<owners::RawOwners>,
    #[serde(default)]
    route: Vec<owners::RawRoute>,
    #[serde(default)]
    siem: Vec<siem::RawSiem>,
    pr: Option<pr::RawPr>,
    listen: Option<listen::RawListen>,
    store: Option<team::RawStore>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ui {
    theme: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct General {
    analyst: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Queue {
    sort: Option<String>,
    limit: Option<i64>,
    filter: Option<String>,
}

/// Readable by its owner only (no group/other bits). Non-Unix: assumed private.
fn is_private(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o077 == 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

/// Byte offset → 1-based line and column.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn parse_file(text: &str, path: &Path) -> Result<File, ConfigError> {
    toml::from_str::<File>(text).map_err(|e| {
        let msg = e.message().trim().replace('\n', " ");
        let message = match e.span() {
            Some(span) => {
                let (l, c) = line_col(text, span.start);
                format!("line {l}, column {c}: {msg}")
            }
            None => msg,
        };
        ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        }
    })
}

impl Config {
    /// Defaults only.
    pub fn defaults() -> Config {
        // The embedded defaults are tested to parse; fall back to hard values regardless.
        Self::from_text(None, "").unwrap_or(Config {
            analyst: String::new(),
            sort: SortKey::Score,
            limit: 50,
            filter: String::new(),
            sources: Vec::new(),
            theme: "dark".into(),
            keymap: keymap::Keymap::default(),
            iac: IacConfig::default(),
            scoring: Default::default(),
            intel: IntelConfig {
                kev_url: String::new(),
                epss_url: String::new(),
            },
            llm: LlmConfig::default(),
            audit: AuditConfig::default(),
            notify: NotifyConfig::default(),
            approvals: ApprovalsConfig::default(),
            tickets: TicketsConfig::default(),
            vault: None,
            owners: owners::OwnersConfig::default(),
            routes: Vec::new(),
            siem: Vec::new(),
            pr: pr::PrConfig::default(),
            listen: ListenConfig::default(),
            store: team::StoreConfig::default(),
            path: None,
        })
    }

    /// Load `path` over the defaults. A missing file is fine unless `must_exist`.
    pub fn load(path: &Path, must_exist: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_text_private(Some(path), &text, is_private(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                Ok(Self::defaults())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parse user text (from `path`, for messages) over the embedded defaults.
    pub fn from_text(path: Option<&Path>, text: &str) -> Result<Config, ConfigError> {
        Self::from_text_private(path, text, true)
    }

    /// As [`Config::from_text`]; `private` says whether the file is readable by its owner
    /// only (literal secrets are refused otherwise).
    pub fn from_text_private(
        path: Option<&Path>,
        text: &str,
        private: bool,
    ) -> Result<Config, ConfigError> {
        let builtin = Path::new("<built-in defaults>");
        let defaults = parse_file(DEFAULTS, builtin)?;
        let shown = path.unwrap_or(builtin);
        let user = parse_file(text, shown)?;
        let value_err = |key: &str, message: String| ConfigError::Value {
            path: shown.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let dg = defaults.general.unwrap_or_default();
        let dq = defaults.queue.unwrap_or_default();
        let ug = user.general.unwrap_or_default();
        let uq = user.queue.unwrap_or_default();

        let analyst = crate::sanitize::one_line(&ug.analyst.or(dg.analyst).unwrap_or_default());
        let sort_s = uq.sort.or(dq.sort).unwrap_or_else(|| "score".into());
        let sort = SortKey::parse(&sort_s).ok_or_else(|| {
            value_err(
                "[queue] sort",
                format!(
                    "unknown sort '{}'; expected one of {}",
                    crate::sanitize::one_line(&sort_s),
                    SortKey::NAMES.join(", ")
                ),
            )
        })?;
        let limit = uq.limit.or(dq.limit).unwrap_or(50);
        if !(1..=1_000_000).contains(&limit) {
            return Err(value_err(
                "[queue] limit",
                format!("{limit} is out of range 1..=1000000"),
            ));
        }
        // `{ vault = … }` credentials below read through this config's own Vault client.
        let vault = vault::resolve(user.vault, private, shown)
            .map_err(|(key, message)| value_err(&key, message))?;
        let _vault_scope = vault::scope(
            vault
                .clone()
                .map(|v| std::sync::Arc::new(vault::Vault::new(v))),
        );
        let owners = owners::resolve(
            user.owners
                .unwrap_or_default()
                .over(defaults.owners.unwrap_or_default()),
            path,
        )
        .map_err(|(key, message)| value_err(&key, message))?;
        let routes = owners::resolve_routes(user.route)
            .map_err(|(key, message)| value_err(&key, message))?;
        let filter = uq.filter.or(dq.filter).unwrap_or_default();
        if let Err(e) = query::parse(&filter) {
            return Err(value_err("[queue] filter", e.to_string()));
        }
        let sources = sources::resolve(user.source, private, shown)
            .map_err(|(key, message)| value_err(&key, message))?;
        let theme = user
            .ui
            .and_then(|u| u.theme)
            .or(defaults.ui.and_then(|u| u.theme))
            .unwrap_or_else(|| "dark".into());
        if theme.is_empty() || theme.contains(['/', '\\']) || theme.starts_with('.') {
            return Err(value_err(
                "[ui] theme",
                format!(
                    "'{}' is not a theme name",
                    crate::sanitize::one_line(&theme)
                ),
            ));
        }
        let user_keys = user.keys.unwrap_or_default();
        let keymap =
            keymap::Keymap::with_overrides(user_keys.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(|(key, message)| value_err(&key, message))?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let iac = iac::resolve(user.iac, path, home.as_deref())
            .map_err(|(key, message)| value_err(&key, message))?;
        let scoring = scoring::resolve(
            user.scoring.unwrap_or_default(),
            defaults.scoring.unwrap_or_default(),
        )
        .map_err(|(key, message)| value_err(&key, message))?;
        let intel = scoring::resolve_intel(
            user.intel.unwrap_or_default(),
            defaults.intel.unwrap_or_default(),
        )
        .map_err(|(key, message)| value_err(&key, message))?;
        let llm = llm::resolve(
            user.llm
                .unwrap_or_default()
                .over(defaults.llm.unwrap_or_default()),
            private,
            shown,
        )
        .map_err(|(key, message)| value_err(&key, message))?;
        let audit = audit::resolve(user.audit.unwrap_or_default())
            .map_err(|(key, message)| value_err(&key, message))?;
        let notify = notify::resolve(user.notify.unwrap_or_default(), private, shown)
            .map_err(|(key, message)| value_err(&key, message))?;
        let approvals =
            notify::resolve_approvals(user.approvals.unwrap_or_default(), notify.webhooks.len())
                .map_err(|(key, message)| value_err(&key, message))?;
        let tickets = tickets::resolve(user.tickets.unwrap_or_default(), private, shown)
            .map_err(|(key, message)| value_err(&key, message))?;
        let siem = siem::resolve(user.siem, private, shown)
            .map_err(|(key, message)| value_err(&key, message))?;
        let pr = pr::resolve(user.pr.unwrap_or_default(), private, shown)
            .map_err(|(key, message)| value_err(&key, message))?;
        let listen = listen::resolve(user.listen.unwrap_or_default())
            .map_err(|(key, message)| value_err(&key, message))?;
        let store = team::resolve(
            user.store.unwrap_or_default(),
            private,
            path.unwrap_or(Path::new("config")),
        )
        .map_err(|(key, message)| value_err(&key, message))?;
        Ok(Config {
            analyst,
            sort,
            limit: limit as usize,
            filter,
            sources,
            theme,
            keymap,
            iac,
            scoring,
            intel,
            llm,
            audit,
            notify,
            approvals,
            tickets,
            vault,
            owners,
            routes,
            siem,
            pr,
            listen,
            store,
            path: path.map(Path::to_path_buf),
        })
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The actor name for history entries.
    pub fn actor(&self) -> String {
        if !self.analyst.is_empty() {
            return self.analyst.clone();
        }
        std::env::var("USER")
            .ok()
            .map(|u| crate::sanitize::one_line(&u))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "analyst".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_and_template_parse() {
        let d = Config::from_text(None, "").expect("defaults");
        assert_eq!(d.sort, SortKey::Score);
        assert_eq!(d.scoring, crate::triage::score::ScoringConfig::default());
        assert_eq!(d.limit, 50);
        let t = Config::from_text(Some(Path::new("t.toml")), TEMPLATE).expect("template");
        assert_eq!(
            t,
            Config {
                path: Some(PathBuf::from("t.toml")),
                ..d
            }
        );
    }

    #[test]
    fn user_values_override_defaults() {
        let c = Config::from_text(
            Some(Path::new("c.toml")),
            "[queue]\nsort = \"recent\"\nlimit = 10\n",
        )
        .expect("parse");
        assert_eq!(c.sort, SortKey::Recent);
        assert_eq!(c.limit, 10);
    }

    fn err(text: &str) -> String {
        Config::from_text(Some(Path::new("/home/a/.config/sitrep/config.toml")), text)
            .expect_err("must fail")
            .to_string()
    }

    #[test]
    fn golden_errors() {
        assert_eq!(
            err("[queue]\nsortt = \"recent\"\n"),
            "config file /home/a/.config/sitrep/config.toml: line 2, column 1: unknown field `sortt`, expected one of `sort`, `limit`, `filter`"
        );
        assert_eq!(
            err("[queue]\nsort = \"sideways\"\n"),
            "config file /home/a/.config/sitrep/config.toml: [queue] sort: unknown sort 'sideways'; expected one of score, severity, recent, oldest, vendor, title, resource, account, status"
        );
        assert_eq!(
            err("[queue]\nlimit = 0\n"),
            "config file /home/a/.config/sitrep/config.toml: [queue] limit: 0 is out of range 1..=1000000"
        );
        assert_eq!(
            err("[queue]\nlimit = \"ten\"\n"),
            "config file /home/a/.config/sitrep/config.toml: line 2, column 9: invalid type: string \"ten\", expected i64"
        );
        assert_eq!(
            err("[queue\n"),
            "config file /home/a/.config/sitrep/config.toml: line 1, column 7: unclosed table, expected `]`"
        );
        assert_eq!(
            err("[colours]\n"),
            "config file /home/a/.config/sitrep/config.toml: line 1, column 2: unknown field `colours`, expected one of `general`, `queue`, `ui`, `keys`, `source`, `iac`, `scoring`, `intel`, `llm`, `audit`, `notify`, `approvals`, `tickets`, `vault`, `owners`, `route`, `siem`, `pr`, `listen`, `store`"
        );
    }

    #[test]
    fn scoring_weights_and_tag_rules_override_defaults() {
        let c = Config::from_text(
            Some(Path::new("c.toml")),
            "[scoring]\nkev = 30\n[scoring.severity]\ncritical = 35\n[[scoring.tag_rule]]\ntag = \"tier=0\"\npoints = 20\nlabel = \"crown jewel\"\n",
        )
        .expect("parse");
        let d = crate::triage::score::ScoringConfig::default();
        assert_eq!(c.scoring.kev, 30);
        assert_eq!(c.scoring.severity.critical, 35);
        assert_eq!(c.scoring.severity.high, d.severity.high);
        assert_eq!(c.scoring.tag_rules.len(), 1);
        assert_eq!(c.scoring.tag_rules[0].label, "crown jewel");
        assert_ne!(c.scoring.fingerprint(), d.fingerprint());
        assert!(c.intel.kev_url.starts_with("https://www.cisa.gov/"));
    }

    #[test]
    fn bad_scoring_values_get_precise_errors() {
        assert_eq!(
            err("[scoring]\nkev = 500\n"),
            "config file /home/a/.config/sitrep/config.toml: [scoring] kev: 500 is out of range -100..=100"
        );
        assert_eq!(
            err("[scoring.severity]\nhigh = -1\n"),
            "config file /home/a/.config/sitrep/config.toml: [scoring.severity] high: -1 is out of range 0..=100"
        );
        assert_eq!(
            err("[scoring.sla_days]\nlow = 0\n"),
            "config file /home/a/.config/sitrep/config.toml: [scoring.sla_days] low: 0 is out of range 1..=3650"
        );
        assert_eq!(
            err(
                "[[scoring.tag_rule]]\ntag = \"env=prod\"\npoints = 10\nlabel = \"prod\"\n[[scoring.tag_rule]]\ntag = \"=x\"\npoints = 1\nlabel = \"y\"\n"
            ),
            "config file /home/a/.config/sitrep/config.toml: [[scoring.tag_rule]] #2 tag: '=x' is not a tag; write key=value (like env=prod) or key"
        );
        assert_eq!(
            err("[[scoring.tag_rule]]\ntag = \"env=prod\"\npoints = 101\nlabel = \"prod\"\n"),
            "config file /home/a/.config/sitrep/config.toml: [[scoring.tag_rule]] #1 points: 101 is out of range -100..=100"
        );
        assert_eq!(
            err("[intel]\nkev_url = \"http://example.com/kev.json\"\n"),
            "config file /home/a/.config/sitrep/config.toml: [intel] kev_url: 'http://example.com/kev.json' must be an https:// URL (plain http only for loopback)"
        );
        assert!(err("[scoring]\nkevv = 1\n").contains("unknown field `kevv`"));
    }

    #[test]
    fn sources_parse_with_env_credentials_and_defaults() {
        let text = "[[source]]\nname = \"wiz-prod\"\nvendor = \"wiz\"\nbase_url = \"https://api.us1.app.wiz.io/\"\ninterval = \"2m\"\n[source.credentials]\nclient_id = { env = \"WIZ_ID\" }\nclient_secret = { env = \"WIZ_SECRET\" }\n";
        let c = Config::from_text_private(Some(Path::new("c.toml")), text, false).expect("parse");
        let s = c.source("wiz-prod").expect("source");
        assert_eq!(s.base_url, "https://api.us1.app.wiz.io");
        assert_eq!(s.interval, std::time::Duration::from_secs(120));
        assert_eq!(s.max_retries, 5);
        let env = |v: &str| (v == "WIZ_ID").then(|| "abc".to_string());
        assert_eq!(
            s.secret_with("client_id", &env).expect("id").expose(),
            "abc"
        );
        assert_eq!(
            s.secret_with("client_secret", &env).expect_err("unset"),
            "source 'wiz-prod': credential client_secret: environment variable WIZ_SECRET is not set"
        );
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    struct MapKeyring(std::collections::HashMap<String, String>);

    impl crate::config::keyring::KeyringStore for MapKeyring {
        fn get(&self, e: &crate::config::keyring::KeyringEntry) -> Result<Option<Secret>, String> {
            Ok(self.0.get(&e.to_string()).map(Secret::new))
        }
    }

    #[test]
    fn keyring_credentials_parse_resolve_and_fail_without_the_secret() {
        let text = "[[source]]\nname = \"prisma\"\nvendor = \"prisma-cspm\"\nbase_url = \"https://api.prismacloud.io\"\n[source.credentials]\naccess_key = { keyring = \"sitrep/prisma-id\" }\nsecret_key = { keyring = \"sitrep/prisma-key\" }\n";
        // Keyring references are not secrets: a world-readable file may hold them.
        let c = Config::from_text_private(Some(Path::new("c.toml")), text, false).expect("parse");
        let s = c.source("prisma").expect("source");
        assert_eq!(
            s.credential("secret_key").expect("ref").describe(),
            "keyring entry sitrep/prisma-key"
        );
        let ring = MapKeyring(
            [("sitrep/prisma-id".to_string(), " id-1 ".to_string())]
                .into_iter()
                .collect(),
        );
        let no_env = |_: &str| None;
        assert_eq!(
            s.secret_in("access_key", &no_env, &ring)
                .expect("found")
                .expose(),
            "id-1"
        );
        assert_eq!(
            s.secret_in("secret_key", &no_env, &ring)
                .expect_err("missing"),
            "source 'prisma': credential secret_key: keyring entry sitrep/prisma-key not found"
        );
        let bad = text.replace("sitrep/prisma-key", "prisma-key");
        assert_eq!(
            Config::from_text(Some(Path::new("c.toml")), &bad)
                .expect_err("bad entry")
                .to_string(),
            "config file c.toml: [[source]] prisma: credentials.secret_key: keyring entry 'prisma-key' must be SERVICE/USER, e.g. \"sitrep/prisma-key\""
        );
    }

    /// Through the real OS keyring (the kernel keyring on Linux).
    #[test]
    fn keyring_credentials_resolve_from_the_os_keyring() {
        let service = format!("sitrep-cfg-test-{}", std::process::id());
        let text = format!(
            "[[source]]\nname = \"orca\"\nvendor = \"orca\"\nbase_url = \"https://api.orcasecurity.io\"\n[source.credentials]\ntoken = {{ keyring = \"{service}/orca-token\" }}\n"
        );
        let c = Config::from_text(Some(Path::new("c.toml")), &text).expect("parse");
        let s = c.source("orca").expect("source");
        assert_eq!(
            s.secret("token").expect_err("not stored yet"),
            format!(
                "source 'orca': credential token: keyring entry {service}/orca-token not found"
            )
        );
        let entry = crate::config::keyring::KeyringEntry::parse(&format!("{service}/orca-token"))
            .expect("entry");
        crate::config::keyring::store(&entry, &Secret::new("tok-123")).expect("store");
        let got = s.secret("token").map(|t| t.expose().to_string());
        crate::config::keyring::delete(&entry).expect("delete");
        assert_eq!(got.as_deref(), Ok("tok-123"));
    }

    #[test]
    fn a_literal_secret_needs_a_private_file() {
        let text = "[[source]]\nname = \"orca\"\nvendor = \"orca\"\nbase_url = \"https://api.orcasecurity.io\"\n[source.credentials]\ntoken = \"s3cr3t-token\"\n";
        let e = Config::from_text_private(Some(Path::new("/etc/c.toml")), text, false)
            .expect_err("refused")
            .to_string();
        assert_eq!(
            e,
            "config file /etc/c.toml: [[source]] orca: credentials.token: /etc/c.toml holds a secret but is readable by group or others; run chmod 600 on it, or use { env = \"VAR\" } or { keyring = \"SERVICE/USER\" }"
        );
        assert!(!e.contains("s3cr3t"));
        assert!(Config::from_text_private(Some(Path::new("/etc/c.toml")), text, true).is_ok());
    }

    #[test]
    fn bad_sources_get_precise_errors() {
        let base = "[[source]]\nname = \"x\"\nvendor = \"wiz\"\nbase_url = \"https://w\"\n[source.credentials]\nclient_id = { env = \"A\" }\nclient_secret = { env = \"B\" }\n";
        let e = |t: &str| {
            Config::from_text(Some(Path::new("c.toml")), t)
                .expect_err("must fail")
                .to_string()
        };
        assert_eq!(
            e(&base.replace("\"wiz\"", "\"wix\"")),
            "config file c.toml: [[source]] x: vendor: unknown vendor 'wix'; expected one of prisma-cspm, prisma-compute, wiz, lacework, orca, cortex-xdr"
        );
        assert_eq!(
            e(&base.replace("https://w", "http://w.example")),
            "config file c.toml: [[source]] x: base_url: 'http://w.example' must be an https:// URL (plain http only for loopback)"
        );
        assert_eq!(
            e(&base.replace("client_secret = { env = \"B\" }\n", "")),
            "config file c.toml: [[source]] x: credentials: missing 'client_secret' (a wiz source needs client_id, client_secret)"
        );
        assert_eq!(
            e(&base.replace(
                "[source.credentials]",
                "interval = \"soon\"\n[source.credentials]"
            )),
            "config file c.toml: [[source]] x: interval: 'soon' is not a duration (like 90s, 5m, 1h)"
        );
        assert_eq!(
            e(&format!("{base}{}", base)),
            "config file c.toml: [[source]] #2 name: 'x' is used by two sources"
        );
    }

    #[test]
    fn a_missing_file_is_fine_unless_explicit() {
        let p = Path::new("/nonexistent/sitrep/config.toml");
        assert!(Config::load(p, false).is_ok());
        let e = Config::load(p, true)
            .expect_err("explicit file must exist")
            .to_string();
        assert!(
            e.starts_with("cannot read config file /nonexistent/sitrep/config.toml:"),
            "{e}"
        );
    }
}
