//! PBS Pro / Torque accounting logs (`server_priv/accounting/YYYYMMDD`).
//!
//! Each line is `MM/DD/YYYY HH:MM:SS;<type>;<job id>;<key=value ...>`. What is billed:
//! - `E` (end) and `R` (rerun) records: a run that finished, from its `start` to its `end`
//!   (Unix seconds). A rerun job has one `R` per earlier run and an `E` for the last one,
//!   each with its own `start`, so every run is billed once.
//! - `S` (start) records: a run still going (no `E` yet); it runs until `--as-of`. When its
//!   `E` arrives (same job, same `start`), the `E` replaces it.
//!
//! Everything else (`Q`, `D`, `A`, reservations, array parents `123[]`) carries no usage
//! and is counted as `other`.
//!
//! Quantities, by the names a component's `tres` uses:
//! - `ncpus`: `Resource_List.ncpus`, else `resources_used.ncpus`, else Torque's
//!   `Resource_List.nodes=N:ppn=P` (N x P, summed over `+` parts), else the slots of
//!   `exec_host` (`n1/0-3+n2/0*13+n3/7`).
//! - `ngpus`: `Resource_List.ngpus`, else `Resource_List.gpu`, else the `gpus=` of
//!   `Resource_List.nodes`.
//! - `mem`: `Resource_List.mem` in MiB (`b`, `kb`, `mb`, `gb`, `tb`, any case; a bare number
//!   is bytes; powers of 1024).
//! - `nodect`, or any other name X: `Resource_List.X`, else `resources_used.X`, as a number.

use std::io::Read;
use std::path::Path;

use chrono_tz::Tz;
use rust_decimal::Decimal;

use tally_model::bounds::{time_in_range, MAX_COUNT, MAX_MEMORY_MIB, TIME_RANGE_TEXT};

use crate::lines::LineReader;
use crate::{InvalidRecord, JobRecord, RecordSink, SourceError, SourceStats};

#[derive(Clone, Debug)]
pub struct PbsOptions {
    /// Zone of the leading timestamp, used only when an `E` record lacks `end`.
    pub timezone: Tz,
    /// Attribute naming the Waldur resource: `account` by default (`project`, `group` and
    /// `queue` are other common choices).
    pub resource_field: String,
    /// A name for this PBS server, so that job ids of several servers stay apart.
    pub cluster: String,
}

impl Default for PbsOptions {
    fn default() -> Self {
        Self {
            timezone: Tz::UTC,
            resource_field: "account".into(),
            cluster: String::new(),
        }
    }
}

pub fn read<R: Read>(
    input: R,
    path: &Path,
    file_index: u32,
    opts: &PbsOptions,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, SourceError> {
    let wanted: Vec<String> = sink.wanted_tres().to_vec();
    let mut lines = LineReader::new(input, 1 << 20);
    let mut stats = SourceStats::default();
    let mut quantities: Vec<Option<Decimal>> = vec![None; wanted.len()];
    while let Some((line_no, line)) = lines.next_record(path)? {
        stats.lines += 1;
        let invalid = |field: &str, reason: String| InvalidRecord {
            file: path.to_path_buf(),
            line: line_no,
            field: field.to_string(),
            reason,
        };
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            // Job names may carry other encodings; the fields tally needs are ASCII.
            Err(_) => {
                stats.invalid += 1;
                sink.invalid(invalid("line", "is not valid UTF-8".into()));
                continue;
            }
        };
        let mut attrs: Vec<(&str, &str)> = Vec::with_capacity(64);
        match parse_line(text, opts, &wanted, &mut attrs, &mut quantities) {
            Ok(Parsed::Run { id, start, end }) => {
                let record = JobRecord {
                    cluster: &opts.cluster,
                    key: id,
                    job_id: id,
                    // The run's start tells the runs of a rerun job apart.
                    submit: Some(start),
                    account: lookup(&attrs, &opts.resource_field).unwrap_or(""),
                    user: lookup(&attrs, "user").unwrap_or(""),
                    start,
                    end,
                    quantities: &quantities,
                    file_index,
                    line: line_no,
                };
                stats.jobs += 1;
                sink.record(&record);
            }
            Ok(Parsed::NotStarted) => stats.not_started += 1,
            Ok(Parsed::Other) => stats.other += 1,
            Err((field, reason)) => {
                stats.invalid += 1;
                sink.invalid(invalid(&field, reason));
            }
        }
    }
    Ok(stats)
}

