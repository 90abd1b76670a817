//! `tally replay`: the fixture replay a provider runs in CI to prove that a configuration change
//! bills the same (`tally_pipeline::replay`), and the comparison with the expected file printed
//! (written with `--update`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use tally_config::Config;
use tally_model::BillingMonth;
use tally_pipeline::replay::{replay, replay_range, token_of, Expected, ReplayJob};
use tally_sandbox::World;

use crate::check::CheckFormat;
use crate::exit::Exit;
use crate::push;

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

pub fn run(args: &ReplayArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let world =
        World::load(&args.world).with_context(|| format!("world {}", args.world.display()))?;
    let now = args.now.unwrap_or_else(Utc::now);
    let range = replay_range(now, config.billing_timezone, args.from, args.to)?;
    let (_, offering) = tally_pipeline::waldur_table(&config)?;
    let token = token_of(&world, offering, args.token_user.as_deref())?;
    let collected =
        tally_pipeline::collect(&config, &tally_pipeline::Window { range, as_of: now })?;
    tally_pipeline::run::log_collection(&collected);

    let rt = push::runtime()?;
    let replayed = rt.block_on(replay(
        ReplayJob {
            config: &config,
            world,
            token,
            now,
            range,
            explicit_from: args.from.is_some(),
            collected: &collected,
        },
        |_, pushed| crate::output::print_summary(&pushed.summary, false),
    ))?;
    crate::output::print_check(&replayed.check, args.format)?;
    tally_pipeline::run::log_check(&replayed.check);
    let exit = Exit::from(replayed.verdict);
    let held = replayed.held;

    if args.update {
        held.write(&args.expect)?;
        tracing::info!(file = %args.expect.display(), usages = held.usages.len(), "expected file written");
        return Ok(exit);
    }
    let expected = Expected::read(&args.expect)?;
    if expected.user_usages.is_none() {
        tracing::warn!(
            file = %args.expect.display(),
            "the expected file has no user_usages: the per-user breakdowns are not compared (write it again with --update)"
        );
    }
    let mut err = std::io::stderr().lock();
    if expected.agrees_with(&held) {
        let _ = writeln!(
            err,
            "replay: the server holds exactly the {} figure(s) of {}",
            held.usages.len(),
            args.expect.display()
        );
        return Ok(exit);
    }
    let _ = writeln!(
        err,
        "replay: the server does not hold what {} expects:",
        args.expect.display()
    );
    for m in expected.mismatches(&held) {
        let _ = writeln!(err, "  {m}");
    }
    Ok(Exit::Differences)
}
