//! Entry points of the `cargo fuzz` targets (in `fuzz/`), kept here so that the fuzzer and
//! the stable test that replays every corpus and regression input (`cargo test`) run one
//! implementation.
//!
//! Each entry point reads arbitrary bytes as one kind of input and checks the invariants a
//! source promises, returning a [`Violation`] instead of panicking (the fuzz targets turn it
//! into a crash, the replay test into a failure):
//! - nothing panics, whatever the bytes;
//! - every line read is in exactly one bucket (headers, jobs, steps, not started, invalid,
//!   other, amounts), and the sink saw exactly the records and invalid lines counted;
//! - every record handed on is within [`tally_model::bounds`]: times in range, End not
//!   before Start, quantities and amounts non-negative and bounded;
//! - every invalid line names a line of the file, a field and a reason.

use std::path::Path;

use chrono_tz::Tz;
use rust_decimal::Decimal;
use tally_model::bounds::{time_in_range, MAX_ROW_AMOUNT, MAX_YEAR, MIN_YEAR};

use crate::csv::{CsvKind, CsvOptions, TimeFormat};
use crate::pbs::PbsOptions;
use crate::sacct::SacctOptions;
use crate::{
    AmountRecord, AmountWhen, InvalidRecord, JobRecord, LocalTimeParser, RecordSink, SourceError,
    SourceStats, TresKind,
};

/// A broken promise, with what was seen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant violated: {0}")]
pub struct Violation(pub String);

/// The columns of the sacct dumps the targets read (a headerless input uses them too).
pub const SACCT_FIELDS: [&str; 10] = [
    "JobID",
    "JobIDRaw",
    "Cluster",
    "Account",
    "User",
    "State",
    "Submit",
    "Start",
    "End",
    "AllocTRES",
];

/// The TRES a sacct target asks for.
pub const SACCT_TRES: [&str; 4] = ["cpu", "mem", "gres/gpu", "node"];
/// The quantities a PBS target asks for.
pub const PBS_TRES: [&str; 4] = ["ncpus", "mem", "ngpus", "nodect"];
/// The quantities a Grid Engine or LSF target asks for (`cpu` is read, `mem` never is).
pub const GRID_TRES: [&str; 2] = ["cpu", "mem"];
/// The quantities a CSV interval target asks for.
pub const CSV_TRES: [&str; 2] = ["cpu", "mem"];

/// The sacct options of the targets: default delimiter, a zone with DST changes.
pub fn sacct_options() -> SacctOptions {
    SacctOptions {
        fields: Some(SACCT_FIELDS.map(String::from).to_vec()),
        timezone: Tz::Europe__Amsterdam,
        ..SacctOptions::default()
    }
}

pub fn pbs_options() -> PbsOptions {
    PbsOptions {
        timezone: Tz::Europe__Amsterdam,
        cluster: "fuzz".into(),
        ..PbsOptions::default()
    }
}

/// One of eight CSV shapes, chosen by `selector`: amount rows by timestamp or by period,
/// interval rows with a strftime pattern or Unix seconds; with or without a `dedup_key`;
/// `,` or `;` between fields.
pub fn csv_options(selector: u8) -> CsvOptions {
    let (time_format, kind) = match selector % 4 {
        0 => (
            TimeFormat::Rfc3339,
            CsvKind::Amount {
                timestamp: Some("Time".into()),
                period: None,
                component: "Component".into(),
                amount: "Amount".into(),
            },
        ),
        1 => (
            TimeFormat::Rfc3339,
            CsvKind::Amount {
                timestamp: None,
                period: Some("Month".into()),
                component: "Component".into(),
                amount: "Amount".into(),
            },
        ),
        2 => (TimeFormat::Pattern("%Y-%m-%d %H:%M:%S".into()), interval()),
        _ => (TimeFormat::Unix, interval()),
    };
    CsvOptions {
        delimiter: if selector & 8 == 0 { b',' } else { b';' },
        timezone: Tz::Europe__Amsterdam,
        time_format,
        resource: "Project".into(),
        user: Some("User".into()),
        dedup_key: if selector & 4 == 0 {
            Vec::new()
        } else {
            vec!["Id".into()]
        },
        kind,
    }
}

