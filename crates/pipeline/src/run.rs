//! A whole command as one call: `push`, `run` (the nightly job) and `check`, from the
//! configuration file to the verdict. Config -> connection -> run lock -> collection (cut at plan
//! switches) -> `--strict` -> ledger row -> push (and check) -> the run's exit code in the ledger
//! -> where the allocations stand (`[limits] warn_at`, metrics) -> the metrics file.
//!
//! The caller renders through [`RunHooks`] and maps the [`Verdict`] (and a [`RunError`]) to its
//! exit code; the order in which Waldur is asked and what the run comes to are decided here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tally_aggregate::Collection;
use tally_check::CheckReport;
use tally_config::{Config, ConfigError};
use tally_limits::ResourceStanding;
use tally_model::BillingMonth;
use tally_push::{Ledger, LedgerError, LockError, PastMonths, RunLock};
use tokio::runtime::Runtime;

use crate::metrics::RunMetrics;
use crate::nightly::{nightly_range, push_and_check, NightlyReport};
use crate::{
    CollectError, Connection, PipelineError, PushJob, PushReport, SendProgress, UsageError,
    Verdict, Window,
};

/// Which command runs, with the flags only it has.
#[derive(Debug, Clone)]
pub enum Command {
    /// `tally push`: the window given, sent (or only planned, `dry_run`).
    Push {
        months: Months,
        /// Plan only: Waldur is read, nothing is sent, no lock, no ledger row, no metrics.
        dry_run: bool,
        allow_decrease: bool,
    },
    /// `tally run`: the current month (and the previous one in its first days), pushed and then
    /// checked.
    Nightly {
        /// Overrides `[run] previous_month_days`.
        previous_month_days: Option<u32>,
        allow_decrease: bool,
    },
    /// `tally check`: the window given, compared with what Waldur holds.
    Check { months: Months },
}

/// `--from`, `--to` and `--as-of` of `push` and `check` (see [`crate::window()`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Months {
    pub from: Option<BillingMonth>,
    pub to: Option<BillingMonth>,
    pub as_of: Option<DateTime<Utc>>,
}

impl Command {
    /// The command's name: the ledger's `runs.command` and the metrics' `command` label.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Push { .. } => "push",
            Command::Nightly { .. } => "run",
            Command::Check { .. } => "check",
        }
    }
}

/// One run: the configuration file, the command, and what every command shares.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    pub command: Command,
    /// The instant taken as the server's "now" (`--now`; for `check`, `--as-of`): it decides
    /// the current month and is the collection's as-of unless one is given. Default: the clock.
    pub now: Option<DateTime<Utc>>,
    /// `--strict`: nothing is sent (and the run fails, exit 3) when input needs attention.
    pub strict: bool,
    pub past_months: PastMonths,
}

/// What the caller shows while the run goes on, and how it turns what the run came to into the
/// exit code the ledger and the metrics record.
pub trait RunHooks {
    /// A nightly run's push is done, before its check starts (`push` returns its report).
    fn pushed(&self, report: &PushReport);
    /// A check is done (the nightly one, or `check`'s).
    fn checked(&self, report: &CheckReport) -> std::io::Result<()>;
    /// What shows the cells being sent.
    fn progress(&self) -> Option<Arc<dyn SendProgress>>;
    /// The exit code of a verdict or of the error that ended the run.
    fn exit_code(&self, outcome: Result<Verdict, &RunError>) -> u8;
}

/// What a run came to.
pub struct RunReport {
    pub verdict: Verdict,
    pub connection: Connection,
    pub collection: Collection,
    /// None when `--strict` stopped the run, or for `check`.
    pub pushed: Option<PushReport>,
    pub check: Option<CheckReport>,
}

/// Why a run stopped. Each variant shows the library's error as it is ([`RunError::wrapped`]
/// hands it to whoever classifies errors).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Rendering what the run found failed.
    #[error(transparent)]
    Output(#[from] std::io::Error),
}

impl RunError {
    /// The library's error this one stands for (its kind decides the exit code).
    pub fn wrapped(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            RunError::Config(e) => e,
            RunError::Usage(e) => e,
            RunError::Lock(e) => e,
            RunError::Collect(e) => e,
            RunError::Pipeline(e) => e,
            RunError::Ledger(e) => e,
            RunError::Output(e) => e,
        }
    }
}

