//! Errors that keep what the server said, rendered for an operator, structured for code.

use std::fmt;

use serde_json::Value;

use crate::settings::SettingsError;

/// The body of a failed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    Empty,
    /// A JSON body in DRF's shapes: `{"detail": ..}`, `{"field": [..]}`, `{"non_field_errors": [..]}`,
    /// nested lists aligned with the request (`{"usages": [{}, {"amount": [..]}]}`), or a bare list.
    Json(Value),
    /// Anything else (an HTML error page of a proxy), shortened.
    Text(String),
}

/// A report refused for an offering component's cap: both figures as the server wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded {
    /// What the period would hold with the refused report.
    pub total: rust_decimal::Decimal,
    /// The component's `limit_amount`.
    pub limit: rust_decimal::Decimal,
}

/// How much of a non-JSON body is kept: enough to recognise a proxy page, not a whole document.
const TEXT_KEEP: usize = 300;

impl ServerMessage {
    /// Parses a body; `secret` (the token) is cut out of anything kept, in case a misbehaving
    /// proxy echoes request headers.
    pub(crate) fn from_body(body: &[u8], secret: &str) -> Self {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return ServerMessage::Empty;
        }
        let text = String::from_utf8_lossy(body);
        let text = if secret.is_empty() {
            text.into_owned()
        } else {
            text.replace(secret, "***")
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => ServerMessage::Json(v),
            Err(_) => {
                let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let mut kept: String = squeezed.chars().take(TEXT_KEEP).collect();
                if kept.len() < squeezed.len() {
                    kept.push('…');
                }
                ServerMessage::Text(kept)
            }
        }
    }

    /// Whether the server answered in JSON (or with nothing). A view of Waldur always answers in
    /// JSON; a non-JSON page comes from Django's URL router (no such endpoint) or from a proxy.
    pub fn is_json(&self) -> bool {
        !matches!(self, ServerMessage::Text(_))
    }

    /// Parses a JSON body already in memory (tests, captures).
    pub fn from_json(value: Value) -> Self {
        ServerMessage::Json(value)
    }

    /// `detail` of `{"detail": "..."}`, the form of 401/403/404/405/409/429 answers.
    pub fn detail(&self) -> Option<&str> {
        match self {
            ServerMessage::Json(Value::Object(m)) => m.get("detail").and_then(Value::as_str),
            _ => None,
        }
    }

    /// Every message with its location, e.g. `("usages[1].amount", "Ensure that ...")`; an empty
    /// location for `detail`, `non_field_errors` and bare lists, which concern the whole request.
    pub fn messages(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match self {
            ServerMessage::Empty => {}
            ServerMessage::Text(t) => out.push((String::new(), t.clone())),
            ServerMessage::Json(v) => collect(v, String::new(), &mut out),
        }
        out
    }

    /// The messages of one top-level field (`"resource"`, `"date"`, `"non_field_errors"`), to let
    /// callers recognise a case (e.g. a month closed to providers) without parsing the rendering.
    pub fn field(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let ServerMessage::Json(Value::Object(m)) = self {
            if let Some(v) = m.get(name) {
                collect(v, String::new(), &mut out);
            }
        }
        out.into_iter().map(|(_, m)| m).collect()
    }

    /// The server's refusal of a report over an offering component's cap
    /// (`OfferingComponent.validate_amount`, SEMANTICS.md §4): a bare list
    /// `["Total amount exceeds limit. Total amount: X, limit: Y."]`, X being what the period
    /// would hold with this report (the usage already held plus the new amount), Y the
    /// component's `limit_amount`. The message does not name the component.
    pub fn component_limit_exceeded(&self) -> Option<LimitExceeded> {
        self.messages().iter().find_map(|(_, m)| {
            let rest = m.strip_prefix("Total amount exceeds limit. Total amount: ")?;
            let (total, limit) = rest.split_once(", limit: ")?;
            Some(LimitExceeded {
                total: total.trim().parse().ok()?,
                limit: limit.trim().trim_end_matches('.').parse().ok()?,
            })
        })
    }

    /// Whether any message contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.messages().iter().any(|(_, m)| m.contains(needle))
    }

    /// One line: `resource: Resource is not in valid state.; usages[1].amount: Ensure ...`.
    pub fn render(&self) -> String {
        let parts: Vec<String> = self
            .messages()
            .into_iter()
            .map(|(loc, msg)| {
                if loc.is_empty() {
                    msg
                } else {
                    format!("{loc}: {msg}")
                }
            })
            .collect();
        if parts.is_empty() {
            "(empty body)".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// One line about a non-JSON error body, in place of the page itself: an HTML page must never end
/// up in a table cell or a log line. A 404 page is Django's router saying that the endpoint does
/// not exist on this server (an older or newer generation); anything else keeps the page's title
/// (or its first words), which is enough to recognise a proxy's error page.
pub(crate) fn summarise_not_json(status: u16, path: &str, text: &str) -> String {
    if status == 404 {
        return format!(
            "HTTP 404 (not JSON): this server has no {}",
            endpoint_template(path)
        );
    }
    let lower = text.to_ascii_lowercase();
    let title = lower
        .find("<title>")
        .and_then(|start| {
            let from = start + "<title>".len();
            lower[from..]
                .find("</title>")
                .map(|len| text[from..from + len].trim().to_owned())
        })
        .filter(|t| !t.is_empty());
    let gist = title.unwrap_or_else(|| {
        let mut plain = String::new();
        let mut in_tag = false;
        for c in text.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    plain.push(' ');
                }
                c if !in_tag => plain.push(c),
                _ => {}
            }
        }
        let words: Vec<&str> = plain.split_whitespace().collect();
        let mut line: String = words.join(" ").chars().take(120).collect();
        if line.chars().count() == 120 {
            line.push('…');
        }
        line
    });
    format!("HTTP {status} (not JSON): {gist}")
}