enum Parsed<'a> {
    Run {
        id: &'a str,
        start: i64,
        end: Option<i64>,
    },
    NotStarted,
    Other,
}

type Bad = (String, String);

fn parse_line<'a>(
    text: &'a str,
    opts: &PbsOptions,
    wanted: &[String],
    attrs: &mut Vec<(&'a str, &'a str)>,
    quantities: &mut [Option<Decimal>],
) -> Result<Parsed<'a>, Bad> {
    let mut parts = text.splitn(4, ';');
    let stamp = parts.next().unwrap_or("");
    let (Some(kind), Some(job_id)) = (parts.next(), parts.next()) else {
        return Err((
            "line".into(),
            "is not `MM/DD/YYYY HH:MM:SS;<type>;<job id>;<attributes>`".into(),
        ));
    };
    let rest = parts.next().unwrap_or("");
    if !matches!(kind, "E" | "R" | "S") {
        return Ok(Parsed::Other);
    }
    let id = job_id.split('.').next().unwrap_or(job_id);
    if id.is_empty() {
        return Err(("job id".into(), "is empty".into()));
    }
    if id.ends_with("[]") {
        // An array parent's record repeats its subjobs' usage.
        return Ok(Parsed::Other);
    }
    tokenize(rest, attrs).map_err(|reason| ("attributes".to_string(), reason))?;
    let epoch = |name: &str| -> Result<Option<i64>, Bad> {
        match lookup(attrs, name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| (name.to_string(), format!("{v:?} is not a Unix time"))),
        }
    };
    let out_of_range = |name: &str, t: i64| {
        (
            name.to_string(),
            format!("{t} is outside the accepted range {TIME_RANGE_TEXT}"),
        )
    };
    let start = match epoch("start")? {
        // PBS writes start=0 (or nothing) for a job that never ran.
        Some(s) if s > 0 => s,
        _ => return Ok(Parsed::NotStarted),
    };
    if !time_in_range(start) {
        return Err(out_of_range("start", start));
    }
    let end = if kind == "S" {
        None
    } else {
        match epoch("end")? {
            Some(e) if !time_in_range(e) => return Err(out_of_range("end", e)),
            Some(e) => Some(e),
            None => Some(parse_stamp(stamp, opts.timezone).map_err(|r| ("end".to_string(), r))?),
        }
    };
    if let Some(e) = end {
        if e < start {
            return Err(("end".into(), format!("{e} is before start {start}")));
        }
    }
    for (slot, name) in quantities.iter_mut().zip(wanted) {
        *slot = quantity(attrs, name)?;
    }
    Ok(Parsed::Run { id, start, end })
}

/// Splits `key=value key="quoted value" ...` on the first `=` of each token.
fn tokenize<'a>(rest: &'a str, out: &mut Vec<(&'a str, &'a str)>) -> Result<(), String> {
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let key = &rest[key_start..i];
        if i >= b.len() || b[i] == b' ' {
            // A bare word: no value.
            out.push((key, ""));
            continue;
        }
        i += 1; // '='
        if i < b.len() && b[i] == b'"' {
            let vstart = i + 1;
            match rest[vstart..].find('"') {
                Some(p) => {
                    out.push((key, &rest[vstart..vstart + p]));
                    i = vstart + p + 1;
                }
                None => return Err(format!("the value of {key} has no closing quote")),
            }
        } else {
            let vstart = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            out.push((key, &rest[vstart..i]));
        }
    }
    Ok(())
}

fn lookup<'a>(attrs: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    // The last occurrence wins, as PBS's own tools read it.
    attrs.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A non-negative decimal, any size (memory in bytes is scaled and bounded afterwards).
fn decimal(attr: &str, v: &str) -> Result<Decimal, Bad> {
    let d = Decimal::from_str_exact(v.trim())
        .map_err(|_| (attr.to_string(), format!("{v:?} is not a number")))?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err((attr.to_string(), format!("{v:?} is negative")));
    }
    Ok(d)
}

