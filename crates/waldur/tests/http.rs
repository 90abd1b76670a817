//! The client against a tiny in-test HTTP server on 127.0.0.1:0, on tokio's paused clock: retries,
//! `Retry-After`, rate limiting, pagination, error mapping, and the token staying secret.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tally_waldur::*;
use tokio::time::Instant;
use url::Url;

const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: Bytes,
    at: Instant,
}

#[derive(Clone)]
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn canned(status: u16, body: &str) -> Canned {
    Canned {
        status,
        headers: vec![],
        body: body.to_owned(),
    }
}

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Canned>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn scripted(
    State(s): State<Script>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.seen.lock().expect("lock").push(Seen {
        method,
        uri: uri.to_string(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        at: Instant::now(),
    });
    let next = s.answers.lock().expect("lock").pop_front();
    let Some(c) = next else {
        return (StatusCode::IM_A_TEAPOT, "script exhausted").into_response();
    };
    let mut resp = Response::builder().status(c.status);
    for (k, v) in &c.headers {
        resp = resp.header(*k, v.as_str());
    }
    if !c.body.is_empty() {
        resp = resp.header("content-type", "application/json");
    }
    resp.body(axum::body::Body::from(c.body)).expect("response")
}

/// Serves `answers` in order to any request; returns the API base URL and the record.
async fn serve(answers: Vec<Canned>) -> (Url, Script) {
    let script = Script {
        answers: Arc::new(Mutex::new(answers.into())),
        seen: Arc::default(),
    };
    let app = Router::new().fallback(scripted).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (
        Url::parse(&format!("http://{addr}/api")).expect("url"),
        script,
    )
}

fn settings(url: Url) -> ClientSettings {
    let mut s = ClientSettings::new(url, Token::new(TOKEN).expect("token"));
    s.rate_per_second = NonZeroU32::new(100).expect("nz");
    s.burst = NonZeroU32::new(100).expect("nz");
    s.timeout = Duration::from_secs(30);
    s
}

fn client(url: Url) -> WaldurClient {
    WaldurClient::new(settings(url)).expect("client")
}

fn resource() -> uuid::Uuid {
    uuid::Uuid::parse_str("49f75862116146d7bdc8a99ce8c611bc").expect("uuid")
}

fn usage_request() -> SetUsageRequest {
    SetUsageRequest::current_month(
        resource(),
        vec![UsageItem::new("cpu", "120.50".parse().expect("decimal"))],
    )
}

#[tokio::test(start_paused = true)]
async fn retries_503_then_429_with_retry_after_then_succeeds() {
    let (url, script) = serve(vec![
        canned(503, ""),
        Canned {
            status: 429,
            headers: vec![("retry-after", "7".into())],
            body: r#"{"detail": "Request was throttled. Expected available in 7 seconds."}"#.into(),
        },
        canned(201, ""),
    ])
    .await;
    let c = client(url);
    c.set_usage(&usage_request())
        .await
        .expect("third attempt succeeds");

    let seen = script.seen();
    assert_eq!(seen.len(), 3, "three attempts");
    for s in &seen {
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.uri, "/api/marketplace-component-usages/set_usage/");
        assert_eq!(s.auth.as_deref(), Some(&*format!("Token {TOKEN}")));
        assert_eq!(s.content_type.as_deref(), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&s.body).expect("json body");
        assert_eq!(
            body,
            serde_json::json!({"resource": "49f75862116146d7bdc8a99ce8c611bc",
                               "usages": [{"type": "cpu", "amount": "120.50"}]})
        );
    }
    let policy = RetryPolicy::default();
    let first_wait = seen[1].at - seen[0].at;
    assert!(
        first_wait <= policy.ceiling(1) + Duration::from_millis(20),
        "backoff after 503 stays under its ceiling: {first_wait:?}"
    );
    let second_wait = seen[2].at - seen[1].at;
    assert!(
        second_wait >= Duration::from_secs(7),
        "Retry-After: 7 honoured, waited {second_wait:?}"
    );
    assert!(second_wait < Duration::from_secs(8), "{second_wait:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_http_date_is_honoured() {
    let when = std::time::SystemTime::now() + Duration::from_secs(20);
    let (url, script) = serve(vec![
        Canned {
            status: 503,
            headers: vec![("retry-after", httpdate::fmt_http_date(when))],
            body: String::new(),
        },
        canned(201, ""),
    ])
    .await;
    client(url).set_usage(&usage_request()).await.expect("ok");
    let seen = script.seen();
    assert_eq!(seen.len(), 2);
    // The date has one-second resolution and the wall clock moved a little while building it.
    let wait = seen[1].at - seen[0].at;
    assert!(wait >= Duration::from_secs(18), "{wait:?}");
}

#[tokio::test(start_paused = true)]
async fn every_attempt_takes_a_rate_limit_permit() {
    let (url, script) = serve(vec![
        canned(502, ""),
        canned(502, ""),
        canned(502, ""),
        canned(201, ""),
    ])
    .await;
    let mut s = settings(url);
    s.rate_per_second = NonZeroU32::new(1).expect("nz");
    s.burst = NonZeroU32::new(1).expect("nz");
    s.retry = RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let c = WaldurClient::new(s).expect("client");
    c.set_usage(&usage_request()).await.expect("ok");
    let seen = script.seen();
    assert_eq!(seen.len(), 4);
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(999),
            "retries do not bypass the 1/s limit: {gap:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_retries_with_the_server_message() {
    let (url, script) = serve(vec![
        canned(503, r#"{"detail": "maintenance"}"#),
        canned(503, r#"{"detail": "maintenance"}"#),
        canned(503, r#"{"detail": "maintenance"}"#),
    ])
    .await;
    let mut s = settings(url);
    s.max_retries = 2;
    let err = WaldurClient::new(s)
        .expect("client")
        .set_usage(&usage_request())
        .await
        .expect_err("fails");
    assert_eq!(script.seen().len(), 3);
    assert!(
        matches!(err, Error::Server(ref f) if f.attempts == 3),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("maintenance"), "{text}");
    assert!(text.contains("after 3 attempts"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_too_long_retry_after_gives_up_as_throttled() {
    let (url, script) = serve(vec![Canned {
        status: 429,
        headers: vec![("retry-after", "86400".into())],
        body: r#"{"detail": "Request was throttled."}"#.into(),
    }])
    .await;
    let err = client(url)
        .set_usage(&usage_request())
        .await
        .expect_err("gives up");
    assert_eq!(script.seen().len(), 1);
    assert!(matches!(err, Error::Throttled(_)), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn fatal_statuses_are_not_retried_and_map_to_kinds() {
    type Check = fn(&Error) -> bool;
    let cases: Vec<(Canned, Check)> = vec![
        (
            canned(400, r#"{"resource": ["Resource is not in valid state."]}"#),
            |e| matches!(e, Error::Validation(f) if f.message.field("resource") == ["Resource is not in valid state."]),
        ),
        (canned(401, r#"{"detail": "Invalid token."}"#), |e| {
            matches!(e, Error::Unauthorized(_)) && !e.is_token_expired()
        }),
        (
            canned(
                403,
                r#"{"detail": "You do not have permission to perform this action."}"#,
            ),
            |e| matches!(e, Error::Forbidden(_)),
        ),
        (canned(404, r#"{"detail": "Not found."}"#), |e| {
            matches!(e, Error::NotFound(_))
        }),
        (
            canned(405, r#"{"detail": "Method \"GET\" not allowed."}"#),
            |e| matches!(e, Error::UnexpectedStatus(f) if f.status == 405),
        ),
        (
            canned(
                409,
                r#"{"detail": "Valid states for operation: pending-provider."}"#,
            ),
            |e| matches!(e, Error::Conflict(_)) && e.to_string().contains("pending-provider"),
        ),
        (
            Canned {
                status: 301,
                headers: vec![("location", "/elsewhere/".into())],
                body: String::new(),
            },
            |e| matches!(e, Error::UnexpectedStatus(f) if f.status == 301),
        ),
    ];
    for (answer, check) in cases {
        let status = answer.status;
        let (url, script) = serve(vec![answer]).await;
        let err = client(url)
            .set_usage(&usage_request())
            .await
            .expect_err("fatal");
        assert_eq!(script.seen().len(), 1, "{status} is not retried");
        assert!(check(&err), "{status}: {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
    }
}

#[tokio::test(start_paused = true)]
async fn expired_token_tells_the_operator_what_to_do() {
    let (url, _) = serve(vec![canned(401, r#"{"detail": "Token has expired."}"#)]).await;
    let err = client(url).me().await.expect_err("401");
    assert!(err.is_token_expired());
    let text = err.to_string();
    assert!(text.contains("Token has expired."), "{text}");
    assert!(text.contains("token_lifetime"), "{text}");
    assert!(text.contains("PATCH /api/users/"), "{text}");
    assert!(!text.contains(TOKEN));
}

#[tokio::test(start_paused = true)]
async fn state_transitions_are_not_resent_after_an_ambiguous_failure() {
    let (url, script) = serve(vec![canned(502, ""), canned(200, "")]).await;
    let err = client(url)
        .approve_order(resource(), None)
        .await
        .expect_err("a 502 may hide a success; do not approve twice");
    assert_eq!(script.seen().len(), 1);
    assert!(matches!(err, Error::Server(_)), "{err:?}");

    // A 429 means the request never reached the view: safe to send again.
    let (url, script) = serve(vec![
        Canned {
            status: 429,
            headers: vec![("retry-after", "1".into())],
            body: String::new(),
        },
        canned(200, r#"{"detail": "Order has been approved."}"#),
    ])
    .await;
    let r = client(url)
        .approve_order(resource(), None)
        .await
        .expect("approved");
    assert_eq!(r.detail.as_deref(), Some("Order has been approved."));
    let seen = script.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].uri,
        "/api/marketplace-orders/49f75862116146d7bdc8a99ce8c611bc/approve_by_provider/"
    );
    assert!(seen[0].body.is_empty(), "no body without attributes");
    assert_eq!(seen[0].content_type, None);
}

#[tokio::test(start_paused = true)]
async fn connection_refused_is_retried_then_reported() {
    // Bind and drop to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut s = settings(Url::parse(&format!("http://127.0.0.1:{port}/api/")).expect("url"));
    s.max_retries = 2;
    let err = WaldurClient::new(s)
        .expect("client")
        .version()
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(err, Error::Connection { attempts: 3, .. }),
        "{err:?}"
    );
}

fn page_body(items: &[&str]) -> String {
    serde_json::to_string(
        &items
            .iter()
            .map(|u| serde_json::json!({"uuid": u, "state": "OK", "backend_id": format!("b-{u}"), "limit_usage": null}))
            .collect::<Vec<_>>(),
    )
    .expect("json")
}

#[tokio::test(start_paused = true)]
async fn all_pages_are_followed_on_our_own_origin() {
    let a = "00000000000000000000000000000001";
    let b = "00000000000000000000000000000002";
    let c3 = "00000000000000000000000000000003";
    // Links written by a Django behind a TLS proxy: wrong scheme and host. Only the query is used.
    let link = |page: u32| {
        format!(
            "<http://internal:8000/api/marketplace-provider-resources/?offering_uuid=e8c632838ace4e93ba932a06ccbb63c6&page=1&page_size=2>; rel=\"first\", \
             <http://internal:8000/api/marketplace-provider-resources/?offering_uuid=e8c632838ace4e93ba932a06ccbb63c6&page={page}&page_size=2>; rel=\"next\""
        )
    };
    let (url, script) = serve(vec![
        Canned {
            status: 200,
            headers: vec![("link", link(2)), ("x-result-count", "3".into())],
            body: page_body(&[a, b]),
        },
        Canned {
            status: 200,
            headers: vec![("x-result-count", "3".into())],
            body: page_body(&[c3]),
        },
    ])
    .await;
    let cl = client(url);
    let offering = uuid::Uuid::parse_str("e8c632838ace4e93ba932a06ccbb63c6").expect("uuid");
    let mut filter = ResourceFilter::provider_offering(offering);
    filter.states = vec![ResourceState::Ok, ResourceState::Updating];
    filter.fields = vec!["backend_id".into(), "state".into()];
    let all = cl.resources(&filter).await.expect("all pages");
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].backend_id.as_deref(), Some(&*format!("b-{c3}")));
    let seen = script.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].uri,
        "/api/marketplace-provider-resources/?offering_uuid=e8c632838ace4e93ba932a06ccbb63c6&state=OK&state=Updating&field=uuid&field=backend_id&field=state&page_size=100"
    );
    assert_eq!(
        seen[1].uri,
        "/api/marketplace-provider-resources/?offering_uuid=e8c632838ace4e93ba932a06ccbb63c6&page=2&page_size=2"
    );
    assert!(seen.iter().all(|s| s.auth.is_some()));
}

#[tokio::test(start_paused = true)]
async fn a_self_linking_page_is_an_error_not_a_loop() {
    let link = "<http://x/api/keys/?page=1>; rel=\"next\"".to_owned();
    let (url, _) = serve(vec![
        Canned {
            status: 200,
            headers: vec![("link", link.clone())],
            body: r#"[{"uuid": "00000000000000000000000000000001"}]"#.into(),
        },
        Canned {
            status: 200,
            headers: vec![("link", link)],
            body: r#"[{"uuid": "00000000000000000000000000000001"}]"#.into(),
        },
    ])
    .await;
    let err = client(url)
        .keys(&KeyFilter::default())
        .await
        .expect_err("loop detected");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn one_page_on_request() {
    let (url, script) = serve(vec![Canned {
        status: 200,
        headers: vec![
            ("x-result-count", "7".into()),
            ("link", "<http://x/api/marketplace-orders/?page=3&page_size=2>; rel=\"next\"".into()),
        ],
        body: r#"[{"uuid": "00000000000000000000000000000001", "state": "pending-provider", "type": "Create"},
                  {"uuid": "00000000000000000000000000000002", "state": "brand-new-state"}]"#
            .into(),
    }])
    .await;
    let filter = OrderFilter {
        states: vec![OrderState::PendingProvider, OrderState::Executing],
        types: vec![OrderType::Create],
        ..Default::default()
    };
    let page = client(url).page(&filter, 2, Some(2)).await.expect("page");
    assert_eq!(page.total, Some(7));
    assert!(page.has_next);
    assert_eq!(page.items[0].state, Some(OrderState::PendingProvider));
    assert_eq!(
        page.items[1].state,
        Some(OrderState::Other("brand-new-state".into())),
        "unknown states are kept, not fatal"
    );
    assert_eq!(
        script.seen()[0].uri,
        "/api/marketplace-orders/?state=pending-provider&state=executing&type=Create&page=2&page_size=2"
    );
}

#[tokio::test(start_paused = true)]
async fn usage_list_reads_json_numbers_exactly() {
    let (url, script) = serve(vec![canned(
        200,
        r#"[{"uuid": "67d26bedb09f4a23a078dec57ea41b8e", "type": "cpu", "usage": 0.30,
             "billing_period": "2026-11-01", "modified_by": null},
            {"uuid": "f6913eb11b4f434ba3c4531597b90cb1", "type": "gpu", "usage": 1e2},
            {"uuid": "f8be2375b2fe45d19ccac1b995566270", "type": "ram", "usage": 123456789012345678.99}]"#,
    )])
    .await;
    let mut filter = ComponentUsageFilter::for_resource(resource());
    filter.billing_period = chrono::NaiveDate::from_ymd_opt(2026, 11, 1);
    let got = client(url).component_usages(&filter).await.expect("list");
    let amounts: Vec<String> = got.iter().map(|u| u.usage.to_string()).collect();
    assert_eq!(amounts, vec!["0.30", "100", "123456789012345678.99"]);
    assert_eq!(
        script.seen()[0].uri,
        "/api/marketplace-component-usages/?resource_uuid=49f75862116146d7bdc8a99ce8c611bc&billing_period=2026-11-01&page_size=100"
    );
}

#[tokio::test(start_paused = true)]
async fn provider_operations_send_the_contract_bodies() {
    let (url, script) = serve(vec![
        canned(200, r#"{"status": "Resource backend_id has been changed."}"#),
        canned(200, r#"{"status": "Report is submitted"}"#),
        canned(200, ""),
        canned(202, ""),
        canned(
            201,
            r#"{"uuid": "00000000000000000000000000000009", "username": "alice", "state": "Requested"}"#,
        ),
        canned(201, ""),
        canned(200, ""),
    ])
    .await;
    let c = client(url);
    let base = c.base_url().to_string();
    let r = resource();
    let st = c.set_backend_id(r, "proj_alpha").await.expect("backend id");
    assert_eq!(
        st.status.as_deref(),
        Some("Resource backend_id has been changed.")
    );
    c.submit_report(
        r,
        &[ReportSection {
            header: "Login".into(),
            body: "ssh alpha.example.org".into(),
        }],
    )
    .await
    .expect("report");
    c.reject_order(r, Some("no capacity"))
        .await
        .expect("reject");
    c.cancel_order(r).await.expect("cancel");
    let ou = c
        .create_offering_user(&NewOfferingUser {
            offering: ObjectRef::Uuid(r),
            user: ObjectRef::Uuid(uuid::Uuid::nil()),
            username: Some("alice".into()),
        })
        .await
        .expect("offering user");
    assert_eq!(ou.state, Some(OfferingUserState::Requested));
    c.set_offerings_username(r, uuid::Uuid::nil(), "alice")
        .await
        .expect("username");
    c.set_as_erred(
        r,
        &ErrorDetails {
            error_message: Some("disk full".into()),
            error_traceback: None,
        },
    )
    .await
    .expect("erred");

    let seen = script.seen();
    let body = |i: usize| -> serde_json::Value {
        serde_json::from_slice(&seen[i].body).unwrap_or(serde_json::Value::Null)
    };
    let hex = "49f75862116146d7bdc8a99ce8c611bc";
    let nil = "00000000000000000000000000000000";
    assert_eq!(
        seen[0].uri,
        format!("/api/marketplace-provider-resources/{hex}/set_backend_id/")
    );
    assert_eq!(body(0), serde_json::json!({"backend_id": "proj_alpha"}));
    assert_eq!(
        seen[1].uri,
        format!("/api/marketplace-provider-resources/{hex}/submit_report/")
    );
    assert_eq!(
        body(1),
        serde_json::json!({"report": [{"header": "Login", "body": "ssh alpha.example.org"}]})
    );
    assert_eq!(
        seen[2].uri,
        format!("/api/marketplace-orders/{hex}/reject_by_provider/")
    );
    assert_eq!(
        body(2),
        serde_json::json!({"provider_rejection_comment": "no capacity"})
    );
    assert_eq!(
        seen[3].uri,
        format!("/api/marketplace-orders/{hex}/cancel/")
    );
    assert!(seen[3].body.is_empty());
    // Hyperlinks, the offering as its provider-offerings URL: the one form both generations take.
    assert_eq!(seen[4].uri, "/api/marketplace-offering-users/");
    assert_eq!(
        body(4),
        serde_json::json!({
            "offering": format!("{base}marketplace-provider-offerings/{hex}/"),
            "user": format!("{base}users/{nil}/"),
            "username": "alice"
        })
    );
    assert_eq!(
        seen[5].uri,
        format!("/api/marketplace-service-providers/{hex}/set_offerings_username/")
    );
    assert_eq!(
        body(5),
        serde_json::json!({"user_uuid": nil, "username": "alice"})
    );
    assert_eq!(
        seen[6].uri,
        format!("/api/marketplace-provider-resources/{hex}/set_as_erred/")
    );
    assert_eq!(body(6), serde_json::json!({"error_message": "disk full"}));
    assert!(seen
        .iter()
        .all(|s| s.method == Method::POST && s.uri.ends_with('/')));
}

/// The 2024 server crashes (500) on an order `set_state_erred` without `error_traceback`: both
/// keys always go.
#[tokio::test(start_paused = true)]
async fn order_set_state_erred_sends_both_keys() {
    let (url, script) = serve(vec![canned(200, ""), canned(200, "")]).await;
    let c = client(url);
    c.set_order_erred(resource(), &ErrorDetails::default())
        .await
        .expect("erred");
    c.set_order_erred(
        resource(),
        &ErrorDetails {
            error_message: Some("no nodes".into()),
            error_traceback: None,
        },
    )
    .await
    .expect("erred");
    let bodies: Vec<serde_json::Value> = script
        .seen()
        .iter()
        .map(|s| serde_json::from_slice(&s.body).expect("json"))
        .collect();
    assert_eq!(
        bodies,
        vec![
            serde_json::json!({"error_message": "", "error_traceback": ""}),
            serde_json::json!({"error_message": "no nodes", "error_traceback": ""}),
        ]
    );
}

/// Django's HTML 404 for a route the server does not have: one line naming the endpoint, never
/// the page (it ended up in the MESSAGE column of a table).
#[tokio::test(start_paused = true)]
async fn an_html_error_page_becomes_one_line_naming_the_endpoint() {
    let html = format!(
        "<!doctype html><html><head><title>Not Found</title></head><body>{}</body></html>",
        "<p>The requested resource was not found on this server.</p>".repeat(50)
    );
    let (url, _) = serve(vec![
        canned(404, &html),
        canned(
            502,
            "<html><head><title>502 Bad Gateway</title></head></html>",
        ),
    ])
    .await;
    let c = client(url);
    let err = c.set_as_ok(resource()).await.expect_err("404");
    assert!(err.is_missing_endpoint());
    let f = err.failure().expect("answer");
    assert_eq!(
        f.message.render(),
        "HTTP 404 (not JSON): this server has no marketplace-provider-resources/{uuid}/set_as_ok/"
    );
    assert!(!err.to_string().contains('<'), "{err}");
    let mut settings = settings(c.base_url().clone());
    settings.max_retries = 0;
    let err = WaldurClient::new(settings)
        .expect("client")
        .me()
        .await
        .expect_err("502");
    assert!(!err.is_missing_endpoint());
    assert!(
        err.to_string()
            .contains("HTTP 502 (not JSON): 502 Bad Gateway"),
        "{err}"
    );
}

/// `/api/version/` closed to a provider's token (403, the 2024 generation): not an error; the
/// server is asked whether `set_usage` reads `date` with a body it cannot store.
#[tokio::test(start_paused = true)]
async fn a_closed_version_endpoint_is_answered_by_what_set_usage_reads() {
    let forbidden = r#"{"detail": "You do not have permission to perform this action."}"#;
    let (url, script) = serve(vec![
        // 2024: `date` is not a field; the refusal is about the missing resource only.
        canned(403, forbidden),
        canned(
            400,
            r#"{"non_field_errors": ["Either plan_period or resource should be provided."]}"#,
        ),
        // 8.x behind a closed version endpoint: the refusal names `date`.
        canned(200, r#"{"version": "unknown"}"#),
        canned(
            400,
            r#"{"date": ["Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}"#,
        ),
        // A number settles it without asking.
        canned(200, r#"{"version": "8.0.5"}"#),
        // A refused token is still an error.
        canned(403, forbidden),
        canned(401, r#"{"detail": "Invalid token."}"#),
    ])
    .await;
    let c = client(url);
    let old = c.version().await.expect("403 is not an error");
    assert_eq!(old.version, "unknown");
    assert_eq!(old.honours_usage_date(), Some(false));
    let new = c.version().await.expect("version");
    assert_eq!(new.honours_usage_date(), Some(true));
    let numbered = c.version().await.expect("version");
    assert_eq!(
        (numbered.honours_usage_date(), numbered.usage_date),
        (Some(true), None)
    );
    assert!(matches!(c.version().await, Err(Error::Unauthorized(_))));

    let seen = script.seen();
    let probes: Vec<&Seen> = seen.iter().filter(|s| s.method == Method::POST).collect();
    assert_eq!(probes.len(), 3);
    for p in probes {
        assert_eq!(p.uri, "/api/marketplace-component-usages/set_usage/");
        let body: serde_json::Value = serde_json::from_slice(&p.body).expect("json");
        // Nothing any server could store: no resource, no plan period, no usages.
        assert_eq!(
            body,
            serde_json::json!({"usages": [], "date": "not-a-date"})
        );
    }
}

fn user_usages() -> Vec<UserUsageRequest> {
    ["alice", "bob"]
        .iter()
        .map(|u| UserUsageRequest {
            username: (*u).to_owned(),
            usage: "1.50".parse().expect("decimal"),
            user: None,
            date: None,
        })
        .collect()
}

/// The 2024 generation has no `set_user_usages` (an HTML 404): the breakdown goes one
/// `set_user_usage` per user, and the client asks only once per run.
#[tokio::test(start_paused = true)]
async fn per_user_usage_falls_back_to_one_call_per_user_learnt_once() {
    let page = "<!doctype html><html><head><title>Not Found</title></head></html>";
    let (url, script) = serve(vec![
        canned(404, page),
        canned(201, ""),
        canned(201, ""),
        canned(201, ""),
        canned(201, ""),
        // A failure of one user stops the rest and is the call's error.
        canned(400, r#"{"username": ["This field may not be blank."]}"#),
    ])
    .await;
    let c = client(url);
    let record = resource();
    c.set_user_usages(record, &user_usages())
        .await
        .expect("fallback");
    c.set_user_usages(record, &user_usages())
        .await
        .expect("known");
    let err = c
        .set_user_usages(record, &user_usages())
        .await
        .expect_err("400");
    assert_eq!(err.status(), Some(400));
    let seen = script.seen();
    let hex = "49f75862116146d7bdc8a99ce8c611bc";
    let uris: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
    let one = format!("/api/marketplace-component-usages/{hex}/set_user_usage/");
    let bulk = format!("/api/marketplace-component-usages/{hex}/set_user_usages/");
    assert_eq!(
        uris,
        vec![&bulk, &one, &one, &one, &one, &one],
        "one 404 per client, then one call per user"
    );
    let bodies: Vec<serde_json::Value> = seen[1..3]
        .iter()
        .map(|s| serde_json::from_slice(&s.body).expect("json"))
        .collect();
    assert_eq!(
        bodies,
        vec![
            serde_json::json!({"username": "alice", "usage": "1.50"}),
            serde_json::json!({"username": "bob", "usage": "1.50"}),
        ]
    );
}

/// 8.x has the bulk call; a JSON 404 (no such usage record) is the view's answer, so the bulk
/// endpoint is kept and the error returned.
#[tokio::test(start_paused = true)]
async fn per_user_usage_keeps_the_bulk_call_where_it_exists() {
    let (url, script) = serve(vec![
        canned(404, r#"{"detail": "Not found."}"#),
        canned(201, ""),
    ])
    .await;
    let c = client(url);
    let err = c
        .set_user_usages(resource(), &user_usages())
        .await
        .expect_err("no record");
    assert!(!err.is_missing_endpoint());
    c.set_user_usages(resource(), &user_usages())
        .await
        .expect("bulk");
    let seen = script.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.uri.ends_with("/set_user_usages/")));
}

/// Concurrent first callers wait for the first one's answer: still one 404 per client.
#[tokio::test(start_paused = true)]
async fn concurrent_first_callers_spend_one_404_between_them() {
    let page = "<html><title>Not Found</title></html>";
    let mut answers = vec![canned(404, page)];
    answers.extend((0..8).map(|_| canned(201, "")));
    let (url, script) = serve(answers).await;
    let c = client(url);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let c = c.clone();
        tasks.spawn(async move { c.set_user_usages(resource(), &user_usages()).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("join").expect("set");
    }
    let seen = script.seen();
    assert_eq!(
        seen.iter()
            .filter(|s| s.uri.ends_with("/set_user_usages/"))
            .count(),
        1
    );
    assert_eq!(
        seen.iter()
            .filter(|s| s.uri.ends_with("/set_user_usage/"))
            .count(),
        8
    );
}

#[test]
fn the_token_never_prints() {
    let token = Token::new(format!("  {TOKEN}\n")).expect("token");
    assert_eq!(token.expose(), TOKEN, "trimmed");
    assert_eq!(format!("{token:?}"), "Token(***)");
    assert_eq!(format!("{token}"), "Token(***)");
    let s = settings(Url::parse("https://waldur.example.org/api/").expect("url"));
    assert!(!format!("{s:?}").contains(TOKEN));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let c = rt.block_on(async { WaldurClient::new(s).expect("client") });
    assert!(!format!("{c:?}").contains(TOKEN));
}

#[test]
fn token_from_file_names_the_file_not_the_content() {
    let dir = std::env::temp_dir().join(format!("tally-waldur-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("token");
    std::fs::write(&good, format!("{TOKEN}\n")).expect("write");
    assert_eq!(Token::from_file(&good).expect("read").expose(), TOKEN);

    let spaced = dir.join("spaced");
    std::fs::write(&spaced, "abc def-secret-part\n").expect("write");
    let err = Token::from_file(&spaced).expect_err("spaces inside");
    let text = format!("{err} {err:?}");
    assert!(text.contains("spaced"), "{text}");
    assert!(!text.contains("secret-part"), "{text}");

    let missing = dir.join("missing");
    let err = Token::from_file(&missing).expect_err("missing");
    assert!(err.to_string().contains("missing"), "{err}");
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n  \n").expect("write");
    assert!(matches!(
        Token::from_file(&empty),
        Err(TokenError::Empty { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plain_http_is_refused_to_other_hosts() {
    let mut s = settings(Url::parse("http://waldur.example.org/api/").expect("url"));
    let err = WaldurClient::new(s.clone()).expect_err("insecure");
    assert!(
        matches!(err, Error::Settings(SettingsError::InsecureHttp { .. })),
        "{err:?}"
    );
    s.allow_insecure_http = true;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let c = WaldurClient::new(s).expect("explicitly allowed");
        assert_eq!(c.base_url().as_str(), "http://waldur.example.org/api/");
    });
}

/// A raw TCP server: for each connection, in order, either drops it after reading the request or
/// answers with the given raw HTTP response. Counts connections.
async fn raw_server(plan: Vec<Option<&'static str>>) -> (Url, Arc<Mutex<u32>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(Mutex::new(0u32));
    let counter = count.clone();
    tokio::spawn(async move {
        for step in plan {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            *counter.lock().expect("lock") += 1;
            let mut buf = vec![0u8; 16 * 1024];
            let _ = sock.read(&mut buf).await;
            if let Some(answer) = step {
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
            drop(sock);
        }
    });
    (
        Url::parse(&format!("http://{addr}/api/")).expect("url"),
        count,
    )
}

const CREATED: &str = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_retried_for_set_usage() {
    let (url, count) = raw_server(vec![None, None, Some(CREATED)]).await;
    client(url)
        .set_usage(&usage_request())
        .await
        .expect("third connection answers");
    assert_eq!(*count.lock().expect("lock"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_not_retried_for_an_approval() {
    let (url, count) = raw_server(vec![None, Some(CREATED)]).await;
    let err = client(url)
        .approve_order(resource(), None)
        .await
        .expect_err("the approval may have landed");
    assert_eq!(*count.lock().expect("lock"), 1);
    assert!(
        matches!(err, Error::Connection { attempts: 1, .. }),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_server_times_out_and_is_retried() {
    use axum::routing::post;
    let calls = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let seen = calls.clone();
    let app = Router::new().route(
        "/api/marketplace-component-usages/set_usage/",
        post(move || {
            let seen = seen.clone();
            async move {
                let n = {
                    let mut s = seen.lock().expect("lock");
                    s.push(Instant::now());
                    s.len()
                };
                if n < 3 {
                    // Longer than the client's timeout: on the paused clock this costs nothing.
                    tokio::time::sleep(Duration::from_secs(120)).await;
                }
                StatusCode::CREATED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut s = settings(Url::parse(&format!("http://{addr}/api/")).expect("url"));
    s.timeout = Duration::from_secs(5);
    let c = WaldurClient::new(s.clone()).expect("client");
    c.set_usage(&usage_request())
        .await
        .expect("third try is fast");
    let at = calls.lock().expect("lock").clone();
    assert_eq!(at.len(), 3);
    assert!(at[1] - at[0] >= Duration::from_secs(5), "timed out first");

    // Always slow: a Timeout error naming the request, after all attempts.
    calls.lock().expect("lock").clear();
    s.max_retries = 1;
    let c = WaldurClient::new(s).expect("client");
    let err = c.set_usage(&usage_request()).await.expect_err("slow twice");
    assert!(matches!(err, Error::Timeout { attempts: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("set_usage/"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_rate_limit_under_a_semaphore() {
    let n = 12;
    let (url, script) = serve((0..n).map(|_| canned(201, "")).collect()).await;
    let mut s = settings(url);
    s.rate_per_second = NonZeroU32::new(4).expect("nz");
    s.burst = NonZeroU32::new(2).expect("nz");
    let c = WaldurClient::new(s).expect("client");
    let gate = Arc::new(tokio::sync::Semaphore::new(3));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let c = c.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            c.set_usage(&usage_request()).await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("set_usage");
    }
    assert_eq!(script.seen().len(), n);
    // 2 free (burst), then 10 more at 4/s.
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(2490), "{took:?}");
}

#[test]
fn dry_run_preview_is_exactly_the_body() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let c = client(Url::parse("https://waldur.example.org/api/").expect("url"));
        let p = c.preview_set_usage(&usage_request()).expect("preview");
        assert_eq!(p.method, "POST");
        assert_eq!(
            p.url.as_str(),
            "https://waldur.example.org/api/marketplace-component-usages/set_usage/"
        );
        let body: serde_json::Value =
            serde_json::from_str(p.body.as_deref().expect("body")).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"resource": "49f75862116146d7bdc8a99ce8c611bc",
                               "usages": [{"type": "cpu", "amount": "120.50"}]})
        );
        assert!(!format!("{p:?}").contains(TOKEN));
        let bad = SetUsageRequest::current_month(
            resource(),
            vec![UsageItem::new("cpu", "1.234".parse().expect("decimal"))],
        );
        assert!(matches!(
            c.preview_set_usage(&bad),
            Err(Error::InvalidRequest(_))
        ));
    });
}

// ---- invoice items: what the token may see ---------------------------------------------------

fn items_filter() -> InvoiceItemFilter {
    InvoiceItemFilter {
        resource_uuid: Some(resource()),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn invoice_items_refused_is_not_permitted_not_an_error() {
    let (url, script) = serve(vec![canned(
        403,
        r#"{"detail": "You do not have permission to perform this action."}"#,
    )])
    .await;
    let read = client(url)
        .invoice_items(&items_filter())
        .await
        .expect("read");
    assert_eq!(read, InvoiceItemsRead::NotPermitted);
    let seen = script.seen();
    assert_eq!(seen.len(), 1, "a 403 is not retried");
    assert!(
        seen[0].uri.contains("/api/invoice-items/?"),
        "{}",
        seen[0].uri
    );
    assert!(seen[0]
        .uri
        .contains("resource_uuid=49f75862116146d7bdc8a99ce8c611bc"));
}

#[tokio::test(start_paused = true)]
async fn an_empty_list_means_nothing_only_to_staff() {
    // A provider's token: [] and then users/me/ says it is neither staff nor support.
    let (url, script) = serve(vec![
        canned(200, "[]"),
        canned(
            200,
            r#"{"uuid": "2b7c1c2e6b6f4c1f9a3c2d7f0a1b2c3d", "username": "tly-pp-owner", "is_staff": false, "is_support": false}"#,
        ),
    ])
    .await;
    let read = client(url)
        .invoice_items(&items_filter())
        .await
        .expect("read");
    assert_eq!(read, InvoiceItemsRead::EmptyMaybeHidden);
    assert!(script.seen()[1].uri.ends_with("/api/users/me/"));
    // Staff: an empty list is an empty list.
    let (url, _) = serve(vec![
        canned(200, "[]"),
        canned(
            200,
            r#"{"uuid": "2b7c1c2e6b6f4c1f9a3c2d7f0a1b2c3d", "username": "admin", "is_staff": true}"#,
        ),
    ])
    .await;
    let read = client(url)
        .invoice_items(&items_filter())
        .await
        .expect("read");
    assert_eq!(read, InvoiceItemsRead::Visible(vec![]));
}

#[tokio::test(start_paused = true)]
async fn set_usage_for_a_plan_period_names_the_period_and_no_resource() {
    let (url, script) = serve(vec![canned(201, "")]).await;
    let period = uuid::Uuid::parse_str("ed44b265ba184c73ad8b0642a30e5186").expect("uuid");
    let req = SetUsageRequest::for_plan_period(
        period,
        vec![UsageItem::new("cpu", "17".parse().expect("decimal"))],
    );
    client(url).set_usage(&req).await.expect("set");
    let body: serde_json::Value =
        serde_json::from_slice(&script.seen()[0].body).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"plan_period": "ed44b265ba184c73ad8b0642a30e5186",
                           "usages": [{"type": "cpu", "amount": "17"}]})
    );
}
