//! `tally check`: every difference between what tally computes and what Waldur holds.

use std::collections::BTreeSet;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tally_check::{CheckReport, OwnershipRule};
use tally_config::Config;
use tally_model::{BillingMonth, MonthRange, UsageCell, UserUsageCell};

use crate::args::CollectionArgs;
use crate::client;
use crate::collect;
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

/// Reads and compares the months of `range`; the per-user breakdown too unless
/// `user_usage = false` (or no record names a user).
pub async fn check(
    config: &Config,
    target: &client::Target,
    cells: &[UsageCell],
    user_cells: &[UserUsageCell],
    range: MonthRange,
) -> anyhow::Result<CheckReport> {
    let months: BTreeSet<BillingMonth> = range.iter().collect();
    // The components push owns: the configured ones and those the cells carry.
    let components: BTreeSet<String> = config
        .rules
        .iter()
        .map(|r| r.component.clone())
        .chain(
            cells
                .iter()
                .filter(|c| range.contains(c.period))
                .map(|c| c.component.clone()),
        )
        .collect();
    let users = (config.user_usage && !user_cells.is_empty()).then_some(user_cells);
    let written = crate::push::written_read_only(target);
    let reach = crate::push::mapping_reach(config);
    tally_check::read_and_compare(
        &target.client,
        target.offering,
        cells,
        users,
        &months,
        &components,
        Some(OwnershipRule {
            mode: crate::push::ownership_mode(config),
            reach: &reach,
            written: &written,
        }),
    )
    .await
    .map_err(crate::push::waldur_error)
    .context("reading what Waldur holds")
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
        "check"
    );
    Ok(if report.agrees() {
        Exit::Ok
    } else {
        Exit::Differences
    })
}

pub fn run(args: &CheckArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.collection.config)?;
    let window = collect::window(&config, &args.collection)?;
    let rt = crate::push::runtime()?;
    let target = {
        let _guard = rt.enter();
        client::build(&config, None, None)?
    };
    let collected = collect::collect(&config, &window)?;
    crate::output::summarize(&collected);
    let report = rt.block_on(check(
        &config,
        &target,
        &collected.usages,
        &collected.user_usages,
        window.range,
    ))?;
    let exit = print(&report, args.format)?;
    let strict = collect::strict_verdict(&collected, args.collection.strict);
    Ok(if strict != Exit::Ok { strict } else { exit })
}