fn interval() -> CsvKind {
    CsvKind::Interval {
        start: "Begin".into(),
        end: "Finish".into(),
        quantities: vec![
            ("cpu".into(), "Cores".into()),
            ("mem".into(), "Memory".into()),
        ],
    }
}

/// A sink that checks every record it is given against the bounds, and counts.
pub struct CheckingSink {
    wanted: Vec<String>,
    kinds: Vec<TresKind>,
    /// Physical lines in the input: no record or invalid line may name a later one.
    physical_lines: u64,
    pub records: u64,
    pub amounts: u64,
    pub invalid: u64,
    pub violations: Vec<String>,
}

impl CheckingSink {
    pub fn new(wanted: &[&str], input: &[u8]) -> Self {
        Self {
            wanted: wanted.iter().map(|w| w.to_string()).collect(),
            kinds: wanted.iter().map(|w| TresKind::of(w)).collect(),
            physical_lines: physical_lines(input),
            records: 0,
            amounts: 0,
            invalid: 0,
            violations: Vec::new(),
        }
    }

    fn check_line(&mut self, line: u64, what: &str) {
        if line == 0 || line > self.physical_lines {
            self.violations.push(format!(
                "{what} names line {line} of a {}-line input",
                self.physical_lines
            ));
        }
    }

    /// The first violation seen, if any.
    pub fn verdict(&self) -> Result<(), Violation> {
        match self.violations.first() {
            Some(v) => Err(Violation(v.clone())),
            None => Ok(()),
        }
    }
}

impl RecordSink for CheckingSink {
    fn wanted_tres(&self) -> &[String] {
        &self.wanted
    }

    fn record(&mut self, r: &JobRecord<'_>) {
        self.records += 1;
        self.check_line(r.line, "a record");
        if !time_in_range(r.start) {
            self.violations
                .push(format!("line {}: start {} out of range", r.line, r.start));
        }
        if let Some(end) = r.end {
            if !time_in_range(end) || end < r.start {
                self.violations.push(format!(
                    "line {}: end {end} out of range or before start {}",
                    r.line, r.start
                ));
            }
        }
        if r.quantities.len() != self.wanted.len() {
            self.violations.push(format!(
                "line {}: {} quantities",
                r.line,
                r.quantities.len()
            ));
        }
        for (q, kind) in r.quantities.iter().zip(&self.kinds) {
            if let Some(q) = q {
                if q.is_sign_negative() && !q.is_zero() || *q > kind.max_quantity() {
                    self.violations
                        .push(format!("line {}: quantity {q} out of bounds", r.line));
                }
            }
        }
    }

    fn record_millis(&mut self, r: &JobRecord<'_>, m: crate::Millis) {
        if m.start > 999 || m.end > 999 || r.end == Some(r.start) && m.end < m.start {
            self.violations.push(format!(
                "line {}: milliseconds {m:?} out of bounds or ending before they start",
                r.line
            ));
        }
        self.record(r);
    }

    fn amount(&mut self, r: &AmountRecord<'_>) {
        self.amounts += 1;
        self.check_line(r.line, "an amount");
        if r.amount.is_sign_negative() && !r.amount.is_zero() || r.amount > MAX_ROW_AMOUNT {
            self.violations.push(format!(
                "line {}: amount {} out of bounds",
                r.line, r.amount
            ));
        }
        if r.component.is_empty() {
            self.violations
                .push(format!("line {}: empty component", r.line));
        }
        match r.when {
            AmountWhen::At(t) if !time_in_range(t) => self
                .violations
                .push(format!("line {}: time {t} out of range", r.line)),
            AmountWhen::Month(m) if !(MIN_YEAR..=MAX_YEAR).contains(&m.year()) => self
                .violations
                .push(format!("line {}: month {m} out of range", r.line)),
            _ => {}
        }
    }

