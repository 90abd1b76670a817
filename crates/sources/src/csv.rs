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

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use tally_model::BillingMonth;

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
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| format_err(format!("cannot read the header line: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect::<Vec<_>>();
    let wanted: Vec<String> = sink.wanted_tres().to_vec();
    let cols = Columns::resolve(headers, opts, &wanted).map_err(format_err)?;
    let mut stats = SourceStats {
        lines: 1,
        headers: 1,
        ..Default::default()
    };
    let mut quantities: Vec<Option<Decimal>> = vec![None; wanted.len()];
    let mut record = ::csv::StringRecord::new();
    let mut key = String::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                if let ::csv::ErrorKind::Io(_) = e.kind() {
                    return Err(SourceError::Io {
                        path: path.to_path_buf(),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
                stats.lines += 1;
                stats.invalid += 1;
                sink.invalid(InvalidRecord {
                    file: path.to_path_buf(),
                    line,
                    field: "line".into(),
                    reason: e.to_string(),
                });
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        stats.lines += 1;
        match parse_row(
            &record,
            &cols,
            opts,
            line,
            file_index,
            &mut quantities,
            &mut key,
        ) {
            Ok(Row::Interval { start, end }) => {
                stats.jobs += 1;
                sink.record(&JobRecord {
                    cluster: "",
                    key: &key,
                    job_id: &key,
                    submit: None,
                    account: field(&record, cols.resource),
                    user: cols.user.map(|u| field(&record, u)).unwrap_or(""),
                    start,
                    end: Some(end),
                    quantities: &quantities,
                    file_index,
                    line,
                });
            }
            Ok(Row::Amount {
                component,
                amount,
                when,
            }) => {
                stats.amounts += 1;
                sink.amount(&AmountRecord {
                    key: (!cols.key.is_empty()).then_some(key.as_str()),
                    account: field(&record, cols.resource),
                    user: cols.user.map(|u| field(&record, u)).unwrap_or(""),
                    component,
                    amount,
                    when,
                    file_index,
                    line,
                });
            }
            Err((col, reason)) => {
                stats.invalid += 1;
                sink.invalid(InvalidRecord {
                    file: path.to_path_buf(),
                    line,
                    field: cols
                        .names
                        .get(col)
                        .cloned()
                        .unwrap_or_else(|| "line".into()),
                    reason,
                });
            }
        }
    }
    Ok(stats)
}

fn field(r: &::csv::StringRecord, i: usize) -> &str {
    r.get(i).map(str::trim).unwrap_or("")
}

enum Row<'a> {
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
    r: &'r ::csv::StringRecord,
    cols: &Columns,
    opts: &CsvOptions,
    line: u64,
    file_index: u32,
    quantities: &mut [Option<Decimal>],
    key: &mut String,
) -> Result<Row<'r>, (usize, String)> {
    let get = |i: usize| -> Result<&'r str, (usize, String)> {
        r.get(i)
            .map(str::trim)
            .ok_or((i, format!("is missing: the row has {} fields", r.len())))
    };
    let _ = get(cols.resource)?;
    key.clear();
    if cols.key.is_empty() {
        // No identity configured: every row is its own record.
        key.push_str(&format!("{file_index}:{line}"));
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
            Ok(Row::Interval { start: s, end: e })
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
            Ok(Row::Amount {
                component: c,
                amount: amount_value,
                when,
            })
        }
    }
}

fn parse_time(v: &str, opts: &CsvOptions) -> Result<i64, String> {
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
