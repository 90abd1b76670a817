//! Where tally prints: data on stdout, summaries on stderr, and a closed pipe (`tally collect |
//! head`) that is not an error. What is printed is `tally_render`'s.

use std::io::{self, Write};

use tally_check::CheckReport;
use tally_cli::{CheckFormat, OutputFormat};
use tally_pipeline::PushReport;
use tally_render::Format;

/// The renderer's format of a `--format` flag.
pub fn render_format(f: OutputFormat) -> Format {
    match f {
        OutputFormat::Table => Format::Table,
        OutputFormat::Json => Format::Json,
        OutputFormat::Csv => Format::Csv,
    }
}

/// The renderer's format of a `--format table|json` flag.
pub fn report_format(f: CheckFormat) -> Format {
    match f {
        CheckFormat::Table => Format::Table,
        CheckFormat::Json => Format::Json,
    }
}

/// Writes to stdout through one buffer; a closed pipe is not an error (the reader has all it
/// wanted).
pub fn to_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Text for people on stderr (summaries beside the data on stdout). Best effort: a closed stderr
/// must not turn a finished push into a failure.
pub fn to_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// `tally check`'s report on stdout: the JSON document, or the tables of differences.
pub fn print_check(report: &CheckReport, format: CheckFormat) -> io::Result<()> {
    to_stdout(|out| match format {
        CheckFormat::Json => tally_render::check_json(out, report),
        CheckFormat::Table => out.write_all(tally_render::check_text(report).as_bytes()),
    })
}

/// A push on stderr: a row per resource, the totals and what was held back; then, for resources
/// whose plan changed inside the current month, what was (or would be) sent under each plan
/// period, what Waldur already holds, and the parts not sent and why.
pub fn print_push(report: &PushReport, dry_run: bool) {
    to_stderr(&tally_render::summary_text(&report.summary, dry_run));
    to_stderr(&tally_render::plan_periods_text(
        &report.plan_periods,
        dry_run,
    ));
}
