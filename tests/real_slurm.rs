//! tally against a real Slurm 22.05: the single-machine cluster of `tests/real-slurm/start.sh`.
//!
//! One shared fixture submits real jobs once (several users and accounts: multi-step, array, het
//! on two nodes, failing, timed out, cancelled while pending and while running, one still running
//! when collected, GPU and memory requests, `--mem-per-cpu`, srun- and salloc-only jobs), waits on
//! `sacct` until their records reached slurmdbd, and fixes `--as-of`. Every test then runs the
//! real `tally` binary and compares each cell with values computed here, independently, from what
//! sacct itself reports for each allocation (Start, End, AllocTRES), printed in UTC. Units are
//! seconds (`unit_seconds = 1`): one second off fails.
//!
//! Without the cluster (no `target/real-slurm/env`) each test prints a SKIPPED line saying how to
//! start it and returns; with `CI` set it fails instead, so CI can never skip them silently.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::util::{root, run, tally, Run, TestDir};

const HOW: &str = "start it with `sudo tests/real-slurm/start.sh` (Debian 12, root; stop it with \
                   tests/real-slurm/stop.sh)";
/// The billing zone, and the source zone of the live runs: not UTC, so zone slips show.
const ZONE: Tz = chrono_tz::Europe::Amsterdam;
/// The source zone of the dump test: yet another zone, west of UTC.
const DUMP_ZONE: Tz = chrono_tz::America::New_York;
const DOCUMENTED_FORMAT: &str =
    "JobID,JobIDRaw,Cluster,Account,User,State,Submit,Start,End,AllocTRES";
/// tally's components: every TRES of interest, counted in TRES-seconds.
const COMPONENTS: &[(&str, &str)] = &[
    ("billing", "billing"),
    ("cpu", "cpu"),
    ("gpu", "gres/gpu"),
    ("node", "node"),
    ("ram", "mem"),
];

// ---------------------------------------------------------------------------------------------
// The cluster and the shared fixture

/// What start.sh wrote to target/real-slurm/env.
#[derive(Clone, Debug)]
struct Cluster {
    slurm_conf: PathBuf,
    cluster: String,
    jobs_dir: PathBuf,
}

fn env_file() -> PathBuf {
    match std::env::var_os("TALLY_REAL_SLURM_DIR") {
        Some(d) => PathBuf::from(d).join("env"),
        None => root().join("target/real-slurm/env"),
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The cluster, or None after printing the SKIPPED line (a panic under CI).
fn cluster() -> Option<Cluster> {
    let path = env_file();
    let Ok(text) = std::fs::read_to_string(&path) else {
        if in_ci() {
            panic!(
                "real Slurm not running ({} is missing) and CI is set: the real-Slurm tests \
                 must run in CI; {HOW}",
                path.display()
            );
        }
        // Straight to stderr, not through the test harness's capture, so a plain
        // `cargo test` shows it.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {}: real Slurm not running; {HOW}",
            std::thread::current().name().unwrap_or("real_slurm")
        );
        return None;
    };
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if !k.starts_with('#') {
                vars.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{} has no {k}", path.display()))
    };
    Some(Cluster {
        slurm_conf: PathBuf::from(get("SLURM_CONF")),
        cluster: get("TALLY_REAL_SLURM_CLUSTER"),
        jobs_dir: PathBuf::from(get("TALLY_REAL_SLURM_JOBS")),
    })
}

/// The jobs submitted once for all tests, and the collection instant.
#[derive(Debug)]
struct Jobs {
    cluster: Cluster,
    /// Tag in every job name of this run (`tly<tag>-<kind>`).
    tag: String,
    /// kind -> job id as sbatch/srun printed it (array and het: the leading id).
    ids: BTreeMap<&'static str, String>,
    /// `--as-of` for every collection: after every finished job's End.
    as_of: DateTime<Utc>,
}

static JOBS: OnceLock<Result<Jobs, String>> = OnceLock::new();

/// The shared fixture; None (skipped) without a cluster.
fn jobs() -> Option<&'static Jobs> {
    let cluster = cluster()?;
    let jobs = JOBS.get_or_init(|| submit_all(cluster));
    match jobs {
        Ok(j) => Some(j),
        Err(e) => panic!("submitting the real jobs failed: {e}"),
    }
}

impl Cluster {
    /// A Slurm client command against this cluster, run as `user` (root: as is).
    fn cmd(&self, user: &str, program: &str) -> Command {
        let mut c = if user == "root" {
            Command::new(program)
        } else {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--", program]);
            c
        };
        c.env("SLURM_CONF", &self.slurm_conf)
            .current_dir(&self.jobs_dir)
            .stdin(Stdio::null());
        c
    }

