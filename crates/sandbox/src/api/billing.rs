//! Plans, plan switches and invoice items: `update_prices`, `switch_plan`, `invoice-items/`.
//! What each does, as the genuine 2024 server does it: captures pp-* and docs/plan-periods.md.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::{AppState, Caller, Ctx};
use crate::json::{dt, hex, json_response, ApiError, DrfJson, Obj};
use crate::state::*;

/// `POST /api/marketplace-plans/{uuid}/update_prices/` `{"prices": {"cpu": "0.50", ...}}`: staff
/// or the provider organisation's owner. A plan no resource uses takes the prices at once; the
/// genuine server files them as `future_price` otherwise (not modelled: refused here so that a
/// test cannot believe prices changed).
pub(crate) async fn update_prices(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    app.write(|st| {
        let plan_id = parse_uuid(&id).ok_or_else(|| ApiError::not_found("Plan"))?;
        let found = st.offerings.iter().find(|o| o.plan(&plan_id).is_some());
        let off = managed_offering(st, &u, found, "Plan")?;
        let Some(prices) = body.get("prices").and_then(Value::as_object) else {
            return Err(ApiError::field("prices", "This field is required."));
        };
        let mut invalid: Vec<&str> = prices
            .keys()
            .filter(|k| off.component(k).is_none())
            .map(String::as_str)
            .collect();
        if !invalid.is_empty() {
            invalid.sort();
            return Err(ApiError::non_field(format!(
                "Invalid components {}.",
                invalid.join(", ")
            )));
        }
        let mut parsed = Vec::new();
        for (k, v) in prices {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            match text.parse::<Decimal>() {
                Ok(d) if !d.is_sign_negative() => parsed.push((k.clone(), d)),
                _ => {
                    return Err(ApiError::Validation(
                        json!({"prices": {k: ["A valid number is required."]}}),
                    ))
                }
            }
        }
        if st.resources.iter().any(|r| r.plan == Some(plan_id)) {
            return Err(ApiError::non_field(
                "The sandbox does not model future prices: price a plan before a resource uses it.",
            ));
        }
        let offering = st
            .offerings
            .get_mut(&off.uuid)
            .ok_or_else(|| ApiError::not_found("Plan"))?;
        if let Some(plan) = offering.plans.iter_mut().find(|p| p.uuid == plan_id) {
            for (k, d) in parsed {
                plan.prices.insert(k, d);
            }
        }
        Ok(StatusCode::OK.into_response())
    })
}

/// The plan uuid of a public-offering plan URL `.../marketplace-public-offerings/<o>/plans/<p>/`.
fn plan_from_url(url: &str) -> Option<Uuid> {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let plan = parts.next()?;
    (parts.next()? == "plans").then_some(())?;
    parse_uuid(plan)
}

/// `POST /api/marketplace-resources/{uuid}/switch_plan/` `{"plan": <public plan URL>}`: an
/// Update order for the provider (`pending-provider`), answered `{"order_uuid"}`. Setting that
/// order done switches the plan (`State::switch_plan`).
pub(crate) async fn switch_plan(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let now = app.now();
    app.write(|st| {
        let r = st
            .resources
            .find(&id)
            .filter(|r| st.consumer_visible(&u, r))
            .cloned()
            .ok_or_else(|| ApiError::not_found("Resource"))?;
        let plan = match body.get("plan") {
            None | Some(Value::Null) => {
                return Err(ApiError::field("plan", "This field is required."))
            }
            Some(v) => v.as_str().and_then(plan_from_url).ok_or_else(|| {
                ApiError::field("plan", "Invalid hyperlink - Incorrect URL match.")
            })?,
        };
        let off = st
            .offerings
            .get(&r.offering)
            .ok_or_else(|| ApiError::Internal("resource without offering".into()))?;
        if off.plan(&plan).is_none() {
            return Err(ApiError::field(
                "plan",
                "Plan is not available for this offering.",
            ));
        }
        let consumer = u.is_staff
            || st.manages_project(&u, &r.project)
            || st
                .projects
                .get(&r.project)
                .is_some_and(|p| st.is_org_owner(&u, &p.org));
        if !consumer {
            return Err(ApiError::Forbidden);
        }
        let order = Uuid::new_v4();
        st.orders.push(Order {
            uuid: order,
            resource: r.uuid,
            type_: "Update".into(),
            state: "pending-provider".into(),
            plan: Some(plan),
            attributes: json!({"old_plan": r.plan.map(|p| p.simple().to_string())}),
            limits: r.limits.clone(),
            created_by: Some(u.uuid),
            created: now,
            modified: now,
            error_message: String::new(),
            error_traceback: String::new(),
            provider_rejection_comment: String::new(),
            consumer_reviewed_at: Some(now),
            consumer_reviewed_by: Some(u.uuid),
            provider_reviewed_at: None,
            provider_reviewed_by: None,
            completed_at: None,
        });
        Ok(json_response(
            StatusCode::OK,
            &json!({"order_uuid": hex(&order)}),
        ))
    })
}

