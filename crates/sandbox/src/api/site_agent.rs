//! What waldur-site-agent calls at the start of every cycle: agent identities
//! (`marketplace-site-agent-identities/`: list, create, retrieve, update, `register_service/`),
//! agent services (`marketplace-site-agent-services/`: retrieve, `register_processor/`) and the
//! offering's user-attribute config (`marketplace-provider-offerings/{uuid}/user-attribute-config/`).
//!
//! Shapes follow the Waldur 8.x schemas `AgentIdentity`, `AgentService`, `AgentProcessor` and
//! `OfferingUserAttributeConfig` (waldur-api-client 8.1.x). Identities, services and processors
//! are bookkeeping only: they are kept per running sandbox in memory (not in the state file) and
//! never change anything else.
//!
//! Rules: creating or updating an identity needs the right to manage its offering (staff, owner or
//! manager of the provider organisation, offering manager), otherwise 403; validation comes first
//! (400 with field errors). `register_service` and `register_processor` are idempotent by name:
//! 201 when created, 200 when it already existed (its `mode`/`backend_version` is refreshed).

use std::sync::{Arc, Mutex, Weak};

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::{AppState, Caller, Ctx, Shared};
use crate::json::{dt, hex, json_response, ApiError, Obj};
use crate::state::{parse_uuid, Offering, State, User};

