//! Generic CSV exports (cloud billing, storage accounting, a site's own tools).
//!
//! Two kinds of rows, chosen per source:
//! - interval rows: a resource, a start and an end, and quantities that run for that time
//!   (like TRES): they go through the same period splitting as scheduler jobs;
//! - amount rows: a resource, a time or a `YYYY-MM` period, a component and an amount
//!   already in the component's unit.
//!
//! Columns are found by header name (a UTF-8 BOM and surrounding spaces are ignored, an
//! exact match wins over a case-insensitive one). Quoting, doubled quotes, CRLF and
//! embedded newlines are RFC 4180, handled by the `csv` crate.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use tally_model::BillingMonth;

use tally_model::bounds::{time_in_range, MAX_ROW_AMOUNT, TIME_RANGE_TEXT};

use crate::lines::LineReader;
use crate::tres::{parse_quantity, TresKind};
use crate::{
    AmountRecord, AmountWhen, InvalidRecord, JobRecord, RecordSink, SourceError, SourceStats,
};

/// How timestamps are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    /// `2026-10-01T12:00:00Z`, `2026-10-01 12:00:00+02:00`.
    Rfc3339,
    /// Unix seconds.
    Unix,
    /// A chrono `strftime` pattern without a zone (`%Y-%m-%d %H:%M:%S`, `%d.%m.%Y`): read in
    /// the source's zone.
    Pattern(String),
}

#[derive(Clone, Debug)]
pub enum CsvKind {
    Interval {
        start: String,
        end: String,
        /// (quantity name as components' `tres` use it, column).
        quantities: Vec<(String, String)>,
    },
    Amount {
        /// Column with an instant (read with `time_format`) ...
        timestamp: Option<String>,
        /// ... or with a billing month `YYYY-MM`.
        period: Option<String>,
        component: String,
        amount: String,
    },
}

#[derive(Clone, Debug)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub timezone: Tz,
    pub time_format: TimeFormat,
    /// Column naming the Waldur resource (backend_id, through the account mapping).
    pub resource: String,
    pub user: Option<String>,
    /// Columns that together identify a row across re-exported, overlapping files.
    pub dedup_key: Vec<String>,
    pub kind: CsvKind,
}

struct Columns {
    resource: usize,
    user: Option<usize>,
    key: Vec<usize>,
    kind: KindColumns,
    names: Vec<String>,
}

enum KindColumns {
    /// Per wanted quantity: its column and how to read its unit.
    Interval {
        start: usize,
        end: usize,
        quantities: Vec<Option<(usize, TresKind)>>,
    },
    Amount {
        when: When,
        component: usize,
        amount: usize,
    },
}

enum When {
    Timestamp(usize),
    Period(usize),
}

fn find(names: &[String], want: &str) -> Option<usize> {
    names
        .iter()
        .position(|n| n == want)
        .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(want)))
}

impl Columns {
    fn resolve(names: Vec<String>, opts: &CsvOptions, wanted: &[String]) -> Result<Self, String> {
        let mut missing = Vec::new();
        let mut need = |col: &str| match find(&names, col) {
            Some(i) => i,
            None => {
                missing.push(col.to_string());
                0
            }
        };
        let resource = need(&opts.resource);
        let user = opts.user.as_deref().map(&mut need);
        let key: Vec<usize> = opts.dedup_key.iter().map(|c| need(c)).collect();
        let kind = match &opts.kind {
            CsvKind::Interval {
                start,
                end,
                quantities,
            } => {
                let start = need(start);
                let end = need(end);
                let quantities = wanted
                    .iter()
                    .map(|w| {
                        quantities
                            .iter()
                            .find(|(n, _)| n == w)
                            .map(|(_, col)| (need(col), TresKind::of(w)))
                    })
                    .collect();
                KindColumns::Interval {
                    start,
                    end,
                    quantities,
                }
            }
            CsvKind::Amount {
                timestamp,
                period,
                component,
                amount,
            } => {
                let when = match (timestamp, period) {
                    (Some(t), _) => When::Timestamp(need(t)),
                    (None, Some(p)) => When::Period(need(p)),
                    (None, None) => {
                        return Err(
                            "an amount source needs a `timestamp` or a `period` column".into()
                        )
                    }
                };
                KindColumns::Amount {
                    when,
                    component: need(component),
                    amount: need(amount),
                }
            }
        };
        if !missing.is_empty() {
            return Err(format!(
                "the columns {} are missing (found: {})",
                missing.join(", "),
                names.join(", ")
            ));
        }
        Ok(Self {
            resource,
            user,
            key,
            kind,
            names,
        })
    }
}

