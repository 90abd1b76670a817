//! `tally limits`: where every allocation stands against its limits; `--fail-at` turns an
//! allocation at or above a share into exit code 8 for alerting. The standings are
//! `tally_pipeline::limits::standings`; this parses, calls and prints.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use rust_decimal::Decimal;
use tally_config::Config;

use crate::args::OutputFormat;
use crate::exit::Exit;

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

pub fn run(args: &LimitsArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let as_of = args.as_of.unwrap_or_else(Utc::now);
    let standings = tally_pipeline::limits::standings_at(
        &config,
        as_of,
        args.resource.as_deref(),
        &crate::push::runtime()?,
    )?;
    crate::output::print_limits(&standings, args.format)?;
    let over = args
        .fail_at
        .map(|fail_at| tally_pipeline::limits::fail_crossings(&standings, fail_at));
    Ok(match over {
        Some(over) if !over.is_empty() => Exit::OverLimit,
        _ => Exit::Ok,
    })
}