/// Decimals as the invoice serializer writes them: 10 places, as a string.
fn dec10(d: &Decimal) -> Value {
    let mut d = *d;
    d.rescale(10);
    Value::String(d.to_string())
}

fn render_item(st: &State, base: &str, i: &InvoiceItem) -> Obj {
    let r = st.resources.get(&i.resource);
    let provider = st
        .offerings
        .get(&i.offering)
        .and_then(|o| st.orgs.get(&o.org));
    let resource_name = r.map(|r| r.name.clone()).unwrap_or_default();
    let invoice = crate::seed::seed_uuid(
        "invoice",
        &format!("{}/{}", i.customer.simple(), i.billing_period),
    );
    Obj::new()
        .f("invoice", format!("{base}/api/invoices/{}/", invoice.simple()))
        .f(
            "resource",
            format!("{base}/api/marketplace-resources/{}/", i.resource.simple()),
        )
        .f("uuid", hex(&i.uuid))
        .f("article_code", "")
        .f("unit_price", dec10(&i.unit_price))
        .f("unit", "quantity")
        .f("quantity", dec10(&i.quantity))
        .f("measured_unit", i.measured_unit.clone())
        .f("name", format!("{resource_name} / {}", i.component_name))
        .f("start", dt(&i.start))
        .f("end", dt(&i.end))
        .f(
            "details",
            json!({
                "plan_name": i.plan_name,
                "plan_uuid": i.plan.map(|p| p.simple().to_string()).unwrap_or_default(),
                "offering_name": st.offerings.get(&i.offering).map(|o| o.name.clone()).unwrap_or_default(),
                "offering_type": i.offering_type,
                "offering_uuid": i.offering.simple().to_string(),
                "resource_name": resource_name,
                "resource_uuid": i.resource.simple().to_string(),
                "service_provider_name": provider.map(|o| o.name.clone()).unwrap_or_default(),
                "offering_component_name": i.component_name,
                "offering_component_type": i.component,
            }),
        )
}

/// `GET /api/invoice-items/`: staff see every item; others the items of organisations they own
/// (the consumer's invoices): a service provider's token reads `[]`, without an error, as on
/// the genuine server (capture pp-11). Filters `resource_uuid`, `project_uuid`,
/// `customer_uuid`, `year`, `month`; ordered by `start`.
pub(crate) async fn invoice_items(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let resource = ctx.uuid("resource_uuid")?;
    let project = ctx.uuid("project_uuid")?;
    let customer = ctx.uuid("customer_uuid")?;
    let number = |k: &str| -> Result<Option<i64>, ApiError> {
        ctx.one(k)
            .map(|v| v.parse().map_err(|_| ApiError::field(k, "Enter a number.")))
            .transpose()
    };
    let (year, month) = (number("year")?, number("month")?);
    app.read(|st| {
        let mut items: Vec<&InvoiceItem> = st
            .invoice_items
            .iter()
            .filter(|i| u.is_staff || st.is_org_owner(&u, &i.customer))
            .filter(|i| resource.is_none_or(|r| r == i.resource))
            .filter(|i| project.is_none_or(|p| p == i.project))
            .filter(|i| customer.is_none_or(|c| c == i.customer))
            .filter(|i| {
                use chrono::Datelike;
                year.is_none_or(|y| y == i64::from(i.billing_period.year()))
                    && month.is_none_or(|m| m == i64::from(i.billing_period.month()))
            })
            .collect();
        items.sort_by_key(|i| i.start);
        ctx.paginate(items, |i| render_item(st, &ctx.base, i))
    })
}