/// A record may run over at most this many physical lines (a quoted field with newlines).
/// Past it, an opening quote that never closes is taken for what it almost always is, a
/// stray `"`: that line is invalid and the lines after it are read again on their own.
const MAX_RECORD_LINES: usize = 100;

pub fn read<R: Read>(
    input: R,
    path: &Path,
    file_index: u32,
    opts: &CsvOptions,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, SourceError> {
    let format_err = |reason: String| SourceError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let io_err = |source: std::io::Error| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let wanted: Vec<String> = sink.wanted_tres().to_vec();
    let mut lines = LineReader::new(input, 1 << 20);
    let mut parser = RecordParser::new(opts.delimiter);
    // Physical lines to read again after a quoting error, before reading on.
    let mut replay: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    // The physical lines of a record still open (a quoted field ran past a line end).
    let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut read_lines = 0u64;
    let mut cols: Option<Columns> = None;
    let mut stats = SourceStats::default();
    let mut quantities: Vec<Option<Decimal>> = vec![None; wanted.len()];
    let mut key = String::new();
    loop {
        let replayed;
        let (line_no, line): (u64, &[u8]) = match replay.pop_front() {
            Some((n, l)) => {
                replayed = l;
                (n, &replayed)
            }
            None => match lines.next_line().map_err(io_err)? {
                Some(l) => {
                    read_lines += 1;
                    (read_lines, l)
                }
                None if pending.is_empty() => break,
                None => {
                    // The end of the file inside a quoted field: the quote that opened it
                    // was a stray one.
                    if cols.is_none() {
                        return Err(format_err(format!(
                            "the header (line {}) has a quote that is never closed",
                            pending[0].0
                        )));
                    }
                    let reason = "opens a quoted field (`\"`) that is never closed".to_string();
                    quoting_error(
                        &mut pending,
                        &mut replay,
                        &mut parser,
                        &mut stats,
                        sink,
                        path,
                        reason,
                    );
                    continue;
                }
            },
        };
        let complete = if pending.is_empty() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            parser.feed(line);
            if !parser.feed(b"\n") {
                pending.push((line_no, line.to_vec()));
                continue;
            }
            true
        } else {
            parser.feed(line);
            let complete = parser.feed(b"\n");
            pending.push((line_no, line.to_vec()));
            complete
        };
        if !complete {
            if pending.len() >= MAX_RECORD_LINES && cols.is_none() {
                return Err(format_err(format!(
                    "the header (line {}) has a quote that is not closed {MAX_RECORD_LINES} lines later",
                    pending[0].0
                )));
            }
            if pending.len() >= MAX_RECORD_LINES {
                let reason = format!(
                    "opens a quoted field (`\"`) still open {MAX_RECORD_LINES} lines later"
                );
                quoting_error(
                    &mut pending,
                    &mut replay,
                    &mut parser,
                    &mut stats,
                    sink,
                    path,
                    reason,
                );
            }
            continue;
        }
        let first_line = pending.first().map_or(line_no, |p| p.0);
        let row = parser.row();
        let Some(columns) = &cols else {
            let names = row
                .map(|r| {
                    (0..r.len())
                        .map(|i| {
                            r.get(i)
                                .unwrap_or("")
                                .trim_start_matches('\u{feff}')
                                .trim()
                                .to_string()
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(|e| format_err(format!("cannot read the header line: {e}")))?;
            cols = Some(Columns::resolve(names, opts, &wanted).map_err(format_err)?);
            stats.lines += 1;
            stats.headers += 1;
            pending.clear();
            parser.reset();
            continue;
        };
        let outcome = match row {
            Err(reason) => Err((usize::MAX, reason)),
            Ok(r) if (0..r.len()).all(|i| r.get(i).unwrap_or("").trim().is_empty()) => {
                // A row of empty fields carries nothing; like a blank line, not a record.
                pending.clear();
                parser.reset();
                continue;
            }
            Ok(r) => parse_row(
                &r,
                columns,
                opts,
                first_line,
                file_index,
                &mut quantities,
                &mut key,
            )
            .map(|parsed| (r, parsed)),
        };
        match outcome {
            Err((col, reason)) if pending.len() > 1 => {
                // A record joined over several lines by a quote, and not valid: the quote
                // was a stray one. Costs its line only; the others are read on their own.
                let field = columns
                    .names
                    .get(col)
                    .map_or_else(|| "line".to_string(), |n| n.clone());
                let reason = format!(
                    "opens a quoted field (`\"`) that runs over the next {} lines, and the joined \
                     record is not valid (field {field}: {reason})",
                    pending.len() - 1
                );
                quoting_error(
                    &mut pending,
                    &mut replay,
                    &mut parser,
                    &mut stats,
                    sink,
                    path,
                    reason,
                );
                continue;
            }
            Err((col, reason)) => {
                stats.lines += 1;
                stats.invalid += 1;
                sink.invalid(InvalidRecord {
                    file: path.to_path_buf(),
                    line: first_line,
                    field: columns
                        .names
                        .get(col)
                        .cloned()
                        .unwrap_or_else(|| "line".into()),
                    reason,
                });
            }
            Ok((r, Parsed::Interval { start, end })) => {
                stats.lines += 1;
                stats.jobs += 1;
                let record = JobRecord {
                    cluster: "",
                    key: &key,
                    job_id: &key,
                    submit: None,
                    account: r.field(columns.resource),
                    user: columns.user.map(|u| r.field(u)).unwrap_or(""),
                    start,
                    end: Some(end),
                    quantities: &quantities,
                    file_index,
                    line: first_line,
                };
                if columns.key.is_empty() {
                    sink.record(&record);
                } else {
                    sink.record_last_wins(&record);
                }
            }
            Ok((
                r,
                Parsed::Amount {
                    component,
                    amount,
                    when,
                },
            )) => {
                stats.lines += 1;
                stats.amounts += 1;
                sink.amount(&AmountRecord {
                    key: (!columns.key.is_empty()).then_some(key.as_str()),
                    account: r.field(columns.resource),
                    user: columns.user.map(|u| r.field(u)).unwrap_or(""),
                    component,
                    amount,
                    when,
                    file_index,
                    line: first_line,
                });
            }
        }
        pending.clear();
        parser.reset();
    }
    if cols.is_none() {
        // An empty file: no header, so every configured column is missing.
        Columns::resolve(Vec::new(), opts, &wanted).map_err(format_err)?;
    }
    Ok(stats)
}

/// The first line of `pending` is invalid (its quote was a stray one); the lines after it go
/// back to be read again on their own.
fn quoting_error(
    pending: &mut Vec<(u64, Vec<u8>)>,
    replay: &mut VecDeque<(u64, Vec<u8>)>,
    parser: &mut RecordParser,
    stats: &mut SourceStats,
    sink: &mut dyn RecordSink,
    path: &Path,
    reason: String,
) {
    parser.reset();
    let first = pending.first().map_or(0, |p| p.0);
    for line in pending.drain(1..).rev() {
        replay.push_front(line);
    }
    pending.clear();
    stats.lines += 1;
    stats.invalid += 1;
    sink.invalid(InvalidRecord {
        file: path.to_path_buf(),
        line: first,
        field: "line".into(),
        reason,
    });
}

/// RFC 4180 records (quotes, doubled quotes, quoted newlines) parsed one physical line at a
/// time with `csv-core`, in reused buffers: no allocation per line. Lines are fed without
/// their newline, then a lone `\n`: the parser says whether that newline ended the record
/// or belongs to a quoted field, so a record's extent is decided by the same state machine
/// that splits its fields.
struct RecordParser {
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
}

impl RecordParser {
    fn new(delimiter: u8) -> Self {
        Self {
            core: csv_core::ReaderBuilder::new()
                .delimiter(delimiter)
                .terminator(csv_core::Terminator::Any(b'\n'))
                .build(),
            out: vec![0; 4096],
            ends: vec![0; 64],
            out_len: 0,
            ends_len: 0,
        }
    }

    fn reset(&mut self) {
        self.core.reset();
        self.out_len = 0;
        self.ends_len = 0;
    }

    /// Feeds bytes; true when they ended a record (only a `\n` can).
    fn feed(&mut self, mut input: &[u8]) -> bool {
        // To csv-core an empty input means the end of the data, which ends the record: an
        // empty line inside a quoted field must not.
        if input.is_empty() {
            return false;
        }
        loop {
            let (res, nin, nout, nend) = self.core.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                csv_core::ReadRecordResult::OutputFull => {
                    let grown = self.out.len() * 2;
                    self.out.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => return true,
                csv_core::ReadRecordResult::InputEmpty | csv_core::ReadRecordResult::End => {
                    return false
                }
            }
        }
    }

    /// The record just completed; an error when it is not UTF-8.
    fn row(&self) -> Result<Row<'_>, String> {
        let bytes = &self.out[..self.out_len];
        let ends = &self.ends[..self.ends_len];
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("is not valid UTF-8 (byte {})", e.valid_up_to()))?;
        // Every field must be UTF-8 on its own, not only their concatenation.
        if let Some(&e) = ends.iter().find(|&&e| !text.is_char_boundary(e)) {
            return Err(format!("is not valid UTF-8 (byte {e})"));
        }
        Ok(Row { text, ends })
    }
}

/// The fields of one record, borrowed from the parser's buffers.
struct Row<'a> {
    text: &'a str,
    ends: &'a [usize],
}

impl<'a> Row<'a> {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// A field, trimmed; "" when the row is too short.
    fn field(&self, i: usize) -> &'a str {
        self.get(i).map(str::trim).unwrap_or("")
    }
}

