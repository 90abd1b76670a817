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
        let records = fixture("fixtures/demo/records");
        self.config_for(&records, token, components, extra)
    }

    /// [`Env::config`] for the dumps `*.txt` in `records`.
    fn config_for(&self, records: &Path, token: &str, components: &str, extra: &str) -> PathBuf {
        let token_file = self.dir.write("token", token);
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
    // The per-user breakdowns went through the same faults and add up.
    for ((b, m, c), (total, users)) in env.breakdowns() {
        assert!(!users.is_empty(), "{b} {m} {c} has no breakdown");
        assert_eq!(users_sum(&users), total, "{b} {m} {c}");
    }
    // Exactly once: one stored figure per key, and a clean re-run finds nothing to send.
    env.sandbox.set_faults(Faults::default());
    env.sandbox.reset_counters();
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    assert_eq!(env.set_usage_calls(), 0);
    assert_eq!(env.calls(SET_USER_USAGES), 0);
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
    // Issue 15: tally owns hpc_x42's gpu cell (its mapping names the resource, gpu is
    // configured), so a push repairs both: the increase at once, the drop to 0.00 only with
    // --allow-decrease (the guard holds it first, exit 4, the server keeps 5.00).
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(4);
    assert!(
        r.stderr.contains("HELD BACK") && r.stderr.contains("would lower 5.00 to 0.00"),
        "{}",
        r.stderr
    );
    let key = |b: &str, c: &str| (b.to_owned(), "2026-11".to_owned(), c.to_owned());
    assert_eq!(env.held()[&key("hpc_x42", "gpu")], "5.00");
    assert_eq!(env.held()[&key("proj_alpha", "cpu")], "1056.00");
    check("table").expect_code(5);
    push(&env, &config, &["--from", "2026-11", "--allow-decrease"]).expect_code(0);
    assert_eq!(env.held()[&key("hpc_x42", "gpu")], "0.00");
    check("table").expect_code(0);
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
        // The 2024 server does not disclose its version; tally asked set_usage whether it reads `date`.
        r.stderr.contains(
            "ignores `date`; past months cannot be reported; the current month was left untouched"
        ),
        "{}",
        r.stderr
    );
    let all = computed(&config, "2026-10", "2026-11", EARLY);
    let current = month(&all, "2026-11");
    assert!(!current.is_empty() && !month(&all, "2026-10").is_empty());
    assert_eq!(env.held(), current);
    // Nothing dated was ever sent.
    assert_eq!(env.sandbox.count("POST", SET_USAGE, 201), 1);
    // The current month's breakdowns went (undated); October's did not.
    let breakdowns = env.breakdowns();
    assert!(breakdowns.keys().all(|(_, m, _)| m == "2026-11"));
    assert!(breakdowns
        .values()
        .all(|(total, users)| !users.is_empty() && &users_sum(users) == total));
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
    // Issue 15: `push` takes the same lock (a dry run sends nothing and needs none).
    let r = push(&env, &config, &[]);
    r.expect_code(7);
    assert!(
        r.stderr.contains("another tally run holds the lock"),
        "{}",
        r.stderr
    );
    assert_eq!(env.set_usage_calls(), 0);
    push(&env, &config, &["--dry-run"]).expect_code(0);
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
            .contains("Waldur holds exactly what tally computes: 15 cell(s) and 20 user share(s)"),
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
    // So is a changed user share (the first 768.00 is alice's October ram).
    let bad = dir.write(
        "expected-users.json",
        &text.replacen("\"768.00\"", "\"769.00\"", 1),
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
            .contains("expected, not held: proj_alpha 2026-10 ram user alice 769.00"),
        "{}",
        r.stderr
    );
    let _: Value = serde_json::from_str(&text).expect("expected file is JSON");
}

// ---- Per-user usage (issue 8) ------------------------------------------------------------------

