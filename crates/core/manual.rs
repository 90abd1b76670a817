//! `tally completions SHELL` and `tally man`: generated from the clap definitions, so they
//! can never disagree with the real arguments.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::exit::Exit;
use tally_cli::site::{CompletionShell, CompletionsArgs};
use tally_cli::Cli;

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut cmd = Cli::command();
    // Rendered to memory first: clap_complete panics on a write error such as a closed pipe.
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "tally", &mut buf);
    write_out(&buf)
}

fn write_out(buf: &[u8]) -> anyhow::Result<Exit> {
    crate::output::to_stdout(|out| out.write_all(buf))?;
    Ok(Exit::Ok)
}

/// Writes the man page (roff) of `tally` to stdout: `tally man > /usr/share/man/man1/tally.1`.
pub fn man() -> anyhow::Result<Exit> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf)?;
    write_out(&buf)
}