    fn output(&self, mut c: Command) -> Result<String, String> {
        let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{c:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// sbatch as `user`; returns the job id.
    fn sbatch(&self, user: &str, args: &[&str]) -> Result<String, String> {
        let mut c = self.cmd(user, "sbatch");
        c.args(["--parsable", "--output=%x-%j.out"]).args(args);
        let out = self.output(c)?;
        // --parsable prints `id` or `id;cluster`.
        Ok(out.trim().split(';').next().unwrap_or("").to_string())
    }

    /// sacct in UTC, all users, steps included, every job this cluster ever recorded.
    fn sacct_utc(&self, extra: &[&str]) -> Result<String, String> {
        let mut c = self.cmd("root", "sacct");
        c.env("TZ", "UTC").args([
            "--parsable2",
            "--allusers",
            "--duplicates",
            "--noconvert",
            "--starttime=2000-01-01T00:00:00",
            "--endtime=now+1days",
        ]);
        c.args(extra);
        self.output(c)
    }

    fn scancel(&self, ids: &[String]) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.cmd("root", "scancel");
        c.args(ids);
        self.output(c).map(|_| ())
    }
}

fn now_s() -> DateTime<Utc> {
    let n = Utc::now();
    DateTime::from_timestamp(n.timestamp(), 0).expect("now")
}

fn submit_all(cluster: Cluster) -> Result<Jobs, String> {
    let t0 = Instant::now();
    let c = &cluster;
    let log = |msg: String| {
        let _ = writeln!(
            std::io::stderr(),
            "[real-slurm {:>5.1}s] {msg}",
            t0.elapsed().as_secs_f64()
        );
    };
    // Jobs left running by an earlier run (the still-running job) would hold CPUs.
    let leftover: Vec<String> = c
        .output({
            let mut q = c.cmd("root", "squeue");
            q.args(["-h", "-o", "%A"]);
            q
        })?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !leftover.is_empty() {
        log(format!(
            "cancelling {} job(s) left by an earlier run",
            leftover.len()
        ));
        c.scancel(&leftover)?;
    }
    let tag = format!("{:x}", Utc::now().timestamp() % 0x100000);
    let name = |kind: &str| format!("--job-name=tly{tag}-{kind}");
    let scripts = root().join("tests/real-slurm/jobs");
    let script = |s: &str| scripts.join(s).display().to_string();
    let mut ids = BTreeMap::new();
    let sb = |ids: &mut BTreeMap<&'static str, String>,
              kind: &'static str,
              user: &str,
              args: &[&str]|
     -> Result<(), String> {
        let mut all = vec![name(kind)];
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let id = c.sbatch(user, &refs)?;
        ids.insert(kind, id);
        Ok(())
    };

    // Long ones first, pinned so that each node keeps a free CPU for the rest.
    sb(
        &mut ids,
        "timeout",
        "alice",
        &[
            "--account=proj_alpha",
            "--nodelist=node2",
            "--ntasks=1",
            "--mem=100M",
            "--time=1",
            "--wrap=sleep 300",
        ],
    )?;
    sb(
        &mut ids,
        "running",
        "alice",
        &[
            "--account=hpc_x42",
            "--nodelist=node1",
            "--ntasks=1",
            "--mem=150M",
            "--time=30",
            "--wrap=sleep 900",
        ],
    )?;
    sb(
        &mut ids,
        "cancel_running",
        "bob",
        &[
            "--account=proj_beta",
            "--ntasks=1",
            "--mem=100M",
            "--wrap=sleep 300",
        ],
    )?;
    // Held, then cancelled: never eligible (it shows in `sacct -j` only, not in a window).
    sb(
        &mut ids,
        "cancel_held",
        "bob",
        &[
            "--account=hpc_x42",
            "--hold",
            "--ntasks=1",
            "--wrap=sleep 1",
        ],
    )?;
    c.scancel(&[ids["cancel_held"].clone()])?;
    sb(
        &mut ids,
        "multistep",
        "alice",
        &["--account=proj_alpha", &script("multistep.sh")],
    )?;
    sb(
        &mut ids,
        "het",
        "alice",
        &["--account=hpc_x42", &script("het.sh")],
    )?;
    sb(
        &mut ids,
        "array",
        "bob",
        &[
            "--account=proj_beta",
            "--array=0-3",
            "--ntasks=1",
            "--mem-per-cpu=256M",
            "--wrap=sleep 2",
        ],
    )?;
    sb(
        &mut ids,
        "failing",
        "bob",
        &[
            "--account=proj_beta",
            "--ntasks=1",
            "--mem=64M",
            "--wrap=sleep 1; exit 3",
        ],
    )?;
    sb(
        &mut ids,
        "gpu",
        "alice",
        &[
            "--account=proj_alpha",
            "--ntasks=1",
            "--gres=gpu:2",
            "--mem=1G",
            "--wrap=srun sleep 2",
        ],
    )?;
    sb(
        &mut ids,
        "mem_per_cpu",
        "bob",
        &[
            "--account=proj_beta",
            "--ntasks=2",
            "--mem-per-cpu=300M",
            "--wrap=srun sleep 2",
        ],
    )?;
    sb(
        &mut ids,
        "two_nodes",
        "alice",
        &[
            "--account=hpc_x42",
            "--nodes=2",
            "--ntasks-per-node=1",
            "--mem=200M",
            "--wrap=srun sleep 2",
        ],
    )?;
    // srun- and salloc-only jobs (no .batch step), run by their users until they finish.
    // Pending for resources (node1 keeps the running job's memory), cancelled once sacct has it.
    sb(
        &mut ids,
        "cancel_pending",
        "bob",
        &[
            "--account=hpc_x42",
            "--nodelist=node1",
            "--ntasks=1",
            "--mem=1900M",
            "--wrap=sleep 1",
        ],
    )?;
    let blocking: Vec<(&'static str, Child)> = vec![
        ("srun_only", {
            let mut s = c.cmd("bob", "srun");
            s.args([
                &name("srun_only"),
                "--account=hpc_x42",
                "--ntasks=1",
                "--mem=128M",
                "sleep",
                "2",
            ]);
            s.stdout(Stdio::null()).stderr(Stdio::piped());
            s.spawn().map_err(|e| format!("srun: {e}"))?
        }),
        ("salloc", {
            let mut s = c.cmd("alice", "salloc");
            s.args([
                &name("salloc"),
                "--account=proj_alpha",
                "--ntasks=1",
                "--mem=128M",
                "srun",
                "sleep",
                "2",
            ]);
            s.stdout(Stdio::null()).stderr(Stdio::piped());
            s.spawn().map_err(|e| format!("salloc: {e}"))?
        }),
    ];
    log(format!("submitted {} batch jobs (tag {tag})", ids.len()));

    // Cancel one job once it really runs.
    let deadline = Instant::now() + Duration::from_secs(90);
    wait_until(deadline, "the job to cancel while running to start", || {
        let s = job_states(c, &[ids["cancel_running"].clone()])?;
        Ok(s.values().all(|(state, _)| state == "RUNNING"))
    })?;
    std::thread::sleep(Duration::from_millis(1500));
    c.scancel(&[ids["cancel_running"].clone()])?;
    wait_until(
        deadline,
        "the job to cancel while pending to be recorded as pending",
        || {
            let s = job_states(c, &[ids["cancel_pending"].clone()])?;
            Ok(s.values().all(|(state, _)| state == "PENDING"))
        },
    )?;
    std::thread::sleep(Duration::from_millis(1000));
    c.scancel(&[ids["cancel_pending"].clone()])?;

    for (kind, child) in blocking {
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{kind}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{kind} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    log("srun and salloc jobs done".into());

    // Wait on sacct (records reach slurmdbd seconds after the jobs leave squeue) until every
    // job but one is finished with an End, and the running one runs.
    let all: Vec<String> = ids.values().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    let is_final = |state: &str, end: &str| {
        !matches!(
            state,
            "RUNNING" | "PENDING" | "REQUEUED" | "COMPLETING" | "SUSPENDED"
        ) && end != "Unknown"
    };
    wait_until(deadline, "every job's final record in sacct", || {
        let states = job_states(c, &all)?;
        let named = job_names(c, &tag)?;
        let mut done = true;
        for (jobid, (state, end)) in &states {
            if jobid == &ids["running"] {
                done &= state == "RUNNING";
            } else {
                done &= is_final(state, end);
            }
        }
        // Array tasks and het components are listed by the leading id too (+3, +1).
        done &= states.len() == all.len() + 3 + 1;
        for kind in ["srun_only", "salloc"] {
            done &= named
                .get(kind)
                .is_some_and(|v| v.iter().all(|(_, s, e)| is_final(s, e)));
        }
        Ok(done)
    })?;
    for kind in ["srun_only", "salloc"] {
        let named = job_names(c, &tag)?;
        ids.insert(kind, named[kind][0].0.clone());
    }
    std::thread::sleep(Duration::from_millis(1100));
    let as_of = now_s();
    log(format!("all records in slurmdbd; as-of {as_of}"));
    Ok(Jobs {
        cluster,
        tag,
        ids,
        as_of,
    })
}

/// JobID -> (State, End) of the allocations of these jobs, from sacct.
fn job_states(c: &Cluster, ids: &[String]) -> Result<BTreeMap<String, (String, String)>, String> {
    let out = c.sacct_utc(&[
        "--allocations",
        "--noheader",
        "--format=JobID,State,End",
        &format!("--jobs={}", ids.join(",")),
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f.len() == 3).then(|| (f[0].to_string(), (f[1].to_string(), f[2].to_string())))
        })
        .collect())
}