const SET_USER_USAGES: &str = "/api/marketplace-component-usages/{uuid}/set_user_usages/";
const SET_USER_USAGE: &str = "/api/marketplace-component-usages/{uuid}/set_user_usage/";
const USAGE_LIST: &str = "/api/marketplace-component-usages/";
const USER_USAGE_LIST: &str = "/api/marketplace-component-user-usages/";
const OFFERING_USERS: &str = "/api/marketplace-offering-users/";

/// (backend_id, month, component) -> (total, user -> amount), two decimals, as the server holds.
type Breakdowns = BTreeMap<(String, String, String), (String, BTreeMap<String, String>)>;

fn two(mut d: rust_decimal::Decimal) -> String {
    d.rescale(2);
    d.to_string()
}

/// The demo world where Waldur user alice's account on the Cluster is the local username
/// `alice` (the accounting's), so alice maps to an offering user and bob, carol, dave do not.
fn mapped_env() -> Env {
    let text = tally_sandbox::DEMO_TOML.replace("username = \"alice_c\"", "username = \"alice\"");
    let world = tally_sandbox::World::from_toml_str(&text, "demo, alice mapped").expect("world");
    Env::new(Sandbox::start(
        world,
        tally_sandbox::SandboxOptions {
            now: Some(NOW.parse().expect("now")),
            ..Default::default()
        },
    ))
}

impl Env {
    fn breakdowns(&self) -> Breakdowns {
        let offering = seed_uuid("offering", "Cluster");
        self.sandbox
            .usages()
            .into_iter()
            .filter(|u| u.offering_uuid == offering)
            .map(|u| {
                (
                    (
                        u.backend_id,
                        u.billing_period.format("%Y-%m").to_string(),
                        u.component_type,
                    ),
                    (
                        two(u.usage),
                        u.user_usages
                            .into_iter()
                            .map(|(name, a)| (name, two(a)))
                            .collect(),
                    ),
                )
            })
            .collect()
    }

    /// Every request of the endpoint, whatever the answer.
    fn calls(&self, endpoint: &str) -> u64 {
        self.sandbox
            .counters()
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .map(|c| c.count)
            .sum()
    }

    /// A client of the sandbox with the provider's token (to read links and plant changes).
    fn client(&self) -> tally_waldur::WaldurClient {
        let settings = tally_waldur::ClientSettings::new(
            url::Url::parse(&self.sandbox.url).expect("url"),
            tally_waldur::Token::new("demo-provider-token").expect("token"),
        );
        tally_waldur::WaldurClient::new(settings).expect("client")
    }
}

/// What `tally collect` computes per user, as breakdowns (totals from `usages`).
fn computed_breakdowns(config: &Path, from: &str, to: &str) -> Breakdowns {
    let r = run(tally()
        .args([
            "collect", "--format", "json", "--from", from, "--to", to, "--as-of", NOW,
        ])
        .arg("--config")
        .arg(config));
    r.expect_code(0);
    let j = r.json();
    let s = |u: &Value, k: &str| u[k].as_str().expect("string").to_owned();
    let mut out: Breakdowns = j["usages"]
        .as_array()
        .expect("usages")
        .iter()
        .map(|u| {
            (
                (s(u, "resource"), s(u, "period"), s(u, "component")),
                (s(u, "amount"), BTreeMap::new()),
            )
        })
        .collect();
    for u in j["user_usages"].as_array().expect("user_usages") {
        let key = (s(u, "resource"), s(u, "period"), s(u, "component"));
        out.get_mut(&key)
            .expect("a user share of a computed cell")
            .1
            .insert(s(u, "user"), s(u, "amount"));
    }
    out
}

/// Sum of the users' shares, exactly.
fn users_sum(users: &BTreeMap<String, String>) -> String {
    two(users
        .values()
        .map(|a| a.parse::<rust_decimal::Decimal>().expect("amount"))
        .sum())
}

