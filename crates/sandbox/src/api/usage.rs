//! Component usage: set_usage, the usage lists, per-user usages.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::app::{AppState, Caller, Ctx};
use crate::json::{ApiError, DrfJson};
use crate::state::*;

/// DRF/Django datetime parsing: ISO 8601 with offset or `Z`, naive (= UTC), or a bare date.
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, fmt) {
            return Some(d.with_timezone(&Utc));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

const DATETIME_FORMAT_ERROR: &str =
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";

/// DRF `DecimalField(max_digits=20, decimal_places=2)`.
pub(crate) fn parse_amount(v: &Value) -> Result<Decimal, String> {
    let invalid = || "A valid number is required.".to_string();
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Err("This field may not be null.".into()),
        _ => return Err(invalid()),
    };
    if text.len() > 1000 {
        return Err("String value too large.".into());
    }
    let (neg, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let (mant, exp) = match rest.find(['e', 'E']) {
        Some(i) => (
            &rest[..i],
            rest[i + 1..].parse::<i64>().map_err(|_| invalid())?,
        ),
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mant.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mant, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.chars().all(|c| c.is_ascii_digit())
        || !frac_part.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid());
    }
    let all_digits = format!("{int_part}{frac_part}");
    let digits = all_digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let exponent = exp - frac_part.len() as i64;
    let n = digits.len() as i64;
    let (total, whole, places) = if exponent >= 0 {
        (n + exponent, n + exponent, 0)
    } else if n > -exponent {
        (n, n + exponent, -exponent)
    } else {
        (-exponent, 0, -exponent)
    };
    if total > 20 {
        return Err("Ensure that there are no more than 20 digits in total.".into());
    }
    if places > 2 {
        return Err("Ensure that there are no more than 2 decimal places.".into());
    }
    if whole > 18 {
        return Err(
            "Ensure that there are no more than 18 digits before the decimal point.".into(),
        );
    }
    let mut m: i128 = digits.parse().map_err(|_| invalid())?;
    if exponent > 0 {
        m *= 10i128.pow(exponent as u32);
    }
    if neg {
        m = -m;
    }
    let mut d = Decimal::try_from_i128_with_scale(m, places as u32).map_err(|_| invalid())?;
    d.rescale(2);
    Ok(d)
}

fn char_field(
    v: Option<&Value>,
    required: bool,
    allow_blank: bool,
    max: Option<usize>,
) -> Result<Option<String>, String> {
    match v {
        None if required => Err("This field is required.".into()),
        None => Ok(None),
        Some(Value::Null) => Err("This field may not be null.".into()),
        Some(Value::String(s)) => {
            if s.trim().is_empty() && !allow_blank {
                return Err("This field may not be blank.".into());
            }
            if max.is_some_and(|m| s.chars().count() > m) {
                return Err(format!(
                    "Ensure this field has no more than {} characters.",
                    max.unwrap_or(0)
                ));
            }
            Ok(Some(s.trim().to_string()))
        }
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err("Not a valid string.".into()),
    }
}

fn bool_field(v: Option<&Value>) -> Result<Option<bool>, String> {
    match v {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Null) => Err("This field may not be null.".into()),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
        Some(Value::String(s)) => match s.to_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" | "t" => Ok(Some(true)),
            "false" | "0" | "no" | "n" | "off" | "f" => Ok(Some(false)),
            _ => Err("Must be a valid boolean.".into()),
        },
        Some(_) => Err("Must be a valid boolean.".into()),
    }
}

/// The optional `date` of a usage report (backfilling), which only the newer generation reads:
/// `None` when absent or null, and always on the older generation.
fn report_date(v: Option<&Value>, legacy: bool) -> Result<Option<DateTime<Utc>>, &'static str> {
    match v {
        _ if legacy => Ok(None),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_datetime(s).map(Some).ok_or(DATETIME_FORMAT_ERROR),
        Some(_) => Err(DATETIME_FORMAT_ERROR),
    }
}