/// A request path as an endpoint name: the query dropped and every uuid replaced by `{uuid}`, e.g.
/// `marketplace-provider-resources/{uuid}/set_as_ok/`.
pub(crate) fn endpoint_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            if uuid::Uuid::parse_str(seg).is_ok() {
                "{uuid}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Keys whose messages are about the request as a whole, so their name adds nothing for a reader.
fn is_whole_request_key(k: &str) -> bool {
    k == "detail" || k == "non_field_errors"
}

fn collect(v: &Value, loc: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((loc, s.clone())),
        Value::Array(items) => {
            // A list of strings is DRF's list of messages for one location; a list of objects is
            // aligned with the request's list, where `{}` marks an item without errors.
            let aligned = items.iter().any(|i| i.is_object() || i.is_array());
            for (i, item) in items.iter().enumerate() {
                let here = if aligned {
                    format!("{loc}[{i}]")
                } else {
                    loc.clone()
                };
                collect(item, here, out);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                let here = if is_whole_request_key(k) {
                    loc.clone()
                } else if loc.is_empty() {
                    k.clone()
                } else {
                    format!("{loc}.{k}")
                };
                collect(item, here, out);
            }
        }
        Value::Null => {}
        other => out.push((loc, other.to_string())),
    }
}

impl fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// One failed HTTP answer: what was asked and what the server said. Never holds request headers.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    pub method: String,
    /// Path and query relative to the API base, e.g. `marketplace-orders/<uuid>/approve_by_provider/`.
    pub path: String,
    pub status: u16,
    pub message: ServerMessage,
    /// Attempts made, retries included.
    pub attempts: u32,
}

impl ApiFailure {
    /// Whether the answer says that the endpoint does not exist on this server: a 404 that is not
    /// JSON (Django's router page), as opposed to a view's JSON 404 for an object that does not
    /// exist. Lets callers fall back to what an older or newer generation offers.
    pub fn is_missing_endpoint(&self) -> bool {
        self.status == 404 && !self.message.is_json()
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} answered {}: {}",
            self.method, self.path, self.status, self.message
        )?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// The text Waldur sends when a user token outlived its idle lifetime.
pub const TOKEN_EXPIRED: &str = "Token has expired.";

/// What an operator must do about an expired token, in one place for the CLI and the README.
pub const TOKEN_EXPIRED_HINT: &str = "Waldur user tokens expire after an hour without use unless the user's \
token_lifetime is cleared; a nightly job needs a token that does not expire: as that user, send \
PATCH /api/users/<your uuid>/ with {\"token_lifetime\": null, \"agree_with_policy\": true}, then fetch a new token";

