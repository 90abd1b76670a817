//! `tally check`: every difference between what tally computes and what Waldur holds.

use clap::{Args, ValueEnum};
use tally_pipeline::run::{Command, RunOptions};

use crate::args::CollectionArgs;
use crate::exit::Exit;
use crate::push::Printer;

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
    let options = RunOptions {
        config: c.config.clone(),
        command: Command::Check {
            from: c.from,
            to: c.to,
            as_of: c.as_of,
        },
        now: c.as_of,
        strict: c.strict,
        past_months: tally_push::PastMonths::OnlyIfServerHonoursDate,
    };
    let printer = Printer {
        check_format: args.format,
    };
    let report = tally_pipeline::run::run(&options, &crate::push::runtime()?, &printer)?;
    Ok(report.verdict.into())
}
