//! The HTTP core: one place that sends, rate-limits, classifies, retries and turns answers into
//! typed results. Endpoint methods live in `endpoints/`.

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use crate::error::{ApiFailure, Error, ServerMessage};
use crate::pagination::{next_link, result_count, Page, Query};
use crate::ratelimit::Limiter;
use crate::retry::{
    classify, classify_transport, transport_failure, RetryPolicy, TransportFailure, Verdict,
};
use crate::settings::{ClientSettings, SettingsError, MAX_PAGE_SIZE};
use crate::token::Token;

/// A client for one Waldur deployment.
///
/// Cheap to clone (one `Arc`), `Send + Sync`: clones share the connection pool and the rate
/// limiter, so callers bound concurrency with a `tokio::sync::Semaphore` and move a clone into
/// each task while the agreed request rate still holds across all of them.
#[derive(Clone)]
pub struct WaldurClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    token: Token,
    limiter: Limiter,
    policy: RetryPolicy,
    page_size: u32,
    learnt: Learnt,
}

/// What this client has learnt about the server's generation, once per client (one run): servers
/// of 2024 (~7.x) lack endpoints that 8.x has and the other way round, and asking again on every
/// call would double the requests of a nightly run.
#[derive(Debug, Default)]
pub(crate) struct Learnt {
    /// `set_user_usages` (bulk, 8.x): not known yet (0), present or absent.
    bulk_user_usages: std::sync::atomic::AtomicU8,
    /// Held while the first per-user call finds out, so that concurrent callers wait for the
    /// answer instead of each spending a 404 on it.
    pub learning: tokio::sync::Mutex<()>,
}

// 0 (the default) = not known yet.
const PRESENT: u8 = 1;
const ABSENT: u8 = 2;

impl Learnt {
    /// `Some(true)` when the server has `set_user_usages`, `Some(false)` when it answered that it
    /// has not, `None` before the first call.
    pub fn bulk_user_usages(&self) -> Option<bool> {
        match self
            .bulk_user_usages
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            PRESENT => Some(true),
            ABSENT => Some(false),
            _ => None,
        }
    }

    pub fn set_bulk_user_usages(&self, present: bool) {
        self.bulk_user_usages.store(
            if present { PRESENT } else { ABSENT },
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

impl std::fmt::Debug for WaldurClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaldurClient")
            .field("base", &self.inner.base.as_str())
            .field("token", &self.inner.token)
            .field("page_size", &self.inner.page_size)
            .field("policy", &self.inner.policy)
            .finish()
    }
}

/// Whether sending a request twice is harmless. Decides if an attempt whose fate is unknown (a
/// timeout, a broken connection, a 5xx from a proxy) may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// GETs, and POSTs with SET semantics (`set_usage`, `set_backend_id`, `submit_report`, ...).
    Safe,
    /// State transitions and creations: a second copy of a request that did land would fail
    /// (409, "must make a unique set") and hide the first one's success. Retried only when the
    /// request surely did not reach Waldur's view: no connection, or a 429.
    Unsafe,
}

