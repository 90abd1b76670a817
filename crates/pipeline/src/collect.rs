//! The collection every command starts with: the month window, then every configured source
//! read into one aggregator.

use std::path::{Path, PathBuf};

use crate::UsageError;
use chrono::{DateTime, Utc};
use tally_aggregate::{
    AggregateError, AggregateOptions, Aggregator, Collection, ExplainTarget, Explanation,
    IdentityConflict, IdentityFile,
};
use tally_config::{Config, SourceKind};
use tally_model::{BillingMonth, MonthRange};
use tally_sources::batch::{self, BatchingSink};
use tally_sources::{
    csv, expand_paths, lsf, pbs, sacct, sacct_command, sge, FileListError, JobIdentity, RecordSink,
    SourceError, SourceStats,
};

/// How many invalid lines are kept for the report; all of them are counted.
const KEEP_INVALID: usize = 1000;

/// The resolved window of a collection: the billing months and the instant usage is counted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub range: MonthRange,
    pub as_of: DateTime<Utc>,
}

/// The window of `--from`, `--to` and `--as-of`: by default the month of `as_of` (now);
/// `--from` alone runs to the current month (or `--from` itself, when later).
pub fn window(
    config: &Config,
    from: Option<BillingMonth>,
    to: Option<BillingMonth>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Window, UsageError> {
    let as_of = as_of.unwrap_or_else(Utc::now);
    let current = BillingMonth::containing(as_of, config.billing_timezone);
    let first = from.unwrap_or(current);
    let last = to.unwrap_or(if from.is_some() {
        first.max(current)
    } else {
        current
    });
    let range = MonthRange::new(first, last).map_err(|e| UsageError(e.to_string()))?;
    let start = range.from.start(config.billing_timezone);
    if as_of <= start {
        // Nothing could count: every job after --as-of is ignored. A live sacct would be
        // asked for a window that ends before it starts.
        return Err(UsageError(format!(
            "--as-of {} is not after the start of the first month asked for ({}, from {} in {}): \
             nothing could be counted; give a later --as-of or an earlier --from",
            as_of.to_rfc3339(),
            range.from,
            start.with_timezone(&config.billing_timezone).to_rfc3339(),
            config.billing_timezone
        )));
    }
    Ok(Window { range, as_of })
}

/// Why a collection stopped. The variants that wrap another library's error show it as it is
/// ([`CollectError::wrapped`] hands it to whoever classifies errors).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A source's file list could not be made (a pattern matching nothing, an unreadable dir).
    #[error("source {index} of {}", config.display())]
    Files {
        index: usize,
        config: PathBuf,
        #[source]
        source: FileListError,
    },
    /// A live sacct source failed.
    #[error("source {index} of {}", config.display())]
    SacctCommand {
        index: usize,
        config: PathBuf,
        #[source]
        source: SourceError,
    },
    #[error("cannot open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] SourceError),
    #[error(transparent)]
    Identity(#[from] IdentityConflict),
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
}

impl CollectError {
    /// The other library's error a transparent variant carries (its kind decides the exit code).
    pub fn wrapped(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CollectError::Read(e) => Some(e),
            CollectError::Identity(e) => Some(e),
            CollectError::Aggregate(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads every configured source and aggregates it over `window`.
///
/// Every source's files are listed first (a missing file stops the run before anything is
/// read), then the identity columns of each job dump are compared, so that one job is never
/// counted twice under two identities; only then is anything read.
pub fn collect(config: &Config, window: &Window) -> Result<Collection, CollectError> {
    collect_with_plan_periods(config, window, crate::plan_periods::Timelines::new())
}

/// [`collect`], with each month in which a resource of `timelines` changed plan also split
/// per plan period (the collection's `plan_parts`; see [`crate::plan_periods::plan_timelines`]).
pub fn collect_with_plan_periods(
    config: &Config,
    window: &Window,
    timelines: crate::plan_periods::Timelines,
) -> Result<Collection, CollectError> {
    Ok(collect_explained(config, window, None, timelines)?.0)
}

/// What `tally explain` asks about: one resource in one month, optionally one component or user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainQuery {
    /// The Waldur resource's `backend_id`, as accounts map to it.
    pub resource: String,
    pub month: BillingMonth,
    pub component: Option<String>,
    pub user: Option<String>,
}

/// `tally explain`: the collection `collect` makes over `window` (the window of `--from` and
/// `--to` at `query.month`: same sources, dedup, month split and mapping), with every job and
/// amount row behind `query.resource`'s cells in that month. The
/// explanation's amounts are the collection's cells, and its rows add up to them exactly
/// (checked; see `tally_aggregate::explain`).
pub fn explain(
    config: &Config,
    window: &Window,
    query: &ExplainQuery,
) -> Result<(Collection, Explanation), CollectError> {
    if window.range.from != query.month || window.range.to != query.month {
        // The cells are those of the window; an explanation is of one month's.
        return Err(CollectError::Aggregate(AggregateError::Explain {
            resource: query.resource.clone(),
            period: query.month,
            what: format!(
                "the window must be that month alone, not {}..{}",
                window.range.from, window.range.to
            ),
        }));
    }
    let (collection, explanation) = collect_explained(
        config,
        window,
        Some(query),
        crate::plan_periods::Timelines::new(),
    )?;
    let explanation = explanation.ok_or_else(|| {
        CollectError::Aggregate(AggregateError::Explain {
            resource: query.resource.clone(),
            period: query.month,
            what: "the aggregator returned no explanation".into(),
        })
    })?;
    Ok((collection, explanation))
}

/// [`collect`], with `query` the explanation of one resource and month, and with `timelines`
/// the plan-period parts.
fn collect_explained(
    config: &Config,
    window: &Window,
    query: Option<&ExplainQuery>,
    timelines: crate::plan_periods::Timelines,
) -> Result<(Collection, Option<Explanation>), CollectError> {
    let mut agg = Aggregator::new(AggregateOptions {
        billing_timezone: config.billing_timezone,
        rules: config.rules.clone(),
        mapping: config.mapping.clone(),
        range: window.range,
        as_of: window.as_of,
        keep_invalid: KEEP_INVALID,
        user_usage: config.user_usage,
    });
    agg.cut_at_plan_switches(timelines);
    if !read_in_parallel() {
        agg.sum_on_threads(1);
    }
    let mut inputs: Vec<Vec<PathBuf>> = Vec::new();
    let mut identities: Vec<Option<IdentityFile>> = Vec::new();
    for (i, source) in config.sources.iter().enumerate() {
        let files = match &source.kind {
            SourceKind::SacctCommand(_) => {
                identities.push(Some(IdentityFile {
                    path: sacct_command_name(&config.path, i),
                    identity: JobIdentity::FULL,
                }));
                Vec::new()
            }
            kind => {
                let files = expand_paths(&config.base_dir, &source.paths).map_err(|source| {
                    CollectError::Files {
                        index: i + 1,
                        config: config.path.clone(),
                        source,
                    }
                })?;
                for path in &files {
                    identities.push(match kind {
                        SourceKind::Sacct(opts) => Some(IdentityFile {
                            path: path.clone(),
                            identity: sacct::identity(path, opts)?,
                        }),
                        _ => None,
                    });
                }
                files
            }
        };
        inputs.push(files);
    }
    agg.check_identities(identities);
    if let Some(q) = query {
        // Input names by file index, as the reading loop below numbers them.
        let files = config
            .sources
            .iter()
            .zip(&inputs)
            .enumerate()
            .flat_map(|(i, (source, files))| match source.kind {
                SourceKind::SacctCommand(_) => vec![sacct_command_name(&config.path, i)],
                _ => files.clone(),
            })
            .collect();
        agg.explain(ExplainTarget {
            resource: q.resource.clone(),
            month: q.month,
            component: q.component.clone(),
            user: q.user.clone(),
            files,
        });
    }
    let stats_total = read_inputs(config, window, &inputs, query.is_some(), &mut agg)?;
    if let Some(conflict) = agg.identity_conflict() {
        return Err(conflict.clone().into());
    }
    agg.add_source_stats(stats_total);
    Ok(agg.finish_explained()?)
}

/// The environment variable that, set to `1`, makes collect read and sum on one thread (the
/// sequential path every parallel result is compared with in the tests): no reading thread,
/// and [`Aggregator::sum_on_threads`] one.
pub const THREADS_ENV: &str = "TALLY_COLLECT_THREADS";

/// Whether to use a second thread (reading beside summing, and half the final sums): unless
/// [`THREADS_ENV`] is `1`, or the machine has a single core. Decided once per process, so a
/// value that is neither `1` nor `2` is warned about once, not at every use.
fn read_in_parallel() -> bool {
    static DECIDED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DECIDED.get_or_init(|| match std::env::var(THREADS_ENV) {
        Ok(v) if v.trim() == "1" => false,
        Ok(v) if v.trim() != "2" => {
            // said, not silently taken as the default
            tracing::warn!("{THREADS_ENV}={v:?} is neither 1 nor 2: ignored");
            std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
        }
        _ => std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
    })
}

/// Reads every input into `agg`, in configuration order, and returns what the sources read.
///
/// With two cores, the sources run on a second thread and hand their records over in
/// batches ([`tally_sources::batch`]) that this thread replays into the aggregator in the
/// order they were read: the aggregator sees the same calls in the same order as when it is
/// handed to the sources directly, so every result (dedup, line numbers, explanations) is
/// that of the sequential read. `explaining`: whether step lines matter to the aggregator
/// (only `explain` lists them).
fn read_inputs(
    config: &Config,
    window: &Window,
    inputs: &[Vec<PathBuf>],
    explaining: bool,
    agg: &mut Aggregator,
) -> Result<SourceStats, CollectError> {
    if !read_in_parallel() {
        return read_sources(config, window, inputs, agg);
    }
    let wanted = agg.wanted_tres().to_vec();
    let quantities = wanted.len();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel(batch::BATCHES_IN_FLIGHT);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel(batch::BATCHES_IN_FLIGHT + 2);
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("collect-read".into())
            .spawn_scoped(scope, move || {
                let mut sink = BatchingSink::new(wanted, explaining, full_tx, empty_rx);
                let read = read_sources(config, window, inputs, &mut sink);
                // What was read before an error is delivered, as a sequential read would have.
                sink.flush();
                read
            });
        let reader = match reader {
            Ok(handle) => handle,
            // No thread to be had: read here.
            Err(e) => {
                tracing::debug!(error = %e, "no reading thread; reading sequentially");
                return read_sources(config, window, inputs, agg);
            }
        };
        for batch in full_rx {
            batch.replay(agg, quantities);
            // A full return channel only means enough batches are in circulation.
            let _ = empty_tx.try_send(batch);
        }
        match reader.join() {
            Ok(read) => read,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Every source's inputs read into `sink`, in order.
fn read_sources(
    config: &Config,
    window: &Window,
    inputs: &[Vec<PathBuf>],
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, CollectError> {
    let mut stats_total = SourceStats::default();
    let mut file_index = 0u32;
    for (i, (source, files)) in config.sources.iter().zip(inputs).enumerate() {
        if let SourceKind::SacctCommand(opts) = &source.kind {
            let start = window.range.from.start(config.billing_timezone);
            let end = window
                .range
                .to
                .end(config.billing_timezone)
                .min(window.as_of);
            tracing::info!(sacct = %opts.sacct_path.display(), %start, %end, "running sacct");
            stats_total +=
                sacct_command::read(opts, start, end, file_index, sink).map_err(|source| {
                    CollectError::SacctCommand {
                        index: i + 1,
                        config: config.path.clone(),
                        source,
                    }
                })?;
            file_index += 1;
            continue;
        }
        for path in files {
            tracing::debug!(file = %path.display(), "reading");
            stats_total += read_file(&source.kind, path, file_index, sink)?;
            file_index += 1;
        }
    }
    Ok(stats_total)
}

/// One file of a file source, read by its format's reader.
fn read_file(
    kind: &SourceKind,
    path: &Path,
    file_index: u32,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, CollectError> {
    let file = std::fs::File::open(path).map_err(|source| CollectError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match kind {
        SourceKind::Sacct(opts) => sacct::read(file, path, file_index, opts, sink)?,
        SourceKind::Pbs(opts) => pbs::read(file, path, file_index, opts, sink)?,
        SourceKind::Csv(opts) => csv::read(file, path, file_index, opts, sink)?,
        SourceKind::Sge(opts) => sge::read(file, path, file_index, opts, sink)?,
        SourceKind::Lsf(opts) => lsf::read(file, path, file_index, opts, sink)?,
        SourceKind::SacctCommand(_) => unreachable!("a live sacct source has no files"),
    })
}

/// How a live sacct source is named in messages.
fn sacct_command_name(config: &Path, index: usize) -> PathBuf {
    PathBuf::from(format!(
        "sacct-command (source {} of {})",
        index + 1,
        config.display()
    ))
}

/// Whether the input needs attention beyond jobs that never ran: invalid lines or accounts
/// that map to no resource (what `--strict` refuses to send).
pub fn needs_attention(c: &Collection) -> bool {
    c.records.invalid > 0 || c.records.unmapped > 0
}
