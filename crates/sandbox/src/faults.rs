//! Fault injection (throttling, 5xx answers, latency, dropped connections) and request counters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::app::AppState;
use crate::json::json_response;

/// How the sandbox misbehaves. All shares are in `0.0..=1.0`; decisions come from a PRNG seeded with
/// `seed`, so the same request sequence gets the same faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// PRNG seed.
    pub seed: u64,
    /// Requests per second allowed before answering 429 (token bucket); `None` = unlimited.
    pub rate_limit: Option<f64>,
    /// Bucket size of the rate limit (default: `max(1, rate_limit)`).
    pub burst: Option<u32>,
    /// `Retry-After` seconds sent with 429 (default 1).
    pub retry_after_secs: Option<u64>,
    /// Share of requests answered 500, 502 or 503 (in turn).
    pub error_rate: f64,
    /// Share of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Latency added to every faulted request, in milliseconds.
    pub latency_ms: u64,
    /// Extra random latency `0..jitter_ms`.
    pub jitter_ms: u64,
    /// Only requests whose path contains one of these strings get faults (empty = all).
    pub paths: Vec<String>,
    /// Only these methods get faults (empty = all), e.g. `["POST"]`.
    pub methods: Vec<String>,
}

impl Faults {
    pub fn is_active(&self) -> bool {
        self.rate_limit.is_some()
            || self.error_rate > 0.0
            || self.drop_rate > 0.0
            || self.latency_ms > 0
            || self.jitter_ms > 0
    }
}

/// Mutable fault machinery: the configuration, the PRNG and the token bucket.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    pub faults: Faults,
    rng: u64,
    tokens: f64,
    last: Instant,
    errors: u64,
}

impl FaultEngine {
    pub fn new(faults: Faults) -> Self {
        let tokens = faults
            .burst
            .map(f64::from)
            .unwrap_or_else(|| faults.rate_limit.unwrap_or(1.0).max(1.0));
        FaultEngine {
            rng: faults.seed ^ 0x9e37_79b9_7f4a_7c15,
            faults,
            tokens,
            last: Instant::now(),
            errors: 0,
        }
    }

    fn next(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn decide(&mut self, path: &str, method: &str) -> Decision {
        let f = &self.faults;
        if !f.is_active() {
            return Decision::default();
        }
        if !f.paths.is_empty() && !f.paths.iter().any(|p| path.contains(p.as_str())) {
            return Decision::default();
        }
        if !f.methods.is_empty() && !f.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            return Decision::default();
        }
        let mut d = Decision::default();
        let (latency, jitter, rate, burst, retry, err_rate, drop_rate) = (
            f.latency_ms,
            f.jitter_ms,
            f.rate_limit,
            f.burst,
            f.retry_after_secs.unwrap_or(1),
            f.error_rate,
            f.drop_rate,
        );
        let extra = if jitter > 0 { self.next() % jitter } else { 0 };
        d.delay = Duration::from_millis(latency + extra);
        if let Some(rate) = rate {
            let cap = burst.map(f64::from).unwrap_or(rate.max(1.0));
            let now = Instant::now();
            self.tokens =
                (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(cap);
            self.last = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
            } else {
                d.throttle = Some(retry);
                return d;
            }
        }
        if drop_rate > 0.0 && self.unit() < drop_rate {
            d.drop = true;
            return d;
        }
        if err_rate > 0.0 && self.unit() < err_rate {
            let codes = [500u16, 502, 503];
            d.error = Some(codes[(self.errors % 3) as usize]);
            self.errors += 1;
        }
        d
    }
}

#[derive(Debug, Default)]
struct Decision {
    delay: Duration,
    throttle: Option<u64>,
    error: Option<u16>,
    drop: bool,
}

/// Put into each request's extensions by the socket server: notifying it closes the connection
/// without an answer.
#[derive(Clone)]
pub(crate) struct DropHandle(pub Arc<Notify>);

/// Middleware: apply the configured faults.
pub(crate) async fn fault_layer(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let decision = {
        let mut engine = app.shared.faults.lock().unwrap_or_else(|e| e.into_inner());
        engine.decide(&path, req.method().as_str())
    };
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if let Some(secs) = decision.throttle {
        let mut resp = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &serde_json::json!({ "detail": format!("Request was throttled. Expected available in {secs} seconds.") }),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return resp;
    }
    if decision.drop {
        if let Some(h) = req.extensions().get::<DropHandle>().cloned() {
            app.count(req.method().as_str(), &endpoint_of(&req), 0);
            h.0.notify_one();
            // The connection task drops the connection; never answer.
            std::future::pending::<()>().await;
        }
        // Without a socket (in-process tests) a drop is reported as a 502 from a "proxy".
        return html(
            StatusCode::BAD_GATEWAY,
            "<html><body><h1>502 Bad Gateway</h1></body></html>\n",
        );
    }
    if let Some(code) = decision.error {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match code {
            500 => "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n",
            502 => "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
            _ => "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n",
        };
        return html(status, body);
    }
    next.run(req).await
}

fn html(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn endpoint_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string())
}

/// Middleware: count what was served per (method, endpoint template, status).
pub(crate) async fn counter_layer(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str().to_string();
    let endpoint = endpoint_of(&req);
    let resp = next.run(req).await;
    app.count(&method, &endpoint, resp.status().as_u16());
    resp
}

/// One counter: how many requests of `method` to `endpoint` (the route template, e.g.
/// `/api/marketplace-orders/{uuid}/approve_by_provider/`) were answered with `status`
/// (`0` = connection dropped on purpose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    pub method: String,
    pub endpoint: String,
    pub status: u16,
    pub count: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters(pub BTreeMap<(String, String, u16), u64>);

impl Counters {
    pub fn list(&self) -> Vec<Counter> {
        self.0
            .iter()
            .map(|((m, e, s), c)| Counter {
                method: m.clone(),
                endpoint: e.clone(),
                status: *s,
                count: *c,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let f = Faults {
            seed: 7,
            error_rate: 0.3,
            drop_rate: 0.1,
            ..Faults::default()
        };
        let run = |f: &Faults| {
            let mut e = FaultEngine::new(f.clone());
            (0..200)
                .map(|_| {
                    let d = e.decide("/api/x/", "POST");
                    (d.error, d.drop)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&f), run(&f));
        let errors = run(&f).iter().filter(|d| d.0.is_some()).count();
        assert!(errors > 20 && errors < 100, "{errors}");
    }

    #[test]
    fn path_filter_limits_faults() {
        let mut e = FaultEngine::new(Faults {
            error_rate: 1.0,
            paths: vec!["set_usage".into()],
            ..Faults::default()
        });
        assert!(e.decide("/api/users/me/", "GET").error.is_none());
        assert!(e
            .decide("/api/marketplace-component-usages/set_usage/", "POST")
            .error
            .is_some());
    }
}
