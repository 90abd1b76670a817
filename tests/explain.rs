//! `tally explain` and `tally history` through the real binary (issue 18): on generated dumps and
//! on the real files in fixtures/real, every cell of several months is explained by rows whose
//! exact TRES-seconds add up to it and whose totals are what `collect` prints, to the cent; the
//! ledger's history of a push, a re-push with a change and a failed attempt reads in order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;
use tally_sandbox::{seed_uuid, Faults};

use crate::util::{assert_no_secrets, fixture, run, tally, Run, Sandbox, TestDir};

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("not a decimal string: {v}")),
    )
    .expect("decimal")
}

fn collect_json(config: &Path, from: &str, to: &str, as_of: &str) -> Value {
    let r = run(tally()
        .args([
            "collect", "--format", "json", "--from", from, "--to", to, "--as-of", as_of, "--config",
        ])
        .arg(config));
    r.expect_code(0);
    r.json()
}

fn explain(config: &Path, resource: &str, month: &str, as_of: &str, extra: &[&str]) -> Run {
    let r = run(tally()
        .args(["explain", "--config"])
        .arg(config)
        .args([resource, month, "--as-of", as_of])
        .args(extra));
    r.expect_code(0);
    r
}

/// (resource, month) -> component -> amount, as `collect` prints them.
type Cells = BTreeMap<(String, String), BTreeMap<String, Decimal>>;

fn cells(v: &Value) -> Cells {
    let mut out = Cells::new();
    for u in v["usages"].as_array().expect("usages") {
        let s = |k: &str| u[k].as_str().expect("string").to_owned();
        out.entry((s("resource"), s("period")))
            .or_default()
            .insert(s("component"), dec(&u["amount"]));
    }
    out
}

/// The sum of a decimal field of the rows, per component.
fn row_sums(rows: &[Value], field: &str, only_amount_rows: bool) -> BTreeMap<String, Decimal> {
    let mut sums = BTreeMap::new();
    for r in rows {
        if only_amount_rows && r["kind"] != "amount" {
            continue;
        }
        for (c, v) in r[field].as_object().expect(field) {
            *sums.entry(c.clone()).or_insert(Decimal::ZERO) += dec(v);
        }
    }
    sums
}

