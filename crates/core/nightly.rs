//! `tally run`: the nightly job. Month-to-date for the current month, the previous month too in
//! the first days of a month (`--previous-month-days`), then a check of both; one lock so two
//! runs never overlap; an exit code that tells monitoring the truth.

use std::path::PathBuf;

use clap::Args;
use tally_pipeline::run::{Command, RunOptions};

use crate::check::CheckFormat;
use crate::exit::Exit;
use crate::push::{self, ServerArgs};

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

pub fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    let command = Command::Nightly {
        previous_month_days: args.previous_month_days,
        allow_decrease: args.allow_decrease,
    };
    let options = RunOptions {
        config: args.config.clone(),
        command,
        now: args.server.now,
        strict: args.strict,
        past_months: args.server.past_months(),
    };
    Ok(push::execute(options, args.format)?.verdict.into())
}
