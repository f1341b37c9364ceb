//! The command line: clap definitions and the headless commands.
//!
//! Data goes to stdout, diagnostics to stderr. Errors are one line; exit codes are 0 ok,
//! 1 runtime error, 2 usage / config / input error.

mod ask;
mod audit;
mod claims;
mod commands;
mod compliance;
mod console;
mod decisions;
mod env;
mod import;
mod listen;
mod listing;
mod pr;
pub mod render;
mod report;
pub mod sarif;
mod source;
mod store_cmd;
mod team;
mod triage;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::Vendor;

pub use commands::run;
pub use env::{CliError, Env};

#[derive(Debug, Parser)]
#[command(
    name = "sitrep",
    version,
    about = "A terminal triage console for cloud-security alerts",
    long_about = "sitrep keeps one prioritized queue of findings from Prisma Cloud (CSPM and Compute), \
Wiz, Lacework, Orca and Cortex XDR in a local SQLite cache. Run `sitrep` alone for the console \
(keys: ? for help), `sitrep demo` to try it on six simulated tenants, or the headless commands \
below from scripts.",
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
    /// The console browses and narrates only: decisions, claims and notes are refused
    #[arg(long)]
    pub readonly: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The console on six simulated vendor tenants: no config, no network (loopback only)
    Demo(DemoArgs),
    /// Import saved vendor API responses (list bodies or single items) into the cache
    Import(ImportArgs),
    /// List the queue (active alerts, highest priority score first)
    List(ListArgs),
    /// Show one alert in full
    Show(ShowArgs),
    /// Export alerts as JSON, CSV, Markdown or SARIF 2.1.0
    Export(ExportArgs),
    /// Explain one alert: the AI narrative ([llm] in the config) or the offline narrator
    Narrate(NarrateArgs),
    /// Ask the queue in plain words: prints the filter it means (--run: and the alerts)
    Ask(ask::AskArgs),
    /// Fetch what changed from the configured vendor APIs ([[source]] tables)
    Sync(SyncArgs),
    /// Receive vendor alert webhooks ([listen] and each source's webhook_secret), in the foreground
    Listen(listen::ListenArgs),
    /// The configured sources: sync state, or a read-only probe of a new tenant
    #[command(subcommand)]
    Source(SourceCommand),
    /// Run a vendor API simulator on 127.0.0.1 (prints its connection details, then serves)
    Sim(SimArgs),
    /// Create or check the config file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exploit intelligence (CISA KEV, FIRST EPSS): load, fetch, show status
    #[command(subcommand)]
    Intel(IntelCommand),
    /// Mute rules: alerts they match leave the queue until the rule expires or is removed
    #[command(subcommand)]
    Suppress(SuppressCommand),
    /// Set the status of alerts (the console's decisions, headless), written back to vendors
    Mark(decisions::MarkArgs),
    /// Add a note to alerts (written back as a comment where the vendor takes one)
    Note(decisions::NoteArgs),
    /// Approve an alert's remediation diff (four-eyes: the first approval is a request)
    Approve(decisions::ApproveArgs),
    /// Reject an alert's remediation diff, with a note
    Reject(decisions::RejectArgs),
    /// Open a Jira or ServiceNow ticket for alerts (or link the existing one for the resource)
    Ticket(decisions::TicketArgs),
    /// Send alerts to the configured Slack / Teams channels and webhooks
    Notify(decisions::NotifyArgs),
    /// Push an approved fix and open its pull / merge request (GitHub, GitLab); --list shows them
    Pr(pr::PrArgs),
    /// Take an alert on the team store (others see who holds it), or --list the claims
    Claim(claims::ClaimArgs),
    /// Give back an alert you claimed on the team store
    Release(claims::ReleaseArgs),
    /// Claim the highest-scoring open alert nobody holds (team store); exit 3 when none is left
    Next(claims::NextArgs),
    /// Deliveries owed to vendors, ticket systems and chat: list, deliver, retry, drop
    #[command(subcommand)]
    Outbox(decisions::OutboxCommand),
    /// The shift hand-off (triaged, awaiting approval, tickets, hot alerts, outbox), or with
    /// --compliance FRAMEWORK the evidence for an auditor (Markdown or HTML)
    Report(report::ReportArgs),
    /// The tamper-evident audit log: verify the chain, export the entries
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Team mode: decisions that met someone else's change (conflicts), and settling them
    #[command(subcommand)]
    Team(TeamCommand),
    /// Print a shell completion script: bash, zsh, fish or powershell (docs/cli.md)
    Completions(CompletionsArgs),
    /// The team store (PostgreSQL): migrate its schema, show its status, copy a cache into it
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Decisions not applied because someone else changed the alert first, and how many
    /// wait to be sent (the team store was unreachable)
    Conflicts,
    /// Settle conflict N: send your decision again on the alert's current state, or drop it
    #[command(group(clap::ArgGroup::new("choice").required(true).args(["keep_mine", "discard"])))]
    Resolve {
        /// The conflict's number (`sitrep team conflicts`)
        #[arg(value_name = "N")]
        id: i64,
        /// Apply your decision over what the other analyst did
        #[arg(long)]
        keep_mine: bool,
        /// Drop your decision; the team's state stays
        #[arg(long)]
        discard: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry's MAC and the chain against the head file; exit 1 naming the first
    /// bad entry, or print the entry count and the head (record it elsewhere as an anchor)
    Verify,
    /// Write the entries (sanitized, with their MACs) and the head to stdout
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: AuditFormat,
        /// Only entries from this seq on (inclusive)
        #[arg(long, value_name = "SEQ")]
        since: Option<i64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum IntelCommand {
    /// Load a saved KEV catalog (JSON) and/or EPSS scores (CSV, plain or .gz), then rescore
    Import {
        /// CISA KEV catalog JSON (known_exploited_vulnerabilities.json)
        #[arg(long, value_name = "FILE")]
        kev: Option<PathBuf>,
        /// FIRST EPSS CSV (epss_scores-YYYY-MM-DD.csv or .csv.gz)
        #[arg(long, value_name = "FILE")]
        epss: Option<PathBuf>,
    },
    /// Fetch both feeds from the [intel] URLs in the config, then rescore
    Update,
    /// Show which feeds are loaded, their dates and sizes
    Status,
}

#[derive(Debug, Subcommand)]
pub enum SuppressCommand {
    /// Add a mute rule (one of --policy, --resource, --account, --tag, --vendor, --filter)
    Add(SuppressArgs),
    /// List the rules (expired ones too: they explain resurfaced alerts)
    List {
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Remove a rule; its alerts come back to the queue
    Remove {
        /// The rule's number (#N in `sitrep suppress list`)
        id: i64,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["policy", "resource", "account", "tag", "vendor", "filter"])))]
