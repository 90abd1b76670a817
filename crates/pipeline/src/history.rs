//! `tally history`: what the ledger holds for a resource (every request, the last check), and
//! what a check records there.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tally_check::{CheckReport, Difference};
use tally_config::Config;
use tally_model::{BillingMonth, UsageCell};
use tally_push::{CheckRecord, CheckedCell, HistoryEntry, Ledger, LedgerError};

use crate::{waldur_section, UsageError};

/// Why the history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// No `[waldur]` table: no ledger configured.
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A resource's history as the ledger tells it.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub resource: String,
    /// The month asked for (`None`: every month).
    pub month: Option<BillingMonth>,
    pub ledger: std::path::PathBuf,
    /// Every request recorded for the resource, oldest first.
    pub requests: Vec<HistoryEntry>,
    /// The last check of each month, by month and component.
    pub last_check: Vec<CheckRecord>,
}

/// Reads the ledger of `config` (read-only; a missing ledger has no history).
pub fn history(
    config: &Config,
    resource: &str,
    month: Option<BillingMonth>,
) -> Result<History, HistoryError> {
    let path = waldur_section(config)?.ledger;
    let month_text = month.map(|m| m.to_string());
    let (requests, last_check) = match Ledger::open_read_only(&path)? {
        None => (Vec::new(), Vec::new()),
        Some(l) => (
            l.history(resource, month_text.as_deref())?,
            l.last_checks(resource, month_text.as_deref())?,
        ),
    };
    Ok(History {
        resource: resource.to_owned(),
        month,
        ledger: path,
        requests,
        last_check,
    })
}

/// What a check found for every cell it compared: each difference, and each cell tally computed
/// in the months checked that Waldur holds exactly (`agrees`).
pub fn checked_cells(report: &CheckReport, cells: &[UsageCell]) -> Vec<CheckedCell> {
    let text = |d: &Decimal| Some(d.to_string());
    let mut out: BTreeMap<(String, BillingMonth, String), CheckedCell> = BTreeMap::new();
    for d in &report.differences {
        let (backend, month, component) = d.key();
        let (result, tally, waldur) = match d {
            Difference::Missing { expected, .. } => ("missing", text(expected), None),
            Difference::Different { expected, held, .. } => {
                ("different", text(expected), text(held))
            }
            Difference::Unexpected { held, .. } => ("unexpected", None, text(held)),
        };
        out.insert(
            (backend.to_owned(), month, component.to_owned()),
            CheckedCell {
                backend_id: backend.to_owned(),
                month: month.to_string(),
                component: component.to_owned(),
                result: result.to_owned(),
                tally,
                waldur,
            },
        );
    }
    for c in cells.iter().filter(|c| report.months.contains(&c.period)) {
        out.entry((c.resource.clone(), c.period, c.component.clone()))
            .or_insert_with(|| CheckedCell {
                backend_id: c.resource.clone(),
                month: c.period.to_string(),
                component: c.component.clone(),
                result: "agrees".to_owned(),
                tally: text(&c.amount),
                waldur: text(&c.amount),
            });
    }
    out.into_values().collect()
}

/// Records a check in the ledger (`run_id`: the nightly run that checked).
pub fn record_check(
    ledger: &Ledger,
    checked_at: DateTime<Utc>,
    run_id: Option<&str>,
    report: &CheckReport,
    cells: &[UsageCell],
) -> Result<(), LedgerError> {
    ledger.record_check(checked_at, run_id, &checked_cells(report, cells))
}
