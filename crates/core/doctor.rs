//! `tally doctor`: every check the nightly run depends on (tally-doctor), one line each.

use std::io::IsTerminal;

use tally_cli::site::{DoctorArgs, DoctorFormat};

use crate::exit::Exit;

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
