//! Collection throughput and memory, measured on the real binary.
//!
//! `cargo bench --bench collect [-- --lines 888000,10000000] [--format sacct|sge|uge|lsf]`
//!
//! For each size and each of two dumps (crates/testgen, generated under target/bench-data/
//! once): `bench` (300 accounts, 1,200 users, every user in nearly every account: the worst
//! case for the per-user breakdown) and `site` (3,000 accounts, 12,000 users each in 1-3
//! accounts, every job with `.batch` and `.extern` steps: a large site's shape). Runs
//! `tally collect` on each three times with the per-user breakdown on and three times with
//! `user_usage = false` (warm page cache, one process per run) and reports the best wall
//! time, the peak RSS of the process (from wait4's rusage) and the ratio to
//! `cut -d'|' -f4` on the same warm file: the cost of just reading and splitting the bytes.
//! Wall times on a shared machine are noisy; the ratio is taken within one run and peak RSS
//! does not depend on load.
//!
//! Where the time and memory went before issue 22 (callgrind and massif on 1M lines,
//! `/usr/bin/time -v` at 10M; README "Benchmarks" has the figures): a third of the
//! instructions were `Decimal` subtractions in the per-user split's sort comparator, and the
//! memory a BTreeMap per cell of a BTreeMap per user of a BTreeMap per rule, filled from a hash
//! map keyed by (resource, month, TRES, user) with a `Decimal` product per job. Now jobs are
//! summed as integers into one row per (resource, user, month), the job table is 24 bytes a
//! job plus its index, the split works in integer cents, and the output is built in order.
//! Then (heaptrack at 10M lines) the output was most of the rest: 1.59 M per-user cells with
//! three owned `String`s each (about 190 bytes a cell); they share their names now (72 bytes),
//! and the job index is freed before the per-user rows grow, so the peak is the job table at
//! the end of reading, with the breakdown on or off.
//! Since then collect reads on a second thread (records handed over in batches and replayed
//! in reading order) and, when the rows are few beside the jobs, sums on two: the bench
//! measures the default; `TALLY_COLLECT_THREADS=1` in its environment measures one thread.
//!
//! `--format sge|uge|lsf` measures a generated Grid Engine (seconds or Univa milliseconds) or
//! LSF file instead (`tally_testgen::grid`, 300 accounts), its floor being `cut` on that
//! format's delimiter.

use std::io::{BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Measure {
    seconds: f64,
    max_rss_kib: i64,
}

/// Runs a command with stdout to /dev/null; returns wall time and peak RSS of that child.
// wait4: the child's peak RSS, which std::process does not report.
#[allow(unsafe_code)]
fn measure(cmd: &mut Command) -> Measure {
    let started = Instant::now();
    let child = cmd.stdout(Stdio::null()).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; status and usage are valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(r, pid, "wait4 failed");
    let st = std::process::ExitStatus::from_raw(status);
    assert!(st.success(), "{cmd:?} failed: {st}");
    std::mem::forget(child);
    Measure {
        seconds,
        max_rss_kib: usage.ru_maxrss,
    }
}

fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The two dumps the bench measures: (name, accounts, site_like).
const DUMPS: [(&str, u32, bool); 2] = [("bench", 300, false), ("site", 3000, true)];

fn dump(name: &str, accounts: u32, site_like: bool, lines: u64) -> PathBuf {
    let path = data_dir().join(format!("sacct-{name}-{lines}.txt"));
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
        let opts = tally_testgen::GenOptions {
            lines,
            accounts,
            site_like,
            ..Default::default()
        };
        tally_testgen::generate(&opts, &mut w).unwrap();
        w.flush().unwrap();
        drop(w);
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// Writes a config reading `sacct-input.txt` beside it; returns its path.
fn config(user_usage: bool) -> PathBuf {
    let path = data_dir().join(format!("tally-user-usage-{user_usage}.toml"));
    std::fs::write(
        &path,
        format!(
            "user_usage = {user_usage}\n\
             [[sources]]\nformat = \"sacct\"\npaths = [\"sacct-input.txt\"]\n\
             [components.cpu]\ntres = \"cpu\"\n[components.gpu]\ntres = \"gres/gpu\"\n\
             [components.ram]\ntres = \"mem\"\nfactor = \"0.0009765625\"\n"
        ),
    )
    .unwrap();
    path
}

/// Best wall time of three runs and the largest peak RSS (KiB).
fn best_of_three(mut cmd: impl FnMut() -> Command) -> (f64, i64) {
    let mut best = f64::MAX;
    let mut rss = 0;
    for _ in 0..3 {
        let m = measure(&mut cmd());
        best = best.min(m.seconds);
        rss = rss.max(m.max_rss_kib);
    }
    (best, rss)
}

fn main() {
    let mut sizes = vec![888_000u64, 10_000_000];
    let mut format = "sacct".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--format" {
            format = args.next().expect("--format sacct|sge|uge|lsf");
            assert!(
                ["sacct", "sge", "uge", "lsf"].contains(&format.as_str()),
                "--format sacct|sge|uge|lsf"
            );
        }
        if a == "--lines" {
            sizes = args
                .next()
                .expect("--lines N[,N...]")
                .split(',')
                .map(|s| s.trim().parse().expect("a number of lines"))
                .collect();
        }
        // Other arguments (e.g. --bench from cargo) are ignored.
    }
    if format != "sacct" {
        return grid(&format, &sizes);
    }
    let configs = [(true, config(true)), (false, config(false))];
    println!(
        "| dump | lines | MB | user_usage | tally best of 3 (s) | lines/s | peak RSS (MiB) | cut -d'|' -f4 (s) | tally / cut |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for lines in sizes {
        for (name, accounts, site_like) in DUMPS {
            let path = dump(name, accounts, site_like, lines);
            let link = data_dir().join("sacct-input.txt");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&path, &link).unwrap();
            let bytes = std::fs::metadata(&path).unwrap().len();
            // cut first: it also warms the page cache for tally.
            let (cut, _) = best_of_three(|| {
                let mut c = Command::new("cut");
                c.args(["-d|", "-f4"]).arg(&path);
                c
            });
            for (user_usage, config) in &configs {
                let (best, rss) = best_of_three(|| {
                    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
                    c.args(["-q", "collect", "--format", "csv", "--from", "2026-09"])
                        .args(["--to", "2026-11", "--as-of", "2026-11-25T00:00:00Z"])
                        .arg("--config")
                        .arg(config);
                    c
                });
                println!(
                    "| {name} | {lines} | {:.0} | {} | {best:.3} | {:.2} M | {:.0} | {cut:.3} | {:.2}x |",
                    bytes as f64 / 1e6,
                    if *user_usage { "on" } else { "off" },
                    lines as f64 / best / 1e6,
                    rss as f64 / 1024.0,
                    best / cut,
                );
            }
        }
    }
}