pub struct SuppressArgs {
    /// Policy id or name (matched as `policy:` in the filter language: a substring, any case)
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
    /// Resource id or name (matched as `resource:` in the filter language)
    #[arg(long, value_name = "RESOURCE")]
    pub resource: Option<String>,
    /// Cloud account / subscription / project
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// A tag, key=value or key
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// A vendor (wiz, prisma-cspm, …)
    #[arg(long, value_name = "VENDOR")]
    pub vendor: Option<String>,
    /// Any filter expression, e.g. 'vendor:orca sev:low account:123'
    #[arg(long, value_name = "QUERY")]
    pub filter: Option<String>,
    /// Why (shown when the alerts resurface)
    #[arg(long, required = true)]
    pub reason: String,
    /// Expiry: a duration (30d, 12h, 2w) or a date (2026-12-31)
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Findings each simulated vendor serves
    #[arg(long, default_value_t = 300)]
    pub alerts: usize,
    /// Seed of the simulated world (same seed, same alerts)
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// How often each source refreshes in the background
    #[arg(long, default_value = "20s")]
    pub interval: String,
    /// Seconds between changes in the simulated tenants (new and changed alerts)
    #[arg(long, default_value_t = 30)]
    pub churn: u64,
    /// Run the demo on a team store: migrate it, publish the demo's alerts to it, and open the
    /// console in team mode (a second `demo --team` on the same URL joins the same queue)
    #[arg(long, value_name = "POSTGRES_URL")]
    pub team: Option<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only this source (by name); repeat for several
    #[arg(long, value_name = "NAME")]
    pub source: Vec<String>,
    /// Ignore the watermarks and fetch everything
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Each source's last run, last success, last full run, watermark and refused filters
    Status {
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Probe a source read-only: log in, read one page, try each incremental filter; write-back
    /// kinds are reported, never tried. Exit 0 when reading works, 1 otherwise
    Check {
        /// The source to check (default: every configured source)
        name: Option<String>,
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Which vendor API to simulate
    #[arg(
        long,
        value_enum,
        required_unless_present = "destination",
        conflicts_with = "destination"
    )]
    pub vendor: Option<VendorArg>,
    /// Or a destination of decisions: jira (Cloud), jira-data-center, servicenow, chat
    /// (Slack, Teams and a signed-webhook receiver), or hec (Splunk, for [[siem]]); prints a
    /// ready config table
    #[arg(long, value_enum)]
    pub destination: Option<DestinationArg>,
    /// Port on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Findings to serve
    #[arg(long, default_value_t = 500)]
    pub alerts: usize,
    /// Seed of the generated world (same seed, same alerts)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Faults, e.g. 'standard' or '429@3,expire@8,5xx@14x3,truncate@6,latency=20ms'
    #[arg(long, default_value = "none", value_name = "SPEC")]
    pub faults: String,
    /// Every this many seconds, change 2% of the alerts and add a few (Compute: and fix a few) (0: never)
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub churn: u64,
    /// Name of the source in the printed [[source]] table
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Serve HTTPS with a certificate made at start; its CA's PEM is in the printed `ca_pem`
    #[arg(long, requires = "vendor")]
    pub tls: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DestinationArg {
    Jira,
    JiraDataCenter,
    Servicenow,
    Chat,
    /// A Splunk HTTP Event Collector (indexer acknowledgement on), for `[[siem]]`
    Hec,
}

/// `--vendor` takes the vendors' own names (`Vendor::as_str`), so the list of choices is the
/// domain's and a new vendor needs nothing here.
pub type VendorArg = Vendor;

impl ValueEnum for Vendor {
    fn value_variants<'a>() -> &'a [Self] {
        &Vendor::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
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
    /// Order: score (default), severity, recent, oldest, vendor, title, resource, account, status
    #[arg(long, value_name = "FIELD")]
    pub sort: Option<String>,
    /// One row per correlated resource group (attack paths ranked as a whole)
    #[arg(long)]
    pub groups: bool,
    /// Include resolved, dismissed and snoozed alerts
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Team mode: read the team store itself instead of this analyst's replica (for scripts,
    /// and before a replica is filled); local suppressions do not apply (docs/team.md)
    #[arg(long)]
    pub direct: bool,
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
    /// Print the proposed remediation instead: a diff against a mapped IaC checkout
    /// ([[iac]] in the config), or labelled standalone snippets and CLI commands
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
pub struct NarrateArgs {
    /// The alert id (`<source>:<native id>`); a unique prefix or native id also works
    pub id: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ShowFormat,
    /// Use the offline narrator even when a provider is configured
    #[arg(long)]
    pub offline: bool,
    /// Ask the model again even when a cached narrative exists
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
    Markdown,
    /// SARIF 2.1.0: one run per vendor, rules from policies (docs/cli.md)
    Sarif,
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
    /// Validate the config file, print where sitrep's files live and whether each source's
    /// credentials can be found (never their values)
    Check,
    /// Store a secret in the OS keyring, read from stdin (not echoed on a terminal); refer to
    /// it in config.toml as `{ keyring = "SERVICE/USER" }`
    SetSecret {
        /// The keyring entry, e.g. sitrep/prisma-key
        #[arg(value_name = "SERVICE/USER")]
        entry: String,
    },
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
