//! JSON building blocks: an ordered object type that can carry raw JSON numbers, the DRF-shaped error
//! type every handler returns, and a body extractor that turns malformed bodies into DRF errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// One value of an [`Obj`]: an ordinary JSON value or pre-rendered JSON text (used to write decimals
/// as JSON numbers from their exact string form, never through `f64`).
#[derive(Debug, Clone)]
pub enum J {
    V(Value),
    Raw(Box<RawValue>),
}

/// A JSON object that keeps insertion order and supports `field=` selection.
#[derive(Debug, Clone, Default)]
pub struct Obj(pub Vec<(&'static str, J)>);

impl Obj {
    pub fn new() -> Self {
        Obj(Vec::with_capacity(32))
    }
    pub fn f(mut self, key: &'static str, v: impl Into<Value>) -> Self {
        self.0.push((key, J::V(v.into())));
        self
    }
    /// A decimal written as a JSON number from its string form.
    pub fn num(mut self, key: &'static str, d: &Decimal) -> Self {
        let v = match RawValue::from_string(d.to_string()) {
            Ok(raw) => J::Raw(raw),
            Err(_) => J::V(Value::String(d.to_string())),
        };
        self.0.push((key, v));
        self
    }
    /// Keep only the listed keys (unknown names are ignored, like Waldur does); empty = keep all.
    pub fn select(mut self, fields: &[String]) -> Self {
        if !fields.is_empty() {
            self.0.retain(|(k, _)| fields.iter().any(|f| f == k));
        }
        self
    }
    pub fn into_value(self) -> Value {
        let mut m = serde_json::Map::new();
        for (k, v) in self.0 {
            let v = match v {
                J::V(v) => v,
                J::Raw(r) => serde_json::from_str(r.get()).unwrap_or(Value::Null),
            };
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    }
}

impl Serialize for Obj {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            match v {
                J::V(v) => m.serialize_entry(k, v)?,
                J::Raw(r) => m.serialize_entry(k, r)?,
            }
        }
        m.end()
    }
}

/// `200 application/json` with the given serializable body.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
    }
}

/// Waldur renders datetimes with microseconds and `Z`.
pub fn dt(t: &DateTime<Utc>) -> Value {
    Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}
pub fn odt(t: &Option<DateTime<Utc>>) -> Value {
    t.as_ref().map(dt).unwrap_or(Value::Null)
}
pub fn date(d: &NaiveDate) -> Value {
    Value::String(d.format("%Y-%m-%d").to_string())
}
pub fn hex(u: &uuid::Uuid) -> Value {
    Value::String(u.simple().to_string())
}
pub fn ohex(u: &Option<uuid::Uuid>) -> Value {
    u.as_ref().map(hex).unwrap_or(Value::Null)
}
/// Decimal with exactly two places as a JSON string ("12.50").
pub fn dec_str(d: &Decimal) -> Value {
    Value::String(d.to_string())
}

/// Every error the sandbox answers with, rendered in Django REST framework's shapes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a field-keyed object or a bare list.
    #[error("validation error: {0}")]
    Validation(Value),
    /// 400 `{"detail": ...}` (JSON parse errors).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401 `Authentication credentials were not provided.`
    #[error("not authenticated")]
    NotAuthenticated,
    /// 401 with the given detail (invalid/expired token).
    #[error("authentication failed: {0}")]
    AuthFailed(&'static str),
    /// 403 `You do not have permission to perform this action.`
    #[error("forbidden")]
    Forbidden,
    /// 404 `{"detail": ...}`.
    #[error("not found: {0}")]
    NotFound(String),
    /// 405 `Method "X" not allowed.`
    #[error("method {0} not allowed")]
    MethodNotAllowed(Method),
    /// 409 state-machine violations.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 415 unsupported media type.
    #[error("unsupported media type {0}")]
    UnsupportedMedia(String),
    /// 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// `{"field": ["msg"]}`.
    pub fn field(field: &str, msg: impl Into<String>) -> Self {
        let mut m = serde_json::Map::new();
        m.insert(field.to_string(), json!([msg.into()]));
        ApiError::Validation(Value::Object(m))
    }
    /// `{"non_field_errors": ["msg"]}`.
    pub fn non_field(msg: impl Into<String>) -> Self {
        Self::field("non_field_errors", msg)
    }
    pub fn not_found(model: &str) -> Self {
        ApiError::NotFound(format!("No {model} matches the given query."))
    }
    pub fn invalid_page() -> Self {
        ApiError::NotFound("Invalid page.".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Validation(v) => (StatusCode::BAD_REQUEST, v.clone()),
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, json!({ "detail": d })),
            ApiError::NotAuthenticated => (
                StatusCode::UNAUTHORIZED,
                json!({"detail": "Authentication credentials were not provided."}),
            ),
            ApiError::AuthFailed(d) => (StatusCode::UNAUTHORIZED, json!({ "detail": d })),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"detail": "You do not have permission to perform this action."}),
            ),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, json!({ "detail": d })),
            ApiError::MethodNotAllowed(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({ "detail": format!("Method \"{m}\" not allowed.") }),
            ),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, json!({ "detail": d })),
            ApiError::UnsupportedMedia(t) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({ "detail": format!("Unsupported media type \"{t}\" in request.") }),
            ),
            ApiError::Internal(d) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "detail": format!("Internal sandbox error: {d}") }),
            ),
        };
        let mut resp = json_response(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        resp
    }
}

/// A JSON request body parsed the way DRF does: an empty body is `{}`, malformed JSON is
/// `400 {"detail": "JSON parse error - ..."}`, a non-JSON content type is 415.
pub struct DrfJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for DrfJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ctype = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("Could not read the request body: {e}")))?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(DrfJson(Value::Object(Default::default())));
        }
        if let Some(ct) = ctype {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !mime.is_empty() && mime != "application/json" && !mime.ends_with("+json") {
                return Err(ApiError::UnsupportedMedia(ct));
            }
        }
        serde_json::from_slice(&bytes)
            .map(DrfJson)
            .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))
    }
}
