//! `tally replay`: the fixture replay a provider runs in CI to prove that a configuration change
//! bills the same. It starts the embedded sandbox in-process with a world and a clock, runs
//! collect -> push -> check against it, and compares the usage the server ends up holding with an
//! expected file (written with `--update`).
//!
//! Every month is pushed as the nightly job would have pushed it on time: the sandbox clock is set
//! inside that month (noon on its last day; `--now` for the current month) and the month is sent
//! as the current one. So past months land too, as they did when they were current, and the
//! expected file holds every month of the data.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Duration, TimeZone, Utc};
use clap::Args;
use serde::{Deserialize, Serialize};
use tally_config::Config;
use tally_model::{BillingMonth, MonthRange};
use tally_push::PastMonths;
use tally_sandbox::{SandboxOptions, World};
use tally_waldur::Token;
use uuid::Uuid;

use crate::check::{self, CheckFormat};
use crate::client;
use crate::collect::{self, Window};
use crate::exit::{Exit, UsageError};
use crate::push::{self, PushJob};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The configuration file (its [waldur] url and token_file are ignored: the replay talks to
    /// the in-process sandbox; offering_uuid must name an offering of the world).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// The sandbox world (TOML, see docs/sandbox.md).
    #[arg(long)]
    pub world: PathBuf,
    /// The expected end state (JSON); written by --update.
    #[arg(long)]
    pub expect: PathBuf,
    /// The server clock at the end of the replay (RFC 3339); also the collection's as-of.
    /// Default: now.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    /// First month to replay (default: 24 months before --now).
    #[arg(long)]
    pub from: Option<BillingMonth>,
    /// Last month to replay (default: the month of --now).
    #[arg(long)]
    pub to: Option<BillingMonth>,
    /// Write the expected file from this replay instead of comparing with it.
    #[arg(long)]
    pub update: bool,
    /// The world user whose token tally uses (default: the first owner of the offering's
    /// organisation, i.e. the provider).
    #[arg(long)]
    pub token_user: Option<String>,
    /// Output format of the check on stdout.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

/// The expected-file format: what the server holds for the offering, one row per figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub offering_uuid: String,
    pub usages: Vec<ExpectedUsage>,
    /// The per-user breakdowns. Absent in files written before per-user usage existed: those
    /// are still compared on the totals alone (`--update` adds the breakdowns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_usages: Option<Vec<ExpectedUserUsage>>,
}

/// One user's share of one figure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExpectedUserUsage {
    pub backend_id: String,
    pub month: String,
    pub component: String,
    pub user: String,
    /// Decimal string, two places.
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExpectedUsage {
    pub backend_id: String,
    pub month: String,
    pub component: String,
    /// Decimal string, two places.
    pub amount: String,
}

fn token_of(world: &World, offering: Uuid, user: Option<&str>) -> anyhow::Result<Token> {
    let st = world.state();
    let username = match user {
        Some(u) => u.to_owned(),
        None => {
            let o = st
                .offerings
                .rows
                .iter()
                .find(|o| o.uuid == offering)
                .ok_or_else(|| {
                    UsageError(format!(
                        "the world {} has no offering {} (waldur.offering_uuid)",
                        world.origin,
                        offering.simple()
                    ))
                })?;
            let org = st.orgs.rows.iter().find(|g| g.uuid == o.org);
            let owner = org
                .and_then(|g| g.owners.first())
                .and_then(|u| st.users.rows.iter().find(|x| x.uuid == *u));
            owner.map(|u| u.username.clone()).ok_or_else(|| {
                UsageError(format!(
                    "the offering's organisation has no owner in {}; pass --token-user",
                    world.origin
                ))
            })?
        }
    };
    let token = st
        .users
        .rows
        .iter()
        .find(|u| u.username == username)
        .and_then(|u| u.token.clone())
        .ok_or_else(|| {
            UsageError(format!(
                "user {username:?} of {} has no token",
                world.origin
            ))
        })?;
    Token::new(token).map_err(|e| UsageError(e.to_string()).into())
}