/// Explains every (resource, month) of `collect` over the window (at most `limit` of them) and
/// checks each against the cell: amounts to the cent, rows' TRES-seconds exactly, users' split.
/// Returns how many (resource, month) pairs were checked.
fn every_cell_adds_up(config: &Path, from: &str, to: &str, as_of: &str, limit: usize) -> usize {
    let collected = collect_json(config, from, to, as_of);
    let all = cells(&collected);
    assert!(
        !all.is_empty(),
        "no cell to explain in {}",
        config.display()
    );
    let mut user_cells: BTreeMap<(String, String, String), BTreeMap<String, Decimal>> =
        BTreeMap::new();
    for u in collected["user_usages"].as_array().expect("user_usages") {
        let s = |k: &str| u[k].as_str().expect("string").to_owned();
        user_cells
            .entry((s("resource"), s("period"), s("component")))
            .or_default()
            .insert(s("user"), dec(&u["amount"]));
    }
    let mut checked = 0;
    for ((resource, month), components) in all.iter().take(limit) {
        let e = explain(config, resource, month, as_of, &["--format", "json"]).json();
        assert_eq!(e["resource"], resource.as_str());
        assert_eq!(e["month"], month.as_str());
        let totals = e["totals"].as_object().expect("totals");
        let explained: BTreeMap<String, Decimal> = totals
            .iter()
            .map(|(c, t)| (c.clone(), dec(&t["amount"])))
            .collect();
        assert_eq!(
            &explained, components,
            "{resource} {month}: explain's amounts are collect's"
        );
        let rows = e["rows"].as_array().expect("rows");
        let tres = row_sums(rows, "tres_seconds", false);
        let amount_rows = row_sums(rows, "contributions", true);
        for (c, t) in totals {
            let cell_tres = t["tres_seconds"].as_str().map(|_| dec(&t["tres_seconds"]));
            assert_eq!(
                tres.get(c).copied().unwrap_or_default(),
                cell_tres.unwrap_or_default(),
                "{resource} {month} {c}: the rows' TRES-seconds are the cell's, exactly"
            );
            let cell_amount_rows = t["amount_rows"]
                .as_str()
                .map(|_| dec(&t["amount_rows"]))
                .unwrap_or_default();
            assert_eq!(
                amount_rows.get(c).copied().unwrap_or_default(),
                cell_amount_rows
            );
            // The one division: factor first, then the unit; rounded once.
            let exact = dec(&t["exact"]);
            if let (Some(s), Some(unit)) = (cell_tres, t["unit_seconds"].as_u64()) {
                let expected = s * dec(&t["factor"]) / Decimal::from(unit) + cell_amount_rows;
                assert_eq!(
                    expected.round_dp(2),
                    exact.round_dp(2),
                    "{resource} {month} {c}"
                );
            }
            let mut rounded = exact
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
            rounded.rescale(2);
            assert_eq!(rounded, dec(&t["amount"]));
            // Users: their amounts add up to the cell, and are collect's split when it splits.
            let users: BTreeMap<String, Decimal> = e["users"]
                .as_array()
                .expect("users")
                .iter()
                .filter_map(|u| {
                    let share = &u["components"][c.as_str()];
                    share["amount"].as_str().map(|_| {
                        (
                            u["user"].as_str().unwrap().to_owned(),
                            dec(&share["amount"]),
                        )
                    })
                })
                .collect();
            assert_eq!(users.values().copied().sum::<Decimal>(), dec(&t["amount"]));
            if let Some(collect_users) =
                user_cells.get(&(resource.clone(), month.clone(), c.clone()))
            {
                assert_eq!(&users, collect_users, "{resource} {month} {c}");
            }
        }
        checked += 1;
    }
    checked
}

/// A config for sacct dumps matching `paths`, the demo's components.
fn sacct_config(dir: &TestDir, paths: &[PathBuf], extra: &str) -> PathBuf {
    let paths: Vec<String> = paths
        .iter()
        .map(|p| format!("{:?}", p.to_str().unwrap()))
        .collect();
    dir.write(
        "tally.toml",
        &format!(
            "billing_timezone = \"UTC\"\n[[sources]]\nformat = \"sacct\"\npaths = [{}]\ntimezone = \"UTC\"\n\
             [components.cpu]\ntres = \"cpu\"\n[components.gpu]\ntres = \"gres/gpu\"\n\
             [components.ram]\ntres = \"mem\"\nfactor = \"0.0009765625\"\n{extra}",
            paths.join(", ")
        ),
    )
}

#[test]
fn explain_adds_up_to_collect_on_generated_overlapping_dumps() {
    let dir = TestDir::new();
    // Two dumps of one generator: the smaller is the beginning of the larger (an overlap of
    // every job it holds), with running jobs, arrays, het jobs and month boundaries.
    let mut paths = Vec::new();
    for (name, lines) in [("a.txt", 3_000u64), ("b.txt", 6_000)] {
        let opts = tally_testgen::GenOptions {
            lines,
            accounts: 6,
            seed: 18,
            ..Default::default()
        };
        let mut out = Vec::new();
        tally_testgen::generate(&opts, &mut out).expect("generate");
        let path = dir.path().join(name);
        std::fs::write(&path, out).expect("write");
        paths.push(path);
    }
    let config = sacct_config(&dir, &paths, "");
    let as_of = "2026-11-20T06:00:00Z";
    let checked = every_cell_adds_up(&config, "2026-09", "2026-11", as_of, 40);
    assert!(checked >= 12, "{checked} (resource, month) pairs");
    // Duplicates: the first dump's jobs are all in the second.
    let collected = collect_json(&config, "2026-10", "2026-10", as_of);
    assert!(collected["records"]["duplicates"].as_u64().unwrap() > 100);
    let (resource, month) = cells(&collected).keys().next().cloned().unwrap();
    let e = explain(&config, &resource, &month, as_of, &["--format", "json"]).json();
    let dups = &e["not_counted"]["duplicates"];
    assert!(dups["count"].as_u64().unwrap() > 0, "{dups}");
    // Identical records in both dumps: the one read first counts, the other is named with it.
    let example = &dups["examples"][0];
    let file = |v: &Value| {
        Path::new(v["file"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(file(&example["origin"]), "b.txt", "{example}");
    assert_eq!(file(&example["kept"]), "a.txt", "{example}");
    // Each job counts once: no job id twice among the rows.
    let rows = e["rows"].as_array().unwrap();
    let mut ids: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["cluster"].as_str().unwrap(), r["job"].as_str().unwrap()))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "a job appears twice");
}