/// Errors of the Waldur client.
///
/// Server answers keep their status and body ([`ApiFailure`]); the token and the `Authorization`
/// header are never part of any variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The request was refused before sending (e.g. an amount with more than 2 decimals).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// 401: the token is wrong, missing or expired.
    #[error("{}", unauthorized_text(.0))]
    Unauthorized(ApiFailure),
    /// 403: the token's user lacks the permission (e.g. `RESOURCE.SET_USAGE` on the offering).
    #[error("permission denied: {0}")]
    Forbidden(ApiFailure),
    /// 404: the object does not exist or is not visible to this user; also a page past the end.
    #[error("not found: {0}")]
    NotFound(ApiFailure),
    /// 409: the object's state forbids the operation; the message names the valid states.
    #[error("conflict with the object's state: {0}")]
    Conflict(ApiFailure),
    /// 400: the server refused the request's content; see [`ApiFailure::message`] for the fields.
    #[error("rejected by the server: {0}")]
    Validation(ApiFailure),
    /// 429 on every attempt, or a `Retry-After` longer than the policy accepts.
    #[error("throttled: {0}")]
    Throttled(ApiFailure),
    /// 5xx (or 408) on every attempt.
    #[error("server error: {0}")]
    Server(ApiFailure),
    /// Any other status (301 from a path without trailing slash, 405, ...).
    #[error("unexpected answer: {0}")]
    UnexpectedStatus(ApiFailure),
    #[error("{method} {path} timed out (after {attempts} attempts)")]
    Timeout {
        method: String,
        path: String,
        attempts: u32,
    },
    #[error("{method} {path}: connection failed (after {attempts} attempts): {reason}")]
    Connection {
        method: String,
        path: String,
        attempts: u32,
        reason: String,
    },
    /// The answer was not what the contract describes.
    #[error("{method} {path}: cannot read the answer: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },
}

fn unauthorized_text(f: &ApiFailure) -> String {
    if f.message.detail() == Some(TOKEN_EXPIRED) {
        format!("token rejected: {f}. {TOKEN_EXPIRED_HINT}")
    } else {
        format!("token rejected: {f}")
    }
}

impl Error {
    /// The server's answer, for errors that have one.
    pub fn failure(&self) -> Option<&ApiFailure> {
        match self {
            Error::Unauthorized(f)
            | Error::Forbidden(f)
            | Error::NotFound(f)
            | Error::Conflict(f)
            | Error::Validation(f)
            | Error::Throttled(f)
            | Error::Server(f)
            | Error::UnexpectedStatus(f) => Some(f),
            _ => None,
        }
    }

