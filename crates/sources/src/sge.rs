//! Grid Engine `accounting` files: Sun/Oracle SGE 6.2 and 8.x, Son of Grid Engine 8.1.9,
//! Univa/Altair Grid Engine 8.6+ (`$SGE_ROOT/$SGE_CELL/common/accounting`, accounting(5)).
//!
//! One finished job, array task or run per line, 45 colon-separated fields:
//! `qname:hostname:group:owner:job_name:job_number:account:priority:submission_time:
//! start_time:end_time:failed:exit_status:ru_wallclock:ru_utime:...:project:department:
//! granted_pe:slots:task_number:cpu:mem:io:category:iow:pe_taskid:maxvmem:arid:
//! ar_submission_time`. Univa/Altair Grid Engine writes times in **milliseconds** and may add
//! fields after these 45 (74 in 8.6). What tally does with it:
//!
//! - **Usage** is `slots` x wall time from `start_time` to `end_time`, under the TRES name
//!   `cpu` (so a config reads like a Slurm one). No other TRES is read: the consumables in
//!   `category` (`-l gpu=1`) count per slot or per job depending on the complex's
//!   configuration, which the file does not say.
//! - **Milliseconds** are told from seconds by magnitude, per line: a time of 10^10 or more
//!   is milliseconds (in seconds that is after the year 2286, outside every accepted time).
//!   The milliseconds are kept (handed to the sink with [`crate::RecordSink::record_millis`]):
//!   a 16-slot job of 12,837.318 s is 57.05 slot-hours, cut to seconds it would read 57.06.
//! - **Resource** is `project` by default; `resource_field` chooses `account`, `group`,
//!   `department`, `owner` or `qname`. `NONE` (and SGE 6's `none`) is Grid Engine's "no value":
//!   such a job maps to no resource and is reported as unmapped, as an empty Slurm Account.
//! - **Identity** of a run: (cluster, `job_number`, `task_number`, `submission_time`,
//!   `start_time`). accounting(5): a job that is rescheduled writes one record per run, all
//!   with the same submission time; the start time tells the runs apart, and the same run
//!   written twice (or in two overlapping files) counts once.
//! - `start_time` 0: the job never ran (`records.not_started`). `failed` and `exit_status`
//!   do not change billing: a failed job still held its slots from start to end.
//! - **Tightly integrated parallel jobs.** With `accounting_summary FALSE` a parallel job
//!   writes a record per task (`qrsh -inherit`) besides its master record. Per Grid Engine's
//!   `sge_write_rusage()` (`source/daemons/qmaster/sge_rusage.c`) every record of the job
//!   writes `slots` from the job's granted destination list (the whole job's slots) and a
//!   task record writes its `pe_task_id` in `pe_taskid`, the master `NONE`. So only the record
//!   whose `pe_taskid` is `NONE` is billed; task records are counted as `steps`, like Slurm's.
//! - `#` lines (`# Version: 8.1.9`, the "DO NOT MODIFY" banner) are headers; blank lines
//!   are skipped.
//! - **Damaged lines.** Grid Engine does not escape its delimiter: a colon inside a job name or
//!   a `category` shifts every later field. Such a line is invalid (naming the first field
//!   that is not what its position holds, or the field count), never guessed at: every
//!   numeric field of the 45 is checked, and a line of seconds must have exactly 45 fields.

use std::io::Read;
use std::path::Path;

use rust_decimal::Decimal;

use tally_model::bounds::{time_in_range, MAX_COUNT, TIME_RANGE_TEXT};

use crate::lines::LineReader;
use crate::{InvalidRecord, JobRecord, Millis, RecordSink, SourceError, SourceStats};

