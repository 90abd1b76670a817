//! Printing results for people (aligned tables) and for machines (JSON, CSV).

use std::collections::BTreeMap;
use std::io::{self, Write};

use rust_decimal::Decimal;
use serde::Serialize;
use tally_aggregate::Collection;

use crate::args::OutputFormat;
use crate::collect::Window;

/// The `collect --format json` document. Extra keys beyond the documented ones are allowed.
#[derive(Serialize)]
struct CollectJson<'a> {
    usages: &'a [tally_model::UsageCell],
    user_usages: &'a [tally_model::UserUsageCell],
    invalid: &'a [tally_model::InvalidRecord],
    records: &'a tally_aggregate::RecordCounts,
    unmapped: &'a [tally_aggregate::UnmappedAccount],
    from: String,
    to: String,
    as_of: String,
}

pub fn print_collection(c: &Collection, format: OutputFormat, w: &Window) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let r = match format {
        OutputFormat::Json => {
            let doc = CollectJson {
                usages: &c.usages,
                user_usages: &c.user_usages,
                invalid: &c.invalid,
                records: &c.records,
                unmapped: &c.unmapped,
                from: w.range.from.to_string(),
                to: w.range.to.to_string(),
                as_of: w.as_of.to_rfc3339(),
            };
            serde_json::to_writer_pretty(&mut out, &doc).map_err(io::Error::other)?;
            writeln!(out)
        }
        OutputFormat::Csv => {
            writeln!(out, "resource,period,component,amount")?;
            for u in &c.usages {
                writeln!(
                    out,
                    "{},{},{},{}",
                    csv_field(&u.resource),
                    u.period,
                    csv_field(&u.component),
                    u.amount
                )?;
            }
            Ok(())
        }
        OutputFormat::Table => write_table(&mut out, c),
    };
    ignore_broken_pipe(r.and_then(|_| out.flush()))
}

/// A closed pipe (`tally collect | head`) is not an error.
fn ignore_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Rows per cell, and a total per resource and component over the months shown.
fn write_table(out: &mut impl Write, c: &Collection) -> io::Result<()> {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut i = 0;
    while i < c.usages.len() {
        let resource = &c.usages[i].resource;
        let mut totals: BTreeMap<&str, Decimal> = BTreeMap::new();
        let mut months = std::collections::BTreeSet::new();
        while i < c.usages.len() && &c.usages[i].resource == resource {
            let u = &c.usages[i];
            rows.push([
                u.resource.clone(),
                u.period.to_string(),
                u.component.clone(),
                u.amount.to_string(),
            ]);
            *totals.entry(&u.component).or_default() += u.amount;
            months.insert(u.period);
            i += 1;
        }
        if months.len() > 1 {
            for (component, total) in totals {
                rows.push([
                    resource.clone(),
                    "total".into(),
                    component.to_string(),
                    total.to_string(),
                ]);
            }
        }
    }
    let header = ["RESOURCE", "PERIOD", "COMPONENT", "AMOUNT"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, r: &[String; 4]| {
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    line(out, &header)?;
    for r in &rows {
        line(out, r)?;
    }
    if rows.is_empty() {
        writeln!(out, "(no usage in the selected months)")?;
    }
    Ok(())
}

/// One summary on stderr (through the log), with every line accounted for.
pub fn summarize(c: &Collection) {
    let r = &c.records;
    tracing::info!(
        lines = r.lines,
        jobs = r.jobs,
        steps = r.steps,
        duplicates = r.duplicates,
        not_started = r.not_started,
        unmapped = r.unmapped,
        invalid = r.invalid,
        cells = c.usages.len(),
        "collected"
    );
    for inv in &c.invalid {
        tracing::warn!("invalid record: {inv}");
    }
    if r.invalid > c.invalid.len() as u64 {
        tracing::warn!(
            "... and {} more invalid records",
            r.invalid - c.invalid.len() as u64
        );
    }
    for u in &c.unmapped {
        tracing::warn!(account = %u.account, jobs = u.jobs, "account maps to no Waldur resource: not reported");
    }
}