/// A count one job can hold: non-negative and at most [`MAX_COUNT`].
fn number(attr: &str, v: &str) -> Result<Decimal, Bad> {
    let d = decimal(attr, v)?;
    if d > MAX_COUNT {
        return Err(count_too_large(attr, v));
    }
    Ok(d)
}

fn count_too_large(attr: &str, v: &str) -> Bad {
    (
        attr.to_string(),
        format!("{v:?} is more than any job can hold (at most {MAX_COUNT} per job)"),
    )
}

fn quantity(attrs: &[(&str, &str)], name: &str) -> Result<Option<Decimal>, Bad> {
    match name {
        "ncpus" => {
            for key in ["Resource_List.ncpus", "resources_used.ncpus"] {
                if let Some(v) = lookup(attrs, key) {
                    return number(key, v).map(Some);
                }
            }
            if let Some(nodes) = lookup(attrs, "Resource_List.nodes") {
                if let Some(n) = torque_nodes(nodes, "ppn")? {
                    return Ok(Some(n));
                }
            }
            match lookup(attrs, "exec_host") {
                Some(h) => exec_host_slots(h).map(|n| Some(Decimal::from(n))),
                None => Ok(None),
            }
        }
        "ngpus" => {
            for key in ["Resource_List.ngpus", "Resource_List.gpu"] {
                if let Some(v) = lookup(attrs, key) {
                    return number(key, v).map(Some);
                }
            }
            match lookup(attrs, "Resource_List.nodes") {
                Some(nodes) => torque_nodes(nodes, "gpus"),
                None => Ok(None),
            }
        }
        "mem" => match lookup(attrs, "Resource_List.mem") {
            Some(v) => memory_mib("Resource_List.mem", v).map(Some),
            None => Ok(None),
        },
        other => {
            for key in [
                format!("Resource_List.{other}"),
                format!("resources_used.{other}"),
            ] {
                if let Some(v) = lookup(attrs, &key) {
                    return number(&key, v).map(Some);
                }
            }
            Ok(None)
        }
    }
}

/// Torque's `nodes=4:ppn=8+2:ppn=4:gpus=1`: the sum over parts of count x `what`.
/// A part without `what` contributes nothing; `None` when no part has it.
fn torque_nodes(spec: &str, what: &str) -> Result<Option<Decimal>, Bad> {
    const ATTR: &str = "Resource_List.nodes";
    let mut total = Decimal::ZERO;
    let mut found = false;
    for part in spec.split('+') {
        let mut fields = part.split(':');
        let count = fields.next().unwrap_or("");
        let n = node_count(count).ok_or_else(|| {
            (
                ATTR.to_string(),
                format!(
                    "{count:?} in {spec:?} is neither a node count (at most {MAX_COUNT}) nor a host name"
                ),
            )
        })?;
        for f in fields {
            if let Some(v) = f.strip_prefix(what).and_then(|r| r.strip_prefix('=')) {
                let per = number(ATTR, v)?;
                // Both factors are at most 10^9: the product fits; the sum is bounded below.
                total = per
                    .checked_mul(n)
                    .and_then(|p| total.checked_add(p))
                    .filter(|t| *t <= MAX_COUNT)
                    .ok_or_else(|| count_too_large(ATTR, spec))?;
                found = true;
            }
        }
    }
    Ok(found.then_some(total))
}

/// The node count of one `+` part of Torque's `nodes=`: digits are a count (at most
/// [`MAX_COUNT`]); a host name (`node017`: a letter, then letters, digits, `-`, `_`, `.`)
/// is one node; anything else (`-2`, `4x`, empty, `1e9`) is not readable, and guessing
/// "one node" would bill the wrong amount without a word.
fn node_count(count: &str) -> Option<Decimal> {
    let b = count.as_bytes();
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        return count
            .parse::<u64>()
            .ok()
            .map(Decimal::from)
            .filter(|n| *n <= MAX_COUNT);
    }
    let host_like = b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    host_like.then_some(Decimal::ONE)
}