enum Parsed<'a> {
    Interval {
        start: i64,
        end: i64,
    },
    Amount {
        component: &'a str,
        amount: Decimal,
        when: AmountWhen,
    },
}

fn parse_row<'r>(
    r: &Row<'r>,
    cols: &Columns,
    opts: &CsvOptions,
    line: u64,
    file_index: u32,
    quantities: &mut [Option<Decimal>],
    key: &mut String,
) -> Result<Parsed<'r>, (usize, String)> {
    let get = |i: usize| -> Result<&'r str, (usize, String)> {
        r.get(i)
            .map(str::trim)
            .ok_or((i, format!("is missing: the row has {} fields", r.len())))
    };
    let _ = get(cols.resource)?;
    key.clear();
    if cols.key.is_empty() {
        // No identity configured: every row is its own record.
        // Written into the reused buffer: no allocation per row.
        let _ = write!(key, "{file_index}:{line}");
    } else {
        for (n, &i) in cols.key.iter().enumerate() {
            if n > 0 {
                key.push('\u{1f}');
            }
            key.push_str(get(i)?);
        }
    }
    match &cols.kind {
        KindColumns::Interval {
            start,
            end,
            quantities: qcols,
        } => {
            let s = parse_time(get(*start)?, opts).map_err(|e| (*start, e))?;
            let e = parse_time(get(*end)?, opts).map_err(|e| (*end, e))?;
            if e < s {
                return Err((*end, format!("{:?} is before the start", get(*end)?)));
            }
            for (slot, col) in quantities.iter_mut().zip(qcols) {
                *slot = match col {
                    None => None,
                    Some((i, kind)) => {
                        let v = get(*i)?;
                        if v.is_empty() {
                            None
                        } else {
                            Some(parse_quantity(v, *kind).map_err(|e| (*i, e.to_string()))?)
                        }
                    }
                };
            }
            Ok(Parsed::Interval { start: s, end: e })
        }
        KindColumns::Amount {
            when,
            component,
            amount,
        } => {
            let c = get(*component)?;
            if c.is_empty() {
                return Err((*component, "is empty".into()));
            }
            let a = get(*amount)?;
            let amount_value = Decimal::from_str_exact(a)
                .map_err(|_| (*amount, format!("{a:?} is not a decimal number")))?;
            // Usage is never negative (every other source refuses it too): a credit or a
            // correction is not usage, and summing it would lower a bill without a trace.
            if amount_value.is_sign_negative() && !amount_value.is_zero() {
                return Err((*amount, format!("{a:?} is negative")));
            }
            if amount_value > MAX_ROW_AMOUNT {
                return Err((
                    *amount,
                    format!("{a:?} is more than one row can carry (at most {MAX_ROW_AMOUNT})"),
                ));
            }
            let when = match when {
                When::Timestamp(i) => {
                    AmountWhen::At(parse_time(get(*i)?, opts).map_err(|e| (*i, e))?)
                }
                When::Period(i) => {
                    let v = get(*i)?;
                    let month = v
                        .parse::<BillingMonth>()
                        .or_else(|_| {
                            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                                .map_err(|_| ())
                                .and_then(|d| {
                                    BillingMonth::new(
                                        chrono::Datelike::year(&d),
                                        chrono::Datelike::month(&d),
                                    )
                                    .map_err(|_| ())
                                })
                        })
                        .map_err(|_| (*i, format!("{v:?} is not a month (YYYY-MM)")))?;
                    AmountWhen::Month(month)
                }
            };
            Ok(Parsed::Amount {
                component: c,
                amount: amount_value,
                when,
            })
        }
    }
}

