//! Domain types shared by every stage of tally.
//!
//! Everything here is plain data with invariants enforced at construction, so that the
//! stages (sources -> aggregate -> push -> check) can pass values around without
//! re-validating them.

mod amount;
pub mod bounds;
mod month;
pub mod plan_period;
mod record;

pub use amount::{round_amount, split_exactly, AMOUNT_DECIMALS};
pub use month::{BillingMonth, MonthError, MonthRange};
pub use plan_period::{PlanPeriodSpan, PlanSegment, PlanTimeline, PlanTimelineError};
pub use record::{InvalidRecord, Origin, PlanPartCell, UsageCell, UserUsageCell};
