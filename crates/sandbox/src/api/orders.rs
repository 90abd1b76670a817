//! Orders: list, retrieve and the provider/consumer transitions with their 409s.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::app::{AppState, Caller, Ctx};
use crate::json::{json_response, ApiError, DrfJson};
use crate::state::*;

fn offering_of<'a>(st: &'a State, o: &Order) -> Option<&'a Offering> {
    st.resources
        .get(&o.resource)
        .and_then(|r| st.offerings.get(&r.offering))
}

fn provider_can(st: &State, u: &User, o: &Order) -> bool {
    offering_of(st, o).is_some_and(|off| st.can_manage_offering(u, off))
}

fn consumer_can(st: &State, u: &User, o: &Order) -> bool {
    u.is_staff
        || st
            .resources
            .get(&o.resource)
            .is_some_and(|r| st.manages_project(u, &r.project))
}

fn visible(st: &State, u: &User, o: &Order) -> bool {
    u.is_staff
        || provider_can(st, u, o)
        || st
            .resources
            .get(&o.resource)
            .is_some_and(|r| st.project_role(u, &r.project).is_some())
}

pub(crate) async fn list(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let offering = ctx.uuid("offering_uuid")?;
    let provider = ctx.uuid("provider_uuid")?;
    let customer = ctx.uuid("customer_uuid")?;
    let project = ctx.uuid("project_uuid")?;
    let resource = ctx.uuid("resource_uuid")?;
    let states = ctx.choices("state", ORDER_STATES)?;
    let types = ctx.choices("type", ORDER_TYPES)?;
    let as_provider = ctx.boolean("can_approve_as_provider");
    let as_consumer = ctx.boolean("can_approve_as_consumer");
    let query = ctx.one("query").map(|s| s.to_lowercase());
    app.read_view(&ctx, |v| {
        let st = v.st;
        let mut rows: Vec<&Order> = st
            .orders
            .iter()
            .filter(|o| visible(st, &u, o))
            .filter(|o| {
                let r = st.resources.get(&o.resource);
                let off = offering_of(st, o);
                offering.is_none_or(|x| off.is_some_and(|f| f.uuid == x))
                    && provider.is_none_or(|x| off.is_some_and(|f| f.org == x))
                    && customer.is_none_or(|x| {
                        r.and_then(|r| st.projects.get(&r.project))
                            .is_some_and(|p| p.org == x)
                    })
                    && project.is_none_or(|x| r.is_some_and(|r| r.project == x))
                    && resource.is_none_or(|x| o.resource == x)
                    && (states.is_empty() || states.contains(&o.state))
                    && (types.is_empty() || types.contains(&o.type_))
                    && as_provider.is_none_or(|b| {
                        (o.state == "pending-provider" && provider_can(st, &u, o)) == b
                    })
                    && as_consumer.is_none_or(|b| {
                        (o.state == "pending-consumer" && consumer_can(st, &u, o)) == b
                    })
                    && query
                        .as_ref()
                        .is_none_or(|q| r.is_some_and(|r| r.name.to_lowercase().contains(q)))
            })
            .collect();
        rows.sort_by_key(|o| std::cmp::Reverse(o.created));
        for (key, desc) in ctx.ordering().into_iter().rev() {
            match key.as_str() {
                "created" => rows.sort_by_key(|a| a.created),
                "state" => rows.sort_by(|a, b| a.state.cmp(&b.state)),
                _ => continue,
            }
            if desc {
                rows.reverse();
            }
        }
        ctx.paginate(rows, |o| v.order(o))
    })
}

fn find<'a>(st: &'a State, u: &User, id: &str) -> Result<&'a Order, ApiError> {
    st.orders
        .find(id)
        .filter(|o| visible(st, u, o))
        .ok_or_else(|| ApiError::not_found("Order"))
}

pub(crate) async fn retrieve(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.read_view(&ctx, |v| {
        let st = v.st;
        let o = find(st, &u, &id)?;
        Ok(ctx.one_obj(v.order(o)))
    })
}

#[derive(Clone, Copy)]
enum Side {
    Provider,
    Consumer,
}

/// 404 (not visible) → 403 (no permission) → 409 (wrong state) → transition.
fn transition(
    app: &AppState,
    u: &User,
    id: &str,
    side: Side,
    allowed: &[&str],
    act: impl FnOnce(&mut State, uuid::Uuid, DateTime<Utc>) -> Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let now = app.now();
    app.write(|st| {
        let o = find(st, u, id)?;
        let ok = match side {
            Side::Provider => provider_can(st, u, o),
            Side::Consumer => consumer_can(st, u, o),
        };
        if !ok {
            return Err(ApiError::Forbidden);
        }
        if !allowed.contains(&o.state.as_str()) {
            return Err(ApiError::Conflict(format!(
                "Valid states for operation: {}.",
                allowed.join(", ")
            )));
        }
        let oid = o.uuid;
        act(st, oid, now)
    })
}

/// The order `oid` moved to `state` at `now` (the transition has found it).
fn order_mut<'a>(
    st: &'a mut State,
    oid: &uuid::Uuid,
    state: &str,
    now: DateTime<Utc>,
) -> Result<&'a mut Order, ApiError> {
    let o = st
        .orders
        .get_mut(oid)
        .ok_or_else(|| ApiError::not_found("Order"))?;
    o.state = state.into();
    o.modified = now;
    Ok(o)
}

