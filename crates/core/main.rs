//! The `tally` binary: argument parsing and wiring of the library crates, nothing else.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod args;
mod check;
mod collect;
mod doctor;
mod exit;
mod explain;
mod history;
mod init;
mod limits;
mod logging;
mod manual;
mod nightly;
mod ops;
mod output;
mod push;
mod replay;
mod sandbox;

use args::{Cli, Command};
use exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    match run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            let code = exit::classify(&err);
            // One message with the whole chain of causes, once.
            let _ = writeln!(std::io::stderr(), "tally: error: {err:#}");
            code.into()
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Collect(args) => collect::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::History(args) => history::run(&args),
        Command::Sandbox(args) => sandbox::run(&args),
        Command::Push(args) => push::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Run(args) => nightly::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Limits(args) => limits::run(&args),
        Command::Orders(cmd) => ops::orders::run(&cmd),
        Command::Resources(cmd) => ops::resources::run(&cmd),
        Command::OfferingUsers(cmd) => ops::offering_users::run(&cmd),
        Command::Provider(cmd) => ops::provider::run(&cmd),
        Command::Users(cmd) => cmd.run(),
        Command::Keys(cmd) => cmd.run(),
        Command::Offerings(cmd) => ops::offerings::run(&cmd),
        Command::Usage(cmd) => cmd.run(),
        Command::Completions(args) => manual::completions(&args),
        Command::Man => manual::man(),
        Command::Doctor(args) => doctor::run(&args),
        Command::Init(args) => init::run(&args),
    }
}
