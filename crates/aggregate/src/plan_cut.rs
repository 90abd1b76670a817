//! The cut at plan switches (issue 23, docs/plan-periods.md): a step of its own after the
//! month walk, so that the walk, and the cells it makes, stay exactly as they are.
//!
//! A 2024 Waldur keys usage rows by plan period: a month in which a resource changed plan must
//! be reported in parts, each the usage of the time its plan was active. This step walks the
//! jobs of the resources that have a [`PlanTimeline`] once more, only through the months in
//! which the plan changed, and cuts their time at `min(month end, piece end)` exactly as the
//! month walk cuts at month ends, summing TRES x microseconds per piece as exact integers.
//! Each cell of such a month is then split over its pieces with [`split_exactly`], so the parts
//! add up to the cell's (already rounded) amount to the cent: the cell itself never changes.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use tally_model::plan_period::MICROS_PER_SECOND;
use tally_model::{split_exactly, BillingMonth, MonthRange, PlanPartCell, PlanTimeline, UsageCell};
use uuid::Uuid;

use crate::aggregator::{to_decimal, to_unit, MonthCache};
use crate::intern::Interner;
use crate::jobs::JobColumns;
use crate::{AggregateError, ComponentRule};

/// The plan periods of each resource, by the resource's `backend_id`.
pub(crate) type Timelines = BTreeMap<String, PlanTimeline<Uuid>>;

/// What the cut needs of the finished month walk.
pub(crate) struct CutInput<'a> {
    pub jobs: &'a JobColumns,
    /// Each resource id's timeline (none for most).
    pub timeline_of: Vec<Option<&'a PlanTimeline<Uuid>>>,
    /// Each job owner's resource id (`None`: unmapped).
    pub resource_of_owner: Vec<Option<u32>>,
    pub resources: &'a Interner,
    pub wanted: &'a [String],
    /// Each quantity set's values at its TRES's scale, `wanted.len()` per set.
    pub set_values: &'a [Option<i128>],
    pub months: MonthCache,
    pub range: MonthRange,
    pub range_start: i64,
    /// `min(as_of, range end)`: nothing after it counts.
    pub end_limit: i64,
    pub as_of: i64,
    /// The sub-second corrections of the month walk: (job slot, second, signed millis).
    pub corrections: &'a [(usize, i64, i64)],
}

/// A plan period (`None`: time in none) and its sums, one per TRES.
type Piece = (Option<Uuid>, Vec<i128>);

/// Exact TRES x microsecond sums per plan period piece of each (resource, month) in which the
/// plan changed.
pub(crate) struct PieceSums {
    width: usize,
    /// (resource id, month) -> (period, one sum per TRES in its scale's units x microseconds).
    months: FxHashMap<(u32, BillingMonth), Vec<Piece>>,
}

impl PieceSums {
    pub(crate) fn is_empty(&self) -> bool {
        self.months.is_empty()
    }

    /// Walks the jobs of the resources that have a timeline through their switch months.
    pub(crate) fn sum(mut input: CutInput<'_>) -> Result<Self, AggregateError> {
        let width = input.wanted.len();
        let mut out = Self {
            width,
            months: FxHashMap::default(),
        };
        if input.timeline_of.iter().all(Option::is_none) {
            return Ok(out);
        }
        let mut switch_months: FxHashMap<(u32, BillingMonth), bool> = FxHashMap::default();
        let tz = input.months.tz();
        let mut is_switch_month = |resource: u32, month: BillingMonth, tl: &PlanTimeline<Uuid>| {
            *switch_months.entry((resource, month)).or_insert_with(|| {
                tl.switches_within(
                    month.start(tz).timestamp_micros(),
                    month.end(tz).timestamp_micros(),
                )
            })
        };
        let jobs = input.jobs;
        for slot in 0..jobs.len() {
            let Some(resource) = input.resource_of_owner[jobs.owner(slot) as usize] else {
                continue;
            };
            let Some(tl) = input.timeline_of[resource as usize] else {
                continue;
            };
            let (start, end) = jobs.span(slot);
            if start >= input.as_of {
                continue;
            }
            let end = end.min(input.end_limit);
            let set = jobs.set_of(slot) as usize;
            let quantities = &input.set_values[set * width..(set + 1) * width];
            if quantities.iter().all(|q| *q == Some(0)) {
                continue;
            }
            let mut t = start.max(input.range_start);
            while t < end {
                let (month, month_end) = input.months.month_at(t);
                let seg_end = end.min(month_end);
                if input.range.contains(month) && is_switch_month(resource, month, tl) {
                    for piece in tl.split_seconds(t, seg_end) {
                        let micros = i128::from(piece.end_micros - piece.start_micros);
                        let key = (resource, month, piece.period.copied());
                        out.add(&input, key, quantities, micros)?;
                    }
                }
                t = seg_end;
            }
        }
        // Sub-second corrections go to the piece holding the second they belong to.
        for &(slot, t, millis) in input.corrections {
            let Some(resource) = input.resource_of_owner[jobs.owner(slot) as usize] else {
                continue;
            };
            let Some(tl) = input.timeline_of[resource as usize] else {
                continue;
            };
            let (month, _) = input.months.month_at(t);
            if !input.range.contains(month) || !is_switch_month(resource, month, tl) {
                continue;
            }
            let period = tl.period_at(t.saturating_mul(MICROS_PER_SECOND)).copied();
            let set = jobs.set_of(slot) as usize;
            let quantities = &input.set_values[set * width..(set + 1) * width];
            let micros = i128::from(millis) * 1000;
            out.add(&input, (resource, month, period), quantities, micros)?;
        }
        Ok(out)
    }

