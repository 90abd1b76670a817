//! The real socket: start(), faults over loopback, dropped connections, the state file.

mod common;
use common::*;
use serde_json::json;
use std::net::SocketAddr;
use tally_sandbox::{start, Faults, PlantUsage, SandboxOptions, World};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn loopback_roundtrip_counters_and_planting() {
    let sb = start(
        World::demo(),
        local(),
        SandboxOptions {
            now: Some(now()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(sb.url.starts_with("http://127.0.0.1:") && sb.url.ends_with("/api/"));
    let c = client();
    let r = resource("alpha-alloc");
    let resp = c
        .post(format!("{}marketplace-component-usages/set_usage/", sb.url))
        .header("Authorization", format!("Token {PROVIDER}"))
        .json(&json!({"resource": r, "usages": [{"type": "cpu", "amount": "12.34"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let list = c
        .get(format!(
            "{}marketplace-component-usages/?resource_uuid={r}",
            sb.url
        ))
        .header("Authorization", format!("Token {PROVIDER}"))
        .send()
        .await
        .unwrap();
    let link = list.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!(
            "<{}marketplace-component-usages/?resource_uuid={r}>",
            sb.url
        )),
        "{link}"
    );
    assert_eq!(
        sb.count("POST", "/api/marketplace-component-usages/set_usage/", 201),
        1
    );
    sb.plant_usage(&PlantUsage {
        resource: "proj_beta".into(),
        component_type: "gpu".into(),
        billing_period: "2026-11-01".parse().unwrap(),
        amount: "3.5".parse().unwrap(),
        description: String::new(),
    })
    .unwrap();
    let stored = sb.usages();
    assert_eq!(stored.len(), 2);
    assert!(stored
        .iter()
        .any(|u| u.backend_id == "proj_beta" && u.usage.to_string() == "3.50"));
    assert!(stored
        .iter()
        .any(|u| u.backend_id == "proj_alpha" && u.modified_by.as_deref() == Some("provider")));
    let counters: serde_json::Value = c
        .get(format!("{}/__sandbox/counters", sb.origin()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!counters.as_array().unwrap().is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn refuses_non_loopback() {
    let err = start(
        World::demo(),
        "0.0.0.0:0".parse().unwrap(),
        SandboxOptions::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("non-loopback"), "{err}");
}

#[tokio::test]
async fn faults_throttle_errors_and_drops_are_deterministic() {
    let faults = Faults {
        seed: 42,
        error_rate: 0.3,
        drop_rate: 0.1,
        paths: vec!["/api/users/me/".into()],
        ..Faults::default()
    };
    let run = || async {
        let sb = start(
            World::demo(),
            local(),
            SandboxOptions {
                faults: faults.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let c = client();
        let mut seen = Vec::new();
        for _ in 0..40 {
            let r = c
                .get(format!("{}users/me/", sb.url))
                .header("Authorization", format!("Token {STAFF}"))
                .send()
                .await;
            seen.push(match r {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0, // connection closed without an answer
            });
        }
        assert_eq!(
            sb.count("GET", "/api/users/me/", 0),
            seen.iter().filter(|s| **s == 0).count() as u64
        );
        sb.shutdown().await;
        seen
    };
    let a = run().await;
    let b = run().await;
    assert_eq!(a, b, "same seed, same faults");
    assert!(
        a.contains(&0) && a.contains(&200) && a.iter().any(|s| [500, 502, 503].contains(s)),
        "{a:?}"
    );

    // throttling: 429 + Retry-After above the rate
    let sb = start(
        World::demo(),
        local(),
        SandboxOptions {
            faults: Faults {
                rate_limit: Some(5.0),
                burst: Some(5),
                retry_after_secs: Some(2),
                ..Faults::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let c = client();
    let mut throttled = None;
    for _ in 0..20 {
        let r = c.get(format!("{}version/", sb.url)).send().await.unwrap();
        if r.status() == 429 {
            throttled = Some((
                r.headers()["retry-after"].to_str().unwrap().to_string(),
                r.text().await.unwrap(),
            ));
            break;
        }
    }
    let (retry, body) = throttled.expect("expected a 429");
    assert_eq!(retry, "2");
    assert_eq!(
        body,
        r#"{"detail":"Request was throttled. Expected available in 2 seconds."}"#
    );
}

#[tokio::test]
async fn faults_from_the_seed_and_latency() {
    let seed = format!(
        "{}\n[faults]\nlatency_ms = 120\nmethods = [\"GET\"]\n",
        tally_sandbox::DEMO_TOML
    );
    let sb = start(
        World::from_toml_str(&seed, "t").unwrap(),
        local(),
        SandboxOptions::default(),
    )
    .await
    .unwrap();
    let t0 = std::time::Instant::now();
    let r = client()
        .get(format!("{}version/", sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(120));
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.db");
    let opts = SandboxOptions {
        now: Some(now()),
        state_file: Some(file.clone()),
        ..Default::default()
    };
    let sb = start(World::demo(), local(), opts.clone()).await.unwrap();
    let r = resource("alpha-alloc");
    let resp = client()
        .post(format!("{}marketplace-component-usages/set_usage/", sb.url))
        .header("Authorization", format!("Token {PROVIDER}"))
        .json(&json!({"resource": r, "usages": [{"type": "cpu", "amount": "77"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    sb.shutdown().await;
    let again = start(World::demo(), local(), opts).await.unwrap();
    let stored = again.usages();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].usage.to_string(), "77.00");
    // the key index is rebuilt: a repeat overwrites instead of adding
    let resp = client()
        .post(format!(
            "{}marketplace-component-usages/set_usage/",
            again.url
        ))
        .header("Authorization", format!("Token {PROVIDER}"))
        .json(&json!({"resource": r, "usages": [{"type": "cpu", "amount": "78"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(again.usages().len(), 1);
}