/// Resolve a related object given by uuid (32-hex or hyphenated) or by its URL.
fn related_uuid(v: &Value) -> Result<Option<Uuid>, &'static str> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(uuid_of_url(s)),
        _ => Err("Invalid value."),
    }
}

/// The row of `table` a related field names (uuid or URL), or the field's error as DRF words it.
fn related_row<'a, T: Keyed>(table: &'a Table<T>, v: &Value) -> Result<&'a T, String> {
    match related_uuid(v) {
        Err(m) => Err(m.to_owned()),
        Ok(id) => id
            .and_then(|id| table.get(&id))
            .ok_or_else(|| format!("Object with uuid={} does not exist.", value_text(v))),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Item {
    type_: String,
    amount: Decimal,
    description: String,
    recurring: bool,
}

fn err_map(errors: Map<String, Value>) -> ApiError {
    ApiError::Validation(Value::Object(errors))
}

/// The `date` rules of SEMANTICS.md §3 (shared by set_usage and the per-user variants).
fn check_date(
    st: &State,
    user: &User,
    offering: &Offering,
    date: &DateTime<Utc>,
    now: &DateTime<Utc>,
    all_limit: bool,
) -> Result<(), ApiError> {
    if date > now {
        return Err(ApiError::field(
            "date",
            "Cannot submit usage for future dates. Date must be current date or earlier.",
        ));
    }
    if user.is_staff {
        return Ok(());
    }
    if st.can_set_usage_org(user, offering) {
        if month_start(date) == month_start(now) || all_limit {
            return Ok(());
        }
        return Err(ApiError::field(
            "date",
            "Service providers can only specify date for limit-based billing components when backfilling past billing periods.",
        ));
    }
    Err(ApiError::field(
        "date",
        "Only staff users and service providers can specify date for backfilling.",
    ))
}

/// Sum of the usages a `limit_period` covers (SEMANTICS.md §4, quirks included).
fn limit_total(st: &State, resource: &Uuid, c: &Component, when: &DateTime<Utc>) -> Decimal {
    let month_instant = month_start_instant(when);
    st.usages
        .iter()
        .filter(|u| &u.resource == resource && u.type_ == c.type_)
        .filter(|u| match c.limit_period.as_deref() {
            Some("month") => u.date == month_instant,
            Some("annual") => chrono::Datelike::year(&u.date) == chrono::Datelike::year(when),
            _ => true,
        })
        .map(|u| u.usage)
        .sum()
}

/// `POST /api/marketplace-component-usages/set_usage/`
pub(crate) async fn set_usage(
    AxState(app): AxState<AppState>,
    Caller(user): Caller,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let now = app.now();
    let legacy = app.legacy_7x();
    app.write(|st| {
        let obj = match &body {
            Value::Object(m) => m.clone(),
            other => {
                let kind = match other {
                    Value::Array(_) => "list",
                    Value::String(_) => "str",
                    Value::Number(_) => "int",
                    Value::Bool(_) => "bool",
                    _ => "NoneType",
                };
                return Err(ApiError::non_field(format!("Invalid data. Expected a dictionary, but got {kind}.")));
            }
        };
        // 1. field parsing (all field errors are reported together)
        let mut errors = Map::new();
        let mut plan_period: Option<PlanPeriod> = None;
        if let Some(v) = obj.get("plan_period").filter(|v| !v.is_null()) {
            match related_row(&st.plan_periods, v) {
                Err(m) => {
                    errors.insert("plan_period".into(), json!([m]));
                }
                Ok(pp) if pp.end.is_some_and(|e| e < month_start_instant(&now)) => {
                    errors.insert("plan_period".into(), json!(["Billing period is closed."]));
                }
                Ok(pp) => plan_period = Some(pp.clone()),
            }
        }
        let mut resource: Option<Resource> = None;
        if let Some(v) = obj.get("resource").filter(|v| !v.is_null()) {
            match related_row(&st.resources, v) {
                Err(m) => {
                    errors.insert("resource".into(), json!([m]));
                }
                Ok(r) => resource = Some(r.clone()),
            }
        }
        let date = report_date(obj.get("date"), legacy)
            .map_err(|x| errors.insert("date".into(), json!([x])))
            .ok()
            .flatten();
        let mut items = Vec::new();
        match obj.get("usages") {
            None => {
                errors.insert("usages".into(), json!(["This field is required."]));
            }
            Some(Value::Null) => {
                errors.insert("usages".into(), json!(["This field may not be null."]));
            }
            Some(Value::Array(list)) => {
                let mut item_errors = Vec::new();
                let mut any = false;
                for it in list {
                    let mut e = Map::new();
                    let Value::Object(m) = it else {
                        let kind = if it.is_string() { "str" } else if it.is_number() { "int" } else if it.is_array() { "list" } else { "NoneType" };
                        item_errors.push(json!({"non_field_errors": [format!("Invalid data. Expected a dictionary, but got {kind}.")]}));
                        any = true;
                        continue;
                    };
                    let type_ = char_field(m.get("type"), true, false, None).map_err(|x| e.insert("type".into(), json!([x]))).ok().flatten();
                    let amount = match m.get("amount") {
                        None => {
                            e.insert("amount".into(), json!(["This field is required."]));
                            None
                        }
                        Some(v) => parse_amount(v).map_err(|x| e.insert("amount".into(), json!([x]))).ok(),
                    };
                    let description = char_field(m.get("description"), false, true, None).map_err(|x| e.insert("description".into(), json!([x]))).ok().flatten();
                    let mut recurring = bool_field(m.get("recurring")).map_err(|x| e.insert("recurring".into(), json!([x]))).ok().flatten();
                    if !legacy {
                        match m.get("missing_usage_policy") {
                            None | Some(Value::Null) => {}
                            Some(Value::String(p)) if p == "reuse" => recurring = Some(true),
                            Some(Value::String(p)) if p == "none" || p == "zero" => {}
                            Some(v) => {
                                e.insert("missing_usage_policy".into(), json!([format!("\"{}\" is not a valid choice.", value_text(v))]));
                            }
                        }
                    }
                    if e.is_empty() {
                        items.push(Item {
                            type_: type_.unwrap_or_default(),
                            amount: amount.unwrap_or_default(),
                            description: description.unwrap_or_default(),
                            recurring: recurring.unwrap_or(false),
                        });
                        item_errors.push(json!({}));
                    } else {
                        any = true;
                        item_errors.push(Value::Object(e));
                    }
                }
                if any {
                    errors.insert("usages".into(), Value::Array(item_errors));
                }
            }
            Some(other) => {
                let kind = if other.is_object() { "dict" } else if other.is_string() { "str" } else { "int" };
                errors.insert("usages".into(), json!({"non_field_errors": [format!("Expected a list of items but got type \"{kind}\".")]}));
            }
        }
        if !errors.is_empty() {
            return Err(err_map(errors));
        }
        // 2. object-level validation
        let resource = match (&plan_period, resource) {
            (Some(pp), _) => st.resources.get(&pp.resource).cloned().ok_or_else(|| ApiError::non_field("Either plan_period or resource should be provided."))?,
            (None, Some(r)) => r,
            (None, None) => return Err(ApiError::non_field("Either plan_period or resource should be provided.")),
        };
        if !legacy && resource.plan.is_none() {
            return Err(ApiError::field("resource", "Resource must have a plan to report usage."));
        }
        if !["OK", "Updating", "Terminating"].contains(&resource.state.as_str()) {
            return Err(ApiError::field("resource", "Resource is not in valid state."));
        }
        let offering = st.offerings.get(&resource.offering).cloned().ok_or_else(|| ApiError::Internal("resource without offering".into()))?;
        let mut invalid: Vec<String> = items
            .iter()
            .filter(|i| !offering.component(&i.type_).is_some_and(|c| c.billing_type == "usage" || c.billing_type == "limit"))
            .map(|i| i.type_.clone())
            .collect();
        if !invalid.is_empty() {
            invalid.sort();
            invalid.dedup();
            return Err(ApiError::non_field(format!("These components are invalid: {}.", invalid.join(", "))));
        }
        if let Some(d) = &date {
            let all_limit = items.iter().all(|i| offering.component(&i.type_).is_some_and(|c| c.billing_type == "limit"));
            check_date(st, &user, &offering, d, &now, all_limit)?;
        }
        // 3. permission, after validation
        if !st.can_set_usage(&user, &offering) {
            return Err(ApiError::Forbidden);
        }
        // 4. save, item by item in the request's order, each checked against its component's
        // cap just before it is written: a refusal leaves the items before it written and
        // `current_usages` as it was (the genuine 2024 server, `ComponentUsageCreateSerializer.
        // save`, is not atomic here: tests/real_waldur.rs push_over_the_components_limit)
        let when = date.unwrap_or(now);
        let period = month_start(&when);
        let pp = match &plan_period {
            Some(p) => Some(p.uuid),
            None => st.plan_period_at(&resource.uuid, &when),
        };
        let mut current = std::collections::BTreeMap::new();
        for it in items {
            if let Some(c) = offering.component(&it.type_) {
                if let (true, Some(_), Some(limit)) = (c.billing_type == "usage", &c.limit_period, c.limit_amount) {
                    let total = limit_total(st, &resource.uuid, c, &when) + it.amount;
                    if total > Decimal::from(limit) {
                        // an answer, not an error: what was written before it stays (and is persisted)
                        return Ok(ApiError::Validation(json!([format!("Total amount exceeds limit. Total amount: {total}, limit: {limit}.")])).into_response());
                    }
                }
            }
            current.insert(it.type_.clone(), it.amount.to_string());
            // The older generation keys rows by plan period too; both run the invoice step.
            let (row, changed) = st.upsert_usage_keyed(ComponentUsage {
                uuid: Uuid::new_v4(),
                resource: resource.uuid,
                type_: it.type_,
                billing_period: period,
                usage: it.amount,
                date: when,
                created: now,
                modified: now,
                description: it.description,
                recurring: it.recurring,
                plan_period: pp,
                modified_by: Some(user.id),
            }, legacy);
            st.invoice_usage(row, changed);
        }
        if let Some(r) = st.resources.get_mut(&resource.uuid) {
            r.current_usages = current;
        }
        Ok(StatusCode::CREATED.into_response())
    })
}

fn date_filter(ctx: &Ctx, key: &str) -> Result<Option<NaiveDate>, ApiError> {
    match ctx.one(key) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| ApiError::field(key, "Enter a valid date.")),
    }
}

