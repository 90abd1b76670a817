//! `tally explain`: every job (or amount row) behind one resource's figures in one month.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use tally_config::Config;
use tally_model::BillingMonth;
use tally_pipeline::ExplainQuery;

use crate::args::OutputFormat;
use crate::exit::Exit;
use crate::output;

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

pub fn run(args: &ExplainArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let window = tally_pipeline::window(&config, Some(args.month), Some(args.month), args.as_of)?;
    let query = ExplainQuery {
        resource: args.resource.clone(),
        month: args.month,
        component: args.component.clone(),
        user: args.user.clone(),
    };
    let (collection, mut explanation) = tally_pipeline::explain(&config, &window, &query)?;
    if explanation.cells.is_empty() {
        tracing::warn!(
            resource = %args.resource,
            month = %args.month,
            "no usage maps to this resource in this month (collect prints no cell for it)"
        );
    }
    if let Some(n) = args.top {
        explanation.keep_top(n);
    }
    output::print_explanation(&explanation, args.format)?;
    tally_pipeline::run::log_collection(&collection);
    Ok(Exit::Ok)
}
