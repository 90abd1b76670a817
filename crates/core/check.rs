//! `tally check`: every difference between what tally computes and what Waldur holds.

use clap::{Args, ValueEnum};
use tally_check::CheckReport;
use tally_config::Config;
use tally_pipeline::Verdict;

use crate::args::CollectionArgs;
use crate::collect;
use crate::exit::Exit;
use crate::monitor;

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

/// Prints the report; `Exit::Differences` when there is any.
pub fn print(report: &CheckReport, format: CheckFormat) -> anyhow::Result<Exit> {
    crate::output::print_check(report, format)?;
    tracing::info!(
        agreeing = report.agreeing,
        missing = report.count("missing"),
        different = report.count("different"),
        unexpected = report.count("unexpected"),
        agreeing_users = report.agreeing_users,
        user_differences = report.user_differences.len(),
        invoicing = report.invoicing.len(),
        "check"
    );
    Ok(Verdict::of_check(report).into())
}

/// Records what the check found in the ledger (`tally history` shows the last check). A ledger
/// that cannot be written costs the record, not the check: a warning.
pub fn record(
    ledger: &tally_push::Ledger,
    run_id: Option<&str>,
    report: &CheckReport,
    cells: &[tally_model::UsageCell],
) {
    let recorded =
        tally_pipeline::history::record_check(ledger, chrono::Utc::now(), run_id, report, cells);
    if let Err(e) = recorded {
        tracing::warn!("the check is not recorded in the ledger: {e}");
    }
}

pub fn run(args: &CheckArgs) -> anyhow::Result<Exit> {
    let mut mon = monitor::Run::new("check");
    let span = mon.span();
    let _in_run = span.enter();
    let result = run_in(args, &mut mon);
    mon.close(&result);
    result
}

fn run_in(args: &CheckArgs, mon: &mut monitor::Run) -> anyhow::Result<Exit> {
    let config = Config::load(&args.collection.config)?;
    mon.configured(&config);
    let window = collect::window(&config, &args.collection)?;
    let rt = crate::push::runtime()?;
    let connection = {
        let _guard = rt.enter();
        tally_pipeline::connect(&config, None, None)?
    };
    let now = args.collection.as_of.unwrap_or_else(chrono::Utc::now);
    let collected = mon.stage("collect", || {
        collect::collect_for_waldur(&config, &window, &connection, &rt, now)
    })?;
    crate::output::summarize(&collected);
    let report = mon.stage("check", || {
        rt.block_on(tally_pipeline::check_collection(
            &config,
            &connection,
            &collected,
            window.range,
            now,
            tally_push::PastMonths::OnlyIfServerHonoursDate,
        ))
    })?;
    let exit = print(&report, args.format)?;
    match tally_push::Ledger::open(&connection.waldur.ledger) {
        Ok(ledger) => record(&ledger, None, &report, &collected.usages),
        Err(e) => tracing::warn!("the check is not recorded in the ledger: {e}"),
    }
    let strict = collect::strict_verdict(&collected, args.collection.strict);
    let exit = if strict != Exit::Ok { strict } else { exit };
    mon.finish(
        exit,
        monitor::Data {
            collection: Some(&collected),
            check: Some(&report),
            ..Default::default()
        },
    );
    Ok(exit)
}
