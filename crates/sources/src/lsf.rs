//! IBM Spectrum LSF `lsb.acct` files (`$LSB_SHAREDIR/<cluster>/logdir/lsb.acct*`).
//!
//! One event per line, fields separated by spaces, strings in double quotes with an embedded
//! quote doubled (`"-R ""span[ptile=16]"""`). A `JOB_FINISH` record is positional:
//! `"JOB_FINISH" "<version>" eventTime jobId userId options numProcessors submitTime
//! beginTime termTime startTime "userName" "queue" "resReq" "dependCond" "preExecCmd"
//! "fromHost" "cwd" "inFile" "outFile" "errFile" "jobFile" numAskedHosts "askedHosts"...
//! numExHosts "execHosts"... jStatus hostFactor "jobName" "command" <19 rusage numbers>
//! "mailUser" "projectName" exitStatus maxNumProcessors "loginShell" "timeEvent" idx ...`.
//! The two host lists are prefixed by their length, so every field after them moves with it;
//! a host list may use the short `16*host` form (one entry standing for 16 slots), which
//! changes nothing here: the count prefix counts entries.
//!
//! What tally does with it:
//! - **Usage** is `numProcessors` x the run time from `startTime` to the event time (when the
//!   job finished), under the TRES name `cpu`. No other TRES is read.
//! - **Resource** is `projectName` by default; `resource_field` chooses `queue` or
//!   `userName`. An empty string maps to no resource (reported as unmapped).
//! - **Identity** of a run: (cluster, `jobId`, `idx` (array index, 0 for a plain job),
//!   `submitTime`, `startTime`): the same run written again (re-logged, or in two
//!   overlapping files) counts once; a requeued job's runs differ by start.
//! - `startTime` 0: the job never ran (killed while pending): `records.not_started`. The
//!   exit status does not change billing.
//! - Other events (`JOB_RESIZE`, `EVENT_ADRSV_FINISH`, ...) carry no usage: `records.other`.
//! - **Damaged lines** (an unclosed quote, a list count that does not match the list, a
//!   number where a string belongs or the reverse) are invalid lines naming the field, never
//!   guessed at. Names may hold any UTF-8 (a job name with `à`); bytes that are not UTF-8
//!   only matter in the fields tally reads.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use rust_decimal::Decimal;

use tally_model::bounds::{time_in_range, MAX_COUNT, TIME_RANGE_TEXT};

use crate::lines::LineReader;
use crate::{InvalidRecord, JobRecord, RecordSink, SourceError, SourceStats};

/// The columns `resource_field` may name.
pub const RESOURCE_FIELDS: [&str; 3] = ["projectName", "queue", "userName"];

#[derive(Clone, Debug)]
pub struct LsfOptions {
    /// The field naming the Waldur resource: one of [`RESOURCE_FIELDS`].
    pub resource_field: String,
    /// The LSF cluster name, so that job ids of several clusters stay apart.
    pub cluster: String,
}

