//! Counting what a push did, per cell and per resource, for the summary table, the ledger's
//! `runs.summary` and the exit code.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::execute::{Execution, Outcome, UserExecution};
use crate::plan::{Decrease, Plan, SkipReason};
use crate::users::UserPlan;

/// Cells per outcome. "Not delivered" is everything but `pushed` and `unchanged`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Sent and confirmed (201).
    pub pushed: u64,
    /// Waldur already held the value.
    pub unchanged: u64,
    /// Still failing after the retries (the next run tries again).
    pub failed: u64,
    /// The month is closed to this caller.
    pub closed: u64,
    /// Refused by Waldur, or not sent: wrong state, unknown component, ambiguous resource,
    /// token rejected, past month on a server that ignores `date`, ...
    pub refused: u64,
    /// No resource of the offering has the backend_id.
    pub unmapped: u64,
    /// Held back by the drop guard: the push would lower what Waldur holds by more than the
    /// configured share (`--allow-decrease` applies it).
    pub held_back: u64,
}

impl Counts {
    pub fn not_delivered(&self) -> u64 {
        self.failed + self.closed + self.refused + self.unmapped + self.held_back
    }

    fn add_outcome(&mut self, o: &Outcome, cells: u64) {
        match o {
            Outcome::Delivered => self.pushed += cells,
            Outcome::Closed { .. } => self.closed += cells,
            Outcome::Failed { .. } => self.failed += cells,
            Outcome::Refused { .. }
            | Outcome::OverLimit { .. }
            | Outcome::Unauthorized { .. }
            | Outcome::DateIgnored { .. }
            | Outcome::NotSent { .. } => self.refused += cells,
        }
    }

    fn add_skip(&mut self, r: &SkipReason) {
        match r {
            SkipReason::UnknownBackendId => self.unmapped += 1,
            _ => self.refused += 1,
        }
    }
}

/// Per-user breakdowns (one per cell) per outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserCounts {
    /// `set_user_usages` calls delivered (201), or to send in a dry run.
    pub pushed: u64,
    /// Waldur already held the breakdown.
    pub unchanged: u64,
    pub failed: u64,
    pub closed: u64,
    /// Refused, or not sent (the cell's total was not delivered, past month on a server that
    /// ignores `date`, token rejected, ...).
    pub refused: u64,
    /// Local usernames with no offering user: reported by username alone.
    pub unknown_users: Vec<String>,
}

impl UserCounts {
    pub fn not_delivered(&self) -> u64 {
        self.failed + self.closed + self.refused
    }

    fn add_outcome(&mut self, o: &Outcome) {
        match o {
            Outcome::Delivered => self.pushed += 1,
            Outcome::Closed { .. } => self.closed += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Refused { .. }
            | Outcome::OverLimit { .. }
            | Outcome::Unauthorized { .. }
            | Outcome::DateIgnored { .. }
            | Outcome::NotSent { .. } => self.refused += 1,
        }
    }

    /// Counts a per-user plan and, unless a dry run, what became of its calls.
    pub fn of(plan: &UserPlan, exec: Option<&UserExecution>) -> Self {
        let mut c = UserCounts {
            unchanged: plan.unchanged.len() as u64,
            refused: plan.skipped.len() as u64,
            unknown_users: plan.unknown_users.iter().cloned().collect(),
            ..UserCounts::default()
        };
        match exec {
            None => c.pushed += plan.requests.len() as u64,
            Some(e) => e.results.iter().for_each(|r| c.add_outcome(&r.outcome)),
        }
        c
    }
}

/// The whole push, counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub total: Counts,
    /// Per backend_id.
    pub resources: BTreeMap<String, Counts>,
    /// Current-month repairs after a past-month report landed in it.
    pub restores: usize,
    /// The per-user breakdowns (`None`: `user_usage = false`, or no source has users).
    pub user_usages: Option<UserCounts>,
    /// Each cell the drop guard held back, with what Waldur holds, what tally computes and why.
    pub held_back: Vec<HeldBackCell>,
    /// Decreases beyond the guard's limit that were sent because `--allow-decrease` said so.
    pub allowed_decreases: Vec<HeldBackCell>,
    /// Reports the server refused for an offering component's cap (counted as refused).
    pub over_limit: Vec<OverLimitReport>,
}

