//! Users, SSH keys, offering users and service providers.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use uuid::Uuid;

use super::views::V;
use crate::app::{AppState, Caller, Ctx};
use crate::json::{json_response, ApiError, DrfJson};
use crate::state::*;

fn user_filter<'a>(
    st: &'a State,
    ctx: &Ctx,
    pool: Vec<&'a User>,
) -> Result<Vec<&'a User>, ApiError> {
    let username = ctx.one("username").map(|s| s.to_string());
    let username_list: Option<Vec<String>> = ctx
        .one("username_list")
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let email = ctx.one("email").map(|s| s.to_lowercase());
    let full_name = ctx.one("full_name").map(|s| s.to_lowercase());
    let project = ctx.uuid("project_uuid")?;
    let customer = ctx.uuid("customer_uuid")?;
    let active = ctx.boolean("is_active");
    let query = ctx.one("query").map(|s| s.to_lowercase());
    Ok(pool
        .into_iter()
        .filter(|u| username.as_ref().is_none_or(|x| &u.username == x))
        .filter(|u| {
            username_list
                .as_ref()
                .is_none_or(|l| l.contains(&u.username))
        })
        .filter(|u| {
            email
                .as_ref()
                .is_none_or(|x| u.email.to_lowercase().contains(x))
        })
        .filter(|u| {
            full_name
                .as_ref()
                .is_none_or(|x| u.full_name.to_lowercase().contains(x))
        })
        .filter(|u| {
            project.is_none_or(|p| {
                st.projects
                    .get(&p)
                    .is_some_and(|p| p.members.iter().any(|m| m.user == u.uuid))
            })
        })
        .filter(|u| {
            customer.is_none_or(|c| {
                st.orgs
                    .get(&c)
                    .is_some_and(|o| o.owners.contains(&u.uuid) || o.managers.contains(&u.uuid))
                    || st
                        .projects
                        .iter()
                        .any(|p| p.org == c && p.members.iter().any(|m| m.user == u.uuid))
            })
        })
        .filter(|u| active.is_none_or(|b| u.is_active == b))
        .filter(|u| {
            query.as_ref().is_none_or(|q| {
                u.username.to_lowercase().contains(q)
                    || u.full_name.to_lowercase().contains(q)
                    || u.email.to_lowercase().contains(q)
            })
        })
        .collect())
}

pub(crate) async fn list_users(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let started = app.shared.started;
    app.read_view(&ctx, |v| {
        let st = v.st;
        let connected = if me.is_staff {
            Vec::new()
        } else {
            st.connected_users(&me)
        };
        let pool: Vec<&User> = st
            .users
            .iter()
            .filter(|u| me.is_staff || connected.contains(&u.uuid))
            .collect();
        let rows = user_filter(st, &ctx, pool)?;
        ctx.paginate(rows, |u| v.user(u, u.uuid == me.uuid, started))
    })
}

pub(crate) async fn me(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let started = app.shared.started;
    app.read_view(&ctx, |v| {
        let st = v.st;
        let u = st.users.get(&me.uuid).ok_or(ApiError::NotAuthenticated)?;
        Ok(ctx.one_obj(v.user(u, true, started)))
    })
}

/// The user `id` names when `me` may see them (staff: everyone; others: the users connected to
/// them, `State::connected_users`), else 404.
fn find_user<'a>(st: &'a State, me: &User, id: &str) -> Result<&'a User, ApiError> {
    st.users
        .find(id)
        .filter(|u| me.is_staff || st.connected_users(me).contains(&u.uuid))
        .ok_or_else(|| ApiError::not_found("User"))
}

pub(crate) async fn get_user(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let started = app.shared.started;
    app.read_view(&ctx, |v| {
        let st = v.st;
        let u = find_user(st, &me, &id)?;
        Ok(ctx.one_obj(v.user(u, u.uuid == me.uuid, started)))
    })
}