#[test]
fn the_per_user_breakdown_lands_adds_up_to_the_cent_and_a_rerun_sends_nothing() {
    let env = mapped_env();
    let config = env.demo_config();
    let expected = computed_breakdowns(&config, "2026-11", "2026-11");
    assert_eq!(expected.len(), 8);

    // The dry run shows the per-user bodies too, and sends nothing.
    let dry = push(&env, &config, &["--from", "2026-11", "--dry-run"]);
    dry.expect_code(0);
    assert!(
        dry.stdout.contains("/set_user_usages/") && dry.stdout.contains(r#""username": "bob""#),
        "{}",
        dry.stdout
    );
    // A dry run cannot know whether the server has set_user_usages: the listing says what an
    // older server gets instead.
    assert!(
        dry.stdout
            .contains("gets the same usages as one set_user_usage per user"),
        "{}",
        dry.stdout
    );
    assert_eq!(env.calls(SET_USER_USAGES) + env.set_usage_calls(), 0);

    env.sandbox.reset_counters();
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(0);
    let held = env.breakdowns();
    assert_eq!(held, expected, "{}", r.stderr);
    for ((b, m, c), (total, users)) in &held {
        assert_eq!(
            &users_sum(users),
            total,
            "{b} {m} {c}: the users must add up to the total"
        );
    }
    // One set_usage per resource, one set_user_usages per cell; reads: one usage listing for the
    // plan and one to learn the new records (one month), one user-usage listing, one
    // offering-user listing; nothing per resource.
    assert_eq!(env.sandbox.count("POST", SET_USAGE, 201), 3);
    assert_eq!(env.sandbox.count("POST", SET_USER_USAGES, 201), 8);
    assert_eq!(env.calls(SET_USER_USAGE), 0);
    assert_eq!(env.sandbox.count("GET", USAGE_LIST, 200), 2);
    assert_eq!(env.sandbox.count("GET", USER_USAGE_LIST, 200), 1);
    assert_eq!(env.sandbox.count("GET", OFFERING_USERS, 200), 1);
    // Unknown local usernames are reported by username alone and listed.
    assert!(
        r.stderr.contains(
            "unknown usernames (no offering user; reported by username alone): bob, carol, dave"
        ),
        "{}",
        r.stderr
    );
    // alice is linked to her offering user; bob is not linked to anyone.
    let client = env.client();
    let rows = env
        .sandbox
        .rt
        .block_on(
            client.component_user_usages(&tally_waldur::ComponentUserUsageFilter {
                offering_uuid: Some(seed_uuid("offering", "Cluster")),
                ..Default::default()
            }),
        )
        .expect("user usages");
    let offering_users = env
        .sandbox
        .rt
        .block_on(client.offering_users(&tally_waldur::OfferingUserFilter {
            offering_uuid: Some(seed_uuid("offering", "Cluster")),
            user_username: Some("alice".into()),
            ..Default::default()
        }))
        .expect("offering users");
    let alice_url = offering_users[0].url.clone().expect("url");
    for row in &rows {
        match row.username.as_deref() {
            Some("alice") => assert_eq!(row.user.as_deref(), Some(alice_url.as_str())),
            _ => assert_eq!(row.user, None, "{row:?}"),
        }
    }

    // The ledger has the breakdowns (purpose user_usage).
    let ledger = tally_push::Ledger::open(&env.ledger()).expect("ledger");
    let users = ledger
        .reported_users("proj_alpha", "2026-11")
        .expect("query");
    let cpu: Vec<(&str, &str, bool, &str)> = users
        .iter()
        .filter(|u| u.component == "cpu")
        .map(|u| {
            (
                u.username.as_str(),
                u.amount.as_str(),
                u.offering_user.is_some(),
                u.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        cpu,
        vec![
            ("alice", "768.00", true, "delivered"),
            ("bob", "288.00", false, "delivered")
        ]
    );

    // A re-run sends nothing at all.
    env.sandbox.reset_counters();
    let again = push(&env, &config, &["--from", "2026-11"]);
    again.expect_code(0);
    assert_eq!(env.set_usage_calls(), 0, "{}", again.stderr);
    assert_eq!(env.calls(SET_USER_USAGES), 0, "{}", again.stderr);
    assert_eq!(env.sandbox.count("GET", USAGE_LIST, 200), 1);

    // And check agrees per user.
    let c = env.tally(&[
        "check",
        "--from",
        "2026-11",
        "--as-of",
        NOW,
        "--format",
        "json",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    c.expect_code(0);
    let j = c.json();
    assert_eq!(j["users_compared"], true);
    let shares: usize = expected.values().map(|(_, u)| u.len()).sum();
    assert_eq!(j["agreeing_users"], shares as u64);
    assert_eq!(j["user_differences"], serde_json::json!([]));
}

#[test]
fn a_user_amount_changed_on_the_server_is_found_by_check_and_repaired_with_one_call() {
    let env = mapped_env();
    let config = env.demo_config();
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    let record = env
        .sandbox
        .usages()
        .into_iter()
        .find(|u| {
            u.backend_id == "proj_alpha"
                && u.component_type == "cpu"
                && u.billing_period.format("%Y-%m").to_string() == "2026-11"
        })
        .expect("record")
        .uuid;
    env.sandbox
        .rt
        .block_on(env.client().set_user_usage(
            record,
            &tally_waldur::UserUsageRequest {
                username: "alice".into(),
                usage: "700.00".parse().expect("d"),
                user: None,
                date: None,
            },
        ))
        .expect("plant");
    // Someone else's user on the same record.
    env.sandbox
        .rt
        .block_on(env.client().set_user_usage(
            record,
            &tally_waldur::UserUsageRequest {
                username: "mallory".into(),
                usage: "5.00".parse().expect("d"),
                user: None,
                date: None,
            },
        ))
        .expect("plant");
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
    let t = check("table");
    t.expect_code(5);
    assert!(
        t.stdout.contains("Per-user differences")
            && t.stdout.contains("alice")
            && t.stdout.contains("700.00")
            && t.stdout.contains("mallory"),
        "{}",
        t.stdout
    );
    let j = check("json");
    j.expect_code(5);
    let j = j.json();
    assert_eq!(j["differences"], serde_json::json!([]), "the totals agree");
    let kinds: Vec<String> = j["user_differences"]
        .as_array()
        .expect("user_differences")
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{}",
                d["kind"].as_str().unwrap_or(""),
                d["component"].as_str().unwrap_or(""),
                d["user"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(kinds, vec!["different:cpu:alice", "unexpected:cpu:mallory"]);

    env.sandbox.reset_counters();
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(0);
    assert_eq!(env.set_usage_calls(), 0, "{}", r.stderr);
    assert_eq!(env.calls(SET_USER_USAGES), 1, "{}", r.stderr);
    assert_eq!(env.sandbox.count("POST", SET_USER_USAGES, 201), 1);
    // The record was known from the plan's listing: no second listing.
    assert_eq!(env.sandbox.count("GET", USAGE_LIST, 200), 1);
    let held = env.breakdowns();
    let (total, users) = &held[&("proj_alpha".into(), "2026-11".into(), "cpu".into())];
    assert_eq!(users["alice"], "768.00");
    assert_eq!(
        users["mallory"], "0.00",
        "a user tally has none for is set to 0"
    );
    assert_eq!(&users_sum(users), total);
    check("table").expect_code(0);
}

#[test]
fn a_new_split_with_the_same_total_sends_one_call_and_no_set_usage() {
    let env = mapped_env();
    // Only cpu, so that one cell changes its split.
    let components = "\n[components.cpu]\ntres = \"cpu\"\n";
    let config = env.config("demo-provider-token", components, "");
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    let before = env.breakdowns();
    assert_eq!(before.len(), 3);

    // The same jobs, but bob's job 102 is now alice's: proj_alpha's cpu total stays, its split
    // changes.
    let records = env.dir.path().join("records");
    std::fs::create_dir_all(&records).expect("dir");
    for entry in std::fs::read_dir(fixture("fixtures/demo/records")).expect("records") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(
            records.join(path.file_name().expect("name")),
            text.replace("|proj_alpha|bob|", "|proj_alpha|alice|"),
        )
        .expect("write");
    }
    let text = std::fs::read_to_string(&config).expect("config").replace(
        &fixture("fixtures/demo/records").display().to_string(),
        &records.display().to_string(),
    );
    std::fs::write(&config, text).expect("config");

    env.sandbox.reset_counters();
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(0);
    assert_eq!(env.set_usage_calls(), 0, "{}", r.stderr);
    assert_eq!(
        env.sandbox.count("POST", SET_USER_USAGES, 201),
        1,
        "{}",
        r.stderr
    );
    assert_eq!(env.calls(SET_USER_USAGES), 1);
    let after = env.breakdowns();
    let key = (
        "proj_alpha".to_string(),
        "2026-11".to_string(),
        "cpu".to_string(),
    );
    assert_eq!(after[&key].0, before[&key].0, "the total stays");
    assert_eq!(after[&key].1["alice"], "1056.00");
    assert_eq!(after[&key].1["bob"], "0.00");
    assert_eq!(users_sum(&after[&key].1), after[&key].0);
    // The other resources did not move.
    for (k, v) in &before {
        if k != &key {
            assert_eq!(&after[k], v);
        }
    }
}

#[test]
fn user_usage_false_sends_and_compares_no_breakdown() {
    let env = mapped_env();
    let config = env.config("demo-provider-token", DEMO_COMPONENTS, "");
    // `user_usage` is a top-level key: put it before the first table.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("user_usage = false\n{text}")).expect("config");
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(0);
    assert_eq!(env.sandbox.count("POST", SET_USAGE, 201), 3);
    assert_eq!(env.calls(SET_USER_USAGES), 0);
    assert_eq!(env.calls(USER_USAGE_LIST), 0);
    assert_eq!(env.calls(OFFERING_USERS), 0);
    assert!(env.breakdowns().values().all(|(_, u)| u.is_empty()));
    assert!(!r.stderr.contains("per-user"), "{}", r.stderr);
    let c = env.tally(&[
        "check",
        "--from",
        "2026-11",
        "--as-of",
        NOW,
        "--format",
        "json",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    c.expect_code(0);
    assert_eq!(c.json()["users_compared"], false);
    assert_eq!(env.calls(USER_USAGE_LIST), 0);
}

// ---- tally owns its cells; the drop guard (issue 15) -------------------------------------------

fn check_november(env: &Env, config: &Path) -> Run {
    env.tally(&[
        "check",
        "--from",
        "2026-11",
        "--as-of",
        NOW,
        "--config",
        config.to_str().expect("utf-8"),
    ])
}

/// The figures that are not 0.00.
fn nonzero(f: &Figures) -> Figures {
    f.iter()
        .filter(|(_, a)| a.as_str() != "0.00")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn last_summary(env: &Env) -> Value {
    tally_push::Ledger::open(&env.ledger())
        .expect("ledger")
        .last_run_summary()
        .expect("query")
        .expect("a finished run")
}

/// An account re-mapped to another resource: its old resource's cells (and their user shares)
/// are held back by the guard first (exit 4, Waldur unchanged), then set to 0.00 with
/// --allow-decrease, after which check agrees.
#[test]
fn a_remapped_accounts_old_resource_ends_at_zero_with_its_users_and_check_agrees() {
    let env = Env::demo();
    let config = env.demo_config();
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    let before = env.breakdowns();
    let gamma: Vec<(String, String, String)> = before
        .keys()
        .filter(|(b, m, _)| b == "proj_gamma" && m == "2026-11")
        .cloned()
        .collect();
    assert!(!gamma.is_empty());
    assert!(gamma.iter().all(|k| !before[k].1.is_empty()), "{before:?}");

    let remapped = env.config(
        "demo-provider-token",
        DEMO_COMPONENTS,
        "[mapping.accounts]\nproj_gamma = \"hpc_x42\"\n",
    );
    let expected = month(&computed(&remapped, "2026-11", "2026-11", NOW), "2026-11");
    assert!(expected.keys().all(|(b, _, _)| b != "proj_gamma"));
    let r = push(&env, &remapped, &["--from", "2026-11"]);
    r.expect_code(4);
    assert!(
        r.stderr.contains("HELD BACK") && r.stderr.contains("tally computes nothing for this cell"),
        "{}",
        r.stderr
    );
    let held = env.breakdowns();
    for k in &gamma {
        assert_eq!(held[k], before[k], "{k:?} changed while held back");
    }
    for (k, v) in &expected {
        assert_eq!(&held[k].0, v, "{k:?}");
    }
    check_november(&env, &remapped).expect_code(5);
    let summary = last_summary(&env);
    assert_eq!(
        summary["held_back"].as_array().map(Vec::len),
        Some(gamma.len())
    );
    assert_eq!(summary["total"]["held_back"], gamma.len());

    push(&env, &remapped, &["--from", "2026-11", "--allow-decrease"]).expect_code(0);
    let held = env.breakdowns();
    for k in &gamma {
        assert_eq!(held[k].0, "0.00", "{k:?}");
        assert!(
            held[k].1.values().all(|a| a == "0.00"),
            "{k:?}: {:?}",
            held[k]
        );
    }
    assert_eq!(nonzero(&env.held()), expected);
    check_november(&env, &remapped).expect_code(0);
    // Nothing left to send.
    env.sandbox.reset_counters();
    push(&env, &remapped, &["--from", "2026-11"]).expect_code(0);
    assert_eq!(env.set_usage_calls(), 0);
    assert_eq!(env.calls(SET_USER_USAGES), 0);
}

/// A dump deleted while the glob still matches another one, then a dump that is only a header:
/// every cell that would fall is held back (exit 4, the server unchanged, nothing sent) and
/// listed with both amounts in the JSON summary and the ledger; --allow-decrease applies it.
#[test]
fn a_removed_dump_is_held_back_and_applied_only_with_allow_decrease() {
    let env = Env::demo();
    let text = std::fs::read_to_string(fixture("fixtures/demo/records/sacct-2026-11-25.txt"))
        .expect("dump");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let (alpha, rest): (Vec<&str>, Vec<&str>) = lines.partition(|l| l.contains("|proj_alpha|"));
    let dump = |rows: &[&str]| format!("{header}\n{}\n", rows.join("\n"));
    env.dir.write("records/a.txt", &dump(&alpha));
    let b = env.dir.write("records/b.txt", &dump(&rest));
    let records = env.dir.path().join("records");
    let config = env.config_for(&records, "demo-provider-token", DEMO_COMPONENTS, "");
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    let before = env.held();
    assert_eq!(
        before,
        month(&computed(&config, "2026-11", "2026-11", NOW), "2026-11")
    );
    let others: Vec<_> = before
        .keys()
        .filter(|(b, _, _)| b != "proj_alpha")
        .cloned()
        .collect();
    assert!(!others.is_empty());

    std::fs::remove_file(&b).expect("remove");
    env.sandbox.reset_counters();
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(4);
    assert!(
        r.stderr.contains("Held back by the drop guard"),
        "{}",
        r.stderr
    );
    assert_eq!(env.held(), before);
    assert_eq!(env.set_usage_calls(), 0);
    let summary = last_summary(&env);
    let listed: Vec<(String, String, String)> = summary["held_back"]
        .as_array()
        .expect("held_back")
        .iter()
        .map(|h| {
            let s = |k: &str| h[k].as_str().expect("string").to_owned();
            assert_eq!(
                s("held"),
                before[&(s("resource"), s("month"), s("component"))]
            );
            assert_eq!(s("computed"), "0.00");
            (s("resource"), s("month"), s("component"))
        })
        .collect();
    assert_eq!(listed, others);
    let (b0, m0, c0) = &others[0];
    let rows = tally_push::Ledger::open(&env.ledger())
        .expect("ledger")
        .reported(b0, m0)
        .expect("rows");
    let row = rows
        .iter()
        .rev()
        .find(|r| &r.component == c0)
        .expect("a ledger row");
    assert_eq!(
        (row.outcome.as_str(), row.amount.as_str()),
        ("held_back", "0.00")
    );
    assert!(
        row.message
            .as_deref()
            .is_some_and(|m| m.contains("drop guard")),
        "{row:?}"
    );

    // sacct printed only a header: everything would fall, everything is held.
    env.dir.write("records/a.txt", &format!("{header}\n"));
    push(&env, &config, &["--from", "2026-11"]).expect_code(4);
    assert_eq!(env.held(), before);
    assert_eq!(env.set_usage_calls(), 0);

    env.dir.write("records/a.txt", &dump(&alpha));
    // `run` takes the flag too (its window at NOW is November alone; its check agrees).
    let r = env.tally(&[
        "run",
        "--now",
        NOW,
        "--allow-decrease",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    r.expect_code(0);
    assert!(
        r.stderr.contains("decrease applied (allowed)"),
        "{}",
        r.stderr
    );
    let held = env.held();
    for k in &others {
        assert_eq!(held[k], "0.00", "{k:?}");
    }
    assert_eq!(
        nonzero(&held),
        month(&computed(&config, "2026-11", "2026-11", NOW), "2026-11")
    );
    check_november(&env, &config).expect_code(0);
}

/// A job counted as running until the last run ended a little earlier: the cell falls by 2 %,
/// inside the guard's 5 %, and is applied without the flag. A correction that takes 15 % off
/// is held.
#[test]
fn a_running_job_that_ended_earlier_lowers_the_cell_within_the_margin() {
    let env = Env::demo();
    const HEADER: &str = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Eligible|Start|End|Elapsed|ElapsedRaw|AllocCPUS|NNodes|AllocTRES|ReqTRES|ExitCode|JobName";
    let job = |state: &str, end: &str, elapsed: &str, raw: u64| {
        format!(
            "{HEADER}\n900|900|demo|proj_gamma|dave|cpu|{state}|2026-10-31T23:00:00|2026-10-31T23:00:00|2026-11-01T00:00:00|{end}|{elapsed}|{raw}|10|1|billing=10,cpu=10,node=1|billing=10,cpu=10,node=1|0:0|sim\n"
        )
    };
    env.dir.write(
        "records/jobs.txt",
        &job("RUNNING", "Unknown", "24-00:00:00", 2_073_600),
    );
    let records = env.dir.path().join("records");
    let config = env.config_for(&records, "demo-provider-token", DEMO_COMPONENTS, "");
    let cpu = (
        "proj_gamma".to_owned(),
        "2026-11".to_owned(),
        "cpu".to_owned(),
    );
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    // Counted to the as-of instant: 24 days x 24 h x 10 CPUs.
    assert_eq!(env.held()[&cpu], "5760.00");

    // It ended 12 hours before that: -2.08 %.
    env.dir.write(
        "records/jobs.txt",
        &job("COMPLETED", "2026-11-24T12:00:00", "23-12:00:00", 2_030_400),
    );
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(0);
    assert!(!r.stderr.contains("HELD BACK"), "{}", r.stderr);
    assert_eq!(env.held()[&cpu], "5640.00");
    check_november(&env, &config).expect_code(0);

    // A correction that says it ended on the 21st: -14.9 %, held.
    env.dir.write(
        "records/jobs.txt",
        &job("COMPLETED", "2026-11-21T00:00:00", "20-00:00:00", 1_728_000),
    );
    let r = push(&env, &config, &["--from", "2026-11"]);
    r.expect_code(4);
    assert!(
        r.stderr.contains("would lower 5640.00 to 4800.00"),
        "{}",
        r.stderr
    );
    assert_eq!(env.held()[&cpu], "5640.00");
}

/// `[push] shared_offering = true`: usage another reporter holds on a resource tally computes
/// nothing for and never wrote to is left alone (push and check alike), while a resource the
/// ledger shows tally wrote to is still tally's (its drop is held back, as in the default mode).
#[test]
fn a_shared_offering_leaves_other_reporters_cells_alone() {
    let env = Env::demo();
    let config = env.config(
        "demo-provider-token",
        DEMO_COMPONENTS,
        "[push]\nshared_offering = true\n",
    );
    env.sandbox
        .plant_usage(&PlantUsage {
            resource: "hpc_x42".into(),
            component_type: "gpu".into(),
            billing_period: "2026-11-01".parse().expect("date"),
            amount: "5.00".parse().expect("amount"),
            description: String::new(),
        })
        .expect("plant");
    let x42 = ("hpc_x42".to_owned(), "2026-11".to_owned(), "gpu".to_owned());
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    assert_eq!(env.held()[&x42], "5.00");
    check_november(&env, &config).expect_code(0);

    let remapped = env.config(
        "demo-provider-token",
        DEMO_COMPONENTS,
        "[push]\nshared_offering = true\n[mapping.accounts]\nproj_gamma = \"hpc_x42\"\n",
    );
    let r = push(&env, &remapped, &["--from", "2026-11"]);
    r.expect_code(4);
    assert!(r.stderr.contains("HELD BACK"), "{}", r.stderr);
    push(&env, &remapped, &["--from", "2026-11", "--allow-decrease"]).expect_code(0);
    let held = env.held();
    assert!(held
        .iter()
        .filter(|((b, _, _), _)| b == "proj_gamma")
        .all(|(_, a)| a == "0.00"));
    check_november(&env, &remapped).expect_code(0);
}

/// Issue 16: the genuine 2024 server has no `set_user_usages` and closes `/api/version/` to a
/// provider. Against the sandbox playing it: the breakdowns go one `set_user_usage` per user
/// (one 404 per run, not per call), a second push sends nothing, and check finds every share.
#[test]
fn per_user_usage_on_the_2024_server_goes_one_user_per_call_and_checks_clean() {
    let env = Env::new(Sandbox::demo_at(NOW, true));
    let config = env.demo_config();
    let first = push(&env, &config, &["--from", "2026-11"]);
    first.expect_code(0);
    // The 403 from /api/version/ is no error and no warning: tally asked set_usage instead.
    assert!(
        !first.stderr.contains("cannot read the server version")
            && !first.stderr.contains("permission denied"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("honours_date=Some(false)"),
        "{}",
        first.stderr
    );
    let bulk_404s = |env: &Env| -> u64 {
        env.sandbox
            .counters()
            .iter()
            .filter(|c| c.endpoint.ends_with("/set_user_usages/") && c.status == 404)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!(bulk_404s(&env), 1, "learnt once per run");
    let per_user = env.sandbox.count("POST", SET_USER_USAGE, 201);
    let breakdowns = env.breakdowns();
    let users: usize = breakdowns.values().map(|(_, u)| u.len()).sum();
    assert!(users > 1, "{breakdowns:?}");
    assert_eq!(per_user, users as u64, "one call per user");
    assert!(breakdowns
        .values()
        .all(|(total, users)| &users_sum(users) == total));
    // A second push sends nothing (and so asks nothing about set_user_usages).
    push(&env, &config, &["--from", "2026-11"]).expect_code(0);
    assert_eq!(env.sandbox.count("POST", SET_USER_USAGE, 201), per_user);
    assert_eq!(bulk_404s(&env), 1);
    let check = env.tally(&[
        "check",
        "--from",
        "2026-11",
        "--as-of",
        NOW,
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    check.expect_code(0);
}