/// The 45 fields every Grid Engine since 6.2 writes, in order.
pub const FIELDS: [&str; 45] = [
    "qname",
    "hostname",
    "group",
    "owner",
    "job_name",
    "job_number",
    "account",
    "priority",
    "submission_time",
    "start_time",
    "end_time",
    "failed",
    "exit_status",
    "ru_wallclock",
    "ru_utime",
    "ru_stime",
    "ru_maxrss",
    "ru_ixrss",
    "ru_ismrss",
    "ru_idrss",
    "ru_isrss",
    "ru_minflt",
    "ru_majflt",
    "ru_nswap",
    "ru_inblock",
    "ru_oublock",
    "ru_msgsnd",
    "ru_msgrcv",
    "ru_nsignals",
    "ru_nvcsw",
    "ru_nivcsw",
    "project",
    "department",
    "granted_pe",
    "slots",
    "task_number",
    "cpu",
    "mem",
    "io",
    "category",
    "iow",
    "pe_taskid",
    "maxvmem",
    "arid",
    "ar_submission_time",
];

const QNAME: usize = 0;
const GROUP: usize = 2;
const OWNER: usize = 3;
const JOB_NUMBER: usize = 5;
const ACCOUNT: usize = 6;
const SUBMISSION: usize = 8;
const START: usize = 9;
const END: usize = 10;
const PROJECT: usize = 31;
const DEPARTMENT: usize = 32;
const SLOTS: usize = 34;
const TASK: usize = 35;
const PE_TASKID: usize = 41;

/// Fields that hold an integer (a shifted line puts text there).
const INTEGER_FIELDS: [usize; 10] = [5, 7, 8, 9, 10, 11, 12, 34, 35, 43];
/// Fields that hold a number, integer or not (`%f`, or `%d` in some versions).
const NUMBER_FIELDS: [usize; 23] = [
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 36, 37, 38, 40, 42,
];
/// `ar_submission_time`, the last of the 45: an integer.
const AR_SUBMISSION: usize = 44;

/// The columns `resource_field` may name.
pub const RESOURCE_FIELDS: [&str; 6] = [
    "project",
    "account",
    "group",
    "department",
    "owner",
    "qname",
];

/// A time of this or more is in milliseconds (as seconds it is after 2286).
const MILLIS_FROM: i64 = 10_000_000_000;

/// Fields kept per line (Univa 8.6 writes 74); the rest are counted, not read.
const MAX_FIELDS: usize = 128;

#[derive(Clone, Debug)]
pub struct SgeOptions {
    /// The field naming the Waldur resource: one of [`RESOURCE_FIELDS`].
    pub resource_field: String,
    /// A name for this Grid Engine cell, so that job numbers of several cells stay apart.
    pub cluster: String,
}

impl Default for SgeOptions {
    fn default() -> Self {
        Self {
            resource_field: "project".into(),
            cluster: String::new(),
        }
    }
}

fn resource_index(name: &str) -> Option<usize> {
    Some(match name {
        "project" => PROJECT,
        "account" => ACCOUNT,
        "group" => GROUP,
        "department" => DEPARTMENT,
        "owner" => OWNER,
        "qname" => QNAME,
        _ => return None,
    })
}

/// Grid Engine's "no value" (`NONE`; SGE 6 wrote `none`).
fn is_none(v: &str) -> bool {
    v == "NONE" || v == "none"
}