/// A successful answer, body read.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl WaldurClient {
    /// Validates the settings and builds the client. No request is sent.
    pub fn new(settings: ClientSettings) -> Result<Self, Error> {
        let base = settings.validate()?;
        let mut auth = HeaderValue::from_str(&format!("Token {}", settings.token.expose()))
            .map_err(|_| {
                Error::Settings(SettingsError::Http(
                    "the token contains characters not allowed in an HTTP header".to_owned(),
                ))
            })?;
        // Keeps the value out of hyper's and reqwest's Debug output and out of HPACK tables.
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(settings.user_agent.clone())
            // A redirect is never right here: Waldur's 301 for a missing slash would turn a POST
            // into a GET, and following one to another host would carry the token there.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(base.scheme() != "http")
            .build()
            .map_err(|e| Error::Settings(SettingsError::Http(e.to_string())))?;
        let mut policy = settings.retry;
        policy.max_retries = settings.max_retries;
        Ok(WaldurClient {
            inner: Arc::new(Inner {
                http,
                base,
                auth,
                token: settings.token,
                limiter: Limiter::new(settings.rate_per_second, settings.burst),
                policy,
                page_size: settings.page_size,
                learnt: Learnt::default(),
            }),
        })
    }

    /// The normalised API base (ends with `/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// Whether the server has `set_user_usages`, as far as this client has learnt it: `None`
    /// before its first per-user send (a dry run never learns it).
    pub fn has_bulk_user_usages(&self) -> Option<bool> {
        self.learnt().bulk_user_usages()
    }

    /// What this client learnt about the server's generation.
    pub(crate) fn learnt(&self) -> &Learnt {
        &self.inner.learnt
    }

    /// An absolute API URL for `path` (relative, ending with `/`): the hyperlinks some endpoints
    /// take instead of uuids.
    pub(crate) fn api_url(&self, path: &str) -> Result<Url, Error> {
        self.url_for(path, &Query::new())
    }

    /// Items per page used by the `list_*` methods.
    pub fn page_size(&self) -> u32 {
        self.inner.page_size
    }

    fn url_for(&self, path: &str, query: &Query) -> Result<Url, Error> {
        // Waldur answers 301 to a path without its trailing slash, and a redirected POST loses
        // its body: refuse such a path before it leaves the process.
        if path.starts_with('/') || !path.ends_with('/') || path.contains("..") {
            return Err(Error::InvalidRequest(format!(
                "API path {path:?} must be relative and end with '/'"
            )));
        }
        let mut url = self.inner.base.join(path).map_err(|e| {
            Error::InvalidRequest(format!("API path {path:?} does not form a URL: {e}"))
        })?;
        if !query.pairs().is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        Ok(url)
    }

    /// How a URL is named in errors and logs: relative to the base, query included (no secrets
    /// travel in queries; the token is only ever in the header).
    fn shown(&self, url: &Url) -> String {
        let full = url.as_str();
        full.strip_prefix(self.inner.base.as_str())
            .unwrap_or(url.path())
            .to_owned()
    }

    /// Sends one logical request: permit, attempt, classify, maybe wait and again.
    async fn execute(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        idempotency: Idempotency,
    ) -> Result<Answer, Error> {
        let shown = self.shown(&url);
        let mut rng = fastrand::Rng::new();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.inner.limiter.acquire().await;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, "application/json")
                .header(AUTHORIZATION, self.inner.auth.clone());
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(b) => Ok(Answer {
                            status,
                            headers,
                            body: b.to_vec(),
                        }),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let (verdict, surely_unprocessed) = match &outcome {
                Ok(a) => (
                    classify(a.status, &a.headers),
                    a.status == StatusCode::TOO_MANY_REQUESTS,
                ),
                Err(e) => {
                    let f = transport_failure(e);
                    (classify_transport(f), f == TransportFailure::Connect)
                }
            };
            tracing::debug!(
                method = %method,
                path = %shown,
                attempt,
                status = outcome.as_ref().ok().map(|a| a.status.as_u16()),
                "waldur request"
            );
            let give_up = match verdict {
                Verdict::Success => {
                    return outcome.map_err(|e| self.transport_error(&method, &shown, attempt, &e))
                }
                Verdict::Fatal => true,
                Verdict::Retry { after } => {
                    if idempotency == Idempotency::Unsafe && !surely_unprocessed {
                        true
                    } else {
                        match self.inner.policy.delay(attempt, after, &mut rng) {
                            Some(wait) => {
                                tracing::warn!(
                                    method = %method,
                                    path = %shown,
                                    attempt,
                                    status = outcome.as_ref().ok().map(|a| a.status.as_u16()),
                                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                                    "waldur request will be retried"
                                );
                                tokio::time::sleep(wait).await;
                                false
                            }
                            None => true,
                        }
                    }
                }
            };
            if give_up {
                return Err(match outcome {
                    Ok(a) => self.failure(&method, &shown, attempt, a),
                    Err(e) => self.transport_error(&method, &shown, attempt, &e),
                });
            }
        }
    }

    fn failure(&self, method: &Method, shown: &str, attempts: u32, a: Answer) -> Error {
        Error::from_failure(ApiFailure {
            method: method.to_string(),
            path: shown.to_owned(),
            status: a.status.as_u16(),
            message: match ServerMessage::from_body(&a.body, self.inner.token.expose()) {
                ServerMessage::Text(page) => ServerMessage::Text(crate::error::summarise_not_json(
                    a.status.as_u16(),
                    shown,
                    &page,
                )),
                m => m,
            },
            attempts,
        })
    }

    fn transport_error(
        &self,
        method: &Method,
        shown: &str,
        attempts: u32,
        e: &reqwest::Error,
    ) -> Error {
        let method = method.to_string();
        let path = shown.to_owned();
        match transport_failure(e) {
            TransportFailure::Timeout => Error::Timeout {
                method,
                path,
                attempts,
            },
            TransportFailure::Other if e.is_decode() => Error::Decode {
                method,
                path,
                reason: error_chain(e),
            },
            _ => Error::Connection {
                method,
                path,
                attempts,
                reason: error_chain(e),
            },
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        method: &Method,
        url: &Url,
        body: &[u8],
    ) -> Result<T, Error> {
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            method: method.to_string(),
            path: self.shown(url),
            reason: e.to_string(),
        })
    }

    /// GET one object.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query,
    ) -> Result<T, Error> {
        let url = self.url_for(path, query)?;
        let a = self
            .execute(Method::GET, url.clone(), None, Idempotency::Safe)
            .await?;
        self.decode(&Method::GET, &url, &a.body)
    }

    /// [`WaldurClient::get_json`], with the answer's headers (the server's `Date`).
    pub(crate) async fn get_json_with_headers<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query,
    ) -> Result<(T, HeaderMap), Error> {
        let url = self.url_for(path, query)?;
        let a = self
            .execute(Method::GET, url.clone(), None, Idempotency::Safe)
            .await?;
        let value = self.decode(&Method::GET, &url, &a.body)?;
        Ok((value, a.headers))
    }

    /// POST with an optional JSON body; returns the raw answer (many actions answer with an empty
    /// body or `{"status": ...}` / `{"detail": ...}`).
    pub(crate) async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: Option<&B>,
        idempotency: Idempotency,
    ) -> Result<Answer, Error> {
        let url = self.url_for(path, &Query::new())?;
        let bytes = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| {
                Error::InvalidRequest(format!("cannot encode the body for {path}: {e}"))
            })?),
            None => None,
        };
        self.execute(Method::POST, url, bytes, idempotency).await
    }

    /// POST and decode a JSON answer.
    pub(crate) async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
        idempotency: Idempotency,
    ) -> Result<T, Error> {
        let url = self.url_for(path, &Query::new())?;
        let a = self.post(path, body, idempotency).await?;
        self.decode(&Method::POST, &url, &a.body)
    }

    /// Every item of a list, following `rel="next"` until it is absent.
    ///
    /// Only the next link's query is used, on our own base URL: Django behind a TLS proxy often
    /// writes `http://` or an internal host name into `Link`, and the token must only ever go to
    /// the configured origin.
    pub(crate) async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query,
    ) -> Result<Vec<T>, Error> {
        let mut q = query.without("page");
        if !q.contains_key("page_size") {
            q.push("page_size", self.inner.page_size);
        }
        let first = self.url_for(path, &q)?;
        let mut url = first.clone();
        let mut items: Vec<T> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let a = self
                .execute(Method::GET, url.clone(), None, Idempotency::Safe)
                .await?;
            let mut page: Vec<T> = self.decode(&Method::GET, &url, &a.body)?;
            let empty = page.is_empty();
            items.append(&mut page);
            let Some(next) = next_link(&a.headers) else {
                return Ok(items);
            };
            let next_url = Url::options()
                .base_url(Some(&url))
                .parse(&next)
                .map_err(|e| Error::Decode {
                    method: "GET".into(),
                    path: self.shown(&url),
                    reason: format!("bad rel=\"next\" link: {e}"),
                })?;
            let mut rebuilt = first.clone();
            rebuilt.set_query(next_url.query());
            // A server that links a page to itself (or an empty page that still has a next one)
            // would loop forever.
            if empty || !seen.insert(rebuilt.to_string()) || rebuilt == url {
                return Err(Error::Decode {
                    method: "GET".into(),
                    path: self.shown(&url),
                    reason: "pagination does not advance".to_owned(),
                });
            }
            url = rebuilt;
        }
    }

    /// One page of a list (1-based), for callers that page themselves.
    pub(crate) async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query,
        page: u32,
        page_size: Option<u32>,
    ) -> Result<Page<T>, Error> {
        let size = page_size.unwrap_or(self.inner.page_size);
        if page == 0 || size == 0 || size > MAX_PAGE_SIZE {
            return Err(Error::InvalidRequest(format!(
                "page must be ≥ 1 and page_size in 1..={MAX_PAGE_SIZE} (got page {page}, page_size {size})"
            )));
        }
        let q = query
            .without("page")
            .without("page_size")
            .with("page", page)
            .with("page_size", size);
        let url = self.url_for(path, &q)?;
        let a = self
            .execute(Method::GET, url.clone(), None, Idempotency::Safe)
            .await?;
        let items = self.decode(&Method::GET, &url, &a.body)?;
        Ok(Page {
            items,
            total: result_count(&a.headers),
            has_next: next_link(&a.headers).is_some(),
        })
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// What a request would look like on the wire, minus the `Authorization` header: for `--dry-run`,
/// which must show exactly what would be sent and send nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPreview {
    pub method: &'static str,
    pub url: Url,
    /// The JSON body, pretty-printed.
    pub body: Option<String>,
}

