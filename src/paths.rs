//! Every file and directory sitrep uses, resolved in one place.
//!
//! Defaults come from `directories::ProjectDirs` (XDG on Linux: `$XDG_DATA_HOME/sitrep`,
//! `$XDG_CONFIG_HOME/sitrep`, `$XDG_CACHE_HOME/sitrep`); `--db`/`SITREP_DB` and
//! `--config`/`SITREP_CONFIG` override the two files tests and scripts care about.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The SQLite cache.
    pub db: PathBuf,
    /// The user's config file (may not exist: defaults apply).
    pub config: PathBuf,
    /// Whether `config` was given explicitly (then it must exist).
    pub config_explicit: bool,
    pub data_dir: PathBuf,
    pub config_dir: PathBuf,
    pub cache_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot determine a home directory for sitrep's files; set HOME, or pass --db and --config"
)]
pub struct NoHome;

impl Paths {
    /// Resolve from the flags (which clap already filled from `SITREP_DB`/`SITREP_CONFIG`).
    pub fn resolve(db: Option<PathBuf>, config: Option<PathBuf>) -> Result<Paths, NoHome> {
        let dirs = directories::ProjectDirs::from("", "", "sitrep");
        let (data_dir, config_dir, cache_dir) = match &dirs {
            Some(d) => (
                d.data_dir().to_path_buf(),
                d.config_dir().to_path_buf(),
                d.cache_dir().to_path_buf(),
            ),
            None => {
                // Without a home, everything must be explicit.
                let (Some(db), Some(cfg)) = (&db, &config) else {
                    return Err(NoHome);
                };
                let base = db.parent().map(PathBuf::from).unwrap_or_default();
                let cfg_dir = cfg.parent().map(PathBuf::from).unwrap_or_default();
                (base.clone(), cfg_dir, base)
            }
        };
        let config_explicit = config.is_some();
        Ok(Paths {
            db: db.unwrap_or_else(|| data_dir.join("sitrep.db")),
            config: config.unwrap_or_else(|| config_dir.join("config.toml")),
            config_explicit,
            data_dir,
            config_dir,
            cache_dir,
        })
    }
}