#[test]
fn explain_adds_up_to_collect_on_the_real_files() {
    let dir = TestDir::new();
    let real = |p: &str| fixture(&format!("fixtures/real/{p}"));
    let slurm = sacct_config(
        &dir,
        &[
            real("real-slurm-22.05/sacct-1node.txt"),
            real("real-slurm-22.05/sacct-2nodes.txt"),
            real("real-slurm-22.05/sacct-testsuite.txt"),
        ],
        "",
    );
    let as_of = "2027-01-01T00:00:00Z";
    let mut checked = every_cell_adds_up(&slurm, "2026-01", "2026-12", as_of, 20);
    let demo = fixture("fixtures/demo/tally.toml");
    checked += every_cell_adds_up(&demo, "2026-10", "2026-11", "2026-11-25T00:00:00Z", 20);
    // PBS (NCAR qhist, accounting by account), Grid Engine (Univa milliseconds and classic),
    // LSF, CSV intervals and CSV amounts (an Azure export), each with its documented config.
    for (example, from, to) in [
        ("pbs", "2025-01", "2025-12"),
        ("sge", "2017-01", "2017-12"),
        ("lsf", "2014-01", "2014-12"),
        ("csv-interval", "2026-09", "2026-12"),
        ("csv-amount", "2021-01", "2021-12"),
    ] {
        let config = fixture(&format!("fixtures/examples/{example}.toml"));
        checked += every_cell_adds_up(&config, from, to, as_of, 20);
    }
    // The xdmod PBS/Torque log, billed by user over twelve years.
    let xdmod_pbs = dir.write(
        "xdmod-pbs.toml",
        &format!(
            "[[sources]]\nformat = \"pbs\"\npaths = [{:?}]\nresource_field = \"user\"\n\
             [components.cpu]\ntres = \"ncpus\"\n[components.gpu]\ntres = \"ngpus\"\n\
             [components.ram]\ntres = \"mem\"\nfactor = \"0.0009765625\"\n",
            real("xdmod-pbs/accounting-logs.log").to_str().unwrap()
        ),
    );
    checked += every_cell_adds_up(&xdmod_pbs, "2009-01", "2020-12", "2021-01-01T00:00:00Z", 20);
    // Grid Engine and Univa (milliseconds) together, months cut in Tokyo.
    let uge = dir.write(
        "uge.toml",
        &format!(
            "billing_timezone = \"Asia/Tokyo\"\n[[sources]]\nformat = \"sge\"\npaths = [{:?}, {:?}]\n\
             resource_field = \"department\"\n[components.cpu]\ntres = \"cpu\"\n",
            real("xdmod-sge/accounting-logs.log").to_str().unwrap(),
            real("xdmod-uge/accounting-logs.log").to_str().unwrap()
        ),
    );
    checked += every_cell_adds_up(&uge, "2011-07", "2022-05", "2022-06-01T00:00:00Z", 20);
    assert!(checked >= 15, "{checked} (resource, month) pairs");
}