    fn invalid(&mut self, i: InvalidRecord) {
        self.invalid += 1;
        self.check_line(i.line, "an invalid line");
        if i.field.is_empty() || i.reason.is_empty() {
            self.violations
                .push(format!("line {}: invalid without field or reason", i.line));
        }
    }
}

/// Lines as the readers split them (`\n`; a last line without one still counts).
pub fn physical_lines(input: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', input).count() as u64;
    newlines + u64::from(!input.is_empty() && !input.ends_with(b"\n"))
}

/// Lines with something other than whitespace on them (what sacct and PBS count as read).
pub fn non_blank_lines(input: &[u8]) -> u64 {
    input
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count() as u64
}

/// Every line read is in exactly one bucket, and the sink saw what was counted.
pub fn check_stats(stats: &SourceStats, sink: &CheckingSink) -> Result<(), Violation> {
    sink.verdict()?;
    let accounted = stats.headers
        + stats.jobs
        + stats.steps
        + stats.not_started
        + stats.invalid
        + stats.other
        + stats.amounts;
    if accounted != stats.lines {
        return Err(Violation(format!(
            "{} lines read but {accounted} in buckets: {stats:?}",
            stats.lines
        )));
    }
    if (sink.records, sink.amounts, sink.invalid) != (stats.jobs, stats.amounts, stats.invalid) {
        return Err(Violation(format!(
            "the sink saw {} records, {} amounts, {} invalid; the stats say {stats:?}",
            sink.records, sink.amounts, sink.invalid
        )));
    }
    Ok(())
}

/// A source's verdict: an error that stops a file (no header, missing columns) is fine;
/// an I/O error from bytes in memory is not.
fn whole_file(
    result: Result<SourceStats, SourceError>,
    sink: &CheckingSink,
) -> Result<Option<SourceStats>, Violation> {
    match result {
        Ok(stats) => check_stats(&stats, sink).map(|()| Some(stats)),
        Err(SourceError::Format { .. }) => sink.verdict().map(|()| None),
        Err(e) => Err(Violation(format!("unexpected error: {e}"))),
    }
}

/// A line-per-record reader counts each non-blank line once: none lost, none twice.
fn every_non_blank_line_counted(stats: Option<&SourceStats>, data: &[u8]) -> Result<(), Violation> {
    let Some(s) = stats else { return Ok(()) };
    let want = non_blank_lines(data);
    if s.lines != want {
        return Err(Violation(format!(
            "{} lines counted, {want} non-blank lines in the input",
            s.lines
        )));
    }
    Ok(())
}

/// The sacct dump reader on arbitrary bytes (a header line is optional).
pub fn sacct(data: &[u8]) -> Result<Option<SourceStats>, Violation> {
    let mut sink = CheckingSink::new(&SACCT_TRES, data);
    let result = crate::sacct::read(data, Path::new("fuzz"), 0, &sacct_options(), &mut sink);
    let stats = whole_file(result, &sink)?;
    every_non_blank_line_counted(stats.as_ref(), data)?;
    Ok(stats)
}

/// The PBS accounting log reader on arbitrary bytes.
pub fn pbs(data: &[u8]) -> Result<Option<SourceStats>, Violation> {
    let mut sink = CheckingSink::new(&PBS_TRES, data);
    let result = crate::pbs::read(data, Path::new("fuzz"), 0, &pbs_options(), &mut sink);
    let stats = whole_file(result, &sink)?;
    every_non_blank_line_counted(stats.as_ref(), data)?;
    Ok(stats)
}

