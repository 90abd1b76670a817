//! `tally doctor`: every check the nightly run depends on (tally-doctor), one line each.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use tally_doctor::{Report, Status};

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
            crate::output::to_stdout(|out| render(out, &report, colour))?
        }
    }
    Ok(if report.passed() {
        Exit::Ok
    } else {
        Exit::DoctorFailed
    })
}

fn render(out: &mut dyn Write, report: &Report, colour: bool) -> std::io::Result<()> {
    let width = report
        .findings
        .iter()
        .map(|f| f.check.len())
        .max()
        .unwrap_or(0);
    for f in &report.findings {
        let (mark, ansi) = match f.status {
            Status::Ok => ("ok  ", "32"),
            Status::Warn => ("WARN", "33"),
            Status::Fail => ("FAIL", "31"),
            Status::Skipped => ("skip", "2"),
        };
        let mark = if colour {
            format!("\x1b[{ansi}m{mark}\x1b[0m")
        } else {
            mark.to_owned()
        };
        let advice = f
            .advice
            .as_deref()
            .map(|a| format!(" -- do: {a}"))
            .unwrap_or_default();
        writeln!(out, "{mark}  {:<width$}  {}{advice}", f.check, f.summary)?;
    }
    let failed = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .count();
    if failed == 0 {
        writeln!(
            out,
            "ready: every check passed for {}",
            report.config.display()
        )
    } else {
        writeln!(
            out,
            "not ready: {failed} check(s) failed for {}",
            report.config.display()
        )
    }
}
