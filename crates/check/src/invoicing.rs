//! "Will it be invoiced?": what Waldur will bill of tally's figures, beside whether it holds them.
//!
//! A usage row Waldur stores is not necessarily a row it bills (docs/plan-periods.md, from the
//! genuine 2024 server and its source): a row under no plan period is skipped by the invoice
//! step; so is a component the period's plan has no plan component for; a `limit` component's
//! usage is stored and ignored; a month split over several plan periods is billed per row, each
//! at its own plan's price, so one figure compared with the sum of rows proves nothing; and the
//! invoice item's quantity is what the offering type's registrator makes of the usage.
//!
//! [`assess`] is a pure function of what tally computed and what was read from Waldur; it
//! returns typed [`InvoicingFinding`]s, each with a `kind` and where to fix it. Reading the
//! inputs (tally-waldur's `held_usage_by_plan_period`, `offering_pricing`, `invoice_items`) and
//! wiring the findings into `tally check` is the caller's.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use tally_model::plan_period::to_micros;
use tally_model::{BillingMonth, PlanPartCell, PlanPeriodSpan, PlanTimeline, UsageCell};
use tally_waldur::{BillingType, InvoiceItem, InvoiceItemsRead, OfferingPricing};
use uuid::Uuid;

/// `SlurmInvoices.SlurmPackage`: the older Slurm offering type, whose registrator converts
/// minutes to hours (and MB-minutes to GB-hours for `ram`), rounding up.
pub const SLURM_PACKAGE_TYPE: &str = "SlurmInvoices.SlurmPackage";

/// What tally computed for one resource, component and month, or for the part of that month
/// under one plan period when the month was split at a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFigure {
    pub backend_id: String,
    pub resource: Uuid,
    pub month: BillingMonth,
    pub component: String,
    /// `None`: the month's whole figure (not split by plan period).
    pub plan_period: Option<Uuid>,
    pub amount: Decimal,
}

/// One plan period of a resource, with its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePeriod {
    pub uuid: Uuid,
    pub plan: Option<Uuid>,
    pub plan_name: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// A usage row Waldur holds, with the plan period it is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRow {
    pub resource: Uuid,
    pub month: BillingMonth,
    pub component: String,
    /// `None`: the row is under no plan period. Only rows of [`InvoicingInput::current_month`]
    /// can be told apart (Waldur lists the plan periods' rows of the current month only);
    /// for other months pass them anyway: their plan period is not judged.
    pub plan_period: Option<Uuid>,
    pub usage: Decimal,
}

/// Everything [`assess`] looks at, for the resources of one offering.
#[derive(Debug, Clone)]
pub struct InvoicingInput<'a> {
    /// The server's current billing month: the only one whose rows' plan periods are listed.
    pub current_month: BillingMonth,
    /// Waldur's billing zone (UTC unless the deployment changed `TIME_ZONE`).
    pub billing_timezone: Tz,
    pub expected: &'a [ExpectedFigure],
    /// resource uuid -> its plan periods.
    pub periods: &'a BTreeMap<Uuid, Vec<ResourcePeriod>>,
    pub pricing: &'a OfferingPricing,
    pub held: &'a [HeldRow],
    /// `None` when invoice items were not read.
    pub invoice_items: Option<&'a InvoiceItemsRead>,
}

/// Where a finding is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixAt {
    /// The offering's plan (prices, plan components) in Waldur.
    OfferingPlan,
    /// The offering's components (billing type) in Waldur.
    OfferingComponent,
    /// The resource's plan periods in Waldur (the resource has none where usage lands).
    ResourcePlanPeriod,
    /// tally's configuration (`[components]`).
    TallyConfig,
    /// What tally reports to each plan period (a push per plan period).
    TallyPush,
    /// Only Waldur staff can fix it (an invoice item the server cannot correct itself).
    WaldurStaff,
}

