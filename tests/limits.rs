//! `tally limits`, the limit warnings of `tally run` and the `[metrics] textfile`: the real binary
//! against the sandbox seeded with fixtures/limits/world.toml (resources with limits over monthly,
//! annual and total periods, usage held for earlier months; every figure worked out in
//! fixtures/limits/README.md). `promtool check metrics` (Debian package `prometheus`) judges the
//! metrics file: without it the test prints SKIPPED, under `CI` it fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{assert_no_secrets, fixture, run, tally, Run, Sandbox, TestDir};

/// 15 days (1,296,000 s) into November 2026.
const NOW: &str = "2026-11-16T00:00:00Z";
const TOKEN: &str = "limits-provider-token";

struct Env {
    sandbox: Sandbox,
    dir: TestDir,
}

impl Env {
    /// The world with `proj_b` holding `proj_b_january` cpu hours in 2026-01.
    fn new(proj_b_january: &str) -> Env {
        let text = std::fs::read_to_string(fixture("fixtures/limits/world.toml"))
            .expect("fixtures/limits/world.toml")
            .replace("@PROJ_B_JANUARY@", proj_b_january);
        let world = tally_sandbox::World::from_toml_str(&text, "fixtures/limits/world.toml")
            .unwrap_or_else(|e| panic!("the limits world does not load: {e}"));
        let sandbox = Sandbox::start(
            world,
            tally_sandbox::SandboxOptions {
                now: Some(NOW.parse().expect("now")),
                ..Default::default()
            },
        );
        Env {
            sandbox,
            dir: TestDir::new(),
        }
    }

    /// fixtures/limits/tally.toml with absolute paths, this sandbox, `token` and `extra` TOML.
    fn config(&self, token: &str, extra: &str) -> PathBuf {
        let base = std::fs::read_to_string(fixture("fixtures/limits/tally.toml"))
            .expect("fixtures/limits/tally.toml");
        let records = fixture("fixtures/limits/records");
        let sources = base.replace(
            "paths = [\"records/*.txt\"]",
            &format!("paths = [\"{}/*.txt\"]", records.display()),
        );
        assert_ne!(
            sources, base,
            "fixtures/limits/tally.toml changed its paths line"
        );
        let token_file = self.dir.write("token", token);
        let offering = tally_sandbox::seed_uuid("offering", "Cluster").simple();
        self.dir.write(
            "tally.toml",
            &format!(
                "{sources}\n{extra}\n[waldur]\nurl = \"{}\"\ntoken_file = \"{}\"\noffering_uuid = \"{offering}\"\nledger = \"{}\"\nrate_per_second = 50\nburst = 50\n",
                self.sandbox.url,
                token_file.display(),
                self.ledger().display()
            ),
        )
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger.db")
    }

    fn tally(&self, args: &[&str]) -> Run {
        let r = run(tally().args(args));
        assert_no_secrets(&r, &[TOKEN]);
        r
    }

    fn limits(&self, config: &Path, extra: &[&str]) -> Run {
        let mut args = vec![
            "limits",
            "--config",
            config.to_str().expect("utf-8"),
            "--as-of",
            NOW,
        ];
        args.extend_from_slice(extra);
        self.tally(&args)
    }
}

/// (resource, component, kind) -> (used, limit, share_percent, reach): JSON strings, "" for null.
type Standing = BTreeMap<(String, String, String), (String, String, String, String)>;

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn standings(v: &Value) -> Standing {
    let mut out = Standing::new();
    for r in v["resources"].as_array().expect("resources") {
        for c in r["components"].as_array().expect("components") {
            for l in c["limits"].as_array().expect("limits") {
                let reach = match text(&l["reach"]["state"]).as_str() {
                    "on" => text(&l["reach"]["date"]),
                    other => other.to_owned(),
                };
                out.insert(
                    (
                        text(&r["backend_id"]),
                        text(&c["component"]),
                        text(&l["kind"]),
                    ),
                    (
                        text(&c["used"]),
                        text(&l["limit"]),
                        text(&l["share_percent"]),
                        reach,
                    ),
                );
            }
        }
    }
    out
}

fn row(used: &str, limit: &str, share: &str, reach: &str) -> (String, String, String, String) {
    (used.into(), limit.into(), share.into(), reach.into())
}