/// Parses a time column; instants outside [`TIME_RANGE_TEXT`] are refused (a record dated
/// there is damaged, and would make the aggregator walk every month in between).
pub(crate) fn parse_time(v: &str, opts: &CsvOptions) -> Result<i64, String> {
    let t = parse_time_unbounded(v, opts)?;
    if time_in_range(t) {
        Ok(t)
    } else {
        Err(format!(
            "{v:?} is outside the accepted range {TIME_RANGE_TEXT}"
        ))
    }
}

fn parse_time_unbounded(v: &str, opts: &CsvOptions) -> Result<i64, String> {
    if v.is_empty() {
        return Err("is empty".into());
    }
    match &opts.time_format {
        TimeFormat::Unix => v
            .parse::<i64>()
            .map_err(|_| format!("{v:?} is not Unix seconds")),
        TimeFormat::Rfc3339 => DateTime::parse_from_rfc3339(v)
            .or_else(|_| DateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%:z"))
            .map(|t| t.timestamp())
            .map_err(|_| format!("{v:?} is not an RFC 3339 time with an offset")),
        TimeFormat::Pattern(p) => {
            let naive = NaiveDateTime::parse_from_str(v, p)
                .or_else(|_| {
                    NaiveDate::parse_from_str(v, p)
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                })
                .map_err(|_| format!("{v:?} does not match the time format {p:?}"))?;
            match opts.timezone.from_local_datetime(&naive) {
                LocalResult::Single(t) => Ok(t.timestamp()),
                LocalResult::Ambiguous(first, _) => Ok(first.timestamp()),
                LocalResult::None => Err(format!(
                    "{v:?} does not exist in {} (DST gap)",
                    opts.timezone.name()
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Keep {
        amounts: Vec<(u64, String)>,
        invalid: Vec<(u64, String)>,
    }

    impl RecordSink for Keep {
        fn wanted_tres(&self) -> &[String] {
            &[]
        }
        fn record(&mut self, _: &JobRecord<'_>) {}
        fn amount(&mut self, r: &AmountRecord<'_>) {
            self.amounts.push((r.line, r.amount.to_string()));
        }
        fn invalid(&mut self, i: InvalidRecord) {
            self.invalid.push((i.line, i.field));
        }
    }

    fn opts() -> CsvOptions {
        CsvOptions {
            delimiter: b',',
            timezone: Tz::UTC,
            time_format: TimeFormat::Rfc3339,
            resource: "P".into(),
            user: None,
            dedup_key: Vec::new(),
            kind: CsvKind::Amount {
                timestamp: None,
                period: Some("M".into()),
                component: "C".into(),
                amount: "A".into(),
            },
        }
    }

    fn read_all(text: &str) -> Result<(SourceStats, Keep), SourceError> {
        let mut keep = Keep::default();
        let stats = read(text.as_bytes(), Path::new("f.csv"), 0, &opts(), &mut keep)?;
        Ok((stats, keep))
    }

    #[test]
    fn a_quote_open_past_the_line_limit_costs_its_line_only() {
        let mut text = String::from("P,M,C,A\np,2026-10,\"s,1\n");
        for _ in 0..(MAX_RECORD_LINES + 20) {
            text.push_str("p,2026-10,s,1\n");
        }
        let (stats, keep) = read_all(&text).unwrap();
        assert_eq!(keep.invalid, [(2, "line".to_string())]);
        assert_eq!(keep.amounts.len(), MAX_RECORD_LINES + 20);
        assert_eq!(keep.amounts[0].0, 3, "physical line numbers");
        assert_eq!(stats.lines, stats.headers + stats.amounts + stats.invalid);
    }

    #[test]
    fn quoted_newlines_doubled_quotes_and_crlf_still_make_one_record() {
        let text = "P,M,C,A\r\n\"p\"\"x\",2026-10,\"multi\r\n\r\nline\",2.5\r\np,2026-10,s,1\r\n";
        let (stats, keep) = read_all(text).unwrap();
        assert_eq!(keep.amounts, [(2, "2.5".to_string()), (5, "1".to_string())]);
        assert!(keep.invalid.is_empty());
        assert_eq!(stats.lines, 3);
    }

    #[test]
    fn a_header_with_an_unclosed_quote_is_a_format_error() {
        let err = read_all("P,\"M,C,A\np,2026-10,s,1\n").unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
        let err = read_all("").unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
