//! The other sources through the real binary: PBS accounting logs, CSV exports (interval
//! and amount rows) and live `sacct` (a fake `sacct` on PATH that checks its arguments).
//! Expected figures are computed by hand in the comments.

use serde_json::Value;

use crate::util::{fixture, run, tally, TestDir};

fn cells(v: &Value) -> Vec<(String, String, String, String)> {
    v["usages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("resource"), s("period"), s("component"), s("amount"))
        })
        .collect()
}

fn cell(r: &str, p: &str, c: &str, a: &str) -> (String, String, String, String) {
    (r.into(), p.into(), c.into(), a.into())
}

fn collect_json(config: &std::path::Path, from: &str, to: &str, as_of: &str) -> Value {
    let out = run(tally()
        .args([
            "collect", "--format", "json", "--from", from, "--to", to, "--as-of", as_of, "--config",
        ])
        .arg(config));
    out.expect_code(0);
    out.json()
}

/// Components in seconds (unit_seconds = 1) so that the hand computation is integers.
const SECONDS: &str = "[components.cpu]\ntres = \"ncpus\"\nunit_seconds = 1\n\
                       [components.gpu]\ntres = \"ngpus\"\nunit_seconds = 1\n\
                       [components.ram]\ntres = \"mem\"\nunit_seconds = 1\n";

#[test]
fn pbs_pro_life_cycle_bills_every_run_once() {
    // NCAR casper, 2025-03-31 (all UTC March): 4215033 ran twice (R record: 5 s, then E: 4 s),
    // 4215034 218 s, 4215065 2016 s, all 1 cpu; 4215265 23 s x 5 cpus. S records are replaced
    // by the E of the same run. cpu: 5 + 4 + 218 + 2016 + 115 = 2358 cpu-seconds.
    // mem (MiB-s): 30 bytes x 9 s (tiny) + 30720 x 218 + 30720 x 2016 + 10240 x 23 = 68864000.0003.
    let dir = TestDir::new();
    let cfg = dir.write(
        "t.toml",
        &format!(
            "[[sources]]\nformat = \"pbs\"\npaths = [{:?}]\ncluster = \"casper\"\n{SECONDS}",
            fixture("fixtures/real/ncar-qhist-pbs/testdata")
                .to_str()
                .unwrap()
        ),
    );
    let v = collect_json(&cfg, "2025-03", "2025-03", "2025-04-01T00:00:00Z");
    assert_eq!(
        cells(&v),
        [
            cell("SCSG0001", "2025-03", "cpu", "2358.00"),
            cell("SCSG0001", "2025-03", "ram", "68864000.00"),
        ]
    );
    assert_eq!(v["records"]["jobs"], 5, "five runs");
    assert_eq!(
        v["records"]["duplicates"], 5,
        "5 S records superseded by their R/E"
    );
    assert_eq!(v["records"]["other"], 8, "8 Q records");
}