/// Runs `opts` to its end on `rt`: every log line inside a `run{run_id=...}` span, the metrics
/// file written also when the run fails.
pub fn run(opts: &RunOptions, rt: &Runtime, hooks: &dyn RunHooks) -> Result<RunReport, RunError> {
    let mut mon = Monitor::new(opts.command.name());
    let span = mon.span();
    let _in_run = span.enter();
    let result = run_in(opts, rt, hooks, &mut mon);
    if !mon.written {
        // ended with an error before writing its metrics: they say it failed
        let code = hooks.exit_code(result.as_ref().map(|r| r.verdict));
        mon.finish(code, Data::default());
    }
    result
}

fn run_in(
    opts: &RunOptions,
    rt: &Runtime,
    hooks: &dyn RunHooks,
    mon: &mut Monitor,
) -> Result<RunReport, RunError> {
    let config = Config::load(&opts.config)?;
    let dry_run = matches!(opts.command, Command::Push { dry_run: true, .. });
    if !dry_run {
        // a dry run changes nothing monitoring watches
        mon.textfile = config.metrics.textfile.clone();
    }
    let now = opts.now.unwrap_or_else(Utc::now);
    let window = match &opts.command {
        Command::Push { months, .. } | Command::Check { months } => {
            crate::window(&config, months.from, months.to, months.as_of.or(opts.now))?
        }
        Command::Nightly {
            previous_month_days,
            ..
        } => Window {
            range: nightly_range(
                now,
                config.billing_timezone,
                previous_month_days.unwrap_or(config.previous_month_days),
            ),
            as_of: now,
        },
    };
    let connection = {
        let _guard = rt.enter();
        crate::connect(&config, None, None)?
    };
    // The lock `tally run` takes: a push by hand never overlaps the nightly run. A dry run
    // sends and writes nothing, and a check writes nothing but its record: they need none.
    let _lock = match opts.command {
        Command::Push { dry_run: false, .. } | Command::Nightly { .. } => {
            Some(RunLock::try_acquire(&crate::lock_path(&connection.waldur))?)
        }
        _ => None,
    };
    if let Command::Nightly { .. } = opts.command {
        tracing::info!(from = %window.range.from, to = %window.range.to, "nightly run");
    }
    let collection = mon.stage("collect", || {
        collect_for_waldur(&config, &window, &connection, rt, now)
    })?;
    log_collection(&collection);
    let run = Run {
        opts,
        config: &config,
        connection: &connection,
        window,
        now,
        rt,
        hooks,
    };
    let found = match opts.command {
        Command::Check { .. } => run.check(mon, &collection)?,
        _ if strict_verdict(&collection, opts.strict) != Verdict::Ok => {
            tracing::error!("--strict: nothing was sent");
            mon.finish(
                hooks.exit_code(Ok(Verdict::InvalidInput)),
                Data {
                    collection: Some(&collection),
                    ..Default::default()
                },
            );
            Found {
                verdict: Verdict::InvalidInput,
                pushed: None,
                check: None,
            }
        }
        Command::Push {
            dry_run,
            allow_decrease,
            ..
        } => run.push(mon, &collection, dry_run, allow_decrease)?,
        Command::Nightly { allow_decrease, .. } => {
            run.push(mon, &collection, false, allow_decrease)?
        }
    };
    Ok(RunReport {
        verdict: found.verdict,
        connection,
        collection,
        pushed: found.pushed,
        check: found.check,
    })
}

/// What the push or the check found.
struct Found {
    verdict: Verdict,
    pushed: Option<PushReport>,
    check: Option<CheckReport>,
}

/// A run once its configuration, connection and window are known.
struct Run<'a> {
    opts: &'a RunOptions,
    config: &'a Config,
    connection: &'a Connection,
    window: Window,
    now: DateTime<Utc>,
    rt: &'a Runtime,
    hooks: &'a dyn RunHooks,
}

