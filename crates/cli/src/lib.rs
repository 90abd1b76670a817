//! The command line of `tally`: every subcommand, flag and help text, as clap definitions.
//!
//! Only definitions live here, as uv keeps `uv-cli` apart from the binary: the binary
//! (`crates/core`) parses with them, calls the libraries and prints. Keeping them apart lets the
//! command line be read (and its help reviewed) in one place, without the wiring beside it, and
//! keeps what a command does out of the file that says what it accepts.

pub mod ops;
pub mod site;
pub mod usage;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Collects HPC accounting records and reports usage to Waldur.
#[derive(Parser, Debug)]
// `about` spelled out: clap would take this crate's description. The version is the
// workspace's, which this crate and `tally` share (`version.workspace = true`).
#[command(
    name = "tally",
    version = env!("CARGO_PKG_VERSION"),
    about = "Collects HPC accounting records and reports usage to Waldur",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    /// More log detail (-v, -vv, -vvv). TALLY_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read the accounting records and print the usage per resource, month and component.
    Collect(usage::CollectArgs),
    /// Every job (or amount row) behind a resource's figures in one month, with their exact sums,
    /// the rounding, and what was not counted and why.
    Explain(crate::usage::ExplainArgs),
    /// What the ledger recorded for a resource: every request sent (when, by which run, the
    /// amounts, what Waldur held before, the outcome and message) and the last check.
    History(crate::usage::HistoryArgs),
    /// Report the collected usage to Waldur: send what differs from what it holds (exit 4 when
    /// some cells were not delivered).
    Push(crate::usage::PushArgs),
    /// Compare the collected usage with what Waldur holds (exit 5 on any difference).
    Check(crate::usage::CheckArgs),
    /// The nightly job: push the current month (and the previous one in its first days), then
    /// check; one lock so two runs never overlap (exit 7 when another run holds it).
    Run(crate::usage::RunArgs),
    /// Where every allocation stands: each resource's limits and the components' caps, the
    /// usage of the period (records and what Waldur holds), the share used and when the limit
    /// is reached at the current month's rate (`--fail-at 100%`: exit 8 when any is over).
    Limits(crate::usage::LimitsArgs),
    /// Start the embedded sandbox with a world, run collect -> push -> check against it and
    /// compare what the server ends up holding with an expected file (CI fixture replays).
    Replay(crate::usage::ReplayArgs),
    /// Run the embedded Waldur-compatible sandbox server (loopback only by default).
    Sandbox(crate::site::SandboxArgs),
    /// Provider operations on orders: list, approve, reject, cancel.
    #[command(subcommand)]
    Orders(crate::ops::orders::OrdersCommand),
    /// Provider operations on resources (allocations): list, show, set-backend-id, report, team,
    /// plan-periods, set-state.
    #[command(subcommand)]
    Resources(crate::ops::resources::ResourcesCommand),
    /// Offering users (a user's local username on an offering): create, list.
    #[command(subcommand)]
    OfferingUsers(crate::ops::offering_users::OfferingUsersCommand),
    /// The service provider of the organisation: show, set-username, users, keys, projects,
    /// permissions.
    #[command(subcommand)]
    Provider(crate::ops::provider::ProviderCommand),
    /// Waldur users visible to the token.
    #[command(subcommand)]
    Users(crate::ops::lists::ListOnly<crate::ops::lists::Users>),
    /// SSH keys visible to the token.
    #[command(subcommand)]
    Keys(crate::ops::lists::ListOnly<crate::ops::lists::Keys>),
    /// Offerings with their components and billing types.
    #[command(subcommand)]
    Offerings(crate::ops::offerings::OfferingsCommand),
    /// Component usages stored in Waldur for a resource.
    #[command(subcommand)]
    Usage(crate::ops::lists::ListOnly<crate::ops::lists::Usages>),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(crate::site::CompletionsArgs),
    /// Print the man page (roff).
    Man,
    /// Check everything the nightly run depends on, one line each: config, token file and
    /// token, the offering and its components, the sources and the month's accounts, the
    /// clocks, the ledger and the lock (exit 9 when a check fails).
    Doctor(crate::site::DoctorArgs),
    /// Write a commented starter tally.toml from the offering's components (and, with --sacct,
    /// the clusters and TRES sacctmgr lists); never overwrites a file.
    Init(crate::site::InitArgs),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks the definitions (unique ids, valid defaults) only when a command is parsed:
    /// this test checks every subcommand at once.
    #[test]
    fn the_command_line_definitions_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
