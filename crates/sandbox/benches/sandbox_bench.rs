//! Requests/s the sandbox serves over loopback: set_usage and a paginated list.
//! Run: cargo bench -p tally-sandbox --bench sandbox_bench
//! (env BENCH_SECS, default 5; BENCH_CONNS, default 16 keep-alive connections)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tally_sandbox::{seed_uuid, start, SandboxOptions, World};

async fn run(
    name: &str,
    secs: u64,
    conns: usize,
    make: impl Fn(&reqwest::Client, usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
    expect: u16,
) {
    let make = Arc::new(make);
    let done = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (make, done, bad) = (make.clone(), done.clone(), bad.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap_or_default();
            let mut i = 0u64;
            while Instant::now() < deadline {
                match make(&client, c, i).send().await {
                    Ok(r) if r.status().as_u16() == expect => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let n = done.load(Ordering::Relaxed);
    println!(
        "{name}: {n} requests in {secs}s over {conns} connections = {:.0} req/s ({} unexpected)",
        n as f64 / secs as f64,
        bad.load(Ordering::Relaxed)
    );
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let conns: usize = std::env::var("BENCH_CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let sb = start(World::demo(), "127.0.0.1:0".parse().expect("addr"), SandboxOptions::default()).await.expect("sandbox");
        let url = sb.url.clone();
        let resources: Vec<String> =
            ["alpha-alloc", "beta-alloc", "gamma-alloc", "x42-alloc"].iter().map(|n| seed_uuid("resource", n).simple().to_string()).collect();
        let u = url.clone();
        run(
            "set_usage (4 components per request)",
            secs,
            conns,
            move |c, conn, i| {
                let r = &resources[conn % resources.len()];
                let body = format!(
                    r#"{{"resource":"{r}","usages":[{{"type":"cpu","amount":"{i}.25"}},{{"type":"gpu","amount":"{conn}"}},{{"type":"ram","amount":"1.5"}},{{"type":"storage","amount":"100"}}]}}"#
                );
                c.post(format!("{u}marketplace-component-usages/set_usage/"))
                    .header("Authorization", "Token demo-provider-token")
                    .header("Content-Type", "application/json")
                    .body(body)
            },
            201,
        )
        .await;
        let u = url.clone();
        let offering = seed_uuid("offering", "Cluster").simple().to_string();
        run(
            "paginated list (provider resources, page_size=2, page 2 of 3, 3 fields)",
            secs,
            conns,
            move |c, _, _| {
                c.get(format!("{u}marketplace-provider-resources/?offering_uuid={offering}&page_size=2&page=2&field=uuid&field=backend_id&field=state"))
                    .header("Authorization", "Token demo-provider-token")
            },
            200,
        )
        .await;
        let u = url.clone();
        run(
            "paginated list (component usages, full objects, page_size=10)",
            secs,
            conns,
            move |c, _, _| c.get(format!("{u}marketplace-component-usages/?page_size=10")).header("Authorization", "Token demo-provider-token"),
            200,
        )
        .await;
        sb.shutdown().await;
    });
}
