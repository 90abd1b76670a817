//! Shared application state, the clock, authentication, pagination and the router.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State as AxState};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::api;
use crate::api::views::V;
use crate::faults::{counter_layer, fault_layer, Counters, FaultEngine, Faults};
use crate::json::{json_response, ApiError, Obj};
use crate::state::{State, User};
use crate::store::Store;

/// The server clock: real time, or a set instant that then advances with real time.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    base: Option<(DateTime<Utc>, Instant)>,
}

impl Clock {
    pub fn new(now: Option<DateTime<Utc>>) -> Self {
        Clock {
            base: now.map(|t| (t, Instant::now())),
        }
    }
    pub fn now(&self) -> DateTime<Utc> {
        match self.base {
            Some((t, at)) => t + chrono::Duration::from_std(at.elapsed()).unwrap_or_default(),
            None => Utc::now(),
        }
    }
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub clock: Mutex<Clock>,
    pub legacy_7x: bool,
    /// An explicit version to report; `None`: what the mode's server reports.
    pub version: Option<String>,
    pub counters: Mutex<Counters>,
    pub faults: Mutex<FaultEngine>,
    pub store: Option<Mutex<Store>>,
    pub started: DateTime<Utc>,
}

/// Cheaply clonable handle on the sandbox's state, used by the router and by [`crate::RunningSandbox`].
#[derive(Clone)]
pub struct AppState {
    pub(crate) shared: Arc<Shared>,
}

impl AppState {
    pub(crate) fn new(
        state: State,
        now: Option<DateTime<Utc>>,
        legacy_7x: bool,
        version: Option<String>,
        faults: Faults,
        store: Option<Store>,
    ) -> Self {
        let clock = Clock::new(now);
        let started = clock.now();
        AppState {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                clock: Mutex::new(clock),
                legacy_7x,
                version,
                counters: Mutex::new(Counters::default()),
                faults: Mutex::new(FaultEngine::new(faults)),
                store: store.map(Mutex::new),
                started,
            }),
        }
    }

    /// Build from a world and options (no state file: in-memory).
    pub fn from_world(world: crate::World, opts: &crate::SandboxOptions) -> Self {
        let faults = if opts.faults.is_active() || world.faults.is_none() {
            opts.faults.clone()
        } else {
            world.faults.clone().unwrap_or_default()
        };
        AppState::new(
            world.state,
            opts.now,
            opts.legacy_7x,
            opts.version.clone(),
            faults,
            None,
        )
    }

    /// The server clock's current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared
            .clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .now()
    }

    /// Set the server clock (it advances with real time from there); `None` = real time.
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        *self.shared.clock.lock().unwrap_or_else(|e| e.into_inner()) = Clock::new(now);
    }

    pub fn legacy_7x(&self) -> bool {
        self.shared.legacy_7x
    }

    /// Run `f` on the state under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&st)
    }

    /// Run `f` on the state under the lock, with what every view of an object needs: the request's
    /// base URL, the server generation and the clock (read before the state is locked).
    pub(crate) fn read_view<R>(&self, ctx: &Ctx, f: impl FnOnce(&V<'_>) -> R) -> R {
        let now = self.now();
        let legacy = self.legacy_7x();
        self.read(|st| {
            f(&V {
                st,
                base: &ctx.base,
                legacy,
                now,
            })
        })
    }

    /// Run a mutation; when it succeeds and a state file is configured, persist the state.
    pub fn write<R, E>(&self, f: impl FnOnce(&mut State) -> Result<R, E>) -> Result<R, E> {
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut st)?;
        if let Some(store) = &self.shared.store {
            match serde_json::to_string(&*st) {
                Ok(text) => {
                    drop(st);
                    let store = store.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = store.save(&text) {
                        tracing::error!(error = %e, "sandbox: cannot persist the state");
                    }
                }
                Err(e) => tracing::error!(error = %e, "sandbox: cannot serialize the state"),
            }
        }
        Ok(out)
    }

    pub(crate) fn count(&self, method: &str, endpoint: &str, status: u16) {
        let mut c = self
            .shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *c.0.entry((method.to_string(), endpoint.to_string(), status))
            .or_insert(0) += 1;
    }

    /// Counters of what was served so far.
    pub fn counters(&self) -> Vec<crate::Counter> {
        self.shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .list()
    }

    pub fn reset_counters(&self) {
        self.shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clear();
    }

    /// Replace the fault configuration (restarts the PRNG from its seed).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|e| e.into_inner()) = FaultEngine::new(faults);
    }

    pub fn faults(&self) -> Faults {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .faults
            .clone()
    }
}