impl Run<'_> {
    /// `push` or `run` after the collection: the ledger row, the push (and the nightly check),
    /// the exit code in the ledger, the standings, the metrics.
    fn push(
        &self,
        mon: &mut Monitor,
        collection: &Collection,
        dry_run: bool,
        allow_decrease: bool,
    ) -> Result<Found, RunError> {
        let nightly = matches!(self.opts.command, Command::Nightly { .. });
        let ledger = if dry_run {
            None
        } else {
            Some(crate::open_ledger_with_id(
                self.config,
                self.connection,
                self.opts.command.name(),
                self.window.range,
                self.window.as_of,
                mon.run_id.clone(),
            )?)
        };
        let job = PushJob {
            past_months: self.opts.past_months,
            dry_run,
            ledger: ledger.clone(),
            allow_decrease,
            progress: self.hooks.progress(),
            ..PushJob::new(
                self.config,
                self.connection,
                collection,
                self.window.range,
                self.now,
            )
        };
        let started = Instant::now();
        let mut push_took = None;
        let outcome = if nightly {
            self.rt.block_on(push_and_check(&job, |pushed| {
                push_took = Some(started.elapsed());
                self.hooks.pushed(pushed);
            }))
        } else {
            self.rt
                .block_on(crate::push(&job))
                .map(|pushed| NightlyReport {
                    pushed,
                    check: None,
                })
        };
        let took = started.elapsed();
        // The push's time ends where its summary is printed; the check's is the rest.
        match push_took {
            Some(push) => {
                mon.record_stage("push", push);
                mon.record_stage("check", took.saturating_sub(push));
            }
            None => mon.record_stage("push", took),
        }
        let outcome = outcome.map_err(RunError::from);
        let (verdict, summary) = match &outcome {
            Ok(report) => {
                if let Some(r) = &report.check {
                    self.hooks.checked(r)?;
                    log_check(r);
                    if let Some((ledger, run_id)) = &ledger {
                        record_check(ledger, Some(run_id), r, &collection.usages);
                    }
                }
                let summary = if nightly {
                    report.ledger_summary()
                } else {
                    serde_json::to_value(&report.pushed.summary).unwrap_or_default()
                };
                (Ok(report.verdict()), summary)
            }
            Err(e) => (
                Err(e),
                serde_json::json!({"error": crate::error::chain_text(e)}),
            ),
        };
        let code = self.hooks.exit_code(verdict);
        if let Some((l, id)) = &ledger {
            l.finish_run(id, code, &summary)?;
        }
        let standings = match &outcome {
            Ok(_) => self.standings(mon, collection),
            Err(_) => None,
        };
        let (push, check) = match &outcome {
            Ok(r) => (Some(&r.pushed), r.check.as_ref()),
            Err(_) => (None, None),
        };
        mon.finish(
            code,
            Data {
                collection: Some(collection),
                push,
                check,
                current_month: Some(BillingMonth::containing(
                    self.now,
                    self.config.billing_timezone,
                )),
                standings: standings.as_deref(),
            },
        );
        let report = outcome?;
        Ok(Found {
            verdict: report.verdict(),
            pushed: Some(report.pushed),
            check: report.check,
        })
    }

    /// Where the allocations stand, for `[limits] warn_at` and the metrics; a failure to read
    /// it is logged and changes nothing of what the run delivered.
    fn standings(
        &self,
        mon: &mut Monitor,
        collection: &Collection,
    ) -> Option<Vec<ResourceStanding>> {
        if mon.textfile.is_none() && self.config.limits.warn_at.is_empty() {
            return None;
        }
        let read = mon.stage("limits", || {
            self.rt.block_on(crate::limits::standings(
                self.config,
                self.connection,
                &collection.usages,
                self.window.range,
                self.window.as_of,
            ))
        });
        match read {
            Ok(s) => {
                crate::limits::warn_crossings(&s, &self.config.limits.warn_at);
                Some(s)
            }
            Err(e) => {
                tracing::error!(
                    "cannot read where the allocations stand: {}",
                    crate::error::chain_text(&e)
                );
                None
            }
        }
    }

    /// `check` after the collection: the comparison, its record in the ledger, `--strict`, the
    /// metrics.
    fn check(&self, mon: &mut Monitor, collection: &Collection) -> Result<Found, RunError> {
        let report = mon.stage("check", || {
            self.rt.block_on(crate::check_collection(
                self.config,
                self.connection,
                collection,
                self.window.range,
                self.now,
                self.opts.past_months,
            ))
        })?;
        self.hooks.checked(&report)?;
        log_check(&report);
        match Ledger::open(&self.connection.waldur.ledger) {
            Ok(ledger) => record_check(&ledger, None, &report, &collection.usages),
            Err(e) => tracing::warn!("the check is not recorded in the ledger: {e}"),
        }
        let verdict =
            strict_verdict(collection, self.opts.strict).or_then(Verdict::of_check(&report));
        mon.finish(
            self.hooks.exit_code(Ok(verdict)),
            Data {
                collection: Some(collection),
                check: Some(&report),
                ..Default::default()
            },
        );
        Ok(Found {
            verdict,
            pushed: None,
            check: Some(report),
        })
    }
}