fn int_filter(ctx: &Ctx, key: &str) -> Result<Option<i64>, ApiError> {
    match ctx.one(key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::field(key, "Enter a number.")),
    }
}

/// Filters shared by the two usage lists, applied to a (component usage, resource) pair.
struct UsageFilter {
    resource: Option<Uuid>,
    offering: Option<Uuid>,
    project: Option<Uuid>,
    customer: Option<Uuid>,
    type_: Option<String>,
    billing_period: Option<NaiveDate>,
    year: Option<i64>,
    month: Option<i64>,
    date_after: Option<NaiveDate>,
    date_before: Option<NaiveDate>,
}

impl UsageFilter {
    fn from_ctx(ctx: &Ctx, period_key: &str) -> Result<Self, ApiError> {
        Ok(UsageFilter {
            resource: ctx.uuid_or_url("resource")?,
            offering: ctx.uuid("offering_uuid")?,
            project: ctx.uuid("project_uuid")?,
            customer: ctx.uuid("customer_uuid")?,
            type_: ctx.one("type").map(|s| s.to_string()),
            billing_period: date_filter(ctx, period_key)?,
            year: int_filter(ctx, "billing_period_year")?,
            month: int_filter(ctx, "billing_period_month")?,
            date_after: date_filter(ctx, "date_after")?,
            date_before: date_filter(ctx, "date_before")?,
        })
    }

