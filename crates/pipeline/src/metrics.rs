//! The Prometheus text file of a run, for node_exporter's textfile collector: what monitoring
//! needs to see that last night's run happened and delivered, and where the allocations stand.
//!
//! Written in the classic text format (the `prometheus` crate's `TextEncoder`: what the
//! textfile collector and `promtool check metrics` read), without timestamps (the collector
//! refuses them), atomically: a temporary file in the same directory, readable by the
//! collector (0644), renamed over the old one, so a scrape never sees half a file.
//!
//! Every series describes the last run, so all are gauges (no `_total`: Prometheus' naming
//! guide keeps that suffix for counters, which accumulate across runs). A run that failed
//! still writes its file (success 0, its exit code) and carries the last success over from the
//! previous file, so `time() - tally_last_success_timestamp_seconds` keeps growing until a run
//! succeeds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{Encoder, Gauge, GaugeVec, Opts, Registry, TextEncoder};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use tally_aggregate::Collection;
use tally_check::CheckReport;
use tally_limits::ResourceStanding;
use tally_model::BillingMonth;
use tally_push::Outcome;

use crate::PushReport;

/// The series that carries the last success over from one file to the next.
pub const LAST_SUCCESS: &str = "tally_last_success_timestamp_seconds";

/// What one command did, as far as it got.
#[derive(Clone, Copy)]
pub struct RunMetrics<'a> {
    /// `run`, `push` or `check`.
    pub command: &'a str,
    /// The id its log lines and its ledger row carry.
    pub run_id: &'a str,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// The process's exit code; 0 is a success.
    pub exit_code: u8,
    pub collection: Option<&'a Collection>,
    pub push: Option<&'a PushReport>,
    pub check: Option<&'a CheckReport>,
    /// Wall time per stage (`collect`, `push`, `check`, `limits`), in order.
    pub stages: &'a [(&'static str, Duration)],
    /// The current billing month: its cells are the usage series.
    pub current_month: Option<BillingMonth>,
    pub standings: Option<&'a [ResourceStanding]>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot write the metrics file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the metrics: {0}")]
    Encode(#[from] prometheus::Error),
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn float(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// The numeric fields of a counts struct (`Counts`, `UserCounts`, `RecordCounts`) by name.
fn numeric_fields<T: Serialize>(counts: &T) -> Vec<(String, f64)> {
    match serde_json::to_value(counts) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .filter_map(|(k, v)| v.as_f64().map(|n| (k, n)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The HTTP status a request's outcome stands for; `None` for a request never sent.
fn status_of(o: &Outcome) -> Option<String> {
    match o {
        Outcome::Delivered | Outcome::DateIgnored { .. } => Some("201".into()),
        Outcome::Refused {
            status: Some(s), ..
        } => Some(s.to_string()),
        Outcome::Refused { status: None, .. } | Outcome::NotSent { .. } => None,
        Outcome::Closed { .. } | Outcome::OverLimit { .. } => Some("400".into()),
        Outcome::Unauthorized { .. } => Some("401".into()),
        // 5xx, 429, timeouts and refused connections, still failing after the retries
        Outcome::Failed { .. } => Some("error".into()),
    }
}

struct Builder {
    registry: Registry,
}

impl Builder {
    fn gauge(&self, name: &str, help: &str, value: f64) -> Result<(), MetricsError> {
        let g = Gauge::new(name, help)?;
        g.set(value);
        self.registry.register(Box::new(g))?;
        Ok(())
    }

    fn family(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        rows: impl IntoIterator<Item = (Vec<String>, f64)>,
    ) -> Result<(), MetricsError> {
        let g = GaugeVec::new(Opts::new(name, help), labels)?;
        let mut any = false;
        for (values, v) in rows {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            g.get_metric_with_label_values(&refs)?.add(v);
            any = true;
        }
        if any {
            self.registry.register(Box::new(g))?;
        }
        Ok(())
    }
}

/// The file's text. `last_success`: the instant of the last successful run, if any is known.
pub fn render(m: &RunMetrics<'_>, last_success: Option<f64>) -> Result<String, MetricsError> {
    let b = Builder {
        registry: Registry::new(),
    };
    b.family(
        "tally_last_run_info",
        "The last run: its command, its id (as in the logs and the ledger) and tally's version.",
        &["command", "run_id", "version"],
        [(
            vec![
                m.command.to_owned(),
                m.run_id.to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ],
            1.0,
        )],
    )?;
    b.gauge(
        "tally_last_run_start_timestamp_seconds",
        "When the last run started (Unix time).",
        seconds(m.started),
    )?;
    b.gauge(
        "tally_last_run_end_timestamp_seconds",
        "When the last run ended (Unix time).",
        seconds(m.finished),
    )?;
    b.gauge(
        "tally_last_run_success",
        "1 if the last run exited 0 (everything read, delivered and checked), else 0.",
        if m.exit_code == 0 { 1.0 } else { 0.0 },
    )?;
    b.gauge(
        "tally_last_run_exit_code",
        "The exit code of the last run (README: exit codes).",
        f64::from(m.exit_code),
    )?;
    if let Some(t) = last_success {
        b.gauge(
            LAST_SUCCESS,
            "When a run last exited 0 (Unix time); kept over failed runs.",
            t,
        )?;
    }
    b.gauge(
        "tally_last_run_duration_seconds",
        "Wall time of the last run.",
        (m.finished - m.started).num_milliseconds() as f64 / 1000.0,
    )?;
    b.family(
        "tally_last_run_stage_duration_seconds",
        "Wall time of each stage of the last run.",
        &["stage"],
        m.stages
            .iter()
            .map(|(s, d)| (vec![(*s).to_owned()], d.as_secs_f64())),
    )?;
    if let Some(c) = m.collection {
        b.family(
            "tally_last_run_records",
            "Accounting records of the last run by kind (lines read, jobs, invalid, unmapped, ...).",
            &["kind"],
            numeric_fields(&c.records)
                .into_iter()
                .map(|(k, v)| (vec![k], v)),
        )?;
        if let Some(month) = m.current_month {
            b.family(
                "tally_current_month_usage",
                "Usage of the current billing month so far, as tally computes it, per resource (backend_id) and component, in the component's measured unit.",
                &["resource", "component", "month"],
                c.usages.iter().filter(|u| u.period == month).map(|u| {
                    (
                        vec![u.resource.clone(), u.component.clone(), month.to_string()],
                        float(u.amount),
                    )
                }),
            )?;
        }
    }
    if let Some(p) = m.push {
        b.family(
            "tally_last_run_cells",
            "Usage cells (resource, month, component) of the last push by outcome.",
            &["outcome"],
            numeric_fields(&p.summary.total)
                .into_iter()
                .map(|(k, v)| (vec![k], v)),
        )?;
        if let Some(u) = &p.summary.user_usages {
            b.family(
                "tally_last_run_user_breakdowns",
                "Per-user breakdowns of the last push by outcome.",
                &["outcome"],
                numeric_fields(u).into_iter().map(|(k, v)| (vec![k], v)),
            )?;
        }
        let mut requests: std::collections::BTreeMap<(String, String), f64> = Default::default();
        let totals = p
            .execution
            .iter()
            .flat_map(|e| &e.results)
            .map(|r| &r.outcome);
        let users = p
            .user_execution
            .iter()
            .flat_map(|e| &e.results)
            .map(|r| &r.outcome);
        for (kind, o) in totals
            .map(|o| ("set_usage", o))
            .chain(users.map(|o| ("set_user_usages", o)))
        {
            if let Some(status) = status_of(o) {
                *requests.entry((kind.to_owned(), status)).or_default() += 1.0;
            }
        }
        b.family(
            "tally_last_run_requests",
            "Usage reports the last push sent, by endpoint and final HTTP status (\"error\": 5xx, 429 or no answer after the retries).",
            &["endpoint", "status"],
            requests.into_iter().map(|((k, s), v)| (vec![k, s], v)),
        )?;
    }
    if let Some(c) = m.check {
        b.family(
            "tally_last_run_check_cells",
            "Cells of the last check by result.",
            &["result"],
            [
                ("agreeing", c.agreeing as f64),
                ("missing", c.count("missing") as f64),
                ("different", c.count("different") as f64),
                ("unexpected", c.count("unexpected") as f64),
            ]
            .map(|(k, v)| (vec![k.to_owned()], v)),
        )?;
    }
    if let Some(standings) = m.standings {
        let mut used = Vec::new();
        let mut limit = Vec::new();
        let mut ratio = Vec::new();
        for r in standings {
            for c in &r.components {
                for l in &c.limits {
                    let Some(amount) = l.limit else { continue };
                    let labels = vec![
                        r.backend_id.clone(),
                        c.component.clone(),
                        l.kind.name().to_owned(),
                        c.summed_over.name().to_owned(),
                    ];
                    used.push((labels.clone(), float(c.used)));
                    limit.push((labels.clone(), float(amount)));
                    if !amount.is_zero() {
                        ratio.push((labels, float(c.used / amount)));
                    }
                }
            }
        }
        let labels = ["resource", "component", "limit_kind", "period"];
        b.family(
            "tally_allocation_used",
            "Usage of the limit's current period (records for the months tally computes, Waldur for earlier ones), in the component's unit.",
            &labels,
            used,
        )?;
        b.family(
            "tally_allocation_limit",
            "The limit: the resource's own (limit_kind=resource) or the component's limit_amount (limit_kind=component).",
            &labels,
            limit,
        )?;
        b.family(
            "tally_allocation_used_ratio",
            "Share of the limit used (1 = all of it).",
            &labels,
            ratio,
        )?;
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&b.registry.gather(), &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The last success a previous file recorded.
pub fn previous_last_success(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let value = l.strip_prefix(LAST_SUCCESS)?.strip_prefix(' ')?;
        value.trim().parse::<f64>().ok()
    })
}

/// Writes the file atomically; the last success is this run's end if it succeeded, else the
/// previous file's.
pub fn write_textfile(path: &Path, m: &RunMetrics<'_>) -> Result<(), MetricsError> {
    let last_success = if m.exit_code == 0 {
        Some(seconds(m.finished))
    } else {
        previous_last_success(path)
    };
    let text = render(m, last_success)?;
    let io = |source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tally-metrics-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(exit_code: u8, finished: &str) -> RunMetrics<'static> {
        RunMetrics {
            command: "run",
            run_id: "20261115T120000Z-1-000000001",
            started: "2026-11-15T12:00:00Z".parse().unwrap(),
            finished: finished.parse().unwrap(),
            exit_code,
            collection: None,
            push: None,
            check: None,
            stages: &[],
            current_month: None,
            standings: None,
        }
    }

    #[test]
    fn a_failed_run_keeps_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tally.prom");
        write_textfile(&path, &metrics(0, "2026-11-15T12:00:30Z")).unwrap();
        assert_eq!(previous_last_success(&path), Some(1_794_744_030.0));
        write_textfile(&path, &metrics(6, "2026-11-16T12:00:30Z")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("tally_last_run_success 0\n"), "{text}");
        assert!(text.contains("tally_last_run_exit_code 6\n"), "{text}");
        assert_eq!(previous_last_success(&path), Some(1_794_744_030.0));
        // nothing left beside it
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn no_success_yet_writes_no_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tally.prom");
        write_textfile(&path, &metrics(1, "2026-11-15T12:00:30Z")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(LAST_SUCCESS), "{text}");
    }
}