/// (JobID, State, End) of one allocation.
type JobLine = (String, String, String);

/// Allocations of this run's jobs by kind (the part of the name after the tag).
fn job_names(c: &Cluster, tag: &str) -> Result<BTreeMap<String, Vec<JobLine>>, String> {
    let out = c.sacct_utc(&[
        "--allocations",
        "--noheader",
        "--format=JobName,JobID,State,End",
    ])?;
    let prefix = format!("tly{tag}-");
    let mut m: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for l in out.lines() {
        let f: Vec<&str> = l.split('|').collect();
        if let (4, Some(kind)) = (f.len(), f[0].strip_prefix(&prefix)) {
            m.entry(kind.to_string()).or_default().push((
                f[1].to_string(),
                f[2].to_string(),
                f[3].to_string(),
            ));
        }
    }
    Ok(m)
}

fn wait_until(
    deadline: Instant,
    what: &str,
    mut check: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    loop {
        let last = check();
        match last {
            Ok(true) => return Ok(()),
            Ok(false) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(700))
            }
            Ok(false) => return Err(format!("timed out waiting for {what}")),
            Err(e) => return Err(format!("timed out waiting for {what}: {e}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Expected values, from sacct's own records (printed in UTC), computed here

/// One line of a sacct dump, by header name.
#[derive(Clone, Debug)]
struct Line(BTreeMap<String, String>);

impl Line {
    fn get(&self, k: &str) -> &str {
        self.0
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no column {k} in {:?}", self.0))
    }
    fn is_step(&self) -> bool {
        self.get("JobID").contains('.')
    }
    /// TRES name -> quantity (memory in MiB).
    fn tres(&self) -> BTreeMap<String, i128> {
        let mut m = BTreeMap::new();
        for pair in self.get("AllocTRES").split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').expect("TRES pair");
            let q = if k == "mem" {
                mib(v)
            } else {
                v.parse().unwrap_or_else(|_| panic!("TRES {pair}"))
            };
            m.insert(k.to_string(), q);
        }
        m
    }
}

/// `512M`, `2G`, `1024K` -> MiB (exact; the test fails on a fraction).
fn mib(v: &str) -> i128 {
    let (num, unit) = v.split_at(v.len() - 1);
    let kib: f64 = num.parse::<f64>().unwrap_or_else(|_| panic!("mem {v}"))
        * match unit {
            "K" => 1.0,
            "M" => 1024.0,
            "G" => 1024.0 * 1024.0,
            "T" => 1024.0 * 1024.0 * 1024.0,
            _ => panic!("mem unit in {v}"),
        };
    assert!(
        kib.fract() == 0.0 && (kib as i128) % 1024 == 0,
        "mem {v} is not whole MiB"
    );
    kib as i128 / 1024
}

fn parse_dump(text: &str) -> Vec<Line> {
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split('|')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), header.len(), "line {l:?}");
            Line(
                header
                    .iter()
                    .cloned()
                    .zip(f.iter().map(|s| s.to_string()))
                    .collect(),
            )
        })
        .collect()
}

