//! `tally push`, `check`, `run` and `replay`: the real binary against the sandbox, started
//! in-process on loopback per test (util::Sandbox). Every run's output is searched for the
//! world's tokens (util::assert_no_secrets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tally_sandbox::{seed_uuid, Faults, PlantUsage};

use crate::util::{assert_no_secrets, fixture, run, tally, Run, Sandbox, TestDir};

/// The demo's server clock: late in November 2026, October closed.
const NOW: &str = "2026-11-25T00:00:00Z";
const SET_USAGE: &str = "/api/marketplace-component-usages/set_usage/";

/// (backend_id, month, component) -> amount, two decimals.
type Figures = BTreeMap<(String, String, String), String>;

struct Env {
    sandbox: Sandbox,
    dir: TestDir,
}

impl Env {
    fn new(sandbox: Sandbox) -> Env {
        Env {
            sandbox,
            dir: TestDir::new(),
        }
    }

    fn demo() -> Env {
        Env::new(Sandbox::demo_at(NOW, false))
    }

    /// A config for the demo dumps against this sandbox; `extra` is appended (more TOML).
    fn config(&self, token: &str, components: &str, extra: &str) -> PathBuf {
        let token_file = self.dir.write("token", token);
        let records = fixture("fixtures/demo/records");
        let text = format!(
            r#"billing_timezone = "UTC"
[[sources]]
format = "sacct"
paths = ["{records}/*.txt"]
timezone = "UTC"
{components}
[waldur]
url = "{url}"
token_file = "{token}"
offering_uuid = "{offering}"
ledger = "{ledger}"
rate_per_second = 50
burst = 50
concurrency = 2
{extra}
"#,
            records = records.display(),
            url = self.sandbox.url,
            token = token_file.display(),
            offering = seed_uuid("offering", "Cluster").simple(),
            ledger = self.ledger().display(),
        );
        self.dir.write("tally.toml", &text)
    }

    fn demo_config(&self) -> PathBuf {
        self.config("demo-provider-token", DEMO_COMPONENTS, "")
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger.db")
    }

    /// Runs tally with `args`, checking that no token shows up in what it printed.
    fn tally(&self, args: &[&str]) -> Run {
        let r = run(tally().args(args));
        assert_no_secrets(&r, &[]);
        r
    }

    /// What the server holds for the Cluster offering.
    fn held(&self) -> Figures {
        let offering = seed_uuid("offering", "Cluster");
        self.sandbox
            .usages()
            .into_iter()
            .filter(|u| u.offering_uuid == offering)
            .map(|u| {
                let mut a = u.usage;
                a.rescale(2);
                (
                    (
                        u.backend_id,
                        u.billing_period.format("%Y-%m").to_string(),
                        u.component_type,
                    ),
                    a.to_string(),
                )
            })
            .collect()
    }

    fn set_usage_calls(&self) -> u64 {
        self.sandbox
            .counters()
            .iter()
            .filter(|c| c.endpoint == SET_USAGE)
            .map(|c| c.count)
            .sum()
    }
}

const DEMO_COMPONENTS: &str = r#"
[components.cpu]
tres = "cpu"
[components.gpu]
tres = "gres/gpu"
[components.ram]
tres = "mem"
factor = "0.0009765625"
"#;

/// What `tally collect` computes for the months (the oracle-checked path), as figures.
fn computed(config: &Path, from: &str, to: &str, as_of: &str) -> Figures {
    let r = run(tally()
        .args([
            "collect", "--format", "json", "--from", from, "--to", to, "--as-of", as_of,
        ])
        .arg("--config")
        .arg(config));
    r.expect_code(0);
    r.json()["usages"]
        .as_array()
        .expect("usages")
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().expect("string").to_owned();
            ((s("resource"), s("period"), s("component")), s("amount"))
        })
        .collect()
}