#[test]
fn limits_show_each_periods_usage_share_and_projection() {
    let env = Env::new("150");
    let config = env.config(TOKEN, "");
    let r = env.limits(&config, &["--format", "json"]);
    r.expect_code(0);
    let v = r.json();
    let got = standings(&v);
    let key = |r: &str, c: &str, k: &str| (r.to_owned(), c.to_owned(), k.to_owned());
    // cpu, annual: Waldur's 300 (March) + 200 (October), the records' 150 for November; 10 a
    // day, 350 left: 35 days
    assert_eq!(
        got[&key("proj_a", "cpu", "resource")],
        row("650.00", "1000", "65.00", "2026-12-21")
    );
    assert_eq!(
        got[&key("proj_a", "cpu", "component")],
        row("650.00", "1000", "65.00", "2026-12-21")
    );
    // gpu, monthly: 30 of 40, 2 a day: 5 days
    assert_eq!(
        got[&key("proj_a", "gpu", "resource")],
        row("30.00", "40", "75.00", "2026-11-21")
    );
    assert_eq!(
        got[&key("proj_a", "gpu", "component")],
        row("30.00", "40", "75.00", "2026-11-21")
    );
    // ram, total: 400 (2025-06, Waldur) + 30; sold 600 (170 left: 85 days), capped at 500 (70 left:
    // 35 days); a total period has no end
    assert_eq!(
        got[&key("proj_a", "ram", "resource")],
        row("430.00", "600", "71.67", "2027-02-09")
    );
    assert_eq!(
        got[&key("proj_a", "ram", "component")],
        row("430.00", "500", "86.00", "2026-12-21")
    );
    // proj_b: 150 in January + 100; at 100 a fortnight and a half the caps outlast the year
    assert_eq!(
        got[&key("proj_b", "cpu", "resource")],
        row("250.00", "2000", "12.50", "not_within_period")
    );
    assert_eq!(
        got[&key("proj_b", "cpu", "component")],
        row("250.00", "1000", "25.00", "not_within_period")
    );
    // a component without an own limit: said, never 0 %
    assert_eq!(
        got[&key("proj_b", "gpu", "resource")],
        row("0.00", "", "", "no_limit")
    );
    // a resource without limits
    assert_eq!(
        got[&key("proj_c", "cpu", "resource")],
        row("10.00", "", "", "no_limit")
    );
    let c = &v["resources"].as_array().unwrap()[2];
    assert_eq!(c["backend_id"], "proj_c");
    assert_eq!(c["has_limits"], false);
    // the period began before the records and Waldur holds nothing earlier: said
    let note = text(&c["components"][0]["note"]);
    assert!(note.contains("2026-01..2026-10"), "{note}");
    // every month with its source
    let a_cpu = &v["resources"][0]["components"][0];
    assert_eq!(a_cpu["component"], "cpu");
    let months: Vec<(String, String, String)> = a_cpu["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (text(&m["month"]), text(&m["amount"]), text(&m["source"])))
        .collect();
    assert_eq!(
        months,
        [
            ("2026-03".into(), "300.00".into(), "waldur".into()),
            ("2026-10".into(), "200.00".into(), "waldur".into()),
            ("2026-11".into(), "150.00".into(), "records".into()),
        ]
    );

    // the table says the same for people
    let table = env.limits(&config, &["--resource", "proj_c"]);
    table.expect_code(0);
    let line = table
        .stdout
        .lines()
        .find(|l| l.starts_with("proj_c") && l.contains("resource"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(line.contains("no limit") && !line.contains('%'), "{line}");
    assert!(table
        .stdout
        .contains("note: proj_c: the resource has no limits of its own"));
    assert!(
        !table.stdout.contains("proj_a"),
        "--resource proj_c: {}",
        table.stdout
    );
    let csv = env.limits(&config, &["--format", "csv"]);
    csv.expect_code(0);
    assert!(csv.stdout.lines().any(|l| l.starts_with("proj_a,")
        && l.contains(",ram,component,total,")
        && l.contains(",86.00,")));

    // nothing at or over its limit; at 80 % proj_a's ram is (86 % of the cap)
    env.limits(&config, &["--fail-at", "100%"]).expect_code(0);
    let at80 = env.limits(&config, &["--fail-at", "80%"]);
    at80.expect_code(8);
    assert!(
        at80.stderr.contains("proj_a") && at80.stderr.contains("ram"),
        "{}",
        at80.stderr
    );
}

#[test]
fn over_the_components_limit_fails_at_100_percent_and_its_push_is_refused_as_such() {
    // proj_b holds 950 for January: with November's 100 the annual cap of 1000 is passed
    let env = Env::new("950");
    let config = env.config(TOKEN, "");
    let r = env.limits(&config, &["--format", "json", "--fail-at", "100%"]);
    r.expect_code(8);
    let got = standings(&r.json());
    assert_eq!(
        got[&("proj_b".into(), "cpu".into(), "component".into())],
        row("1050.00", "1000", "105.00", "reached")
    );
    assert!(r.stderr.contains("proj_b"), "{}", r.stderr);

    let run = env.tally(&["run", "--config", config.to_str().unwrap(), "--now", NOW]);
    run.expect_code(4);
    assert!(
        run.stderr.contains(
            "over the component's limit: the period would hold 1050.00 with this report, the limit is 1000"
        ),
        "{}",
        run.stderr
    );
    // [limits] warn_at = ["80%", "100%"]: proj_b's cpu at 105 % of the cap, proj_a's ram at 86 %
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("allocation at or above"))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("100% of its component limit") && l.contains("proj_b")),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("80% of its component limit")
                && l.contains("proj_a")
                && l.contains("ram")),
        "{warnings:#?}"
    );
    // proj_b's November was not written; the others were
    let held: Vec<(String, String)> = env
        .sandbox
        .usages()
        .into_iter()
        .filter(|u| u.billing_period.format("%Y-%m").to_string() == "2026-11")
        .map(|u| (u.backend_id, u.component_type))
        .collect();
    assert!(!held.contains(&("proj_b".into(), "cpu".into())), "{held:?}");
    assert!(held.contains(&("proj_a".into(), "cpu".into())), "{held:?}");
}

