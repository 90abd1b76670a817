use std::path::PathBuf;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

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
///
/// The names are shared (`Arc<str>`), not owned: a large site's collection holds millions of
/// these (one per resource, month, component and user), and three owned `String`s made them
/// about 190 bytes each, most of a collection's memory (issue 22). Shared, a cell is 72 bytes
/// and building one allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct UserUsageCell {
    #[serde(serialize_with = "shared_str")]
    pub resource: Arc<str>,
    pub period: BillingMonth,
    #[serde(serialize_with = "shared_str")]
    pub component: Arc<str>,
    /// The local username (e.g. SLURM `User`).
    #[serde(serialize_with = "shared_str")]
    pub user: Arc<str>,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// A shared name as a plain string (serde's own `Arc` support needs its `rc` feature, which
/// would rebuild every crate that uses serde for one type).
fn shared_str<S: Serializer>(s: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(s)
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
