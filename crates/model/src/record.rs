use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::BillingMonth;

/// Where a record came from, so every message about it can name the file and line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based, counting any header line.
    pub line: u64,
}

/// A line that could not be used. Never counted, never silently dropped: listed in the
/// output and counted in the summary; `--strict` turns any of them into a failed run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvalidRecord {
    pub file: PathBuf,
    pub line: u64,
    /// The column (or config key) at fault, as the input names it.
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for InvalidRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: field {}: {}",
            self.file.display(),
            self.line,
            self.field,
            self.reason
        )
    }
}

/// One reported figure: what a resource used of one component in one billing month,
/// already in the component's unit and rounded to what Waldur stores.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct UsageCell {
    /// The Waldur resource's `backend_id`.
    pub resource: String,
    pub period: BillingMonth,
    /// The Waldur offering component `type`.
    pub component: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// A cell's share used by one local user (the per-user breakdown Waldur shows to the PI).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct UserUsageCell {
    pub resource: String,
    pub period: BillingMonth,
    pub component: String,
    /// The local username (e.g. SLURM `User`).
    pub user: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// One plan period's part of a cell whose month had a plan switch (issue 23): the usage of the
/// time that plan was active. A breakdown beside the cells, as [`UserUsageCell`] is: the parts
/// of a cell add up to its amount exactly, to the cent; months without a switch have none.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PlanPartCell {
    pub resource: String,
    pub period: BillingMonth,
    pub component: String,
    /// The Waldur plan period; `None` for time inside no plan period (before the resource's
    /// first period) and for amount records, which carry no instant to cut at.
    pub plan_period: Option<uuid::Uuid>,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}