fn utc(s: &str) -> Option<DateTime<Utc>> {
    at(s, chrono_tz::UTC)
}

/// A sacct time printed in `zone` (the earlier instant of a repeated wall time).
fn at(s: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok()?;
    let t = zone
        .from_local_datetime(&naive)
        .earliest()
        .unwrap_or_else(|| panic!("{s} does not exist in {zone}"));
    Some(t.with_timezone(&Utc))
}

/// (year, month) -> "YYYY-MM".
fn period((y, m): (i32, u32)) -> String {
    format!("{y:04}-{m:02}")
}

fn month_of(t: DateTime<Utc>) -> (i32, u32) {
    let l = t.with_timezone(&ZONE);
    (l.year(), l.month())
}

fn next_month((y, m): (i32, u32)) -> (i32, u32) {
    if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    }
}

fn prev_month((y, m): (i32, u32)) -> (i32, u32) {
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

fn month_start((y, m): (i32, u32)) -> DateTime<Utc> {
    ZONE.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .expect("midnight exists")
        .with_timezone(&Utc)
}

type Cells = BTreeMap<(String, String, String), i128>;
type UserCells = BTreeMap<(String, String, String, String), i128>;

#[derive(Clone, Debug, Default, PartialEq)]
struct Expected {
    cells: Cells,
    users: UserCells,
    jobs: u64,
    not_started: u64,
    steps: u64,
}

/// Every cell for the months [from, to] of the billing zone, from a dump printed in `zone`: TRES x seconds of
/// [Start, min(End, as_of)) of each allocation line that started, split at month starts.
fn expected(
    lines: &[Line],
    zone: Tz,
    from: (i32, u32),
    to: (i32, u32),
    as_of: DateTime<Utc>,
) -> Expected {
    let mut e = Expected::default();
    let mut seen = BTreeSet::new();
    for l in lines {
        if l.is_step() {
            e.steps += 1;
            continue;
        }
        let key = (
            l.get("Cluster").to_string(),
            l.get("JobIDRaw").to_string(),
            l.get("Submit").to_string(),
        );
        assert!(seen.insert(key.clone()), "two allocation lines for {key:?}");
        let Some(start) = at(l.get("Start"), zone) else {
            e.not_started += 1;
            continue;
        };
        e.jobs += 1;
        let end = at(l.get("End"), zone).map_or(as_of, |end| end.min(as_of));
        let mut t = start;
        let mut month = month_of(start);
        while t < end {
            let boundary = month_start(next_month(month));
            let seg_end = end.min(boundary);
            let secs = (seg_end - t).num_seconds() as i128;
            if from <= month && month <= to {
                for (comp, tres) in COMPONENTS {
                    if let Some(&q) = l.tres().get(*tres) {
                        if q != 0 {
                            let k = |x: &str| x.to_string();
                            *e.cells
                                .entry((k(l.get("Account")), period(month), k(comp)))
                                .or_default() += q * secs;
                            *e.users
                                .entry((
                                    k(l.get("Account")),
                                    period(month),
                                    k(comp),
                                    k(l.get("User")),
                                ))
                                .or_default() += q * secs;
                        }
                    }
                }
            }
            t = seg_end;
            month = next_month(month);
        }
    }
    e
}

/// The cells tally printed, as whole TRES-seconds (a fraction fails).
fn got(run: &Run) -> (Cells, UserCells) {
    let j = run.json();
    let amount = |v: &serde_json::Value| -> i128 {
        let s = v["amount"].as_str().expect("amount string");
        let whole = s
            .strip_suffix(".00")
            .unwrap_or_else(|| panic!("amount {s} is not whole seconds"));
        whole.parse().expect("amount")
    };
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().expect(k).to_string();
    let cells = j["usages"]
        .as_array()
        .expect("usages")
        .iter()
        .map(|u| {
            (
                (s(u, "resource"), s(u, "period"), s(u, "component")),
                amount(u),
            )
        })
        .collect();
    let users = j["user_usages"]
        .as_array()
        .expect("user_usages")
        .iter()
        .map(|u| {
            (
                (
                    s(u, "resource"),
                    s(u, "period"),
                    s(u, "component"),
                    s(u, "user"),
                ),
                amount(u),
            )
        })
        .collect();
    (cells, users)
}

#[track_caller]
fn assert_cells(what: &str, run: &Run, want: &Expected) {
    run.expect_code(0);
    let (cells, users) = got(run);
    if cells != want.cells {
        let keys: BTreeSet<_> = cells.keys().chain(want.cells.keys()).collect();
        let mut diff = String::new();
        for k in keys {
            let (g, w) = (cells.get(k), want.cells.get(k));
            if g != w {
                diff += &format!("  {k:?}: tally {g:?}, expected {w:?}\n");
            }
        }
        panic!(
            "{what}: cells differ (TRES-seconds)\n{diff}--- stderr\n{}",
            run.stderr
        );
    }
    assert_eq!(users, want.users, "{what}: per-user cells differ");
    let r = &run.json()["records"];
    assert_eq!(r["jobs"], want.jobs, "{what}: records.jobs in {r}");
    assert_eq!(
        r["not_started"], want.not_started,
        "{what}: records.not_started in {r}"
    );
    assert_eq!(r["invalid"], 0, "{what}: {}", run.stdout);
    assert_eq!(r["unmapped"], 0, "{what}: {r}");
}

// ---------------------------------------------------------------------------------------------
// Running tally

fn components_toml() -> String {
    COMPONENTS
        .iter()
        .map(|(c, t)| format!("[components.{c}]\ntres = \"{t}\"\nunit_seconds = 1\n"))
        .collect()
}

fn live_source(sacct_path: &Path, cluster: &str) -> String {
    format!(
        "[[sources]]\nformat = \"sacct-command\"\nsacct_path = \"{}\"\ntimezone = \"{}\"\nclusters = [\"{cluster}\"]\n",
        sacct_path.display(),
        ZONE.name()
    )
}

fn config(dir: &TestDir, sources: &[String]) -> PathBuf {
    dir.write(
        "tally.toml",
        &format!(
            "billing_timezone = \"{}\"\n\n{}\n{}",
            ZONE.name(),
            sources.join("\n"),
            components_toml()
        ),
    )
}

fn collect(j: &Jobs, slurm_conf: &Path, config: &Path, from: (i32, u32), to: (i32, u32)) -> Run {
    run(tally()
        .env("SLURM_CONF", slurm_conf)
        .args(["collect", "--format", "json", "--config"])
        .arg(config)
        .args(["--from", &period(from), "--to", &period(to)])
        .args(["--as-of", &j.as_of.to_rfc3339()]))
}

fn real_sacct() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("sacct"))
                .find(|p| p.is_file())
        })
        .expect("sacct on PATH")
}