/// A Create order that ends without being done ends its resource too (`Terminated` when rejected
/// or canceled, `Erred` on error): the resource the order `oid` created, now `state`; `None` for
/// an order of another type.
fn settle_created_resource(
    st: &mut State,
    oid: &uuid::Uuid,
    state: &str,
    now: DateTime<Utc>,
) -> Option<uuid::Uuid> {
    let (rid, create) = st
        .orders
        .get(oid)
        .map(|o| (o.resource, o.type_ == "Create"))?;
    create.then(|| {
        set_resource_state(st, &rid, state, now);
        rid
    })
}

fn set_resource_state(st: &mut State, rid: &uuid::Uuid, state: &str, now: DateTime<Utc>) {
    if let Some(r) = st.resources.get_mut(rid) {
        r.state = state.to_string();
        r.modified = now;
    }
    match state {
        "OK" => st.open_plan_period(rid, now),
        "Terminated" => st.close_plan_periods(rid, now),
        _ => {}
    }
}

pub(crate) async fn approve_by_provider(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    _body: DrfJson,
) -> Result<Response, ApiError> {
    let legacy = app.legacy_7x();
    let uid = u.uuid;
    transition(
        &app,
        &u,
        &id,
        Side::Provider,
        &["pending-provider"],
        |st, oid, now| {
            let o = order_mut(st, &oid, "executing", now)?;
            o.provider_reviewed_at = Some(now);
            o.provider_reviewed_by = Some(uid);
            if legacy {
                Ok(StatusCode::OK.into_response())
            } else {
                Ok(json_response(
                    StatusCode::OK,
                    &json!({"detail": "Order has been approved."}),
                ))
            }
        },
    )
}

pub(crate) async fn reject_by_provider(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    // The older generation reads no body here: the comment is dropped.
    let comment = if app.legacy_7x() {
        String::new()
    } else {
        body.get("provider_rejection_comment")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let uid = u.uuid;
    transition(
        &app,
        &u,
        &id,
        Side::Provider,
        &["pending-provider"],
        |st, oid, now| {
            let o = order_mut(st, &oid, "rejected", now)?;
            o.provider_reviewed_at = Some(now);
            o.provider_reviewed_by = Some(uid);
            o.provider_rejection_comment = comment;
            settle_created_resource(st, &oid, "Terminated", now);
            Ok(StatusCode::OK.into_response())
        },
    )
}

pub(crate) async fn cancel(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(
        &app,
        &u,
        &id,
        Side::Consumer,
        &["pending-consumer", "pending-provider", "executing"],
        |st, oid, now| {
            let o = st
                .orders
                .get(&oid)
                .ok_or_else(|| ApiError::not_found("Order"))?;
            let type_ = offering_of(st, o)
                .map(|f| f.type_.clone())
                .unwrap_or_default();
            if type_ != "Marketplace.Basic" && type_ != "Support.OfferingTemplate" {
                return Err(ApiError::Conflict(
                    "Order cancellation is supported only for basic and support offerings.".into(),
                ));
            }
            order_mut(st, &oid, "canceled", now)?;
            settle_created_resource(st, &oid, "Terminated", now);
            Ok(StatusCode::ACCEPTED.into_response())
        },
    )
}

pub(crate) async fn set_state_executing(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(
        &app,
        &u,
        &id,
        Side::Provider,
        &["pending-consumer", "pending-provider", "erred"],
        |st, oid, now| {
            order_mut(st, &oid, "executing", now)?;
            Ok(StatusCode::OK.into_response())
        },
    )
}

pub(crate) async fn set_state_done(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transition(
        &app,
        &u,
        &id,
        Side::Provider,
        &["executing"],
        |st, oid, now| {
            let o = order_mut(st, &oid, "done", now)?;
            o.completed_at = Some(now);
            let (rid, type_, plan) = (o.resource, o.type_.clone(), o.plan);
            if let (true, Some(plan)) = (type_ == "Update", plan) {
                st.switch_plan(&rid, plan, now);
            }
            let target = if type_ == "Terminate" {
                "Terminated"
            } else {
                "OK"
            };
            set_resource_state(st, &rid, target, now);
            Ok(StatusCode::OK.into_response())
        },
    )
}

pub(crate) async fn set_state_erred(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    // The older generation indexes `validated_data["error_message"]` and
    // `["error_traceback"]` unconditionally: a body without either is a KeyError, Django's 500.
    let legacy = app.legacy_7x();
    if legacy && (body.get("error_message").is_none() || body.get("error_traceback").is_none()) {
        return Ok(crate::app::server_error_page());
    }
    let msg = body
        .get("error_message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let tb = body
        .get("error_traceback")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    transition(
        &app,
        &u,
        &id,
        Side::Provider,
        &[
            "pending-consumer",
            "pending-provider",
            "pending-project",
            "pending-start-date",
            "executing",
        ],
        |st, oid, now| {
            let o = order_mut(st, &oid, "erred", now)?;
            o.error_message = msg.clone();
            o.error_traceback = tb;
            if let Some(rid) = settle_created_resource(st, &oid, "Erred", now) {
                // The older generation keeps the message on the order only (seen on the
                // genuine server: the resource's error_message stays empty).
                if !legacy {
                    if let Some(r) = st.resources.get_mut(&rid) {
                        r.error_message = msg;
                    }
                }
            }
            Ok(StatusCode::OK.into_response())
        },
    )
}