pub fn read<R: Read>(
    input: R,
    path: &Path,
    file_index: u32,
    opts: &SgeOptions,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, SourceError> {
    let resource = resource_index(&opts.resource_field).ok_or_else(|| SourceError::Format {
        path: path.to_path_buf(),
        reason: format!(
            "resource_field {:?} is not one of {}",
            opts.resource_field,
            RESOURCE_FIELDS.join(", ")
        ),
    })?;
    let wanted: Vec<String> = sink.wanted_tres().to_vec();
    let mut lines = LineReader::new(input, 1 << 20);
    let mut stats = SourceStats::default();
    let mut quantities: Vec<Option<Decimal>> = vec![None; wanted.len()];
    let mut key = String::with_capacity(48);
    while let Some((line_no, line)) = lines.next_record(path)? {
        stats.lines += 1;
        if line.first() == Some(&b'#') {
            stats.headers += 1;
            continue;
        }
        // Split on the stack: a line of more fields than Grid Engine writes keeps its count.
        let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let mut count = 0usize;
        for f in line.split(|&c| c == b':') {
            if count < MAX_FIELDS {
                fields[count] = f;
            }
            count += 1;
        }
        let outcome = parse(&fields[..count.min(MAX_FIELDS)], count, resource);
        match outcome {
            Ok(Parsed::Run(run)) => {
                for (slot, name) in quantities.iter_mut().zip(&wanted) {
                    *slot = (name == "cpu").then_some(run.slots);
                }
                key.clear();
                use std::fmt::Write;
                let _ = write!(
                    key,
                    "{}.{}@{}",
                    run.job_number,
                    run.task,
                    i128::from(run.start.0) * 1000 + i128::from(run.start.1)
                );
                let record = JobRecord {
                    cluster: &opts.cluster,
                    key: &key,
                    job_id: run.job_id,
                    submit: Some(run.submission),
                    account: run.account,
                    user: run.owner,
                    start: run.start.0,
                    end: Some(run.end.0),
                    quantities: &quantities,
                    file_index,
                    line: line_no,
                };
                stats.jobs += 1;
                sink.record_millis(
                    &record,
                    Millis {
                        start: run.start.1,
                        end: run.end.1,
                    },
                );
            }
            Ok(Parsed::NotStarted) => stats.not_started += 1,
            Ok(Parsed::Task) => stats.steps += 1,
            Err((field, reason)) => {
                stats.invalid += 1;
                sink.invalid(InvalidRecord {
                    file: path.to_path_buf(),
                    line: line_no,
                    field: field.to_string(),
                    reason,
                });
            }
        }
    }
    Ok(stats)
}

/// A billed run, borrowed from the line.
struct Run<'a> {
    job_number: u64,
    task: u64,
    /// `job_number` or `job_number.task_number`, for messages.
    job_id: &'a str,
    submission: i64,
    /// (seconds, milliseconds beyond them).
    start: (i64, u16),
    end: (i64, u16),
    slots: Decimal,
    account: &'a str,
    owner: &'a str,
}

enum Parsed<'a> {
    Run(Run<'a>),
    NotStarted,
    /// A per-task record of a tightly integrated parallel job: its master record bills it.
    Task,
}

type Bad = (&'static str, String);

fn text<'a>(fields: &[&'a [u8]], i: usize) -> Result<&'a str, Bad> {
    std::str::from_utf8(fields[i]).map_err(|_| (FIELDS[i], "is not valid UTF-8".to_string()))
}

fn shown(v: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(v))
}

fn integer(fields: &[&[u8]], i: usize) -> Result<i64, Bad> {
    let v = fields[i];
    let (neg, digits) = match v {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, v),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err((
            FIELDS[i],
            format!(
                "{} is not an integer (a `:` inside an earlier field shifts the fields)",
                shown(v)
            ),
        ));
    }
    let n = digits
        .iter()
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    Ok(if neg { -n } else { n })
}

