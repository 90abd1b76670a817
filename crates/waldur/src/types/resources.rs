//! Marketplace resources (allocations), as seen by providers and consumers.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::decimal::{decimal, opt_decimal_map};
use crate::pagination::Query;
use crate::types::offerings::OfferingComponent;
use crate::types::{label_enum, lenient, null_default, simple, with_fields};

label_enum! {
    /// `Resource.state`.
    ResourceState {
        Creating => "Creating",
        Ok => "OK",
        Erred => "Erred",
        Updating => "Updating",
        Terminating => "Terminating",
        Terminated => "Terminated",
    }
}

impl ResourceState {
    /// The states in which `set_usage` is accepted (SEMANTICS.md §1, state gate).
    pub fn accepts_usage(&self) -> bool {
        matches!(
            self,
            ResourceState::Ok | ResourceState::Updating | ResourceState::Terminating
        )
    }
}

/// Which listing to use. A provider organisation's owner sees its offering's resources only in
/// the provider view (the consumer view answers `[]`), so tally acting for a provider uses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResourceView {
    #[default]
    Provider,
    Consumer,
}

impl ResourceView {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            ResourceView::Provider => "marketplace-provider-resources/",
            ResourceView::Consumer => "marketplace-resources/",
        }
    }
}

/// `{header, body}` section of a resource's access report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSection {
    #[serde(default)]
    pub header: String,
    #[serde(default)]
    pub body: String,
}

/// A marketplace resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub state: Option<ResourceState>,
    /// `""` when unset on the server; read as `None` only when absent.
    #[serde(default)]
    pub backend_id: Option<String>,
    #[serde(default)]
    pub effective_id: Option<String>,
    #[serde(default)]
    pub offering: Option<String>,
    #[serde(default)]
    pub offering_uuid: Option<Uuid>,
    #[serde(default)]
    pub offering_name: Option<String>,
    #[serde(default)]
    pub offering_type: Option<String>,
    #[serde(default)]
    pub offering_slug: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub offering_components: Option<Vec<OfferingComponent>>,
    #[serde(default)]
    pub provider_uuid: Option<Uuid>,
    #[serde(default)]
    pub provider_name: Option<String>,
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default)]
    pub plan_uuid: Option<Uuid>,
    #[serde(default)]
    pub plan_name: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub project_uuid: Option<Uuid>,
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default, deserialize_with = "opt_decimal_map")]
    pub limits: Option<BTreeMap<String, Decimal>>,
    #[serde(default, deserialize_with = "opt_decimal_map")]
    pub limit_usage: Option<BTreeMap<String, Decimal>>,
    /// Latest reported amounts (strings on 7.x servers, numbers on newer ones).
    #[serde(default, deserialize_with = "opt_decimal_map")]
    pub current_usages: Option<BTreeMap<String, Decimal>>,
    #[serde(default)]
    pub attributes: Option<serde_json::Value>,
    #[serde(default)]
    pub options: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub report: Option<Vec<ReportSection>>,
    #[serde(default, deserialize_with = "lenient")]
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub modified: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient")]
    pub last_sync: Option<DateTime<Utc>>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub error_traceback: Option<String>,
    #[serde(default)]
    pub is_usage_based: Option<bool>,
    #[serde(default)]
    pub is_limit_based: Option<bool>,
    #[serde(default)]
    pub downscaled: Option<bool>,
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default)]
    pub restrict_member_access: Option<bool>,
}

/// Filters of the resource listings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    pub view: ResourceView,
    /// Sent comma-separated, as Waldur reads it.
    pub offering_uuids: Vec<Uuid>,
    /// Sent as repeated `state=`.
    pub states: Vec<ResourceState>,
    pub backend_id: Option<String>,
    /// The provider organisation's (Customer) uuid, not the ServiceProvider record's.
    pub provider_uuid: Option<Uuid>,
    pub customer_uuid: Option<Uuid>,
    pub project_uuid: Option<Uuid>,
    pub name: Option<String>,
    /// Free-text search.
    pub search: Option<String>,
    /// `field=` selection; `uuid` is added when non-empty.
    pub fields: Vec<String>,
    /// `o=`, e.g. `-created`.
    pub ordering: Option<String>,
}

impl ResourceFilter {
    /// The provider's resources of one offering: the listing `push` resolves `backend_id`s from.
    pub fn provider_offering(offering: Uuid) -> Self {
        ResourceFilter {
            view: ResourceView::Provider,
            offering_uuids: vec![offering],
            ..Default::default()
        }
    }

    pub fn query(&self) -> Query {
        let q = Query::new()
            .comma("offering_uuid", self.offering_uuids.iter().map(simple))
            .repeated("state", self.states.iter().map(|s| s.as_str().to_owned()))
            .opt("backend_id", self.backend_id.as_ref())
            .opt("provider_uuid", self.provider_uuid.as_ref().map(simple))
            .opt("customer_uuid", self.customer_uuid.as_ref().map(simple))
            .opt("project_uuid", self.project_uuid.as_ref().map(simple))
            .opt("name", self.name.as_ref())
            .opt("query", self.search.as_ref())
            .opt("o", self.ordering.as_ref());
        with_fields(q, &["uuid"], &self.fields)
    }
}

/// A usage record inside a plan period (`BaseComponentUsage`; `usage` is a decimal string here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodUsage {
    #[serde(default)]
    pub uuid: Option<Uuid>,
    #[serde(rename = "type")]
    pub component: String,
    #[serde(deserialize_with = "decimal")]
    pub usage: Decimal,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub measured_unit: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub recurring: Option<bool>,
}

/// `GET .../{uuid}/plan_periods/` item: which plan was active, with the current month's usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanPeriod {
    pub uuid: Uuid,
    #[serde(default)]
    pub plan_name: Option<String>,
    #[serde(default)]
    pub plan_uuid: Option<Uuid>,
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_default")]
    pub components: Vec<PeriodUsage>,
}

/// `GET .../{uuid}/team/` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamMember {
    pub uuid: Uuid,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Project role name.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub expiration_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub offering_user_username: Option<String>,
    #[serde(default)]
    pub offering_user_state: Option<String>,
}

/// `{"status": "..."}` answers of provider actions (`set_backend_id`, `submit_report`,
/// `set_state_ok`); empty answers read as all `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionStatus {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

/// Body of `set_as_erred/` (and `set_state_erred/` of orders).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErrorDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_traceback: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct BackendIdRequest<'a> {
    pub backend_id: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct ReportRequest<'a> {
    pub report: &'a [ReportSection],
}
