//! `tally doctor`: one line per check (`ok`, `WARN`, `FAIL`, `skip`), what was found and what
//! to do, then whether the nightly run is ready.

use std::io::{self, Write};

use tally_doctor::{Report, Status};

/// The report as text; `colour` marks the statuses with ANSI colours (a terminal).
pub fn doctor_text(out: &mut dyn Write, report: &Report, colour: bool) -> io::Result<()> {
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