/// What the auth middleware found.
#[derive(Clone)]
pub(crate) enum AuthOutcome {
    Anonymous,
    User(Box<User>),
    Failed(&'static str),
}

/// Middleware: resolve `Authorization: Token <key>` (or `?x-auth-token=`). Failures are reported by
/// the extractors, so an unknown URL still answers 404 like Django does.
pub(crate) async fn auth_layer(
    AxState(app): AxState<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let header_val = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let token: Result<Option<String>, &'static str> = match header_val {
        Some(raw) => {
            let text = String::from_utf8_lossy(&raw).to_string();
            let mut parts = text.split_whitespace();
            match parts.next() {
                Some(scheme) if scheme.eq_ignore_ascii_case("token") => {
                    let rest: Vec<&str> = parts.collect();
                    match rest.len() {
                        0 => Err("Invalid token header. No credentials provided."),
                        1 => Ok(Some(rest[0].to_string())),
                        _ => Err("Invalid token header. Token string should not contain spaces."),
                    }
                }
                _ => Ok(None),
            }
        }
        None => Ok(query_pairs(req.uri())
            .into_iter()
            .find(|(k, _)| k == "x-auth-token")
            .map(|(_, v)| v)),
    };
    let outcome = match token {
        Err(msg) => AuthOutcome::Failed(msg),
        Ok(None) => AuthOutcome::Anonymous,
        Ok(Some(t)) => {
            let now = app.now();
            let started = app.shared.started;
            app.read(|st| match st.user_by_token(&t) {
                None => AuthOutcome::Failed("Invalid token."),
                Some(u) if !u.is_active => AuthOutcome::Failed("User inactive or deleted."),
                Some(u) => match token_expires_at(u, started) {
                    Some(exp) if exp <= now => AuthOutcome::Failed("Token has expired."),
                    _ => AuthOutcome::User(Box::new(u.clone())),
                },
            })
        }
    };
    req.extensions_mut().insert(outcome);
    next.run(req).await
}

/// When the user's token expires (`token_lifetime` seconds after its creation; seeded tokens are
/// created when the sandbox starts).
pub(crate) fn token_expires_at(u: &User, started: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let created = if u.token_created == crate::seed::seed_epoch() {
        started
    } else {
        u.token_created
    };
    u.token_lifetime
        .map(|l| created + chrono::Duration::seconds(l))
}

/// The authenticated caller (401 otherwise).
pub(crate) struct Caller(pub User);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AuthOutcome>() {
            Some(AuthOutcome::User(u)) => Ok(Caller((**u).clone())),
            Some(AuthOutcome::Failed(m)) => Err(ApiError::AuthFailed(m)),
            _ => Err(ApiError::NotAuthenticated),
        }
    }
}

/// The caller if any (anonymous allowed; a bad token is still a 401).
pub(crate) struct MaybeCaller(pub Option<User>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AuthOutcome>() {
            Some(AuthOutcome::User(u)) => Ok(MaybeCaller(Some((**u).clone()))),
            Some(AuthOutcome::Failed(m)) => Err(ApiError::AuthFailed(m)),
            _ => Ok(MaybeCaller(None)),
        }
    }
}

pub(crate) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Request context: absolute base URL, path, query.
pub(crate) struct Ctx {
    pub base: String,
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|s| s.to_string())
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_string());
        Ok(Ctx {
            base: format!("http://{host}"),
            path: parts.uri.path().to_string(),
            query: query_pairs(&parts.uri),
        })
    }
}

