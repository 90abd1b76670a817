//! Turns job records into usage cells: one exact total per (resource, billing month,
//! component).
//!
//! Why it is built this way:
//! - A job can appear in several dumps (overlapping windows, a dump taken while it ran and
//!   a later one). Every record is kept per job until the end and only the best one counts,
//!   so memory grows with distinct jobs, never with lines.
//! - Usage is TRES quantity x seconds, summed exactly (`rust_decimal`) per cell, and only
//!   then divided by the unit, multiplied by the factor and rounded once. Splitting a job at
//!   month boundaries, splitting input files or reordering lines cannot change a total.

mod aggregator;
pub mod explain;
pub mod fuzzing;
mod identity;
mod intern;
mod jobs;
mod millis;
mod plan_cut;

pub use aggregator::{
    AccountMapping, AggregateError, AggregateOptions, Aggregator, Collection, ComponentRule,
    RecordCounts, UnlistedAccounts, UnmappedAccount, UNKNOWN_USER,
};
pub use explain::{ExplainTarget, Explanation};
pub use identity::{IdentityConflict, IdentityFile};