/// A sacct that logs its environment's TZ and argv, then execs the real one; the real sacctmgr
/// beside it (tally looks for sacctmgr beside sacct to check the configured clusters).
fn logging_shim(dir: &TestDir) -> (PathBuf, PathBuf) {
    let log = dir.path().join("sacct-argv.log");
    let shim = dir.write(
        "bin/sacct",
        &format!(
            "#!/bin/sh\n{{ echo \"TZ=$TZ\"; for a in \"$@\"; do echo \"$a\"; done; echo --; }} >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real_sacct().display()
        ),
    );
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let sacctmgr = shim.with_file_name("sacctmgr");
    if !sacctmgr.exists() {
        std::os::unix::fs::symlink(real_sacct().with_file_name("sacctmgr"), sacctmgr).unwrap();
    }
    (shim, log)
}

/// This month of the billing zone at as-of, and the one before.
fn months(j: &Jobs) -> ((i32, u32), (i32, u32)) {
    let this = month_of(j.as_of);
    (prev_month(this), this)
}

/// The UTC reference dump (steps included), read after tally ran.
fn reference(j: &Jobs) -> Vec<Line> {
    let text = j
        .cluster
        .sacct_utc(&[
            "--format=JobID,JobIDRaw,Cluster,Account,User,State,Submit,Start,End,ElapsedRaw,AllocTRES,NNodes,JobName%60",
        ])
        .expect("reference sacct");
    parse_dump(&text)
}

// ---------------------------------------------------------------------------------------------
// The tests

/// The live source, collected by the real binary, cell by cell against sacct's own records; the
/// sacct command line it ran is the documented one.
#[test]
fn live_sacct_on_a_real_cluster_gives_every_cell() {
    let Some(j) = jobs() else { return };
    let dir = TestDir::new();
    let (shim, log) = logging_shim(&dir);
    let cfg = config(&dir, &[live_source(&shim, &j.cluster.cluster)]);
    let (_, this) = months(j);
    let out = collect(j, &j.cluster.slurm_conf, &cfg, this, this);
    let want = expected(&reference(j), chrono_tz::UTC, this, this, j.as_of);
    assert!(want.jobs >= 15, "too few jobs in the reference: {want:?}");
    assert_cells("sacct-command", &out, &want);
    assert_eq!(out.json()["records"]["steps"], 0, "--allocations: no steps");

    // The documented command line: TZ, the window widened by a day each side, in local time.
    let logged = std::fs::read_to_string(&log).expect("the shim ran");
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&ZONE)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let day = chrono::Duration::days(1);
    let want_argv = [
        format!("TZ={}", ZONE.name()),
        "--parsable2".into(),
        "--allusers".into(),
        "--allocations".into(),
        "--duplicates".into(),
        "--noconvert".into(),
        format!("--starttime={}", local(month_start(this) - day)),
        // The window ends at the end of --to or at --as-of if earlier (README).
        format!(
            "--endtime={}",
            local(month_start(next_month(this)).min(j.as_of) + day)
        ),
        format!("--format={DOCUMENTED_FORMAT}"),
        format!("--clusters={}", j.cluster.cluster),
        "--".into(),
    ];
    let got_argv: Vec<&str> = logged.lines().collect();
    assert_eq!(got_argv, want_argv, "sacct command line");
}

