//! `tally-gen-grid --format sge|uge|lsf --lines N [--accounts A] [--seed S] [--out FILE]`:
//! writes a realistic Grid Engine (SGE seconds, Univa milliseconds) or LSF `lsb.acct` file
//! (see `tally_testgen::grid`) to FILE or stdout.

use std::io::{BufWriter, Write};

use tally_testgen::grid::{generate_lsf, generate_sge, GridEngine};

fn main() -> std::process::ExitCode {
    let mut opts = tally_testgen::GenOptions::default();
    let mut format = String::new();
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        let ok = match a.as_str() {
            "--format" => {
                format = val();
                matches!(format.as_str(), "sge" | "uge" | "lsf")
            }
            "--lines" => val().parse().map(|v| opts.lines = v).is_ok(),
            "--accounts" => val().parse().map(|v| opts.accounts = v).is_ok(),
            "--seed" => val().parse().map(|v| opts.seed = v).is_ok(),
            "--out" => {
                out = Some(val());
                true
            }
            _ => false,
        };
        if !ok {
            eprintln!("usage: tally-gen-grid --format sge|uge|lsf --lines N [--accounts A] [--seed S] [--out FILE] (bad argument {a:?})");
            return std::process::ExitCode::from(2);
        }
    }
    let write = |w: &mut dyn Write| -> std::io::Result<(u64, u64)> {
        let mut w = BufWriter::with_capacity(1 << 20, w);
        let r = match format.as_str() {
            "sge" => generate_sge(&opts, GridEngine::Sge, &mut w)?,
            "uge" => generate_sge(&opts, GridEngine::Univa, &mut w)?,
            _ => generate_lsf(&opts, &mut w)?,
        };
        w.flush()?;
        Ok(r)
    };
    if format.is_empty() {
        eprintln!("tally-gen-grid: --format sge|uge|lsf is required");
        return std::process::ExitCode::from(2);
    }
    let result = match out {
        Some(path) => std::fs::File::create(&path).and_then(|mut f| write(&mut f)),
        None => write(&mut std::io::stdout().lock()),
    };
    match result {
        Ok((lines, bytes)) => {
            eprintln!("wrote {lines} lines, {bytes} bytes");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tally-gen-grid: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
