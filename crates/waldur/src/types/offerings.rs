//! Offerings, their components and plans.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::decimal::{opt_decimal, opt_decimal_map};
use crate::pagination::Query;
use crate::types::{label_enum, lenient, null_default, simple, with_fields};

label_enum! {
    /// `OfferingComponent.billing_type`.
    BillingType {
        /// Price fixed by the plan; usage reports are refused.
        Fixed => "fixed",
        /// Billed from reported usage.
        Usage => "usage",
        /// Billed from the ordered limit; usage may be reported but does not bill.
        Limit => "limit",
        /// One-time on activation.
        OneTime => "one",
        /// One-time on activation and on each plan switch.
        FewTimes => "few",
    }
}

impl BillingType {
    /// Whether `set_usage` accepts this component (SEMANTICS.md §1, component gate).
    pub fn accepts_usage(&self) -> bool {
        matches!(self, BillingType::Usage | BillingType::Limit)
    }
}

label_enum! {
    /// `Offering.state`.
    OfferingState {
        Draft => "Draft",
        Active => "Active",
        Paused => "Paused",
        Archived => "Archived",
        Unavailable => "Unavailable",
    }
}

/// An offering component: what usage can be reported against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferingComponent {
    #[serde(rename = "type")]
    pub component: String,
    #[serde(default)]
    pub billing_type: Option<BillingType>,
    #[serde(default)]
    pub uuid: Option<Uuid>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub measured_unit: Option<String>,
    /// `month|quarterly|annual|total|""`.
    #[serde(default)]
    pub limit_period: Option<String>,
    /// An integer on 8.0, a decimal on 8.1.
    #[serde(default, deserialize_with = "opt_decimal")]
    pub limit_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub max_value: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub min_value: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub max_available_limit: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub default_limit: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub unit_factor: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub factor: Option<Decimal>,
    #[serde(default)]
    pub article_code: Option<String>,
    #[serde(default)]
    pub is_boolean: Option<bool>,
    #[serde(default)]
    pub is_builtin: Option<bool>,
    #[serde(default)]
    pub is_prepaid: Option<bool>,
}

/// A plan of an offering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "opt_decimal_map")]
    pub prices: Option<BTreeMap<String, Decimal>>,
    #[serde(default, deserialize_with = "opt_decimal_map")]
    pub quotas: Option<BTreeMap<String, Decimal>>,
}

/// A public or provider view of an offering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offering {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default, rename = "type")]
    pub offering_type: Option<String>,
    #[serde(default)]
    pub state: Option<OfferingState>,
    /// The provider organisation.
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub shared: Option<bool>,
    #[serde(default)]
    pub billable: Option<bool>,
    #[serde(default)]
    pub backend_id: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_default")]
    pub components: Vec<OfferingComponent>,
    #[serde(default, deserialize_with = "lenient")]
    pub plans: Option<Vec<Plan>>,
}

impl Offering {
    /// The component of that type, if the offering has it.
    pub fn component(&self, component_type: &str) -> Option<&OfferingComponent> {
        self.components
            .iter()
            .find(|c| c.component == component_type)
    }
}

/// Which offering listing: the public catalogue or the provider's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OfferingView {
    #[default]
    Public,
    Provider,
}

impl OfferingView {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            OfferingView::Public => "marketplace-public-offerings/",
            OfferingView::Provider => "marketplace-provider-offerings/",
        }
    }
}

/// Filters of the offering listings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferingFilter {
    pub view: OfferingView,
    /// Provider organisation.
    pub customer_uuid: Option<Uuid>,
    pub states: Vec<OfferingState>,
    pub offering_type: Option<String>,
    pub name: Option<String>,
    pub fields: Vec<String>,
    pub ordering: Option<String>,
}

impl OfferingFilter {
    pub fn query(&self) -> Query {
        let q = Query::new()
            .opt("customer_uuid", self.customer_uuid.as_ref().map(simple))
            .repeated("state", self.states.iter().map(|s| s.as_str().to_owned()))
            .opt("type", self.offering_type.as_ref())
            .opt("name", self.name.as_ref())
            .opt("o", self.ordering.as_ref());
        with_fields(q, &["uuid"], &self.fields)
    }
}

/// `GET marketplace-plan-components/` item (carries `component_name`, not the type, on 8.0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanComponent {
    pub offering_uuid: Option<Uuid>,
    pub offering_name: Option<String>,
    pub plan_uuid: Option<Uuid>,
    pub plan_name: Option<String>,
    pub plan_unit: Option<String>,
    pub component_name: Option<String>,
    /// 8.1.x only.
    #[serde(rename = "type")]
    pub component_type: Option<String>,
    pub measured_unit: Option<String>,
    pub billing_type: Option<BillingType>,
    #[serde(deserialize_with = "opt_decimal")]
    pub amount: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub price: Option<Decimal>,
    #[serde(deserialize_with = "opt_decimal")]
    pub future_price: Option<Decimal>,
}

/// Filters of `GET marketplace-plan-components/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanComponentFilter {
    pub offering_uuid: Option<Uuid>,
    pub plan_uuid: Option<Uuid>,
    pub shared: Option<bool>,
    pub archived: Option<bool>,
}

impl PlanComponentFilter {
    pub fn query(&self) -> Query {
        Query::new()
            .opt("offering_uuid", self.offering_uuid.as_ref().map(simple))
            .opt("plan_uuid", self.plan_uuid.as_ref().map(simple))
            .opt("shared", self.shared)
            .opt("archived", self.archived)
    }
}
