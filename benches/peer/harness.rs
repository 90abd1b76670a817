//! The side-by-side harness (issue 9): the same generated sacct dump, the same sandbox world,
//! one report cycle of waldur-site-agent (`benches/peer/run-peer.sh`) and one `tally push`,
//! each against its own fresh sandbox, then a second cycle with unchanged data; measured and
//! compared. Shared by the bench binary (`benches/peer/main.rs`) and the smoke test
//! (`tests/peer_smoke.rs`).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rust_decimal::Decimal;
use tally_sandbox::{start, RunningSandbox, SandboxOptions, World};

/// The dump's months and the instant both tools take as "now".
pub const AS_OF: &str = "2026-11-25T00:00:00Z";
pub const PEER_NOW: &str = "2026-11-25T00:00:00+00:00";
pub const MONTHS: [&str; 2] = ["2026-10", "2026-11"];
/// 2026-10-01T00:00:00Z and 2026-11-25T00:00:00Z as Unix seconds.
const GEN_START: i64 = 1_790_812_800;
const GEN_NOW: i64 = 1_795_564_800;
/// The peer's component units: usage = TRES-minutes / unit_factor.
pub const PEER_COMPONENTS: &str = "cpu:60000:k-Hours,mem:61440:gb-Hours";
/// The same units for tally: TRES x seconds / unit_seconds x factor.
const TALLY_COMPONENTS: &str = r#"
[components.cpu]          # k-Hours: cpu-seconds / 3600 x 0.001 = cpu-minutes / 60000
tres = "cpu"
unit_seconds = 3600
factor = "0.001"
[components.mem]          # GB-hours: MiB-seconds / 3600 / 1024 = MB-minutes / 61440
tres = "mem"
unit_seconds = 3600
factor = "0.0009765625"
"#;
const TOKEN: &str = "peer-bench-staff-token";
const PEER_VERSION: &str = "1.0.7";

/// (resource, YYYY-MM, component) -> amount.
pub type Amounts = BTreeMap<(String, String, String), Decimal>;

