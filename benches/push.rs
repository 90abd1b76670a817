//! Push bench: 10,000 resources x 3 components to the in-process sandbox, client rate limit 200/s.
//! Reports the achieved set_usage rate (target: at least 95% of the limit) and how long a
//! no-change re-run takes (it reads the listings and sends nothing).
//!
//!     cargo bench --bench push            # full size
//!     cargo bench --bench push -- 1000    # resources (quick look)
//!
//! The world is generated here (one provider, one offering with cpu/gpu/ram usage components,
//! N resources in state OK with backend_ids res-00000..). Prints a markdown table.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_model::{BillingMonth, UsageCell};
use tally_push::{gather, ExecuteOptions, PastMonths, PlanInput};
use tally_sandbox::{seed_uuid, SandboxOptions, World};
use tally_waldur::{ClientSettings, Token, WaldurClient};

const RATE: u32 = 200;
const CONCURRENCY: usize = 16;
const BURST: u32 = 10;
const TOKEN: &str = "bench-provider-token";

fn world_toml(resources: usize) -> String {
    let mut s = String::from(
        r#"[[users]]
username = "provider"
full_name = "Bench Provider"
email = "provider@example.org"
token = "bench-provider-token"

[[organizations]]
name = "Centre"
owners = ["provider"]
service_provider = true

[[organizations]]
name = "Consumers"

[[projects]]
name = "P"
organization = "Consumers"

[[offerings]]
name = "Cluster"
organization = "Centre"
type = "Marketplace.Slurm"
components = [
  { type = "cpu", name = "CPU", measured_unit = "hours", billing_type = "usage" },
  { type = "gpu", name = "GPU", measured_unit = "hours", billing_type = "usage" },
  { type = "ram", name = "RAM", measured_unit = "GB-hours", billing_type = "usage" },
]
plans = [{ name = "default", prices = { cpu = "0.1", gpu = "1", ram = "0.01" } }]
"#,
    );
    for i in 0..resources {
        let _ = write!(
            s,
            "\n[[resources]]\nname = \"r{i:05}\"\noffering = \"Cluster\"\nproject = \"P\"\nplan = \"default\"\nbackend_id = \"res-{i:05}\"\nstate = \"OK\"\n"
        );
    }
    s
}

fn cells(resources: usize, month: BillingMonth) -> Vec<UsageCell> {
    let mut out = Vec::with_capacity(resources * 3);
    for i in 0..resources {
        for (c, f) in [("cpu", 3), ("gpu", 1), ("ram", 7)] {
            out.push(UsageCell {
                resource: format!("res-{i:05}"),
                period: month,
                component: c.to_owned(),
                amount: Decimal::new((i as i64 % 1000) * f + 1, 2) * Decimal::from(100),
            });
        }
    }
    out
}

struct Pass {
    sent: usize,
    unchanged: usize,
    read: Duration,
    send: Duration,
    total: Duration,
}

async fn pass(
    client: &WaldurClient,
    offering: uuid::Uuid,
    cells: &[UsageCell],
    now: DateTime<Utc>,
) -> Pass {
    let start = Instant::now();
    let server = gather::server_info(client).await.expect("version");
    let resources = gather::resources(client, offering)
        .await
        .expect("resources");
    let components = gather::components(client, offering)
        .await
        .expect("components");
    let month = BillingMonth::containing(now, chrono_tz::Tz::UTC);
    let months: BTreeSet<BillingMonth> = [month].into();
    let holdings = gather::holdings(client, offering, &months)
        .await
        .expect("holdings");
    let plan = tally_push::plan(&PlanInput {
        cells,
        resources: &resources,
        components: &components,
        holdings: &holdings,
        server: &server,
        past_months: PastMonths::OnlyIfServerHonoursDate,
        now,
        billing_timezone: chrono_tz::Tz::UTC,
        window: tally_model::MonthRange::single(month),
        // The bench measures sending computed cells: no zeroing, no guard.
        ownership: &tally_push::Ownership::default(),
        drop_guard: tally_push::DropGuard {
            allow: true,
            ..tally_push::DropGuard::default()
        },
    });
    let read = start.elapsed();
    let send_start = Instant::now();
    let exec = tally_push::execute(
        client,
        &plan,
        &holdings,
        None,
        &ExecuteOptions {
            concurrency: CONCURRENCY,
            run_id: "bench".into(),
        },
        Arc::new(|_| {}),
    )
    .await;
    let send = send_start.elapsed();
    assert!(
        exec.results.iter().all(|r| r.outcome.is_delivered()),
        "not everything was delivered"
    );
    Pass {
        sent: exec.results.len(),
        unchanged: plan.unchanged.len(),
        read,
        send,
        total: start.elapsed(),
    }
}

fn main() {
    let resources: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().expect("now");
    let gen = Instant::now();
    let world = World::from_toml_str(&world_toml(resources), "bench").expect("world");
    let gen = gen.elapsed();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sandbox = tally_sandbox::start(
            world,
            "127.0.0.1:0".parse().expect("addr"),
            SandboxOptions {
                now: Some(now),
                ..Default::default()
            },
        )
        .await
        .expect("sandbox");
        let mut settings = ClientSettings::new(
            url::Url::parse(&sandbox.url).expect("url"),
            Token::new(TOKEN).expect("token"),
        );
        settings.rate_per_second = NonZeroU32::new(RATE).expect("rate");
        // The config's default burst. The burst's permits are a negligible share of 10,000
        // requests; with a burst of 1 the limiter loses tokio's timer overshoot (~1 ms) on every
        // permit and reaches only ~80% of 200/s.
        settings.burst = NonZeroU32::new(BURST).expect("burst");
        let client = WaldurClient::new(settings).expect("client");
        let offering = seed_uuid("offering", "Cluster");
        let cells = cells(resources, BillingMonth::containing(now, chrono_tz::Tz::UTC));

        let first = pass(&client, offering, &cells, now).await;
        let set_usage_calls =
            sandbox.count("POST", "/api/marketplace-component-usages/set_usage/", 201);
        assert_eq!(set_usage_calls as usize, first.sent);
        let achieved = first.sent as f64 / first.send.as_secs_f64();
        sandbox.reset_counters();
        let second = pass(&client, offering, &cells, now).await;
        let resent = sandbox.count("POST", "/api/marketplace-component-usages/set_usage/", 201);
        assert_eq!(resent, 0, "the re-run sent something");
        assert_eq!(second.unchanged, cells.len());
        let gets: u64 = sandbox
            .counters()
            .iter()
            .filter(|c| c.method == "GET")
            .map(|c| c.count)
            .sum();

        println!("cargo bench --bench push -- {resources}");
        println!();
        println!(
            "| resources x components | rate limit | concurrency | set_usage sent | send time | achieved rate | share of limit | no-change re-run | re-run requests |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        println!(
            "| {} x 3 | {RATE}/s (burst {BURST}) | {CONCURRENCY} | {} | {:.1} s | {:.1}/s | {:.1}% | {:.2} s (sent 0) | {} GET |",
            resources,
            first.sent,
            first.send.as_secs_f64(),
            achieved,
            100.0 * achieved / f64::from(RATE),
            second.total.as_secs_f64(),
            gets,
        );
        println!();
        println!(
            "first pass: read+plan {:.2} s, total {:.1} s; world of {resources} resources generated in {:.2} s",
            first.read.as_secs_f64(),
            first.total.as_secs_f64(),
            gen.as_secs_f64()
        );
        let _ = second.read;
        sandbox.shutdown().await;
    });
}
