//! Where tally prints: data on stdout, summaries on stderr, and a closed pipe (`tally collect |
//! head`) that is not an error. What is printed is `tally_render`'s.

use std::io::{self, Write};

use tally_aggregate::{Collection, Explanation};
use tally_check::CheckReport;
use tally_pipeline::history::History;
use tally_push::{Plan, Summary, UserPlan};
use tally_render::Format;

use crate::args::OutputFormat;
use crate::check::CheckFormat;
use tally_pipeline::Window;

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Format {
        match f {
            OutputFormat::Table => Format::Table,
            OutputFormat::Json => Format::Json,
            OutputFormat::Csv => Format::Csv,
        }
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

/// `by_plan_period`: the cells of a month with a plan switch as their plan-period parts.
pub fn print_collection(
    c: &Collection,
    format: OutputFormat,
    w: &Window,
    by_plan_period: bool,
) -> io::Result<()> {
    to_stdout(|out| {
        tally_render::collection(out, c, format.into(), w.range, w.as_of, by_plan_period)
    })
}

/// `tally explain` on stdout.
pub fn print_explanation(e: &Explanation, format: OutputFormat) -> io::Result<()> {
    to_stdout(|out| tally_render::explanation(out, e, format.into()))
}

/// `tally history` on stdout.
pub fn print_history(h: &History, format: CheckFormat) -> io::Result<()> {
    let format = match format {
        CheckFormat::Json => Format::Json,
        CheckFormat::Table => Format::Table,
    };
    to_stdout(|out| tally_render::history(out, h, format))
}

/// `tally check`'s report on stdout: the JSON document, or the tables of differences.
pub fn print_check(report: &CheckReport, format: CheckFormat) -> io::Result<()> {
    to_stdout(|out| match format {
        CheckFormat::Json => tally_render::check_json(out, report),
        CheckFormat::Table => out.write_all(tally_render::check_text(report).as_bytes()),
    })
}

/// `push --dry-run` on stdout: every request exactly as it would be sent, minus the
/// Authorization header.
pub fn print_dry_run(
    client: &tally_waldur::WaldurClient,
    plan: &Plan,
    users: Option<&UserPlan>,
) -> anyhow::Result<()> {
    let text = tally_render::dry_run(client, plan, users)?;
    Ok(to_stdout(|out| out.write_all(text.as_bytes()))?)
}

/// The push summary on stderr: a row per resource, the totals, and what was held back.
pub fn print_summary(summary: &Summary, dry_run: bool) {
    to_stderr(&tally_render::summary_text(summary, dry_run));
}

/// The current month of resources whose plan changed inside it, on stderr: what was (or would
/// be) sent under each plan period, what Waldur already holds, and the parts not sent and why.
pub fn print_plan_periods(p: &tally_pipeline::plan_periods::PeriodPush, dry_run: bool) {
    to_stderr(&tally_render::plan_periods_text(p, dry_run));
}

/// `tally limits` on stdout.
pub fn print_limits(
    standings: &[tally_limits::ResourceStanding],
    format: OutputFormat,
) -> io::Result<()> {
    to_stdout(|out| tally_render::limits(out, standings, format.into()))
}
