//! The command line: clap definitions and the headless commands.
//!
//! Data goes to stdout, diagnostics to stderr. Errors are one line; exit codes are 0 ok,
//! 1 runtime error, 2 usage / config / input error.

mod commands;
mod render;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::Vendor;

pub use commands::{CliError, Env, run};

#[derive(Debug, Parser)]
#[command(
    name = "sitrep",
    version,
    about = "A terminal triage console for cloud-security alerts",
    long_about = "sitrep keeps one prioritized queue of findings from Prisma Cloud (CSPM and Compute), \
Wiz, Lacework, Orca and Cortex XDR in a local SQLite cache, and serves it to scripts through \
headless commands.",
    after_help = "Files: the database lives in the data directory (e.g. ~/.local/share/sitrep/sitrep.db) \
and the config in ~/.config/sitrep/config.toml unless --db / --config (or SITREP_DB / SITREP_CONFIG) \
say otherwise."
)]
pub struct Cli {
    /// The SQLite database to use
    #[arg(long, global = true, env = "SITREP_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// The config file to use
    #[arg(long, global = true, env = "SITREP_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import saved vendor API responses (list bodies or single items) into the cache
    Import(ImportArgs),
    /// List the queue (active alerts, highest severity first)
    List(ListArgs),
    /// Show one alert in full
    Show(ShowArgs),
    /// Export alerts as JSON, CSV or Markdown
    Export(ExportArgs),
    /// Create or check the config file
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VendorArg {
    PrismaCspm,
    PrismaCompute,
    Wiz,
    Lacework,
    Orca,
    CortexXdr,
}

impl From<VendorArg> for Vendor {
    fn from(v: VendorArg) -> Vendor {
        match v {
            VendorArg::PrismaCspm => Vendor::PrismaCspm,
            VendorArg::PrismaCompute => Vendor::PrismaCompute,
            VendorArg::Wiz => Vendor::Wiz,
            VendorArg::Lacework => Vendor::Lacework,
            VendorArg::Orca => Vendor::Orca,
            VendorArg::CortexXdr => Vendor::CortexXdr,
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Which vendor's API produced the files
    #[arg(long, value_enum)]
    pub vendor: VendorArg,
    /// Source name recorded on the alerts (default: the vendor's name)
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// JSON files, each a list response body or a single alert/issue/incident object
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Filter in the filter language, e.g. 'sev:>=high vendor:wiz -status:acknowledged'
    #[arg(long, short = 'f', value_name = "QUERY")]
    pub filter: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// At most N rows (default: [queue] limit from the config, 50)
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
    /// Order: severity, recent, oldest, vendor, title, resource, account, status
    #[arg(long, value_name = "FIELD")]
    pub sort: Option<String>,
    /// Include resolved, dismissed and snoozed alerts
    #[arg(long, short = 'a')]
    pub all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The alert id (`<source>:<native id>`); a unique prefix or native id also works
    pub id: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ShowFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
    Markdown,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Filter in the filter language
    #[arg(long, short = 'f', value_name = "QUERY")]
    pub filter: Option<String>,
    /// Only the active queue (default: every alert, whatever its status)
    #[arg(long)]
    pub active: bool,
    /// Write to FILE instead of stdout (written to a temporary file, then renamed)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented config template (refuses to overwrite without --force)
    Init {
        #[arg(long)]
        force: bool,
    },
    /// Validate the config file and print where sitrep's files live
    Check,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
