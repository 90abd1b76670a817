//! Collection throughput and memory, measured on the real binary.
//!
//! `cargo bench --bench collect [-- --lines 888000,10000000] [--format sacct|sge|uge|lsf]`
//!
//! For each size: generates a realistic dump (crates/testgen) under target/bench-data/ once,
//! runs `tally collect` on it three times (warm page cache, one process per run), and
//! reports the best wall time as lines/s and MB/s plus the peak RSS of the process (from
//! wait4's rusage). As a floor it times `cut -d'|' -f4` on the same file: the cost of just
//! reading and splitting the bytes. `--format sge|uge|lsf` measures a generated Grid Engine
//! (seconds or Univa milliseconds) or LSF file instead (`tally_testgen::grid`), its floor
//! being `cut` on that format's delimiter.

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
    std::fs::create_dir_all(&dir).expect("create the data directory");
    dir
}

fn dump(format: &str, lines: u64) -> PathBuf {
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
        use tally_testgen::grid::{generate_lsf, generate_sge, GridEngine};
        match format {
            "sge" => generate_sge(&opts, GridEngine::Sge, &mut w),
            "uge" => generate_sge(&opts, GridEngine::Univa, &mut w),
            "lsf" => generate_lsf(&opts, &mut w),
            _ => tally_testgen::generate(&opts, &mut w),
        }
        .expect("generate the input");
        w.flush().expect("write the input");
        drop(w);
        std::fs::rename(&tmp, &path).expect("move the input into place");
    }
    path
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
    let config = data_dir().join("tally.toml");
    let source = match format.as_str() {
        "sacct" => "format = \"sacct\"",
        "lsf" => "format = \"lsf\"",
        _ => "format = \"sge\"",
    };
    let components = if format == "sacct" {
        "[components.cpu]\ntres = \"cpu\"\n[components.gpu]\ntres = \"gres/gpu\"\n\
         [components.ram]\ntres = \"mem\"\nfactor = \"0.0009765625\"\n"
    } else {
        "[components.cpu]\ntres = \"cpu\"\n"
    };
    std::fs::write(
        &config,
        format!("[[sources]]\n{source}\npaths = [\"sacct-input.txt\"]\n{components}"),
    )
    .expect("write the config");
    let (delimiter, field) = match format.as_str() {
        "sacct" => ("-d|", "-f4"),
        "lsf" => ("-d ", "-f4"),
        _ => ("-d:", "-f6"),
    };
    println!("| {format} lines | MB | tally best of 3 (s) | lines/s | MB/s | peak RSS (MiB) | cut {delimiter} {field} (s) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for lines in sizes {
        let path = dump(&format, lines);
        let link = data_dir().join("sacct-input.txt");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).expect("link the input");
        let bytes = std::fs::metadata(&path).expect("input size").len();
        let mut best = f64::MAX;
        let mut rss = 0;
        for _ in 0..3 {
            let m = measure(
                Command::new(env!("CARGO_BIN_EXE_tally"))
                    .args([
                        "-q", "collect", "--format", "csv", "--from", "2026-09", "--to", "2026-11",
                    ])
                    .args(["--as-of", "2026-11-25T00:00:00Z", "--config"])
                    .arg(&config),
            );
            best = best.min(m.seconds);
            rss = rss.max(m.max_rss_kib);
        }
        let mut cut_best = f64::MAX;
        for _ in 0..3 {
            let m = measure(Command::new("cut").args([delimiter, field]).arg(&path));
            cut_best = cut_best.min(m.seconds);
        }
        println!(
            "| {lines} | {:.0} | {best:.3} | {:.2} M | {:.0} | {:.0} | {cut_best:.3} |",
            bytes as f64 / 1e6,
            lines as f64 / best / 1e6,
            bytes as f64 / best / 1e6,
            rss as f64 / 1024.0,
        );
    }
}
