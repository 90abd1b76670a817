//! Test helpers: plant data directly and read everything stored.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::app::AppState;
use crate::json::ApiError;
use crate::state::{parse_uuid, ComponentUsage, RESOURCE_STATES};

/// A component usage to store directly (bypassing every API rule), e.g. to plant a difference for a
/// `check` test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantUsage {
    /// Resource uuid or backend_id.
    pub resource: String,
    #[serde(rename = "type")]
    pub component_type: String,
    /// Any day of the billing month (stored as its first day).
    pub billing_period: NaiveDate,
    pub amount: Decimal,
    #[serde(default)]
    pub description: String,
}

/// One stored component usage, flattened for assertions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredUsage {
    pub uuid: Uuid,
    pub resource_uuid: Uuid,
    pub resource_name: String,
    pub backend_id: String,
    pub offering_uuid: Uuid,
    #[serde(rename = "type")]
    pub component_type: String,
    pub billing_period: NaiveDate,
    /// Exact decimal, two places.
    pub usage: Decimal,
    pub date: chrono::DateTime<chrono::Utc>,
    pub description: String,
    pub recurring: bool,
    pub modified_by: Option<String>,
    /// Per-user split: (username, usage).
    pub user_usages: Vec<(String, Decimal)>,
}

pub(crate) fn all_usages(app: &AppState) -> Vec<StoredUsage> {
    app.read(|st| {
        let mut out: Vec<StoredUsage> = st
            .usages
            .iter()
            .map(|u| {
                let r = st.resources.get(&u.resource);
                StoredUsage {
                    uuid: u.uuid,
                    resource_uuid: u.resource,
                    resource_name: r.map(|r| r.name.clone()).unwrap_or_default(),
                    backend_id: r.map(|r| r.backend_id.clone()).unwrap_or_default(),
                    offering_uuid: r.map(|r| r.offering).unwrap_or_default(),
                    component_type: u.type_.clone(),
                    billing_period: u.billing_period,
                    usage: u.usage,
                    date: u.date,
                    description: u.description.clone(),
                    recurring: u.recurring,
                    modified_by: u
                        .modified_by
                        .and_then(|id| st.user_by_id(id))
                        .map(|x| x.username.clone()),
                    user_usages: st
                        .user_usages
                        .iter()
                        .filter(|x| x.component_usage == u.uuid)
                        .map(|x| (x.username.clone(), x.usage))
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (
                a.resource_name.as_str(),
                a.billing_period,
                a.component_type.as_str(),
            )
                .cmp(&(
                    b.resource_name.as_str(),
                    b.billing_period,
                    b.component_type.as_str(),
                ))
        });
        out
    })
}

pub(crate) fn plant(app: &AppState, p: &PlantUsage) -> Result<(), ApiError> {
    let now = app.now();
    app.write(|st| {
        let rid = parse_uuid(&p.resource)
            .filter(|u| st.resources.get(u).is_some())
            .or_else(|| {
                st.resources
                    .iter()
                    .find(|r| r.backend_id == p.resource || r.name == p.resource)
                    .map(|r| r.uuid)
            })
            .ok_or_else(|| {
                ApiError::field("resource", format!("unknown resource {}", p.resource))
            })?;
        let bp = crate::state::month_start(
            &p.billing_period
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc(),
        );
        let mut amount = p.amount;
        amount.rescale(2);
        let pp = st.plan_period_at(&rid, &now);
        st.upsert_usage(ComponentUsage {
            uuid: Uuid::new_v4(),
            resource: rid,
            type_: p.component_type.clone(),
            billing_period: bp,
            usage: amount,
            date: now,
            created: now,
            modified: now,
            description: p.description.clone(),
            recurring: false,
            plan_period: pp,
            modified_by: None,
        });
        Ok(())
    })
}

pub(crate) fn plant_from_json(app: &AppState, body: &Value) -> Result<(), ApiError> {
    let p: PlantUsage =
        serde_json::from_value(body.clone()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    plant(app, &p)
}

pub(crate) fn set_resource_state(app: &AppState, id: &str, state: &str) -> Result<(), ApiError> {
    if !RESOURCE_STATES.contains(&state) {
        return Err(ApiError::field(
            "state",
            format!("Select a valid choice. {state} is not one of the available choices."),
        ));
    }
    let now = app.now();
    app.write(|st| {
        let rid = parse_uuid(id)
            .filter(|u| st.resources.get(u).is_some())
            .or_else(|| {
                st.resources
                    .iter()
                    .find(|r| r.backend_id == id || r.name == id)
                    .map(|r| r.uuid)
            })
            .ok_or_else(|| ApiError::not_found("Resource"))?;
        if let Some(r) = st.resources.get_mut(&rid) {
            r.state = state.to_string();
            r.modified = now;
        }
        match state {
            "OK" => st.open_plan_period(&rid, now),
            "Terminated" => st.close_plan_periods(&rid, now),
            _ => {}
        }
        Ok(())
    })
}