#[derive(Debug, Clone)]
struct Identity {
    uuid: Uuid,
    offering: Uuid,
    created_by: Option<Uuid>,
    name: String,
    version: Option<String>,
    dependencies: Vec<Value>,
    config_file_path: Option<String>,
    config_file_content: Option<String>,
    last_restarted: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Service {
    uuid: Uuid,
    identity: Uuid,
    name: String,
    mode: Option<String>,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Processor {
    uuid: Uuid,
    service: Uuid,
    name: String,
    backend_type: String,
    backend_version: Option<String>,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Agents {
    identities: Vec<Identity>,
    services: Vec<Service>,
    processors: Vec<Processor>,
}

/// The agents of every live sandbox, keyed by its shared state (dead sandboxes are pruned).
static REGISTRY: Mutex<Vec<(Weak<Shared>, Agents)>> = Mutex::new(Vec::new());

fn with_agents<R>(app: &AppState, f: impl FnOnce(&mut Agents) -> R) -> R {
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    reg.retain(|(w, _)| w.strong_count() > 0);
    let me = Arc::downgrade(&app.shared);
    let idx = match reg.iter().position(|(w, _)| w.ptr_eq(&me)) {
        Some(i) => i,
        None => {
            reg.push((me, Agents::default()));
            reg.len() - 1
        }
    };
    f(&mut reg[idx].1)
}

fn url(base: &str, kind: &str, id: &Uuid) -> String {
    format!("{base}/api/{kind}/{}/", id.simple())
}

fn nested_service(base: &str, s: &Service) -> Value {
    json!({
        "uuid": hex(&s.uuid),
        "url": url(base, "marketplace-site-agent-services", &s.uuid),
        "name": s.name,
        "mode": s.mode,
        "state": "Active",
        "statistics": {},
        "created": dt(&s.created),
        "modified": dt(&s.modified),
    })
}

fn nested_processor(base: &str, p: &Processor) -> Value {
    json!({
        "uuid": hex(&p.uuid),
        "url": url(base, "marketplace-site-agent-processors", &p.uuid),
        "name": p.name,
        "backend_type": p.backend_type,
        "backend_version": p.backend_version,
        "last_run": Value::Null,
        "created": dt(&p.created),
        "modified": dt(&p.modified),
    })
}

fn identity_obj(base: &str, agents: &Agents, i: &Identity) -> Obj {
    let services: Vec<Value> = agents
        .services
        .iter()
        .filter(|s| s.identity == i.uuid)
        .map(|s| nested_service(base, s))
        .collect();
    Obj::new()
        .f(
            "url",
            url(base, "marketplace-site-agent-identities", &i.uuid),
        )
        .f("uuid", hex(&i.uuid))
        .f("offering", hex(&i.offering))
        .f(
            "created_by",
            i.created_by.map(|u| hex(&u)).unwrap_or(Value::Null),
        )
        .f("name", i.name.clone())
        .f("version", i.version.clone())
        .f("dependencies", Value::Array(i.dependencies.clone()))
        .f("config_file_path", i.config_file_path.clone())
        .f("config_file_content", i.config_file_content.clone())
        .f(
            "last_restarted",
            i.last_restarted.as_ref().map(dt).unwrap_or(Value::Null),
        )
        .f("created", dt(&i.created))
        .f("modified", dt(&i.modified))
        .f("services", Value::Array(services))
}

fn service_obj(base: &str, agents: &Agents, s: &Service) -> Obj {
    let identity_name = agents
        .identities
        .iter()
        .find(|i| i.uuid == s.identity)
        .map(|i| i.name.clone())
        .unwrap_or_default();
    let processors: Vec<Value> = agents
        .processors
        .iter()
        .filter(|p| p.service == s.uuid)
        .map(|p| nested_processor(base, p))
        .collect();
    Obj::new()
        .f("url", url(base, "marketplace-site-agent-services", &s.uuid))
        .f("uuid", hex(&s.uuid))
        .f("identity", hex(&s.identity))
        .f("identity_name", identity_name)
        .f("name", s.name.clone())
        .f("mode", s.mode.clone())
        .f("state", "Active")
        .f("statistics", json!({}))
        .f("created", dt(&s.created))
        .f("modified", dt(&s.modified))
        .f("processors", Value::Array(processors))
}

fn processor_obj(base: &str, agents: &Agents, p: &Processor) -> Obj {
    let service_name = agents
        .services
        .iter()
        .find(|s| s.uuid == p.service)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    Obj::new()
        .f(
            "url",
            url(base, "marketplace-site-agent-processors", &p.uuid),
        )
        .f("uuid", hex(&p.uuid))
        .f("service", hex(&p.service))
        .f("service_name", service_name)
        .f("name", p.name.clone())
        .f("backend_type", p.backend_type.clone())
        .f("backend_version", p.backend_version.clone())
        .f("last_run", Value::Null)
        .f("created", dt(&p.created))
        .f("modified", dt(&p.modified))
}

/// Registration by name under a parent (services of an identity, processors of a service): the
/// row `existing` finds is refreshed and answered with 200, else `new` is added, 201.
fn register<T: Clone>(
    ctx: &Ctx,
    agents: &mut Agents,
    rows: fn(&mut Agents) -> &mut Vec<T>,
    existing: impl Fn(&T) -> bool,
    refresh: impl FnOnce(&mut T),
    new: impl FnOnce() -> T,
    obj: fn(&str, &Agents, &T) -> Obj,
) -> Response {
    if let Some(row) = rows(agents).iter_mut().find(|r| existing(r)) {
        refresh(row);
        let row = row.clone();
        return ctx.one_obj(obj(&ctx.base, agents, &row));
    }
    let row = new();
    let answer = obj(&ctx.base, agents, &row);
    rows(agents).push(row);
    created(answer)
}

fn created(obj: Obj) -> Response {
    json_response(StatusCode::CREATED, &obj.into_value())
}

/// Offerings whose agents `me` may see and manage.
fn can_manage(st: &State, me: &User, offering: &Uuid) -> bool {
    st.offerings
        .get(offering)
        .is_some_and(|o| st.can_manage_offering(me, o))
}

// ---- body validation ----

type Errors = serde_json::Map<String, Value>;

fn required_str(body: &Value, key: &str, max: usize, errors: &mut Errors) -> Option<String> {
    match body.get(key) {
        None => {
            errors.insert(key.into(), json!(["This field is required."]));
            None
        }
        Some(Value::Null) => {
            errors.insert(key.into(), json!(["This field may not be null."]));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.insert(key.into(), json!(["This field may not be blank."]));
            None
        }
        Some(Value::String(s)) if s.chars().count() > max => {
            errors.insert(
                key.into(),
                json!([format!(
                    "Ensure this field has no more than {max} characters."
                )]),
            );
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            errors.insert(key.into(), json!(["Not a valid string."]));
            None
        }
    }
}

fn optional_str(body: &Value, key: &str, errors: &mut Errors) -> Option<String> {
    match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            errors.insert(key.into(), json!(["Not a valid string."]));
            None
        }
    }
}

/// The fields of an identity request (`AgentIdentityRequest`), validated like DRF.
struct IdentityBody {
    offering: Offering,
    name: String,
    version: Option<String>,
    dependencies: Vec<Value>,
    config_file_path: Option<String>,
    config_file_content: Option<String>,
    last_restarted: Option<DateTime<Utc>>,
}

fn identity_body(st: &State, body: &Value) -> Result<IdentityBody, ApiError> {
    if !body.is_object() {
        return Err(ApiError::non_field(
            "Invalid data. Expected a dictionary, but got list.",
        ));
    }
    let mut errors = Errors::new();
    let offering = match body.get("offering") {
        None => {
            errors.insert("offering".into(), json!(["This field is required."]));
            None
        }
        Some(Value::String(s)) => match parse_uuid(s) {
            None => {
                errors.insert("offering".into(), json!(["Must be a valid UUID."]));
                None
            }
            Some(id) => match st.offerings.get(&id) {
                Some(o) => Some(o.clone()),
                None => {
                    errors.insert(
                        "offering".into(),
                        json!([format!("Object with uuid={s} does not exist.")]),
                    );
                    None
                }
            },
        },
        Some(_) => {
            errors.insert("offering".into(), json!(["Must be a valid UUID."]));
            None
        }
    };
    let name = required_str(body, "name", 255, &mut errors);
    let version = optional_str(body, "version", &mut errors);
    let config_file_path = optional_str(body, "config_file_path", &mut errors);
    let config_file_content = optional_str(body, "config_file_content", &mut errors);
    let dependencies = match body.get("dependencies") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let ok = items.iter().all(|d| {
                d.get("package").is_some_and(Value::is_string)
                    && d.get("version").is_some_and(Value::is_string)
            });
            if !ok {
                errors.insert(
                    "dependencies".into(),
                    json!(["Each dependency needs a string `package` and `version`."]),
                );
            }
            items
                .iter()
                .map(|d| json!({"package": d.get("package"), "version": d.get("version")}))
                .collect()
        }
        Some(_) => {
            errors.insert(
                "dependencies".into(),
                json!(["Expected a list of items but got type \"dict\"."]),
            );
            Vec::new()
        }
    };
    let last_restarted = match body.get("last_restarted") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                errors.insert(
                    "last_restarted".into(),
                    json!(["Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]),
                );
                None
            }
        },
        Some(_) => {
            errors.insert(
                "last_restarted".into(),
                json!(["Datetime has wrong format."]),
            );
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(Value::Object(errors)));
    }
    let (Some(offering), Some(name)) = (offering, name) else {
        return Err(ApiError::Internal("identity body checked twice".into()));
    };
    Ok(IdentityBody {
        offering,
        name,
        version,
        dependencies,
        config_file_path,
        config_file_content,
        last_restarted,
    })
}