/// `PATCH /api/users/{uuid}/` — only `token_lifetime` is honoured (what the README tells operators
/// to clear).
pub(crate) async fn patch_user(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let lifetime = match body.get("token_lifetime") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_i64().filter(|n| *n >= 0) {
            Some(n) => Some(Some(n)),
            None => {
                return Err(ApiError::field(
                    "token_lifetime",
                    "A valid integer is required.",
                ))
            }
        },
    };
    let now = app.now();
    let uid = app.read(|st| find_user(st, &me, &id).map(|u| u.uuid))?;
    if !me.is_staff && uid != me.uuid {
        return Err(ApiError::Forbidden);
    }
    app.write(|st| {
        if let (Some(l), Some(u)) = (lifetime, st.users.get_mut(&uid)) {
            u.token_lifetime = l;
            u.token_created = now;
        }
        Ok::<(), ApiError>(())
    })?;
    get_user(AxState(app), Caller(me), ctx, Path(id)).await
}

fn key_filter<'a>(
    ctx: &Ctx,
    keys: impl Iterator<Item = &'a SshKey>,
) -> Result<Vec<&'a SshKey>, ApiError> {
    let user = ctx.uuid("user_uuid")?;
    let name = ctx.one("name").map(|s| s.to_lowercase());
    let name_exact = ctx.one("name_exact").map(|s| s.to_string());
    let md5 = ctx.one("fingerprint_md5").map(|s| s.to_string());
    let s256 = ctx.one("fingerprint_sha256").map(|s| s.to_string());
    let s512 = ctx.one("fingerprint_sha512").map(|s| s.to_string());
    let shared = ctx.boolean("is_shared");
    let uuid = ctx.uuid("uuid")?;
    Ok(keys
        .filter(|k| user.is_none_or(|u| k.user == u))
        .filter(|k| {
            name.as_ref()
                .is_none_or(|n| k.name.to_lowercase().contains(n))
        })
        .filter(|k| name_exact.as_ref().is_none_or(|n| &k.name == n))
        .filter(|k| md5.as_ref().is_none_or(|f| &k.fingerprint_md5 == f))
        .filter(|k| s256.as_ref().is_none_or(|f| &k.fingerprint_sha256 == f))
        .filter(|k| s512.as_ref().is_none_or(|f| &k.fingerprint_sha512 == f))
        .filter(|k| shared.is_none_or(|b| k.is_shared == b))
        .filter(|k| uuid.is_none_or(|u| k.uuid == u))
        .collect())
}

/// Staff see every key; others their own and the shared ones.
fn key_visible(me: &User, k: &SshKey) -> bool {
    me.is_staff || k.user == me.uuid || k.is_shared
}

pub(crate) async fn list_keys(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    app.read_view(&ctx, |v| {
        let st = v.st;
        let rows = key_filter(&ctx, st.ssh_keys.iter().filter(|k| key_visible(&me, k)))?;
        ctx.paginate(rows, |k| v.key(k))
    })
}

pub(crate) async fn get_key(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.read_view(&ctx, |v| {
        let st = v.st;
        let k = st
            .ssh_keys
            .find(&id)
            .filter(|k| key_visible(&me, k))
            .ok_or_else(|| ApiError::not_found("SshPublicKey"))?;
        Ok(ctx.one_obj(v.key(k)))
    })
}

fn ou_visible(st: &State, me: &User, ou: &OfferingUser) -> bool {
    me.is_staff
        || ou.user == me.uuid
        || st
            .offerings
            .get(&ou.offering)
            .is_some_and(|o| st.can_manage_offering(me, o))
}

