//! `tally replay`: the fixture replay a provider runs in CI to prove that a configuration change
//! bills the same (`tally_pipeline::replay`), and the comparison with the expected file printed
//! (written with `--update`).

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use tally_model::BillingMonth;
use tally_pipeline::replay::{replay_command, settle, ReplayOptions, Settled};

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
    let options = ReplayOptions {
        config: args.config.clone(),
        world: args.world.clone(),
        now: args.now,
        from: args.from,
        to: args.to,
        token_user: args.token_user.clone(),
    };
    let replayed = replay_command(&options, &push::runtime()?, |_, pushed| {
        crate::output::print_summary(&pushed.summary, false)
    })?;
    crate::output::print_check(&replayed.check, args.format)?;
    let (held, file) = (&replayed.held, args.expect.display());
    let mut err = std::io::stderr().lock();
    match settle(held, &args.expect, args.update)? {
        Settled::Written => {}
        Settled::Agrees => {
            let n = held.usages.len();
            let _ = writeln!(
                err,
                "replay: the server holds exactly the {n} figure(s) of {file}"
            );
        }
        Settled::Differs(expected) => {
            let _ = writeln!(err, "replay: the server does not hold what {file} expects:");
            for m in expected.mismatches(held) {
                let _ = writeln!(err, "  {m}");
            }
            return Ok(Exit::Differences);
        }
    }
    Ok(replayed.verdict.into())
}