// ---- identities ----

/// `GET /api/marketplace-site-agent-identities/` (filters `name`, `offering_uuid`).
pub(crate) async fn list_identities(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let offering = ctx.uuid("offering_uuid")?;
    let name = ctx.one("name").map(str::to_string);
    let visible: Vec<Uuid> = app.read(|st| {
        st.offerings
            .iter()
            .filter(|o| st.can_manage_offering(&me, o))
            .map(|o| o.uuid)
            .collect()
    });
    with_agents(&app, |agents| {
        let rows: Vec<&Identity> = agents
            .identities
            .iter()
            .filter(|i| visible.contains(&i.offering))
            .filter(|i| offering.is_none_or(|o| o == i.offering))
            .filter(|i| name.as_ref().is_none_or(|n| n == &i.name))
            .collect();
        ctx.paginate(rows, |i| identity_obj(&ctx.base, agents, i))
    })
}

/// `POST /api/marketplace-site-agent-identities/`: 201.
pub(crate) async fn create_identity(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    crate::json::DrfJson(body): crate::json::DrfJson,
) -> Result<Response, ApiError> {
    let now = app.now();
    let b = permitted_identity_body(&app, &me, &body)?;
    with_agents(&app, |agents| {
        unique_identity(agents, &b, None)?;
        let i = Identity {
            uuid: Uuid::new_v4(),
            offering: b.offering.uuid,
            created_by: Some(me.uuid),
            name: b.name,
            version: b.version,
            dependencies: b.dependencies,
            config_file_path: b.config_file_path,
            config_file_content: b.config_file_content,
            last_restarted: b.last_restarted,
            created: now,
            modified: now,
        };
        let obj = identity_obj(&ctx.base, agents, &i);
        agents.identities.push(i);
        Ok(created(obj))
    })
}

/// The identity request validated (400 first), then the right to manage its offering (403).
fn permitted_identity_body(
    app: &AppState,
    me: &User,
    body: &Value,
) -> Result<IdentityBody, ApiError> {
    app.read(|st| {
        let b = identity_body(st, body)?;
        if !can_manage(st, me, &b.offering.uuid) {
            return Err(ApiError::Forbidden);
        }
        Ok(b)
    })
}

/// One identity of a name per offering: 400 when another identity than `updated` holds it.
fn unique_identity(
    agents: &Agents,
    b: &IdentityBody,
    updated: Option<Uuid>,
) -> Result<(), ApiError> {
    if agents
        .identities
        .iter()
        .any(|i| Some(i.uuid) != updated && i.offering == b.offering.uuid && i.name == b.name)
    {
        return Err(ApiError::non_field(
            "The fields offering, name must make a unique set.",
        ));
    }
    Ok(())
}