/// `%f`-style numbers, and what C's printf writes for a non-finite one.
fn check_number(fields: &[&[u8]], i: usize) -> Result<(), Bad> {
    let v = fields[i];
    let body = match v {
        [b'-' | b'+', rest @ ..] => rest,
        _ => v,
    };
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_slice(), b"nan" | b"inf" | b"infinity") {
        return Ok(());
    }
    let not_a_number = || {
        (
            FIELDS[i],
            format!(
                "{} is not a number (a `:` inside an earlier field shifts the fields)",
                shown(v)
            ),
        )
    };
    // digits [. digits] [e [sign] digits], at least one digit before any exponent.
    let (mantissa, exponent) = match body.iter().position(|c| matches!(c, b'e' | b'E')) {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let mut parts = mantissa.splitn(2, |&c| c == b'.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next().unwrap_or_default();
    let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    let mantissa_ok = digits(whole) && digits(fraction) && whole.len() + fraction.len() > 0;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e
            .strip_prefix(b"-")
            .or_else(|| e.strip_prefix(b"+"))
            .unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if mantissa_ok && exponent_ok {
        Ok(())
    } else {
        Err(not_a_number())
    }
}

/// A time field on the line's scale: (seconds, milliseconds beyond them); `None` for 0.
fn time(fields: &[&[u8]], i: usize, millis: bool) -> Result<Option<(i64, u16)>, Bad> {
    let v = integer(fields, i)?;
    if v == 0 {
        return Ok(None);
    }
    let (secs, ms) = if millis {
        if v < MILLIS_FROM {
            return Err((
                FIELDS[i],
                format!("{v} is in seconds while other times of the line are in milliseconds"),
            ));
        }
        (v.div_euclid(1000), v.rem_euclid(1000) as u16)
    } else {
        (v, 0)
    };
    if !time_in_range(secs) {
        return Err((
            FIELDS[i],
            format!("{v} is outside the accepted range {TIME_RANGE_TEXT}"),
        ));
    }
    Ok(Some((secs, ms)))
}

fn parse<'a>(fields: &[&'a [u8]], n: usize, resource: usize) -> Result<Parsed<'a>, Bad> {
    if n < FIELDS.len() {
        return Err((
            "line",
            format!(
                "has {n} fields, Grid Engine writes {} (a damaged or truncated line)",
                FIELDS.len()
            ),
        ));
    }
    for &i in &INTEGER_FIELDS {
        integer(fields, i)?;
    }
    integer(fields, AR_SUBMISSION)?;
    for &i in &NUMBER_FIELDS {
        check_number(fields, i)?;
    }
    let times = [SUBMISSION, START, END].map(|i| integer(fields, i).unwrap_or(0));
    let millis = times.iter().any(|&t| t >= MILLIS_FROM);
    if n != FIELDS.len() && !millis {
        return Err((
            "line",
            format!(
                "has {n} fields where a Grid Engine line in seconds has {}: a `:` inside a \
                 field (job name, category) shifts the fields; not guessed at",
                FIELDS.len()
            ),
        ));
    }
    let job_number = integer(fields, JOB_NUMBER)?;
    let task = integer(fields, TASK)?;
    if job_number < 0 || task < 0 {
        let i = if job_number < 0 { JOB_NUMBER } else { TASK };
        return Err((FIELDS[i], format!("{} is negative", shown(fields[i]))));
    }
    let start = time(fields, START, millis)?;
    let end = time(fields, END, millis)?;
    let submission = time(fields, SUBMISSION, millis)?;
    let Some(start) = start else {
        // start_time 0: the job never ran (failed before it started, or deleted).
        return Ok(Parsed::NotStarted);
    };
    let Some(end) = end else {
        return Err((
            FIELDS[END],
            "is 0 though the job started: a finished job's record has its end".into(),
        ));
    };
    if end < start {
        return Err((
            FIELDS[END],
            format!(
                "{} is before start_time {}",
                shown(fields[END]),
                shown(fields[START])
            ),
        ));
    }
    let pe_taskid = text(fields, PE_TASKID)?;
    if !is_none(pe_taskid) {
        return Ok(Parsed::Task);
    }
    let slots = integer(fields, SLOTS)?;
    if slots < 0 || Decimal::from(slots) > MAX_COUNT {
        return Err((
            FIELDS[SLOTS],
            format!("{slots} is not a slot count (0 to {MAX_COUNT} per job)"),
        ));
    }
    let account = text(fields, resource)?;
    let owner = text(fields, OWNER)?;
    // `job_number` and `task_number` are digits (checked above): this slice is ASCII.
    let job_id = std::str::from_utf8(fields[JOB_NUMBER]).unwrap_or("");
    Ok(Parsed::Run(Run {
        job_number: job_number as u64,
        task: task as u64,
        job_id,
        submission: submission.map_or(0, |s| s.0),
        start,
        end,
        slots: Decimal::from(slots),
        account: if is_none(account) { "" } else { account },
        owner: if is_none(owner) { "" } else { owner },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AmountRecord;

    /// (key, start, end, millis, account, user, slots)
    type Seen = (
        String,
        i64,
        Option<i64>,
        Millis,
        String,
        String,
        Option<String>,
    );

    #[derive(Default)]
    struct Keep {
        wanted: Vec<String>,
        runs: Vec<Seen>,
        invalid: Vec<InvalidRecord>,
    }

    impl RecordSink for Keep {
        fn wanted_tres(&self) -> &[String] {
            &self.wanted
        }
        fn record(&mut self, r: &JobRecord<'_>) {
            self.record_millis(r, Millis::default());
        }
        fn record_millis(&mut self, r: &JobRecord<'_>, m: Millis) {
            self.runs.push((
                r.key.to_string(),
                r.start,
                r.end,
                m,
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

    fn run(text: &str, opts: &SgeOptions) -> (SourceStats, Keep) {
        let mut sink = Keep {
            wanted: vec!["cpu".into()],
            ..Default::default()
        };
        let stats = read(text.as_bytes(), Path::new("accounting"), 0, opts, &mut sink).unwrap();
        (stats, sink)
    }

    const SGE: &str = "myqueue:testhost:jdoe:jdoe:mpi-mem-test:22947:sge:0:1310761621:1311095354:1311095414:0:0:60:60.050000:0.080000:104188.000000:0:0:0:0:28001:0:0:0.000000:24:0:0:0:41:549:NONE:defaultdepartment:mype:1:0:60.130000:7.335452:0.000044:-l h_cpu=36000,h_rt=36000 -pe mype 1:0.000000:NONE:189153280.000000:0:0";
    const UGE: &str = "gpu_queue:gpuhost:gpugroup:gpuowner:gpujob:4437956:sge:0:1652111621288:1652111622875:1652124460193:0:0:12837.318:198688.218:102.134:648376:0:0:0:0:3023988:0:0:0:8:0:0:0:656204:268918:NONE:department:threads:16:0:198790.352:1680849.506333:0.490467:-u gpuuser,department -q gpu_queue -l gpu=1,m_mem_free=1.000G -pe threads 16 -binding no_job_binding 0 0 0 0 no_explicit_binding:0.000000:NONE:9323855872:0:0:NONE:NONE:668106752:638583808:dev1:REDACTED:qsub script.sh:12838.830000:954601:NONE:1,REDACTED:REDACTED:NONE:REDACTED:0:0:0.000000:0.000000:0.000000:NONE:0:0:NONE:gpu=1,m_mem_free=1G:NONE:gpu_queue:NONE:REDACTED:REDACTED";

    #[test]
    fn seconds_and_milliseconds_lines_with_none_as_no_value() {
        let text = format!("# Version: 8.1.9\n#\n{SGE}\n\n{UGE}\n");
        let (stats, sink) = run(&text, &SgeOptions::default());
        assert!(sink.invalid.is_empty(), "{:?}", sink.invalid);
        assert_eq!((stats.lines, stats.headers, stats.jobs), (4, 2, 2));
        let (key, start, end, millis, account, user, slots) = &sink.runs[0];
        assert_eq!(key, "22947.0@1311095354000");
        assert_eq!((*start, *end), (1311095354, Some(1311095414)));
        assert_eq!(*millis, Millis::default());
        assert_eq!(account, "", "project NONE maps to nothing");
        assert_eq!(user, "jdoe");
        assert_eq!(slots.as_deref(), Some("1"));
        let (_, start, end, millis, _, user, slots) = &sink.runs[1];
        assert_eq!((*start, *end), (1652111622, Some(1652124460)));
        assert_eq!(
            *millis,
            Millis {
                start: 875,
                end: 193
            }
        );
        assert_eq!(user, "gpuowner");
        assert_eq!(slots.as_deref(), Some("16"));
    }

    #[test]
    fn resource_field_choices() {
        for (field, want) in [
            ("account", "sge"),
            ("department", "defaultdepartment"),
            ("group", "jdoe"),
            ("qname", "myqueue"),
        ] {
            let opts = SgeOptions {
                resource_field: field.into(),
                ..Default::default()
            };
            let (_, sink) = run(SGE, &opts);
            assert_eq!(sink.runs[0].4, want, "{field}");
        }
        let mut sink = Keep::default();
        let opts = SgeOptions {
            resource_field: "queue_name".into(),
            ..Default::default()
        };
        let err = read(SGE.as_bytes(), Path::new("a"), 0, &opts, &mut sink).unwrap_err();
        assert!(err.to_string().contains("queue_name"), "{err}");
    }

    #[test]
    fn never_started_task_records_and_shifted_lines() {
        let never = SGE
            .replace(":1310761621:1311095354:1311095414:0:", ":0:0:0:1:")
            .to_string();
        let task = SGE.replace(":0.000000:NONE:189153280", ":0.000000:1.node7:189153280");
        let name_colon = SGE.replace("mpi-mem-test", "run:1");
        let category_colon = SGE.replace("h_rt=36000", "h_rt=10:00:00");
        let uge_name_colon = UGE.replace("gpujob", "gpu:job");
        let uge_category_colon = UGE.replace("-q gpu_queue", "-q gpu_queue@h:1");
        let backwards = SGE.replace(":1311095354:1311095414:", ":1311095414:1311095354:");
        let mixed = UGE.replace(":1652111621288:", ":1652111621:");
        let text = [
            never.as_str(),
            &task,
            &name_colon,
            &category_colon,
            &uge_name_colon,
            &uge_category_colon,
            &backwards,
            &mixed,
            "garbage",
            SGE,
        ]
        .join("\n");
        let (stats, sink) = run(&text, &SgeOptions::default());
        let got: Vec<(u64, &str)> = sink
            .invalid
            .iter()
            .map(|i| (i.line, i.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (3, "priority"),
                (4, "arid"),
                (5, "job_number"),
                (6, "iow"),
                (7, "end_time"),
                (8, "submission_time"),
                (9, "line"),
            ],
            "{:#?}",
            sink.invalid
        );
        assert_eq!(stats.not_started, 1);
        assert_eq!(stats.steps, 1, "the per-task record is not billed");
        assert_eq!(stats.jobs, 1);
        assert_eq!(
            stats.lines,
            stats.jobs + stats.not_started + stats.steps + stats.invalid
        );
    }

    #[test]
    fn numbers_as_printf_writes_them() {
        let ok = |v: &str| check_number(&[v.as_bytes()], 0).is_ok();
        for v in [
            "60.130000",
            "0",
            "-1",
            "1e5",
            "2.5E-3",
            ".5",
            "5.",
            "nan",
            "-inf",
        ] {
            assert!(ok(v), "{v}");
        }
        for v in ["", ".", "abc", "1.2.3", "1e", "e5", "1e+", "12 -pe", "0x10"] {
            assert!(!ok(v), "{v}");
        }
    }

    #[test]
    fn values_out_of_bounds_are_invalid_not_panics() {
        let huge_slots = SGE.replace(":mype:1:0:", ":mype:99999999999:0:");
        let far = SGE.replace(":1311095414:", ":9311095414:");
        let long_number = SGE.replace(":22947:", ":99999999999999999999999:");
        let text = [huge_slots.as_str(), &far, &long_number].join("\n");
        let (stats, sink) = run(&text, &SgeOptions::default());
        let got: Vec<&str> = sink.invalid.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(got, ["slots", "end_time", "job_number"]);
        assert_eq!(stats.invalid, 3);
    }
}