/// Slots in `exec_host`: `n1/7+n1/6` (one each), `c1/0-3` (a range), `c1/0*13` (a count).
fn exec_host_slots(h: &str) -> Result<u64, Bad> {
    let bad = || {
        (
            "exec_host".to_string(),
            format!("{h:?} is not a host/slot list"),
        )
    };
    let max = MAX_COUNT.mantissa() as u64;
    let too_large = || count_too_large("exec_host", h);
    let mut total = 0u64;
    // Every step adds at most u64::MAX to a total kept at most 10^9: checked, then bounded.
    let mut add = |n: u64| -> Result<(), Bad> {
        total = total
            .checked_add(n)
            .filter(|t| *t <= max)
            .ok_or_else(too_large)?;
        Ok(())
    };
    for part in h.split('+').filter(|p| !p.is_empty()) {
        let (_, slots) = part.rsplit_once('/').ok_or_else(bad)?;
        if let Some((_, count)) = slots.split_once('*') {
            add(count.parse::<u64>().map_err(|_| bad())?)?;
            continue;
        }
        for range in slots.split(',') {
            match range.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (
                        a.parse::<u64>().map_err(|_| bad())?,
                        b.parse::<u64>().map_err(|_| bad())?,
                    );
                    if b < a {
                        return Err(bad());
                    }
                    add(b - a)?;
                    add(1)?;
                }
                None => {
                    range.parse::<u64>().map_err(|_| bad())?;
                    add(1)?;
                }
            }
        }
    }
    Ok(total)
}

/// PBS sizes in MiB: `30gb`, `1993mb`, `756960kb`, `30b`, `30GB`, `12.27M`; bare = bytes.
fn memory_mib(attr: &str, v: &str) -> Result<Decimal, Bad> {
    let t = v.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n = decimal(attr, num).map_err(|_| (attr.to_string(), format!("{v:?} is not a size")))?;
    let exp: i32 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" => 1,
        "m" | "mb" => 2,
        "g" | "gb" => 3,
        "t" | "tb" => 4,
        "p" | "pb" => 5,
        "w" | "kw" | "mw" | "gw" => {
            return Err((
                attr.to_string(),
                format!("{v:?} is in words, which tally does not convert"),
            ))
        }
        _ => {
            return Err((
                attr.to_string(),
                format!("{v:?} has an unknown unit {unit:?}"),
            ))
        }
    };
    // To MiB: multiply by 1024^(exp - 2); division by 1024 terminates, so this is exact.
    let mut q = n;
    let k = Decimal::from(1024);
    for _ in exp..2 {
        q /= k;
    }
    let too_large = || {
        (
            attr.to_string(),
            format!("{v:?} is more than any job can hold (at most {MAX_MEMORY_MIB} MiB)"),
        )
    };
    for _ in 2..exp {
        q = q.checked_mul(k).ok_or_else(too_large)?;
    }
    if q > MAX_MEMORY_MIB {
        return Err(too_large());
    }
    Ok(q.normalize())
}

