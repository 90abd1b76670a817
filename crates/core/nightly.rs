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
use crate::monitor;
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
    let mut mon = monitor::Run::new("run");
    let span = mon.span();
    let _in_run = span.enter();
    let result = run_in(args, &mut mon);
    mon.close(&result);
    result
}

fn run_in(args: &RunArgs, mon: &mut monitor::Run) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    mon.configured(&config);
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
    let collected = mon.stage("collect", || {
        collect::collect_for_waldur(&config, &window, &connection, &rt, now)
    })?;
    crate::output::summarize(&collected);
    if collect::strict_verdict(&collected, args.strict) != Exit::Ok {
        tracing::error!("--strict: nothing was sent");
        mon.finish(
            Exit::InvalidInput,
            monitor::Data {
                collection: Some(&collected),
                ..Default::default()
            },
        );
        return Ok(Exit::InvalidInput);
    }
    let (ledger, run_id) = tally_pipeline::open_ledger_with_id(
        &config,
        &connection,
        "run",
        window.range,
        now,
        mon.run_id.clone(),
    )?;
    let job = PushJob {
        past_months: args.server.past_months(),
        ledger: Some((ledger.clone(), run_id.clone())),
        allow_decrease: args.allow_decrease,
        progress: Some(Arc::new(push::ProgressBar::default())),
        ..PushJob::new(&config, &connection, &collected, window.range, now)
    };
    let started = std::time::Instant::now();
    let mut push_took = None;
    let outcome = rt
        .block_on(push_and_check(&job, |pushed| {
            push_took = Some(started.elapsed());
            crate::output::print_summary(&pushed.summary, false);
            crate::output::print_plan_periods(&pushed.plan_periods, false);
        }))
        .map_err(anyhow::Error::from);
    let took = started.elapsed();
    // The push's time ends where its summary is printed; the check's is the rest.
    let stages = match push_took {
        Some(push) => vec![("push", push), ("check", took.saturating_sub(push))],
        None => vec![("push", took)],
    };
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
    for (name, took) in stages {
        mon.record_stage(name, took);
    }
    ledger.finish_run(&run_id, exit as u8, &summary)?;
    // where the allocations stand, for `[limits] warn_at` and the metrics; a failure to read
    // it is logged and changes nothing of what the run delivered
    let standings = if mon.wants_standings(&config) && outcome.is_ok() {
        let started = std::time::Instant::now();
        let read = rt.block_on(tally_pipeline::limits::standings(
            &config,
            &connection,
            &collected.usages,
            window.range,
            now,
        ));
        mon.record_stage("limits", started.elapsed());
        match read {
            Ok(s) => {
                tally_pipeline::limits::warn_crossings(&s, &config.limits.warn_at);
                Some(s)
            }
            Err(e) => {
                tracing::error!(
                    "cannot read where the allocations stand: {:#}",
                    anyhow::Error::from(e)
                );
                None
            }
        }
    } else {
        None
    };
    let (push, check) = match &outcome {
        Ok(r) => (Some(&r.pushed), r.check.as_ref()),
        Err(_) => (None, None),
    };
    mon.finish(
        exit,
        monitor::Data {
            collection: Some(&collected),
            push,
            check,
            current_month: Some(tally_model::BillingMonth::containing(
                now,
                config.billing_timezone,
            )),
            standings: standings.as_deref(),
        },
    );
    outcome?;
    Ok(exit)
}
