//! What the live source asked for, and who a job is.
//!
//! - The live `sacct` source verifies its answer: configured clusters are checked against
//!   `sacctmgr` (or, without one, against the jobs sacct returned), `extra_args` that change
//!   tally's output contract are refused when the config is read, sacct's stderr is shown
//!   even when it exits 0, `--as-of` before the window is a usage error, `resource_field` is
//!   asked for. A fake `sacct` and a fake `sacctmgr` (shell scripts beside each other) stand
//!   in for Slurm; tests/real_slurm.rs checks the same against the real one.
//! - One identity per job: the same job from a dump with every identity column and from one
//!   without some of them is counted once (reconciled) or refused, never twice.

#![cfg(unix)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{fixture, run, tally, Run, TestDir};

// ---------------------------------------------------------------------------------------------
// The live source

/// A real Slurm 22.05 dump of the cluster `tallytest` (tests/expected/real-slurm-1node.*).
fn real_dump() -> PathBuf {
    fixture("fixtures/real/real-slurm-22.05/sacct-1node.txt")
}

const AS_OF: &str = "2026-11-25T10:52:40Z";

fn script(dir: &TestDir, rel: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.write(rel, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A fake sacct at bin/sacct that logs its arguments to bin/sacct.args and prints `body`'s
/// output; a fake sacctmgr beside it (when `clusters` is given) that knows those clusters.
fn fake_slurm(dir: &TestDir, sacct_body: &str, clusters: Option<&[&str]>) {
    script(
        dir,
        "bin/sacct",
        &format!("echo \"$*\" > \"$(dirname \"$0\")/sacct.args\"\n{sacct_body}"),
    );
    if let Some(clusters) = clusters {
        script(
            dir,
            "bin/sacctmgr",
            &format!(
                "echo \"$*\" > \"$(dirname \"$0\")/sacctmgr.args\"\nprintf '{}'",
                clusters
                    .iter()
                    .map(|c| format!("{c}\\n"))
                    .collect::<String>()
            ),
        );
    }
}

fn cat_dump() -> String {
    format!("cat {:?}", real_dump().to_str().unwrap())
}

/// A live source in `t.toml` (with `extra` appended to the source) and a cpu component.
fn live_config(dir: &TestDir, clusters: &[&str], extra: &str) -> PathBuf {
    let list: Vec<String> = clusters.iter().map(|c| format!("{c:?}")).collect();
    dir.write(
        "t.toml",
        &format!(
            "[[sources]]\nformat = \"sacct-command\"\nsacct_path = \"bin/sacct\"\n\
             timezone = \"Europe/Amsterdam\"\nclusters = [{}]\n{extra}\n\
             [components.cpu]\ntres = \"cpu\"\n",
            list.join(", ")
        ),
    )
}

fn collect(cfg: &Path, extra_args: &[&str]) -> Run {
    run(tally()
        .args(["collect", "--format", "json", "--from", "2026-11"])
        .args(["--as-of", AS_OF])
        .args(extra_args)
        .arg("--config")
        .arg(cfg))
}

#[test]
fn a_configured_cluster_slurm_does_not_know_exits_2_naming_it_and_the_known_ones() {
    let dir = TestDir::new();
    // What sacct does for an unknown cluster: a header, exit 0.
    fake_slurm(
        &dir,
        "echo 'JobID|JobIDRaw|Cluster|Account|User|State|Submit|Start|End|AllocTRES'",
        Some(&["tallytest", "other"]),
    );
    let cfg = live_config(&dir, &["nosuchcluster"], "");
    for strict in [&[][..], &["--strict"][..]] {
        let out = collect(&cfg, strict);
        out.expect_code(2);
        assert!(
            out.stderr.contains("\"nosuchcluster\"")
                && out.stderr.contains("not known to Slurm")
                && out.stderr.contains("other, tallytest")
                && out.stderr.contains("sacctmgr list clusters"),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "nothing is reported: {}", out.stdout);
    }
    assert!(
        !dir.path().join("bin/sacct.args").exists(),
        "sacct is not run for a cluster Slurm does not know"
    );
    let asked = std::fs::read_to_string(dir.path().join("bin/sacctmgr.args")).unwrap();
    assert_eq!(
        asked.trim(),
        "--parsable2 --noheader list clusters format=Cluster"
    );

    // The known cluster passes and is billed as before.
    fake_slurm(&dir, &cat_dump(), Some(&["tallytest", "other"]));
    let cfg = live_config(&dir, &["tallytest"], "");
    let out = collect(&cfg, &["--strict"]);
    out.expect_code(0);
    assert!(out.json()["records"]["jobs"].as_u64().unwrap() > 0);
}

/// push and run collect first: the same check stops them before anything is sent.
#[test]
fn push_and_run_exit_2_on_an_unknown_cluster_before_sending_anything() {
    let dir = TestDir::new();
    fake_slurm(&dir, &cat_dump(), Some(&["tallytest"]));
    let token = dir.write("token", "never-sent-token");
    let cfg = live_config(
        &dir,
        &["tallytest", "tallytset"],
        &format!(
            "[waldur]\nurl = \"http://127.0.0.1:9\"\nallow_insecure_http = true\n\
             token_file = {:?}\noffering_uuid = \"00000000000000000000000000000001\"\n\
             ledger = \"ledger.db\"\n",
            token.to_str().unwrap()
        ),
    );
    let push = run(tally()
        .args(["push", "--from", "2026-11", "--as-of", AS_OF, "--config"])
        .arg(&cfg));
    let nightly = run(tally().args(["run", "--config"]).arg(&cfg));
    for (what, out) in [("push", push), ("run", nightly)] {
        assert_eq!(out.code, 2, "{what}: {}", out.stderr);
        assert!(
            out.stderr.contains("\"tallytset\"") && out.stderr.contains("tallytest"),
            "{what}: {}",
            out.stderr
        );
        crate::util::assert_no_secrets(&out, &["never-sent-token"]);
    }
}

/// Without sacctmgr, sacct's answer judges: a cluster none of whose jobs it returned is refused.
#[test]
fn without_sacctmgr_the_clusters_of_sacct_s_answer_are_the_known_ones() {
    let dir = TestDir::new();
    fake_slurm(&dir, &cat_dump(), None);
    let out = collect(&live_config(&dir, &["tallytest"], ""), &[]);
    out.expect_code(0);
    assert!(out.stderr.contains("sacctmgr not found"), "{}", out.stderr);

    let out = collect(&live_config(&dir, &["tallytest", "nosuchcluster"], ""), &[]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("\"nosuchcluster\"")
            && out.stderr.contains("sacct's answer")
            && out.stderr.contains(": tallytest)"),
        "{}",
        out.stderr
    );

    // `sacctmgr_path` names it when it lives elsewhere.
    script(&dir, "slurm/sacctmgr", "echo nosuchcluster");
    let out = collect(
        &live_config(
            &dir,
            &["nosuchcluster"],
            "sacctmgr_path = \"slurm/sacctmgr\"",
        ),
        &[],
    );
    out.expect_code(0);
}

#[test]
fn sacct_stderr_is_shown_as_warnings_when_it_exits_0() {
    let dir = TestDir::new();
    fake_slurm(
        &dir,
        &format!(
            "echo 'sacct: error: slurmdbd: cluster tallytest is not responding, data may be incomplete' >&2\n{}",
            cat_dump()
        ),
        Some(&["tallytest"]),
    );
    script(
        &dir,
        "bin/sacctmgr",
        "echo tallytest\necho 'sacctmgr: warning: old slurmdbd' >&2",
    );
    let out = collect(&live_config(&dir, &["tallytest"], ""), &[]);
    out.expect_code(0);
    for said in [
        "cluster tallytest is not responding, data may be incomplete",
        "sacctmgr: warning: old slurmdbd",
    ] {
        let line = out.stderr.lines().find(|l| l.contains(said));
        assert!(
            line.is_some_and(|l| l.contains("WARN")),
            "{said:?} as a warning in:\n{}",
            out.stderr
        );
    }
}

/// Each spelling getopt accepts is refused when the config is read, naming the argument and
/// why; filters the site may want pass.
#[test]
fn extra_args_that_change_the_output_contract_are_refused_when_the_config_is_read() {
    let dir = TestDir::new();
    fake_slurm(&dir, &cat_dump(), Some(&["tallytest"]));
    let refused: &[(&[&str], &str)] = &[
        (&["--units=G"], "rounds memory"),
        (&["--units", "G"], "rounds memory"),
        (&["--uni=G"], "rounds memory"),
        (&["-n"], "header"),
        (&["--noheader"], "header"),
        (&["-nP"], "header"),
        (&["-P"], "already passes"),
        (&["--format=JobID,Account"], "columns"),
        (&["--form", "JobID"], "columns"),
        (&["-oJobID"], "columns"),
        (&["-o", "JobID"], "columns"),
        (&["--delimiter=;"], "separated"),
        (&["-p"], "--parsable2"),
        (&["--starttime=2020-01-01"], "window"),
        (&["-S", "2020-01-01"], "window"),
        (&["-E2020-01-01"], "window"),
        (&["-X"], "already passes"),
        (&["--noconvert"], "already passes"),
        (&["-D"], "already passes"),
        (&["--allusers"], "already passes"),
        (&["-T"], "month boundaries"),
        (&["--json"], "parsable text"),
        (&["--yaml"], "parsable text"),
        (&["-M", "other"], "`clusters`"),
        (&["--clusters=other"], "`clusters`"),
        (&["-L"], "`clusters`"),
        (&["--state=CD"], "--state"),
        (&["--array"], "one line per array"),
        (&["-A", "acct", "-n"], "header"),
        (&["--frobnicate"], "not a sacct option"),
        (&["gpu"], "not an option"),
    ];
    for (args, why) in refused {
        let list: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let cfg = live_config(
            &dir,
            &["tallytest"],
            &format!("extra_args = [{}]", list.join(", ")),
        );
        let out = collect(&cfg, &[]);
        assert_eq!(out.code, 2, "{args:?} is refused: {}", out.stderr);
        assert!(
            out.stderr.contains("extra_args") && out.stderr.contains(why),
            "{args:?}: {why:?} in {}",
            out.stderr
        );
        assert!(!dir.path().join("bin/sacct.args").exists(), "{args:?}");
    }
    let cfg = live_config(
        &dir,
        &["tallytest"],
        "extra_args = [\"--partition=debug\", \"-A\", \"hpc_x42,proj_alpha\", \"--qos\", \"normal\", \"-rdebug\", \"--local\", \"-v\"]",
    );
    let out = collect(&cfg, &[]);
    out.expect_code(0);
    let args = std::fs::read_to_string(dir.path().join("bin/sacct.args")).unwrap();
    assert!(
        args.trim_end()
            .ends_with("--partition=debug -A hpc_x42,proj_alpha --qos normal -rdebug --local -v"),
        "{args}"
    );
}

#[test]
fn an_as_of_before_the_window_is_a_usage_error() {
    let dir = TestDir::new();
    fake_slurm(&dir, &cat_dump(), Some(&["tallytest"]));
    let cfg = live_config(&dir, &["tallytest"], "");
    let out = run(tally()
        .args([
            "collect",
            "--from",
            "2026-11",
            "--as-of",
            "2026-10-20T00:00:00Z",
        ])
        .arg("--config")
        .arg(&cfg));
    out.expect_code(2);
    assert!(
        out.stderr.contains("--as-of 2026-10-20T00:00:00+00:00") && out.stderr.contains("2026-11"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("bin/sacct.args").exists(), "sacct not run");
}

/// A `resource_field` other than Account is asked for; before, sacct was not asked for the
/// column and the dump was refused for lacking it.
#[test]
fn resource_field_is_in_the_format_list() {
    let dir = TestDir::new();
    // Prints the Partition column only when asked for it.
    fake_slurm(
        &dir,
        "case \"$*\" in *--format=JobID,JobIDRaw,Cluster,Account,User,State,Submit,Start,End,AllocTRES,Partition\\ *) ;; *) echo 'JobID|JobIDRaw|Cluster|Account|User|State|Submit|Start|End|AllocTRES'; exit 0;; esac\n\
         echo 'JobID|JobIDRaw|Cluster|Account|User|State|Submit|Start|End|AllocTRES|Partition'\n\
         echo '7|7|tallytest|acct|u|COMPLETED|2026-11-02T00:00:00|2026-11-02T00:00:00|2026-11-02T02:00:00|cpu=3|gpu_queue'",
        Some(&["tallytest"]),
    );
    let cfg = live_config(&dir, &["tallytest"], "resource_field = \"Partition\"");
    let out = collect(&cfg, &[]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["usages"][0]["resource"], "gpu_queue", "{v}");
    assert_eq!(v["usages"][0]["amount"], "6.00");
}

// ---------------------------------------------------------------------------------------------
// One identity per job

const FULL_HEADER: &str = "JobID|JobIDRaw|Cluster|Account|User|State|Submit|Start|End|AllocTRES";
/// Job 5 (plain id) and the array task 9_1 (raw id 12), 2 h x 2 cpu each.
const FULL_JOBS: &str = "5|5|alpha|acct|u|COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T02:00:00|cpu=2\n\
                         9_1|12|alpha|acct|u|COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T02:00:00|cpu=2\n";

fn dumps_config(dir: &TestDir, minimal_source_extra: &str) -> PathBuf {
    dir.write(
        "t.toml",
        &format!(
            "[[sources]]\nformat = \"sacct\"\npaths = [\"full/*.txt\"]\n\
             [[sources]]\nformat = \"sacct\"\npaths = [\"minimal/*.txt\"]\n{minimal_source_extra}\n\
             [components.cpu]\ntres = \"cpu\"\n"
        ),
    )
}

fn collect_dumps(cfg: &Path) -> Run {
    run(tally()
        .args(["collect", "--format", "json", "--from", "2026-10"])
        .args(["--as-of", "2026-11-01T00:00:00Z", "--config"])
        .arg(cfg))
}

/// Before: the job in both dumps was billed twice (8.00 instead of 4.00 for job 5), with only
/// `duplicates` lower than expected as a trace.
#[test]
fn the_same_job_in_a_full_and_a_minimal_dump_is_refused_naming_both_files() {
    let dir = TestDir::new();
    dir.write("full/a.txt", &format!("{FULL_HEADER}\n{FULL_JOBS}"));
    dir.write(
        "minimal/b.txt",
        "JobID|Account|Start|End|AllocTRES\n\
         5|acct|2026-10-01T00:00:00|2026-10-01T02:00:00|cpu=2\n",
    );
    let out = collect_dumps(&dumps_config(&dir, ""));
    out.expect_code(2);
    assert!(
        out.stderr.contains("job 5 ")
            && out.stderr.contains("full/a.txt:2")
            && out.stderr.contains("minimal/b.txt:2")
            && out
                .stderr
                .contains("b.txt has no Cluster, JobIDRaw, Submit column"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);

    // An array task whose dump lacks JobIDRaw: its JobID says nothing of the raw id 12.
    dir.write(
        "minimal/b.txt",
        "JobID|Cluster|Account|Submit|Start|End|AllocTRES\n\
         9_1|alpha|acct|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T02:00:00|cpu=2\n",
    );
    let out = collect_dumps(&dumps_config(&dir, ""));
    out.expect_code(2);
    assert!(
        out.stderr.contains("job 9_1 ") && out.stderr.contains("b.txt has no JobIDRaw column"),
        "{}",
        out.stderr
    );
}

fn cpu_of(v: &Value) -> Vec<(String, String)> {
    v["usages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap().to_string(),
                c["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_minimal_dump_reconciled_by_its_source_s_cluster_counts_the_job_once() {
    let dir = TestDir::new();
    dir.write("full/a.txt", &format!("{FULL_HEADER}\n{FULL_JOBS}"));
    // No Cluster, no JobIDRaw: the source names the cluster and job 5's id is its raw id.
    dir.write(
        "minimal/b.txt",
        "JobID|Account|Submit|Start|End|AllocTRES\n\
         5|acct|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T02:00:00|cpu=2\n\
         6|acct|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=1\n",
    );
    let out = collect_dumps(&dumps_config(&dir, "cluster = \"alpha\""));
    out.expect_code(0);
    let v = out.json();
    // 5 and 9_1: 4 h each; 6: 1 h. Job 5 once.
    assert_eq!(cpu_of(&v), [("acct".to_string(), "9.00".to_string())]);
    assert_eq!(v["records"]["jobs"], 3);
    assert_eq!(v["records"]["duplicates"], 1);

    // Another cluster's job 5 is another job.
    let out = collect_dumps(&dumps_config(&dir, "cluster = \"beta\""));
    out.expect_code(0);
    let v = out.json();
    assert_eq!(cpu_of(&v), [("acct".to_string(), "13.00".to_string())]);
    assert_eq!(v["records"]["duplicates"], 0);
}

/// Dumps with different columns but no job in common (an archive written before the format
/// changed) are read as before.
#[test]
fn dumps_with_different_columns_and_no_common_job_are_read() {
    let dir = TestDir::new();
    dir.write("full/a.txt", &format!("{FULL_HEADER}\n{FULL_JOBS}"));
    dir.write(
        "minimal/b.txt",
        "JobID|Account|Start|End|AllocTRES\n\
         1|acct|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=1\n",
    );
    let out = collect_dumps(&dumps_config(&dir, ""));
    out.expect_code(0);
    assert_eq!(
        cpu_of(&out.json()),
        [("acct".to_string(), "9.00".to_string())]
    );
}