/// The Grid Engine accounting reader on arbitrary bytes.
pub fn sge(data: &[u8]) -> Result<Option<SourceStats>, Violation> {
    let mut sink = CheckingSink::new(&GRID_TRES, data);
    let opts = crate::sge::SgeOptions::default();
    let result = crate::sge::read(data, Path::new("fuzz"), 0, &opts, &mut sink);
    let stats = whole_file(result, &sink)?;
    every_non_blank_line_counted(stats.as_ref(), data)?;
    Ok(stats)
}

/// The LSF `lsb.acct` reader on arbitrary bytes.
pub fn lsf(data: &[u8]) -> Result<Option<SourceStats>, Violation> {
    let mut sink = CheckingSink::new(&GRID_TRES, data);
    let opts = crate::lsf::LsfOptions::default();
    let result = crate::lsf::read(data, Path::new("fuzz"), 0, &opts, &mut sink);
    let stats = whole_file(result, &sink)?;
    every_non_blank_line_counted(stats.as_ref(), data)?;
    Ok(stats)
}

/// The CSV reader on arbitrary bytes; the first byte chooses the shape ([`csv_options`]).
pub fn csv(data: &[u8]) -> Result<Option<SourceStats>, Violation> {
    let Some((&selector, file)) = data.split_first() else {
        return Ok(None);
    };
    let opts = csv_options(selector);
    let wanted: &[&str] = if matches!(opts.kind, CsvKind::Interval { .. }) {
        &CSV_TRES
    } else {
        &[]
    };
    let mut sink = CheckingSink::new(wanted, file);
    let result = crate::csv::read(file, Path::new("fuzz"), 0, &opts, &mut sink);
    let stats = whole_file(result, &sink)?;
    if let Some(s) = &stats {
        // A record may run over several lines (quoted newlines) and a row of empty fields
        // counts as blank: never more records than non-blank lines.
        let most = non_blank_lines(file);
        if s.lines > most {
            return Err(Violation(format!(
                "{} lines counted, only {most} non-blank lines in the input",
                s.lines
            )));
        }
    }
    Ok(stats)
}

/// The TRES value parser: a value is refused or within its kind's bound.
pub fn tres(data: &[u8]) -> Result<(), Violation> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    for kind in [TresKind::Count, TresKind::Memory] {
        if let Ok(q) = crate::parse_quantity(text, kind) {
            if q.is_sign_negative() && !q.is_zero() || q > kind.max_quantity() {
                return Err(Violation(format!("{text:?} as {kind:?} gave {q}")));
            }
        }
    }
    Ok(())
}

/// Every timestamp parser (sacct's, PBS's record time, CSV's three formats): a value is
/// refused or an instant in range.
pub fn timestamp(data: &[u8]) -> Result<(), Violation> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let check = |what: &str, t: i64| {
        if time_in_range(t) {
            Ok(())
        } else {
            Err(Violation(format!("{what} read {text:?} as {t}")))
        }
    };
    for tz in [Tz::UTC, Tz::Europe__Amsterdam, Tz::America__Havana] {
        if let Ok(t) = LocalTimeParser::new(tz).parse(text) {
            check("sacct", t)?;
        }
        if let Ok(t) = crate::pbs::parse_stamp(text, tz) {
            check("pbs", t)?;
        }
    }
    for selector in [0u8, 2, 3] {
        let mut opts = csv_options(selector);
        if let Ok(t) = crate::csv::parse_time(text, &opts) {
            check("csv", t)?;
        }
        opts.time_format = TimeFormat::Pattern("%d.%m.%Y".into());
        if let Ok(t) = crate::csv::parse_time(text, &opts) {
            check("csv date", t)?;
        }
    }
    Ok(())
}

/// Whether `d` is a valid amount of a cell (used by the collection target).
pub fn is_reportable_amount(d: Decimal) -> bool {
    !d.is_sign_negative() && d.scale() == 2 && d < tally_model::bounds::MAX_CELL_AMOUNT
}