/// `--format sge|uge|lsf`: a generated Grid Engine or LSF file per size, `cpu` only.
fn grid(format: &str, sizes: &[u64]) {
    use tally_testgen::grid::{generate_lsf, generate_sge, GridEngine};
    let config = data_dir().join(format!("tally-{format}.toml"));
    let source = if format == "lsf" { "lsf" } else { "sge" };
    std::fs::write(
        &config,
        format!(
            "[[sources]]\nformat = \"{source}\"\npaths = [\"{format}-input.txt\"]\n\
             [components.cpu]\ntres = \"cpu\"\n"
        ),
    )
    .expect("write the config");
    let (delimiter, field) = match format {
        "lsf" => ("-d ", "-f4"),
        _ => ("-d:", "-f6"),
    };
    println!(
        "| {format} lines | MB | tally best of 3 (s) | lines/s | peak RSS (MiB) | cut {delimiter} {field} (s) | tally / cut |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &lines in sizes {
        let path = data_dir().join(format!("{format}-{lines}.txt"));
        if !path.exists() {
            let tmp = path.with_extension("tmp");
            let mut w = BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&tmp).expect("create the input file"),
            );
            let opts = tally_testgen::GenOptions {
                lines,
                accounts: 300,
                ..Default::default()
            };
            match format {
                "uge" => generate_sge(&opts, GridEngine::Univa, &mut w),
                "lsf" => generate_lsf(&opts, &mut w),
                _ => generate_sge(&opts, GridEngine::Sge, &mut w),
            }
            .expect("generate the input");
            w.flush().expect("write the input");
            drop(w);
            std::fs::rename(&tmp, &path).expect("move the input into place");
        }
        let link = data_dir().join(format!("{format}-input.txt"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).expect("link the input");
        let bytes = std::fs::metadata(&path).expect("input size").len();
        let (cut, _) = best_of_three(|| {
            let mut c = Command::new("cut");
            c.args([delimiter, field]).arg(&path);
            c
        });
        let (best, rss) = best_of_three(|| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
            c.args([
                "-q", "collect", "--format", "csv", "--from", "2026-09", "--to", "2026-11",
            ])
            .args(["--as-of", "2026-11-25T00:00:00Z", "--config"])
            .arg(&config);
            c
        });
        println!(
            "| {lines} | {:.0} | {best:.3} | {:.2} M | {:.0} | {cut:.3} | {:.2}x |",
            bytes as f64 / 1e6,
            lines as f64 / best / 1e6,
            rss as f64 / 1024.0,
            best / cut,
        );
    }
}
