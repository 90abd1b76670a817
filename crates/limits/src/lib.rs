//! tally-limits: where every allocation stands against its limits.
//!
//! Two kinds of limit exist in Waldur, and both are shown:
//! - the resource's own `limits` (what was sold to that project, e.g. `{"cpu": 1000}`), taken
//!   over the component's `limit_period` (over the resource's whole life when the component
//!   names none); the server never refuses usage above them (SEMANTICS.md §4);
//! - an offering component's `limit_amount` over its `limit_period`: the same cap for every
//!   resource, which the server enforces when usage is reported (`OfferingComponent.
//!   validate_amount`: 400 "Total amount exceeds limit").
//!
//! The usage of a period is the months tally computes from its records (the window it pushes)
//! plus the earlier months of the period as Waldur holds them, each month named with its
//! source. [`standings`] is pure; [`read`] gathers what it needs from Waldur.
//!
//! **Projection.** The current month's rate is its usage so far (records, up to `as_of`)
//! divided by the time elapsed since the month began in the billing zone; at that rate the
//! remaining amount (limit - used) runs out after remaining / rate. If that instant is before
//! the period's end the date is shown, otherwise "not within the period" (a total period has no
//! end). A month without usage so far has no rate: the limit is not reached within the period.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use tally_holdings::Holdings;
use tally_model::{BillingMonth, MonthRange, UsageCell};
use tally_waldur::{BillingType, Error, OfferingView, ResourceFilter, ResourceState, WaldurClient};
use uuid::Uuid;

/// `OfferingComponent.limit_period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// The billing month.
    Month,
    /// The calendar quarter (8.x schema; the 2024 server has no branch for it and sums all
    /// time, SEMANTICS.md §4).
    Quarterly,
    /// The calendar year.
    Annual,
    /// The resource's whole life.
    Total,
}

impl Period {
    /// `month|quarterly|annual|total`; `None` for `""`, null or anything else.
    pub fn parse(text: Option<&str>) -> Option<Period> {
        match text? {
            "month" => Some(Period::Month),
            "quarterly" => Some(Period::Quarterly),
            "annual" => Some(Period::Annual),
            "total" => Some(Period::Total),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Month => "month",
            Period::Quarterly => "quarterly",
            Period::Annual => "annual",
            Period::Total => "total",
        }
    }

    /// The first and last month of the period that contains `current`; `None` for a total
    /// period (it begins with the resource and has no end).
    pub fn months(self, current: BillingMonth) -> Option<(BillingMonth, BillingMonth)> {
        let at = |m: u32| BillingMonth::new(current.year(), m).ok();
        match self {
            Period::Month => Some((current, current)),
            Period::Quarterly => {
                let first = (current.month() - 1) / 3 * 3 + 1;
                Some((at(first)?, at(first + 2)?))
            }
            Period::Annual => Some((at(1)?, at(12)?)),
            Period::Total => None,
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A resource of the offering with its own limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub uuid: Uuid,
    /// `""` when it has none (then only what Waldur holds counts).
    pub backend_id: String,
    pub name: Option<String>,
    pub state: Option<ResourceState>,
    /// `None`: the resource carries no `limits` at all.
    pub limits: Option<BTreeMap<String, Decimal>>,
}

/// An offering component and its cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentCap {
    pub component: String,
    pub billing_type: Option<BillingType>,
    /// As the server says it (`None` for null or `""`).
    pub limit_period: Option<String>,
    pub limit_amount: Option<Decimal>,
}

/// What [`read`] gathers from Waldur.
#[derive(Debug, Clone, Default)]
pub struct Offering {
    pub allocations: Vec<Allocation>,
    pub components: Vec<ComponentCap>,
    /// Every month Waldur holds for the offering.
    pub held: Holdings,
}

/// Reads the offering's resources with their `limits`, its components with their caps and
/// every usage it holds: three paginated listings, never a call per resource.
pub async fn read(client: &WaldurClient, offering: Uuid) -> Result<Offering, Error> {
    let filter = ResourceFilter {
        fields: ["uuid", "backend_id", "name", "state", "limits"]
            .map(String::from)
            .to_vec(),
        ..ResourceFilter::provider_offering(offering)
    };
    let allocations = client
        .resources(&filter)
        .await?
        .into_iter()
        .map(|r| Allocation {
            uuid: r.uuid,
            backend_id: r.backend_id.unwrap_or_default(),
            name: r.name,
            state: r.state,
            limits: r.limits,
        })
        .collect();
    let o = client
        .offering(OfferingView::Provider, offering, &["components".to_owned()])
        .await?;
    let components = o
        .components
        .into_iter()
        .map(|c| ComponentCap {
            component: c.component,
            billing_type: c.billing_type,
            limit_period: c.limit_period.filter(|p| !p.is_empty()),
            limit_amount: c.limit_amount,
        })
        .collect();
    let held = tally_holdings::gather::holdings_all_months(client, offering).await?;
    Ok(Offering {
        allocations,
        components,
        held,
    })
}

/// What [`standings`] is computed from.
#[derive(Debug, Clone, Copy)]
pub struct StandingInput<'a> {
    pub offering: &'a Offering,
    /// The cells tally computes for `computed_months` (by backend_id).
    pub computed: &'a [UsageCell],
    /// The months tally computes from its records: in these its figure counts, 0 where it has
    /// no cell; other months are Waldur's.
    pub computed_months: MonthRange,
    pub as_of: DateTime<Utc>,
    pub billing_timezone: Tz,
}