/// How bad a finding is: errors are differences (exit 5), warnings are shown only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// The cell a finding is about: one component of one resource in one billing month. Findings
/// are listed by it; in JSON its fields stand beside the finding's own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FindingCell {
    pub resource: Uuid,
    pub month: BillingMonth,
    pub component: String,
}

impl FindingCell {
    pub fn new(resource: Uuid, month: BillingMonth, component: &str) -> Self {
        FindingCell {
            resource,
            month,
            component: component.to_owned(),
        }
    }
}

/// One reason a figure will not be invoiced as tally computed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InvoicingFinding {
    /// Usage held under no plan period: stored, never invoiced ("plan period is not defined").
    UsageWithoutPlanPeriod {
        #[serde(flatten)]
        cell: FindingCell,
        held: Decimal,
    },
    /// The plan of the period has no plan component for a usage component tally reports:
    /// stored, never invoiced ("plan component is not defined").
    ComponentWithoutPrice {
        backend_id: String,
        #[serde(flatten)]
        cell: FindingCell,
        plan: Option<Uuid>,
        plan_name: Option<String>,
    },
    /// The plan prices the component at 0.00: invoiced, worth nothing (a warning).
    ZeroPrice {
        backend_id: String,
        #[serde(flatten)]
        cell: FindingCell,
        plan: Option<Uuid>,
        plan_name: Option<String>,
    },
    /// tally reports usage of a `limit` component: stored, ignored by invoicing (the limit is
    /// billed instead).
    LimitComponentReported {
        backend_id: String,
        #[serde(flatten)]
        cell: FindingCell,
        amount: Decimal,
    },
    /// A row under a plan period whose time does not overlap the row's month.
    PeriodOutsideMonth {
        #[serde(flatten)]
        cell: FindingCell,
        plan_period: Uuid,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    },
    /// Several rows (one per plan period) hold the month, and they do not carry the parts
    /// tally computed: each row is billed at its own plan's price, so a right sum is not enough.
    SplitMismatch {
        backend_id: String,
        #[serde(flatten)]
        cell: FindingCell,
        /// (plan period, held) per row.
        held: Vec<(Option<Uuid>, Decimal)>,
        /// (plan period, tally's figure); one `None` entry when tally did not split the month.
        expected: Vec<(Option<Uuid>, Decimal)>,
    },
    /// An invoice item's quantity is not what the offering type's invoicing makes of tally's
    /// figure for that resource, component, plan period and month.
    InvoiceQuantityDiffers {
        #[serde(flatten)]
        cell: FindingCell,
        plan_period: Option<Uuid>,
        item: Uuid,
        quantity: Decimal,
        expected_quantity: Decimal,
        unit_price: Decimal,
    },
    /// A second usage item for the same plan period and component: the 2024 server adds one
    /// when the old period's row is changed after a switch, and bills both.
    DuplicateInvoiceItem {
        #[serde(flatten)]
        cell: FindingCell,
        plan_period: Option<Uuid>,
        items: Vec<Uuid>,
        quantities: Vec<Decimal>,
    },
}

impl InvoicingFinding {
    /// The cell the finding is about.
    pub fn cell(&self) -> &FindingCell {
        self.listing_key().0
    }

    /// The order findings are listed in: by cell, then in the order the kinds are declared.
    fn listing_key(&self) -> (&FindingCell, u8) {
        use InvoicingFinding::*;
        match self {
            UsageWithoutPlanPeriod { cell, .. } => (cell, 0),
            ComponentWithoutPrice { cell, .. } => (cell, 1),
            ZeroPrice { cell, .. } => (cell, 2),
            LimitComponentReported { cell, .. } => (cell, 3),
            PeriodOutsideMonth { cell, .. } => (cell, 4),
            SplitMismatch { cell, .. } => (cell, 5),
            InvoiceQuantityDiffers { cell, .. } => (cell, 6),
            DuplicateInvoiceItem { cell, .. } => (cell, 7),
        }
    }