fn find_identity<'a>(
    app: &AppState,
    me: &User,
    agents: &'a mut Agents,
    id: &str,
) -> Result<&'a mut Identity, ApiError> {
    let id = parse_uuid(id).ok_or_else(|| ApiError::not_found("AgentIdentity"))?;
    let i = agents
        .identities
        .iter_mut()
        .find(|i| i.uuid == id)
        .ok_or_else(|| ApiError::not_found("AgentIdentity"))?;
    if !app.read(|st| can_manage(st, me, &i.offering)) {
        return Err(ApiError::not_found("AgentIdentity"));
    }
    Ok(i)
}

/// `GET /api/marketplace-site-agent-identities/{uuid}/`.
pub(crate) async fn get_identity(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    with_agents(&app, |agents| {
        let i = find_identity(&app, &me, agents, &id)?.clone();
        Ok(ctx.one_obj(identity_obj(&ctx.base, agents, &i)))
    })
}

/// `PUT /api/marketplace-site-agent-identities/{uuid}/`: 200 (`offering` and `name` required).
pub(crate) async fn put_identity(
    app: AxState<AppState>,
    me: Caller,
    ctx: Ctx,
    id: Path<String>,
    body: crate::json::DrfJson,
) -> Result<Response, ApiError> {
    update_identity(app, me, ctx, id, body, false)
}

/// `PATCH /api/marketplace-site-agent-identities/{uuid}/`: 200 (missing keys keep their value).
pub(crate) async fn patch_identity(
    app: AxState<AppState>,
    me: Caller,
    ctx: Ctx,
    id: Path<String>,
    body: crate::json::DrfJson,
) -> Result<Response, ApiError> {
    update_identity(app, me, ctx, id, body, true)
}

fn update_identity(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::json::DrfJson(body): crate::json::DrfJson,
    partial: bool,
) -> Result<Response, ApiError> {
    let now = app.now();
    with_agents(&app, |agents| {
        let current = find_identity(&app, &me, agents, &id)?.clone();
        let mut merged = body.clone();
        if partial {
            if let Value::Object(m) = &mut merged {
                m.entry("offering")
                    .or_insert_with(|| Value::String(current.offering.simple().to_string()));
                m.entry("name")
                    .or_insert_with(|| Value::String(current.name.clone()));
            }
        }
        let b = permitted_identity_body(&app, &me, &merged)?;
        unique_identity(agents, &b, Some(current.uuid))?;
        let i = find_identity(&app, &me, agents, &id)?;
        i.offering = b.offering.uuid;
        i.name = b.name;
        if body.get("version").is_some() || !partial {
            i.version = b.version;
        }
        if body.get("dependencies").is_some() || !partial {
            i.dependencies = b.dependencies;
        }
        if body.get("config_file_path").is_some() || !partial {
            i.config_file_path = b.config_file_path;
        }
        if body.get("config_file_content").is_some() || !partial {
            i.config_file_content = b.config_file_content;
        }
        if body.get("last_restarted").is_some() || !partial {
            i.last_restarted = b.last_restarted;
        }
        i.modified = now;
        let i = i.clone();
        Ok(ctx.one_obj(identity_obj(&ctx.base, agents, &i)))
    })
}

/// `POST /api/marketplace-site-agent-identities/{uuid}/register_service/` `{name, mode?}`:
/// 201 created, 200 when a service of that name already exists (its `mode` is refreshed).
pub(crate) async fn register_service(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::json::DrfJson(body): crate::json::DrfJson,
) -> Result<Response, ApiError> {
    let now = app.now();
    with_agents(&app, |agents| {
        let identity = find_identity(&app, &me, agents, &id)?.uuid;
        let mut errors = Errors::new();
        let name = required_str(&body, "name", 255, &mut errors);
        let mode = optional_str(&body, "mode", &mut errors);
        let Some(name) = name.filter(|_| errors.is_empty()) else {
            return Err(ApiError::Validation(Value::Object(errors)));
        };
        Ok(register(
            &ctx,
            agents,
            |a| &mut a.services,
            |s| s.identity == identity && s.name == name,
            |s| {
                if mode.is_some() {
                    s.mode.clone_from(&mode);
                }
                s.modified = now;
            },
            || Service {
                uuid: Uuid::new_v4(),
                identity,
                name: name.clone(),
                mode: mode.clone(),
                created: now,
                modified: now,
            },
            service_obj,
        ))
    })
}

