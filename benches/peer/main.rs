//! Side by side with the peer (waldur-site-agent), same dump, same sandbox world, measured.
//!
//! ```sh
//! cargo bench --bench peer -- --accounts 10,300,3000
//! ```
//! Options: `--accounts A[,B...]` (default 10), `--jobs-per-account J` (default 6),
//! `--seed S`, `--peer-timeout SECONDS` (default 1800 per peer cycle), `--one-cycle`,
//! `--rate R` / `--burst B` / `--concurrency C` (tally's pacing, default 200/50/8),
//! `--out FILE` (default `target/peer-bench/report.md`). Needs python3 with venv and PyPI
//! access for the first run (the peer is installed into `target/peer-venv`), and
//! `benches/peer/run-peer.sh` (or `$PEER_SCRIPT`).

#[path = "harness.rs"]
mod harness;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

fn machine() -> String {
    let sh = |c: &str| {
        Command::new("sh")
            .args(["-c", c])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} ({} cores available to this run; shared with other work), {} RAM, {}, {}, rustc {}",
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'"),
        sh("nproc"),
        sh("free -h | awk '/Mem:/ {print $2}'"),
        sh("uname -sr"),
        sh("python3 --version"),
        sh("rustc --version | cut -d' ' -f2"),
    )
}

fn main() -> Result<()> {
    let mut sizes: Vec<u32> = Vec::new();
    let mut jobs = 6u32;
    let mut seed = 42u64;
    let mut peer_timeout = 1800u64;
    let mut second = true;
    let mut skip_peer = false;
    let mut rate = 200u32;
    let mut burst = 50u32;
    let mut conc = 8u32;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().context("missing value");
        match a.as_str() {
            "--accounts" => {
                for s in val()?.split(',') {
                    sizes.push(s.trim().parse().context("--accounts")?);
                }
            }
            "--jobs-per-account" => jobs = val()?.parse()?,
            "--seed" => seed = val()?.parse()?,
            "--peer-timeout" => peer_timeout = val()?.parse()?,
            "--one-cycle" => second = false,
            "--skip-peer" => skip_peer = true,
            "--rate" => rate = val()?.parse()?,
            "--burst" => burst = val()?.parse()?,
            "--concurrency" => conc = val()?.parse()?,
            "--out" => out = Some(PathBuf::from(val()?)),
            "--bench" => {} // added by `cargo bench`
            other => bail!("unknown argument {other:?} (see benches/peer/main.rs)"),
        }
    }
    if sizes.is_empty() {
        sizes.push(10);
    }
    let target = harness::target_dir();
    let base = target.join("peer-bench");
    let venv = target.join("peer-venv");
    let peer_script = harness::peer_script()?;
    match harness::ensure_venv(&venv)? {
        harness::Venv::Ready(_) => {}
        harness::Venv::NoNetwork(e) => bail!("cannot install the peer from PyPI: {e}"),
    }
    let tally_bin = PathBuf::from(env!("CARGO_BIN_EXE_tally"));
    let out = out.unwrap_or_else(|| base.join("report.md"));
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "Command: `cargo bench --bench peer -- {}`\n\nMachine: {}\n",
        std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect::<Vec<_>>()
            .join(" "),
        machine()
    );
    let mut summary = String::from(
        "| accounts | dump lines | peer wall (cycle 1) | tally wall (cycle 1) | ratio | peer requests (1 / 2) | tally requests (1 / 2) | peer sacct+sacctmgr runs | peer cells = exact | tally cells = exact |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for n in sizes {
        let opts = harness::Options {
            accounts: n,
            jobs_per_account: jobs,
            seed,
            work: base.join(n.to_string()),
            tally_bin: tally_bin.clone(),
            peer_script: peer_script.clone(),
            peer_venv: venv.clone(),
            peer_timeout,
            second_cycle: second,
            skip_peer,
            rate_per_second: rate,
            burst,
            concurrency: conc,
        };
        let r = harness::run(&opts)?;
        let a = harness::agreement(&r);
        let md = harness::markdown(&r, &opts);
        std::fs::write(opts.work.join("report.md"), &md)?;
        println!("{md}");
        let reqs = |v: &[harness::Cycle]| {
            v.iter()
                .map(|c| c.total_requests().to_string())
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let Some(p1) = r.peer.first() else {
            doc.push_str(&md);
            std::fs::write(&out, format!("{summary}\n{doc}"))?;
            continue;
        };
        let t1 = &r.tally[0];
        // a killed peer cycle: projected from the resources it got to
        let done = p1.count("GET /api/marketplace-provider-resources/{uuid}/");
        let (peer_wall, peer_txt) = if p1.timed_out && done > 0 {
            let proj = p1.wall * f64::from(n) / done as f64;
            (
                proj,
                format!(
                    "killed at {:.0} s after {done} of {n} resources; projected {:.0} s",
                    p1.wall, proj
                ),
            )
        } else {
            (p1.wall, format!("{:.1} s", p1.wall))
        };
        let _ = writeln!(
            summary,
            "| {n} | {} | {} | {:.2} s | {:.0}x | {} | {} | {} | {} of {} | {} of {} |",
            r.dump_lines,
            peer_txt,
            t1.wall,
            peer_wall / t1.wall.max(0.001),
            reqs(&r.peer),
            reqs(&r.tally),
            p1.sacct_calls + p1.sacctmgr_calls,
            a.peer_equal_exact,
            a.peer_cells,
            a.tally_equal_exact,
            a.cells_exact,
        );
        doc.push_str(&md);
        doc.push('\n');
        std::fs::write(&out, format!("{summary}\n{doc}"))?;
    }
    println!("{summary}");
    eprintln!("[peer-bench] report: {}", out.display());
    Ok(())
}
