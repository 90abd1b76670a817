//! Invoices as the genuine 2024 server makes them from usage, and plan switches.
//!
//! From its source (`marketplace/registrators.py`, `marketplace/utils.py ::
//! get_invoice_item_for_component_usage`, `marketplace_slurm/registrators.py`) and checked
//! against it (captures pp-*, docs/plan-periods.md):
//! - when a usage row is created or its amount changes, for a `usage`-billed component of the
//!   offering: a row under no plan period is skipped; otherwise the item of that invoice month,
//!   resource and component whose `[start, end]` lies inside the period's bounds (the month's
//!   bounds where the period has none) gets the new quantity; if there is none, a new item is
//!   made with the plan's price (no plan component: skipped), start = max(period start, month
//!   start), end = min(period end, month end), `plan_name` = the resource's plan **now**;
//! - the quantity is the offering type's conversion of the usage (`SlurmInvoices.SlurmPackage`:
//!   minutes to hours rounded up, ram MB-minutes to GB-hours);
//! - a plan switch ends the current month's items at the switch (a few milliseconds after the
//!   old period's end, so a later change of the old period's row finds none and makes a second
//!   item), closes the old plan period and opens the new one about a millisecond later.
//!
//! Both generations run the same invoice step here: on 8.x the row is one per month whose plan
//! period is overwritten, so the step looks up the item of the period the row is under now.
//! No 8.x invoicing code was read; this is the 2024 registrator applied to 8.x storage.
//! Items billed from `limit` components (the ordered limit per month) are not modelled. A plan
//! has a plan component for a component when its `prices` has the key (every component of the
//! offering when the plan was made; `create_offering_component` adds one to no plan).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use crate::state::{InvoiceItem, PlanPeriod, State};

/// The older Slurm offering type whose registrator converts minutes to hours.
pub const SLURM_PACKAGE_TYPE: &str = "SlurmInvoices.SlurmPackage";

/// What the offering type's registrator makes of a usage (`convert_quantity`).
pub fn convert_quantity(offering_type: &str, component: &str, usage: Decimal) -> Decimal {
    if offering_type != SLURM_PACKAGE_TYPE {
        return usage;
    }
    let divisor = if component == "ram" {
        Decimal::from(1024 * 60)
    } else {
        Decimal::from(60)
    };
    (usage / divisor).round_dp_with_strategy(0, RoundingStrategy::ToPositiveInfinity)
}

/// The first instant of the month starting on `first_day` (UTC).
fn month_start(first_day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&first_day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// `core_utils.month_end`: the last microsecond of the month.
fn month_end(first_day: NaiveDate) -> DateTime<Utc> {
    let next = if first_day.month() == 12 {
        NaiveDate::from_ymd_opt(first_day.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first_day.year(), first_day.month() + 1, 1)
    }
    .unwrap_or(first_day);
    month_start(next) - Duration::microseconds(1)
}

impl State {
    /// The invoice step after a usage row was written (`changed`: new, or its amount changed).
    pub fn invoice_usage(&mut self, row: Uuid, changed: bool) {
        if !changed {
            return;
        }
        let Some(u) = self.usages.get(&row).cloned() else {
            return;
        };
        let Some(resource) = self.resources.get(&u.resource).cloned() else {
            return;
        };
        let Some(offering) = self.offerings.get(&resource.offering).cloned() else {
            return;
        };
        if offering
            .component(&u.type_)
            .is_none_or(|c| c.billing_type != "usage")
        {
            return;
        }
        // "Skipping processing of component usage ... because plan period is not defined."
        let Some(period) = u
            .plan_period
            .and_then(|p| self.plan_periods.get(&p))
            .cloned()
        else {
            return;
        };
        let quantity = convert_quantity(&offering.type_, &u.type_, u.usage);
        let lo = period
            .start
            .unwrap_or_else(|| month_start(u.billing_period));
        let hi = period.end.unwrap_or_else(|| month_end(u.billing_period));
        if let Some(item) = self.invoice_items.rows.iter_mut().find(|i| {
            i.resource == u.resource
                && i.billing_period == u.billing_period
                && i.component == u.type_
                && i.start >= lo
                && i.end <= hi
        }) {
            item.quantity = quantity;
            return;
        }
        // "... because plan component is not defined."
        let Some(plan) = offering.plan(&period.plan) else {
            return;
        };
        let Some(price) = plan.prices.get(&u.type_).copied() else {
            return;
        };
        let customer = self
            .projects
            .get(&resource.project)
            .map(|p| p.org)
            .unwrap_or_default();
        let component = offering.component(&u.type_);
        let current_plan = resource.plan.and_then(|p| offering.plan(&p));
        let (ms, me) = (month_start(u.billing_period), month_end(u.billing_period));
        self.invoice_items.push(InvoiceItem {
            uuid: Uuid::new_v4(),
            resource: u.resource,
            customer,
            project: resource.project,
            billing_period: u.billing_period,
            component: u.type_.clone(),
            component_name: component.map(|c| c.name.clone()).unwrap_or_default(),
            measured_unit: component
                .map(|c| c.measured_unit.clone())
                .unwrap_or_default(),
            quantity,
            unit_price: price,
            start: period.start.map_or(ms, |s| s.max(ms)),
            end: period.end.map_or(me, |e| e.min(me)),
            plan: resource.plan,
            plan_name: current_plan.map(|p| p.name.clone()).unwrap_or_default(),
            offering: offering.uuid,
            offering_type: offering.type_.clone(),
        });
    }

    /// A switch-plan order set done: the resource takes the new plan, the old period ends now,
    /// the current month's items end a little later (the registrator's `terminate`), the new
    /// period starts about a millisecond after the old one's end (as on the genuine server).
    pub fn switch_plan(&mut self, resource: &Uuid, plan: Uuid, now: DateTime<Utc>) {
        let Some(r) = self.resources.get_mut(resource) else {
            return;
        };
        if r.plan == Some(plan) {
            return;
        }
        r.plan = Some(plan);
        r.modified = now;
        for p in self.plan_periods.rows.iter_mut() {
            if &p.resource == resource && p.end.is_none() {
                p.end = Some(now);
            }
        }
        let first_day = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default();
        let end_of_month = month_end(first_day);
        for i in self.invoice_items.rows.iter_mut() {
            if &i.resource == resource && i.end == end_of_month {
                i.end = now + Duration::microseconds(20_834);
            }
        }
        self.plan_periods.push(PlanPeriod {
            uuid: Uuid::new_v4(),
            resource: *resource,
            plan,
            start: Some(now + Duration::microseconds(1_425)),
            end: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_package_rounds_minutes_up_to_hours_and_others_keep_the_usage() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(convert_quantity(SLURM_PACKAGE_TYPE, "cpu", d("90")), d("2"));
        assert_eq!(
            convert_quantity(SLURM_PACKAGE_TYPE, "ram", d("61441")),
            d("2")
        );
        assert_eq!(
            convert_quantity("Marketplace.Slurm", "cpu", d("90.5")),
            d("90.5")
        );
    }

    #[test]
    fn month_end_is_the_last_microsecond_as_waldur_writes_it() {
        let nov = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(
            month_end(nov).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "2026-11-30T23:59:59.999999Z"
        );
        let dec = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(month_end(dec).year(), 2026);
    }
}
