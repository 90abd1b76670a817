//! Component usage: what a provider reports per resource, component and month.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::decimal::{decimal, opt_decimal};
use crate::pagination::Query;
use crate::types::{ser_opt_uuid, simple, with_fields};

/// One component's amount in a `set_usage` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageItem {
    /// The offering component's `type` (e.g. `cpu`).
    #[serde(rename = "type")]
    pub component: String,
    /// The month's total (SET, not a delta). Sent as a decimal string; at most 2 decimals.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Deprecated in 8.1; omitted unless set so that newer servers apply their default policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring: Option<bool>,
}

impl UsageItem {
    pub fn new(component: impl Into<String>, amount: Decimal) -> Self {
        UsageItem {
            component: component.into(),
            amount,
            description: None,
            recurring: None,
        }
    }
}

/// Body of `POST marketplace-component-usages/set_usage/`.
///
/// Sending the same body twice is harmless: Waldur upserts one record per resource, component and
/// billing month and overwrites its amount (captures 04/05), which is why the client retries this
/// POST after timeouts and 5xx like a GET.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetUsageRequest {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_uuid"
    )]
    pub resource: Option<Uuid>,
    /// Alternative to `resource` (a `ResourcePlanPeriod` uuid).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_uuid"
    )]
    pub plan_period: Option<Uuid>,
    /// Selects the billing month (8.0+). Leave `None` for the current month: offering managers may
    /// not send it at all, and servers before 8.0 ignore it and write the current month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<DateTime<Utc>>,
    pub usages: Vec<UsageItem>,
}

impl SetUsageRequest {
    /// Current-month usage of one resource.
    pub fn current_month(resource: Uuid, usages: Vec<UsageItem>) -> Self {
        SetUsageRequest {
            resource: Some(resource),
            plan_period: None,
            date: None,
            usages,
        }
    }

    /// Current-month usage of the resource's plan period `plan_period`: on a server that keys
    /// rows by plan period (2024), the way to write each part of a month with a plan switch
    /// into its own period's row (captures pp-22, pp-24).
    pub fn for_plan_period(plan_period: Uuid, usages: Vec<UsageItem>) -> Self {
        SetUsageRequest {
            resource: None,
            plan_period: Some(plan_period),
            date: None,
            usages,
        }
    }

    /// Usage for the month containing `date` (see [`SetUsageRequest::date`]).
    pub fn dated(resource: Uuid, date: DateTime<Utc>, usages: Vec<UsageItem>) -> Self {
        SetUsageRequest {
            resource: Some(resource),
            plan_period: None,
            date: Some(date),
            usages,
        }
    }

    /// Refuses what Waldur would refuse for the amounts (more than 2 decimals, more than 20
    /// digits), naming the component, before a request is spent on it.
    pub fn check(&self) -> Result<(), String> {
        if self.resource.is_none() && self.plan_period.is_none() {
            return Err("set_usage needs a resource or a plan period".to_owned());
        }
        for u in &self.usages {
            check_amount(&u.component, u.amount)?;
        }
        Ok(())
    }
}

/// Waldur's `DecimalField(max_digits=20, decimal_places=2)` without rounding.
pub fn check_amount(what: &str, amount: Decimal) -> Result<(), String> {
    let n = amount.normalize();
    if n.scale() > 2 {
        return Err(format!(
            "{what}: amount {amount} has more than 2 decimal places (round it first)"
        ));
    }
    let int_digits = n.trunc().abs().to_string().trim_start_matches('0').len();
    if int_digits + 2 > 20 {
        return Err(format!("{what}: amount {amount} has more than 20 digits"));
    }
    Ok(())
}

/// A stored usage record (`GET marketplace-component-usages/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentUsage {
    pub uuid: Uuid,
    /// Component type.
    #[serde(rename = "type")]
    pub component: String,
    /// Written by 8.x servers as a JSON number, by older ones as a string; read exactly.
    #[serde(deserialize_with = "decimal")]
    pub usage: Decimal,
    #[serde(default)]
    pub billing_period: Option<NaiveDate>,
    #[serde(default)]
    pub date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub measured_unit: Option<String>,
    #[serde(default)]
    pub recurring: Option<bool>,
    #[serde(default)]
    pub resource_name: Option<String>,
    #[serde(default)]
    pub resource_uuid: Option<Uuid>,
    #[serde(default)]
    pub offering_name: Option<String>,
    #[serde(default)]
    pub offering_uuid: Option<Uuid>,
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub project_uuid: Option<Uuid>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
    #[serde(default)]
    pub modified_by: Option<i64>,
    /// 8.1.x: `none|reuse|zero`.
    #[serde(default)]
    pub missing_usage_policy: Option<String>,
}

