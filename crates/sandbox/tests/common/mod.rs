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
}

pub fn sandbox() -> T {
    sandbox_with(SandboxOptions {
        now: Some(now()),
        ..Default::default()
    })
}

pub fn sandbox_with(opts: SandboxOptions) -> T {
    let app = tally_sandbox::app_state(World::demo(), &opts).unwrap();
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
    pub async fn set_usage(&self, token: &str, body: Value) -> Resp {
        self.post("/api/marketplace-component-usages/set_usage/", token, body)
            .await
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