/// A sacct dump of the same jobs (steps included, memory units as sacct converts them, printed
/// in New York time) read with `format = "sacct"`: the same cells.
#[test]
fn a_dump_of_the_real_jobs_gives_the_same_cells() {
    let Some(j) = jobs() else { return };
    let dir = TestDir::new();
    let mut c = j.cluster.cmd("root", "sacct");
    c.env("TZ", DUMP_ZONE.name()).args([
        "--parsable2",
        "--allusers",
        "--duplicates",
        "--starttime=2000-01-01T00:00:00",
        "--endtime=now+1days",
        "--format=JobID,JobIDRaw,Cluster,Account,User,Partition,State,Submit,Start,End,Elapsed,AllocTRES,ExitCode,JobName",
    ]);
    let dump = j.cluster.output(c).expect("sacct dump");
    dir.write("dump/sacct.txt", &dump);
    let cfg = dir.write(
        "tally.toml",
        &format!(
            "billing_timezone = \"{}\"\n\n[[sources]]\nformat = \"sacct\"\npaths = [\"dump/*.txt\"]\ntimezone = \"{}\"\n\n{}",
            ZONE.name(),
            DUMP_ZONE.name(),
            components_toml()
        ),
    );
    let (prev, this) = months(j);
    let out = collect(j, &j.cluster.slurm_conf, &cfg, prev, this);
    let want = expected(&reference(j), chrono_tz::UTC, prev, this, j.as_of);
    assert_cells("sacct dump", &out, &want);
    assert_eq!(
        out.json()["records"]["steps"],
        want.steps,
        "step lines are read, never billed"
    );
    assert!(want.steps > want.jobs, "the dump has steps: {want:?}");
}

/// What real Slurm printed for the jobs is what the billing rules assume (sanity of the fixture
/// and of sacct's quirks that tally relies on).
#[test]
fn real_jobs_look_as_documented() {
    let Some(j) = jobs() else { return };
    let lines = reference(j);
    let kind = |l: &Line| {
        l.get("JobName")
            .strip_prefix(&format!("tly{}-", j.tag))
            .map(str::to_string)
    };
    let allocs = |k: &str| -> Vec<&Line> {
        lines
            .iter()
            .filter(|l| !l.is_step() && kind(l).as_deref() == Some(k))
            .collect()
    };
    let one = |k: &str| -> &Line {
        let v = allocs(k);
        assert_eq!(v.len(), 1, "{k}: {v:?}");
        v[0]
    };
    let id = |k: &str| j.ids[k].as_str();

    // Array: 4 tasks, the last reusing the array's raw id.
    let array = allocs("array");
    assert_eq!(array.len(), 4, "array tasks: {array:?}");
    let tasks: BTreeSet<_> = array.iter().map(|l| l.get("JobID").to_string()).collect();
    let want: BTreeSet<_> = (0..4).map(|i| format!("{}_{i}", id("array"))).collect();
    assert_eq!(tasks, want);
    let raws: BTreeSet<_> = array.iter().map(|l| l.get("JobIDRaw")).collect();
    assert_eq!(raws.len(), 4, "distinct raw ids: {raws:?}");
    assert!(
        raws.contains(id("array")),
        "one task keeps the array's raw id: {raws:?}"
    );
    for t in &array {
        assert_eq!(t.tres()["mem"], 256, "--mem-per-cpu=256M, 1 cpu: {t:?}");
    }

    // Het: 2 components with their own raw ids.
    let het = allocs("het");
    assert_eq!(het.len(), 2, "het components: {het:?}");
    let comps: BTreeSet<_> = het.iter().map(|l| l.get("JobID").to_string()).collect();
    assert_eq!(comps, [0, 1].map(|i| format!("{}+{i}", id("het"))).into());
    assert_ne!(het[0].get("JobIDRaw"), het[1].get("JobIDRaw"));
    assert_eq!(
        het.iter()
            .map(|l| l.tres().get("gres/gpu").copied().unwrap_or(0))
            .sum::<i128>(),
        1
    );

    // States.
    assert_eq!(one("failing").get("State"), "FAILED");
    assert_eq!(one("timeout").get("State"), "TIMEOUT");
    assert!(
        one("timeout").get("ElapsedRaw").parse::<i64>().unwrap() >= 60,
        "past the 1-minute limit"
    );
    assert!(one("cancel_running").get("State").starts_with("CANCELLED"));
    assert!(utc(one("cancel_running").get("Start")).is_some());
    let pending = one("cancel_pending");
    assert!(pending.get("State").starts_with("CANCELLED"), "{pending:?}");
    // Start `None` (FORMATS.md 1.11), or, depending on when slurmdbd first heard of the job,
    // Start = End = the cancel time; no usage either way.
    assert!(
        pending.get("Start") == "None" || pending.get("Start") == pending.get("End"),
        "{pending:?}"
    );
    assert!(
        utc(pending.get("End")).is_some(),
        "End = the cancel time: {pending:?}"
    );
    assert_eq!(pending.get("AllocTRES"), "");
    // Held and cancelled: never eligible, so sacct leaves it out of any --starttime/--endtime
    // window (no usage lost: Start = End, no AllocTRES).
    assert!(
        allocs("cancel_held").is_empty(),
        "held job in a window: {:?}",
        allocs("cancel_held")
    );
    let held = j
        .cluster
        .sacct_utc(&[
            "--format=JobID,State,Eligible,Start,End,AllocTRES",
            &format!("--jobs={}", id("cancel_held")),
        ])
        .expect("sacct -j");
    let held = parse_dump(&held);
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].get("State").starts_with("CANCELLED"), "{held:?}");
    assert_eq!(held[0].get("Eligible"), "Unknown", "{held:?}");
    assert_eq!(held[0].get("Start"), held[0].get("End"), "{held:?}");
    assert_eq!(held[0].get("AllocTRES"), "", "{held:?}");
    let running = one("running");
    assert_eq!(running.get("State"), "RUNNING");
    assert_eq!(running.get("End"), "Unknown");
    for k in [
        "multistep",
        "array",
        "gpu",
        "mem_per_cpu",
        "two_nodes",
        "srun_only",
        "salloc",
        "het",
    ] {
        for l in allocs(k) {
            assert_eq!(l.get("State"), "COMPLETED", "{k}: {l:?}");
            let (s, e) = (utc(l.get("Start")).unwrap(), utc(l.get("End")).unwrap());
            assert_eq!(
                (e - s).num_seconds().to_string(),
                l.get("ElapsedRaw"),
                "{k}: {l:?}"
            );
        }
    }

    // Requests as AllocTRES shows them.
    assert_eq!(one("gpu").tres()["gres/gpu"], 2);
    assert_eq!(one("gpu").tres()["mem"], 1024);
    assert_eq!(
        one("mem_per_cpu").tres()["mem"],
        600,
        "--mem-per-cpu shows as the job total"
    );
    assert_eq!(one("two_nodes").tres()["node"], 2);
    assert_eq!(
        one("two_nodes").tres()["mem"],
        400,
        "--mem on 2 nodes shows twice"
    );
    assert_eq!(one("multistep").tres()["cpu"], 2);

    // Steps: .batch/.extern/.0/.1 for the multi-step job, none billable; no .batch for srun or
    // salloc jobs; steps repeat their allocation's resources (so summing them would multiply).
    let steps_of = |k: &str| -> Vec<String> {
        let raw = one(k).get("JobIDRaw").to_string();
        lines
            .iter()
            .filter(|l| l.is_step() && l.get("JobIDRaw").split('.').next() == Some(raw.as_str()))
            .map(|l| l.get("JobID").split_once('.').unwrap().1.to_string())
            .collect()
    };
    let ms: BTreeSet<_> = steps_of("multistep").into_iter().collect();
    assert_eq!(ms, ["0", "1", "batch", "extern"].map(String::from).into());
    assert!(!steps_of("srun_only").contains(&"batch".to_string()));
    assert!(!steps_of("salloc").contains(&"batch".to_string()));
    let extern_ = lines
        .iter()
        .find(|l| l.get("JobID") == format!("{}.extern", id("gpu")))
        .expect("gpu .extern step");
    assert_eq!(extern_.tres()["gres/gpu"], 2, ".extern repeats the GPUs");
    assert!(
        extern_.tres().contains_key("billing"),
        ".extern repeats billing="
    );
    assert_eq!(extern_.get("User"), "", "steps have no User");
}