impl Ctx {
    /// All values of a (repeatable) query parameter.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The last value of a query parameter (Django's `QueryDict.get`), if non-empty.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
    /// Requested `field=` names.
    pub fn fields(&self) -> Vec<String> {
        self.all("field")
            .into_iter()
            .flat_map(|f| f.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
    /// A uuid filter (`400 {"key": ["Enter a valid UUID."]}` when malformed).
    pub fn uuid(&self, key: &str) -> Result<Option<uuid::Uuid>, ApiError> {
        match self.one(key) {
            None => Ok(None),
            Some(v) => crate::state::parse_uuid(v)
                .map(Some)
                .ok_or_else(|| ApiError::field(key, "Enter a valid UUID.")),
        }
    }
    /// A related object's filter: `<name>_uuid`, or its URL in `<name>` (the URL wins when both
    /// are given).
    pub fn uuid_or_url(&self, name: &str) -> Result<Option<uuid::Uuid>, ApiError> {
        let by_uuid = self.uuid(&format!("{name}_uuid"))?;
        match self.one(name) {
            None => Ok(by_uuid),
            Some(url) => crate::state::uuid_of_url(url)
                .map(Some)
                .ok_or_else(|| ApiError::field(name, "Enter a valid URL.")),
        }
    }
    /// A comma-separated uuid list filter.
    pub fn uuid_list(&self, key: &str) -> Result<Option<Vec<uuid::Uuid>>, ApiError> {
        let values: Vec<&str> = self
            .all(key)
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Ok(None);
        }
        values
            .into_iter()
            .map(|s| {
                crate::state::parse_uuid(s)
                    .ok_or_else(|| ApiError::field(key, "Enter a valid UUID."))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
    /// A multiple-choice filter (`state=OK&state=Erred`); invalid values are a 400 like django-filter.
    pub fn choices(&self, key: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        for v in self
            .all(key)
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter(|v| !v.is_empty())
        {
            if !allowed.contains(&v) {
                return Err(ApiError::field(
                    key,
                    format!("Select a valid choice. {v} is not one of the available choices."),
                ));
            }
            out.push(v.to_string());
        }
        Ok(out)
    }
    /// A boolean filter (`true/false/1/0`), unknown values ignored.
    pub fn boolean(&self, key: &str) -> Option<bool> {
        match self.one(key)?.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        }
    }
    /// Ordering keys from `o=` (comma separated, `-` prefix = descending).
    pub fn ordering(&self) -> Vec<(String, bool)> {
        self.one("o")
            .map(|o| {
                o.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| match s.strip_prefix('-') {
                        Some(k) => (k.to_string(), true),
                        None => (s.to_string(), false),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn url_with(&self, page: Option<usize>) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let page_s = page.map(|p| p.to_string());
        if let Some(p) = &page_s {
            pairs.push(("page", p.as_str()));
        }
        // Django's replace_query_param/remove_query_param sort by key (values keep their order).
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        if q.is_empty() {
            format!("{}{}", self.base, self.path)
        } else {
            format!("{}{}?{}", self.base, self.path, q)
        }
    }

    /// A paginated list answer (`Link` + `X-Result-Count`, default page size 10, max 300).
    pub fn paginate<T>(
        &self,
        items: Vec<T>,
        render: impl Fn(&T) -> Obj,
    ) -> Result<Response, ApiError> {
        let page_size = self
            .one("page_size")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .map(|n| n.min(300))
            .unwrap_or(10);
        let total = items.len();
        let pages = total.div_ceil(page_size).max(1);
        let page = match self.one("page") {
            None => 1,
            Some("last") => pages,
            Some(p) => p.parse::<usize>().map_err(|_| ApiError::invalid_page())?,
        };
        if page == 0 || page > pages {
            return Err(ApiError::invalid_page());
        }
        let fields = self.fields();
        let body: Vec<Obj> = items
            .iter()
            .skip((page - 1) * page_size)
            .take(page_size)
            .map(|i| render(i).select(&fields))
            .collect();
        let mut links = vec![format!("<{}>; rel=\"first\"", self.url_with(None))];
        if page > 1 {
            let prev = if page - 1 == 1 { None } else { Some(page - 1) };
            links.push(format!("<{}>; rel=\"prev\"", self.url_with(prev)));
        }
        if page < pages {
            links.push(format!("<{}>; rel=\"next\"", self.url_with(Some(page + 1))));
        }
        let last = if pages == 1 { None } else { Some(pages) };
        links.push(format!("<{}>; rel=\"last\"", self.url_with(last)));
        let mut resp = json_response(StatusCode::OK, &body);
        let h = resp.headers_mut();
        h.insert("x-result-count", HeaderValue::from(total));
        if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
            h.insert(header::LINK, v);
        }
        Ok(resp)
    }

    /// A single object with `field=` selection.
    pub fn one_obj(&self, obj: Obj) -> Response {
        json_response(StatusCode::OK, &obj.select(&self.fields()))
    }
}

/// The router: every Waldur endpoint under `/api/`, plus the `/__sandbox/` control endpoints.
pub fn router(app: AppState) -> Router {
    let api = api::routes(app.legacy_7x())
        .route("/api/version/", get(version))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), auth_layer))
        .layer(middleware::from_fn_with_state(app.clone(), fault_layer))
        .layer(middleware::from_fn_with_state(app.clone(), counter_layer))
        .layer(middleware::from_fn_with_state(app.clone(), date_layer));
    let control = Router::new()
        .route(
            "/__sandbox/counters",
            get(ctl_counters).delete(ctl_reset_counters),
        )
        .route("/__sandbox/clock", get(ctl_clock).post(ctl_set_clock))
        .route("/__sandbox/faults", get(ctl_faults).post(ctl_set_faults))
        .route("/__sandbox/usages", get(ctl_usages).post(ctl_plant_usage))
        .route("/__sandbox/state", get(ctl_state))
        .route(
            "/__sandbox/resources/{uuid}/state",
            post(ctl_resource_state),
        );
    control.merge(api).with_state(app)
}

/// Middleware: the HTTP `Date` header tells the sandbox's clock, as a real server under
/// libfaketime tells its faked one (clients such as `tally doctor` compare it with their own).
async fn date_layer(
    AxState(app): AxState<AppState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let mut resp = next.run(req).await;
    let date = app.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}

/// `/api/version/`. The older generation (2024 develop, a source install) keeps it for staff and
/// does not know its own number: 403 to any other token, `"unknown"` to staff. An explicit
/// [`crate::SandboxOptions::version`] is served to every caller in either mode.
async fn version(
    AxState(app): AxState<AppState>,
    crate::app::MaybeCaller(caller): crate::app::MaybeCaller,
) -> Result<Response, ApiError> {
    let version = match (&app.shared.version, app.legacy_7x()) {
        (Some(v), _) => v.clone(),
        (None, false) => "8.0.5".to_owned(),
        (None, true) => match caller {
            None => return Err(ApiError::NotAuthenticated),
            Some(u) if !u.is_staff => return Err(ApiError::Forbidden),
            Some(_) => "unknown".to_owned(),
        },
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({ "version": version }),
    ))
}

/// Django's HTML 500 (`DEBUG = False`), for what crashes the older generation.
pub(crate) fn server_error_page() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/html")],
        "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n",
    )
        .into_response()
}

