//! The push per plan period (issue 23, docs/plan-periods.md).
//!
//! An older Waldur (the 2024 generation) keys usage rows by (resource, component, plan period,
//! month) and invoices each row at its own plan's prices. When a resource changed plan inside
//! the current month, tally's month is split at the switch (the aggregator's
//! [`tally_model::PlanPartCell`]s) and each part must be written into its own period's row
//! (`set_usage` with `plan_period`). One figure sent without a period after the switch would
//! add a second row carrying the whole month, billed on top of the first.
//!
//! One thing that server cannot do: correct the old period's row after the switch. The write
//! lands, but the invoice step no longer finds the old item (its end lies past the period's
//! end) and bills a second item. So a part of an ended period whose row already holds another
//! figure is never sent: it is reported ([`PeriodRefusal::OldPeriodFinal`]), and the push is not
//! done (exit 4). An ended period that holds no row yet may be written once: that makes its first
//! item, at its own plan's price.
//!
//! A part that would lower what its open period's row holds by more than the drop guard allows
//! is held back as a whole-month cell would be ([`PeriodRefusal::DecreaseHeldBack`]): the same
//! `[push] max_decrease_percent` and `--allow-decrease` decide.
//!
//! [`plan_periods`] is pure: tally's parts, the resource's plan periods and the rows it holds in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tally_model::{BillingMonth, PlanPartCell};
use tally_waldur::{HeldUsage, PlanPeriod};
use uuid::Uuid;

use crate::plan::DropGuard;

/// What [`plan_periods`] looks at, for one resource in the current month.
#[derive(Debug, Clone)]
pub struct PeriodPlanInput<'a> {
    pub resource: Uuid,
    pub backend_id: &'a str,
    /// The server's current month: the only one `set_usage` with `plan_period` writes.
    pub month: BillingMonth,
    pub now: DateTime<Utc>,
    /// tally's parts of this resource in `month` (every component).
    pub parts: &'a [PlanPartCell],
    pub periods: &'a [PlanPeriod],
    /// The resource's current-month rows, each with its plan period.
    pub held: &'a [HeldUsage],
    /// How far a part may lower what its period's row holds (the push's own guard).
    pub drop_guard: DropGuard,
}

/// One `set_usage` with `plan_period`: the parts of one period that Waldur does not hold yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodRequest {
    pub resource: Uuid,
    pub backend_id: String,
    pub month: BillingMonth,
    pub plan_period: Uuid,
    pub plan_name: Option<String>,
    /// (component, amount), by component.
    pub items: Vec<(String, Decimal)>,
}

/// One part already held exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodPart {
    pub resource: Uuid,
    pub backend_id: String,
    pub month: BillingMonth,
    pub component: String,
    pub plan_period: Option<Uuid>,
    pub amount: Decimal,
}

/// A part tally does not send, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeriodRefusal {
    /// The period has ended (the plan was switched) and its row holds another figure: the
    /// server would bill the correction as a second item. Only Waldur staff can fix the
    /// invoice; the row stays as it is.
    OldPeriodFinal {
        part: PeriodPart,
        plan_name: Option<String>,
        held: Decimal,
    },
    /// Usage of time in no plan period (before the resource's first one): Waldur would store
    /// it and never invoice it.
    NoPlanPeriod { part: PeriodPart },
    /// Waldur holds the month in several rows (one per plan period) and tally has one figure
    /// for it (no plan switch it knows of): sending it would overwrite one row or add another.
    HeldInSeveralRows {
        part: PeriodPart,
        rows: Vec<Decimal>,
    },
    /// The part would lower what its (open) period's row holds by more than `[push]
    /// max_decrease_percent` allows, without `--allow-decrease`: held back, as a whole-month
    /// cell would be. `limit` is that share (0.05 = 5 %).
    DecreaseHeldBack {
        part: PeriodPart,
        plan_name: Option<String>,
        held: Decimal,
        limit: Decimal,
    },
}

impl PeriodRefusal {
    pub fn part(&self) -> &PeriodPart {
        match self {
            PeriodRefusal::OldPeriodFinal { part, .. }
            | PeriodRefusal::NoPlanPeriod { part }
            | PeriodRefusal::HeldInSeveralRows { part, .. }
            | PeriodRefusal::DecreaseHeldBack { part, .. } => part,
        }
    }