#[test]
fn pbs_and_torque_variants_from_xdmod() {
    // Billed by user (most records have no account). By hand (cpu-seconds):
    // jonesm  2009-12: nodes=4:ppn=8 -> 32 cpus x 2197 s = 70304 (job 6 appears twice: once)
    // anonuser 2014-11: ncpus=1 x 9350 = 9350, mem 1993 MiB x 9350 = 18634550
    // anonuser 2016-01: 65 x 156 + 12 x 156 = 12012 (both end on 26 Jan UTC; start 25 Jan 23:58)
    //   -> 2016-01 only, since 1453766281 is 2016-01-25T23:58:01Z
    // ybsbu 2017-01: nodes=1:ppn=28:gpus=1 -> 28 x 8407 = 235396, gpu 8407
    // ybsbu 2020-04: 28 (exec_host 0-27) x 100000 + 28 (ppn=28) x 100000 = 5600000; gpu 2 x 100000
    // [user_1] 2020-12: 48 x 36072 = 1731456, gpu 4 x 36072 = 144288, mem 185547 x 36072 = 6693051384
    let dir = TestDir::new();
    let cfg =
        dir.write(
            "t.toml",
            &format!(
            "[[sources]]\nformat = \"pbs\"\npaths = [{:?}]\nresource_field = \"user\"\n{SECONDS}",
            fixture("fixtures/real/xdmod-pbs/accounting-logs.log").to_str().unwrap()
        ),
        );
    let v = collect_json(&cfg, "2009-01", "2020-12", "2021-01-01T00:00:00Z");
    assert_eq!(
        cells(&v),
        [
            cell("[user_1]", "2020-12", "cpu", "1731456.00"),
            cell("[user_1]", "2020-12", "gpu", "144288.00"),
            cell("[user_1]", "2020-12", "ram", "6693051384.00"),
            cell("anonuser", "2014-11", "cpu", "9350.00"),
            cell("anonuser", "2014-11", "ram", "18634550.00"),
            cell("anonuser", "2016-01", "cpu", "12012.00"),
            cell("jonesm", "2009-12", "cpu", "70304.00"),
            cell("ybsbu", "2017-01", "cpu", "235396.00"),
            cell("ybsbu", "2017-01", "gpu", "8407.00"),
            cell("ybsbu", "2020-04", "cpu", "5600000.00"),
            cell("ybsbu", "2020-04", "gpu", "200000.00"),
        ]
    );
    assert_eq!(v["records"]["duplicates"], 1);
    assert_eq!(v["records"]["invalid"], 0);
}

#[test]
fn csv_amount_rows_from_a_real_azure_export() {
    // Template.csv: 87 rows of Feb 2021; sums per MeterCategory computed with Python's csv and
    // decimal: Bandwidth 0.00000438, Load Balancer 1.3252838.., Log Analytics 0, Storage
    // 3.48381796, Virtual Machines 10.950, Virtual Network 0.6344. The two one-row files add
    // 4 each to Virtual Machines (JSON inside quoted cells, doubled quotes).
    let dir = TestDir::new();
    let cfg = dir.write(
        "t.toml",
        &format!(
            "[[sources]]\nformat = \"csv\"\nrecords = \"amount\"\npaths = [{:?}]\n\
             resource = \"subscriptionid\"\ntimestamp = \"UsageDateTime\"\ntime_format = \"%Y-%m-%d\"\n\
             component = \"MeterCategory\"\namount = \"costinbillingcurrency\"\n",
            fixture("fixtures/real/opencost-azure/values/*.csv").to_str().unwrap()
        ),
    );
    let v = collect_json(&cfg, "2021-02", "2021-02", "2021-03-01T00:00:00Z");
    let sub = "11111111-12ab-34dc-56ef-123456abcdef";
    assert_eq!(
        cells(&v),
        [
            cell(sub, "2021-02", "Bandwidth", "0.00"),
            cell(sub, "2021-02", "Load Balancer", "1.33"),
            cell(sub, "2021-02", "Log Analytics", "0.00"),
            cell(sub, "2021-02", "Storage", "3.48"),
            cell(sub, "2021-02", "Virtual Machines", "18.95"),
            cell(sub, "2021-02", "Virtual Network", "0.63"),
        ]
    );
    assert_eq!(v["records"]["amounts"], 89);
}

