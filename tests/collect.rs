//! `tally collect` on the bundled demo data and the real dumps in fixtures/real, against
//! totals computed by an independent oracle (tests/oracle/sacct_totals.py, outputs in
//! tests/expected/; the reasoning is in tests/expected/README.md).

use serde_json::Value;

use crate::util::{fixture, run, tally, TestDir};

/// Writes a tally config equivalent to an oracle spec and returns its path.
fn config_from_spec(dir: &TestDir, spec: &Value) -> std::path::PathBuf {
    let mut toml = String::new();
    let tz = spec["billing_timezone"].as_str().unwrap_or("UTC");
    toml.push_str(&format!("billing_timezone = {tz:?}\n"));
    for file in spec["files"].as_array().unwrap() {
        toml.push_str("[[sources]]\nformat = \"sacct\"\n");
        let path = fixture(file.as_str().unwrap());
        toml.push_str(&format!("paths = [{:?}]\n", path.to_str().unwrap()));
        toml.push_str(&format!(
            "timezone = {:?}\n",
            spec["timezone"].as_str().unwrap_or("UTC")
        ));
        if let Some(d) = spec["delimiter"].as_str() {
            toml.push_str(&format!("delimiter = {d:?}\n"));
        }
        if let Some(f) = spec["fields"].as_array() {
            let names: Vec<String> = f
                .iter()
                .map(|n| format!("{:?}", n.as_str().unwrap()))
                .collect();
            toml.push_str(&format!("fields = [{}]\n", names.join(", ")));
        }
        if let Some(r) = spec["resource_field"].as_str() {
            toml.push_str(&format!("resource_field = {r:?}\n"));
        }
    }
    for (name, c) in spec["components"].as_object().unwrap() {
        toml.push_str(&format!(
            "[components.{name:?}]\ntres = {:?}\nunit_seconds = {}\nfactor = {:?}\n",
            c["tres"].as_str().unwrap(),
            c["unit_seconds"],
            c["factor"].as_str().unwrap()
        ));
    }
    dir.write("tally.toml", &toml)
}

fn check_against_oracle(name: &str) {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("tests/expected/{name}.spec.json"))).unwrap(),
    )
    .unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("tests/expected/{name}.expected.json"))).unwrap(),
    )
    .unwrap();
    let dir = TestDir::new();
    let config = config_from_spec(&dir, &spec);
    let out = run(tally()
        .args(["collect", "--format", "json", "--strict", "--config"])
        .arg(&config)
        .args([
            "--from",
            spec["from"].as_str().unwrap(),
            "--to",
            spec["to"].as_str().unwrap(),
            "--as-of",
            spec["as_of"].as_str().unwrap(),
        ]));
    out.expect_code(0);
    let got = out.json();
    let want = &expected["usages"];
    if got["usages"] != *want {
        let g = got["usages"].as_array().unwrap();
        let w = want.as_array().unwrap();
        let missing: Vec<_> = w.iter().filter(|c| !g.contains(c)).collect();
        let extra: Vec<_> = g.iter().filter(|c| !w.contains(c)).collect();
        panic!("{name}: cells differ from the oracle\nexpected but missing: {missing:#?}\nunexpected: {extra:#?}");
    }
    for key in ["jobs", "steps", "not_started", "invalid", "duplicates"] {
        assert_eq!(
            got["records"][key], expected["records"][key],
            "{name}: records.{key}"
        );
    }
}

#[test]
fn demo_totals_match_the_oracle_and_the_hand_computation() {
    check_against_oracle("demo");
}

#[test]
fn rug_hb_snowman_delimited_headerless_dump_matches_the_oracle() {
    check_against_oracle("rug-hb-jobinfo");
}

#[test]
fn xdmod_phillips_production_dump_matches_the_oracle() {
    check_against_oracle("xdmod-phillips");
}

#[test]
fn xdmod_small_files_with_arrays_running_and_unknown_states_match_the_oracle() {
    check_against_oracle("xdmod-small");
}

#[test]
fn slurm2sql_dumps_with_header_and_no_final_newline_match_the_oracle() {
    check_against_oracle("slurm2sql");
}

