//! `tally check`: every difference between what tally computes and what Waldur holds.

use clap::{Args, ValueEnum};
use tally_pipeline::run::{Command, RunOptions};

use crate::args::CollectionArgs;
use crate::exit::Exit;

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub collection: CollectionArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<Exit> {
    let c = &args.collection;
    let command = Command::Check { months: c.months() };
    // `check` has no server clock of its own: `--as-of` decides the current month
    let options = RunOptions {
        config: c.config.clone(),
        command,
        now: c.as_of,
        strict: c.strict,
        past_months: tally_push::PastMonths::OnlyIfServerHonoursDate,
    };
    Ok(crate::push::execute(options, args.format)?.verdict.into())
}
