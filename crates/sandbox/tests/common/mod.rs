#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use serde_json::Value;
use tally_sandbox::{router, seed_uuid, AppState, SandboxOptions, World};
use tower::ServiceExt;

pub const STAFF: &str = "demo-staff-token";
pub const PROVIDER: &str = "demo-provider-token";
pub const MANAGER: &str = "demo-manager-token";
pub const ALICE: &str = "demo-alice-token";
pub const OUTSIDER: &str = "demo-outsider-token";

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

pub struct T {
    pub app: AppState,
    pub router: Router,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
    /// The list's row count (`X-Result-Count`), which a list answer must carry.
    pub fn result_count(&self) -> String {
        self.header("x-result-count").unwrap()
    }
}

pub fn sandbox() -> T {
    sandbox_with(SandboxOptions {
        now: Some(now()),
        ..Default::default()
    })
}

pub fn sandbox_with(opts: SandboxOptions) -> T {
    sandbox_of(World::demo(), &opts)
}

/// A sandbox seeded from `seed` (the demo seed with a change), at the tests' `now()`.
pub fn sandbox_from_seed(seed: &str) -> T {
    let world = World::from_toml_str(seed, "test").unwrap();
    sandbox_of(
        world,
        &SandboxOptions {
            now: Some(now()),
            ..Default::default()
        },
    )
}

fn sandbox_of(world: World, opts: &SandboxOptions) -> T {
    let app = tally_sandbox::app_state(world, opts).unwrap();
    T {
        router: router(app.clone()),
        app,
    }
}

pub fn offering() -> String {
    seed_uuid("offering", "Cluster").simple().to_string()
}
pub fn resource(name: &str) -> String {
    seed_uuid("resource", name).simple().to_string()
}

impl T {
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "sandbox.test");
        if let Some(t) = token {
            b = b.header("authorization", format!("Token {t}"));
        }
        let req = match body {
            Some(s) => b
                .header("content-type", "application/json")
                .body(Body::from(s.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).to_string(),
        }
    }
    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.req("GET", path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.req("POST", path, Some(token), Some(&body.to_string()))
            .await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.req("PUT", path, Some(token), Some(&body.to_string()))
            .await
    }
    /// The row count of the list at `path` as `token` sees it.
    pub async fn count_of(&self, path: &str, token: &str) -> String {
        self.get(path, token).await.result_count()
    }
    pub async fn set_usage(&self, token: &str, body: Value) -> Resp {
        self.post("/api/marketplace-component-usages/set_usage/", token, body)
            .await
    }
    /// A `set_usage` the server must accept: 201 (the body shown otherwise).
    pub async fn set_usage_created(&self, token: &str, body: Value) {
        let r = self.set_usage(token, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    pub async fn usages(&self, resource: &str) -> Vec<Value> {
        let r = self
            .get(
                &format!(
                    "/api/marketplace-component-usages/?resource_uuid={resource}&page_size=300"
                ),
                STAFF,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json().as_array().unwrap().clone()
    }
}