pub(crate) async fn list_offering_users(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let offering = ctx.uuid_or_url("offering")?;
    let user = ctx.uuid("user_uuid")?;
    let username = ctx.one("user_username").map(|s| s.to_string());
    let provider = ctx.uuid("provider_uuid")?;
    // The older generation has no offering-user state, and so no such filter (ignored).
    let states = if app.legacy_7x() {
        Vec::new()
    } else {
        ctx.choices("state", OFFERING_USER_STATES)?
    };
    let restricted = ctx.boolean("is_restricted");
    let query = ctx.one("query").map(|s| s.to_lowercase());
    app.read_view(&ctx, |v| {
        let st = v.st;
        let rows: Vec<&OfferingUser> = st
            .offering_users
            .iter()
            .filter(|ou| ou_visible(st, &me, ou))
            .filter(|ou| offering.is_none_or(|x| ou.offering == x))
            .filter(|ou| user.is_none_or(|x| ou.user == x))
            .filter(|ou| {
                username
                    .as_ref()
                    .is_none_or(|n| st.users.get(&ou.user).is_some_and(|u| &u.username == n))
            })
            .filter(|ou| {
                provider.is_none_or(|p| st.offerings.get(&ou.offering).is_some_and(|o| o.org == p))
            })
            .filter(|ou| states.is_empty() || states.contains(&ou.state))
            .filter(|ou| restricted.is_none_or(|b| ou.is_restricted == b))
            .filter(|ou| {
                query.as_ref().is_none_or(|q| {
                    ou.username
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(q)
                        || st
                            .users
                            .get(&ou.user)
                            .is_some_and(|u| u.username.to_lowercase().contains(q))
                })
            })
            .collect();
        ctx.paginate(rows, |ou| v.offering_user(ou))
    })
}

pub(crate) async fn get_offering_user(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.read_view(&ctx, |v| {
        let st = v.st;
        let ou = st
            .offering_users
            .find(&id)
            .filter(|ou| ou_visible(st, &me, ou))
            .ok_or_else(|| ApiError::not_found("OfferingUser"))?;
        Ok(ctx.one_obj(v.offering_user(ou)))
    })
}

/// Whether `url` is a detail URL of the view the older generation's offering-user serializer
/// takes for `name` (`offering`: `marketplace-provider-offerings`, `user`: `users`).
fn url_of_view(url: &str, name: &str) -> bool {
    let view = match name {
        "offering" => "marketplace-provider-offerings",
        "user" => "users",
        _ => return false,
    };
    let path = url::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| url.to_owned());
    let mut segs: Vec<&str> = path.trim_end_matches('/').rsplit('/').take(2).collect();
    segs.reverse();
    segs.len() == 2 && segs[0] == view && uuid_of_url(segs[1]).is_some()
}

/// Resolve "exactly one of `<name>` (URL) / `<name>_uuid`".
fn one_of(
    body: &Value,
    name: &str,
    legacy: bool,
    errors: &mut serde_json::Map<String, Value>,
    nfe: &mut Vec<String>,
) -> Option<Uuid> {
    let url = body.get(name).filter(|v| !v.is_null());
    let by_uuid = if legacy {
        None
    } else {
        body.get(format!("{name}_uuid").as_str())
            .filter(|v| !v.is_null())
    };
    match (url, by_uuid) {
        (Some(_), Some(_)) => {
            nfe.push(format!(
                "Cannot specify both '{name}' URL and '{name}_uuid'. Please use only one."
            ));
            None
        }
        (None, None) => {
            if legacy {
                errors.insert(name.into(), json!(["This field is required."]));
            } else {
                nfe.push(format!("Either '{name}' URL or '{name}_uuid' is required."));
            }
            None
        }
        // The older generation resolves the hyperlink against one view: the offering's must be
        // a provider-offerings URL (a public-offerings one is "Incorrect URL match").
        (Some(u), None) if legacy && !u.as_str().is_some_and(|s| url_of_view(s, name)) => {
            let msg = if u.as_str().and_then(uuid_of_url).is_some() {
                "Invalid hyperlink - Incorrect URL match."
            } else {
                "Invalid hyperlink - No URL match."
            };
            errors.insert(name.into(), json!([msg]));
            None
        }
        (Some(u), None) => match u.as_str().and_then(uuid_of_url) {
            Some(id) => Some(id),
            None => {
                errors.insert(name.into(), json!(["Invalid hyperlink - No URL match."]));
                None
            }
        },
        (None, Some(u)) => match u.as_str().and_then(parse_uuid) {
            Some(id) => Some(id),
            None => {
                errors.insert(format!("{name}_uuid"), json!(["Must be a valid UUID."]));
                None
            }
        },
    }
}

