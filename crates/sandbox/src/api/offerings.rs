//! Offerings (public and provider views, one handler each) and plan components.

use axum::extract::{Path, State as AxState};
use axum::response::Response;
use serde_json::{json, Value};

use super::View;
use crate::app::{AppState, Ctx, MaybeCaller};
use crate::json::{ApiError, Obj};
use crate::state::*;

fn public_visible(o: &Offering) -> bool {
    o.state == "Active" || o.state == "Paused"
}

fn filter<'a>(
    st: &'a State,
    ctx: &Ctx,
    pred: impl Fn(&Offering) -> bool,
) -> Result<Vec<&'a Offering>, ApiError> {
    let customer = ctx.uuid("customer_uuid")?;
    let states = ctx.choices(
        "state",
        &["Draft", "Active", "Paused", "Archived", "Unavailable"],
    )?;
    let type_ = ctx
        .all("type")
        .into_iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let name = ctx.one("name").map(|s| s.to_lowercase());
    let shared = ctx.boolean("shared");
    let billable = ctx.boolean("billable");
    let uuids = ctx.uuid_list("uuid_list")?;
    Ok(st
        .offerings
        .iter()
        .filter(|o| pred(o))
        .filter(|o| customer.is_none_or(|c| o.org == c))
        .filter(|o| states.is_empty() || states.contains(&o.state))
        .filter(|o| type_.is_empty() || type_.contains(&o.type_))
        .filter(|o| {
            name.as_ref()
                .is_none_or(|n| o.name.to_lowercase().contains(n))
        })
        .filter(|o| shared.is_none_or(|b| o.shared == b))
        .filter(|o| billable.is_none_or(|b| o.billable == b))
        .filter(|o| uuids.as_ref().is_none_or(|l| l.contains(&o.uuid)))
        .collect())
}

/// Who sees an offering: the public (anonymous too) the active and paused ones, a provider's
/// staff the ones they manage.
fn visible(st: &State, view: View, caller: Option<&User>, o: &Offering) -> bool {
    match (view, caller) {
        (View::Consumer, _) => public_visible(o),
        (View::Provider, Some(u)) => st.can_manage_offering(u, o),
        (View::Provider, None) => false,
    }
}

/// The caller the view needs: the provider view is for authenticated users only.
fn caller_for(view: View, caller: Option<User>) -> Result<Option<User>, ApiError> {
    match (view, caller) {
        (View::Provider, None) => Err(ApiError::NotAuthenticated),
        (_, caller) => Ok(caller),
    }
}

/// `GET /api/marketplace-public-offerings/` and `GET /api/marketplace-provider-offerings/`
pub(crate) async fn list(
    AxState(app): AxState<AppState>,
    view: View,
    MaybeCaller(caller): MaybeCaller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let caller = caller_for(view, caller)?;
    app.read_view(&ctx, |v| {
        let st = v.st;
        let rows = filter(st, &ctx, |o| visible(st, view, caller.as_ref(), o))?;
        ctx.paginate(rows, |o| v.offering(o, view == View::Provider))
    })
}

/// `GET .../{uuid}/` of either view.
pub(crate) async fn get(
    AxState(app): AxState<AppState>,
    view: View,
    MaybeCaller(caller): MaybeCaller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller_for(view, caller)?;
    app.read_view(&ctx, |v| {
        let st = v.st;
        let o = st
            .offerings
            .find(&id)
            .filter(|o| visible(st, view, caller.as_ref(), o))
            .ok_or_else(|| ApiError::not_found("Offering"))?;
        Ok(ctx.one_obj(v.offering(o, view == View::Provider)))
    })
}

/// `GET /api/marketplace-plan-components/`
pub(crate) async fn plan_components(
    AxState(app): AxState<AppState>,
    MaybeCaller(_u): MaybeCaller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let offering = ctx.uuid("offering_uuid")?;
    let plan = ctx.uuid("plan_uuid")?;
    let shared = ctx.boolean("shared");
    let legacy = app.legacy_7x();
    app.read(|st| {
        let mut rows: Vec<(&Offering, &Plan, &Component)> = Vec::new();
        for o in st.offerings.iter().filter(|o| public_visible(o)) {
            if offering.is_some_and(|x| x != o.uuid) || shared.is_some_and(|b| b != o.shared) {
                continue;
            }
            for p in o.plans.iter().filter(|p| plan.is_none_or(|x| x == p.uuid)) {
                for c in &o.components {
                    rows.push((o, p, c));
                }
            }
        }
        ctx.paginate(rows, |(o, p, c)| {
            let price = p
                .prices
                .get(&c.type_)
                .map(|d| d.to_string())
                .unwrap_or_else(|| "0".into());
            let obj = Obj::new()
                .f("offering_uuid", crate::json::hex(&o.uuid))
                .f("offering_name", o.name.clone())
                .f("plan_uuid", crate::json::hex(&p.uuid))
                .f("plan_name", p.name.clone())
                .f("plan_unit", "month")
                .f("component_name", c.name.clone())
                .f("measured_unit", c.measured_unit.clone())
                .f("billing_type", c.billing_type.clone())
                .f("amount", 0)
                .f("price", price)
                .f("future_price", Value::Null)
                .f("discount_threshold", Value::Null)
                .f("discount_rate", Value::Null);
            let _ = legacy;
            let _ = json!(null);
            obj
        })
    })
}
