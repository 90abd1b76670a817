//! `tally history`: what the ledger recorded for a resource (every request, the last check).

use std::path::PathBuf;

use clap::Args;
use tally_config::Config;
use tally_model::BillingMonth;

use crate::check::CheckFormat;
use crate::exit::Exit;
use crate::output;

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

pub fn run(args: &HistoryArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let history = tally_pipeline::history::history(&config, &args.resource, args.month)?;
    output::print_history(&history, args.format)?;
    Ok(Exit::Ok)
}