/// `promtool check metrics` on `text`: None when promtool is missing (SKIPPED; a panic under CI).
fn promtool(text: &str) -> Option<(bool, String)> {
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let why =
                format!("promtool not found ({e}); install it with `apt-get install prometheus`");
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") {
                panic!("{why} and CI is set: the metrics test must run in CI");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED promtool check of the metrics file: {why}"
            );
            return None;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// The value of the series `name{labels}` (labels as written, sorted by name) in a metrics file.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn a_runs_metrics_file_passes_promtool_matches_its_summary_and_a_failed_run_says_so() {
    let env = Env::new("150");
    let prom = env.dir.path().join("textfile").join("tally.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let config = env.config(
        TOKEN,
        &format!("[metrics]\ntextfile = \"{}\"\n", prom.display()),
    );
    let r = env.tally(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--now",
        NOW,
        "--log-format",
        "json",
    ]);
    r.expect_code(0);
    let text = std::fs::read_to_string(&prom).expect("the metrics file");
    if let Some((ok, said)) = promtool(&text) {
        assert!(ok && said.trim().is_empty(), "promtool: {said}\n{text}");
    }

    // the run's summary, as the ledger keeps it
    let ledger = tally_push::Ledger::open(&env.ledger()).expect("ledger");
    let summary = ledger.last_run_summary().expect("summary").expect("a run");
    for outcome in [
        "pushed",
        "unchanged",
        "failed",
        "closed",
        "refused",
        "unmapped",
        "held_back",
    ] {
        let want = summary["push"]["total"][outcome].as_f64().expect(outcome);
        assert_eq!(
            sample(
                &text,
                &format!("tally_last_run_cells{{outcome=\"{outcome}\"}}")
            ),
            Some(want),
            "{outcome}\n{text}"
        );
    }
    assert_eq!(
        summary["push"]["total"]["pushed"], 5,
        "5 cells in November: {summary}"
    );
    assert_eq!(
        sample(
            &text,
            "tally_last_run_requests{endpoint=\"set_usage\",status=\"201\"}"
        ),
        Some(
            env.sandbox
                .count("POST", "/api/marketplace-component-usages/set_usage/", 201)
                as f64
        )
    );
    assert_eq!(
        sample(&text, "tally_last_run_check_cells{result=\"agreeing\"}"),
        summary["check"]["agreeing"].as_f64()
    );
    assert_eq!(
        sample(&text, "tally_last_run_records{kind=\"jobs\"}"),
        Some(3.0)
    );
    assert_eq!(sample(&text, "tally_last_run_success"), Some(1.0));
    assert_eq!(sample(&text, "tally_last_run_exit_code"), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "tally_current_month_usage{component=\"cpu\",month=\"2026-11\",resource=\"proj_a\"}"
        ),
        Some(150.0)
    );
    assert_eq!(
        sample(
            &text,
            "tally_allocation_used_ratio{component=\"ram\",limit_kind=\"component\",period=\"total\",resource=\"proj_a\"}"
        ),
        Some(0.86)
    );
    for stage in ["collect", "push", "check", "limits"] {
        assert!(
            sample(
                &text,
                &format!("tally_last_run_stage_duration_seconds{{stage=\"{stage}\"}}")
            )
            .is_some(),
            "{stage}\n{text}"
        );
    }
    let success = sample(&text, "tally_last_success_timestamp_seconds").expect("last success");
    assert_eq!(
        sample(&text, "tally_last_run_end_timestamp_seconds"),
        Some(success)
    );

    // one run id: every log line, the ledger's attempts and the metrics file
    // (the summary and check tables are text for people beside the JSON log lines)
    let ids: std::collections::BTreeSet<String> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            text_of(&v["span"]["run_id"], l)
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(
        r.stderr.lines().filter(|l| l.starts_with('{')).count() >= 3,
        "JSON log lines: {}",
        r.stderr
    );
    let id = ids.into_iter().next().unwrap();
    let sent = ledger.reported("proj_a", "2026-11").expect("ledger");
    assert!(
        !sent.is_empty() && sent.iter().all(|a| a.run_id == id),
        "{id}"
    );
    assert!(
        text.contains(&format!("run_id=\"{id}\"")),
        "the metrics name the run {id}\n{text}"
    );

    // a failed run (a refused token) says so and keeps the last success
    let bad = env.config(
        "not-a-token",
        &format!("[metrics]\ntextfile = \"{}\"\n", prom.display()),
    );
    env.tally(&["run", "--config", bad.to_str().unwrap(), "--now", NOW])
        .expect_code(6);
    let failed = std::fs::read_to_string(&prom).expect("the metrics file");
    assert_eq!(
        sample(&failed, "tally_last_run_success"),
        Some(0.0),
        "{failed}"
    );
    assert_eq!(sample(&failed, "tally_last_run_exit_code"), Some(6.0));
    assert_eq!(
        sample(&failed, "tally_last_success_timestamp_seconds"),
        Some(success)
    );
    if let Some((ok, said)) = promtool(&failed) {
        assert!(ok && said.trim().is_empty(), "promtool: {said}\n{failed}");
    }
    let left: Vec<_> = std::fs::read_dir(prom.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the file, no temporary beside it");
}