    /// The `kind` of the JSON form.
    pub fn kind(&self) -> &'static str {
        match self {
            InvoicingFinding::UsageWithoutPlanPeriod { .. } => "usage_without_plan_period",
            InvoicingFinding::ComponentWithoutPrice { .. } => "component_without_price",
            InvoicingFinding::ZeroPrice { .. } => "zero_price",
            InvoicingFinding::LimitComponentReported { .. } => "limit_component_reported",
            InvoicingFinding::PeriodOutsideMonth { .. } => "period_outside_month",
            InvoicingFinding::SplitMismatch { .. } => "split_mismatch",
            InvoicingFinding::InvoiceQuantityDiffers { .. } => "invoice_quantity_differs",
            InvoicingFinding::DuplicateInvoiceItem { .. } => "duplicate_invoice_item",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            InvoicingFinding::ZeroPrice { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// Where to fix it.
    pub fn fix_at(&self) -> FixAt {
        match self {
            InvoicingFinding::UsageWithoutPlanPeriod { .. } => FixAt::ResourcePlanPeriod,
            InvoicingFinding::ComponentWithoutPrice { .. } | InvoicingFinding::ZeroPrice { .. } => {
                FixAt::OfferingPlan
            }
            InvoicingFinding::LimitComponentReported { .. } => FixAt::TallyConfig,
            InvoicingFinding::PeriodOutsideMonth { .. }
            | InvoicingFinding::SplitMismatch { .. } => FixAt::TallyPush,
            InvoicingFinding::InvoiceQuantityDiffers { .. } => FixAt::TallyPush,
            InvoicingFinding::DuplicateInvoiceItem { .. } => FixAt::WaldurStaff,
        }
    }

    /// What to do, in words.
    pub fn advice(&self) -> String {
        match self {
            InvoicingFinding::UsageWithoutPlanPeriod { .. } => "the resource had no plan period when the usage was stored: Waldur keeps it and never invoices it; give the resource a plan (a plan period covering the month) and report again".into(),
            InvoicingFinding::ComponentWithoutPrice { cell, plan_name, .. } => format!("plan {} has no price for {}: add the component to the plan (update_prices) or drop it from tally's [components]", plan_name.as_deref().unwrap_or("?"), cell.component),
            InvoicingFinding::ZeroPrice { cell, plan_name, .. } => format!("plan {} prices {} at 0.00: the invoice item bills nothing", plan_name.as_deref().unwrap_or("?"), cell.component),
            InvoicingFinding::LimitComponentReported { cell, .. } => format!("{} is billed from its limit, not from usage: remove it from tally's [components] or make the offering component usage-billed", cell.component),
            InvoicingFinding::PeriodOutsideMonth { .. } => "the row is stored under a plan period that does not cover its month: report the month under the period active in it".into(),
            InvoicingFinding::SplitMismatch { .. } => "the month is held in several plan-period rows that do not carry tally's parts: report each part under its own plan period (set_usage with plan_period)".into(),
            InvoicingFinding::InvoiceQuantityDiffers { .. } => "the invoice item does not bill tally's figure: report the figure again under that plan period".into(),
            InvoicingFinding::DuplicateInvoiceItem { .. } => "the old plan period was changed after the switch and Waldur billed it twice: it cannot correct this itself; ask Waldur staff to remove the extra item".into(),
        }
    }
}

/// Each finding as its JSON object with `severity`, `fix_at` and `advice` beside its `kind`.
pub fn serialize_findings<S: serde::Serializer>(
    findings: &[InvoicingFinding],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::{Error as _, SerializeSeq};
    let mut seq = serializer.serialize_seq(Some(findings.len()))?;
    for f in findings {
        let mut v = serde_json::to_value(f).map_err(S::Error::custom)?;
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "severity".into(),
                serde_json::to_value(f.severity()).map_err(S::Error::custom)?,
            );
            o.insert(
                "fix_at".into(),
                serde_json::to_value(f.fix_at()).map_err(S::Error::custom)?,
            );
            o.insert("advice".into(), f.advice().into());
        }
        seq.serialize_element(&v)?;
    }
    seq.end()
}