/// Filters of `GET marketplace-component-usages/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentUsageFilter {
    pub resource_uuid: Option<Uuid>,
    pub offering_uuid: Option<Uuid>,
    pub project_uuid: Option<Uuid>,
    pub customer_uuid: Option<Uuid>,
    /// Component type, exact.
    pub component: Option<String>,
    /// First day of the month, e.g. `2025-03-01`.
    pub billing_period: Option<NaiveDate>,
    pub billing_period_year: Option<i32>,
    pub billing_period_month: Option<u32>,
    pub date_after: Option<NaiveDate>,
    pub date_before: Option<NaiveDate>,
    /// `field=` selection; `uuid`, `type` and `usage` are added when non-empty.
    pub fields: Vec<String>,
    /// `o=`, e.g. `-billing_period`.
    pub ordering: Option<String>,
}

impl ComponentUsageFilter {
    pub fn for_resource(resource: Uuid) -> Self {
        ComponentUsageFilter {
            resource_uuid: Some(resource),
            ..Default::default()
        }
    }

    pub fn query(&self) -> Query {
        let q = Query::new()
            .opt("resource_uuid", self.resource_uuid.as_ref().map(simple))
            .opt("offering_uuid", self.offering_uuid.as_ref().map(simple))
            .opt("project_uuid", self.project_uuid.as_ref().map(simple))
            .opt("customer_uuid", self.customer_uuid.as_ref().map(simple))
            .opt("type", self.component.as_ref())
            .opt("billing_period", self.billing_period)
            .opt("billing_period_year", self.billing_period_year)
            .opt("billing_period_month", self.billing_period_month)
            .opt("date_after", self.date_after)
            .opt("date_before", self.date_before)
            .opt("o", self.ordering.as_ref());
        with_fields(q, &["uuid", "type", "usage"], &self.fields)
    }
}

/// One user's share of a usage record (`set_user_usage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserUsageRequest {
    pub username: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub usage: Decimal,
    /// `marketplace-offering-users` detail URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<DateTime<Utc>>,
}

/// Body of `set_user_usages/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct UserUsagesRequest<'a> {
    pub usages: &'a [UserUsageRequest],
}

/// A per-user usage record (`GET marketplace-component-user-usages/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentUserUsage {
    pub uuid: Uuid,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "opt_decimal")]
    pub usage: Option<Decimal>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub component_usage: Option<String>,
    #[serde(default)]
    pub component_type: Option<String>,
    #[serde(default)]
    pub measured_unit: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub modified: Option<DateTime<Utc>>,
    #[serde(default)]
    pub date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub billing_period: Option<NaiveDate>,
    #[serde(default)]
    pub backend_id: Option<String>,
    #[serde(default)]
    pub resource_name: Option<String>,
    #[serde(default)]
    pub resource_uuid: Option<Uuid>,
    #[serde(default)]
    pub offering_name: Option<String>,
    #[serde(default)]
    pub offering_uuid: Option<Uuid>,
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub project_uuid: Option<Uuid>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub customer_uuid: Option<Uuid>,
}

/// Filters of `GET marketplace-component-user-usages/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentUserUsageFilter {
    pub resource_uuid: Option<Uuid>,
    pub offering_uuid: Option<Uuid>,
    pub project_uuid: Option<Uuid>,
    pub customer_uuid: Option<Uuid>,
    pub component: Option<String>,
    pub username: Option<String>,
    pub billing_period: Option<NaiveDate>,
    pub billing_period_year: Option<i32>,
    pub billing_period_month: Option<u32>,
    pub date_after: Option<NaiveDate>,
    pub date_before: Option<NaiveDate>,
    pub fields: Vec<String>,
    pub ordering: Option<String>,
}