/// `POST /api/marketplace-offering-users/`
pub(crate) async fn create_offering_user(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let now = app.now();
    let legacy = app.legacy_7x();
    app.write(|st| {
        let mut errors = serde_json::Map::new();
        let mut nfe = Vec::new();
        let offering = one_of(&body, "offering", legacy, &mut errors, &mut nfe);
        let user = one_of(&body, "user", legacy, &mut errors, &mut nfe);
        let username = match body.get("username") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() > 100 => {
                errors.insert(
                    "username".into(),
                    json!(["Ensure this field has no more than 100 characters."]),
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.insert("username".into(), json!(["Not a valid string."]));
                None
            }
        };
        let offering = offering.and_then(|id| st.offerings.get(&id).cloned());
        if offering.is_none() && errors.get("offering").is_none() && nfe.is_empty() {
            errors.insert(
                "offering".into(),
                json!(["Invalid hyperlink - Object does not exist."]),
            );
        }
        let user = user.and_then(|id| st.users.get(&id).cloned());
        if user.is_none() && errors.get("user").is_none() && nfe.is_empty() {
            errors.insert(
                "user".into(),
                json!(["Invalid hyperlink - Object does not exist."]),
            );
        }
        if !nfe.is_empty() {
            errors.insert("non_field_errors".into(), json!(nfe));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(Value::Object(errors)));
        }
        let (Some(offering), Some(user)) = (offering, user) else {
            return Err(ApiError::Internal("unreachable".into()));
        };
        if st
            .offering_users
            .iter()
            .any(|ou| ou.offering == offering.uuid && ou.user == user.uuid)
        {
            return Err(ApiError::non_field(
                "The fields offering, user must make a unique set.",
            ));
        }
        if !st.can_manage_offering(&me, &offering) {
            return Err(ApiError::Forbidden);
        }
        if !offering.service_provider_can_create_offering_user {
            return Err(ApiError::Validation(json!([
                "It is not allowed to create users for current offering."
            ])));
        }
        let ou = OfferingUser {
            uuid: Uuid::new_v4(),
            offering: offering.uuid,
            user: user.uuid,
            state: if username.is_some() {
                "OK".into()
            } else {
                "Requested".into()
            },
            username,
            is_restricted: false,
            created: now,
            modified: now,
        };
        let body = V {
            st,
            base: &ctx.base,
            legacy,
            now,
        }
        .offering_user(&ou);
        let mut resp = json_response(StatusCode::CREATED, &body);
        if let Ok(h) = axum::http::HeaderValue::from_str(&format!(
            "{}/api/marketplace-offering-users/{}/",
            ctx.base,
            ou.uuid.simple()
        )) {
            resp.headers_mut().insert(axum::http::header::LOCATION, h);
        }
        st.offering_users.push(ou);
        Ok(resp)
    })
}

fn sp_pairs(st: &State) -> Vec<(&Org, Uuid)> {
    st.orgs
        .iter()
        .filter_map(|o| o.service_provider.map(|sp| (o, sp)))
        .collect()
}

pub(crate) async fn list_sps(
    AxState(app): AxState<AppState>,
    Caller(_me): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let customer = ctx.uuid_or_url("customer")?;
    let keyword = ctx.one("customer_keyword").map(|s| s.to_lowercase());
    app.read_view(&ctx, |v| {
        let st = v.st;
        let mut rows: Vec<(&Org, Uuid)> = sp_pairs(st)
            .into_iter()
            .filter(|(o, _)| customer.is_none_or(|c| o.uuid == c))
            .filter(|(o, _)| {
                keyword.as_ref().is_none_or(|k| {
                    o.name.to_lowercase().contains(k) || o.abbreviation.to_lowercase().contains(k)
                })
            })
            .collect();
        for (key, desc) in ctx.ordering() {
            if key == "customer_name" {
                rows.sort_by(|a, b| a.0.name.cmp(&b.0.name));
                if desc {
                    rows.reverse();
                }
            }
        }
        ctx.paginate(rows, |(o, sp)| v.service_provider(o, sp))
    })
}