#[derive(Clone, Debug)]
pub struct Options {
    pub accounts: u32,
    pub jobs_per_account: u32,
    pub seed: u64,
    /// Scratch directory for this size (dump, configs, logs, reports).
    pub work: PathBuf,
    pub tally_bin: PathBuf,
    pub peer_script: PathBuf,
    pub peer_venv: PathBuf,
    /// Seconds before a peer cycle is killed.
    pub peer_timeout: u64,
    pub second_cycle: bool,
    /// Measure tally only (the peer's figures of an earlier run stay valid for the same dump).
    pub skip_peer: bool,
    /// tally's `[waldur]` pacing for the loopback sandbox.
    pub rate_per_second: u32,
    pub burst: u32,
    pub concurrency: u32,
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// The peer's runner: `$PEER_SCRIPT`, else the project's own `benches/peer/run-peer.sh`.
pub fn peer_script() -> Result<PathBuf> {
    let p = std::env::var_os("PEER_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("benches/peer/run-peer.sh"));
    if !p.is_file() {
        bail!(
            "the peer's runner is missing: {} (set PEER_SCRIPT to another runner)",
            p.display()
        );
    }
    Ok(p.canonicalize()?)
}

/// Outcome of preparing the peer's virtualenv.
pub enum Venv {
    Ready(PathBuf),
    /// PyPI could not be reached at all: the only case callers may skip.
    NoNetwork(String),
}

/// A peer rule, named, and how much changing it alone moves an amount.
type ReasonStep = (&'static str, fn(&Explained) -> Decimal);

fn venv_ready(v: &Path) -> bool {
    v.join("bin/waldur_site_agent").is_file()
        && Command::new(v.join("bin/python"))
            .args(["-c", "import time_machine, waldur_site_agent_slurm"])
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Installs the peer (pinned, as run-peer.sh does) into `venv` unless it is already there.
/// Installs into a sibling directory first and renames, so concurrent callers never see half
/// an install. A missing python3 or venv module is an error; only a network failure of pip
/// is reported as `NoNetwork`.
pub fn ensure_venv(venv: &Path) -> Result<Venv> {
    if venv_ready(venv) {
        return Ok(Venv::Ready(venv.to_path_buf()));
    }
    let tmp = venv.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    if let Some(parent) = tmp.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&tmp)
        .output()
        .context("cannot run python3 (needed to run the peer, waldur-site-agent)")?;
    if !out.status.success() {
        bail!(
            "python3 -m venv failed (install python3-venv): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(tmp.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check"])
        .arg(format!("waldur-site-agent=={PEER_VERSION}"))
        .arg(format!("waldur-site-agent-slurm=={PEER_VERSION}"))
        .arg("time-machine>=2.10")
        .output()
        .context("cannot run pip in the new virtualenv")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let _ = std::fs::remove_dir_all(&tmp);
        let network = [
            "Failed to establish a new connection",
            "Temporary failure in name resolution",
            "Network is unreachable",
            "Connection refused",
            "ConnectTimeoutError",
            "Read timed out",
            "ProxyError",
            "No matching distribution found",
            "Could not find a version that satisfies",
        ];
        if network.iter().any(|n| err.contains(n)) {
            return Ok(Venv::NoNetwork(
                err.lines().last().unwrap_or("").to_string(),
            ));
        }
        bail!("pip install of the peer failed: {err}");
    }
    match std::fs::rename(&tmp, venv) {
        Ok(()) => {}
        Err(_) if venv_ready(venv) => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(_) => {
            let _ = std::fs::remove_dir_all(venv);
            std::fs::rename(&tmp, venv)
                .with_context(|| format!("cannot move the virtualenv to {}", venv.display()))?;
        }
    }
    if !venv_ready(venv) {
        bail!(
            "the peer's virtualenv at {} does not import",
            venv.display()
        );
    }
    Ok(Venv::Ready(venv.to_path_buf()))
}

/// The seed world: one provider organisation, an offering with the peer's components, one
/// resource per account (backend_id = account), a staff user (past months can only be
/// backfilled by staff for usage components, for both tools alike).
pub fn world_toml(accounts: &[String]) -> String {
    let mut s = String::from(
        r#"[[users]]
username = "staff"
token = "peer-bench-staff-token"
is_staff = true

[[users]]
username = "provider"
token = "peer-bench-provider-token"

[[organizations]]
name = "HPC Centre"
owners = ["provider"]
service_provider = true

[[organizations]]
name = "Users"

[[projects]]
name = "Research"
organization = "Users"

[[offerings]]
name = "Cluster"
organization = "HPC Centre"
type = "Marketplace.Slurm"
components = [
  { type = "cpu", name = "CPU", measured_unit = "k-Hours", billing_type = "usage" },
  { type = "mem", name = "Memory", measured_unit = "gb-Hours", billing_type = "usage" },
]
plans = [{ name = "default", prices = { cpu = "1", mem = "0.01" } }]
"#,
    );
    for a in accounts {
        let _ = write!(
            s,
            "\n[[resources]]\nname = \"{a}\"\noffering = \"Cluster\"\nproject = \"Research\"\nplan = \"default\"\nbackend_id = \"{a}\"\nstate = \"OK\"\n"
        );
    }
    s
}

pub struct Dump {
    pub path: PathBuf,
    pub lines: u64,
    pub allocations: u64,
    pub accounts: Vec<String>,
}

/// Generates the dump (tally-testgen: steps, arrays, het jobs, running, pending and
/// month-spanning jobs, ReqTRES < AllocTRES on whole-node jobs) for `accounts` accounts.
pub fn generate(opts: &Options) -> Result<Dump> {
    let path = opts.work.join("dump.psv");
    let gen = tally_testgen::GenOptions {
        lines: u64::from(opts.accounts) * u64::from(opts.jobs_per_account) * 43 / 10 + 1,
        accounts: opts.accounts,
        seed: opts.seed,
        start: GEN_START,
        span_days: 55,
        now: GEN_NOW,
        cluster: "gen".into(),
        site_like: false,
    };
    let f = std::fs::File::create(&path)?;
    let mut w = BufWriter::new(f);
    let (lines, _) = tally_testgen::generate(&gen, &mut w)?;
    w.flush()?;
    drop(w);
    let mut accounts = BTreeSet::new();
    let mut allocations = 0;
    for (i, line) in BufReader::new(std::fs::File::open(&path)?)
        .lines()
        .enumerate()
    {
        let line = line?;
        if i == 0 {
            continue;
        }
        let mut parts = line.split('|');
        let jobid = parts.next().unwrap_or("");
        if !jobid.contains('.') {
            allocations += 1;
        }
        if let Some(a) = line.split('|').nth(3).filter(|a| !a.is_empty()) {
            accounts.insert(a.to_string());
        }
    }
    Ok(Dump {
        path,
        lines,
        allocations,
        accounts: accounts.into_iter().collect(),
    })
}

/// What one cycle of one tool cost.
#[derive(Clone, Debug, Default)]
pub struct Cycle {
    pub ok: bool,
    pub timed_out: bool,
    pub note: String,
    pub wall: f64,
    pub cpu: f64,
    pub max_rss_kb: i64,
    /// (method endpoint, status) -> count.
    pub requests: BTreeMap<(String, u16), u64>,
    pub sacct_calls: u64,
    pub sacctmgr_calls: u64,
    /// Peer only: seconds from start to its first log line (Python imports), which a
    /// long-running daemon pays once rather than every cycle.
    pub startup: Option<f64>,
    /// Peer only: estimated seconds spent in the fake sacct/sacctmgr (one timed call of each,
    /// times the number of calls).
    pub shim_estimate: Option<f64>,
}

impl Cycle {
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
    pub fn count(&self, key: &str) -> u64 {
        self.requests
            .iter()
            .filter(|((k, _), _)| k == key)
            .map(|(_, n)| n)
            .sum()
    }
}

/// SIGKILLs `pid`, its process group and every descendant (run-peer.sh runs the peer under
/// `timeout`, which makes its own process group).
// kill(2) of a process group, which std::process cannot signal.
#[allow(unsafe_code)]
fn kill_tree(pid: libc::pid_t) {
    let mut parent: Vec<(libc::pid_t, libc::pid_t)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<libc::pid_t>() else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) {
                // pid (comm) state ppid ...
                if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                    if let Some(pp) = rest.split_whitespace().nth(1).and_then(|x| x.parse().ok()) {
                        parent.push((p, pp));
                    }
                }
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    for p in tree.iter().rev() {
        // SAFETY: plain kill of processes this harness started (its child and descendants).
        unsafe {
            libc::kill(-*p, libc::SIGKILL);
            libc::kill(*p, libc::SIGKILL);
        }
    }
}

/// Runs `cmd`, waiting with wait4 to get the child's (and its waited-for descendants') rusage.
// wait4: the child's rusage, which std::process does not report.
#[allow(unsafe_code)]
fn measured(
    mut cmd: Command,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, f64, f64, i64, bool)> {
    use std::os::unix::process::CommandExt;
    // its own process group, so a timeout kills the whole tree (bash, python, fake sacct)
    cmd.process_group(0);
    let t0 = Instant::now();
    let child = cmd.spawn().context("cannot start")?;
    let pid = child.id() as libc::pid_t;
    let mut timed_out = false;
    let mut status: libc::c_int = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child; status and ru are valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        if r < 0 {
            bail!("wait4: {}", std::io::Error::last_os_error());
        }
        if !timed_out && t0.elapsed() > timeout {
            timed_out = true;
            // SAFETY: plain kill of our own child process.
            kill_tree(pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = t0.elapsed().as_secs_f64();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    std::mem::forget(child);
    Ok((
        std::process::ExitStatus::from_raw(status),
        wall,
        cpu,
        ru.ru_maxrss,
        timed_out,
    ))
}

fn counters(sb: &RunningSandbox) -> BTreeMap<(String, u16), u64> {
    sb.counters()
        .into_iter()
        .map(|c| ((format!("{} {}", c.method, c.endpoint), c.status), c.count))
        .collect()
}

/// Wall seconds of one fake `sacct` (one account, one month) and one `sacctmgr` call, best of 3.
fn shim_cost(work: &Path, dump: &Dump) -> Option<(f64, f64)> {
    let acct = dump.accounts.first()?;
    let time = |prog: &str, args: &[String]| -> Option<f64> {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let ok = Command::new(work.join("bin").join(prog))
                .args(args)
                .env("SACCT_DUMP", &dump.path)
                .env("PEER_NOW", PEER_NOW)
                .stdout(std::process::Stdio::null())
                .status()
                .ok()?
                .success();
            if !ok {
                return None;
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        Some(best)
    };
    let sacct = time(
        "sacct",
        &[
            "--parsable2",
            "--noheader",
            "--noconvert",
            "--truncate",
            "--allocations",
            "--allusers",
            "--starttime=2026-11-01T00:00:00",
            "--endtime=2026-11-30T23:59:59",
            &format!("--accounts={acct}"),
            "--format=Account,ReqTRES,Elapsed,User",
        ]
        .map(String::from),
    )?;
    let mgr = time(
        "sacctmgr",
        &[
            "--parsable2",
            "--noheader",
            "--immediate",
            "show",
            "account",
            acct.as_str(),
        ]
        .map(String::from),
    )?;
    Some((sacct, mgr))
}

/// One report cycle of the peer against `sb`.
pub fn peer_cycle(
    opts: &Options,
    dump: &Dump,
    sb: &RunningSandbox,
    offering: &str,
    n: u32,
) -> Result<Cycle> {
    let work = opts.work.join(format!("peer-cycle{n}"));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    sb.reset_counters();
    let mut cmd = Command::new("bash");
    cmd.arg(&opts.peer_script)
        .env("WALDUR_URL", sb.origin())
        .env("WALDUR_TOKEN", TOKEN)
        .env("OFFERING_UUID", offering)
        .env("SACCT_DUMP", &dump.path)
        .env("PEER_NOW", PEER_NOW)
        .env("COMPONENTS", PEER_COMPONENTS)
        .env("PEER_VENV", &opts.peer_venv)
        .env("PEER_WORK", &work)
        .env("PEER_TIMEOUT", (opts.peer_timeout + 60).to_string())
        .stdout(std::fs::File::create(work.join("run-peer.out"))?)
        .stderr(std::fs::File::create(work.join("run-peer.err"))?);
    let (status, wall, cpu, rss, timed_out) =
        measured(cmd, Duration::from_secs(opts.peer_timeout)).context("run-peer.sh")?;
    let shim = std::fs::read_to_string(work.join("shim.log")).unwrap_or_default();
    let out = std::fs::read_to_string(work.join("run-peer.out")).unwrap_or_default();
    let err = std::fs::read_to_string(work.join("run-peer.err")).unwrap_or_default();
    let ok = status.success() && !timed_out;
    // time-machine starts the clock at PEER_NOW before the peer's modules are imported
    let startup = std::fs::read_to_string(work.join("peer.log"))
        .ok()
        .and_then(|log| {
            log.lines()
                .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        })
        .and_then(|v| v["timestamp"].as_str().map(str::to_string))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .zip(chrono::DateTime::parse_from_rfc3339(PEER_NOW).ok())
        .map(|(first, now)| (first - now).num_milliseconds() as f64 / 1000.0);
    let shim_estimate = shim_cost(&work, dump).map(|(sacct, mgr)| {
        sacct * shim.lines().filter(|l| l.starts_with("sacct ")).count() as f64
            + mgr * shim.lines().filter(|l| l.starts_with("sacctmgr ")).count() as f64
    });
    let note = if ok {
        out.trim().to_string()
    } else if timed_out {
        format!("killed after {} s", opts.peer_timeout)
    } else {
        format!(
            "run-peer.sh exit {:?}: {} {}",
            status.code(),
            out.trim(),
            err.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
        )
    };
    Ok(Cycle {
        ok,
        timed_out,
        note,
        wall,
        cpu,
        max_rss_kb: rss,
        requests: counters(sb),
        sacct_calls: shim.lines().filter(|l| l.starts_with("sacct ")).count() as u64,
        sacctmgr_calls: shim.lines().filter(|l| l.starts_with("sacctmgr ")).count() as u64,
        startup,
        shim_estimate,
    })
}

/// One `tally push` against `sb` (the ledger persists between its cycles, as in production).
pub fn tally_cycle(
    opts: &Options,
    dump: &Dump,
    sb: &RunningSandbox,
    offering: &str,
    n: u32,
) -> Result<Cycle> {
    let dir = opts.work.join("tally");
    std::fs::create_dir_all(&dir)?;
    if n == 1 {
        for f in ["ledger.db", "ledger.db-wal", "ledger.db-shm"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    std::fs::write(dir.join("token"), TOKEN)?;
    let config = format!(
        r#"billing_timezone = "UTC"
[[sources]]
format = "sacct"
paths = ["{dump}"]
timezone = "UTC"
{TALLY_COMPONENTS}
[waldur]
url = "{url}"
token_file = "token"
offering_uuid = "{offering}"
ledger = "ledger.db"
rate_per_second = {rate}
burst = {burst}
concurrency = {conc}
"#,
        dump = dump.path.display(),
        url = sb.url,
        rate = opts.rate_per_second,
        burst = opts.burst,
        conc = opts.concurrency,
    );
    std::fs::write(dir.join("tally.toml"), config)?;
    sb.reset_counters();
    let mut cmd = Command::new(&opts.tally_bin);
    cmd.args(["push", "--config"])
        .arg(dir.join("tally.toml"))
        .args(["--from", MONTHS[0], "--to", MONTHS[1], "--as-of", AS_OF])
        .stdout(std::fs::File::create(dir.join(format!("push{n}.out")))?)
        .stderr(std::fs::File::create(dir.join(format!("push{n}.err")))?);
    let (status, wall, cpu, rss, timed_out) =
        measured(cmd, Duration::from_secs(3600)).context("tally push")?;
    let ok = status.success() && !timed_out;
    let note = if ok {
        String::new()
    } else {
        format!(
            "tally push exit {:?}: {}",
            status.code(),
            std::fs::read_to_string(dir.join(format!("push{n}.err"))).unwrap_or_default()
        )
    };
    Ok(Cycle {
        ok,
        timed_out,
        note,
        wall,
        cpu,
        max_rss_kb: rss,
        requests: counters(sb),
        sacct_calls: 0,
        sacctmgr_calls: 0,
        startup: None,
        shim_estimate: None,
    })
}

/// What a sandbox holds: totals, and the per-user sums where the tool sent any.
pub fn held(sb: &RunningSandbox) -> (Amounts, Amounts) {
    let mut totals = Amounts::new();
    let mut users = Amounts::new();
    for u in sb.usages() {
        let key = (
            u.backend_id.clone(),
            u.billing_period.format("%Y-%m").to_string(),
            u.component_type.clone(),
        );
        if !u.user_usages.is_empty() {
            users.insert(key.clone(), u.user_usages.iter().map(|(_, a)| *a).sum());
        }
        totals.insert(key, u.usage);
    }
    (totals, users)
}

fn python_json(
    script: &Path,
    spec: &serde_json::Value,
    dir: &Path,
    name: &str,
) -> Result<serde_json::Value> {
    let spec_path = dir.join(format!("{name}.spec.json"));
    std::fs::write(&spec_path, serde_json::to_string_pretty(spec)?)?;
    let out = Command::new("python3")
        .arg(script)
        .arg(&spec_path)
        .output()
        .with_context(|| format!("python3 {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::write(dir.join(format!("{name}.json")), &out.stdout)?;
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn dec(v: &serde_json::Value) -> Result<Decimal> {
    let s = v.as_str().ok_or_else(|| anyhow!("not a string: {v}"))?;
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .with_context(|| format!("bad decimal {s}"))
}

/// The independent oracle (tests/oracle/sacct_totals.py): exact amounts, 2 decimals.
pub fn oracle(opts: &Options, dump: &Dump) -> Result<Amounts> {
    let spec = serde_json::json!({
        "files": [dump.path],
        "timezone": "UTC", "billing_timezone": "UTC", "resource_field": "Account",
        "components": {
            "cpu": {"tres": "cpu", "unit_seconds": 3600, "factor": "0.001"},
            "mem": {"tres": "mem", "unit_seconds": 3600, "factor": "0.0009765625"},
        },
        "from": MONTHS[0], "to": MONTHS[1], "as_of": AS_OF,
    });
    let v = python_json(
        &root().join("tests/oracle/sacct_totals.py"),
        &spec,
        &opts.work,
        "oracle",
    )?;
    let mut out = Amounts::new();
    for u in v["usages"]
        .as_array()
        .ok_or_else(|| anyhow!("oracle: no usages"))?
    {
        out.insert(
            (
                u["resource"].as_str().unwrap_or("").to_string(),
                u["period"].as_str().unwrap_or("").to_string(),
                u["component"].as_str().unwrap_or("").to_string(),
            ),
            dec(&u["amount"])?,
        );
    }
    Ok(out)
}

/// One cell under the five models of benches/peer/explain.py.
#[derive(Clone, Debug, Default)]
pub struct Explained {
    pub exact: Decimal,
    pub requested: Decimal,
    pub window: Decimal,
    pub parsing: Decimal,
    pub peer: Decimal,
}

pub fn explain(
    opts: &Options,
    dump: &Dump,
) -> Result<BTreeMap<(String, String, String), Explained>> {
    let spec = serde_json::json!({
        "dump": dump.path,
        "as_of": AS_OF.trim_end_matches('Z'),
        "months": MONTHS,
        "components": {"cpu": {"tres": "cpu", "unit_factor": 60000}, "mem": {"tres": "mem", "unit_factor": 61440}},
    });
    let v = python_json(
        &root().join("benches/peer/explain.py"),
        &spec,
        &opts.work,
        "explain",
    )?;
    let mut out = BTreeMap::new();
    for c in v["cells"]
        .as_array()
        .ok_or_else(|| anyhow!("explain: no cells"))?
    {
        out.insert(
            (
                c["resource"].as_str().unwrap_or("").to_string(),
                c["period"].as_str().unwrap_or("").to_string(),
                c["component"].as_str().unwrap_or("").to_string(),
            ),
            Explained {
                exact: dec(&c["exact"])?,
                requested: dec(&c["requested"])?,
                window: dec(&c["window"])?,
                parsing: dec(&c["parsing"])?,
                peer: dec(&c["peer"])?,
            },
        );
    }
    Ok(out)
}

/// Everything measured for one size.
pub struct Report {
    pub accounts: u32,
    pub dump_lines: u64,
    pub allocations: u64,
    pub peer: Vec<Cycle>,
    pub tally: Vec<Cycle>,
    pub peer_amounts: Amounts,
    pub peer_user_sums: Amounts,
    pub tally_amounts: Amounts,
    pub tally_user_sums: Amounts,
    pub exact: Amounts,
    pub explained: BTreeMap<(String, String, String), Explained>,
}

/// Runs one size end to end.
pub fn run(opts: &Options) -> Result<Report> {
    std::fs::create_dir_all(&opts.work)?;
    let dump = generate(opts)?;
    eprintln!(
        "[peer-bench] {} accounts: dump {} lines, {} allocations ({})",
        opts.accounts,
        dump.lines,
        dump.allocations,
        dump.path.display()
    );
    // every account of the generator gets a resource (accounts without lines included)
    let all: Vec<String> = (0..opts.accounts).map(|i| format!("acct{i:05}")).collect();
    let toml = world_toml(&all);
    std::fs::write(opts.work.join("world.toml"), &toml)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let fresh = || -> Result<RunningSandbox> {
        let world = World::from_toml_str(&toml, "peer-bench world")?;
        let sb = rt.block_on(start(
            world,
            "127.0.0.1:0".parse()?,
            SandboxOptions {
                now: Some(AS_OF.parse()?),
                ..Default::default()
            },
        ))?;
        Ok(sb)
    };
    let offering = tally_sandbox::seed_uuid("offering", "Cluster")
        .simple()
        .to_string();
    let cycles = if opts.second_cycle { 2 } else { 1 };

    // tally first (seconds), then the peer (minutes at scale)
    let sb_tally = fresh()?;
    let mut tally = Vec::new();
    for n in 1..=cycles {
        let c = tally_cycle(opts, &dump, &sb_tally, &offering, n)?;
        eprintln!(
            "[peer-bench] tally cycle {n}: {:.2} s wall, {} requests {}",
            c.wall,
            c.total_requests(),
            c.note
        );
        tally.push(c);
    }
    let (tally_amounts, tally_user_sums) = held(&sb_tally);

    let sb_peer = fresh()?;
    let mut peer = Vec::new();
    for n in (1..=cycles).filter(|_| !opts.skip_peer) {
        let c = peer_cycle(opts, &dump, &sb_peer, &offering, n)?;
        eprintln!(
            "[peer-bench] peer cycle {n}: {:.2} s wall, {} requests, {} sacct {}",
            c.wall,
            c.total_requests(),
            c.sacct_calls,
            c.note
        );
        let stop = !c.ok;
        peer.push(c);
        if stop {
            break;
        }
    }
    let (peer_amounts, peer_user_sums) = held(&sb_peer);

    let exact = oracle(opts, &dump)?;
    let explained = explain(opts, &dump)?;
    rt.block_on(async {
        sb_tally.shutdown().await;
        sb_peer.shutdown().await;
    });
    Ok(Report {
        accounts: opts.accounts,
        dump_lines: dump.lines,
        allocations: dump.allocations,
        peer,
        tally,
        peer_amounts,
        peer_user_sums,
        tally_amounts,
        tally_user_sums,
        exact,
        explained,
    })
}

/// Summary of the amounts.
#[derive(Debug, Default)]
pub struct Agreement {
    pub cells_exact: usize,
    pub tally_equal_exact: usize,
    pub tally_diff: Vec<String>,
    pub peer_cells: usize,
    pub peer_equal_exact: usize,
    pub peer_equal_model: usize,
    pub peer_model_diff: Vec<String>,
    /// Sum over cells of each reason's effect (component units), and cells affected.
    pub reasons: Vec<(&'static str, BTreeMap<String, Decimal>, usize)>,
    pub peer_zero_cells: usize,
    pub user_sum_mismatch: usize,
    pub user_sum_cells: usize,
    pub max_user_sum_gap: Decimal,
    pub oracle_vs_model: usize,
}

pub fn agreement(r: &Report) -> Agreement {
    let mut a = Agreement {
        cells_exact: r.exact.len(),
        ..Default::default()
    };
    for (k, v) in &r.exact {
        match r.tally_amounts.get(k) {
            Some(t) if t == v => a.tally_equal_exact += 1,
            other => a
                .tally_diff
                .push(format!("{k:?}: exact {v}, tally {other:?}")),
        }
    }
    for (k, t) in &r.tally_amounts {
        if !r.exact.contains_key(k) {
            a.tally_diff.push(format!("{k:?}: exact none, tally {t}"));
        }
    }
    a.peer_cells = r.peer_amounts.len();
    let zero = Decimal::ZERO;
    for (k, p) in &r.peer_amounts {
        let e = r.exact.get(k).copied().unwrap_or(zero);
        if *p == e {
            a.peer_equal_exact += 1;
        }
        let m = r.explained.get(k).map(|x| x.peer).unwrap_or(zero);
        if *p == m {
            a.peer_equal_model += 1;
        } else {
            a.peer_model_diff
                .push(format!("{k:?}: peer {p}, model {m}"));
        }
        if p.is_zero() && !r.exact.contains_key(k) {
            a.peer_zero_cells += 1;
        }
    }
    // the exact model of explain.py agrees with the oracle (two independent computations)
    for (k, x) in &r.explained {
        let mut e = x
            .exact
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
        e.rescale(2);
        if r.exact.get(k).is_some_and(|o| *o != e) || (!r.exact.contains_key(k) && !e.is_zero()) {
            a.oracle_vs_model += 1;
        }
    }
    let steps: [ReasonStep; 4] = [
        ("requested vs allocated TRES (ReqTRES)", |x| {
            x.requested - x.exact
        }),
        ("lost last second of the month (23:59:59)", |x| {
            x.window - x.requested
        }),
        ("TRES parsing (integer prefix, MB floored per line)", |x| {
            x.parsing - x.window
        }),
        ("rounding to 2 decimals", |x| x.peer - x.parsing),
    ];
    for (name, f) in steps {
        let mut by_comp: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut cells = 0;
        for ((_, _, comp), x) in &r.explained {
            let d = f(x);
            if !d.is_zero() {
                cells += 1;
                *by_comp.entry(comp.clone()).or_default() += d;
            }
        }
        a.reasons.push((name, by_comp, cells));
    }
    for (k, s) in &r.peer_user_sums {
        a.user_sum_cells += 1;
        let t = r.peer_amounts.get(k).copied().unwrap_or(zero);
        if *s != t {
            a.user_sum_mismatch += 1;
            a.max_user_sum_gap = a.max_user_sum_gap.max((*s - t).abs());
        }
    }
    a
}

fn short(endpoint: &str) -> String {
    endpoint
        .replace("/api/marketplace-", "")
        .replace("/api/", "")
}

fn fmt_secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.2} s")
    }
}

/// The markdown report of one size.
pub fn markdown(r: &Report, opts: &Options) -> String {
    let a = agreement(r);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### {} accounts ({} dump lines, {} allocations, months {} and {}, as of {})\n",
        r.accounts, r.dump_lines, r.allocations, MONTHS[0], MONTHS[1], AS_OF
    );
    let _ = writeln!(
        s,
        "| | peer cycle 1 | tally cycle 1 | peer cycle 2 | tally cycle 2 |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    let cell = |v: &[Cycle], i: usize, f: &dyn Fn(&Cycle) -> String| {
        v.get(i).map(f).unwrap_or_else(|| "not run".into())
    };
    type Row<'a> = (&'a str, Box<dyn Fn(&Cycle) -> String>);
    let rows: Vec<Row> = vec![
        (
            "wall time",
            Box::new(|c: &Cycle| {
                let mut t = fmt_secs(c.wall);
                if c.timed_out {
                    t.push_str(" (killed)");
                }
                t
            }),
        ),
        (
            "of which start-up (peer: Python imports)",
            Box::new(|c: &Cycle| c.startup.map(fmt_secs).unwrap_or_else(|| "·".into())),
        ),
        (
            "of which fake sacct/sacctmgr (estimated)",
            Box::new(|c: &Cycle| c.shim_estimate.map(fmt_secs).unwrap_or_else(|| "·".into())),
        ),
        (
            "CPU time (user+sys, with children)",
            Box::new(|c: &Cycle| {
                if c.timed_out {
                    "n/a (killed: children not reaped)".into()
                } else {
                    fmt_secs(c.cpu)
                }
            }),
        ),
        (
            "peak RSS (largest process)",
            Box::new(|c: &Cycle| {
                if c.timed_out {
                    "n/a (killed)".into()
                } else {
                    format!("{:.0} MiB", c.max_rss_kb as f64 / 1024.0)
                }
            }),
        ),
        (
            "HTTP requests",
            Box::new(|c: &Cycle| c.total_requests().to_string()),
        ),
        (
            "sacct / sacctmgr runs",
            Box::new(|c: &Cycle| format!("{} / {}", c.sacct_calls, c.sacctmgr_calls)),
        ),
    ];
    for (name, f) in &rows {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} |",
            cell(&r.peer, 0, f.as_ref()),
            cell(&r.tally, 0, f.as_ref()),
            cell(&r.peer, 1, f.as_ref()),
            cell(&r.tally, 1, f.as_ref()),
        );
    }
    let mut endpoints: BTreeSet<String> = BTreeSet::new();
    for c in r.peer.iter().chain(r.tally.iter()) {
        for (k, _) in c.requests.keys() {
            endpoints.insert(k.clone());
        }
    }
    for e in &endpoints {
        let f = |c: &Cycle| {
            let n = c.count(e);
            if n == 0 {
                "·".to_string()
            } else {
                n.to_string()
            }
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            short(e),
            cell(&r.peer, 0, &f),
            cell(&r.tally, 0, &f),
            cell(&r.peer, 1, &f),
            cell(&r.tally, 1, &f),
        );
    }
    let statuses: BTreeSet<u16> = r
        .peer
        .iter()
        .chain(r.tally.iter())
        .flat_map(|c| c.requests.keys().map(|(_, st)| *st))
        .filter(|st| *st >= 300)
        .collect();
    if !statuses.is_empty() {
        let _ = writeln!(s, "\nNon-2xx answers: {statuses:?}.");
    }
    let _ = writeln!(
        s,
        "\n**Amounts left on the server** ({} cells with usage):\n",
        a.cells_exact
    );
    let _ = writeln!(
        s,
        "- tally: {} of {} cells equal the exact amounts of the independent oracle (`tests/oracle/sacct_totals.py`){}.",
        a.tally_equal_exact,
        a.cells_exact,
        if a.tally_diff.is_empty() { String::new() } else { format!("; differences: {:?}", a.tally_diff.iter().take(5).collect::<Vec<_>>()) }
    );
    let _ = writeln!(
        s,
        "- peer: {} cells written ({} of them zero for months an account had no job), {} equal the exact amount; {} of {} equal the peer model of `benches/peer/explain.py` (so every difference is explained){}.",
        a.peer_cells,
        a.peer_zero_cells,
        a.peer_equal_exact,
        a.peer_equal_model,
        a.peer_cells,
        if a.peer_model_diff.is_empty() { String::new() } else { format!("; unexplained: {:?}", a.peer_model_diff.iter().take(5).collect::<Vec<_>>()) }
    );
    // a killed peer wrote only some resources: compare over those
    let killed = r.peer.iter().any(|c| c.timed_out);
    let peer_res: BTreeSet<&str> = r.peer_amounts.keys().map(|k| k.0.as_str()).collect();
    if killed {
        let _ = writeln!(
            s,
            "\nThe peer was stopped: the sums below cover only the {} resources it wrote.",
            peer_res.len()
        );
    }
    let sum = |m: &Amounts, comp: &str| -> Decimal {
        m.iter()
            .filter(|(k, _)| k.2 == comp && (!killed || peer_res.contains(k.0.as_str())))
            .map(|(_, v)| *v)
            .sum()
    };
    let _ = writeln!(
        s,
        "\n| component | exact (oracle) | tally | peer | peer − exact |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for comp in ["cpu", "mem"] {
        let e = sum(&r.exact, comp);
        let p = sum(&r.peer_amounts, comp);
        let _ = writeln!(
            s,
            "| {comp} ({}) | {e} | {} | {p} | {} ({:.2} %) |",
            if comp == "cpu" { "k-Hours" } else { "GB-hours" },
            sum(&r.tally_amounts, comp),
            p - e,
            if e.is_zero() {
                Decimal::ZERO
            } else {
                (p - e) / e * Decimal::from(100)
            }
        );
    }
    let _ = writeln!(s, "\n| reason (peer, one rule changed at a time) | cells affected | effect on cpu (k-Hours) | effect on mem (GB-hours) |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for (name, by, cells) in &a.reasons {
        let g = |c: &str| {
            by.get(c)
                .map(|d| d.round_dp(4).normalize().to_string())
                .unwrap_or_else(|| "0".into())
        };
        let _ = writeln!(s, "| {name} | {cells} | {} | {} |", g("cpu"), g("mem"));
    }
    let tally_user_gaps = r
        .tally_user_sums
        .iter()
        .filter(|(k, v)| r.tally_amounts.get(*k) != Some(*v))
        .count();
    let _ = writeln!(
        s,
        "\nPer-user figures: the peer sent them for {} cells; in {} of them they do not add up to the total (largest gap {}). tally sent them for {} cells; in {} of them they do not add up to the total.",
        a.user_sum_cells, a.user_sum_mismatch, a.max_user_sum_gap, r.tally_user_sums.len(), tally_user_gaps
    );
    let _ = writeln!(
        s,
        "Cross-check: the exact model of explain.py rounds to the oracle's amount in all but {} cells.",
        a.oracle_vs_model
    );
    let _ = writeln!(
        s,
        "\ntally settings: dump source (no sacct), `rate_per_second = {}`, `burst = {}`, `concurrency = {}`; peer: run-peer.sh {PEER_VERSION}, `{PEER_COMPONENTS}`, `PEER_NOW={PEER_NOW}`.",
        opts.rate_per_second, opts.burst, opts.concurrency
    );
    for (i, c) in r.peer.iter().enumerate() {
        if !c.ok {
            let _ = writeln!(s, "\nPeer cycle {}: {}", i + 1, c.note);
        }
        if c.timed_out {
            let done = c.count("GET /api/marketplace-provider-resources/{uuid}/");
            let total = r.accounts as f64;
            if done > 0 {
                let _ = writeln!(
                    s,
                    "Peer cycle {}: stopped after {:.0} s having started {} of {} resources; at that pace the cycle takes about {:.0} s ({:.0} min).",
                    i + 1,
                    c.wall,
                    done,
                    r.accounts,
                    c.wall * total / done as f64,
                    c.wall * total / done as f64 / 60.0
                );
            }
        }
    }
    for (i, c) in r.tally.iter().enumerate() {
        if !c.ok {
            let _ = writeln!(s, "\ntally cycle {}: {}", i + 1, c.note);
        }
    }
    s
}