    fn matches(&self, st: &State, u: &ComponentUsage, date: &DateTime<Utc>) -> bool {
        use chrono::Datelike;
        let r = st.resources.get(&u.resource);
        let project = r.and_then(|r| st.projects.get(&r.project));
        self.resource.is_none_or(|x| x == u.resource)
            && self
                .offering
                .is_none_or(|x| r.is_some_and(|r| r.offering == x))
            && self
                .project
                .is_none_or(|x| r.is_some_and(|r| r.project == x))
            && self
                .customer
                .is_none_or(|x| project.is_some_and(|p| p.org == x))
            && self.type_.as_ref().is_none_or(|x| x == &u.type_)
            && self.billing_period.is_none_or(|x| x == u.billing_period)
            && self
                .year
                .is_none_or(|x| x == i64::from(u.billing_period.year()))
            && self
                .month
                .is_none_or(|x| x == i64::from(u.billing_period.month()))
            && self.date_after.is_none_or(|x| date.date_naive() >= x)
            && self.date_before.is_none_or(|x| date.date_naive() <= x)
    }
}

/// `GET /api/marketplace-component-usages/`
pub(crate) async fn list_usages(
    AxState(app): AxState<AppState>,
    Caller(_user): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let f = UsageFilter::from_ctx(&ctx, "billing_period")?;
    app.read_view(&ctx, |v| {
        let st = v.st;
        let mut rows: Vec<&ComponentUsage> = st
            .usages
            .iter()
            .filter(|u| f.matches(st, u, &u.date))
            .collect();
        rows.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.type_.cmp(&b.type_)));
        for (key, desc) in ctx.ordering().into_iter().rev() {
            match key.as_str() {
                "billing_period" => rows.sort_by(|a, b| {
                    if desc {
                        b.billing_period.cmp(&a.billing_period)
                    } else {
                        a.billing_period.cmp(&b.billing_period)
                    }
                }),
                "usage" => rows.sort_by(|a, b| {
                    if desc {
                        b.usage.cmp(&a.usage)
                    } else {
                        a.usage.cmp(&b.usage)
                    }
                }),
                _ => {}
            }
        }
        ctx.paginate(rows, |u| v.usage(u))
    })
}