impl Default for LsfOptions {
    fn default() -> Self {
        Self {
            resource_field: "projectName".into(),
            cluster: String::new(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resource {
    Project,
    Queue,
    User,
}

/// One token of a line: byte range (without the quotes) and whether it was quoted.
#[derive(Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
    quoted: bool,
}

pub fn read<R: Read>(
    input: R,
    path: &Path,
    file_index: u32,
    opts: &LsfOptions,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, SourceError> {
    let resource = match opts.resource_field.as_str() {
        "projectName" => Resource::Project,
        "queue" => Resource::Queue,
        "userName" => Resource::User,
        other => {
            return Err(SourceError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "resource_field {other:?} is not one of {}",
                    RESOURCE_FIELDS.join(", ")
                ),
            })
        }
    };
    let wanted: Vec<String> = sink.wanted_tres().to_vec();
    let mut lines = LineReader::new(input, 1 << 20);
    let mut stats = SourceStats::default();
    let mut quantities: Vec<Option<Decimal>> = vec![None; wanted.len()];
    let mut tokens: Vec<Token> = Vec::with_capacity(256);
    let mut key = String::with_capacity(48);
    while let Some((line_no, line)) = lines.next_record(path)? {
        stats.lines += 1;
        let outcome = tokenize(line, &mut tokens).and_then(|()| parse(line, &tokens, resource));
        match outcome {
            Ok(Parsed::Run(run)) => {
                for (slot, name) in quantities.iter_mut().zip(&wanted) {
                    *slot = (name == "cpu").then_some(run.processors);
                }
                key.clear();
                use std::fmt::Write;
                let _ = write!(key, "{}[{}]@{}", run.job_id, run.idx, run.start);
                let record = JobRecord {
                    cluster: &opts.cluster,
                    key: &key,
                    job_id: &key[..key.find('@').unwrap_or(key.len())],
                    submit: Some(run.submit),
                    account: &run.account,
                    user: &run.user,
                    start: run.start,
                    end: Some(run.end),
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
                sink.invalid(InvalidRecord {
                    file: path.to_path_buf(),
                    line: line_no,
                    field,
                    reason,
                });
            }
        }
    }
    Ok(stats)
}

type Bad = (String, String);

fn bad(field: &str, reason: String) -> Bad {
    (field.to_string(), reason)
}

/// Splits on spaces; `"..."` is one token in which `""` stands for a quote.
fn tokenize(line: &[u8], out: &mut Vec<Token>) -> Result<(), Bad> {
    out.clear();
    let mut i = 0;
    while i < line.len() {
        if line[i] == b' ' || line[i] == b'\t' {
            i += 1;
            continue;
        }
        if line[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            loop {
                match memchr::memchr(b'"', &line[j..]) {
                    None => {
                        return Err(bad(
                            "line",
                            format!("the string opened at byte {} is never closed", i + 1),
                        ))
                    }
                    Some(p) => {
                        let q = j + p;
                        if line.get(q + 1) == Some(&b'"') {
                            j = q + 2;
                            continue;
                        }
                        if q + 1 < line.len() && !matches!(line[q + 1], b' ' | b'\t') {
                            return Err(bad(
                                "line",
                                format!(
                                    "the string opened at byte {} closes at byte {} with text \
                                     right after it",
                                    i + 1,
                                    q + 1
                                ),
                            ));
                        }
                        out.push(Token {
                            start,
                            end: q,
                            quoted: true,
                        });
                        i = q + 1;
                        break;
                    }
                }
            }
        } else {
            let start = i;
            while i < line.len() && !matches!(line[i], b' ' | b'\t') {
                i += 1;
            }
            out.push(Token {
                start,
                end: i,
                quoted: false,
            });
        }
    }
    Ok(())
}

struct Run<'a> {
    job_id: u64,
    idx: u64,
    submit: i64,
    start: i64,
    end: i64,
    processors: Decimal,
    account: Cow<'a, str>,
    user: Cow<'a, str>,
}

enum Parsed<'a> {
    Run(Run<'a>),
    NotStarted,
    Other,
}

/// Reads tokens by position, naming the field at fault.
struct Fields<'a> {
    line: &'a [u8],
    tokens: &'a [Token],
}

impl<'a> Fields<'a> {
    fn get(&self, i: usize, name: &str) -> Result<Token, Bad> {
        self.tokens.get(i).copied().ok_or_else(|| {
            bad(
                name,
                format!(
                    "is missing: the record ends after {} fields",
                    self.tokens.len()
                ),
            )
        })
    }

    fn raw(&self, t: Token) -> &'a [u8] {
        &self.line[t.start..t.end]
    }

    fn shown(&self, t: Token) -> String {
        format!("{:?}", String::from_utf8_lossy(self.raw(t)))
    }

    fn integer(&self, i: usize, name: &str) -> Result<i64, Bad> {
        let t = self.get(i, name)?;
        let v = self.raw(t);
        let (neg, digits) = match v {
            [b'-', rest @ ..] => (true, rest),
            _ => (false, v),
        };
        if t.quoted
            || digits.is_empty()
            || digits.len() > 18
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return Err(bad(
                name,
                format!(
                    "{} is not an integer (a list count that does not match its list shifts \
                     the fields)",
                    self.shown(t)
                ),
            ));
        }
        let n = digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        Ok(if neg { -n } else { n })
    }

    fn number(&self, i: usize, name: &str) -> Result<(), Bad> {
        let t = self.get(i, name)?;
        let v = self.raw(t);
        let body = v.strip_prefix(b"-").unwrap_or(v);
        let ok = !t.quoted
            && body.iter().any(u8::is_ascii_digit)
            && body.iter().all(|c| c.is_ascii_digit() || *c == b'.')
            && body.iter().filter(|c| **c == b'.').count() <= 1;
        if ok {
            Ok(())
        } else {
            Err(bad(name, format!("{} is not a number", self.shown(t))))
        }
    }

    /// A quoted string, its doubled quotes undone.
    fn string(&self, i: usize, name: &str) -> Result<Cow<'a, str>, Bad> {
        let t = self.get(i, name)?;
        if !t.quoted {
            return Err(bad(
                name,
                format!(
                    "{} is not a quoted string (a list count that does not match its list \
                     shifts the fields)",
                    self.shown(t)
                ),
            ));
        }
        let s =
            std::str::from_utf8(self.raw(t)).map_err(|_| bad(name, "is not valid UTF-8".into()))?;
        Ok(if s.contains("\"\"") {
            Cow::Owned(s.replace("\"\"", "\""))
        } else {
            Cow::Borrowed(s)
        })
    }

    fn time(&self, i: usize, name: &str) -> Result<i64, Bad> {
        let t = self.integer(i, name)?;
        if t != 0 && !time_in_range(t) {
            return Err(bad(
                name,
                format!("{t} is outside the accepted range {TIME_RANGE_TEXT}"),
            ));
        }
        Ok(t)
    }

    /// Skips a count-prefixed list of strings at `i`; the index after it.
    fn list(&self, i: usize, count_name: &str, list_name: &str) -> Result<usize, Bad> {
        let n = self.integer(i, count_name)?;
        let remaining = self.tokens.len().saturating_sub(i + 1);
        if n < 0 || n as usize > remaining {
            return Err(bad(
                count_name,
                format!("{n} is not the length of a list here ({remaining} fields follow)"),
            ));
        }
        for k in 0..n as usize {
            self.string(i + 1 + k, list_name)?;
        }
        Ok(i + 1 + n as usize)
    }
}

