//! `tally run`: the nightly job. Month-to-date for the current month, the previous month too in
//! the first days of a month (`--previous-month-days`), then a check of both; one lock so two
//! runs never overlap; an exit code that tells monitoring the truth.

use std::path::PathBuf;

use anyhow::Context;
use chrono::{Datelike, Utc};
use clap::Args;
use tally_config::Config;
use tally_model::{BillingMonth, MonthRange};
use tally_push::RunLock;

use crate::check::{self, CheckFormat};
use crate::client;
use crate::collect::{self, Window};
use crate::exit::Exit;
use crate::push::{self, PushJob, ServerArgs};

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

/// The months a run covers at `now`.
pub fn nightly_range(
    now: chrono::DateTime<Utc>,
    tz: chrono_tz::Tz,
    previous_month_days: u32,
) -> MonthRange {
    let current = BillingMonth::containing(now, tz);
    let day = now.with_timezone(&tz).day();
    let from = if day <= previous_month_days {
        current.prev()
    } else {
        current
    };
    MonthRange { from, to: current }
}

/// Combines the push's and the check's verdicts: the most actionable one wins.
fn combine(push: Exit, check: Exit) -> Exit {
    let rank = |e: Exit| match e {
        Exit::AuthFailed => 0,
        Exit::Locked => 1,
        Exit::Config => 2,
        Exit::InvalidInput => 4,
        Exit::NotDone => 5,
        Exit::Differences => 6,
        Exit::Ok => 7,
        _ => 3,
    };
    if rank(push) <= rank(check) {
        push
    } else {
        check
    }
}

pub fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let now = args.server.now.unwrap_or_else(Utc::now);
    let rt = push::runtime()?;
    let target = {
        let _guard = rt.enter();
        client::build(&config, None, None)?
    };
    let _lock = RunLock::try_acquire(&push::lock_path(&target.waldur))?;
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
    let collected = collect::collect(&config, &window)?;
    crate::output::summarize(&collected);
    if collect::strict_verdict(&collected, args.strict) != Exit::Ok {
        tracing::error!("--strict: nothing was sent");
        return Ok(Exit::InvalidInput);
    }
    let (ledger, run_id) = push::open_ledger(&config, &target, "run", window.range, now)?;
    let job = PushJob {
        config: &config,
        target: &target,
        cells: &collected.usages,
        user_cells: &collected.user_usages,
        range: window.range,
        now,
        past_months: args.server.past_months(),
        dry_run: false,
        ledger: Some((ledger.clone(), run_id.clone())),
        allow_decrease: args.allow_decrease,
    };
    let outcome = rt.block_on(async {
        let pushed = push::push(&job).await?;
        crate::output::print_summary(&pushed.summary, false);
        if pushed.exit == Exit::AuthFailed {
            return Ok::<_, anyhow::Error>((pushed, None));
        }
        let report = check::check(
            &config,
            &target,
            &collected.usages,
            &collected.user_usages,
            window.range,
        )
        .await
        .context("the check after the push")?;
        Ok((pushed, Some(report)))
    });
    let (exit, summary) = match &outcome {
        Ok((pushed, report)) => {
            let check_exit = match report {
                Some(r) => check::print(r, args.format)?,
                None => Exit::Ok,
            };
            (
                combine(pushed.exit, check_exit),
                serde_json::json!({
                    "push": pushed.summary,
                    "check": report.as_ref().map(|r| serde_json::json!({
                        "agreeing": r.agreeing,
                        "missing": r.count("missing"),
                        "different": r.count("different"),
                        "unexpected": r.count("unexpected"),
                        "agreeing_users": r.agreeing_users,
                        "user_missing": r.count_users("missing"),
                        "user_different": r.count_users("different"),
                        "user_unexpected": r.count_users("unexpected"),
                    })),
                    "restores": pushed.execution.as_ref().map(|e| e.restores.len()),
                }),
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_month_is_included_for_the_configured_days() {
        let tz = chrono_tz::Tz::UTC;
        let at = |s: &str| s.parse::<chrono::DateTime<Utc>>().expect("time");
        let r = nightly_range(at("2026-11-03T02:00:00Z"), tz, 3);
        assert_eq!(
            (r.from.to_string(), r.to.to_string()),
            ("2026-10".into(), "2026-11".into())
        );
        let r = nightly_range(at("2026-11-04T02:00:00Z"), tz, 3);
        assert_eq!(r.from.to_string(), "2026-11");
        let r = nightly_range(at("2026-11-01T02:00:00Z"), tz, 0);
        assert_eq!(r.from.to_string(), "2026-11");
        let r = nightly_range(at("2027-01-01T00:30:00Z"), tz, 1);
        assert_eq!(r.from.to_string(), "2026-12");
    }

    #[test]
    fn the_most_actionable_verdict_wins() {
        assert_eq!(combine(Exit::NotDone, Exit::Differences), Exit::NotDone);
        assert_eq!(combine(Exit::Ok, Exit::Differences), Exit::Differences);
        assert_eq!(combine(Exit::AuthFailed, Exit::Ok), Exit::AuthFailed);
        assert_eq!(combine(Exit::Ok, Exit::Ok), Exit::Ok);
    }
}
