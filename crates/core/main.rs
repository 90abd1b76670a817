//! The `tally` binary: parses the command line (`tally-cli`'s definitions), calls the library
//! crates and prints what they return; the exit code tells monitoring what happened.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tally_cli::{Cli, Command};

mod collect;
mod doctor;
mod exit;
mod explain;
mod history;
mod init;
mod limits;
mod logging;
mod manual;
mod ops;
mod output;
mod push;
mod replay;
mod sandbox;

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
        Command::Push(args) => push::push(&args),
        Command::Check(args) => push::check(&args),
        Command::Run(args) => push::nightly(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Limits(args) => limits::run(&args),
        Command::Orders(cmd) => ops::orders::run(&cmd),
        Command::Resources(cmd) => ops::resources::run(&cmd),
        Command::OfferingUsers(cmd) => ops::offering_users::run(&cmd),
        Command::Provider(cmd) => ops::provider::run(&cmd),
        Command::Users(cmd) => ops::lists::run(&cmd),
        Command::Keys(cmd) => ops::lists::run(&cmd),
        Command::Offerings(cmd) => ops::offerings::run(&cmd),
        Command::Usage(cmd) => ops::lists::run(&cmd),
        Command::Completions(args) => manual::completions(&args),
        Command::Man => manual::man(),
        Command::Doctor(args) => doctor::run(&args),
        Command::Init(args) => init::run(&args),
    }
}