/// `GET /api/marketplace-component-usages/{uuid}/`
pub(crate) async fn get_usage(
    AxState(app): AxState<AppState>,
    Caller(_u): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.read_view(&ctx, |v| {
        let st = v.st;
        let u = st
            .usages
            .find(&id)
            .ok_or_else(|| ApiError::not_found("ComponentUsage"))?;
        Ok(ctx.one_obj(v.usage(u)))
    })
}

struct UserItem {
    username: String,
    usage: Decimal,
    user: Option<Uuid>,
    date: Option<DateTime<Utc>>,
}

fn parse_user_item(st: &State, v: &Value, legacy: bool) -> Result<UserItem, Map<String, Value>> {
    let mut e = Map::new();
    let Value::Object(m) = v else {
        e.insert(
            "non_field_errors".into(),
            json!(["Invalid data. Expected a dictionary, but got str."]),
        );
        return Err(e);
    };
    let username = char_field(m.get("username"), true, false, Some(100))
        .map_err(|x| e.insert("username".into(), json!([x])))
        .ok()
        .flatten();
    let usage = match m.get("usage") {
        None => {
            e.insert("usage".into(), json!(["This field is required."]));
            None
        }
        Some(v) => parse_amount(v)
            .map_err(|x| e.insert("usage".into(), json!([x])))
            .ok(),
    };
    let mut user = None;
    if let Some(v) = m.get("user").filter(|v| !v.is_null()) {
        match related_uuid(v)
            .ok()
            .flatten()
            .filter(|id| st.offering_users.get(id).is_some())
        {
            Some(id) => user = Some(id),
            None => {
                e.insert(
                    "user".into(),
                    json!(["Invalid hyperlink - Object does not exist."]),
                );
            }
        }
    }
    let date = report_date(m.get("date"), legacy)
        .map_err(|x| e.insert("date".into(), json!([x])))
        .ok()
        .flatten();
    if !e.is_empty() {
        return Err(e);
    }
    Ok(UserItem {
        username: username.unwrap_or_default(),
        usage: usage.unwrap_or_default(),
        user,
        date,
    })
}