/// Demo job 102 runs 2026-10-30T12:00 to 2026-11-02T12:00 and is in both dumps.
#[test]
fn a_job_across_months_is_in_both_with_its_parts_adding_up_and_its_other_record_a_duplicate() {
    let config = fixture("fixtures/demo/tally.toml");
    let as_of = "2026-11-25T00:00:00Z";
    let row = |month: &str| -> Value {
        let e = explain(&config, "proj_alpha", month, as_of, &["--format", "json"]).json();
        let rows: Vec<Value> = e["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["job"] == "102")
            .cloned()
            .collect();
        assert_eq!(rows.len(), 1, "job 102 once in {month}: {rows:?}");
        rows[0].clone()
    };
    let (oct, nov) = (row("2026-10"), row("2026-11"));
    assert_eq!(oct["seconds"], "129600");
    assert_eq!(oct["cut_end"], "month_end");
    assert_eq!(nov["seconds"], "129600");
    assert_eq!(nov["cut_start"], "month_start");
    // 1.5 days in each month: the whole run of three days.
    assert_eq!(
        dec(&oct["seconds"]) + dec(&nov["seconds"]),
        Decimal::from(3 * 86_400)
    );
    assert_eq!(
        dec(&oct["tres_seconds"]["cpu"]) + dec(&nov["tres_seconds"]["cpu"]),
        Decimal::from(8 * 3 * 86_400)
    );
    // The record counted is the later dump's; the earlier dump's line is a named duplicate.
    assert!(nov["origin"]["file"]
        .as_str()
        .unwrap()
        .ends_with("sacct-2026-11-25.txt"));
    let e = explain(
        &config,
        "proj_alpha",
        "2026-11",
        as_of,
        &["--format", "json"],
    )
    .json();
    let dups = &e["not_counted"]["duplicates"];
    assert_eq!(dups["count"], 1);
    assert_eq!(dups["examples"][0]["job"], "102");
    assert!(dups["examples"][0]["origin"]["file"]
        .as_str()
        .unwrap()
        .ends_with("sacct-2026-10-31.txt"));
    assert!(dups["examples"][0]["kept"]["file"]
        .as_str()
        .unwrap()
        .ends_with("sacct-2026-11-25.txt"));
    // The step lines of the listed jobs are named (102's in both dumps, 201's), each repeating
    // its job; what the whole read skipped is counted too.
    let steps: Vec<(String, String)> = e["not_counted"]["steps_of_rows"]["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let file = x["origin"]["file"].as_str().unwrap();
            let file = Path::new(file).file_name().unwrap().to_str().unwrap();
            (
                x["step"].as_str().unwrap().to_owned(),
                format!("{file}:{}", x["origin"]["line"]),
            )
        })
        .collect();
    let steps: Vec<(&str, &str)> = steps
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("102.batch", "sacct-2026-10-31.txt:7"),
            ("102.batch", "sacct-2026-11-25.txt:3"),
            ("102.extern", "sacct-2026-11-25.txt:4"),
            ("201.batch", "sacct-2026-11-25.txt:6"),
            ("201.0", "sacct-2026-11-25.txt:7"),
        ]
    );
    assert_eq!(e["not_counted"]["steps"], 14);
    assert_eq!(e["not_counted"]["not_started"], 2);
}

#[test]
fn user_gives_the_users_share_and_their_rows_add_up_to_it() {
    let config = fixture("fixtures/demo/tally.toml");
    let as_of = "2026-11-25T00:00:00Z";
    let collected = collect_json(&config, "2026-11", "2026-11", as_of);
    let mut shares: BTreeMap<String, BTreeMap<String, Decimal>> = BTreeMap::new();
    for u in collected["user_usages"].as_array().unwrap() {
        if u["resource"] == "proj_alpha" && u["period"] == "2026-11" {
            shares
                .entry(u["component"].as_str().unwrap().to_owned())
                .or_default()
                .insert(u["user"].as_str().unwrap().to_owned(), dec(&u["amount"]));
        }
    }
    assert_eq!(shares["cpu"].len(), 2, "alice and bob");
    let mut sum_cpu = Decimal::ZERO;
    for user in ["alice", "bob"] {
        let e = explain(
            &config,
            "proj_alpha",
            "2026-11",
            as_of,
            &["--user", user, "--format", "json"],
        )
        .json();
        let rows = e["rows"].as_array().unwrap();
        assert!(rows.iter().all(|r| r["user"] == user));
        for (c, t) in e["totals"].as_object().unwrap() {
            assert_eq!(dec(&t["amount"]), shares[c][user], "{user} {c}");
            assert_eq!(
                row_sums(rows, "tres_seconds", false)[c],
                dec(&t["tres_seconds"])
            );
        }
        sum_cpu += dec(&e["totals"]["cpu"]["amount"]);
        assert_eq!(e["cells"]["cpu"]["amount"], "1056.00");
    }
    assert_eq!(sum_cpu, Decimal::from(1056));
}