/// Collected twice (two identical sources) or in two halves (two runs, one month each): every
/// job counted once.
#[test]
fn nothing_is_counted_twice() {
    let Some(j) = jobs() else { return };
    let dir = TestDir::new();
    let (shim, _) = logging_shim(&dir);
    let source = live_source(&shim, &j.cluster.cluster);
    let (prev, this) = months(j);
    let want = expected(&reference(j), chrono_tz::UTC, prev, this, j.as_of);

    let twice = config(&dir, &[source.clone(), source.clone()]);
    let out = collect(j, &j.cluster.slurm_conf, &twice, prev, this);
    // records.not_started counts lines (a job that never started has no usage to dedup), so
    // each source adds its own; the started jobs are counted once and the rest are duplicates.
    let want_twice = Expected {
        not_started: 2 * want.not_started,
        ..want.clone()
    };
    assert_cells("the same window twice", &out, &want_twice);
    assert_eq!(out.json()["records"]["duplicates"], want.jobs);

    let once = config(&dir, &[source]);
    let whole = got(collect(j, &j.cluster.slurm_conf, &once, prev, this).expect_code(0));
    let first = got(collect(j, &j.cluster.slurm_conf, &once, prev, prev).expect_code(0));
    let second = got(collect(j, &j.cluster.slurm_conf, &once, this, this).expect_code(0));
    let mut summed = first.0.clone();
    for (k, v) in &second.0 {
        *summed.entry(k.clone()).or_default() += v;
    }
    assert_eq!(summed, whole.0, "two halves add up to the whole");
    assert_eq!(whole.0, want.cells, "the whole is exact");
    assert!(first.0.keys().all(|k| k.1 == period(prev)));
    assert!(second.0.keys().all(|k| k.1 == period(this)));
}