/// What the offering type's registrator makes of a usage amount (`convert_quantity`).
pub fn invoiced_quantity(offering_type: Option<&str>, component: &str, usage: Decimal) -> Decimal {
    match offering_type {
        Some(SLURM_PACKAGE_TYPE) => {
            // marketplace_slurm/registrators.py: ceil(usage / 60), ram: ceil(usage / 1024 / 60).
            let divisor = if component == "ram" {
                Decimal::from(1024 * 60)
            } else {
                Decimal::from(60)
            };
            (usage / divisor).round_dp_with_strategy(0, RoundingStrategy::ToPositiveInfinity)
        }
        // MarketplaceRegistrator.convert_quantity: the usage as reported (Marketplace.Slurm,
        // Marketplace.Basic, ...).
        _ => usage,
    }
}

/// The period of `periods` active at `t`, as a plan timeline says (Waldur's gap between the
/// old end and the new start stays with the old period).
fn timeline(periods: &[ResourcePeriod]) -> Option<PlanTimeline<Uuid>> {
    PlanTimeline::new(
        periods
            .iter()
            .map(|p| PlanPeriodSpan {
                key: p.uuid,
                start: p.start,
                end: p.end,
            })
            .collect(),
    )
    .ok()
}

fn overlaps_month(p: &ResourcePeriod, month: BillingMonth, tz: Tz) -> bool {
    let (ms, me) = (month.start(tz), month.end(tz));
    p.start.is_none_or(|s| s < me) && p.end.is_none_or(|e| e > ms)
}

/// The periods of a resource that overlap `month`.
fn periods_in_month(
    periods: &[ResourcePeriod],
    month: BillingMonth,
    tz: Tz,
) -> Vec<&ResourcePeriod> {
    periods
        .iter()
        .filter(|p| overlaps_month(p, month, tz))
        .collect()
}