fn text_of(v: &Value, line: &str) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("a log line without span.run_id: {line}"))
        .to_owned()
}

/// `promtool` with `args` in `dir`: None when it is missing (SKIPPED; a panic under CI).
fn promtool_in(dir: &Path, args: &[&str]) -> Option<(bool, String)> {
    match std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(out) => Some((
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )),
        Err(e) => {
            let why =
                format!("promtool not found ({e}); install it with `apt-get install prometheus`");
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") {
                panic!("{why} and CI is set: the alert-rule test must run in CI");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED promtool test of the README's alert rules: {why}"
            );
            None
        }
    }
}

/// The README's example alert rules are valid and fire as it says: no success for over 26 h, an
/// allocation over 90 % (fixtures/limits/alert-rules-test.yml).
#[test]
fn the_readmes_alert_rules_fire_as_documented() {
    let readme = std::fs::read_to_string(fixture("README.md")).expect("README.md");
    let start = readme
        .find("```yaml\ngroups:")
        .expect("the README's alert rules")
        + "```yaml\n".len();
    let end = start + readme[start..].find("```").expect("the end of the rules");
    let dir = TestDir::new();
    dir.write("rules.yml", &readme[start..end]);
    std::fs::copy(
        fixture("fixtures/limits/alert-rules-test.yml"),
        dir.path().join("test.yml"),
    )
    .expect("copy the rule test");
    if let Some((ok, said)) = promtool_in(dir.path(), &["check", "rules", "rules.yml"]) {
        assert!(ok, "{said}");
    }
    if let Some((ok, said)) = promtool_in(dir.path(), &["test", "rules", "test.yml"]) {
        assert!(ok, "{said}");
    }
}
