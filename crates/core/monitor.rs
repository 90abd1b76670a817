//! What a run leaves for monitoring: the run id on every log line (a `run` span around the whole
//! command, the same id as the ledger's row) and the `[metrics] textfile` at its end, also when
//! it fails.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tally_config::Config;
use tally_pipeline::metrics::RunMetrics;

use crate::exit::Exit;

/// One command's run: its id, its clock, its stages, and whether its metrics are written.
pub struct Run {
    pub command: &'static str,
    pub run_id: String,
    pub started: DateTime<Utc>,
    textfile: Option<PathBuf>,
    stages: Vec<(&'static str, Duration)>,
    written: bool,
}

impl Run {
    pub fn new(command: &'static str) -> Run {
        let started = Utc::now();
        Run {
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
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("run", run_id = %self.run_id)
    }

    /// Where the metrics go, once the config is read.
    pub fn configured(&mut self, config: &Config) {
        self.textfile = config.metrics.textfile.clone();
    }

    /// Times `f` as the stage `name`.
    pub fn stage<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.stages.push((name, t.elapsed()));
        out
    }

    /// Records a stage timed elsewhere (inside an async block).
    pub fn record_stage(&mut self, name: &'static str, took: Duration) {
        self.stages.push((name, took));
    }

    /// Whether the run should read where the allocations stand: for `[limits] warn_at` or the
    /// metrics file.
    pub fn wants_standings(&self, config: &Config) -> bool {
        self.textfile.is_some() || !config.limits.warn_at.is_empty()
    }

    /// Writes the metrics file (if configured) for what the run came to. A file that cannot be
    /// written is logged, not fatal: the staleness of the last success tells monitoring.
    pub fn finish(&mut self, exit: Exit, data: Data<'_>) {
        self.written = true;
        let Some(path) = &self.textfile else { return };
        let m = RunMetrics {
            command: self.command,
            run_id: &self.run_id,
            started: self.started,
            finished: Utc::now(),
            exit_code: exit as u8,
            collection: data.collection,
            push: data.push,
            check: data.check,
            stages: &self.stages,
            current_month: data.current_month,
            standings: data.standings,
        };
        match tally_pipeline::metrics::write_textfile(path, &m) {
            Ok(()) => tracing::debug!(path = %path.display(), "metrics written"),
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// After the command: a run that ended with an error before writing its metrics writes them
    /// now, saying it failed (the last success is carried over).
    pub fn close(mut self, result: &anyhow::Result<Exit>) {
        if self.written {
            return;
        }
        let exit = match result {
            Ok(e) => *e,
            Err(e) => crate::exit::classify(e),
        };
        self.finish(exit, Data::default());
    }
}

/// What the run got to, for the metrics.
#[derive(Default, Clone, Copy)]
pub struct Data<'a> {
    pub collection: Option<&'a tally_aggregate::Collection>,
    pub push: Option<&'a tally_pipeline::PushReport>,
    pub check: Option<&'a tally_check::CheckReport>,
    pub current_month: Option<tally_model::BillingMonth>,
    pub standings: Option<&'a [tally_limits::ResourceStanding]>,
}
