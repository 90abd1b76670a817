//! Orders: the requests for resources that a provider approves, rejects or completes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::decimal::opt_decimal_map;
use crate::pagination::Query;
use crate::types::{label_enum, simple, with_fields};

label_enum! {
    /// `Order.state`.
    OrderState {
        PendingConsumer => "pending-consumer",
        PendingProvider => "pending-provider",
        PendingProject => "pending-project",
        PendingStartDate => "pending-start-date",
        Executing => "executing",
        Done => "done",
        Erred => "erred",
        Canceled => "canceled",
        Rejected => "rejected",
    }
}

impl OrderState {
    /// Whether the order can no longer change.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            OrderState::Done | OrderState::Erred | OrderState::Canceled | OrderState::Rejected
        )
    }
}

label_enum! {
    /// `Order.type`.
    OrderType {
        Create => "Create",
        Update => "Update",
        Terminate => "Terminate",
        Restore => "Restore",
    }
}

/// An order (`OrderDetails`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, rename = "type")]
    pub order_type: Option<OrderType>,
    #[serde(default)]
    pub state: Option<OrderState>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub modified: Option<DateTime<Utc>>,
    #[serde(default)]
    pub offering_uuid: Option<Uuid>,
    #[serde(default)]
    pub offering_name: Option<String>,
    #[serde(default)]
    pub offering_type: Option<String>,
    #[serde(default)]
    pub provider_uuid: Option<Uuid>,
    #[serde(default)]
    pub provider_name: Option<String>,
    #[serde(default)]
    pub plan_uuid: Option<Uuid>,
    #[serde(default)]
    pub plan_name: Option<String>,
    /// The marketplace resource the order is about.
    #[serde(default)]
    pub marketplace_resource_uuid: Option<Uuid>,
    /// The plugin's own resource (scope), not the marketplace one.
    #[serde(default)]
    pub resource_uuid: Option<Uuid>,
    #[serde(default)]
    pub resource_name: Option<String>,
    #[serde(default)]
    pub attributes: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "opt_decimal_map")]
    pub limits: Option<BTreeMap<String, Decimal>>,
    #[serde(default)]
    pub project_uuid: Option<Uuid>,
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub created_by_username: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// The provider's reason for a rejection (8.x; the 2024 generation neither sends nor stores it).
    #[serde(default)]
    pub provider_rejection_comment: Option<String>,
    #[serde(default)]
    pub backend_id: Option<String>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub provider_reviewed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub consumer_reviewed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub old_plan_uuid: Option<Uuid>,
    #[serde(default)]
    pub new_plan_uuid: Option<Uuid>,
}

/// Filters of `GET marketplace-orders/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Repeated `state=`.
    pub states: Vec<OrderState>,
    /// Repeated `type=`.
    pub types: Vec<OrderType>,
    /// The marketplace resource.
    pub resource_uuid: Option<Uuid>,
    pub offering_uuid: Option<Uuid>,
    /// The provider organisation (Customer) uuid.
    pub provider_uuid: Option<Uuid>,
    pub customer_uuid: Option<Uuid>,
    pub project_uuid: Option<Uuid>,
    pub can_approve_as_provider: Option<bool>,
    pub search: Option<String>,
    pub fields: Vec<String>,
    pub ordering: Option<String>,
}

impl OrderFilter {
    pub fn query(&self) -> Query {
        let q = Query::new()
            .repeated("state", self.states.iter().map(|s| s.as_str().to_owned()))
            .repeated("type", self.types.iter().map(|s| s.as_str().to_owned()))
            .opt("resource_uuid", self.resource_uuid.as_ref().map(simple))
            .opt("offering_uuid", self.offering_uuid.as_ref().map(simple))
            .opt("provider_uuid", self.provider_uuid.as_ref().map(simple))
            .opt("customer_uuid", self.customer_uuid.as_ref().map(simple))
            .opt("project_uuid", self.project_uuid.as_ref().map(simple))
            .opt("can_approve_as_provider", self.can_approve_as_provider)
            .opt("query", self.search.as_ref())
            .opt("o", self.ordering.as_ref());
        with_fields(q, &["uuid"], &self.fields)
    }
}

/// Answer of order actions: `{"detail": ...}` on 8.x, empty on older servers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderActionResult {
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ApproveRequest<'a> {
    pub attributes: &'a serde_json::Value,
}

#[derive(Debug, Serialize)]
pub(crate) struct RejectRequest<'a> {
    pub provider_rejection_comment: &'a str,
}
