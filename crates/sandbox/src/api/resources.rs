//! Resources: consumer and provider views, plan periods, team, provider actions.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::views::V;
use super::View;
use crate::app::{AppState, Caller, Ctx};
use crate::json::{json_response, ApiError, DrfJson};
use crate::state::*;

impl View {
    fn visible(self, st: &State, u: &User, r: &Resource) -> bool {
        match self {
            View::Consumer => st.consumer_visible(u, r),
            View::Provider => st.provider_visible(u, r),
        }
    }
}

fn find<'a>(st: &'a State, view: View, user: &User, id: &str) -> Result<&'a Resource, ApiError> {
    st.resources
        .find(id)
        .filter(|r| view.visible(st, user, r))
        .ok_or_else(|| ApiError::not_found("Resource"))
}

/// `GET /api/marketplace-resources/` and `GET /api/marketplace-provider-resources/`
pub(crate) async fn list(
    AxState(app): AxState<AppState>,
    view: View,
    Caller(user): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let offerings = ctx.uuid_list("offering_uuid")?;
    let provider = ctx.uuid("provider_uuid")?;
    let customer = ctx.uuid("customer_uuid")?;
    let project = ctx.uuid("project_uuid")?;
    let plan = ctx.uuid("plan_uuid")?;
    let states = ctx.choices("state", RESOURCE_STATES)?;
    let backend_id = ctx
        .query
        .iter()
        .rev()
        .find(|(k, _)| k == "backend_id")
        .map(|(_, v)| v.clone());
    let name = ctx.one("name").map(|s| s.to_lowercase());
    let name_exact = ctx.one("name_exact").map(|s| s.to_string());
    let query = ctx.one("query").map(|s| s.to_lowercase());
    let offering_type = ctx.one("offering_type").map(|s| s.to_string());
    let usage_based = ctx
        .boolean("usage_based")
        .or(ctx.boolean("only_usage_based"));
    let limit_based = ctx
        .boolean("limit_based")
        .or(ctx.boolean("only_limit_based"));
    app.read_view(&ctx, |v| {
        let st = v.st;
        let mut rows: Vec<&Resource> = st
            .resources
            .iter()
            .filter(|r| view.visible(st, &user, r))
            .filter(|r| offerings.as_ref().is_none_or(|l| l.contains(&r.offering)))
            .filter(|r| {
                provider.is_none_or(|p| st.offerings.get(&r.offering).is_some_and(|o| o.org == p))
            })
            .filter(|r| {
                customer.is_none_or(|c| st.projects.get(&r.project).is_some_and(|p| p.org == c))
            })
            .filter(|r| project.is_none_or(|p| r.project == p))
            .filter(|r| plan.is_none_or(|p| r.plan == Some(p)))
            .filter(|r| states.is_empty() || states.contains(&r.state))
            .filter(|r| backend_id.as_ref().is_none_or(|b| &r.backend_id == b))
            .filter(|r| {
                name.as_ref()
                    .is_none_or(|n| r.name.to_lowercase().contains(n))
            })
            .filter(|r| name_exact.as_ref().is_none_or(|n| &r.name == n))
            .filter(|r| {
                query.as_ref().is_none_or(|q| {
                    r.name.to_lowercase().contains(q) || r.backend_id.to_lowercase().contains(q)
                })
            })
            .filter(|r| {
                offering_type
                    .as_ref()
                    .is_none_or(|t| st.offerings.get(&r.offering).is_some_and(|o| &o.type_ == t))
            })
            .filter(|r| {
                usage_based.is_none_or(|b| {
                    st.offerings.get(&r.offering).is_some_and(|o| {
                        o.components.iter().any(|c| c.billing_type == "usage") == b
                    })
                })
            })
            .filter(|r| {
                limit_based.is_none_or(|b| {
                    st.offerings.get(&r.offering).is_some_and(|o| {
                        o.components.iter().any(|c| c.billing_type == "limit") == b
                    })
                })
            })
            .collect();
        for (key, desc) in ctx.ordering().into_iter().rev() {
            let project_name = |r: &Resource| {
                st.projects
                    .get(&r.project)
                    .map(|p| p.name.clone())
                    .unwrap_or_default()
            };
            match key.as_str() {
                "created" => rows.sort_by_key(|a| a.created),
                "name" => rows.sort_by(|a, b| a.name.cmp(&b.name)),
                "state" => rows.sort_by(|a, b| a.state.cmp(&b.state)),
                "end_date" => rows.sort_by_key(|a| a.end_date),
                "project_name" => rows.sort_by_key(|a| project_name(a)),
                _ => continue,
            }
            if desc {
                rows.reverse();
            }
        }
        ctx.paginate(rows, |r| v.resource(r))
    })
}