/// Every finding, ordered by resource, month, component.
pub fn assess(input: &InvoicingInput<'_>) -> Vec<InvoicingFinding> {
    let tz = input.billing_timezone;
    let mut out = Vec::new();
    let no_periods = Vec::new();
    let periods_of = |r: &Uuid| input.periods.get(r).unwrap_or(&no_periods);

    // tally's figures per cell, and per plan period inside it.
    let mut expected: BTreeMap<FindingCell, Vec<&ExpectedFigure>> = BTreeMap::new();
    for f in input.expected {
        expected
            .entry(FindingCell::new(f.resource, f.month, &f.component))
            .or_default()
            .push(f);
    }
    let mut held: BTreeMap<FindingCell, Vec<&HeldRow>> = BTreeMap::new();
    for h in input.held {
        held.entry(FindingCell::new(h.resource, h.month, &h.component))
            .or_default()
            .push(h);
    }

    // Prices and billing types of what tally reports.
    for (cell, figures) in &expected {
        let total: Decimal = figures.iter().map(|f| f.amount).sum();
        let backend_id = figures[0].backend_id.clone();
        match input.pricing.billing_types.get(&cell.component) {
            Some(Some(BillingType::Limit)) if !total.is_zero() => {
                out.push(InvoicingFinding::LimitComponentReported {
                    backend_id,
                    cell: cell.clone(),
                    amount: total,
                });
                continue;
            }
            Some(Some(BillingType::Usage)) => {}
            _ => continue,
        }
        if total.is_zero() {
            continue;
        }
        // The plans that bill it: those of the periods tally's parts are under, or of every
        // period in the month when tally did not split it.
        let split: BTreeSet<Uuid> = figures
            .iter()
            .filter(|f| !f.amount.is_zero())
            .filter_map(|f| f.plan_period)
            .collect();
        let mut plans_seen = BTreeSet::new();
        for p in periods_in_month(periods_of(&cell.resource), cell.month, tz)
            .into_iter()
            .filter(|p| split.is_empty() || split.contains(&p.uuid))
        {
            if !plans_seen.insert(p.plan) {
                continue;
            }
            let price = p
                .plan
                .and_then(|plan| input.pricing.price(plan, &cell.component));
            let (plan, plan_name) = (p.plan, p.plan_name.clone());
            match price {
                None => out.push(InvoicingFinding::ComponentWithoutPrice {
                    backend_id: backend_id.clone(),
                    cell: cell.clone(),
                    plan,
                    plan_name,
                }),
                Some(p) if p.is_zero() => out.push(InvoicingFinding::ZeroPrice {
                    backend_id: backend_id.clone(),
                    cell: cell.clone(),
                    plan,
                    plan_name,
                }),
                Some(_) => {}
            }
        }
    }

    // Rows: their plan period, and how a month over several rows compares with tally.
    for (cell, rows) in &held {
        let periods = periods_of(&cell.resource);
        if cell.month == input.current_month {
            for r in rows {
                match r.plan_period {
                    None if !r.usage.is_zero() => {
                        out.push(InvoicingFinding::UsageWithoutPlanPeriod {
                            cell: cell.clone(),
                            held: r.usage,
                        })
                    }
                    Some(pp) => {
                        if let Some(p) = periods.iter().find(|p| p.uuid == pp) {
                            if !overlaps_month(p, cell.month, tz) {
                                out.push(InvoicingFinding::PeriodOutsideMonth {
                                    cell: cell.clone(),
                                    plan_period: pp,
                                    start: p.start,
                                    end: p.end,
                                });
                            }
                        }
                    }
                    None => {}
                }
            }
        }
        let figures = expected.get(cell).cloned().unwrap_or_default();
        let split = figures.iter().any(|f| f.plan_period.is_some());
        let mismatch = if split {
            // Each part against its own row; a row under a period tally has no part for must
            // hold nothing.
            let parts: BTreeMap<Option<Uuid>, Decimal> =
                figures.iter().map(|f| (f.plan_period, f.amount)).collect();
            let rows_by: BTreeMap<Option<Uuid>, Decimal> =
                rows.iter().map(|r| (r.plan_period, r.usage)).collect();
            parts
                .iter()
                .any(|(pp, a)| rows_by.get(pp).copied().unwrap_or_default() != *a)
                || rows_by
                    .iter()
                    .any(|(pp, u)| !u.is_zero() && !parts.contains_key(pp))
        } else {
            // One figure for the month: fine only if one row carries it all.
            rows.iter().filter(|r| !r.usage.is_zero()).count() > 1
        };
        if mismatch {
            out.push(InvoicingFinding::SplitMismatch {
                backend_id: figures
                    .first()
                    .map(|f| f.backend_id.clone())
                    .unwrap_or_default(),
                cell: cell.clone(),
                held: rows.iter().map(|r| (r.plan_period, r.usage)).collect(),
                expected: figures.iter().map(|f| (f.plan_period, f.amount)).collect(),
            });
        }
    }

    if let Some(InvoiceItemsRead::Visible(items)) = input.invoice_items {
        out.extend(assess_items(input, items, &expected));
    }
    out.sort_by(|a, b| a.listing_key().cmp(&b.listing_key()));
    out
}

