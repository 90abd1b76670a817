//! `tally doctor`: every check the nightly run depends on (tally-doctor), one line each.

use std::io::IsTerminal;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

use crate::exit::Exit;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The configuration file.
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
    /// Take this instant (RFC 3339) as this machine's clock: the month whose records are checked,
    /// and what the server's clock is compared with. Default: now.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// One line per check: `ok`, `WARN`, `FAIL` or `skip`, what was found, and what to do.
    Text,
    Json,
}

/// Exit 0 when no check failed, [`Exit::DoctorFailed`] otherwise.
pub fn run(args: &DoctorArgs) -> anyhow::Result<Exit> {
    let rt = crate::push::runtime()?;
    let options = tally_doctor::Options {
        now: args.now,
        ..Default::default()
    };
    let report = rt.block_on(tally_doctor::diagnose(&args.config, &options));
    match args.format {
        DoctorFormat::Json => crate::output::to_stdout(|out| {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)
        })?,
        DoctorFormat::Text => {
            let colour = std::io::stdout().is_terminal();
            crate::output::to_stdout(|out| tally_render::doctor_text(out, &report, colour))?
        }
    }
    Ok(if report.passed() {
        Exit::Ok
    } else {
        Exit::DoctorFailed
    })
}