fn find_sp<'a>(st: &'a State, id: &str) -> Result<(&'a Org, Uuid), ApiError> {
    let sp = parse_uuid(id).ok_or_else(|| ApiError::not_found("ServiceProvider"))?;
    st.service_provider_org(&sp)
        .map(|o| (o, sp))
        .ok_or_else(|| ApiError::not_found("ServiceProvider"))
}

pub(crate) async fn get_sp(
    AxState(app): AxState<AppState>,
    Caller(_me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.read_view(&ctx, |v| {
        let st = v.st;
        let (o, sp) = find_sp(st, &id)?;
        Ok(ctx.one_obj(v.service_provider(o, &sp)))
    })
}

fn sp_manager(me: &User, org: &Org) -> bool {
    me.is_staff || org.owners.contains(&me.uuid) || org.managers.contains(&me.uuid)
}

/// `POST /api/marketplace-service-providers/{uuid}/set_offerings_username/`
pub(crate) async fn set_offerings_username(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
    DrfJson(body): DrfJson,
) -> Result<Response, ApiError> {
    let now = app.now();
    app.write(|st| {
        let (org, _) = find_sp(st, &id)?;
        let org = org.clone();
        let mut errors = serde_json::Map::new();
        let user_uuid = match body.get("user_uuid") {
            None => {
                errors.insert("user_uuid".into(), json!(["This field is required."]));
                None
            }
            Some(v) => match v.as_str().and_then(parse_uuid) {
                Some(u) => Some(u),
                None => {
                    errors.insert("user_uuid".into(), json!(["Must be a valid UUID."]));
                    None
                }
            },
        };
        let username = match body.get("username") {
            None => {
                errors.insert("username".into(), json!(["This field is required."]));
                None
            }
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::String(_)) => {
                errors.insert("username".into(), json!(["This field may not be blank."]));
                None
            }
            Some(_) => {
                errors.insert("username".into(), json!(["Not a valid string."]));
                None
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::Validation(Value::Object(errors)));
        }
        let (Some(user_uuid), Some(username)) = (user_uuid, username) else {
            return Err(ApiError::Internal("unreachable".into()));
        };
        if !sp_manager(&me, &org) {
            return Err(ApiError::Forbidden);
        }
        if st.users.get(&user_uuid).is_none() {
            return Err(ApiError::Validation(json!([format!(
                "A user with the uuid [{}] is not found.",
                user_uuid.simple()
            )])));
        }
        let offerings: Vec<Uuid> = st
            .resources
            .iter()
            .filter(|r| r.state != "Terminated")
            .filter(|r| {
                st.offerings
                    .get(&r.offering)
                    .is_some_and(|o| o.org == org.uuid)
            })
            .filter(|r| {
                st.projects
                    .get(&r.project)
                    .is_some_and(|p| p.members.iter().any(|m| m.user == user_uuid))
            })
            .map(|r| r.offering)
            .collect();
        let mut offerings = offerings;
        offerings.sort();
        offerings.dedup();
        for off in offerings {
            let existing = st
                .offering_users
                .iter()
                .find(|ou| ou.offering == off && ou.user == user_uuid)
                .map(|ou| ou.uuid);
            match existing.and_then(|id| st.offering_users.get_mut(&id)) {
                Some(ou) => {
                    ou.username = Some(username.clone());
                    ou.state = "OK".into();
                    ou.modified = now;
                }
                None => st.offering_users.push(OfferingUser {
                    uuid: Uuid::new_v4(),
                    offering: off,
                    user: user_uuid,
                    username: Some(username.clone()),
                    state: "OK".into(),
                    is_restricted: false,
                    created: now,
                    modified: now,
                }),
            }
        }
        Ok(StatusCode::CREATED.into_response())
    })
}

