//! `tally collect`, and the collection step every other command starts with.

use anyhow::Context;
use chrono::Utc;
use tally_aggregate::{AggregateOptions, Aggregator, Collection, IdentityFile};
use tally_config::{Config, SourceKind};
use tally_model::{BillingMonth, MonthRange};
use tally_sources::{
    csv, expand_paths, lsf, pbs, sacct, sacct_command, sge, JobIdentity, RecordSink, SourceStats,
};

use crate::args::{CollectArgs, CollectionArgs};
use crate::exit::{Exit, UsageError};
use crate::output;

/// How many invalid lines are kept for the report; all of them are counted.
const KEEP_INVALID: usize = 1000;

/// The resolved window of a collection.
pub struct Window {
    pub range: MonthRange,
    pub as_of: chrono::DateTime<Utc>,
}

pub fn window(config: &Config, args: &CollectionArgs) -> anyhow::Result<Window> {
    let as_of = args.as_of.unwrap_or_else(Utc::now);
    let current = BillingMonth::containing(as_of, config.billing_timezone);
    let from = args.from.unwrap_or(current);
    let to = args.to.unwrap_or(if args.from.is_some() {
        from.max(current)
    } else {
        current
    });
    let range = MonthRange::new(from, to).map_err(|e| UsageError(e.to_string()))?;
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
        ))
        .into());
    }
    Ok(Window { range, as_of })
}

/// Reads every configured source and aggregates it.
pub fn collect(config: &Config, window: &Window) -> anyhow::Result<Collection> {
    let mut stats_total = SourceStats::default();
    let mut agg = Aggregator::new(AggregateOptions {
        billing_timezone: config.billing_timezone,
        rules: config.rules.clone(),
        mapping: config.mapping.clone(),
        range: window.range,
        as_of: window.as_of,
        keep_invalid: KEEP_INVALID,
        user_usage: config.user_usage,
    });
    // Every source's files first (a missing file stops the run before anything is read),
    // then the identity columns of each job dump, so that one job is never counted twice
    // under two identities.
    let mut inputs: Vec<Vec<std::path::PathBuf>> = Vec::new();
    let mut identities: Vec<Option<IdentityFile>> = Vec::new();
    for (i, source) in config.sources.iter().enumerate() {
        let what = || format!("source {} of {}", i + 1, config.path.display());
        let files = match &source.kind {
            SourceKind::SacctCommand(_) => {
                identities.push(Some(IdentityFile {
                    path: sacct_command_name(config, i),
                    identity: JobIdentity::FULL,
                }));
                Vec::new()
            }
            kind => {
                let files = expand_paths(&config.base_dir, &source.paths).with_context(what)?;
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
    let mut file_index = 0u32;
    let sink = &mut agg as &mut dyn RecordSink;
    for (i, (source, files)) in config.sources.iter().zip(&inputs).enumerate() {
        let what = || format!("source {} of {}", i + 1, config.path.display());
        if let SourceKind::SacctCommand(opts) = &source.kind {
            let start = window.range.from.start(config.billing_timezone);
            let end = window
                .range
                .to
                .end(config.billing_timezone)
                .min(window.as_of);
            tracing::info!(sacct = %opts.sacct_path.display(), %start, %end, "running sacct");
            let stats =
                sacct_command::read(opts, start, end, file_index, sink).with_context(what)?;
            file_index += 1;
            stats_total += stats;
            continue;
        }
        for path in files {
            tracing::debug!(file = %path.display(), "reading");
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let stats = match &source.kind {
                SourceKind::Sacct(opts) => sacct::read(file, path, file_index, opts, sink)?,
                SourceKind::Pbs(opts) => pbs::read(file, path, file_index, opts, sink)?,
                SourceKind::Csv(opts) => csv::read(file, path, file_index, opts, sink)?,
                SourceKind::Sge(opts) => sge::read(file, path, file_index, opts, sink)?,
                SourceKind::Lsf(opts) => lsf::read(file, path, file_index, opts, sink)?,
                SourceKind::SacctCommand(_) => unreachable!("handled above"),
            };
            stats_total += stats;
            file_index += 1;
        }
    }
    if let Some(conflict) = agg.identity_conflict() {
        return Err(conflict.clone().into());
    }
    agg.add_source_stats(stats_total);
    Ok(agg.finish()?)
}

/// How a live sacct source is named in messages.
fn sacct_command_name(config: &Config, index: usize) -> std::path::PathBuf {
    std::path::PathBuf::from(format!(
        "sacct-command (source {} of {})",
        index + 1,
        config.path.display()
    ))
}

pub fn run(args: &CollectArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.collection.config)?;
    let window = window(&config, &args.collection)?;
    let collection = collect(&config, &window)?;
    output::print_collection(&collection, args.format, &window)?;
    output::summarize(&collection);
    Ok(strict_verdict(&collection, args.collection.strict))
}

/// Under `--strict`, anything not billed for a reason other than "never ran" fails the run.
pub fn strict_verdict(c: &Collection, strict: bool) -> Exit {
    if strict && (c.records.invalid > 0 || c.records.unmapped > 0) {
        tracing::error!(
            invalid = c.records.invalid,
            unmapped = c.records.unmapped,
            "--strict: input needs attention (invalid lines or unmapped accounts)"
        );
        Exit::InvalidInput
    } else {
        Exit::Ok
    }
}