/// Where a month's figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Computed by tally from its accounting records.
    Records,
    /// As Waldur holds it.
    Waldur,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Records => "records",
            Source::Waldur => "waldur",
        }
    }
}

/// One month of a period's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthUsage {
    pub month: BillingMonth,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub source: Source,
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// The resource's own `limits` (what was sold to the project); never enforced by the server.
    Resource,
    /// The component's `limit_amount` over its `limit_period`; the server refuses reports that
    /// would exceed it.
    Component,
}

impl LimitKind {
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Resource => "resource",
            LimitKind::Component => "component",
        }
    }
}

/// When the limit is reached at the current month's rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Reach {
    /// No limit to reach.
    NoLimit,
    /// Used is at or above the limit already.
    Reached,
    /// At the current month's rate, on this day (billing zone) and instant.
    On { date: NaiveDate, at: DateTime<Utc> },
    /// Not before the period ends at the current month's rate (or there is no usage this month).
    NotWithinPeriod,
}

impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reach::NoLimit => f.write_str("-"),
            Reach::Reached => f.write_str("reached"),
            Reach::On { date, .. } => write!(f, "{date}"),
            Reach::NotWithinPeriod => f.write_str("not within the period"),
        }
    }
}

/// One limit of one component of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitStanding {
    pub kind: LimitKind,
    /// `None`: no limit of this kind (never shown as 0 %).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub limit: Option<Decimal>,
    /// used / limit x 100, rounded once to 2 decimals (half-even); `None` without a limit or
    /// with a limit of 0.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub share_percent: Option<Decimal>,
    /// limit - used (negative when over); `None` without a limit.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub remaining: Option<Decimal>,
    pub reach: Reach,
}

impl LimitStanding {
    /// Whether used is at or above `percent` % of the limit; exact, no rounding. A limit of 0
    /// is at every threshold as soon as anything is used.
    pub fn at_or_above(&self, used: Decimal, percent: Decimal) -> bool {
        match self.limit {
            None => false,
            Some(l) if l.is_zero() => used > Decimal::ZERO || percent.is_zero(),
            Some(l) => used * Decimal::ONE_HUNDRED >= percent * l,
        }
    }
}

/// One component of one resource: its period's usage and its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentStanding {
    pub component: String,
    /// The component's `limit_period`; `None` when it names none (the resource's own limit is
    /// then taken over the resource's whole life: `period_assumed`).
    pub period: Option<Period>,
    /// The period the usage is summed over.
    pub summed_over: Period,
    /// True when `summed_over` is not the component's own `limit_period` (it names none).
    pub period_assumed: bool,
    /// First and last month of the period (`None` for a total period).
    pub period_start: Option<BillingMonth>,
    pub period_end: Option<BillingMonth>,
    #[serde(with = "rust_decimal::serde::str")]
    pub used: Decimal,
    /// The current month's usage so far (records): what the projection's rate is made of.
    #[serde(with = "rust_decimal::serde::str")]
    pub current_month: Decimal,
    /// The months summed, each with its source (months Waldur holds nothing for are absent).
    pub months: Vec<MonthUsage>,
    /// Said when the period began before the months tally computes and Waldur holds nothing
    /// for the earlier months: the figure may be short.
    pub note: Option<String>,
    pub limits: Vec<LimitStanding>,
}