fn sp_list(
    app: &AppState,
    me: &User,
    ctx: &Ctx,
    id: &str,
    what: &'static str,
) -> Result<Response, ApiError> {
    app.read_view(ctx, |v| {
        let st = v.st;
        let (org, _) = find_sp(st, id)?;
        if !sp_manager(me, org) {
            return Err(ApiError::Forbidden);
        }
        match what {
            "users" => {
                let rows = user_filter(st, ctx, st.sp_users(&org.uuid))?;
                ctx.paginate(rows, |u| v.sp_user(u, &org.uuid))
            }
            "keys" => {
                let users: Vec<Uuid> = st.sp_users(&org.uuid).iter().map(|u| u.uuid).collect();
                let rows = key_filter(ctx, st.ssh_keys.iter().filter(|k| users.contains(&k.user)))?;
                ctx.paginate(rows, |k| v.key(k))
            }
            "projects" => {
                let name = ctx.one("name").map(|s| s.to_lowercase());
                let customer = ctx.uuid("customer_uuid")?;
                let rows: Vec<&Project> = st
                    .sp_projects(&org.uuid)
                    .into_iter()
                    .filter(|p| {
                        name.as_ref()
                            .is_none_or(|n| p.name.to_lowercase().contains(n))
                    })
                    .filter(|p| customer.is_none_or(|c| p.org == c))
                    .collect();
                ctx.paginate(rows, |p| v.project(p))
            }
            "project_permissions" => {
                let user = ctx.uuid("user")?.or(ctx.uuid("user_uuid")?);
                let username = ctx.one("username").map(|s| s.to_string());
                let role = ctx.one("role_name").map(|s| s.to_string());
                let scope = ctx.uuid("scope_uuid")?.or(ctx.uuid("project_uuid")?);
                let mut rows: Vec<(&Project, &Member)> = Vec::new();
                for p in st.sp_projects(&org.uuid) {
                    for m in &p.members {
                        let uname = st
                            .users
                            .get(&m.user)
                            .map(|u| u.username.clone())
                            .unwrap_or_default();
                        if user.is_some_and(|x| x != m.user)
                            || username.as_ref().is_some_and(|x| x != &uname)
                            || role.as_ref().is_some_and(|x| {
                                !x.eq_ignore_ascii_case(&format!("PROJECT.{}", m.role))
                                    && !x.eq_ignore_ascii_case(&m.role)
                            })
                            || scope.is_some_and(|x| x != p.uuid)
                        {
                            continue;
                        }
                        rows.push((p, m));
                    }
                }
                ctx.paginate(rows, |(p, m)| v.project_permission(p, m))
            }
            _ => {
                let mut orgs: Vec<Uuid> = st.sp_projects(&org.uuid).iter().map(|p| p.org).collect();
                orgs.sort();
                orgs.dedup();
                let rows: Vec<&Org> = st.orgs.iter().filter(|o| orgs.contains(&o.uuid)).collect();
                ctx.paginate(rows, |o| {
                    crate::json::Obj::new()
                        .f("uuid", crate::json::hex(&o.uuid))
                        .f("name", o.name.clone())
                        .f("abbreviation", o.abbreviation.clone())
                        .f("slug", super::views::slug(&o.name))
                        .f("payment_profiles", json!([]))
                        .f("billing_price_estimate", Value::Null)
                        .f(
                            "projects_count",
                            st.projects.iter().filter(|p| p.org == o.uuid).count(),
                        )
                        .f("users_count", 0)
                        .f("projects", json!([]))
                        .f("users", json!([]))
                })
            }
        }
    })
}

/// `GET /api/marketplace-service-providers/{uuid}/<list>/` (`users`, `keys`, `projects`,
/// `project_permissions`, `customers`): one handler, the list its parameter.
pub(crate) fn sp_list_route(list: &'static str) -> axum::routing::MethodRouter<AppState> {
    axum::routing::get(
        move |AxState(app): AxState<AppState>,
              Caller(me): Caller,
              ctx: Ctx,
              Path(id): Path<String>| async move { sp_list(&app, &me, &ctx, &id, list) },
    )
}