/// `POST /api/marketplace-provider-offerings/{uuid}/create_offering_component/` `{type, name,
/// measured_unit, billing_type}`: staff or the provider organisation's owner; 201, empty. The new
/// component is in no plan (capture pp-31/pp-32): its usage is stored and never invoiced.
pub(crate) async fn create_offering_component(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    app.write(|st| {
        let found = st.offerings.find(&id);
        let off = managed_offering(st, &u, found, "Offering")?;
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let Some(type_) = text("type").filter(|t| !t.is_empty()) else {
            return Err(ApiError::field("type", "This field is required."));
        };
        if off.component(&type_).is_some() {
            return Err(ApiError::non_field(format!(
                "Component with type {type_} already exists."
            )));
        }
        let billing_type = text("billing_type").unwrap_or_else(|| "fixed".into());
        if !["fixed", "usage", "limit", "one", "few"].contains(&billing_type.as_str()) {
            return Err(ApiError::field(
                "billing_type",
                format!("\"{billing_type}\" is not a valid choice."),
            ));
        }
        let offering = st
            .offerings
            .get_mut(&off.uuid)
            .ok_or_else(|| ApiError::not_found("Offering"))?;
        offering.components.push(Component {
            uuid: Uuid::new_v4(),
            name: text("name").unwrap_or_else(|| type_.clone()),
            type_,
            description: text("description").unwrap_or_default(),
            measured_unit: text("measured_unit").unwrap_or_default(),
            billing_type,
            limit_period: None,
            limit_amount: None,
        });
        Ok(StatusCode::CREATED.into_response())
    })
}

/// The offering a price or component change addresses: 404 naming `what` when there is none,
/// 403 unless the caller is staff or an owner of the provider organisation.
fn managed_offering(
    st: &State,
    u: &User,
    found: Option<&Offering>,
    what: &str,
) -> Result<Offering, ApiError> {
    let off = found.cloned().ok_or_else(|| ApiError::not_found(what))?;
    if !(u.is_staff || st.is_org_owner(u, &off.org)) {
        return Err(ApiError::Forbidden);
    }
    Ok(off)
}

/// `POST /api/marketplace-provider-offerings/{uuid}/update_offering_component/` `{uuid, ...}`:
/// a partial update of one component (its `limit_period` and `limit_amount` among others),
/// staff or the provider organisation's owner; 200, empty. Without `uuid` 400 `{"details": ...}`,
/// an unknown one 404 with an empty body ([2024] `OfferingViewSet.update_offering_component`).
pub(crate) async fn update_offering_component(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let legacy = app.legacy_7x();
    app.write(|st| {
        let found = st.offerings.find(&id);
        let off = managed_offering(st, &u, found, "Offering")?;
        let Some(component) = body.get("uuid").and_then(Value::as_str) else {
            return Ok((
                StatusCode::BAD_REQUEST,
                axum::Json(
                    serde_json::json!({"details": "UUID for offering component was not provided."}),
                ),
            )
                .into_response());
        };
        let wanted = parse_uuid(component);
        let offering = st
            .offerings
            .get_mut(&off.uuid)
            .ok_or_else(|| ApiError::not_found("Offering"))?;
        let Some(c) = offering
            .components
            .iter_mut()
            .find(|c| Some(c.uuid) == wanted)
        else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        let periods: &[&str] = if legacy {
            &["month", "annual", "total"]
        } else {
            &["month", "quarterly", "annual", "total"]
        };
        let mut updated = c.clone();
        match body.get("limit_period") {
            None => {}
            Some(Value::Null) => updated.limit_period = None,
            Some(Value::String(p)) if p.is_empty() => updated.limit_period = None,
            Some(Value::String(p)) if periods.contains(&p.as_str()) => {
                updated.limit_period = Some(p.clone())
            }
            Some(other) => {
                let shown = other
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| other.to_string());
                return Err(ApiError::field(
                    "limit_period",
                    format!("\"{shown}\" is not a valid choice."),
                ));
            }
        }
        match body.get("limit_amount") {
            None => {}
            Some(Value::Null) => updated.limit_amount = None,
            Some(v) => match v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            {
                Some(n) => updated.limit_amount = Some(n),
                None => {
                    return Err(ApiError::field(
                        "limit_amount",
                        "A valid integer is required.",
                    ))
                }
            },
        }
        for (key, field) in [
            ("name", &mut updated.name),
            ("description", &mut updated.description),
            ("measured_unit", &mut updated.measured_unit),
        ] {
            if let Some(v) = body.get(key).and_then(Value::as_str) {
                *field = v.to_owned();
            }
        }
        *c = updated;
        Ok(StatusCode::OK.into_response())
    })
}