pub(crate) fn parse_stamp(stamp: &str, tz: Tz) -> Result<i64, String> {
    // MM/DD/YYYY HH:MM:SS -> YYYY-MM-DDTHH:MM:SS for the shared parser.
    let b = stamp.as_bytes();
    if b.len() != 19 || b[2] != b'/' || b[5] != b'/' || b[10] != b' ' {
        return Err(format!(
            "missing, and the record time {stamp:?} is not MM/DD/YYYY HH:MM:SS"
        ));
    }
    let iso = format!(
        "{}-{}-{}T{}",
        &stamp[6..10],
        &stamp[0..2],
        &stamp[3..5],
        &stamp[11..]
    );
    crate::LocalTimeParser::new(tz)
        .parse(&iso)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(s: &str) -> Vec<(&str, &str)> {
        let mut v = Vec::new();
        tokenize(s, &mut v).unwrap();
        v
    }

    #[test]
    fn attributes_split_on_the_first_equals_and_keep_quoted_values() {
        let a = attrs("user=x account=\"SCSG 0001\" Resource_List.select=1:ncpus=1:mem=30 exec_vnode=(c:ncpus=1:mem=1kb) flag");
        assert_eq!(lookup(&a, "account"), Some("SCSG 0001"));
        assert_eq!(lookup(&a, "Resource_List.select"), Some("1:ncpus=1:mem=30"));
        assert_eq!(lookup(&a, "exec_vnode"), Some("(c:ncpus=1:mem=1kb)"));
        assert_eq!(lookup(&a, "flag"), Some(""));
        let mut v = Vec::new();
        assert!(tokenize("account=\"open", &mut v).is_err());
    }

    /// (key, start, end, quantities), owned.
    type Run = (String, i64, Option<i64>, Vec<Option<String>>);

    #[derive(Default)]
    struct Keep {
        wanted: Vec<String>,
        runs: Vec<Run>,
        invalid: Vec<InvalidRecord>,
    }

    impl RecordSink for Keep {
        fn wanted_tres(&self) -> &[String] {
            &self.wanted
        }
        fn record(&mut self, r: &JobRecord<'_>) {
            let q = r
                .quantities
                .iter()
                .map(|q| q.map(|d| d.to_string()))
                .collect();
            self.runs.push((r.key.to_string(), r.start, r.end, q));
        }
        fn amount(&mut self, _: &crate::AmountRecord<'_>) {}
        fn invalid(&mut self, i: InvalidRecord) {
            self.invalid.push(i);
        }
    }

    #[test]
    fn running_jobs_array_subjobs_and_parents() {
        let log = "\
04/01/2026 10:00:00;S;100[1].srv;user=a account=p start=1775037600 Resource_List.ncpus=2
04/01/2026 10:00:00;S;100[2].srv;user=a account=p start=1775037600 Resource_List.ncpus=2
04/01/2026 11:00:00;E;100[1].srv;user=a account=p start=1775037600 end=1775041200 Resource_List.ncpus=2
04/01/2026 11:00:01;E;100[].srv;user=a account=p start=1775037600 end=1775041201 Resource_List.ncpus=4
04/01/2026 11:00:02;D;101.srv;requestor=a@h
04/01/2026 11:00:03;E;102.srv;user=a account=p start=abc end=1
garbage line
";
        let mut sink = Keep {
            wanted: vec!["ncpus".into()],
            ..Default::default()
        };
        let stats = read(
            log.as_bytes(),
            Path::new("log"),
            0,
            &PbsOptions::default(),
            &mut sink,
        )
        .unwrap();
        let keys: Vec<(&str, Option<i64>)> =
            sink.runs.iter().map(|r| (r.0.as_str(), r.2)).collect();
        // The S of subjob 2 is still running (no end); subjob 1 ended; the parent is skipped.
        assert_eq!(
            keys,
            [
                ("100[1]", None),
                ("100[2]", None),
                ("100[1]", Some(1775041200))
            ]
        );
        assert_eq!(stats.other, 2, "the array parent and the D record");
        assert_eq!(stats.invalid, 2);
        let fields: Vec<(u64, &str)> = sink
            .invalid
            .iter()
            .map(|i| (i.line, i.field.as_str()))
            .collect();
        assert_eq!(fields, [(6, "start"), (7, "line")]);
    }

    fn invalid_fields(log: &str, wanted: &[&str]) -> (SourceStats, Vec<(u64, String, String)>) {
        let mut sink = Keep {
            wanted: wanted.iter().map(|w| w.to_string()).collect(),
            ..Default::default()
        };
        let stats = read(
            log.as_bytes(),
            Path::new("log"),
            0,
            &PbsOptions::default(),
            &mut sink,
        )
        .unwrap();
        let fields = sink
            .invalid
            .into_iter()
            .map(|i| (i.line, i.field, i.reason))
            .collect();
        (stats, fields)
    }

    /// Issue 15: `nodes=4294967295:ppn=79228162514264337593543950335` overflowed the product
    /// (panic, exit 101). Every quantity and time no scheduler can produce is an invalid line
    /// naming its field; the lines after it are still read.
    #[test]
    fn values_no_scheduler_produces_are_invalid_lines_not_panics() {
        let log = "\
04/01/2026 11:00:00;E;1.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=4294967295:ppn=79228162514264337593543950335
04/01/2026 11:00:00;E;2.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=1000:ppn=1000000000
04/01/2026 11:00:00;E;3.s;account=p start=1775037600 end=1775041200 Resource_List.ncpus=100000000000000000000000000
04/01/2026 11:00:00;E;4.s;account=p start=1775037600 end=1775041200 exec_host=c1/0-18446744073709551615+c2/0
04/01/2026 11:00:00;E;5.s;account=p start=1775037600 end=1775041200 exec_host=c1/0*18446744073709551615+c2/0*18446744073709551615
04/01/2026 11:00:00;E;6.s;account=p start=1775037600 end=1775041200 Resource_List.mem=79228162514264337593543950335gb
04/01/2026 11:00:00;E;7.s;account=p start=-8000000000000 end=1775041200 Resource_List.ncpus=1
04/01/2026 11:00:00;E;8.s;account=p start=1775037600 end=9223372036854775807 Resource_List.ncpus=1
04/01/2026 11:00:00;E;9.s;account=p start=7258118400 end=7258118401 Resource_List.ncpus=1
04/01/2026 11:00:00;E;10.s;account=p start=1775037600 end=1775041200 Resource_List.ncpus=2
";
        let (stats, invalid) = invalid_fields(log, &["ncpus", "mem"]);
        let got: Vec<(u64, &str)> = invalid.iter().map(|(l, f, _)| (*l, f.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "Resource_List.nodes"),
                (2, "Resource_List.nodes"),
                (3, "Resource_List.ncpus"),
                (4, "exec_host"),
                (5, "exec_host"),
                (6, "Resource_List.mem"),
                (8, "end"),
                (9, "start"),
            ]
        );
        assert!(
            invalid[0].2.contains("at most 1000000000"),
            "{}",
            invalid[0].2
        );
        assert_eq!(stats.not_started, 1, "a negative start never ran");
        assert_eq!(stats.jobs, 1);
    }

    /// Issue 15: `nodes=4x:ppn=2` billed one node without a word. A count that is not
    /// digits and not a host name is an invalid line naming `Resource_List.nodes`.
    #[test]
    fn an_unreadable_torque_node_count_is_invalid_not_one() {
        let log = "\
04/01/2026 11:00:00;E;1.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=4x:ppn=2
04/01/2026 11:00:00;E;2.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=-2:ppn=2
04/01/2026 11:00:00;E;3.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=:ppn=2
04/01/2026 11:00:00;E;4.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=99999999999:ppn=2
04/01/2026 11:00:00;E;5.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=node017:ppn=4
";
        let (stats, invalid) = invalid_fields(log, &["ncpus"]);
        let got: Vec<(u64, &str)> = invalid.iter().map(|(l, f, _)| (*l, f.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "Resource_List.nodes"),
                (2, "Resource_List.nodes"),
                (3, "Resource_List.nodes"),
                (4, "Resource_List.nodes"),
            ]
        );
        assert!(invalid[0].2.contains("\"4x\""), "{}", invalid[0].2);
        assert_eq!(stats.jobs, 1, "a host name is still one node");
        assert_eq!(
            torque_nodes("node017:ppn=4", "ppn").unwrap(),
            Some(Decimal::from(4))
        );
    }

    #[test]
    fn memory_units() {
        let m = |v: &str| memory_mib("m", v).unwrap().to_string();
        assert_eq!(m("30gb"), "30720");
        assert_eq!(m("30GB"), "30720");
        assert_eq!(m("1993mb"), "1993");
        assert_eq!(m("756960kb"), "739.21875");
        assert_eq!(m("1048576b"), "1");
        assert_eq!(m("1048576"), "1");
        assert_eq!(m("12.27M"), "12.27");
        assert!(memory_mib("m", "4xb").is_err());
        assert!(memory_mib("m", "gb").is_err());
    }

    #[test]
    fn cpu_counts_from_every_form() {
        assert_eq!(exec_host_slots("i02n33/7+i02n33/6+i02n32/0").unwrap(), 3);
        assert_eq!(exec_host_slots("c1/0-3+c2/0-7").unwrap(), 12);
        assert_eq!(exec_host_slots("c1/0*13+c2/0*13").unwrap(), 26);
        assert!(exec_host_slots("garbage").is_err());
        assert_eq!(
            torque_nodes("4:ppn=8", "ppn").unwrap(),
            Some(Decimal::from(32))
        );
        assert_eq!(
            torque_nodes("1:ppn=28:gpus=1:default", "gpus").unwrap(),
            Some(Decimal::ONE)
        );
        assert_eq!(
            torque_nodes("2:ppn=4+1:ppn=2", "ppn").unwrap(),
            Some(Decimal::from(10))
        );
        assert_eq!(torque_nodes("4", "ppn").unwrap(), None);
    }
}