fn month(f: &Figures, m: &str) -> Figures {
    f.iter()
        .filter(|((_, month, _), _)| month == m)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn push(env: &Env, config: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "push",
        "--config",
        config.to_str().expect("utf-8"),
        "--now",
        NOW,
    ];
    args.extend_from_slice(extra);
    env.tally(&args)
}

#[test]
fn a_push_lands_exactly_and_a_second_push_sends_nothing() {
    let env = Env::demo();
    let config = env.demo_config();
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    let expected = month(&computed(&config, "2026-11", "2026-11", NOW), "2026-11");
    assert_eq!(expected.len(), 8);
    assert_eq!(env.held(), expected);
    // One request per resource and month.
    assert_eq!(env.sandbox.count("POST", SET_USAGE, 201), 3);

    env.sandbox.reset_counters();
    let again = push(&env, &config, &["--from", "2026-11"]);
    again.expect_code(0);
    assert_eq!(env.set_usage_calls(), 0, "{}", again.stderr);
    assert!(again.stderr.contains("total (cells)"), "{}", again.stderr);

    // The ledger answers "what did we report for proj_alpha in November, and when".
    let rows = tally_push::Ledger::open(&env.ledger())
        .expect("ledger")
        .reported("proj_alpha", "2026-11")
        .expect("query");
    let cpu: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.component == "cpu")
        .map(|r| (r.amount.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(cpu, vec![("1056.00", "delivered")]);
}

#[test]
fn dry_run_prints_the_bodies_and_writes_nothing() {
    let env = Env::demo();
    let config = env.demo_config();
    let r = push(&env, &config, &["--from", "2026-11", "--dry-run", "-vvv"]);
    r.expect_code(0);
    assert!(r.stdout.contains("POST "), "{}", r.stdout);
    assert!(r.stdout.contains(r#""amount": "1056.00""#), "{}", r.stdout);
    assert!(
        !r.stdout.contains("\"date\""),
        "current month goes undated: {}",
        r.stdout
    );
    assert_eq!(env.set_usage_calls(), 0);
    assert!(env.held().is_empty());
    assert!(
        !env.ledger().exists(),
        "a dry run must not create the ledger"
    );
}

#[test]
fn faults_retries_and_throttling_still_deliver_every_cell_once_with_exit_0() {
    let env = Env::demo();
    let config = env.demo_config();
    env.sandbox.set_faults(Faults {
        seed: 7,
        // 5/s with a bucket of 2: the first listings come faster than that, so 429s happen.
        rate_limit: Some(5.0),
        burst: Some(2),
        retry_after_secs: Some(1),
        error_rate: 0.2,
        drop_rate: 0.1,
        ..Default::default()
    });
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(0);
    let expected = month(&computed(&config, "2026-11", "2026-11", NOW), "2026-11");
    assert_eq!(env.held(), expected);
    let counters = env.sandbox.counters();
    let seen = |status: u16| counters.iter().any(|c| c.status == status);
    assert!(
        seen(429) && (seen(500) || seen(502) || seen(503)) && seen(0),
        "faults did not happen: {counters:?}"
    );
    // Exactly once: one stored figure per key, and a clean re-run finds nothing to send.
    env.sandbox.set_faults(Faults::default());
    env.sandbox.reset_counters();
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    assert_eq!(env.set_usage_calls(), 0);
}

#[test]
fn killed_mid_push_a_rerun_finishes_the_job_exactly() {
    let env = Env::demo();
    let config = env.demo_config();
    // Slow set_usage answers, one resource at a time: the kill lands between requests.
    env.sandbox.set_faults(Faults {
        latency_ms: 700,
        paths: vec!["set_usage".into()],
        ..Default::default()
    });
    let mut child = tally()
        .args(["push", "--now", NOW, "--from", "2026-11", "--config"])
        .arg(&config)
        .env("TALLY_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.sandbox.count("POST", SET_USAGE, 201) < 1 {
        assert!(Instant::now() < deadline, "no request arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let held_after_kill = env.held().len();
    assert!(
        held_after_kill < 8,
        "the kill came too late to prove anything"
    );

    env.sandbox.set_faults(Faults::default());
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    let expected = month(&computed(&config, "2026-11", "2026-11", NOW), "2026-11");
    assert_eq!(env.held(), expected);
    // The killed run's ledger rows were committed before each send.
    let counts = tally_push::Ledger::open(&env.ledger())
        .expect("ledger")
        .outcome_counts()
        .expect("counts");
    assert!(
        counts.iter().any(|(o, n)| o == "delivered" && *n >= 3),
        "{counts:?}"
    );
}

#[test]
fn a_closed_previous_month_is_reported_and_the_current_one_still_lands() {
    let env = Env::demo();
    let config = env.demo_config();
    let r = push(&env, &config, &["--from", "2026-10", "--to", "2026-11"]);
    r.expect_code(4);
    assert!(r.stderr.contains("closed: not accepted"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Service providers can only specify date"),
        "{}",
        r.stderr
    );
    let all = computed(&config, "2026-10", "2026-11", NOW);
    assert_eq!(env.held(), month(&all, "2026-11"));
    // Closed months are not retried: one attempt per resource-month.
    assert_eq!(env.sandbox.count("POST", SET_USAGE, 400), 3);
}

#[test]
fn a_resource_in_a_wrong_state_is_reported_and_the_others_land() {
    let env = Env::demo();
    env.sandbox
        .set_resource_state("proj_beta", "Erred")
        .expect("state");
    let config = env.demo_config();
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(4);
    assert!(
        r.stderr.contains("proj_beta") && r.stderr.contains("state Erred"),
        "{}",
        r.stderr
    );
    let mut expected = month(&computed(&config, "2026-11", "2026-11", NOW), "2026-11");
    expected.retain(|(b, _, _), _| b != "proj_beta");
    assert_eq!(env.held(), expected);
}

#[test]
fn an_unknown_component_is_reported_and_the_other_components_land() {
    let env = Env::demo();
    let components = DEMO_COMPONENTS.replace("[components.gpu]", "[components.gpus]");
    let config = env.config("demo-provider-token", &components, "");
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(4);
    assert!(
        r.stderr
            .contains("the offering has no component of this type"),
        "{}",
        r.stderr
    );
    let mut expected = month(&computed(&config, "2026-11", "2026-11", NOW), "2026-11");
    expected.retain(|(_, _, c), _| c != "gpus");
    assert_eq!(expected.len(), 6);
    assert_eq!(env.held(), expected);
}

#[test]
fn an_unknown_backend_id_is_reported_and_the_other_resources_land() {
    let env = Env::demo();
    // Map proj_gamma's account to a backend_id no resource has.
    let config = env.config(
        "demo-provider-token",
        DEMO_COMPONENTS,
        "[mapping.accounts]\nproj_gamma = \"proj_nowhere\"\n",
    );
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(4);
    assert!(
        r.stderr.contains("proj_nowhere")
            && r.stderr
                .contains("no resource of the offering has this backend_id"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("UNMAPPED"), "{}", r.stderr);
    let mut expected = month(&computed(&config, "2026-11", "2026-11", NOW), "2026-11");
    expected.retain(|(b, _, _), _| b != "proj_nowhere");
    assert_eq!(expected.len(), 6);
    assert_eq!(env.held(), expected);
}

#[test]
fn a_bad_token_exits_6_with_the_hint_and_never_shows_the_token() {
    let env = Env::demo();
    let secret = "0123456789abcdef0123456789abcdef01234567";
    let config = env.config(secret, DEMO_COMPONENTS, "");
    let r = run(tally()
        .args([
            "-vvv", "push", "--now", NOW, "--from", "2026-11", "--config",
        ])
        .arg(&config));
    assert_no_secrets(&r, &[secret]);
    r.expect_code(6);
    assert!(r.stderr.contains("Invalid token"), "{}", r.stderr);
    assert!(r.stderr.contains("token_lifetime"), "{}", r.stderr);
    assert!(env.held().is_empty());
    // The same through the environment variable, and for check and run.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("c")
            .replace("token_file", "# token_file"),
    )
    .expect("w");
    for (cmd, clock) in [("push", "--now"), ("check", "--as-of"), ("run", "--now")] {
        let r = run(tally()
            .args([cmd, clock, NOW, "--config"])
            .arg(&config)
            .env("TALLY_WALDUR_TOKEN", secret));
        assert_no_secrets(&r, &[secret]);
        r.expect_code(6);
    }
}

#[test]
fn the_token_is_in_no_output_and_not_in_the_ledger() {
    let env = Env::demo();
    let config = env.demo_config();
    for args in [
        vec![
            "-vvv",
            "push",
            "--dry-run",
            "--from",
            "2026-10",
            "--to",
            "2026-11",
        ],
        vec![
            "-vvv",
            "--log-format",
            "json",
            "push",
            "--from",
            "2026-10",
            "--to",
            "2026-11",
        ],
        vec!["-vvv", "check", "--format", "json", "--from", "2026-11"],
    ] {
        let mut full = args.clone();
        full.extend(["--now", NOW, "--config", config.to_str().expect("utf-8")]);
        if full.contains(&"check") {
            full.retain(|a| *a != "--now" && *a != NOW);
            full.extend(["--as-of", NOW]);
        }
        env.tally(&full);
    }
    let bytes = std::fs::read(env.ledger()).expect("ledger");
    assert!(!String::from_utf8_lossy(&bytes).contains("demo-provider-token"));
}

#[test]
fn check_finds_a_difference_planted_on_the_server() {
    let env = Env::demo();
    let config = env.demo_config();
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    let check = |format: &str| {
        env.tally(&[
            "check",
            "--from",
            "2026-11",
            "--as-of",
            NOW,
            "--format",
            format,
            "--config",
            config.to_str().expect("utf-8"),
        ])
    };
    check("table").expect_code(0);
    let plant = |resource: &str, component: &str, amount: &str| {
        env.sandbox
            .plant_usage(&PlantUsage {
                resource: resource.into(),
                component_type: component.into(),
                billing_period: "2026-11-01".parse().expect("date"),
                amount: amount.parse().expect("amount"),
                description: String::new(),
            })
            .expect("plant");
    };
    plant("proj_alpha", "cpu", "1000.00");
    plant("hpc_x42", "gpu", "5.00");
    let r = check("table");
    r.expect_code(5);
    assert!(
        r.stdout.contains("proj_alpha")
            && r.stdout.contains("different")
            && r.stdout.contains("1000.00"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("hpc_x42") && r.stdout.contains("unexpected"),
        "{}",
        r.stdout
    );
    let j = check("json");
    j.expect_code(5);
    let kinds: Vec<String> = j.json()["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d["kind"].as_str().unwrap_or(""),
                d["backend_id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(kinds, vec!["unexpected:hpc_x42", "different:proj_alpha"]);
    // A push repairs the difference tally owns; the unexpected one stays for a person to look at.
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    check("table").expect_code(5);
}

/// Issue 10: early in a month against a 7.x server (ignores `date`): the previous month is not
/// sent, the current month on the server is exactly tally's current-month totals, exit 4.
#[test]
fn run_early_in_a_month_on_a_7x_server_keeps_the_current_month_exact() {
    const EARLY: &str = "2026-11-02T10:00:00Z";
    let env = Env::new(Sandbox::demo_at(EARLY, true));
    let config = env.demo_config();
    let r = env.tally(&[
        "run",
        "--now",
        EARLY,
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    r.expect_code(4);
    assert!(
        r.stderr.contains("server 7.0.8 ignores `date`; past months cannot be reported; the current month was left untouched"),
        "{}",
        r.stderr
    );
    let all = computed(&config, "2026-10", "2026-11", EARLY);
    let current = month(&all, "2026-11");
    assert!(!current.is_empty() && !month(&all, "2026-10").is_empty());
    assert_eq!(env.held(), current);
    // Nothing dated was ever sent.
    assert_eq!(env.sandbox.count("POST", SET_USAGE, 201), 1);
}

/// The override on a 7.x server: the past-month report lands in the current month, the read-back
/// catches it, past months stop, and the current month is restored to tally's totals.
#[test]
fn a_past_month_report_that_lands_in_the_current_month_is_caught_and_repaired() {
    const EARLY: &str = "2026-11-02T10:00:00Z";
    let env = Env::new(Sandbox::demo_at(EARLY, true));
    let config = env.demo_config();
    let r = env.tally(&[
        "push",
        "--now",
        EARLY,
        "--as-of",
        EARLY,
        "--from",
        "2026-10",
        "--to",
        "2026-11",
        "--assume-date-support",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    r.expect_code(4);
    assert!(
        r.stderr
            .contains("CURRENT MONTH OVERWRITTEN BY A PAST-MONTH REPORT"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("PAST MONTHS STOPPED"), "{}", r.stderr);
    let current = month(&computed(&config, "2026-10", "2026-11", EARLY), "2026-11");
    let held = env.held();
    let nonzero: Figures = held
        .iter()
        .filter(|(_, a)| a.as_str() != "0.00")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(nonzero, current, "all held: {held:?}");
    assert!(held.keys().all(|(_, m, _)| m == "2026-11"));
}

#[test]
fn run_takes_a_lock_and_a_second_run_exits_7() {
    let env = Env::demo();
    let config = env.demo_config();
    let lock = PathBuf::from(format!("{}.lock", env.ledger().display()));
    let held = tally_push::RunLock::try_acquire(&lock).expect("lock");
    let r = env.tally(&[
        "run",
        "--now",
        NOW,
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    r.expect_code(7);
    assert!(
        r.stderr.contains("another tally run holds the lock"),
        "{}",
        r.stderr
    );
    assert_eq!(env.set_usage_calls(), 0);
    drop(held);
    let r = env.tally(&[
        "run",
        "--now",
        NOW,
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("Waldur holds exactly what tally computes"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_demo_replay_matches_its_expected_file() {
    let r = run(tally().args([
        "replay",
        "--config",
        fixture("fixtures/replay/tally.toml")
            .to_str()
            .expect("utf-8"),
        "--world",
        fixture("fixtures/replay/world.toml")
            .to_str()
            .expect("utf-8"),
        "--expect",
        fixture("fixtures/replay/expected.json")
            .to_str()
            .expect("utf-8"),
        "--now",
        NOW,
    ]));
    assert_no_secrets(&r, &[]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("Waldur holds exactly what tally computes: 15 cell(s)"),
        "{}",
        r.stdout
    );
    // A changed expectation is a failed replay.
    let dir = TestDir::new();
    let text = std::fs::read_to_string(fixture("fixtures/replay/expected.json")).expect("expected");
    let bad = dir.write(
        "expected.json",
        &text.replacen("\"480.00\"", "\"481.00\"", 1),
    );
    let r = run(tally()
        .args(["replay", "--now", NOW, "--config"])
        .arg(fixture("fixtures/replay/tally.toml"))
        .arg("--world")
        .arg(fixture("fixtures/replay/world.toml"))
        .arg("--expect")
        .arg(&bad));
    r.expect_code(5);
    assert!(
        r.stderr
            .contains("expected, not held: proj_alpha 2026-10 cpu 481.00"),
        "{}",
        r.stderr
    );
    let _: Value = serde_json::from_str(&text).expect("expected file is JSON");
}