/// The quantity each usage item should carry, per plan period, from tally's figures.
fn assess_items(
    input: &InvoicingInput<'_>,
    items: &[InvoiceItem],
    expected: &BTreeMap<FindingCell, Vec<&ExpectedFigure>>,
) -> Vec<InvoicingFinding> {
    let tz = input.billing_timezone;
    let mut out = Vec::new();
    // (cell, period) -> items
    let mut groups: BTreeMap<(FindingCell, Option<Uuid>), Vec<&InvoiceItem>> = BTreeMap::new();
    let mut timelines: BTreeMap<Uuid, Option<PlanTimeline<Uuid>>> = BTreeMap::new();
    for item in items.iter().filter(|i| i.is_usage_item()) {
        let (Some(resource), Some(component), Some(start)) = (
            item.resource_uuid(),
            item.details.offering_component_type.clone(),
            item.start,
        ) else {
            continue;
        };
        if !input.periods.contains_key(&resource) {
            continue;
        }
        let tl = timelines
            .entry(resource)
            .or_insert_with(|| timeline(&input.periods[&resource]));
        let period = tl
            .as_ref()
            .and_then(|t| t.period_at(to_micros(start)).copied());
        let month = BillingMonth::containing(start, tz);
        groups
            .entry((
                FindingCell {
                    resource,
                    month,
                    component,
                },
                period,
            ))
            .or_default()
            .push(item);
    }
    for ((cell, period), group) in groups {
        if group.len() > 1 {
            out.push(InvoicingFinding::DuplicateInvoiceItem {
                cell: cell.clone(),
                plan_period: period,
                items: group.iter().map(|i| i.uuid).collect(),
                quantities: group.iter().map(|i| i.quantity).collect(),
            });
        }
        let figures = expected.get(&cell).cloned().unwrap_or_default();
        let in_month = periods_in_month(&input.periods[&cell.resource], cell.month, tz);
        let tally_amount: Option<Decimal> = if figures.iter().any(|f| f.plan_period.is_some()) {
            Some(
                figures
                    .iter()
                    .filter(|f| f.plan_period == period)
                    .map(|f| f.amount)
                    .sum(),
            )
        } else if in_month.len() <= 1 {
            Some(figures.iter().map(|f| f.amount).sum())
        } else {
            // One figure for a month over several periods: the split finding says it; the
            // item cannot be compared with a part tally did not compute.
            None
        };
        let Some(amount) = tally_amount else { continue };
        let want = invoiced_quantity(
            input.pricing.offering_type.as_deref(),
            &cell.component,
            amount,
        );
        // With duplicates, the server bills their sum.
        let billed: Decimal = group.iter().map(|i| i.quantity).sum();
        if billed != want {
            let item = group[0];
            out.push(InvoicingFinding::InvoiceQuantityDiffers {
                cell,
                plan_period: period,
                item: item.uuid,
                quantity: billed,
                expected_quantity: want,
                unit_price: item.unit_price,
            });
        }
    }
    out
}

/// What [`read_and_assess`] judges: tally's figures of one offering in the current month.
#[derive(Debug, Clone)]
pub struct InvoicingRead<'a> {
    pub offering: Uuid,
    pub current_month: BillingMonth,
    pub billing_timezone: Tz,
    /// The offering's resources (uuid, backend_id).
    pub resources: &'a [(Uuid, String)],
    pub cells: &'a [UsageCell],
    /// The collection's parts of months with a plan switch.
    pub plan_parts: &'a [PlanPartCell],
    /// Whether the server keeps a row per plan period (then tally's parts are what each row
    /// must hold) or one per month (then the month is one figure, billed on one plan).
    pub rows_by_plan_period: bool,
}

/// The findings and whether invoice items could be compared.
#[derive(Debug, Clone, Default)]
pub struct InvoicingReport {
    pub findings: Vec<InvoicingFinding>,
    /// `Some(why)` when invoice items were not compared (what the token may read).
    pub items_not_compared: Option<String>,
}