/// When month `m` is replayed: noon on its last day (billing zone), or `now` for its own month.
fn clock_for(m: BillingMonth, now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    if m >= BillingMonth::containing(now, tz) {
        return now;
    }
    let last_day = m.next().first_day() - Duration::days(1);
    tz.from_local_datetime(&last_day.and_hms_opt(12, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| m.end(tz) - Duration::hours(12))
}

pub fn run(args: &ReplayArgs) -> anyhow::Result<Exit> {
    let mut config = Config::load(&args.config)?;
    // The sandbox is in this process: the provider's agreed rate does not apply to it.
    if let Some(w) = config.waldur.as_mut() {
        w.rate_per_second = w.rate_per_second.max(1000);
        w.burst = w.burst.max(100);
    }
    let world =
        World::load(&args.world).with_context(|| format!("world {}", args.world.display()))?;
    let now = args.now.unwrap_or_else(Utc::now);
    let tz = config.billing_timezone;
    let current = BillingMonth::containing(now, tz);
    let to = args.to.unwrap_or(current).min(current);
    let from = args.from.unwrap_or_else(|| {
        let mut m = current;
        for _ in 0..24 {
            m = m.prev();
        }
        m
    });
    let range = MonthRange::new(from, to).map_err(|e| UsageError(e.to_string()))?;
    let (_, offering) = client::waldur_table(&config)?;
    let token = token_of(&world, offering, args.token_user.as_deref())?;

    let window = Window { range, as_of: now };
    let collected = collect::collect(&config, &window)?;
    crate::output::summarize(&collected);
    let months: BTreeSet<BillingMonth> = collected.usages.iter().map(|c| c.period).collect();
    // Checked from the first month with data: the default window is wide, and every month
    // checked is one listing.
    let range = match (args.from, months.first()) {
        (None, Some(first)) => MonthRange::new(*first, to).unwrap_or(range),
        _ => range,
    };

    let rt = push::runtime()?;
    let (exit, held) = rt.block_on(async {
        let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
        let sandbox = tally_sandbox::start(
            world,
            listen,
            SandboxOptions {
                now: Some(now),
                ..Default::default()
            },
        )
        .await?;
        let target = client::build(&config, Some(&sandbox.url), Some(token))?;
        let mut worst = Exit::Ok;
        for m in &months {
            let clock = clock_for(*m, now, tz);
            sandbox.set_now(Some(clock));
            tracing::info!(month = %m, clock = %clock.to_rfc3339(), "replaying month");
            let pushed = push::push(&PushJob {
                config: &config,
                target: &target,
                cells: &collected.usages,
                user_cells: &collected.user_usages,
                range: MonthRange::single(*m),
                now: clock,
                past_months: PastMonths::OnlyIfServerHonoursDate,
                dry_run: false,
                ledger: None,
                allow_decrease: false,
            })
            .await?;
            crate::output::print_summary(&pushed.summary, false);
            if pushed.exit != Exit::Ok && worst == Exit::Ok {
                worst = pushed.exit;
            }
        }
        sandbox.set_now(Some(now));
        let report = check::check(
            &config,
            &target,
            &collected.usages,
            &collected.user_usages,
            range,
        )
        .await?;
        let check_exit = check::print(&report, args.format)?;
        if worst == Exit::Ok {
            worst = check_exit;
        }
        let two = |mut d: rust_decimal::Decimal| {
            d.rescale(2);
            d.to_string()
        };
        let stored: Vec<_> = sandbox
            .usages()
            .into_iter()
            .filter(|u| u.offering_uuid == offering)
            .collect();
        let mut user_usages: Vec<ExpectedUserUsage> = stored
            .iter()
            .flat_map(|u| {
                u.user_usages
                    .iter()
                    .map(|(user, amount)| ExpectedUserUsage {
                        backend_id: u.backend_id.clone(),
                        month: u.billing_period.format("%Y-%m").to_string(),
                        component: u.component_type.clone(),
                        user: user.clone(),
                        amount: two(*amount),
                    })
            })
            .collect();
        user_usages.sort();
        let mut usages: Vec<ExpectedUsage> = stored
            .into_iter()
            .map(|u| ExpectedUsage {
                backend_id: u.backend_id,
                month: u.billing_period.format("%Y-%m").to_string(),
                component: u.component_type,
                amount: two(u.usage),
            })
            .collect();
        usages.sort();
        sandbox.shutdown().await;
        Ok::<_, anyhow::Error>((
            worst,
            Expected {
                offering_uuid: offering.simple().to_string(),
                usages,
                user_usages: Some(user_usages),
            },
        ))
    })?;

    if args.update {
        let text = serde_json::to_string_pretty(&held)? + "\n";
        std::fs::write(&args.expect, text)
            .with_context(|| format!("cannot write {}", args.expect.display()))?;
        tracing::info!(file = %args.expect.display(), usages = held.usages.len(), "expected file written");
        return Ok(exit);
    }
    let text = std::fs::read_to_string(&args.expect)
        .with_context(|| {
            format!(
                "cannot read {} (write it with --update)",
                args.expect.display()
            )
        })
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let expected: Expected = serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("{}: {e}", args.expect.display())))?;
    let mut held = held;
    if expected.user_usages.is_none() {
        tracing::warn!(
            file = %args.expect.display(),
            "the expected file has no user_usages: the per-user breakdowns are not compared (write it again with --update)"
        );
        held.user_usages = None;
    }
    if expected == held {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "replay: the server holds exactly the {} figure(s) of {}",
            held.usages.len(),
            args.expect.display()
        );
        return Ok(exit);
    }
    let want: BTreeSet<&ExpectedUsage> = expected.usages.iter().collect();
    let got: BTreeSet<&ExpectedUsage> = held.usages.iter().collect();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "replay: the server does not hold what {} expects:",
        args.expect.display()
    );
    for u in want.difference(&got) {
        let _ = writeln!(
            err,
            "  expected, not held: {} {} {} {}",
            u.backend_id, u.month, u.component, u.amount
        );
    }
    for u in got.difference(&want) {
        let _ = writeln!(
            err,
            "  held, not expected: {} {} {} {}",
            u.backend_id, u.month, u.component, u.amount
        );
    }
    let empty = Vec::new();
    let want: BTreeSet<&ExpectedUserUsage> = expected
        .user_usages
        .as_ref()
        .unwrap_or(&empty)
        .iter()
        .collect();
    let got: BTreeSet<&ExpectedUserUsage> =
        held.user_usages.as_ref().unwrap_or(&empty).iter().collect();
    for u in want.difference(&got) {
        let _ = writeln!(
            err,
            "  expected, not held: {} {} {} user {} {}",
            u.backend_id, u.month, u.component, u.user, u.amount
        );
    }
    for u in got.difference(&want) {
        let _ = writeln!(
            err,
            "  held, not expected: {} {} {} user {} {}",
            u.backend_id, u.month, u.component, u.user, u.amount
        );
    }
    if expected.offering_uuid != held.offering_uuid {
        let _ = writeln!(
            err,
            "  offering: expected {}, replayed {}",
            expected.offering_uuid, held.offering_uuid
        );
    }
    Ok(Exit::Differences)
}