/// One summary of a collection in the log, with every line accounted for.
pub fn log_collection(c: &Collection) {
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

/// One log line with a check's counts.
pub fn log_check(report: &CheckReport) {
    tracing::info!(
        agreeing = report.agreeing,
        missing = report.count("missing"),
        different = report.count("different"),
        unexpected = report.count("unexpected"),
        agreeing_users = report.agreeing_users,
        user_differences = report.user_differences.len(),
        invoicing = report.invoicing.len(),
        "check"
    );
}

/// Records what a check found in the ledger (`tally history` shows the last check). A ledger
/// that cannot be written costs the record, not the check: a warning.
fn record_check(
    ledger: &Ledger,
    run_id: Option<&str>,
    report: &CheckReport,
    cells: &[tally_model::UsageCell],
) {
    let recorded = crate::history::record_check(ledger, Utc::now(), run_id, report, cells);
    if let Err(e) = recorded {
        tracing::warn!("the check is not recorded in the ledger: {e}");
    }
}

/// [`crate::collect()`] for a command that talks to Waldur: the months in which a resource's
/// plan changed are also split per plan period (read from Waldur first; issue 23).
pub fn collect_for_waldur(
    config: &Config,
    window: &Window,
    connection: &Connection,
    rt: &Runtime,
    now: DateTime<Utc>,
) -> Result<Collection, RunError> {
    // The input first: a missing file or a bad dump stops the run (exit 2) before Waldur is
    // asked anything; only a month with a plan switch is read a second time, to cut it.
    let collected = crate::collect(config, window)?;
    let timelines = rt.block_on(crate::plan_periods::plan_timelines(
        config, connection, window, now,
    ))?;
    if timelines.is_empty() {
        return Ok(collected);
    }
    Ok(crate::collect_with_plan_periods(config, window, timelines)?)
}

/// Under `--strict`, anything not billed for a reason other than "never ran" fails the run.
pub fn strict_verdict(c: &Collection, strict: bool) -> Verdict {
    if strict && crate::needs_attention(c) {
        tracing::error!(
            invalid = c.records.invalid,
            unmapped = c.records.unmapped,
            "--strict: input needs attention (invalid lines or unmapped accounts)"
        );
        Verdict::InvalidInput
    } else {
        Verdict::Ok
    }
}

/// What a run leaves for monitoring: the run id on every log line (a `run` span around the
/// whole run, the same id as the ledger's row) and the `[metrics] textfile` at its end, also
/// when it fails.
struct Monitor {
    command: &'static str,
    run_id: String,
    started: DateTime<Utc>,
    textfile: Option<PathBuf>,
    stages: Vec<(&'static str, Duration)>,
    written: bool,
}

impl Monitor {
    fn new(command: &'static str) -> Monitor {
        let started = Utc::now();
        Monitor {
            command,
            run_id: tally_push::new_run_id(started),
            started,
            textfile: None,
            stages: Vec::new(),
            written: false,
        }
    }

    /// The span every log line of the run is inside: `run{run_id=...}` in human logs,
    /// `"span": {"run_id": ...}` in JSON logs.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("run", run_id = %self.run_id)
    }

    /// Times `f` as the stage `name`.
    fn stage<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.stages.push((name, t.elapsed()));
        out
    }

    /// Records a stage timed elsewhere.
    fn record_stage(&mut self, name: &'static str, took: Duration) {
        self.stages.push((name, took));
    }

    /// Writes the metrics file (if configured) for what the run came to. A file that cannot be
    /// written is logged, not fatal: the staleness of the last success tells monitoring.
    fn finish(&mut self, exit_code: u8, data: Data<'_>) {
        self.written = true;
        let Some(path) = &self.textfile else { return };
        let m = RunMetrics {
            command: self.command,
            run_id: &self.run_id,
            started: self.started,
            finished: Utc::now(),
            exit_code,
            collection: data.collection,
            push: data.push,
            check: data.check,
            stages: &self.stages,
            current_month: data.current_month,
            standings: data.standings,
        };
        match crate::metrics::write_textfile(path, &m) {
            Ok(()) => tracing::debug!(path = %path.display(), "metrics written"),
            Err(e) => tracing::error!("{e}"),
        }
    }
}

/// What the run got to, for the metrics.
#[derive(Default, Clone, Copy)]
struct Data<'a> {
    collection: Option<&'a Collection>,
    push: Option<&'a PushReport>,
    check: Option<&'a CheckReport>,
    current_month: Option<BillingMonth>,
    standings: Option<&'a [ResourceStanding]>,
}

/// The months `tally run` pushes at `as_of` (`tally limits` counts its figures, not Waldur's,
/// for them).
pub fn nightly_window(config: &Config, as_of: DateTime<Utc>) -> Window {
    Window {
        range: nightly_range(as_of, config.billing_timezone, config.previous_month_days),
        as_of,
    }
}