#[test]
fn live_slurm_22_05_dumps_match_the_oracle() {
    check_against_oracle("real-slurm-1node");
    check_against_oracle("real-slurm-2nodes");
}

#[test]
fn json_has_the_documented_shape() {
    let out = run(tally()
        .args([
            "collect",
            "--format",
            "json",
            "--from",
            "2026-10",
            "--to",
            "2026-10",
            "--as-of",
            "2026-11-25T00:00:00Z",
            "--config",
        ])
        .arg(fixture("fixtures/demo/tally.toml")));
    out.expect_code(0);
    let v = out.json();
    let first = &v["usages"][0];
    assert_eq!(first["resource"], "hpc_x42");
    assert_eq!(first["period"], "2026-10");
    assert_eq!(first["component"], "cpu");
    assert_eq!(
        first["amount"], "1.00",
        "amounts are strings with two decimals"
    );
    assert!(v["invalid"].as_array().unwrap().is_empty());
    for key in [
        "lines",
        "jobs",
        "steps",
        "duplicates",
        "not_started",
        "unmapped",
    ] {
        assert!(
            v["records"][key].is_u64(),
            "records.{key} missing: {}",
            v["records"]
        );
    }
}

#[test]
fn csv_and_table_formats() {
    let args = |fmt: &str| {
        let mut c = tally();
        c.args([
            "collect", "--format", fmt, "--from", "2026-10", "--to", "2026-11",
        ])
        .args(["--as-of", "2026-11-25T00:00:00Z", "--config"])
        .arg(fixture("fixtures/demo/tally.toml"));
        c
    };
    let csv = run(&mut args("csv"));
    csv.expect_code(0);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines[0], "resource,period,component,amount");
    assert!(
        lines.contains(&"proj_beta,2026-10,cpu,37.04"),
        "{}",
        csv.stdout
    );
    assert_eq!(lines.len(), 16);
    let table = run(&mut args("table"));
    table.expect_code(0);
    assert!(table.stdout.contains("RESOURCE"));
    let total = table
        .stdout
        .lines()
        .find(|l| l.starts_with("proj_alpha") && l.contains("total") && l.contains("cpu"));
    assert!(
        total.unwrap().trim_end().ends_with("1536.00"),
        "{}",
        table.stdout
    );
}

const DUMP_HEADER: &str = "JobID|JobIDRaw|Account|State|Start|End|AllocTRES";

fn bad_input_dir() -> TestDir {
    let dir = TestDir::new();
    dir.write(
        "records/a.txt",
        &format!(
            "{DUMP_HEADER}\n\
             1|1|acct|COMPLETED|2026-10-01T00:00:00|2026-10-01T02:00:00|cpu=2\n\
             2|2|acct|COMPLETED|2026-13-01T00:00:00|2026-10-01T02:00:00|cpu=2\n\
             3|3|acct|COMPLETED|2026-10-01T00:00:00|2026-10-01T02:00:00|cpu=four\n\
             4|4|acct|COMPLETED\n\
             5|5|acct|COMPLETED|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=1\n"
        ),
    );
    dir.write(
        "tally.toml",
        "[[sources]]\nformat = \"sacct\"\npaths = [\"records/*.txt\"]\n[components.cpu]\ntres = \"cpu\"\n",
    );
    dir
}