fn find_service(app: &AppState, me: &User, agents: &Agents, id: &str) -> Result<Service, ApiError> {
    let id = parse_uuid(id).ok_or_else(|| ApiError::not_found("AgentService"))?;
    let s = agents
        .services
        .iter()
        .find(|s| s.uuid == id)
        .ok_or_else(|| ApiError::not_found("AgentService"))?;
    let offering = agents
        .identities
        .iter()
        .find(|i| i.uuid == s.identity)
        .map(|i| i.offering)
        .ok_or_else(|| ApiError::not_found("AgentService"))?;
    if !app.read(|st| can_manage(st, me, &offering)) {
        return Err(ApiError::not_found("AgentService"));
    }
    Ok(s.clone())
}

/// `GET /api/marketplace-site-agent-services/{uuid}/`.
pub(crate) async fn get_service(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    with_agents(&app, |agents| {
        let s = find_service(&app, &me, agents, &id)?;
        Ok(ctx.one_obj(service_obj(&ctx.base, agents, &s)))
    })
}

/// `POST /api/marketplace-site-agent-services/{uuid}/register_processor/`
/// `{name, backend_type, backend_version?}`: 201 created, 200 when it already existed.
pub(crate) async fn register_processor(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::json::DrfJson(body): crate::json::DrfJson,
) -> Result<Response, ApiError> {
    let now = app.now();
    with_agents(&app, |agents| {
        let service = find_service(&app, &me, agents, &id)?.uuid;
        let mut errors = Errors::new();
        let name = required_str(&body, "name", 255, &mut errors);
        let backend_type = required_str(&body, "backend_type", 255, &mut errors);
        let backend_version = optional_str(&body, "backend_version", &mut errors);
        let (Some(name), Some(backend_type)) = (name, backend_type) else {
            return Err(ApiError::Validation(Value::Object(errors)));
        };
        if !errors.is_empty() {
            return Err(ApiError::Validation(Value::Object(errors)));
        }
        Ok(register(
            &ctx,
            agents,
            |a| &mut a.processors,
            |p| p.service == service && p.name == name,
            |p| {
                p.backend_type.clone_from(&backend_type);
                if backend_version.is_some() {
                    p.backend_version.clone_from(&backend_version);
                }
                p.modified = now;
            },
            || Processor {
                uuid: Uuid::new_v4(),
                service,
                name: name.clone(),
                backend_type: backend_type.clone(),
                backend_version: backend_version.clone(),
                created: now,
                modified: now,
            },
            processor_obj,
        ))
    })
}

// ---- user-attribute config ----

/// The attributes Waldur exposes to a provider by default.
const EXPOSED_BY_DEFAULT: [&str; 3] = ["username", "full_name", "email"];
const ATTRIBUTES: [&str; 27] = [
    "full_name",
    "email",
    "username",
    "registration_method",
    "organization",
    "organization_country",
    "organization_type",
    "organization_registry_code",
    "organization_vat_code",
    "organization_address",
    "affiliations",
    "phone_number",
    "job_title",
    "gender",
    "personal_title",
    "place_of_birth",
    "address",
    "country_of_residence",
    "nationality",
    "nationalities",
    "eduperson_assurance",
    "identity_source",
    "civil_number",
    "birth_date",
    "active_isds",
    "uid_number",
    "primary_gid",
];

/// `GET /api/marketplace-provider-offerings/{uuid}/user-attribute-config/`: the offering's
/// config; the sandbox has no custom ones, so this is the default (`is_default: true`).
pub(crate) async fn user_attribute_config(
    AxState(app): AxState<AppState>,
    Caller(me): Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.read(|st| {
        let o = st
            .offerings
            .find(&id)
            .filter(|o| st.can_manage_offering(&me, o))
            .ok_or_else(|| ApiError::not_found("Offering"))?;
        let mut m = serde_json::Map::new();
        m.insert(
            "uuid".into(),
            hex(&Uuid::new_v5(&o.uuid, b"user-attribute-config")),
        );
        m.insert("created".into(), dt(&o.created));
        m.insert("modified".into(), dt(&o.created));
        m.insert("offering_uuid".into(), hex(&o.uuid));
        m.insert("offering_name".into(), Value::String(o.name.clone()));
        m.insert("is_default".into(), Value::Bool(true));
        m.insert("exposed_fields".into(), json!(EXPOSED_BY_DEFAULT));
        for a in ATTRIBUTES {
            m.insert(
                format!("expose_{a}"),
                Value::Bool(EXPOSED_BY_DEFAULT.contains(&a)),
            );
        }
        let fields = ctx.fields();
        if !fields.is_empty() {
            m.retain(|k, _| fields.iter().any(|f| f == k));
        }
        Ok(json_response(StatusCode::OK, &Value::Object(m)))
    })
}
