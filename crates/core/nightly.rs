//! `tally run`: the nightly job. Month-to-date for the current month, the previous month too in
//! the first days of a month (`--previous-month-days`), then a check of both; one lock so two
//! runs never overlap; an exit code that tells monitoring the truth.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use clap::Args;
use tally_config::Config;
use tally_pipeline::nightly::{nightly_range, push_and_check};
use tally_pipeline::PushJob;
use tally_push::RunLock;

use crate::check::{self, CheckFormat};
use crate::collect::{self, Window};
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
    let config = Config::load(&args.config)?;
    let now = args.server.now.unwrap_or_else(Utc::now);
    let rt = push::runtime()?;
    let connection = {
        let _guard = rt.enter();
        tally_pipeline::connect(&config, None, None)?
    };
    let _lock = RunLock::try_acquire(&tally_pipeline::lock_path(&connection.waldur))?;
    let window = Window {
        range: nightly_range(
            now,
            config.billing_timezone,
            args.previous_month_days
                .unwrap_or(config.previous_month_days),
        ),
        as_of: now,
    };
    tracing::info!(from = %window.range.from, to = %window.range.to, "nightly run");
    let collected = collect::collect_for_waldur(&config, &window, &connection, &rt, now)?;
    crate::output::summarize(&collected);
    if collect::strict_verdict(&collected, args.strict) != Exit::Ok {
        tracing::error!("--strict: nothing was sent");
        return Ok(Exit::InvalidInput);
    }
    let (ledger, run_id) =
        tally_pipeline::open_ledger(&config, &connection, "run", window.range, now)?;
    let job = PushJob {
        past_months: args.server.past_months(),
        ledger: Some((ledger.clone(), run_id.clone())),
        allow_decrease: args.allow_decrease,
        progress: Some(Arc::new(push::ProgressBar::default())),
        ..PushJob::new(&config, &connection, &collected, window.range, now)
    };
    let outcome = rt
        .block_on(push_and_check(&job, |pushed| {
            crate::output::print_summary(&pushed.summary, false);
            crate::output::print_plan_periods(&pushed.plan_periods, false);
        }))
        .map_err(anyhow::Error::from);
    let (exit, summary) = match &outcome {
        Ok(report) => {
            if let Some(r) = &report.check {
                check::print(r, args.format)?;
                check::record(&ledger, Some(&run_id), r, &collected.usages);
            }
            (Exit::from(report.verdict()), report.ledger_summary())
        }
        Err(e) => (
            crate::exit::classify(e),
            serde_json::json!({"error": format!("{e:#}")}),
        ),
    };
    ledger.finish_run(&run_id, exit as u8, &summary)?;
    outcome?;
    Ok(exit)
}