fn apply_user_items(
    app: &AppState,
    user: &User,
    id: &str,
    items: Vec<Value>,
    bulk: bool,
) -> Result<Response, ApiError> {
    let now = app.now();
    let legacy = app.legacy_7x();
    app.write(|st| {
        let parent = st
            .usages
            .find(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("ComponentUsage"))?;
        let mut parsed = Vec::new();
        let mut errs = Vec::new();
        let mut any = false;
        for it in &items {
            match parse_user_item(st, it, legacy) {
                Ok(x) => {
                    parsed.push(x);
                    errs.push(json!({}));
                }
                Err(e) => {
                    any = true;
                    errs.push(Value::Object(e));
                }
            }
        }
        if any {
            if bulk {
                return Err(ApiError::Validation(json!({ "usages": errs })));
            }
            return Err(ApiError::Validation(
                errs.into_iter().next().unwrap_or(json!({})),
            ));
        }
        let resource = st
            .resources
            .get(&parent.resource)
            .cloned()
            .ok_or_else(|| ApiError::not_found("ComponentUsage"))?;
        let offering = st
            .offerings
            .get(&resource.offering)
            .cloned()
            .ok_or_else(|| ApiError::not_found("ComponentUsage"))?;
        let is_limit = offering
            .component(&parent.type_)
            .is_some_and(|c| c.billing_type == "limit");
        for it in &parsed {
            if let Some(d) = &it.date {
                check_date(st, user, &offering, d, &now, is_limit)?;
            }
        }
        if !st.can_set_usage(user, &offering) {
            return Err(ApiError::Forbidden);
        }
        for it in parsed {
            // Re-target to the month of `date`, creating the parent usage if needed.
            let target = match &it.date {
                Some(d) if month_start(d) != parent.billing_period => {
                    let period = month_start(d);
                    match st.usage_for(&parent.resource, &parent.type_, period) {
                        Some(u) => u.uuid,
                        None => {
                            let pp = st.plan_period_at(&parent.resource, d);
                            st.upsert_usage(ComponentUsage {
                                uuid: Uuid::new_v4(),
                                resource: parent.resource,
                                type_: parent.type_.clone(),
                                billing_period: period,
                                usage: Decimal::new(0, 2),
                                date: *d,
                                created: now,
                                modified: now,
                                description: "Created for user usage backfill".into(),
                                recurring: false,
                                plan_period: pp,
                                modified_by: Some(user.id),
                            })
                        }
                    }
                }
                _ => parent.uuid,
            };
            let existing = st
                .user_usages
                .iter()
                .find(|x| x.component_usage == target && x.username == it.username)
                .map(|x| x.uuid);
            match existing.and_then(|id| st.user_usages.get_mut(&id)) {
                Some(x) => {
                    x.usage = it.usage;
                    x.modified = now;
                    x.date = it.date.unwrap_or(now);
                    if it.user.is_some() {
                        x.user = it.user;
                    }
                }
                None => st.user_usages.push(UserUsage {
                    uuid: Uuid::new_v4(),
                    component_usage: target,
                    username: it.username,
                    user: it.user,
                    usage: it.usage,
                    description: String::new(),
                    backend_id: String::new(),
                    date: it.date.unwrap_or(now),
                    created: now,
                    modified: now,
                }),
            }
            let sum: Decimal = st
                .user_usages
                .iter()
                .filter(|x| x.component_usage == target)
                .map(|x| x.usage)
                .sum();
            if let Some(p) = st.usages.get_mut(&target) {
                if p.usage.is_zero() && sum > Decimal::ZERO {
                    let mut s = sum;
                    s.rescale(2);
                    p.usage = s;
                }
            }
        }
        Ok(StatusCode::CREATED.into_response())
    })
}