/// Reads what "will it be invoiced?" needs for the current month, resource by resource (plan
/// periods with their rows, invoice items), the offering's plans and prices once, and
/// [`assess`]es it. Only the current month: it is the only one whose plan periods and rows per
/// period Waldur lists.
pub async fn read_and_assess(
    client: &tally_waldur::WaldurClient,
    input: &InvoicingRead<'_>,
) -> Result<InvoicingReport, tally_waldur::Error> {
    use tally_waldur::{InvoiceItemFilter, OfferingView, ResourceView};
    let month = input.current_month;
    let cells: Vec<&UsageCell> = input.cells.iter().filter(|c| c.period == month).collect();
    let mut out = InvoicingReport::default();
    if cells.is_empty() {
        return Ok(out);
    }
    let pricing = client
        .offering_pricing(OfferingView::Public, input.offering)
        .await?;
    let mut expected = Vec::new();
    let mut periods = BTreeMap::new();
    let mut held = Vec::new();
    let mut items: Vec<InvoiceItem> = Vec::new();
    let mut items_read: Option<InvoiceItemsRead> = None;
    let backends: BTreeSet<&str> = cells.iter().map(|c| c.resource.as_str()).collect();
    for (resource, backend_id) in input
        .resources
        .iter()
        .filter(|(_, b)| backends.contains(b.as_str()))
    {
        for c in cells.iter().filter(|c| &c.resource == backend_id) {
            let parts: Vec<&PlanPartCell> = input
                .plan_parts
                .iter()
                .filter(|p| {
                    (&p.resource, p.period, &p.component) == (backend_id, month, &c.component)
                })
                .collect();
            if input.rows_by_plan_period && !parts.is_empty() {
                expected.extend(parts.iter().map(|p| ExpectedFigure {
                    backend_id: backend_id.clone(),
                    resource: *resource,
                    month,
                    component: c.component.clone(),
                    plan_period: p.plan_period,
                    amount: p.amount,
                }));
            } else {
                expected.push(ExpectedFigure {
                    backend_id: backend_id.clone(),
                    resource: *resource,
                    month,
                    component: c.component.clone(),
                    plan_period: None,
                    amount: c.amount,
                });
            }
        }
        let listed = client
            .plan_periods(ResourceView::Provider, *resource)
            .await?;
        periods.insert(
            *resource,
            listed
                .iter()
                .map(|p| ResourcePeriod {
                    uuid: p.uuid,
                    plan: p.plan_uuid,
                    plan_name: p.plan_name.clone(),
                    start: p.start,
                    end: p.end,
                })
                .collect::<Vec<_>>(),
        );
        let rows = tally_waldur::attach_plan_periods(
            client
                .component_usages(&tally_waldur::ComponentUsageFilter {
                    resource_uuid: Some(*resource),
                    billing_period: Some(month.first_day()),
                    ..Default::default()
                })
                .await?,
            &listed,
        );
        held.extend(rows.into_iter().map(|h| HeldRow {
            resource: *resource,
            month,
            component: h.row.component.clone(),
            plan_period: h.plan_period,
            usage: h.row.usage,
        }));
        if matches!(items_read, None | Some(InvoiceItemsRead::Visible(_))) {
            let read = client
                .invoice_items(&InvoiceItemFilter {
                    resource_uuid: Some(*resource),
                    year: Some(month.year()),
                    month: Some(month.month()),
                    ..Default::default()
                })
                .await?;
            if let InvoiceItemsRead::Visible(v) = &read {
                items.extend(v.iter().cloned());
                items_read = Some(InvoiceItemsRead::Visible(Vec::new()));
            } else {
                items_read = Some(read);
            }
        }
    }
    let items_read = match items_read {
        Some(InvoiceItemsRead::Visible(_)) => Some(InvoiceItemsRead::Visible(items)),
        Some(InvoiceItemsRead::NotPermitted) => {
            out.items_not_compared = Some("the token may not read invoice items (403)".to_owned());
            None
        }
        Some(InvoiceItemsRead::EmptyMaybeHidden) => {
            out.items_not_compared = Some(
                "no invoice item is visible to this token (a provider's token sees none on this \
                 server): invoice items not compared"
                    .to_owned(),
            );
            None
        }
        None => None,
    };
    out.findings = assess(&InvoicingInput {
        current_month: month,
        billing_timezone: input.billing_timezone,
        expected: &expected,
        periods: &periods,
        pricing: &pricing,
        held: &held,
        invoice_items: items_read.as_ref(),
    });
    Ok(out)
}

#[cfg(test)]
mod tests;
