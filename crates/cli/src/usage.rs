//! The commands that compute usage and report it: collect, explain, history, push, check, run,
//! limits, replay.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use rust_decimal::Decimal;
use tally_model::BillingMonth;

use crate::{CheckFormat, OutputFormat};

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

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The configuration file.
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// The Waldur resource's backend_id (what the accounts map to).
    pub resource: String,
    /// The billing month (YYYY-MM).
    pub month: BillingMonth,
    /// Only this component (the Waldur offering component type).
    #[arg(long)]
    pub component: Option<String>,
    /// Only this local user's rows; the totals are then the user's share as collect splits it.
    #[arg(long)]
    pub user: Option<String>,
    /// Count usage up to this instant (RFC 3339), as collect does. Default: now.
    #[arg(long)]
    pub as_of: Option<DateTime<Utc>>,
    /// Output format on stdout (the JSON shape is documented in docs/explain.md).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Only the N rows that contribute most (the totals still cover every row).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// The configuration file (its [waldur] ledger is read, never written).
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// The Waldur resource's backend_id.
    pub resource: String,
    /// Only this billing month (YYYY-MM). Default: every month.
    pub month: Option<BillingMonth>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    pub collection: CollectionArgs,
    /// Print the exact request bodies and send nothing (Waldur is still read: the plan needs
    /// what it holds). The ledger is not touched.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply decreases larger than `[push] max_decrease_percent` (default 5 %) of what Waldur
    /// holds, including cells set to 0.00 because tally computes nothing for them any more.
    /// Without it they are held back and the push exits 4.
    #[arg(long)]
    pub allow_decrease: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How tally treats the server's clock and version.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// Send past months even when the server does not say it is Waldur 8.0 or later. Servers
    /// before 8.0 ignore `date` and would overwrite the current month; every past-month report
    /// is still read back and the current month restored if that happens.
    #[arg(long)]
    pub assume_date_support: bool,
    /// The instant (RFC 3339) tally takes as the server's "now": it decides which month is the
    /// current one (sent without `date`). Default: this machine's clock. For replays and tests.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub collection: CollectionArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// For this many days into a month the previous month is pushed and checked too (0: never).
    /// Waldur 8 refuses late reports of usage-billed components to providers, so these runs
    /// mostly confirm that the previous month is complete, and say so (exit 4) when it is not.
    /// Overrides `[run] previous_month_days` of the config (default 3).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=28))]
    pub previous_month_days: Option<u32>,
    /// Send nothing (exit 3) when any input line is invalid or any account maps to no resource.
    #[arg(long)]
    pub strict: bool,
    /// Output format of the check on stdout.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// Apply decreases larger than `[push] max_decrease_percent` (see `tally push --help`).
    #[arg(long)]
    pub allow_decrease: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug)]
pub struct LimitsArgs {
    /// The configuration file.
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// Count usage up to this instant (RFC 3339); it also decides the current month and period
    /// and the rate the projection uses. Default: now.
    #[arg(long)]
    pub as_of: Option<DateTime<Utc>>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Only this resource (backend_id, uuid or name).
    #[arg(long)]
    pub resource: Option<String>,
    /// Exit 8 when any limit is used at or above this share (e.g. `100%`, `90`).
    #[arg(long, value_parser = tally_config::parse_percent)]
    pub fail_at: Option<Decimal>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The configuration file (its [waldur] url and token_file are ignored: the replay talks to
    /// the in-process sandbox; offering_uuid must name an offering of the world).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// The sandbox world (TOML, see docs/sandbox.md).
    #[arg(long)]
    pub world: PathBuf,
    /// The expected end state (JSON); written by --update.
    #[arg(long)]
    pub expect: PathBuf,
    /// The server clock at the end of the replay (RFC 3339); also the collection's as-of.
    /// Default: now.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    /// First month to replay (default: 24 months before --now).
    #[arg(long)]
    pub from: Option<BillingMonth>,
    /// Last month to replay (default: the month of --now).
    #[arg(long)]
    pub to: Option<BillingMonth>,
    /// Write the expected file from this replay instead of comparing with it.
    #[arg(long)]
    pub update: bool,
    /// The world user whose token tally uses (default: the first owner of the offering's
    /// organisation, i.e. the provider).
    #[arg(long)]
    pub token_user: Option<String>,
    /// Output format of the check on stdout.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}