/// A report refused with 400 "Total amount exceeds limit": what was sent and both figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverLimitReport {
    pub resource: String,
    pub resource_uuid: uuid::Uuid,
    pub month: tally_model::BillingMonth,
    /// The components and amounts of the refused request (the server does not say which one
    /// went over).
    pub sent: BTreeMap<String, rust_decimal::Decimal>,
    /// What the period would have held with the report, as the server computed it.
    pub total: rust_decimal::Decimal,
    /// The component's `limit_amount`.
    pub limit: rust_decimal::Decimal,
}

/// A cell the drop guard held back (or let through when told), for the JSON summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldBackCell {
    pub resource: String,
    pub resource_uuid: uuid::Uuid,
    pub month: tally_model::BillingMonth,
    pub component: String,
    pub held: rust_decimal::Decimal,
    pub computed: rust_decimal::Decimal,
    pub why: String,
}

impl From<&Decrease> for HeldBackCell {
    fn from(d: &Decrease) -> Self {
        HeldBackCell {
            resource: d.target.backend_id.clone(),
            resource_uuid: d.target.uuid,
            month: d.month,
            component: d.component.clone(),
            held: d.held,
            computed: d.computed,
            why: d.why(),
        }
    }
}

impl Summary {
    /// Counts a plan alone (`--dry-run`: nothing sent, the requests counted as pushed).
    pub fn of_plan(plan: &Plan) -> Self {
        let mut s = Summary::default();
        s.count_plan_parts(plan);
        for r in &plan.requests {
            let n = r.items.len() as u64;
            s.total.pushed += n;
            s.resources
                .entry(r.target.backend_id.clone())
                .or_default()
                .pushed += n;
        }
        s
    }

    /// Counts a plan and what became of its requests.
    pub fn of(plan: &Plan, exec: &Execution) -> Self {
        let mut s = Summary::default();
        s.count_plan_parts(plan);
        for r in &exec.results {
            let n = r.request.items.len() as u64;
            s.total.add_outcome(&r.outcome, n);
            s.resources
                .entry(r.request.target.backend_id.clone())
                .or_default()
                .add_outcome(&r.outcome, n);
        }
        s.restores = exec.restores.len();
        s.over_limit = exec
            .results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::OverLimit { total, limit, .. } => Some(OverLimitReport {
                    resource: r.request.target.backend_id.clone(),
                    resource_uuid: r.request.target.uuid,
                    month: r.request.month,
                    sent: r.request.items.iter().cloned().collect(),
                    total: *total,
                    limit: *limit,
                }),
                _ => None,
            })
            .collect();
        s
    }

    fn count_plan_parts(&mut self, plan: &Plan) {
        for c in &plan.unchanged {
            self.total.unchanged += 1;
            self.resources
                .entry(c.resource.clone())
                .or_default()
                .unchanged += 1;
        }
        for sk in &plan.skipped {
            self.total.add_skip(&sk.reason);
            self.resources
                .entry(sk.cell.resource.clone())
                .or_default()
                .add_skip(&sk.reason);
        }
        for h in &plan.held_back {
            self.total.held_back += 1;
            self.resources
                .entry(h.target.backend_id.clone())
                .or_default()
                .held_back += 1;
        }
        self.held_back = plan.held_back.iter().map(HeldBackCell::from).collect();
        self.allowed_decreases = plan
            .allowed_decreases
            .iter()
            .map(HeldBackCell::from)
            .collect();
    }

    /// Cells and per-user breakdowns not delivered (what makes the exit code 4).
    pub fn not_delivered(&self) -> u64 {
        self.total.not_delivered()
            + self
                .user_usages
                .as_ref()
                .map_or(0, UserCounts::not_delivered)
    }
}