/// The reads of one resource (`GET .../{uuid}/...` of either view): the resource the caller may
/// see in that view (else 404), answered by `answer`.
pub(crate) fn read_one(
    answer: fn(&V<'_>, &Ctx, &Resource) -> Response,
) -> axum::routing::MethodRouter<AppState> {
    axum::routing::get(
        move |AxState(app): AxState<AppState>,
              view: View,
              Caller(user): Caller,
              ctx: Ctx,
              Path(id): Path<String>| async move {
            app.read_view(&ctx, |v| {
                let r = find(v.st, view, &user, &id)?;
                Ok::<_, ApiError>(answer(v, &ctx, r))
            })
        },
    )
}

/// `GET .../{uuid}/`
pub(crate) fn get(v: &V<'_>, ctx: &Ctx, r: &Resource) -> Response {
    ctx.one_obj(v.resource(r))
}

/// `GET .../{uuid}/plan_periods/`: the periods still open at the start of the month.
pub(crate) fn plan_periods(v: &V<'_>, _: &Ctx, r: &Resource) -> Response {
    let start = month_start_instant(&v.now);
    let body: Vec<_> =
        v.st.plan_periods
            .iter()
            .filter(|p| p.resource == r.uuid && p.end.is_none_or(|e| e >= start))
            .map(|p| v.plan_period(p))
            .collect();
    json_response(StatusCode::OK, &body)
}

/// `GET .../{uuid}/team/`
pub(crate) fn team(v: &V<'_>, ctx: &Ctx, r: &Resource) -> Response {
    let body: Vec<_> =
        v.st.projects
            .get(&r.project)
            .map(|p| {
                p.members
                    .iter()
                    .map(|m| v.team_member(r, p, m).select(&ctx.fields()))
                    .collect()
            })
            .unwrap_or_default();
    json_response(StatusCode::OK, &body)
}

/// Provider action skeleton: find in the provider view (404), validate, check the permission (403),
/// then mutate.
fn provider_action(
    app: &AppState,
    user: &User,
    id: &str,
    act: impl FnOnce(
        &mut State,
        uuid::Uuid,
        chrono::DateTime<chrono::Utc>,
    ) -> Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let now = app.now();
    app.write(|st| {
        let r = find(st, View::Provider, user, id)?;
        let ok = st
            .offerings
            .get(&r.offering)
            .is_some_and(|o| st.can_manage_offering(user, o));
        if !ok {
            return Err(ApiError::Forbidden);
        }
        let rid = r.uuid;
        act(st, rid, now)
    })
}

pub(crate) async fn set_backend_id(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let backend_id = match body.get("backend_id") {
        None => return Err(ApiError::field("backend_id", "This field is required.")),
        Some(Value::Null) => {
            return Err(ApiError::field("backend_id", "This field may not be null."))
        }
        Some(Value::String(s)) if s.chars().count() > 255 => {
            return Err(ApiError::field(
                "backend_id",
                "Ensure this field has no more than 255 characters.",
            ))
        }
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(ApiError::field("backend_id", "Not a valid string.")),
    };
    provider_action(&app, &u, &id, |st, rid, now| {
        let r = st
            .resources
            .get_mut(&rid)
            .ok_or_else(|| ApiError::not_found("Resource"))?;
        let status = if r.backend_id == backend_id {
            "Resource backend_id is not changed."
        } else {
            r.backend_id = backend_id;
            r.modified = now;
            "Resource backend_id has been changed."
        };
        Ok(json_response(StatusCode::OK, &json!({ "status": status })))
    })
}

pub(crate) async fn submit_report(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let sections = match body.get("report") {
        None => return Err(ApiError::field("report", "This field is required.")),
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(ApiError::field(
                "report",
                "Report object should contain at least one section.",
            ))
        }
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(ApiError::Validation(
                json!({"report": {"non_field_errors": ["Expected a list of items but got type \"dict\"."]}}),
            ))
        }
    };
    let mut parsed = Vec::new();
    let mut errs = Vec::new();
    let mut any = false;
    for s in &sections {
        let mut e = serde_json::Map::new();
        let get = |k: &str, e: &mut serde_json::Map<String, Value>| match s.get(k) {
            Some(Value::String(x)) if !x.trim().is_empty() => Some(x.clone()),
            Some(Value::String(_)) => {
                e.insert(k.into(), json!(["This field may not be blank."]));
                None
            }
            _ => {
                e.insert(k.into(), json!(["This field is required."]));
                None
            }
        };
        let header = get("header", &mut e);
        let body = get("body", &mut e);
        if e.is_empty() {
            parsed.push(ReportSection {
                header: header.unwrap_or_default(),
                body: body.unwrap_or_default(),
            });
            errs.push(json!({}));
        } else {
            any = true;
            errs.push(Value::Object(e));
        }
    }
    if any {
        return Err(ApiError::Validation(json!({ "report": errs })));
    }
    provider_action(&app, &u, &id, |st, rid, now| {
        let r = st
            .resources
            .get_mut(&rid)
            .ok_or_else(|| ApiError::not_found("Resource"))?;
        r.report = Some(parsed);
        r.modified = now;
        Ok(json_response(
            StatusCode::OK,
            &json!({"status": "Report is submitted"}),
        ))
    })
}