/// One resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceStanding {
    pub resource_uuid: Uuid,
    pub backend_id: String,
    pub name: Option<String>,
    /// False when the resource carries no `limits` (or an empty map).
    pub has_limits: bool,
    pub components: Vec<ComponentStanding>,
}

/// Where every resource of the offering stands. Pure.
pub fn standings(input: &StandingInput<'_>) -> Vec<ResourceStanding> {
    let tz = input.billing_timezone;
    let current = BillingMonth::containing(input.as_of, tz);
    let computed_months: BTreeSet<BillingMonth> = input
        .computed_months
        .iter()
        .filter(|m| *m <= current)
        .chain(std::iter::once(current))
        .collect();
    let first_computed = computed_months.iter().next().copied().unwrap_or(current);
    let mut computed: BTreeMap<(&str, BillingMonth, &str), Decimal> = BTreeMap::new();
    for c in input.computed {
        *computed
            .entry((c.resource.as_str(), c.period, c.component.as_str()))
            .or_insert(Decimal::ZERO) += c.amount;
    }
    // what Waldur holds, by (resource, component): one pass over the holdings
    let mut held: BTreeMap<(Uuid, &str), Vec<(BillingMonth, Decimal)>> = BTreeMap::new();
    for ((r, m, comp), amount) in &input.offering.held {
        held.entry((*r, comp.as_str()))
            .or_default()
            .push((*m, *amount));
    }
    let month_start = current.start(tz);
    let elapsed = (input.as_of - month_start).num_seconds().max(0);

    let mut out = Vec::new();
    for a in &input.offering.allocations {
        let own: BTreeMap<String, Decimal> = a.limits.clone().unwrap_or_default();
        // every component a report can name, and any the resource's limits name
        let mut names: BTreeSet<&str> = input
            .offering
            .components
            .iter()
            .filter(|c| {
                c.billing_type
                    .as_ref()
                    .is_none_or(BillingType::accepts_usage)
            })
            .map(|c| c.component.as_str())
            .collect();
        names.extend(own.keys().map(String::as_str));
        let mut components = Vec::new();
        for name in names {
            let cap = input
                .offering
                .components
                .iter()
                .find(|c| c.component == name);
            let period = cap.and_then(|c| Period::parse(c.limit_period.as_deref()));
            let summed_over = period.unwrap_or(Period::Total);
            let bounds = summed_over.months(current);
            // the months of the period, each from its source
            let mut months: BTreeMap<BillingMonth, MonthUsage> = BTreeMap::new();
            for (m, amount) in held.get(&(a.uuid, name)).into_iter().flatten() {
                let in_period = bounds.is_none_or(|(s, e)| *m >= s && *m <= e);
                if in_period && *m <= current {
                    months.insert(
                        *m,
                        MonthUsage {
                            month: *m,
                            amount: *amount,
                            source: Source::Waldur,
                        },
                    );
                }
            }
            for m in &computed_months {
                let in_period = bounds.is_none_or(|(s, e)| *m >= s && *m <= e);
                if !in_period {
                    continue;
                }
                let amount = if a.backend_id.is_empty() {
                    // tally computes nothing for a resource without backend_id: Waldur's figure
                    continue;
                } else {
                    computed
                        .get(&(a.backend_id.as_str(), *m, name))
                        .copied()
                        .unwrap_or(Decimal::ZERO)
                };
                months.insert(
                    *m,
                    MonthUsage {
                        month: *m,
                        amount: cents(amount),
                        source: Source::Records,
                    },
                );
            }
            let used = cents(months.values().map(|u| u.amount).sum());
            let current_month = cents(
                months
                    .get(&current)
                    .map(|u| u.amount)
                    .unwrap_or(Decimal::ZERO),
            );
            let held_before = months
                .values()
                .any(|u| u.source == Source::Waldur && u.month < first_computed);
            let note = match bounds {
                Some((start, _)) if start < first_computed && !held_before => Some(format!(
                    "the period began in {start}, before the months tally computes ({first_computed}); Waldur holds nothing for {start}..{}",
                    first_computed.prev()
                )),
                None if !held_before => Some(format!(
                    "total period: Waldur holds nothing before {first_computed}, the first month tally computes"
                )),
                _ => None,
            };
            let period_end = bounds.map(|(_, e)| e.end(tz));
            let project = |limit: Option<Decimal>| -> LimitStanding {
                standing_of(
                    limit,
                    used,
                    current_month,
                    elapsed,
                    input.as_of,
                    period_end,
                    tz,
                )
            };
            let mut limits = vec![LimitStanding {
                kind: LimitKind::Resource,
                ..project(own.get(name).copied())
            }];
            // the server enforces the component's cap only with both a period and an amount
            let component_limit = cap
                .filter(|c| {
                    period.is_some() && c.billing_type.as_ref() != Some(&BillingType::Limit)
                })
                .and_then(|c| c.limit_amount);
            limits.push(LimitStanding {
                kind: LimitKind::Component,
                ..project(component_limit)
            });
            components.push(ComponentStanding {
                component: name.to_owned(),
                period,
                summed_over,
                period_assumed: period.is_none(),
                period_start: bounds.map(|(s, _)| s),
                period_end: bounds.map(|(_, e)| e),
                used,
                current_month,
                months: months.into_values().collect(),
                note,
                limits,
            });
        }
        out.push(ResourceStanding {
            resource_uuid: a.uuid,
            backend_id: a.backend_id.clone(),
            name: a.name.clone(),
            has_limits: !own.is_empty(),
            components,
        });
    }
    out.sort_by(|x, y| {
        (x.backend_id.as_str(), x.resource_uuid).cmp(&(y.backend_id.as_str(), y.resource_uuid))
    });
    out
}

