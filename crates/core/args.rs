use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tally_model::BillingMonth;

/// Collects HPC accounting records and reports usage to Waldur.
#[derive(Parser, Debug)]
#[command(name = "tally", version, about, propagate_version = true)]
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
    Collect(CollectArgs),
    /// Every job (or amount row) behind a resource's figures in one month, with their exact sums,
    /// the rounding, and what was not counted and why.
    Explain(crate::explain::ExplainArgs),
    /// What the ledger recorded for a resource: every request sent (when, by which run, the
    /// amounts, what Waldur held before, the outcome and message) and the last check.
    History(crate::history::HistoryArgs),
    /// Report the collected usage to Waldur: send what differs from what it holds (exit 4 when
    /// some cells were not delivered).
    Push(crate::push::PushArgs),
    /// Compare the collected usage with what Waldur holds (exit 5 on any difference).
    Check(crate::check::CheckArgs),
    /// The nightly job: push the current month (and the previous one in its first days), then
    /// check; one lock so two runs never overlap (exit 7 when another run holds it).
    Run(crate::nightly::RunArgs),
    /// Where every allocation stands: each resource's limits and the components' caps, the
    /// usage of the period (records and what Waldur holds), the share used and when the limit
    /// is reached at the current month's rate (`--fail-at 100%`: exit 8 when any is over).
    Limits(crate::limits::LimitsArgs),
    /// Start the embedded sandbox with a world, run collect -> push -> check against it and
    /// compare what the server ends up holding with an expected file (CI fixture replays).
    Replay(crate::replay::ReplayArgs),
    /// Run the embedded Waldur-compatible sandbox server (loopback only by default).
    Sandbox(crate::sandbox::SandboxArgs),
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
    Completions(crate::manual::CompletionsArgs),
    /// Print the man page (roff).
    Man,
    /// Check everything the nightly run depends on, one line each: config, token file and
    /// token, the offering and its components, the sources and the month's accounts, the
    /// clocks, the ledger and the lock (exit 9 when a check fails).
    Doctor(crate::doctor::DoctorArgs),
    /// Write a commented starter tally.toml from the offering's components (and, with --sacct,
    /// the clusters and TRES sacctmgr lists); never overwrites a file.
    Init(crate::init::InitArgs),
}

/// What every command that computes usage needs.
#[derive(Args, Debug, Clone)]
pub struct CollectionArgs {
    /// The configuration file.
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// First billing month (YYYY-MM), inclusive. Default: the current month.
    #[arg(long)]
    pub from: Option<BillingMonth>,
    /// Last billing month (YYYY-MM), inclusive. Default: --from, or the current month.
    #[arg(long)]
    pub to: Option<BillingMonth>,
    /// Count usage up to this instant (RFC 3339); running jobs run until then. Default: now.
    #[arg(long)]
    pub as_of: Option<DateTime<Utc>>,
    /// Fail (exit 3) when any input line is invalid or any account maps to no resource.
    #[arg(long)]
    pub strict: bool,
}

impl CollectionArgs {
    pub fn months(&self) -> tally_pipeline::run::Months {
        tally_pipeline::run::Months {
            from: self.from,
            to: self.to,
            as_of: self.as_of,
        }
    }
}

#[derive(Args, Debug)]
pub struct CollectArgs {
    #[command(flatten)]
    pub collection: CollectionArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// `plan-period`: read each resource's plan periods from Waldur (the config's `[waldur]`)
    /// and show the cells of a month in which the plan changed as one part per plan period,
    /// the figures `push` sends to a server that keeps a row per plan period.
    #[arg(long, value_enum, default_value_t = CollectBy::Month)]
    pub by: CollectBy,
}

/// How `collect` keys its cells.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CollectBy {
    /// Resource, billing month, component (no Waldur needed).
    Month,
    /// Also by plan period where a resource's plan changed inside the month.
    PlanPeriod,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
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
