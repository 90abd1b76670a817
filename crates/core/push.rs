//! `tally push`: the arguments, the progress bar, the dry-run listing and the summary table; the
//! run itself is `tally_pipeline::run`.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use tally_check::CheckReport;
use tally_pipeline::run::{Command, RunError, RunHooks, RunOptions, RunReport};
use tally_pipeline::{PushReport, SendProgress, Verdict};
use tally_push::PastMonths;

use crate::args::CollectionArgs;
use crate::check::CheckFormat;
use crate::exit::Exit;
use crate::output;

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

impl ServerArgs {
    pub fn past_months(&self) -> PastMonths {
        if self.assume_date_support {
            PastMonths::AssumeDateSupport
        } else {
            PastMonths::OnlyIfServerHonoursDate
        }
    }
}

/// A progress bar on stderr while cells are sent, when stderr is a terminal.
#[derive(Default)]
pub struct ProgressBar(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl SendProgress for ProgressBar {
    fn start(&self, cells: u64) {
        if let Ok(mut bar) = self.0.lock() {
            *bar = progress_bar(cells);
        }
    }
    fn advance(&self, cells: u64) {
        if let Ok(bar) = self.0.lock() {
            if let Some(b) = bar.as_ref() {
                b.inc(cells);
            }
        }
    }
    fn finish(&self) {
        if let Ok(mut bar) = self.0.lock() {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        }
    }
}

fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if len == 0 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cells {elapsed} eta {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
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
        output::print_summary(&report.summary, false);
        output::print_plan_periods(&report.plan_periods, false);
    }
    fn checked(&self, report: &CheckReport) -> std::io::Result<()> {
        output::print_check(report, self.check_format)
    }
    fn progress(&self) -> Option<Arc<dyn SendProgress>> {
        Some(Arc::new(ProgressBar::default()))
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

pub fn run(args: &PushArgs) -> anyhow::Result<Exit> {
    let report = execute(
        RunOptions {
            config: args.collection.config.clone(),
            command: Command::Push {
                months: args.collection.months(),
                dry_run: args.dry_run,
                allow_decrease: args.allow_decrease,
            },
            now: args.server.now,
            strict: args.collection.strict,
            past_months: args.server.past_months(),
        },
        CheckFormat::Table,
    )?;
    if let Some(pushed) = &report.pushed {
        if args.dry_run {
            let client = &report.connection.client;
            output::print_dry_run(client, &pushed.plan, pushed.user_plan.as_ref())?;
        }
        output::print_summary(&pushed.summary, args.dry_run);
        output::print_plan_periods(&pushed.plan_periods, args.dry_run);
    }
    Ok(report.verdict.into())
}