/// An amount written with Waldur's two decimals (`0.00`, not `0`); never rounds (every amount
/// tally or Waldur has is in cents already).
fn cents(mut d: Decimal) -> Decimal {
    if d.scale() < 2 {
        d.rescale(2);
    }
    d
}

fn standing_of(
    limit: Option<Decimal>,
    used: Decimal,
    current_month: Decimal,
    elapsed_seconds: i64,
    as_of: DateTime<Utc>,
    period_end: Option<DateTime<Utc>>,
    tz: Tz,
) -> LimitStanding {
    let Some(limit) = limit else {
        return LimitStanding {
            kind: LimitKind::Resource,
            limit: None,
            share_percent: None,
            remaining: None,
            reach: Reach::NoLimit,
        };
    };
    let share_percent = (!limit.is_zero()).then(|| {
        cents(
            (used * Decimal::ONE_HUNDRED / limit)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven),
        )
    });
    let remaining = limit - used;
    let reach = if remaining <= Decimal::ZERO {
        Reach::Reached
    } else if current_month <= Decimal::ZERO || elapsed_seconds <= 0 {
        Reach::NotWithinPeriod
    } else {
        // remaining / (current_month / elapsed), in whole seconds rounded up
        let seconds = (remaining * Decimal::from(elapsed_seconds) / current_month).ceil();
        match i64::try_from(seconds)
            .ok()
            .and_then(Duration::try_seconds)
            .and_then(|d| as_of.checked_add_signed(d))
        {
            Some(at) if period_end.is_none_or(|end| at < end) => Reach::On {
                date: at.with_timezone(&tz).date_naive(),
                at,
            },
            _ => Reach::NotWithinPeriod,
        }
    };
    LimitStanding {
        kind: LimitKind::Resource,
        limit: Some(limit),
        share_percent,
        remaining: Some(remaining),
        reach,
    }
}

/// A limit at or above a threshold: for `tally run`'s warnings and `limits --fail-at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crossing {
    pub backend_id: String,
    pub resource_uuid: Uuid,
    pub component: String,
    pub kind: LimitKind,
    pub period: Period,
    /// The highest threshold crossed.
    #[serde(with = "rust_decimal::serde::str")]
    pub threshold_percent: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub used: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub limit: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub share_percent: Option<Decimal>,
}

/// Every limit at or above one of `thresholds` (percent), with the highest one it crossed.
pub fn crossings(standings: &[ResourceStanding], thresholds: &[Decimal]) -> Vec<Crossing> {
    let mut out = Vec::new();
    for r in standings {
        for c in &r.components {
            for l in &c.limits {
                let (Some(limit), Some(highest)) = (
                    l.limit,
                    thresholds
                        .iter()
                        .filter(|t| l.at_or_above(c.used, **t))
                        .max(),
                ) else {
                    continue;
                };
                out.push(Crossing {
                    backend_id: r.backend_id.clone(),
                    resource_uuid: r.resource_uuid,
                    component: c.component.clone(),
                    kind: l.kind,
                    period: c.summed_over,
                    threshold_percent: *highest,
                    used: c.used,
                    limit,
                    share_percent: l.share_percent,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
