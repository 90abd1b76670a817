//! Source adapters: stream local accounting records into [`RecordSink`]s.
//!
//! A source never holds a whole file: it reads line by line into a reused buffer and hands
//! each billable record to the sink as borrowed data, so memory stays flat however many
//! lines come in. What a source cannot use it reports as an [`InvalidRecord`] naming file,
//! line and field; it never panics on input and never stops at a bad line.

pub mod batch;
pub mod csv;
mod files;
pub mod fuzzing;
mod lines;
pub mod lsf;
pub mod pbs;
pub mod sacct;
pub mod sacct_command;
pub mod sge;
mod time;
mod tres;

use rust_decimal::Decimal;
pub use tally_model::{InvalidRecord, Origin};

pub use files::{expand_paths, FileListError};
pub use time::{LocalTimeParser, TimeError};
pub use tres::{parse_quantity, QuantityError, TresKind};

/// One billable allocation as a source saw it. Borrowed from the source's line buffer:
/// valid only during the [`RecordSink::record`] call.
#[derive(Debug)]
pub struct JobRecord<'a> {
    /// Cluster name, or "" when the dump has no Cluster column.
    pub cluster: &'a str,
    /// The identity of the job within its cluster (SLURM JobIDRaw, or JobID without it).
    pub key: &'a str,
    /// The job id as people know it (`123_4`, `123+1`), for messages.
    pub job_id: &'a str,
    /// Submit time (Unix seconds) when known: tells apart jobs whose id was reused.
    pub submit: Option<i64>,
    /// The local account the job is charged to (mapped to a Waldur resource later).
    pub account: &'a str,
    pub user: &'a str,
    /// Unix seconds. Records that never started are not emitted.
    pub start: i64,
    /// Unix seconds; `None` while the job is still running.
    pub end: Option<i64>,
    /// The quantities of the TRES the sink asked for, in the order of
    /// [`RecordSink::wanted_tres`]; `None` when the record lacks that TRES.
    pub quantities: &'a [Option<Decimal>],
    /// Index of the file in the source's file list.
    pub file_index: u32,
    pub line: u64,
}

/// The milliseconds beyond a record's `start` and `end` seconds (0..=999 each), from sources
/// that write milliseconds (Univa/Altair Grid Engine): the run lasts from
/// `start + start/1000` to `end + end/1000`, and cutting it to seconds would bill a different
/// amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Millis {
    pub start: u16,
    pub end: u16,
}

/// Which parts of a job's identity (Cluster, JobIDRaw, Submit) a dump carries. Two dumps that
/// carry different parts give the same job different keys; the aggregator refuses to count
/// such a job twice (see `tally_aggregate::IdentityConflict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JobIdentity {
    /// A Cluster column, or a `cluster` configured for the source.
    pub cluster: bool,
    pub job_id_raw: bool,
    pub submit: bool,
}

impl JobIdentity {
    /// What `sacct-command` asks for.
    pub const FULL: JobIdentity = JobIdentity {
        cluster: true,
        job_id_raw: true,
        submit: true,
    };

    /// The identity columns this one has and `other` lacks.
    pub fn lacking_in(&self, other: &JobIdentity) -> Vec<&'static str> {
        [
            (self.cluster && !other.cluster, "Cluster"),
            (self.job_id_raw && !other.job_id_raw, "JobIDRaw"),
            (self.submit && !other.submit, "Submit"),
        ]
        .into_iter()
        .filter_map(|(lacks, name)| lacks.then_some(name))
        .collect()
    }
}

/// When an amount record's usage happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountWhen {
    /// An instant (Unix seconds): the billing month is the one containing it.
    At(i64),
    /// A billing month named in the record (`2026-10`).
    Month(tally_model::BillingMonth),
}