#[test]
fn table_csv_component_and_top_views_agree_with_the_json() {
    let config = fixture("fixtures/demo/tally.toml");
    let as_of = "2026-11-25T00:00:00Z";
    let table = explain(&config, "proj_alpha", "2026-11", as_of, &[]);
    assert!(table.stdout.contains("1056.00"), "{}", table.stdout);
    assert!(table.stdout.contains("3801600"), "{}", table.stdout);
    assert!(
        table.stdout.contains("sacct-2026-10-31.txt:6"),
        "{}",
        table.stdout
    );
    let csv = explain(
        &config,
        "proj_alpha",
        "2026-11",
        as_of,
        &["--format", "csv", "--component", "cpu"],
    );
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert!(lines[0].ends_with("tres_seconds:cpu,contribution:cpu,amount:cpu"));
    assert_eq!(lines.len(), 4, "header, two jobs, total: {}", csv.stdout);
    assert!(
        lines[3].starts_with("total,") && lines[3].ends_with(",3801600,1056,1056.00"),
        "{}",
        lines[3]
    );
    let top = explain(
        &config,
        "proj_alpha",
        "2026-11",
        as_of,
        &["--top", "1", "--format", "json"],
    )
    .json();
    assert_eq!(top["rows"].as_array().unwrap().len(), 1);
    assert_eq!(top["rows_omitted"], 1);
    assert_eq!(top["rows"][0]["job"], "201", "the largest share first");
    assert_eq!(
        top["totals"]["cpu"]["amount"], "1056.00",
        "totals cover all rows"
    );
}

/// The sandbox's clock and the demo config as tests/push.rs has them.
const NOW: &str = "2026-11-25T00:00:00Z";

fn waldur_config(sandbox: &Sandbox, dir: &TestDir, records: &Path) -> PathBuf {
    let token = dir.write("token", "demo-provider-token");
    dir.write(
        "tally.toml",
        &format!(
            r#"billing_timezone = "UTC"
[[sources]]
format = "sacct"
paths = ["{records}/*.txt"]
timezone = "UTC"
[components.cpu]
tres = "cpu"
[components.gpu]
tres = "gres/gpu"
[components.ram]
tres = "mem"
factor = "0.0009765625"
[waldur]
url = "{url}"
token_file = "{token}"
offering_uuid = "{offering}"
ledger = "{ledger}"
rate_per_second = 50
burst = 50
concurrency = 1
max_retries = 0
"#,
            records = records.display(),
            url = sandbox.url,
            token = token.display(),
            offering = seed_uuid("offering", "Cluster").simple(),
            ledger = dir.path().join("ledger.db").display(),
        ),
    )
}

/// Appends a job of proj_alpha to the November dump (a change the next push sends).
fn add_job(records: &Path, id: u32, cpus: u32) {
    let path = records.join("sacct-2026-11-25.txt");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "{id}|{id}|demo|proj_alpha|alice|cpu|COMPLETED|2026-11-10T00:00:00|2026-11-10T00:00:00|\
         2026-11-10T00:00:00|2026-11-10T01:00:00|01:00:00|3600|{cpus}|1|billing={cpus},cpu={cpus},node=1|\
         billing={cpus},cpu={cpus},node=1|0:0|more\n"
    ));
    std::fs::write(&path, text).unwrap();
}

fn tally_here(args: &[&str], config: &Path) -> Run {
    let r = run(tally().args(args).arg("--config").arg(config));
    assert_no_secrets(&r, &[]);
    r
}

