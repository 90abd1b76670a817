//! tally-push: makes Waldur hold exactly the usage tally computed, safely and repeatably.
//!
//! - [`gather`] (from tally-holdings, which check shares) reads what the plan needs: the
//!   offering's resources (one listing), its components, and the usage Waldur holds per month.
//! - [`plan()`] is a pure function from (cells, resources, components, holdings, server version,
//!   clock, the cells tally owns, the drop guard) to requests, skipped and held-back cells. Owned
//!   cells tally computes nothing for are set to 0.00 ([`ownership`] decides which); a push that
//!   would lower a cell by more than the guard's share is held back. Waldur's `set_usage` is a SET of the month's total, so
//!   recomputing everything and sending only what differs is idempotent: a re-run after a crash
//!   finishes the job, a second run sends nothing.
//! - [`execute()`] sends with bounded concurrency, writes the [`Ledger`], and verifies every
//!   past-month report against the current month (servers before 8.0 ignore `date`).
//! - [`plan_user_usages`] adds the per-user breakdown (`set_user_usages`, one call per cell whose
//!   breakdown Waldur does not hold yet), [`execute_user_usages`] sends it after the totals.
//! - [`plan_periods()`] plans the current month per plan period where the plan changed inside
//!   it and the server keys rows by plan period (issue 23).
//! - [`Summary`] counts cells per outcome for the report and the exit code.

pub mod execute;
pub use tally_holdings::gather;
pub use tally_holdings::{keys_by_backend_id, HeldMonths, HoldingKey};
pub mod ledger;
pub mod lock;
pub mod plan;
pub mod plan_periods;
pub mod summary;
#[cfg(test)]
mod test_values;
pub mod users;

pub use execute::{
    execute, execute_user_usages, outcome_of_error, ExecuteOptions, Execution, Outcome, Progress,
    RequestResult, Restore, UserExecution, UserRequestResult,
};
pub use ledger::{
    new_run_id, AttemptAmounts, AttemptResult, AttemptStart, CheckRecord, CheckedCell,
    HistoryEntry, Ledger, LedgerError, Purpose, Reported, ReportedUser, RunRecord, SentAmount,
    SentUserAmount, UserAmount,
};
pub use lock::{LockError, RunLock};
pub use plan::{
    date_inside, ownership, plan, Decrease, DropGuard, Holdings, MappingReach, Ownership,
    OwnershipInput, OwnershipMode, PastMonths, Plan, PlanInput, PlannedRequest, ResolvedResource,
    ServerInfo, SkipReason, SkippedCell, WaldurComponent, WaldurResource,
    DEFAULT_MAX_DECREASE_PERCENT, MONTH_END_MARGIN_MINUTES,
};
pub use plan_periods::{
    plan_periods, PeriodPart, PeriodPlan, PeriodPlanInput, PeriodRefusal, PeriodRequest,
};
pub use summary::{Counts, HeldBackCell, OverLimitReport, Summary, UserCounts};
pub use users::{
    plan_user_usages, HeldUser, PlannedUserUsages, SkippedBreakdown, UsageIds, UserDirectory,
    UserHoldings, UserPlan, UserPlanInput, UserShare,
};