/// `POST /api/marketplace-component-usages/{uuid}/set_user_usage/`
pub(crate) async fn set_user_usage(
    AxState(app): AxState<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    apply_user_items(&app, &user, &id, vec![body], false)
}

/// `POST /api/marketplace-component-usages/{uuid}/set_user_usages/`
pub(crate) async fn set_user_usages(
    AxState(app): AxState<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let exists = app.read(|st| st.usages.find(&id).is_some());
    if !exists {
        return Err(ApiError::not_found("ComponentUsage"));
    }
    let items = match body.get("usages") {
        None => return Err(ApiError::field("usages", "This field is required.")),
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::field(
                "usages",
                "At least one usage item is required.",
            ))
        }
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(ApiError::Validation(
                json!({"usages": {"non_field_errors": ["Expected a list of items but got type \"dict\"."]}}),
            ))
        }
    };
    apply_user_items(&app, &user, &id, items, true)
}

/// `GET /api/marketplace-component-user-usages/`
pub(crate) async fn list_user_usages(
    AxState(app): AxState<AppState>,
    Caller(_u): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let f = UsageFilter::from_ctx(&ctx, "component_usage__billing_period")?;
    let username = ctx.one("username").map(|s| s.to_string());
    app.read_view(&ctx, |v| {
        let st = v.st;
        let mut rows: Vec<&UserUsage> = st
            .user_usages
            .iter()
            .filter(|x| username.as_ref().is_none_or(|n| n == &x.username))
            .filter(|x| {
                st.usages
                    .get(&x.component_usage)
                    .is_some_and(|u| f.matches(st, u, &x.date))
            })
            .collect();
        rows.sort_by(|a, b| {
            b.date
                .cmp(&a.date)
                .then_with(|| a.username.cmp(&b.username))
        });
        ctx.paginate(rows, |x| v.user_usage(x))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_follow_drf_decimal_rules() {
        assert_eq!(
            parse_amount(&json!("120.50")).unwrap().to_string(),
            "120.50"
        );
        assert_eq!(parse_amount(&json!("4")).unwrap().to_string(), "4.00");
        assert_eq!(parse_amount(&json!(12.5)).unwrap().to_string(), "12.50");
        assert_eq!(parse_amount(&json!(0)).unwrap().to_string(), "0.00");
        assert_eq!(parse_amount(&json!("-5")).unwrap().to_string(), "-5.00");
        assert_eq!(parse_amount(&json!("1e3")).unwrap().to_string(), "1000.00");
        assert_eq!(
            parse_amount(&json!("1.234")).unwrap_err(),
            "Ensure that there are no more than 2 decimal places."
        );
        assert_eq!(
            parse_amount(&json!(0.30000000000000004)).unwrap_err(),
            "Ensure that there are no more than 2 decimal places."
        );
        assert_eq!(
            parse_amount(&json!("123456789012345678901")).unwrap_err(),
            "Ensure that there are no more than 20 digits in total."
        );
        assert_eq!(
            parse_amount(&json!("1234567890123456789")).unwrap_err(),
            "Ensure that there are no more than 18 digits before the decimal point."
        );
        assert_eq!(
            parse_amount(&json!("abc")).unwrap_err(),
            "A valid number is required."
        );
        assert_eq!(
            parse_amount(&json!("NaN")).unwrap_err(),
            "A valid number is required."
        );
    }

    #[test]
    fn datetimes_like_django() {
        assert!(parse_datetime("2026-10-01").is_some());
        assert!(parse_datetime("2026-10-01T10:00:00Z").is_some());
        assert!(parse_datetime("2026-10-01T10:00:00.123456+02:00").is_some());
        assert!(parse_datetime("2026-10-01T10:00").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }
}