/// Django's HTML 404 for a route the server does not have (the older generation's missing
/// endpoints answer with it, as the URL router does).
pub(crate) fn not_found_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n",
    )
        .into_response()
}

/// Django: a path without its trailing slash is redirected (301, relative Location); anything else
/// unknown is an HTML 404.
async fn fallback(uri: Uri) -> Response {
    let path = uri.path();
    if !path.ends_with('/') && path.starts_with("/api/") {
        let mut loc = format!("{path}/");
        if let Some(q) = uri.query() {
            loc.push('?');
            loc.push_str(q);
        }
        let mut resp = (
            StatusCode::MOVED_PERMANENTLY,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "",
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&loc) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return resp;
    }
    not_found_page()
}

async fn method_not_allowed(method: Method) -> Response {
    ApiError::MethodNotAllowed(method).into_response()
}

// ---- control endpoints (not part of the Waldur API) ----

async fn ctl_counters(AxState(app): AxState<AppState>) -> Response {
    json_response(StatusCode::OK, &app.counters())
}

async fn ctl_reset_counters(AxState(app): AxState<AppState>) -> Response {
    app.reset_counters();
    StatusCode::NO_CONTENT.into_response()
}

async fn ctl_clock(AxState(app): AxState<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "now": crate::json::dt(&app.now()) }),
    )
}

async fn ctl_set_clock(
    AxState(app): AxState<AppState>,
    crate::json::DrfJson(body): crate::json::DrfJson,
) -> Response {
    match body.get("now") {
        Some(Value::Null) => app.set_now(None),
        Some(Value::String(s)) => match crate::api::usage::parse_datetime(s) {
            Some(t) => app.set_now(Some(t)),
            None => {
                return ApiError::field("now", "Expected an RFC 3339 datetime or null.")
                    .into_response()
            }
        },
        _ => return ApiError::field("now", "This field is required.").into_response(),
    }
    ctl_clock(AxState(app)).await
}

async fn ctl_faults(AxState(app): AxState<AppState>) -> Response {
    json_response(StatusCode::OK, &app.faults())
}

async fn ctl_set_faults(
    AxState(app): AxState<AppState>,
    crate::json::DrfJson(body): crate::json::DrfJson,
) -> Response {
    match serde_json::from_value::<Faults>(body) {
        Ok(f) => {
            app.set_faults(f);
            ctl_faults(AxState(app)).await
        }
        Err(e) => ApiError::BadRequest(format!("invalid faults: {e}")).into_response(),
    }
}

async fn ctl_usages(AxState(app): AxState<AppState>) -> Response {
    json_response(StatusCode::OK, &crate::planted::all_usages(&app))
}

async fn ctl_plant_usage(
    AxState(app): AxState<AppState>,
    crate::json::DrfJson(body): crate::json::DrfJson,
) -> Response {
    match crate::planted::plant_from_json(&app, &body) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn ctl_state(AxState(app): AxState<AppState>) -> Response {
    app.read(|st| json_response(StatusCode::OK, st))
}

async fn ctl_resource_state(
    AxState(app): AxState<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::json::DrfJson(body): crate::json::DrfJson,
) -> Response {
    let Some(state) = body
        .get("state")
        .and_then(|v| v.as_str())
        .map(|s| s.to_string())
    else {
        return ApiError::field("state", "This field is required.").into_response();
    };
    match crate::planted::set_resource_state(&app, &id, &state) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}