/// The live source checks its clusters against the real Slurm: the configured cluster passes
/// the real `sacctmgr`; a typo exits 2 before sacct runs, naming it and the cluster Slurm
/// knows. Without a sacctmgr beside sacct (the logging shim), sacct's own answer (a header,
/// exit 0, for an unknown cluster) is the judge and refuses the typo the same way.
#[test]
fn the_live_source_checks_its_clusters_against_the_real_slurm() {
    let Some(j) = jobs() else { return };
    let dir = TestDir::new();
    let (_, this) = months(j);
    let real = real_sacct();
    let sacctmgr = real.with_file_name("sacctmgr");
    assert!(sacctmgr.is_file(), "{} beside sacct", sacctmgr.display());

    let ok = config(&dir, &[live_source(&real, &j.cluster.cluster)]);
    let out = collect(j, &j.cluster.slurm_conf, &ok, this, this);
    out.expect_code(0);
    assert!(
        out.json()["records"]["jobs"].as_u64().unwrap() >= 15,
        "{}",
        out.stdout
    );

    let typo = config(&dir, &[live_source(&real, "tallytset")]);
    let out = collect(j, &j.cluster.slurm_conf, &typo, this, this);
    out.expect_code(2);
    assert!(out.stdout.is_empty(), "nothing reported: {}", out.stdout);
    let said = format!(
        "sacct-command: cluster \"tallytset\" not known to Slurm (`clusters` in the config; \
         known according to `{} list clusters`: {})",
        sacctmgr.display(),
        j.cluster.cluster
    );
    assert!(
        out.stderr.contains(&said),
        "{said}\nnot in:\n{}",
        out.stderr
    );

    let (shim, log) = logging_shim(&dir);
    std::fs::remove_file(shim.with_file_name("sacctmgr")).unwrap();
    let typo = config(&dir, &[live_source(&shim, "tallytset")]);
    let out = collect(j, &j.cluster.slurm_conf, &typo, this, this);
    out.expect_code(2);
    assert!(out.stdout.is_empty(), "nothing reported: {}", out.stdout);
    assert!(
        out.stderr.contains("sacctmgr not found")
            && out.stderr.contains(
                "cluster \"tallytset\" not known to Slurm (`clusters` in the config; known \
                 according to sacct's answer (no sacctmgr to ask, set `sacctmgr_path`; the \
                 clusters of the jobs it returned for the window, where an idle cluster looks \
                 unknown too): none)"
            ),
        "{}",
        out.stderr
    );
    let logged = std::fs::read_to_string(&log).expect("the shim ran");
    assert!(logged.contains("--clusters=tallytset\n"), "{logged}");
}

/// A cluster whose slurmdbd cannot be reached: exit code 1, and a message that names the Slurm
/// command (sacctmgr, asked first for the configured clusters) and carries its own error.
#[test]
fn a_cluster_that_is_down_fails_clearly() {
    let Some(j) = jobs() else { return };
    let dir = TestDir::new();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = std::fs::read_to_string(&j.cluster.slurm_conf).unwrap();
    let down: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("AccountingStoragePort=") {
                format!("AccountingStoragePort={free}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let down_conf = dir.write("etc/slurm.conf", &down);
    let cfg = config(&dir, &[live_source(&real_sacct(), &j.cluster.cluster)]);
    let (_, this) = months(j);
    let out = collect(j, &down_conf, &cfg, this, this);
    out.expect_code(1);
    assert!(
        out.stdout.trim().is_empty(),
        "no partial output: {}",
        out.stdout
    );
    for needle in ["sacct", "--parsable2", "Connection refused", "exited with"] {
        assert!(
            out.stderr.contains(needle),
            "{needle:?} not in stderr:\n{}",
            out.stderr
        );
    }
}

/// The dump this cluster wrote, kept in fixtures/ (no cluster needed): every cell as computed
/// here from its allocation lines, and the CPU and GPU seconds added up by hand.
#[test]
fn the_kept_real_dump_gives_every_cell() {
    let path = root().join("fixtures/real/real-slurm-22.05/sacct-testsuite.txt");
    let lines = parse_dump(&std::fs::read_to_string(&path).unwrap());
    // The RUNNING job's cut-off: the instant of the dump (its Start + ElapsedRaw).
    let as_of: DateTime<Utc> = "2026-11-25T12:32:32Z".parse().unwrap();
    let nov = (2026, 11);
    let want = expected(&lines, ZONE, nov, nov, as_of);
    let cpu = |account: &str| want.cells[&(account.into(), "2026-11".into(), "cpu".into())];
    // timeout 69 + multistep 2x5 + gpu 2 + salloc 6
    assert_eq!(cpu("proj_alpha"), 87);
    // cancelled while running 5 + failing 1 + --mem-per-cpu 2x2 + array 4x2
    assert_eq!(cpu("proj_beta"), 18);
    // running 119 + het 2+2 + two nodes 2x2 + srun 3 (the cancelled ones: nothing)
    assert_eq!(cpu("hpc_x42"), 130);
    let gpu = |account: &str| want.cells[&(account.into(), "2026-11".into(), "gpu".into())];
    assert_eq!((gpu("proj_alpha"), gpu("hpc_x42")), (4, 2));

    let dir = TestDir::new();
    let cfg = dir.write(
        "tally.toml",
        &format!(
            "billing_timezone = \"{z}\"\n\n[[sources]]\nformat = \"sacct\"\npaths = [\"{}\"]\ntimezone = \"{z}\"\n\n{}",
            path.display(),
            components_toml(),
            z = ZONE.name(),
        ),
    );
    let out = run(tally()
        .args(["collect", "--format", "json", "--config"])
        .arg(&cfg)
        .args([
            "--from",
            "2026-11",
            "--to",
            "2026-11",
            "--as-of",
            "2026-11-25T12:32:32Z",
        ]));
    assert_cells("kept dump", &out, &want);
    assert_eq!(out.json()["records"]["steps"], want.steps);
}

/// `tally doctor`'s sources check against the same cluster.
#[path = "real_slurm_doctor.rs"]
mod doctor;