#[test]
fn history_shows_a_push_a_changed_repush_and_a_failed_attempt_in_order_and_the_last_check() {
    let sandbox = Sandbox::demo_at(NOW, false);
    let dir = TestDir::new();
    let records = dir.path().join("records");
    std::fs::create_dir_all(&records).unwrap();
    for f in ["sacct-2026-10-31.txt", "sacct-2026-11-25.txt"] {
        std::fs::copy(
            fixture(&format!("fixtures/demo/records/{f}")),
            records.join(f),
        )
        .unwrap();
    }
    let config = waldur_config(&sandbox, &dir, &records);
    let push = ["push", "--now", NOW, "--from", "2026-11"];
    tally_here(&push, &config).expect_code(0);
    // A change: one more job of 4 cpus for an hour, +4.00 cpu.
    add_job(&records, 301, 4);
    tally_here(&push, &config).expect_code(0);
    // Another change, refused by a failing server: recorded as failed.
    add_job(&records, 302, 2);
    sandbox.set_faults(Faults {
        error_rate: 1.0,
        paths: vec!["set_usage".into()],
        ..Default::default()
    });
    tally_here(&push, &config).expect_code(4);
    sandbox.set_faults(Faults::default());
    // The check finds the last change missing in Waldur and is recorded.
    tally_here(&["check", "--as-of", NOW, "--from", "2026-11"], &config).expect_code(5);

    let h = tally_here(
        &["history", "proj_alpha", "2026-11", "--format", "json"],
        &config,
    );
    h.expect_code(0);
    let h = h.json();
    let reports: Vec<&Value> = h["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["purpose"] == "report")
        .collect();
    let cpu = |r: &Value| -> (String, Option<String>) {
        let a = r["amounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["component"] == "cpu")
            .unwrap_or_else(|| panic!("no cpu in {r}"));
        (
            a["amount"].as_str().unwrap().to_owned(),
            a["held"].as_str().map(str::to_owned),
        )
    };
    let got: Vec<(String, (String, Option<String>))> = reports
        .iter()
        .map(|r| (r["outcome"].as_str().unwrap().to_owned(), cpu(r)))
        .collect();
    assert_eq!(
        got,
        [
            ("delivered".to_owned(), ("1056.00".to_owned(), None)),
            (
                "delivered".to_owned(),
                ("1060.00".to_owned(), Some("1056.00".to_owned()))
            ),
            (
                "failed".to_owned(),
                ("1062.00".to_owned(), Some("1060.00".to_owned()))
            ),
        ],
        "{h:#}"
    );
    // Three runs, in order, each named with its command; the failure carries the server's word.
    let runs: Vec<&str> = reports
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert!(runs[0] < runs[1] && runs[1] < runs[2], "{runs:?}");
    assert!(reports.iter().all(|r| r["command"] == "push"));
    assert!(reports[2]["message"].as_str().is_some(), "{}", reports[2]);
    assert!(reports[2]["http_status"].as_u64().unwrap() >= 500);
    // The last check: cpu missing its last change (tally 1062.00, Waldur 1060.00).
    let cpu_check = h["last_check"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "cpu")
        .expect("cpu checked");
    assert_eq!(cpu_check["result"], "different");
    assert_eq!(cpu_check["tally"], "1062.00");
    assert_eq!(cpu_check["waldur"], "1060.00");
    let gpu_check = h["last_check"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "gpu")
        .expect("gpu checked");
    assert_eq!(gpu_check["result"], "agrees");

    // The table says the same for people.
    let table = tally_here(&["history", "proj_alpha", "2026-11"], &config);
    table.expect_code(0);
    let lines: Vec<&str> = table.stdout.lines().collect();
    let failed = lines.iter().position(|l| l.contains("failed")).unwrap();
    let delivered: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(" report ") && l.contains(" delivered "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(delivered.len(), 2, "{}", table.stdout);
    assert!(delivered.iter().all(|&i| i < failed), "{}", table.stdout);
    assert!(table.stdout.contains("different"), "{}", table.stdout);
}
