//! `tally push`: the arguments, the progress bar, the dry-run listing and the summary table; the
//! push itself is `tally_pipeline::push`.

use std::io::IsTerminal;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use tally_config::Config;
use tally_pipeline::{PushJob, SendProgress};
use tally_push::{PastMonths, RunLock};

use crate::args::CollectionArgs;
use crate::collect;
use crate::exit::Exit;
use crate::monitor;

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

pub fn run(args: &PushArgs) -> anyhow::Result<Exit> {
    let mut mon = monitor::Run::new("push");
    let span = mon.span();
    let _in_run = span.enter();
    let result = run_in(args, &mut mon);
    mon.close(&result);
    result
}

fn run_in(args: &PushArgs, mon: &mut monitor::Run) -> anyhow::Result<Exit> {
    let config = Config::load(&args.collection.config)?;
    if !args.dry_run {
        // a dry run changes nothing monitoring watches
        mon.configured(&config);
    }
    let now = args.server.now.unwrap_or_else(Utc::now);
    let mut collection = args.collection.clone();
    collection.as_of = collection.as_of.or(args.server.now);
    let window = collect::window(&config, &collection)?;
    let rt = runtime()?;
    let connection = {
        let _guard = rt.enter();
        tally_pipeline::connect(&config, None, None)?
    };
    // The lock `tally run` takes: a push by hand never overlaps the nightly run. A dry run
    // sends and writes nothing, so it needs none.
    let _lock = if args.dry_run {
        None
    } else {
        Some(RunLock::try_acquire(&tally_pipeline::lock_path(
            &connection.waldur,
        ))?)
    };
    let collected = mon.stage("collect", || {
        collect::collect_for_waldur(&config, &window, &connection, &rt, now)
    })?;
    crate::output::summarize(&collected);
    if collect::strict_verdict(&collected, args.collection.strict) != Exit::Ok {
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
    let ledger = if args.dry_run {
        None
    } else {
        Some(tally_pipeline::open_ledger_with_id(
            &config,
            &connection,
            "push",
            window.range,
            window.as_of,
            mon.run_id.clone(),
        )?)
    };
    let job = PushJob {
        past_months: args.server.past_months(),
        dry_run: args.dry_run,
        ledger: ledger.clone(),
        allow_decrease: args.allow_decrease,
        progress: Some(std::sync::Arc::new(ProgressBar::default())),
        ..PushJob::new(&config, &connection, &collected, window.range, now)
    };
    let result = mon
        .stage("push", || rt.block_on(tally_pipeline::push(&job)))
        .map_err(anyhow::Error::from);
    let (exit, summary) = match &result {
        Ok(p) => (
            Exit::from(p.verdict),
            serde_json::to_value(&p.summary).unwrap_or_default(),
        ),
        Err(e) => (
            crate::exit::classify(e),
            serde_json::json!({"error": format!("{e:#}")}),
        ),
    };
    if let Some((l, id)) = &ledger {
        l.finish_run(id, exit as u8, &summary)?;
    }
    let standings = match &result {
        Ok(_) if mon.wants_standings(&config) => {
            let read = mon.stage("limits", || {
                rt.block_on(tally_pipeline::limits::standings(
                    &config,
                    &connection,
                    &collected.usages,
                    window.range,
                    window.as_of,
                ))
            });
            read.map_err(|e| {
                tracing::error!(
                    "cannot read where the allocations stand: {:#}",
                    anyhow::Error::from(e)
                )
            })
            .ok()
            .inspect(|s| {
                tally_pipeline::limits::warn_crossings(s, &config.limits.warn_at);
            })
        }
        _ => None,
    };
    mon.finish(
        exit,
        monitor::Data {
            collection: Some(&collected),
            push: result.as_ref().ok(),
            current_month: Some(tally_model::BillingMonth::containing(
                now,
                config.billing_timezone,
            )),
            standings: standings.as_deref(),
            ..Default::default()
        },
    );
    let pushed = result?;
    if args.dry_run {
        crate::output::print_dry_run(&connection.client, &pushed.plan, pushed.user_plan.as_ref())?;
    }
    crate::output::print_summary(&pushed.summary, args.dry_run);
    crate::output::print_plan_periods(&pushed.plan_periods, args.dry_run);
    Ok(exit)
}
