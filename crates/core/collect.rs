//! `tally collect`, and the collection step every other command starts with.

use tally_aggregate::Collection;
use tally_config::Config;
pub use tally_pipeline::Window;

use crate::args::{CollectArgs, CollectionArgs};
use crate::exit::Exit;
use crate::output;

/// The window of `--from`, `--to` and `--as-of`.
pub fn window(config: &Config, args: &CollectionArgs) -> anyhow::Result<Window> {
    Ok(tally_pipeline::window(
        config, args.from, args.to, args.as_of,
    )?)
}

/// Reads every configured source and aggregates it.
pub fn collect(config: &Config, window: &Window) -> anyhow::Result<Collection> {
    Ok(tally_pipeline::collect(config, window)?)
}

/// [`collect`] for a command that talks to Waldur: the months in which a resource's plan
/// changed are also split per plan period (read from Waldur first; issue 23).
pub fn collect_for_waldur(
    config: &Config,
    window: &Window,
    connection: &tally_pipeline::Connection,
    rt: &tokio::runtime::Runtime,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Collection> {
    // The input first: a missing file or a bad dump stops the run (exit 2) before Waldur is
    // asked anything; only a month with a plan switch is read a second time, to cut it.
    let collected = collect(config, window)?;
    let timelines = rt.block_on(tally_pipeline::plan_periods::plan_timelines(
        config, connection, window, now,
    ))?;
    if timelines.is_empty() {
        return Ok(collected);
    }
    Ok(tally_pipeline::collect_with_plan_periods(
        config, window, timelines,
    )?)
}

pub fn run(args: &CollectArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.collection.config)?;
    let window = window(&config, &args.collection)?;
    let by_plan_period = args.by == crate::args::CollectBy::PlanPeriod;
    let collection = if by_plan_period {
        let rt = crate::push::runtime()?;
        let connection = {
            let _guard = rt.enter();
            tally_pipeline::connect(&config, None, None)?
        };
        collect_for_waldur(&config, &window, &connection, &rt, window.as_of)?
    } else {
        collect(&config, &window)?
    };
    output::print_collection(&collection, args.format, &window, by_plan_period)?;
    output::summarize(&collection);
    Ok(strict_verdict(&collection, args.collection.strict))
}

/// Under `--strict`, anything not billed for a reason other than "never ran" fails the run.
pub fn strict_verdict(c: &Collection, strict: bool) -> Exit {
    if strict && tally_pipeline::needs_attention(c) {
        tracing::error!(
            invalid = c.records.invalid,
            unmapped = c.records.unmapped,
            "--strict: input needs attention (invalid lines or unmapped accounts)"
        );
        Exit::InvalidInput
    } else {
        Exit::Ok
    }
}