#[test]
fn csv_interval_rows_with_bom_crlf_quotes_and_dedup_across_overlapping_exports() {
    let dir = TestDir::new();
    // Semicolon-separated, BOM, CRLF, a quoted name with the delimiter inside, a local zone.
    dir.write(
        "exports/a.csv",
        "\u{feff}Job;Project;Name;Begin;Finish;Cores;Memory\r\n\
         1;alpha;\"x;y\";2026-10-31 23:00:00;2026-11-01 01:00:00;4;8G\r\n\
         2;beta;plain;2026-11-02 10:00:00;2026-11-02 10:30:00;2;\r\n",
    );
    // Re-exported with an overlap: job 2 again (same figures), job 3 new, and a bad row.
    dir.write(
        "exports/b.csv",
        "Job;Project;Name;Begin;Finish;Cores;Memory\n\
         2;beta;plain;2026-11-02 10:00:00;2026-11-02 10:30:00;2;\n\
         3;alpha;z;2026-11-03 00:00:00;2026-11-03 03:00:00;1;1024\n\
         4;alpha;z;2026-11-03 00:00:00;2026-11-03 03:00:00;many;\n",
    );
    let cfg = dir.write(
        "t.toml",
        "billing_timezone = \"Europe/Amsterdam\"\n\
         [[sources]]\nformat = \"csv\"\nrecords = \"interval\"\npaths = [\"exports/*.csv\"]\n\
         delimiter = \";\"\ntimezone = \"Europe/Amsterdam\"\ntime_format = \"%Y-%m-%d %H:%M:%S\"\n\
         resource = \"Project\"\ndedup_key = [\"Job\"]\nstart = \"Begin\"\nend = \"Finish\"\n\
         quantities = { cpu = \"Cores\", mem = \"Memory\" }\n\
         [components.cpu]\ntres = \"cpu\"\n[components.ram]\ntres = \"mem\"\nfactor = \"0.0009765625\"\n",
    );
    let out = run(tally()
        .args([
            "collect", "--format", "json", "--from", "2026-10", "--to", "2026-11",
        ])
        .args(["--as-of", "2026-12-01T00:00:00Z", "--config"])
        .arg(&cfg));
    out.expect_code(0);
    let v = out.json();
    // Job 1: 4 cpus, 8 GiB, 1 h in October and 1 h in November (Amsterdam midnight);
    // job 2: 2 x 0.5 h (counted once); job 3: 1 cpu 1 GiB 3 h.
    assert_eq!(
        cells(&v),
        [
            cell("alpha", "2026-10", "cpu", "4.00"),
            cell("alpha", "2026-10", "ram", "8.00"),
            cell("alpha", "2026-11", "cpu", "7.00"),
            cell("alpha", "2026-11", "ram", "11.00"),
            cell("beta", "2026-11", "cpu", "1.00"),
        ]
    );
    assert_eq!(v["records"]["duplicates"], 1);
    let invalid = v["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["line"], 4);
    assert_eq!(invalid[0]["field"], "Cores");
    assert!(invalid[0]["file"].as_str().unwrap().ends_with("b.csv"));
}

#[cfg(unix)]
fn fake_sacct(dir: &TestDir, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.write("bin/sacct", &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[cfg(unix)]
#[test]
fn live_sacct_is_run_with_the_documented_arguments_and_streamed() {
    let dir = TestDir::new();
    let dump = fixture("fixtures/real/real-slurm-22.05/sacct-1node.txt");
    // The fake checks what tally asks for, then prints a real dump.
    fake_sacct(
        &dir,
        &format!(
            "echo \"$TZ $*\" > \"$(dirname \"$0\")/args.txt\"\n\
             case \"$*\" in *--parsable2*--allocations*--duplicates*--noconvert*--starttime=2026-10-31T01:00:00*--endtime=2026-11-26T11:52:40*--format=JobID,JobIDRaw,Cluster,Account,User,State,Submit,Start,End,AllocTRES*--clusters=tallytest*) ;; *) echo \"unexpected arguments: $*\" >&2; exit 3;; esac\n\
             cat {:?}",
            dump.to_str().unwrap()
        ),
    );
    let cfg = dir.write(
        "t.toml",
        "[[sources]]\nformat = \"sacct-command\"\nsacct_path = \"bin/sacct\"\ntimezone = \"Europe/Amsterdam\"\nclusters = [\"tallytest\"]\n\
         [components.cpu]\ntres = \"cpu\"\n[components.gpu]\ntres = \"gres/gpu\"\n[components.ram]\ntres = \"mem\"\nfactor = \"0.0009765625\"\n\
         [components.billing]\ntres = \"billing\"\nunit_seconds = 60\n",
    );
    let v = collect_json(&cfg, "2026-11", "2026-11", "2026-11-25T10:52:40Z");
    let args = std::fs::read_to_string(dir.path().join("bin/args.txt")).unwrap();
    assert!(
        args.starts_with("Europe/Amsterdam "),
        "TZ is set for sacct: {args}"
    );
    // The same totals as reading the dump file (checked against the oracle in collect.rs).
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("tests/expected/real-slurm-1node.expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["usages"], expected["usages"]);
}

#[cfg(unix)]
#[test]
fn live_sacct_failures_are_clear() {
    let dir = TestDir::new();
    fake_sacct(
        &dir,
        "echo 'sacct: error: Problem talking to the database: Connection refused' >&2\nexit 1",
    );
    let cfg = dir.write(
        "t.toml",
        "[[sources]]\nformat = \"sacct-command\"\nsacct_path = \"bin/sacct\"\n[components.cpu]\ntres = \"cpu\"\n",
    );
    let out = run(tally().args(["collect", "--config"]).arg(&cfg));
    out.expect_code(1);
    assert!(
        out.stderr.contains("Connection refused") && out.stderr.contains("exited with"),
        "{}",
        out.stderr
    );

    let cfg = dir.write(
        "u.toml",
        "[[sources]]\nformat = \"sacct-command\"\nsacct_path = \"/nonexistent/sacct\"\n[components.cpu]\ntres = \"cpu\"\n",
    );
    let out = run(tally().args(["collect", "--config"]).arg(&cfg));
    out.expect_code(1);
    assert!(
        out.stderr.contains("/nonexistent/sacct not found"),
        "{}",
        out.stderr
    );
}

/// The documented example configs under fixtures/examples run as they are.
#[test]
fn example_configs_work() {
    let ex = |name: &str| fixture(&format!("fixtures/examples/{name}"));
    let v = collect_json(
        &ex("pbs.toml"),
        "2025-03",
        "2025-03",
        "2025-04-01T00:00:00Z",
    );
    // 2358 cpu-seconds (see the NCAR test above) = 0.655 h -> 0.66 (half-even).
    assert_eq!(cells(&v)[0], cell("SCSG0001", "2025-03", "cpu", "0.66"));
    let v = collect_json(
        &ex("csv-interval.toml"),
        "2026-10",
        "2026-11",
        "2026-12-01T00:00:00Z",
    );
    assert_eq!(
        cells(&v),
        // 23:00-01:00 in Amsterdam is 22:00-24:00 UTC: all of it in October (billing is UTC).
        [
            cell("proj_alpha", "2026-10", "cpu", "8.00"),
            cell("proj_alpha", "2026-10", "ram", "16.00"),
            cell("proj_beta", "2026-11", "cpu", "1.00"),
        ]
    );
    let v = collect_json(
        &ex("csv-amount.toml"),
        "2021-02",
        "2021-02",
        "2021-03-01T00:00:00Z",
    );
    assert_eq!(cells(&v).len(), 6);
}

#[cfg(unix)]
#[test]
fn sacct_command_example_runs_sacct_from_path() {
    let dir = TestDir::new();
    fake_sacct(
        &dir,
        &format!(
            "cat {:?}",
            fixture("fixtures/real/real-slurm-22.05/sacct-2nodes.txt")
                .to_str()
                .unwrap()
        ),
    );
    let path = format!(
        "{}:{}",
        dir.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(tally()
        .env("PATH", path)
        .args([
            "collect", "--format", "json", "--from", "2026-11", "--to", "2026-11",
        ])
        .args(["--as-of", "2026-11-25T10:58:30Z", "--config"])
        .arg(fixture("fixtures/examples/sacct-command.toml")));
    out.expect_code(0);
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("tests/expected/real-slurm-2nodes.expected.json"))
            .unwrap(),
    )
    .unwrap();
    // The example has no `billing` component; compare the others.
    let want: Vec<&Value> = expected["usages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["component"] != "billing")
        .collect();
    let got_json = out.json();
    let got: Vec<&Value> = got_json["usages"].as_array().unwrap().iter().collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(*g, w);
    }
}

fn csv_amount_config(dir: &TestDir, extra: &str) -> std::path::PathBuf {
    dir.write(
        "t.toml",
        &format!(
            "[[sources]]\nformat = \"csv\"\nrecords = \"amount\"\npaths = [\"a.csv\"]\n\
             resource = \"Project\"\nperiod = \"Month\"\ncomponent = \"Component\"\n\
             amount = \"Amount\"\n{extra}"
        ),
    )
}

fn invalid_lines(v: &Value) -> Vec<(u64, String)> {
    v["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["line"].as_u64().unwrap(),
                i["field"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Issue 15: a stray `"` opened a quoted field that swallowed every valid line after it:
/// neither counted nor listed invalid. Now it costs its own line only; the lines after it
/// are billed, and a legitimately quoted newline still works.
#[test]
fn a_stray_csv_quote_costs_its_line_not_the_lines_after_it() {
    let dir = TestDir::new();
    dir.write(
        "a.csv",
        "Project,Month,Component,Amount\n\
         p,2026-10,storage,1\n\
         p,\"2026-10,storage,2\n\
         p,2026-10,storage,4\n\
         p,2026-10,storage,8\n\
         q,2026-10,\"multi\nline\",16\n\
         q,2026-10,storage,32\n",
    );
    let cfg = csv_amount_config(&dir, "");
    let v = collect_json(&cfg, "2026-10", "2026-10", "2026-11-01T00:00:00Z");
    assert_eq!(
        cells(&v),
        [
            cell("p", "2026-10", "storage", "13.00"),
            cell("q", "2026-10", "multi\nline", "16.00"),
            cell("q", "2026-10", "storage", "32.00"),
        ]
    );
    assert_eq!(invalid_lines(&v), [(3, "line".to_string())]);
    // Every line read is in one bucket: header, 5 amounts, 1 invalid (7 records, the
    // quoted newline joins two lines into one).
    assert_eq!(v["records"]["lines"], 7);
    assert_eq!(v["records"]["amounts"], 5);
    assert_eq!(v["records"]["invalid"], 1);
}

/// Issue 15: after an empty line, an invalid CSV line was reported under the wrong line
/// number. Line numbers are the file's physical lines.
#[test]
fn csv_invalid_lines_are_reported_under_their_physical_line_number() {
    let dir = TestDir::new();
    dir.write(
        "a.csv",
        "Project,Month,Component,Amount\n\n\
         p,2026-10,storage,1\n\
         \n\
         \n\
         p,2026-10,storage,many\n\
         p,2026-13,storage,1\n",
    );
    let cfg = csv_amount_config(&dir, "");
    let v = collect_json(&cfg, "2026-10", "2026-10", "2026-11-01T00:00:00Z");
    assert_eq!(
        invalid_lines(&v),
        [(6, "Amount".to_string()), (7, "Month".to_string())]
    );
}

/// Issue 15: with `dedup_key`, of two interval rows with the same key and the same End the
/// FIRST was kept, although the README says the last one read counts.
#[test]
fn csv_dedup_key_keeps_the_last_row_read() {
    let dir = TestDir::new();
    dir.write(
        "a.csv",
        "Id,Project,Begin,Finish,Cores\n\
         1,p,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,2\n\
         1,p,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,3\n",
    );
    let cfg = dir.write(
        "t.toml",
        "[[sources]]\nformat = \"csv\"\nrecords = \"interval\"\npaths = [\"a.csv\"]\n\
         resource = \"Project\"\ndedup_key = [\"Id\"]\nstart = \"Begin\"\nend = \"Finish\"\n\
         quantities = { cpu = \"Cores\" }\n[components.cpu]\ntres = \"cpu\"\n",
    );
    let v = collect_json(&cfg, "2026-10", "2026-10", "2026-11-01T00:00:00Z");
    assert_eq!(cells(&v), [cell("p", "2026-10", "cpu", "3.00")]);
    assert_eq!(v["records"]["duplicates"], 1);
}