fn parse<'a>(line: &'a [u8], tokens: &'a [Token], resource: Resource) -> Result<Parsed<'a>, Bad> {
    let f = Fields { line, tokens };
    let kind = f.string(0, "event type")?;
    if kind != "JOB_FINISH" {
        return Ok(Parsed::Other);
    }
    f.string(1, "version")?;
    let end = f.time(2, "eventTime")?;
    let job_id = f.integer(3, "jobId")?;
    f.integer(4, "userId")?;
    f.integer(5, "options")?;
    let processors = f.integer(6, "numProcessors")?;
    let submit = f.time(7, "submitTime")?;
    f.time(8, "beginTime")?;
    f.time(9, "termTime")?;
    let start = f.time(10, "startTime")?;
    let user = f.string(11, "userName")?;
    let queue = f.string(12, "queue")?;
    for (i, name) in [
        (13, "resReq"),
        (14, "dependCond"),
        (15, "preExecCmd"),
        (16, "fromHost"),
        (17, "cwd"),
        (18, "inFile"),
        (19, "outFile"),
        (20, "errFile"),
        (21, "jobFile"),
    ] {
        f.string(i, name)?;
    }
    let after_asked = f.list(22, "numAskedHosts", "askedHosts")?;
    let base = f.list(after_asked, "numExHosts", "execHosts")?;
    f.integer(base, "jStatus")?;
    f.number(base + 1, "hostFactor")?;
    f.string(base + 2, "jobName")?;
    f.string(base + 3, "command")?;
    for k in 0..19 {
        f.number(base + 4 + k, "rusage")?;
    }
    f.string(base + 23, "mailUser")?;
    let project = f.string(base + 24, "projectName")?;
    f.integer(base + 25, "exitStatus")?;
    f.integer(base + 26, "maxNumProcessors")?;
    f.string(base + 27, "loginShell")?;
    f.string(base + 28, "timeEvent")?;
    let idx = f.integer(base + 29, "idx")?;
    if job_id < 0 || idx < 0 {
        let name = if job_id < 0 { "jobId" } else { "idx" };
        return Err(bad(name, "is negative".into()));
    }
    if start <= 0 {
        // Killed while pending: a JOB_FINISH without a start.
        return Ok(Parsed::NotStarted);
    }
    if end < start {
        return Err(bad(
            "eventTime",
            format!("{end} is before startTime {start}"),
        ));
    }
    if processors < 0 || Decimal::from(processors) > MAX_COUNT {
        return Err(bad(
            "numProcessors",
            format!("{processors} is not a processor count (0 to {MAX_COUNT} per job)"),
        ));
    }
    let account = match resource {
        Resource::Project => project,
        Resource::Queue => queue,
        Resource::User => user.clone(),
    };
    Ok(Parsed::Run(Run {
        job_id: job_id as u64,
        idx: idx as u64,
        submit,
        start,
        end,
        processors: Decimal::from(processors),
        account,
        user,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AmountRecord;

    /// (key, start, end, account, user, cpus)
    type Seen = (String, i64, Option<i64>, String, String, Option<String>);

    #[derive(Default)]
    struct Keep {
        runs: Vec<Seen>,
        invalid: Vec<InvalidRecord>,
        wanted: Vec<String>,
    }

    impl RecordSink for Keep {
        fn wanted_tres(&self) -> &[String] {
            &self.wanted
        }
        fn record(&mut self, r: &JobRecord<'_>) {
            self.runs.push((
                r.key.to_string(),
                r.start,
                r.end,
                r.account.to_string(),
                r.user.to_string(),
                r.quantities[0].map(|d| d.to_string()),
            ));
        }
        fn amount(&mut self, _: &AmountRecord<'_>) {}
        fn invalid(&mut self, i: InvalidRecord) {
            self.invalid.push(i);
        }
    }

    fn run(text: &str, opts: &LsfOptions) -> (SourceStats, Keep) {
        let mut sink = Keep {
            wanted: vec!["cpu".into()],
            ..Default::default()
        };
        let stats = read(text.as_bytes(), Path::new("lsb.acct"), 0, opts, &mut sink).unwrap();
        (stats, sink)
    }

    /// A real record's shape (xdmod-lsf), shortened script; `{HOSTS}` is the exec host list.
    fn record(hosts: &str, name: &str, project: &str) -> String {
        format!(
            "\"JOB_FINISH\" \"9.11\" 1389683139 404717 22025 33882739 128 1389642318 0 0 1389642771 \"anonuser\" \"regular\" \"span[ptile=16]\" \"\" \"\" \"hostlogin4-ib\" \"/scratch/a\" \"\" \"%J.out\" \"%J.err\" \"1389642318.404717\" 0 {hosts} 64 60.0 \"{name}\" \"#!/bin/tcsh;#BSUB -R \"\"span[ptile=16]\"\";date\" 5793844.230000 679.060000 966960 0 -1 0 0 3026323 0 0 0 0 -1 0 0 0 12529329 6498459 -1 \"\" \"{project}\" 0 128 \"\" \"\" 0 10725376 0 \"\" \"\" \"\" \"\" 0 \"\" 0 \"\" -1 \"/anonproject/anonuser\" \"\" \"\" \"\" -1 \"\" \"\" 6160 \"\" 1389642771 \"\" \"\" 0"
        )
    }

    #[test]
    fn short_and_long_host_lists_multibyte_names_and_doubled_quotes() {
        let short = record(
            "8 \"16*host1201-ib\" \"16*host1234-ib\" \"16*h3\" \"16*h4\" \"16*h5\" \"16*h6\" \"16*h7\" \"16*h8\"",
            "abcde0040",
            "anonproject",
        );
        let long = record("3 \"host1\" \"host1\" \"host2\"", "aàb", "proj \"\"x\"\"");
        let text = format!("{short}\n{long}\n");
        let (stats, sink) = run(&text, &LsfOptions::default());
        assert!(sink.invalid.is_empty(), "{:?}", sink.invalid);
        assert_eq!(stats.jobs, 2);
        let (key, start, end, account, user, cpus) = &sink.runs[0];
        assert_eq!(key, "404717[0]@1389642771");
        assert_eq!((*start, *end), (1389642771, Some(1389683139)));
        assert_eq!(
            (account.as_str(), user.as_str()),
            ("anonproject", "anonuser")
        );
        assert_eq!(cpus.as_deref(), Some("128"));
        assert_eq!(sink.runs[1].3, "proj \"x\"", "doubled quotes are one quote");
    }

    #[test]
    fn resource_field_choices_and_unknown_one() {
        let text = record("1 \"h\"", "j", "p");
        for (field, want) in [("queue", "regular"), ("userName", "anonuser")] {
            let opts = LsfOptions {
                resource_field: field.into(),
                ..Default::default()
            };
            assert_eq!(run(&text, &opts).1.runs[0].3, want);
        }
        let opts = LsfOptions {
            resource_field: "project".into(),
            ..Default::default()
        };
        let mut sink = Keep::default();
        let err = read(text.as_bytes(), Path::new("x"), 0, &opts, &mut sink).unwrap_err();
        assert!(err.to_string().contains("projectName"), "{err}");
    }

    #[test]
    fn damaged_records_name_their_field() {
        let good = record("1 \"h\"", "j", "p");
        let wrong_count = record("2 \"h\"", "j", "p");
        let unclosed = good.replace("\"anonuser\"", "\"anonuser");
        let never = good.replace(" 0 0 1389642771 \"anonuser\"", " 0 0 0 \"anonuser\"");
        let backwards = good.replace("1389683139", "1389600000");
        let too_many = good.replace(" 128 1389642318", " 99999999999 1389642318");
        let truncated = &good[..good.find("\"\" \"p\"").unwrap()];
        let resize = "\"JOB_RESIZE\" \"9.11\" 1389683139 404717";
        let text = [
            good.as_str(),
            &wrong_count,
            &unclosed,
            &never,
            &backwards,
            &too_many,
            truncated,
            resize,
            "\"JOB_FINISH",
        ]
        .join("\n");
        let (stats, sink) = run(&text, &LsfOptions::default());
        let got: Vec<(u64, &str)> = sink
            .invalid
            .iter()
            .map(|i| (i.line, i.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "execHosts"),
                (3, "line"),
                (5, "eventTime"),
                (6, "numProcessors"),
                (7, "mailUser"),
                (9, "line"),
            ],
            "{:#?}",
            sink.invalid
        );
        assert_eq!((stats.jobs, stats.not_started, stats.other), (1, 1, 1));
        assert_eq!(
            stats.lines,
            stats.jobs + stats.not_started + stats.other + stats.invalid
        );
    }
}