impl WaldurClient {
    /// Builds, without sending, the request [`WaldurClient::set_usage`] would send.
    pub fn preview_set_usage(
        &self,
        req: &crate::types::usage::SetUsageRequest,
    ) -> Result<RequestPreview, Error> {
        req.check().map_err(Error::InvalidRequest)?;
        let url = self.url_for("marketplace-component-usages/set_usage/", &Query::new())?;
        let body = serde_json::to_string_pretty(req)
            .map_err(|e| Error::InvalidRequest(format!("cannot encode set_usage: {e}")))?;
        Ok(RequestPreview {
            method: "POST",
            url,
            body: Some(body),
        })
    }
}

const _: () = {
    const fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<WaldurClient>();
};

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> WaldurClient {
        let token = Token::new("abc").expect("token");
        let url = Url::parse("https://waldur.example.org/api").expect("url");
        WaldurClient::new(ClientSettings::new(url, token)).expect("client")
    }

    #[test]
    fn paths_must_keep_their_trailing_slash() {
        let c = client();
        for bad in [
            "marketplace-component-usages/set_usage",
            "/api/users/me/",
            "users/../../admin/",
        ] {
            assert!(
                matches!(c.url_for(bad, &Query::new()), Err(Error::InvalidRequest(_))),
                "{bad}"
            );
        }
        let u = c
            .url_for("users/me/", &Query::new().with("field", "uuid"))
            .expect("url");
        assert_eq!(
            u.as_str(),
            "https://waldur.example.org/api/users/me/?field=uuid"
        );
        assert_eq!(c.shown(&u), "users/me/?field=uuid");
    }
}