/// The resource `rid` put in `state` by its provider (`OK`, `Erred`): anything but a terminated
/// resource (409).
fn settle<'a>(
    st: &'a mut State,
    rid: uuid::Uuid,
    state: &str,
) -> Result<&'a mut Resource, ApiError> {
    let r = st
        .resources
        .get_mut(&rid)
        .ok_or_else(|| ApiError::not_found("Resource"))?;
    if r.state == "Terminated" {
        return Err(ApiError::Conflict(
            "Valid states for operation: Creating, OK, Erred, Updating, Terminating.".into(),
        ));
    }
    r.state = state.into();
    Ok(r)
}

fn become_ok(
    st: &mut State,
    rid: uuid::Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let r = settle(st, rid, "OK")?;
    r.error_message.clear();
    r.error_traceback.clear();
    r.modified = now;
    st.open_plan_period(&rid, now);
    Ok(())
}

pub(crate) async fn set_state_ok(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    provider_action(&app, &u, &id, |st, rid, now| {
        become_ok(st, rid, now)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({"status": "Resource state has been changed."}),
        ))
    })
}

pub(crate) async fn set_as_ok(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    provider_action(&app, &u, &id, |st, rid, now| {
        become_ok(st, rid, now)?;
        Ok(StatusCode::OK.into_response())
    })
}

pub(crate) async fn set_as_erred(
    AxState(app): AxState<AppState>,
    Caller(u): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let msg = body
        .get("error_message")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let tb = body
        .get("error_traceback")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    // The older generation keeps this action for staff (`set_as_erred_permissions = [is_staff]`)
    // and reads no body: the resource becomes Erred without a message.
    let legacy = app.legacy_7x();
    if legacy && !u.is_staff {
        let exists = app.read(|st| find(st, View::Provider, &u, &id).is_ok());
        return Err(if exists {
            ApiError::Forbidden
        } else {
            ApiError::not_found("Resource")
        });
    }
    provider_action(&app, &u, &id, |st, rid, now| {
        let r = settle(st, rid, "Erred")?;
        if !legacy {
            r.error_message = msg;
            r.error_traceback = tb;
        }
        r.modified = now;
        Ok(StatusCode::OK.into_response())
    })
}