    /// What the operator is told.
    pub fn why(&self) -> String {
        match self {
            PeriodRefusal::OldPeriodFinal {
                held,
                plan_name,
                part,
            } => format!(
                "plan period {} (plan {}) has ended and holds {held}, tally computes {}: this \
                 server would bill a correction as a second invoice item, so it is not sent; ask \
                 Waldur staff to correct the invoice if {} is right",
                part.plan_period.map(|p| p.to_string()).unwrap_or_default(),
                plan_name.as_deref().unwrap_or("?"),
                part.amount,
                part.amount
            ),
            PeriodRefusal::NoPlanPeriod { part } => format!(
                "{} of {} was used while the resource had no plan period: Waldur would store it \
                 and never invoice it; give the resource a plan period covering that time",
                part.amount, part.component
            ),
            PeriodRefusal::DecreaseHeldBack {
                part,
                plan_name,
                held,
                limit,
            } => {
                let pct = |d: Decimal| (d * Decimal::ONE_HUNDRED).round_dp(1).normalize();
                format!(
                    "would lower plan period {} (plan {}) from {held} to {} (-{}%, more than the \
                     {}% allowed): the computed total fell (fewer input files or records than \
                     before?); --allow-decrease applies it",
                    part.plan_period.map(|p| p.to_string()).unwrap_or_default(),
                    plan_name.as_deref().unwrap_or("?"),
                    part.amount,
                    pct((*held - part.amount) / *held),
                    pct(*limit)
                )
            }
            PeriodRefusal::HeldInSeveralRows { part, rows } => {
                format!(
                "Waldur holds {} of {} in {} rows (one per plan period: {}) and tally computes \
                 one figure, {}: not sent (it would overwrite one row or add another); check the \
                 resource's plan periods",
                part.month,
                part.component,
                rows.len(),
                rows.iter().map(ToString::to_string).collect::<Vec<_>>().join(" + "),
                part.amount
            )
            }
        }
    }
}

/// The per-period plan of some resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PeriodPlan {
    pub requests: Vec<PeriodRequest>,
    pub unchanged: Vec<PeriodPart>,
    pub refused: Vec<PeriodRefusal>,
}

impl PeriodPlan {
    pub fn extend(&mut self, other: PeriodPlan) {
        self.requests.extend(other.requests);
        self.unchanged.extend(other.unchanged);
        self.refused.extend(other.refused);
    }

    /// Parts to send (one request may carry several components).
    pub fn parts_to_send(&self) -> usize {
        self.requests.iter().map(|r| r.items.len()).sum()
    }
}

/// Decides, part by part, what to write into which plan period. Pure.
pub fn plan_periods(input: &PeriodPlanInput<'_>) -> PeriodPlan {
    let mut out = PeriodPlan::default();
    let mut sends: BTreeMap<Uuid, Vec<(String, Decimal)>> = BTreeMap::new();
    for p in input
        .parts
        .iter()
        .filter(|p| p.period == input.month && p.resource == input.backend_id)
    {
        let part = PeriodPart {
            resource: input.resource,
            backend_id: input.backend_id.to_owned(),
            month: input.month,
            component: p.component.clone(),
            plan_period: p.plan_period,
            amount: p.amount,
        };
        let Some(period_uuid) = p.plan_period else {
            if !p.amount.is_zero() {
                out.refused.push(PeriodRefusal::NoPlanPeriod { part });
            }
            continue;
        };
        let held: Option<Decimal> = input
            .held
            .iter()
            .filter(|h| h.plan_period == Some(period_uuid) && h.row.component == p.component)
            .map(|h| h.row.usage)
            .reduce(|a, b| a + b);
        if held == Some(p.amount) {
            out.unchanged.push(part);
            continue;
        }
        let period = input.periods.iter().find(|x| x.uuid == period_uuid);
        let ended = period.and_then(|x| x.end).is_some_and(|e| e <= input.now);
        let guard = &input.drop_guard;
        match held {
            Some(held) if ended => out.refused.push(PeriodRefusal::OldPeriodFinal {
                part,
                plan_name: period.and_then(|x| x.plan_name.clone()),
                held,
            }),
            Some(held) if !guard.allow && guard.exceeded_by(held, p.amount) => {
                out.refused.push(PeriodRefusal::DecreaseHeldBack {
                    part,
                    plan_name: period.and_then(|x| x.plan_name.clone()),
                    held,
                    limit: guard.max_share,
                })
            }
            // Nothing held and nothing to say: no row needed.
            None if p.amount.is_zero() => out.unchanged.push(part),
            _ => sends
                .entry(period_uuid)
                .or_default()
                .push((p.component.clone(), p.amount)),
        }
    }
    for (plan_period, mut items) in sends {
        items.sort();
        out.requests.push(PeriodRequest {
            resource: input.resource,
            backend_id: input.backend_id.to_owned(),
            month: input.month,
            plan_period,
            plan_name: input
                .periods
                .iter()
                .find(|x| x.uuid == plan_period)
                .and_then(|x| x.plan_name.clone()),
            items,
        });
    }
    out
}

#[cfg(test)]
mod tests;
