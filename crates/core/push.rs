//! `tally push`, `tally check` and `tally run` (the nightly job): each is one call of
//! `tally_pipeline::run`; this passes the flags, shows a progress bar while cells are sent, prints
//! the dry-run listing, the summary and the check, and turns the verdict into the exit code.

use std::sync::Arc;

use anyhow::Context;
use tally_check::CheckReport;
use tally_cli::usage::{CheckArgs, CollectionArgs, PushArgs, RunArgs, ServerArgs};
use tally_cli::CheckFormat;
use tally_pipeline::run::{Command, RunError, RunHooks, RunOptions, RunReport};
use tally_pipeline::{PushReport, SendProgress, Verdict};
use tally_push::PastMonths;

use crate::exit::Exit;
use crate::output;

/// The months a command that computes usage covers.
pub fn months(c: &CollectionArgs) -> tally_pipeline::run::Months {
    let (from, to, as_of) = (c.from, c.to, c.as_of);
    tally_pipeline::run::Months { from, to, as_of }
}

fn past_months(server: &ServerArgs) -> PastMonths {
    if server.assume_date_support {
        PastMonths::AssumeDateSupport
    } else {
        PastMonths::OnlyIfServerHonoursDate
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// How `push`, `run` and `check` show what they do, and the exit code their verdict is.
pub struct Printer {
    pub check_format: CheckFormat,
}

impl RunHooks for Printer {
    fn pushed(&self, report: &PushReport) {
        output::print_push(report, false);
    }
    fn checked(&self, report: &CheckReport) -> std::io::Result<()> {
        output::print_check(report, self.check_format)
    }
    fn progress(&self) -> Option<Arc<dyn SendProgress>> {
        Some(Arc::new(tally_render::SendBar::default()))
    }
    fn exit_code(&self, outcome: Result<Verdict, &RunError>) -> u8 {
        match outcome {
            Ok(verdict) => Exit::from(verdict) as u8,
            Err(e) => crate::exit::classify_error(e) as u8,
        }
    }
}

/// Runs a command through `tally_pipeline::run`, printing as it goes.
pub fn execute(options: RunOptions, check_format: CheckFormat) -> anyhow::Result<RunReport> {
    let printer = Printer { check_format };
    Ok(tally_pipeline::run::run(&options, &runtime()?, &printer)?)
}

pub fn push(args: &PushArgs) -> anyhow::Result<Exit> {
    let report = execute(
        RunOptions {
            config: args.collection.config.clone(),
            command: Command::Push {
                months: months(&args.collection),
                dry_run: args.dry_run,
                allow_decrease: args.allow_decrease,
            },
            now: args.server.now,
            strict: args.collection.strict,
            past_months: past_months(&args.server),
        },
        CheckFormat::Table,
    )?;
    if let Some(pushed) = &report.pushed {
        if args.dry_run {
            let client = &report.connection.client;
            // Every request exactly as it would be sent, minus the Authorization header.
            let text = tally_render::dry_run(client, &pushed.plan, pushed.user_plan.as_ref())?;
            output::to_stdout(|out| out.write_all(text.as_bytes()))?;
        }
        output::print_push(pushed, args.dry_run);
    }
    Ok(report.verdict.into())
}

/// `tally check`: every difference between what tally computes and what Waldur holds.
pub fn check(args: &CheckArgs) -> anyhow::Result<Exit> {
    let c = &args.collection;
    let command = Command::Check { months: months(c) };
    // `check` has no server clock of its own: `--as-of` decides the current month
    let options = RunOptions {
        config: c.config.clone(),
        command,
        now: c.as_of,
        strict: c.strict,
        past_months: PastMonths::OnlyIfServerHonoursDate,
    };
    Ok(execute(options, args.format)?.verdict.into())
}

/// `tally run`: the nightly job. Month-to-date for the current month, the previous month too in
/// the first days of a month, then a check of both, under the run lock.
pub fn nightly(args: &RunArgs) -> anyhow::Result<Exit> {
    let command = Command::Nightly {
        previous_month_days: args.previous_month_days,
        allow_decrease: args.allow_decrease,
    };
    let options = RunOptions {
        config: args.config.clone(),
        command,
        now: args.server.now,
        strict: args.strict,
        past_months: past_months(&args.server),
    };
    Ok(execute(options, args.format)?.verdict.into())
}
