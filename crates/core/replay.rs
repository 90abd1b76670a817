//! `tally replay`: the fixture replay a provider runs in CI to prove that a configuration change
//! bills the same (`tally_pipeline::replay`), and the comparison with the expected file printed
//! (written with `--update`).

use std::io::Write;
use tally_cli::usage::ReplayArgs;
use tally_pipeline::replay::{replay_command, settle, ReplayOptions, Settled};

use crate::exit::Exit;
use crate::push;

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
        crate::output::to_stderr(&tally_render::summary_text(&pushed.summary, false))
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