    /// HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        self.failure().map(|f| f.status)
    }

    /// Whether the server has no such endpoint (see [`ApiFailure::is_missing_endpoint`]).
    pub fn is_missing_endpoint(&self) -> bool {
        self.failure().is_some_and(ApiFailure::is_missing_endpoint)
    }

    /// Whether the token expired (see [`TOKEN_EXPIRED_HINT`]).
    pub fn is_token_expired(&self) -> bool {
        matches!(self, Error::Unauthorized(f) if f.message.detail() == Some(TOKEN_EXPIRED))
    }

    pub(crate) fn from_failure(f: ApiFailure) -> Self {
        match f.status {
            400 => Error::Validation(f),
            401 => Error::Unauthorized(f),
            403 => Error::Forbidden(f),
            404 => Error::NotFound(f),
            409 => Error::Conflict(f),
            429 => Error::Throttled(f),
            408 | 500..=599 => Error::Server(f),
            _ => Error::UnexpectedStatus(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(v: Value) -> String {
        ServerMessage::Json(v).render()
    }

    #[test]
    fn renders_drf_shapes() {
        assert_eq!(r(json!({"detail": "Invalid page."})), "Invalid page.");
        assert_eq!(
            r(json!({"non_field_errors": ["These components are invalid: bar, foo."]})),
            "These components are invalid: bar, foo."
        );
        assert_eq!(
            r(json!({"resource": ["Resource is not in valid state."]})),
            "resource: Resource is not in valid state."
        );
        assert_eq!(
            r(json!([
                "Total amount exceeds limit. Total amount: 5, limit: 3."
            ])),
            "Total amount exceeds limit. Total amount: 5, limit: 3."
        );
        let over = ServerMessage::Json(json!([
            "Total amount exceeds limit. Total amount: 110.00, limit: 100."
        ]))
        .component_limit_exceeded()
        .unwrap();
        assert_eq!(
            (over.total.to_string(), over.limit.to_string()),
            ("110.00".to_owned(), "100".to_owned())
        );
        assert_eq!(
            ServerMessage::Json(json!({"resource": ["Resource is not in valid state."]}))
                .component_limit_exceeded(),
            None
        );
        assert_eq!(
            r(
                json!({"usages": [{}, {"amount": ["Ensure that there are no more than 2 decimal places."]}]})
            ),
            "usages[1].amount: Ensure that there are no more than 2 decimal places."
        );
        assert_eq!(
            r(json!({"usages": ["This field is required."]})),
            "usages: This field is required."
        );
        assert_eq!(
            r(json!({"a": ["x", "y"], "b": {"c": ["z"]}})),
            "a: x; a: y; b.c: z"
        );
        assert_eq!(r(json!({})), "(empty body)");
        assert_eq!(ServerMessage::Empty.render(), "(empty body)");
    }

    #[test]
    fn text_bodies_are_shortened_and_redacted() {
        let body = format!(
            "<html> <title>Bad Gateway</title> token abc123 {}",
            "x".repeat(1000)
        );
        let m = ServerMessage::from_body(body.as_bytes(), "abc123");
        let ServerMessage::Text(t) = &m else {
            panic!("text expected: {m:?}")
        };
        assert!(t.starts_with("<html> <title>Bad Gateway</title> token *** x"));
        assert!(t.chars().count() <= TEXT_KEEP + 1);
        assert!(!t.contains("abc123"));
        assert_eq!(ServerMessage::from_body(b"  \n", "k"), ServerMessage::Empty);
    }

    #[test]
    fn non_json_bodies_become_one_line() {
        let page = "<!doctype html><html><head><title>Not Found</title></head><body><h1>Not Found</h1></body></html>";
        assert_eq!(
            summarise_not_json(
                404,
                "marketplace-provider-resources/0a4b1bd4f6e94b7c9a7d0e0b5f6a1c2d/set_as_ok/",
                page
            ),
            "HTTP 404 (not JSON): this server has no marketplace-provider-resources/{uuid}/set_as_ok/"
        );
        assert_eq!(
            summarise_not_json(
                404,
                "marketplace-component-usages/0a4b1bd4-f6e9-4b7c-9a7d-0e0b5f6a1c2d/set_user_usages/?x=1",
                page
            ),
            "HTTP 404 (not JSON): this server has no marketplace-component-usages/{uuid}/set_user_usages/"
        );
        assert_eq!(
            summarise_not_json(
                502,
                "users/me/",
                "<html><head><TITLE>502 Bad Gateway</TITLE></head></html>"
            ),
            "HTTP 502 (not JSON): 502 Bad Gateway"
        );
        let long = format!("<p>upstream   said</p> {}", "z".repeat(500));
        let s = summarise_not_json(503, "users/me/", &long);
        assert!(
            s.starts_with("HTTP 503 (not JSON): upstream said zzz"),
            "{s}"
        );
        assert!(s.chars().count() < 160, "{s}");
        assert!(!s.contains('<'), "{s}");
    }

    #[test]
    fn a_missing_endpoint_is_a_404_that_is_not_json() {
        let f = |status, message| ApiFailure {
            method: "POST".into(),
            path: "x/".into(),
            status,
            message,
            attempts: 1,
        };
        assert!(
            f(404, ServerMessage::Text("HTTP 404 (not JSON): ...".into())).is_missing_endpoint()
        );
        assert!(
            !f(404, ServerMessage::Json(json!({"detail": "Not found."}))).is_missing_endpoint()
        );
        assert!(
            !f(502, ServerMessage::Text("HTTP 502 (not JSON): x".into())).is_missing_endpoint()
        );
    }

    #[test]
    fn expired_token_gets_the_hint() {
        let f = ApiFailure {
            method: "GET".into(),
            path: "users/me/".into(),
            status: 401,
            message: ServerMessage::Json(json!({"detail": TOKEN_EXPIRED})),
            attempts: 1,
        };
        let e = Error::from_failure(f);
        assert!(e.is_token_expired());
        let s = e.to_string();
        assert!(s.contains("token_lifetime"), "{s}");
        assert!(s.contains("\"token_lifetime\": null"), "{s}");
    }
}
