//! Invoice items and the plan-period view of usage rows: what Waldur will bill.
//!
//! See docs/plan-periods.md for what the genuine 2024 server does (captures pp-*).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::decimal::{decimal, opt_decimal};
use crate::pagination::Query;
use crate::types::offerings::{BillingType, Offering};
use crate::types::resources::PlanPeriod;
use crate::types::simple;
use crate::types::usage::ComponentUsage;

/// `details` of an invoice item made from a usage row or a limit (`MarketplaceRegistrator.
/// get_component_details`). `plan_name` is the resource's plan **when the item was made**: a
/// correction of an old period after a switch names the new plan (capture pp-27).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceItemDetails {
    #[serde(default)]
    pub plan_name: Option<String>,
    #[serde(default)]
    pub plan_uuid: Option<Uuid>,
    #[serde(default)]
    pub offering_type: Option<String>,
    #[serde(default)]
    pub offering_uuid: Option<Uuid>,
    #[serde(default)]
    pub resource_uuid: Option<Uuid>,
    /// The component type the item bills.
    #[serde(default)]
    pub offering_component_type: Option<String>,
    #[serde(default)]
    pub plan_component_id: Option<i64>,
    /// Present on items billed from a `limit` component's ordered limit.
    #[serde(default)]
    pub resource_limit_periods: Option<serde_json::Value>,
}

/// `GET invoice-items/` item. Quantities and prices are decimals with 10 places on the wire
/// (`"10.0000000000"`), read exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceItem {
    pub uuid: Uuid,
    #[serde(default)]
    pub name: Option<String>,
    /// Hyperlink of the resource.
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub invoice: Option<String>,
    #[serde(deserialize_with = "decimal")]
    pub quantity: Decimal,
    #[serde(deserialize_with = "decimal")]
    pub unit_price: Decimal,
    /// `quantity` for usage items; `month`, `day`, `hour`, `half_month` for limit/fixed items.
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub measured_unit: Option<String>,
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub details: InvoiceItemDetails,
}

impl InvoiceItem {
    /// The resource uuid, from `details` or the resource hyperlink.
    pub fn resource_uuid(&self) -> Option<Uuid> {
        self.details.resource_uuid.or_else(|| {
            self.resource
                .as_deref()
                .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
                .and_then(|s| Uuid::try_parse(s).ok())
        })
    }

    /// Whether the item bills reported usage (unit `quantity`), as opposed to a limit or a
    /// fixed price over time.
    pub fn is_usage_item(&self) -> bool {
        self.unit.as_deref() == Some("quantity") && self.details.resource_limit_periods.is_none()
    }
}

/// Filters of `GET invoice-items/` (`InvoiceItemFilter` of the 2024 server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceItemFilter {
    pub resource_uuid: Option<Uuid>,
    pub project_uuid: Option<Uuid>,
    /// The consumer organisation.
    pub customer_uuid: Option<Uuid>,
    pub year: Option<i32>,
    pub month: Option<u32>,
}

impl InvoiceItemFilter {
    pub fn query(&self) -> Query {
        Query::new()
            .opt("resource_uuid", self.resource_uuid.as_ref().map(simple))
            .opt("project_uuid", self.project_uuid.as_ref().map(simple))
            .opt("customer_uuid", self.customer_uuid.as_ref().map(simple))
            .opt("year", self.year)
            .opt("month", self.month)
    }
}

/// What a token may see of invoice items.
#[derive(Debug, Clone, PartialEq)]
pub enum InvoiceItemsRead {
    /// The items the server listed (possibly none, to a token that may see them all).
    Visible(Vec<InvoiceItem>),
    /// 403: the token may not list invoice items at all.
    NotPermitted,
    /// An empty list to a token that is neither staff nor support. The 2024 server filters
    /// invoice items by the *consumer* organisation's roles, so a service provider's token reads
    /// `[]` whether or not items exist (capture pp-11): nothing can be concluded from it.
    EmptyMaybeHidden,
}

/// The plans of an offering with their prices, and its components' billing types.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferingPricing {
    pub offering: Uuid,
    /// `Marketplace.Slurm`, `SlurmInvoices.SlurmPackage`, ...: decides how usage becomes an
    /// invoice item quantity.
    pub offering_type: Option<String>,
    /// component type -> billing type (`None` when the server did not say).
    pub billing_types: BTreeMap<String, Option<BillingType>>,
    /// plan uuid -> (plan name, component type -> price). A component missing from the map has
    /// no plan component in that plan.
    pub plans: BTreeMap<Uuid, (Option<String>, BTreeMap<String, Decimal>)>,
}

impl OfferingPricing {
    /// From an offering read with its `components` and `plans`.
    pub fn from_offering(o: &Offering) -> Self {
        OfferingPricing {
            offering: o.uuid,
            offering_type: o.offering_type.clone(),
            billing_types: o
                .components
                .iter()
                .map(|c| (c.component.clone(), c.billing_type.clone()))
                .collect(),
            plans: o
                .plans
                .iter()
                .flatten()
                .map(|p| {
                    (
                        p.uuid,
                        (p.name.clone(), p.prices.clone().unwrap_or_default()),
                    )
                })
                .collect(),
        }
    }

    /// The price of `component` in `plan`: `None` if the plan is unknown or has no plan
    /// component for it.
    pub fn price(&self, plan: Uuid, component: &str) -> Option<Decimal> {
        self.plans
            .get(&plan)
            .and_then(|(_, p)| p.get(component))
            .copied()
    }
}

/// A usage row as held, with the plan period it is stored under.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldUsage {
    pub row: ComponentUsage,
    /// The plan period the row is attached to; `None` when no listed period carries it (a
    /// row stored with no plan period, or one of a period that ended before this month).
    pub plan_period: Option<Uuid>,
}

/// Attaches each usage row to its plan period. The component-usages listing does not show a
/// row's plan period on either server generation; the plan-periods listing does, in each
/// period's `components` (the current month's rows of that period, by uuid).
pub fn attach_plan_periods(rows: Vec<ComponentUsage>, periods: &[PlanPeriod]) -> Vec<HeldUsage> {
    let by_row: BTreeMap<Uuid, Uuid> = periods
        .iter()
        .flat_map(|p| {
            p.components
                .iter()
                .filter_map(move |c| c.uuid.map(|u| (u, p.uuid)))
        })
        .collect();
    rows.into_iter()
        .map(|row| HeldUsage {
            plan_period: by_row.get(&row.uuid).copied(),
            row,
        })
        .collect()
}