#[test]
fn bad_lines_are_listed_counted_and_do_not_stop_the_run() {
    let dir = bad_input_dir();
    let out = run(tally()
        .args([
            "collect",
            "--format",
            "json",
            "--from",
            "2026-10",
            "--as-of",
            "2026-11-01T00:00:00Z",
            "--config",
        ])
        .arg(dir.path().join("tally.toml")));
    out.expect_code(0);
    let v = out.json();
    assert_eq!(
        v["usages"][0]["amount"], "5.00",
        "lines 2 and 6 still count"
    );
    assert_eq!(v["records"]["invalid"], 3);
    let invalid = v["invalid"].as_array().unwrap();
    let got: Vec<(u64, &str)> = invalid
        .iter()
        .map(|i| (i["line"].as_u64().unwrap(), i["field"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [(3, "Start"), (4, "AllocTRES"), (5, "line")]);
    assert!(invalid[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("records/a.txt"));
    assert!(
        out.stderr.contains("a.txt:4") && out.stderr.contains("cpu=four"),
        "{}",
        out.stderr
    );
}

#[test]
fn strict_fails_the_run_on_invalid_lines_with_exit_code_3() {
    let dir = bad_input_dir();
    let out = run(tally()
        .args([
            "collect",
            "--strict",
            "--from",
            "2026-10",
            "--as-of",
            "2026-11-01T00:00:00Z",
            "--config",
        ])
        .arg(dir.path().join("tally.toml")));
    out.expect_code(3);
}

#[test]
fn configuration_errors_exit_2_and_name_the_file_and_key() {
    let dir = TestDir::new();
    let cfg = dir.write(
        "tally.toml",
        "[[sources]]\nformat = \"sacct\"\npaths = [\"missing/*.txt\"]\n[components.cpu]\ntres = \"cpu\"\n",
    );
    let out = run(tally().args(["collect", "--config"]).arg(&cfg));
    out.expect_code(2);
    assert!(out.stderr.contains("missing/*.txt"), "{}", out.stderr);

    let cfg = dir.write(
        "bad.toml",
        "[[sources]]\nformat = \"sacct\"\npaths = [\"x\"]\npath = [\"y\"]\n",
    );
    let out = run(tally().args(["collect", "--config"]).arg(&cfg));
    out.expect_code(2);
    assert!(
        out.stderr.contains("bad.toml") && out.stderr.contains("path"),
        "{}",
        out.stderr
    );

    let out = run(tally()
        .args(["collect", "--config"])
        .arg(dir.path().join("nope.toml")));
    out.expect_code(2);
    assert!(out.stderr.contains("nope.toml"), "{}", out.stderr);
}

#[test]
fn dumps_without_the_needed_columns_are_refused_clearly() {
    // slurmio's dump has no Start, End or Account column.
    let dir = TestDir::new();
    let cfg = dir.write(
        "tally.toml",
        &format!(
            "[[sources]]\nformat = \"sacct\"\npaths = [{:?}]\n[components.cpu]\ntres = \"cpu\"\n",
            fixture("fixtures/real/slurmio/sacct.txt").to_str().unwrap()
        ),
    );
    let out = run(tally().args(["collect", "--config"]).arg(&cfg));
    out.expect_code(2);
    assert!(
        out.stderr.contains("slurmio/sacct.txt") && out.stderr.contains("Account"),
        "{}",
        out.stderr
    );
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let out = run(tally()
        .current_dir(std::env::temp_dir())
        .args([
            "collect",
            "--format",
            "csv",
            "--from",
            "2026-11",
            "--as-of",
            "2026-11-25T00:00:00Z",
            "--config",
        ])
        .arg(fixture("fixtures/demo/tally.toml")));
    out.expect_code(0);
    assert!(
        out.stdout.contains("proj_gamma,2026-11,cpu,120.00"),
        "{}",
        out.stdout
    );
}

#[test]
fn per_user_breakdown_adds_up_to_every_cell_exactly() {
    let out = run(tally()
        .args([
            "collect", "--format", "json", "--from", "2026-10", "--to", "2026-11",
        ])
        .args(["--as-of", "2026-11-25T00:00:00Z", "--config"])
        .arg(fixture("fixtures/demo/tally.toml")));
    out.expect_code(0);
    let v = out.json();
    let dec = |s: &Value| {
        s.as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
    };
    let users = v["user_usages"].as_array().unwrap();
    for cell in v["usages"].as_array().unwrap() {
        let sum: rust_decimal::Decimal = users
            .iter()
            .filter(|u| {
                u["resource"] == cell["resource"]
                    && u["period"] == cell["period"]
                    && u["component"] == cell["component"]
            })
            .map(|u| dec(&u["amount"]))
            .sum();
        assert_eq!(sum, dec(&cell["amount"]), "{cell}");
    }
    // proj_alpha's October cpu: alice 192 (job 101), bob 288 (job 102).
    let alpha: Vec<(&str, &str)> = users
        .iter()
        .filter(|u| {
            u["resource"] == "proj_alpha" && u["period"] == "2026-10" && u["component"] == "cpu"
        })
        .map(|u| (u["user"].as_str().unwrap(), u["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(alpha, [("alice", "192.00"), ("bob", "288.00")]);
}

#[test]
fn completions_and_man_page_come_from_the_real_arguments() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(tally().args(["completions", shell]));
        out.expect_code(0);
        for sub in ["collect", "push", "orders", "offering-users"] {
            assert!(out.stdout.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let out = run(tally().arg("man"));
    out.expect_code(0);
    assert!(
        out.stdout.contains(".TH tally 1") && out.stdout.contains("collect"),
        "{}",
        &out.stdout[..200]
    );
}

/// Issue 15: one record no scheduler can produce killed the run with a panic (exit 101):
/// `cpu=100000000000000000000000000` overflowed the aggregator's sum. Now it is an invalid
/// line naming file, line and field; the other jobs are billed; `--strict` fails with 3.
#[test]
fn a_tres_count_of_ten_to_the_26_is_an_invalid_line_not_a_panic() {
    let dir = TestDir::new();
    dir.write(
        "d.txt",
        "JobID|Account|User|Start|End|AllocTRES\n\
         1|a|u|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=100000000000000000000000000\n\
         2|a|u|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=2\n\
         3|a|u|2026-10-01T00:00:00|2026-10-01T01:00:00|mem=79228162514264337593543950335T\n",
    );
    let cfg = dir.write(
        "t.toml",
        "[[sources]]\nformat = \"sacct\"\npaths = [\"d.txt\"]\n\
         [components.cpu]\ntres = \"cpu\"\n[components.ram]\ntres = \"mem\"\n",
    );
    let collect = |strict: bool| {
        let mut cmd = tally();
        cmd.args([
            "collect", "--format", "json", "--from", "2026-10", "--to", "2026-10",
        ])
        .args(["--as-of", "2026-11-01T00:00:00Z", "--config"])
        .arg(&cfg);
        if strict {
            cmd.arg("--strict");
        }
        run(&mut cmd)
    };
    let out = collect(false);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["usages"][0]["amount"], "2.00", "{v}");
    let invalid: Vec<(u64, &str)> = v["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["line"].as_u64().unwrap(), i["field"].as_str().unwrap()))
        .collect();
    assert_eq!(invalid, [(2, "AllocTRES"), (4, "AllocTRES")]);
    assert!(v["invalid"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("more than any job can hold"));
    collect(true).expect_code(3);
}

/// Issue 15: the PBS `nodes=4294967295:ppn=79228162514264337593543950335` panicked in
/// `pbs.rs` (`Multiplication overflowed`).
#[test]
fn a_pbs_node_spec_near_decimal_max_is_an_invalid_line_not_a_panic() {
    let dir = TestDir::new();
    dir.write(
        "log",
        "04/01/2026 11:00:00;E;1.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=4294967295:ppn=79228162514264337593543950335\n\
         04/01/2026 11:00:00;E;2.s;account=p start=1775037600 end=1775041200 Resource_List.nodes=2:ppn=4\n",
    );
    let cfg = dir.write(
        "t.toml",
        "[[sources]]\nformat = \"pbs\"\npaths = [\"log\"]\n[components.cpu]\ntres = \"ncpus\"\n",
    );
    let out = run(tally()
        .args([
            "collect", "--format", "json", "--from", "2026-04", "--to", "2026-04",
        ])
        .args(["--as-of", "2026-05-01T00:00:00Z", "--config"])
        .arg(&cfg));
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["usages"][0]["amount"], "8.00");
    assert_eq!(v["invalid"][0]["line"], 1);
    assert_eq!(v["invalid"][0]["field"], "Resource_List.nodes");
}

/// Issue 15: a config `factor` near `Decimal::MAX` made every sum overflow (a panic). It is
/// refused when the config is read: exit 2 naming the key.
#[test]
fn a_factor_near_decimal_max_is_a_config_error() {
    let dir = TestDir::new();
    dir.write(
        "d.txt",
        "JobID|Account|Start|End|AllocTRES\n1|a|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=2\n",
    );
    let cfg = dir.write(
        "t.toml",
        "[[sources]]\nformat = \"sacct\"\npaths = [\"d.txt\"]\n\
         [components.cpu]\ntres = \"cpu\"\nfactor = \"79228162514264337593543950335\"\n",
    );
    let out = run(tally().args(["collect", "--config"]).arg(&cfg));
    out.expect_code(2);
    assert!(
        out.stderr.contains("components.cpu.factor"),
        "{}",
        out.stderr
    );
}

/// Issue 15: thirty CSV rows starting 260,000 years ago took 23 s (every month since was
/// walked). Times outside 1970..2200 are invalid lines, and only the months asked for are
/// walked: a job of 229 years is as quick as a job of an hour.
#[test]
fn rows_dated_260000_years_ago_are_invalid_and_cost_no_time() {
    let dir = TestDir::new();
    let mut csv = String::from("Id,Project,Begin,Finish,Cores\n");
    for i in 0..30 {
        csv.push_str(&format!("{i},old,-8204823600000,1790000000,1\n"));
    }
    csv.push_str("30,wide,1,7258118399,1\n");
    dir.write("rows.csv", &csv);
    let cfg = dir.write(
        "t.toml",
        "[[sources]]\nformat = \"csv\"\nrecords = \"interval\"\npaths = [\"rows.csv\"]\n\
         time_format = \"unix\"\nresource = \"Project\"\nstart = \"Begin\"\nend = \"Finish\"\n\
         quantities = { cpu = \"Cores\" }\n[components.cpu]\ntres = \"cpu\"\nunit_seconds = 1\n",
    );
    let started = std::time::Instant::now();
    let out = run(tally()
        .args([
            "collect", "--format", "json", "--from", "2026-10", "--to", "2026-10",
        ])
        .args(["--as-of", "2199-12-31T00:00:00Z", "--config"])
        .arg(&cfg));
    let took = started.elapsed();
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["records"]["invalid"], 30);
    assert_eq!(v["invalid"][0]["field"], "Begin");
    assert!(v["invalid"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("outside the accepted range"));
    // The wide row: all of October 2026, 31 days (UTC).
    assert_eq!(v["usages"][0]["resource"], "wide");
    assert_eq!(v["usages"][0]["amount"], "2678400.00");
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}

/// Issue 15: a CSV amount near `Decimal::MAX` overflowed the sum of its cell (a panic).
/// Amounts above 10^12 per row, and negative amounts (which every other source refuses),
/// are invalid lines.
#[test]
fn csv_amounts_near_decimal_max_and_negative_ones_are_invalid_lines() {
    let dir = TestDir::new();
    dir.write(
        "a.csv",
        "Project,Month,Component,Amount\n\
         p,2026-10,storage,79228162514264337593543950335\n\
         p,2026-10,storage,79228162514264337593543950335\n\
         p,2026-10,storage,-5\n\
         p,2026-10,storage,2.5\n",
    );
    let cfg = dir.write(
        "t.toml",
        "[[sources]]\nformat = \"csv\"\nrecords = \"amount\"\npaths = [\"a.csv\"]\n\
         resource = \"Project\"\nperiod = \"Month\"\ncomponent = \"Component\"\namount = \"Amount\"\n",
    );
    let out = run(tally()
        .args([
            "collect", "--format", "json", "--from", "2026-10", "--to", "2026-10",
        ])
        .args(["--as-of", "2026-11-01T00:00:00Z", "--config"])
        .arg(&cfg));
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["usages"][0]["amount"], "2.50");
    let invalid: Vec<(u64, &str, &str)> = v["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["line"].as_u64().unwrap(),
                i["field"].as_str().unwrap(),
                i["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(invalid.len(), 3, "{invalid:?}");
    assert_eq!((invalid[0].0, invalid[0].1), (2, "Amount"));
    assert_eq!((invalid[1].0, invalid[1].1), (3, "Amount"));
    assert_eq!((invalid[2].0, invalid[2].1), (4, "Amount"));
    assert!(invalid[2].2.contains("negative"), "{}", invalid[2].2);
}