impl ComponentUserUsageFilter {
    pub fn query(&self) -> Query {
        let q = Query::new()
            .opt("resource_uuid", self.resource_uuid.as_ref().map(simple))
            .opt("offering_uuid", self.offering_uuid.as_ref().map(simple))
            .opt("project_uuid", self.project_uuid.as_ref().map(simple))
            .opt("customer_uuid", self.customer_uuid.as_ref().map(simple))
            .opt("type", self.component.as_ref())
            .opt("username", self.username.as_ref())
            .opt("component_usage__billing_period", self.billing_period)
            .opt("billing_period_year", self.billing_period_year)
            .opt("billing_period_month", self.billing_period_month)
            .opt("date_after", self.date_after)
            .opt("date_before", self.date_before)
            .opt("o", self.ordering.as_ref());
        with_fields(q, &["uuid"], &self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// What the genuine 2024 server (waldur-mastermind 1ea6cb82 under ../shared/real-waldur,
    /// 2026-11-15) returned for `GET marketplace-component-user-usages/`: `usage` a decimal
    /// string, no `billing_period`, `field=` ignored.
    #[test]
    fn user_usages_of_the_2024_server_read_exactly() {
        let body = r#"[{"uuid":"89604b9aded2413e80f6cb9d14eb3a08","user":null,"username":"alice","component_usage":"http://127.0.0.1:8765/api/marketplace-component-usages/8267a21c83524f988d5586aeea70b319/","usage":"12.00","measured_unit":"k-hours","description":"","created":"2026-11-15T12:01:44.824497Z","modified":"2026-11-15T12:01:44.824497Z","backend_id":"","resource_name":"climate-a","resource_uuid":"693dfb75184946df817b9f58223b95b8","offering_name":"Example Cluster","offering_uuid":"5bda18bb4dbd430d846df871227d4726","project_name":"Climate","project_uuid":"17137c49a7754bb997551f9ef5662fb7","customer_name":"Example University gen","customer_uuid":"f6938d70c1454baabdde71eb8e897cc7","component_type":"cpu_k_hours","date":"2026-11-15T12:01:44.164683Z"}]"#;
        let rows: Vec<ComponentUserUsage> = serde_json::from_str(body).expect("2024 rows");
        assert_eq!(rows[0].username.as_deref(), Some("alice"));
        assert_eq!(rows[0].usage, Some(Decimal::from_str("12.00").expect("d")));
        assert_eq!(rows[0].component_type.as_deref(), Some("cpu_k_hours"));
        assert_eq!(
            rows[0].resource_uuid,
            Some(Uuid::from_str("693dfb75184946df817b9f58223b95b8").expect("uuid"))
        );
        assert_eq!(rows[0].billing_period, None);
        assert_eq!(rows[0].user, None);
    }

    #[test]
    fn set_usage_body_matches_the_capture_shape() {
        let r = SetUsageRequest::current_month(
            Uuid::from_str("49f75862-1161-46d7-bdc8-a99ce8c611bc").expect("uuid"),
            vec![
                UsageItem {
                    description: Some("CPU hours for current month".into()),
                    ..UsageItem::new("cpu", Decimal::from_str("120.50").expect("d"))
                },
                UsageItem::new("gpu", Decimal::from(4)),
            ],
        );
        assert_eq!(
            serde_json::to_value(&r).expect("json"),
            serde_json::json!({
                "resource": "49f75862116146d7bdc8a99ce8c611bc",
                "usages": [
                    {"type": "cpu", "amount": "120.50", "description": "CPU hours for current month"},
                    {"type": "gpu", "amount": "4"}
                ]
            })
        );
        assert!(r.check().is_ok());
    }

    #[test]
    fn amount_rules() {
        let d = |s| Decimal::from_str(s).expect("d");
        assert!(check_amount("cpu", d("1.25")).is_ok());
        assert!(check_amount("cpu", d("1.2500")).is_ok());
        assert!(check_amount("cpu", d("-5")).is_ok());
        assert!(check_amount("cpu", d("1.234")).is_err());
        assert!(check_amount("cpu", d("999999999999999999.99")).is_ok());
        assert!(check_amount("cpu", d("1234567890123456789")).is_err());
    }
}