/// Usage already in a component's unit (a CSV export of a cloud or storage system), as
/// opposed to a job's TRES that must be multiplied by its elapsed time.
#[derive(Debug)]
pub struct AmountRecord<'a> {
    /// Identity for dedup across re-exported files; `None` when the source has no
    /// `dedup_key` (then every row counts).
    pub key: Option<&'a str>,
    pub account: &'a str,
    pub user: &'a str,
    /// The Waldur offering component `type`.
    pub component: &'a str,
    pub amount: Decimal,
    pub when: AmountWhen,
    pub file_index: u32,
    pub line: u64,
}

/// Receives what a source reads. Implemented by the aggregator.
pub trait RecordSink {
    /// TRES names whose quantities the sink needs, e.g. `["cpu", "gres/gpu", "mem"]`.
    fn wanted_tres(&self) -> &[String];
    fn record(&mut self, record: &JobRecord<'_>);
    /// A record whose identity comes from a re-exported file (CSV rows with a `dedup_key`):
    /// of two records with the same End, the one read last counts (a re-export corrects the
    /// row), where scheduler dumps keep the first. The rest of the choice is
    /// [`RecordSink::record`]'s.
    fn record_last_wins(&mut self, record: &JobRecord<'_>) {
        self.record(record);
    }
    /// A record whose start and end carry milliseconds ([`Millis`]). A sink that sums usage
    /// must keep them (the aggregator does); the default, for sinks that only look at
    /// records, passes the record on without them.
    fn record_millis(&mut self, record: &JobRecord<'_>, millis: Millis) {
        let _ = millis;
        self.record(record);
    }
    fn amount(&mut self, record: &AmountRecord<'_>);
    fn invalid(&mut self, invalid: InvalidRecord);
    /// A step line (`123.batch`, `123.0`; sacct dumps), never billed: it repeats its
    /// allocation. Counted in [`SourceStats::steps`] either way; a sink that explains a figure
    /// (`tally explain`) names the steps of the jobs it lists. Default: nothing.
    fn step(&mut self, job_id: &[u8], file_index: u32, line: u64) {
        let _ = (job_id, file_index, line);
    }
}

/// What a source read, for the run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceStats {
    /// Non-blank lines read, header lines included.
    pub lines: u64,
    pub headers: u64,
    /// Allocation records handed to the sink.
    pub jobs: u64,
    /// Step lines (`.batch`, `.extern`, `.0`, ...): they repeat the allocation's resources.
    pub steps: u64,
    /// Allocations that never started (pending, cancelled before start): no usage.
    pub not_started: u64,
    pub invalid: u64,
    /// Records of kinds that carry no usage (PBS queue/delete records, array parents).
    pub other: u64,
    /// Amount records handed to the sink.
    pub amounts: u64,
}

impl std::ops::AddAssign for SourceStats {
    fn add_assign(&mut self, o: Self) {
        self.lines += o.lines;
        self.headers += o.headers;
        self.jobs += o.jobs;
        self.steps += o.steps;
        self.not_started += o.not_started;
        self.invalid += o.invalid;
        self.other += o.other;
        self.amounts += o.amounts;
    }
}

/// Errors that stop a source as a whole (as opposed to a bad line, which is reported and
/// skipped).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Format {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Files(#[from] FileListError),
    /// A command that produces records (live `sacct`) could not run or failed.
    #[error("{command}: {reason}")]
    Command { command: String, reason: String },
    /// A live source's configured cluster that Slurm does not know (a typo bills nothing:
    /// sacct answers an unknown cluster with a header and exit 0).
    #[error(
        "sacct-command: {} not known to Slurm (`clusters` in the config; known according to {authority}: {})",
        quoted(unknown),
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownClusters {
        unknown: Vec<String>,
        known: Vec<String>,
        /// Who answered: sacctmgr or sacct's output.
        authority: String,
    },
}

/// `cluster "a"` or `clusters "a", "b"`.
fn quoted(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let noun = if names.len() == 1 {
        "cluster"
    } else {
        "clusters"
    };
    format!("{noun} {}", list.join(", "))
}
