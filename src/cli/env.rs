//! What every command shares: the error type and exit codes, the outside world a command
//! sees (`Env`), atomic and owner-only file writes, and the async runtime. The command modules
//! (`commands`, `decisions`, `report`, `triage`, `audit`, `console`) import these from here, so
//! `commands.rs` only calls into them and nothing calls back.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::domain::EpochMs;
use crate::sanitize;
use crate::sources;

/// A command failure: one line for stderr and the process exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    /// Bad input, usage or config: exit 2.
    pub fn input(message: impl Into<String>) -> CliError {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// Something failed at run time: exit 1.
    pub fn runtime(message: impl Into<String>) -> CliError {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
}

/// A team-store failure as a command failure, the same in every command: what the analyst
/// asked wrongly (a bad URL, an unknown alert, an invalid request) is exit 2, the rest 1.
impl From<crate::store::team::TeamError> for CliError {
    fn from(e: crate::store::team::TeamError) -> CliError {
        use crate::store::team::TeamError as E;
        match e {
            E::Url(_) | E::NotFound(_) | E::Invalid(_) => CliError::input(e.to_string()),
            other => CliError::runtime(other.to_string()),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Messages may quote user input or vendor text: keep them one clean line.
        f.write_str(&sanitize::one_line(&self.message))
    }
}

/// What a command needs from the outside world.
pub struct Env<'a> {
    pub now_ms: EpochMs,
    pub out: &'a mut dyn Write,
    /// Terminal width when stdout is a terminal (the table fits it), else None.
    pub width: Option<usize>,
}

impl Env<'_> {
    /// The real environment: clock (or `SITREP_NOW` for reproducible runs), stdout.
    pub fn now_from_env() -> Result<EpochMs, CliError> {
        match std::env::var("SITREP_NOW") {
            Ok(v) => sources::json::parse_time(&v)
                .ok_or_else(|| CliError::input(format!("SITREP_NOW: cannot read '{v}' as a time"))),
            Err(_) => Ok(chrono::Utc::now().timestamp_millis()),
        }
    }

    pub fn terminal_width() -> Option<usize> {
        if !std::io::stdout().is_terminal() {
            return std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
        }
        ratatui::crossterm::terminal::size()
            .ok()
            .map(|(w, _)| w as usize)
    }
}

/// A failed write to the output; a closed pipe (`| head`) ends the command quietly.
pub(crate) fn io_err(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // The reader went away (`| head`): not an error worth a message.
        CliError {
            code: 0,
            message: String::new(),
        }
    } else {
        CliError::runtime(format!("cannot write output: {e}"))
    }
}

/// Write through a temporary file in the same directory, renamed into place at the end, so
/// a failed export (full disk, Ctrl-C) never leaves a half-written file behind.
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    pub(crate) file: std::io::BufWriter<std::fs::File>,
}

impl AtomicFile {
    pub(crate) fn create(dest: &Path) -> Result<AtomicFile, CliError> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "export".into());
        let tmp = dest.with_file_name(format!(".{name}.sitrep-tmp-{}", std::process::id()));
        let file = std::fs::File::create(&tmp)
            .map_err(|e| CliError::runtime(format!("cannot create {}: {e}", tmp.display())))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: std::io::BufWriter::new(file),
        })
    }

    pub(crate) fn commit(self) -> Result<(), CliError> {
        let AtomicFile { tmp, dest, file } = self;
        let result = file
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|_| std::fs::rename(&tmp, &dest));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(CliError::runtime(format!(
                "cannot write {}: {e}",
                dest.display()
            )));
        }
        Ok(())
    }

    pub(crate) fn abort(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Create a file readable only by its owner (it may later hold secrets).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))
}

/// The configured sources' names, for messages that say which exist.
pub(super) fn configured(config: &crate::config::Config) -> String {
    config
        .sources
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Open (or create) the store at the configured path.
pub(super) fn open_store(paths: &crate::paths::Paths) -> Result<crate::store::Store, CliError> {
    crate::store::Store::open(&paths.db).map_err(|e| CliError::runtime(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::team::TeamError;

    #[test]
    fn team_failures_exit_the_same_way_from_every_command() {
        let code = |e: TeamError| CliError::from(e).code;
        assert_eq!(code(TeamError::NotFound("prisma:1".into())), 2);
        assert_eq!(code(TeamError::Invalid("a claim needs a name".into())), 2);
        assert_eq!(code(TeamError::Url("sslmode=maybe".into())), 2);
        assert_eq!(code(TeamError::Sql("deadlock".into())), 1);
        assert_eq!(code(TeamError::ReadOnly("alerts".into())), 1);
        let unreachable = TeamError::Connect {
            target: "alice@db:5432/soc".into(),
            detail: "Connection refused".into(),
        };
        let e = CliError::from(unreachable);
        assert_eq!(e.code, 1);
        assert_eq!(
            e.message,
            "team store alice@db:5432/soc: Connection refused"
        );
    }
}