    /// Adds `quantities` x `micros` to the piece of `period` in (resource, month).
    fn add(
        &mut self,
        input: &CutInput<'_>,
        (resource, month, period): (u32, BillingMonth, Option<Uuid>),
        quantities: &[Option<i128>],
        micros: i128,
    ) -> Result<(), AggregateError> {
        let width = self.width;
        let pieces = self.months.entry((resource, month)).or_default();
        let at = match pieces.iter().position(|(p, _)| *p == period) {
            Some(i) => i,
            None => {
                pieces.push((period, vec![0; width]));
                pieces.len() - 1
            }
        };
        let sums = &mut pieces[at].1;
        for (k, (sum, q)) in sums.iter_mut().zip(quantities).enumerate() {
            *sum = match q {
                Some(0) => continue,
                Some(q) => q.checked_mul(micros).and_then(|p| sum.checked_add(p)),
                None => None,
            }
            .ok_or_else(|| AggregateError::Overflow {
                resource: input.resources.name(resource).to_string(),
                period: month,
                what: input.wanted[k].clone(),
            })?;
        }
        Ok(())
    }

    /// The parts of every cell of a switch month: each piece's exact amount (its TRES x
    /// seconds in the component's unit, the month's amount records on the piece of no
    /// period), then the cell's rounded amount split over them exactly. `usages` sorted.
    pub(crate) fn parts(
        &self,
        usages: &[UsageCell],
        resources: &Interner,
        rules: &[ComponentRule],
        wanted: &[String],
        scales: &[u32],
        amounts: &FxHashMap<(u32, BillingMonth, &str), Decimal>,
    ) -> Result<Vec<PlanPartCell>, AggregateError> {
        let mut out = Vec::new();
        for (&(resource, month), pieces) in &self.months {
            let name = resources.name(resource);
            let from = usages.partition_point(|c| (c.resource.as_str(), c.period) < (name, month));
            let to = usages.partition_point(|c| (c.resource.as_str(), c.period) <= (name, month));
            for cell in &usages[from..to] {
                let overflow = || AggregateError::Overflow {
                    resource: name.to_string(),
                    period: month,
                    what: cell.component.clone(),
                };
                let mut periods: Vec<Option<Uuid>> = Vec::with_capacity(pieces.len() + 1);
                let mut exact: Vec<Decimal> = Vec::with_capacity(pieces.len() + 1);
                for (period, sums) in pieces {
                    let mut value = Decimal::ZERO;
                    for (k, &sum) in sums.iter().enumerate() {
                        if sum == 0 {
                            continue;
                        }
                        // TRES x microseconds: six more decimal places than x seconds.
                        let tres_seconds = to_decimal(sum, scales[k] + 6).ok_or_else(overflow)?;
                        for rule in rules
                            .iter()
                            .filter(|r| r.component == cell.component && r.tres == wanted[k])
                        {
                            value = to_unit(tres_seconds, rule)
                                .and_then(|v| value.checked_add(v))
                                .ok_or_else(overflow)?;
                        }
                    }
                    periods.push(*period);
                    exact.push(value);
                }
                if let Some(&amount) = amounts.get(&(resource, month, cell.component.as_str())) {
                    match periods.iter().position(Option::is_none) {
                        Some(i) => exact[i] = exact[i].checked_add(amount).ok_or_else(overflow)?,
                        None => {
                            periods.push(None);
                            exact.push(amount);
                        }
                    }
                }
                for (period, amount) in periods.into_iter().zip(split_exactly(cell.amount, &exact))
                {
                    out.push(PlanPartCell {
                        resource: name.to_string(),
                        period: month,
                        component: cell.component.clone(),
                        plan_period: period,
                        amount,
                    });
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
