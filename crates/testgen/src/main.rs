//! `tally-gen-sacct --lines N [--accounts A] [--seed S] [--site-like] [--out FILE]`: writes a realistic
//! sacct dump (see the library docs) to FILE or stdout.

use std::io::{BufWriter, Write};

fn main() -> std::process::ExitCode {
    let mut opts = tally_testgen::GenOptions::default();
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        let ok = match a.as_str() {
            "--lines" => val().parse().map(|v| opts.lines = v).is_ok(),
            "--accounts" => val().parse().map(|v| opts.accounts = v).is_ok(),
            "--seed" => val().parse().map(|v| opts.seed = v).is_ok(),
            "--site-like" => {
                opts.site_like = true;
                true
            }
            "--cluster" => {
                opts.cluster = val();
                true
            }
            "--out" => {
                out = Some(val());
                true
            }
            _ => false,
        };
        if !ok {
            eprintln!("usage: tally-gen-sacct --lines N [--accounts A] [--seed S] [--site-like] [--cluster C] [--out FILE] (bad argument {a:?})");
            return std::process::ExitCode::from(2);
        }
    }
    let result = match out {
        Some(path) => std::fs::File::create(&path).and_then(|f| {
            let mut w = BufWriter::with_capacity(1 << 20, f);
            let r = tally_testgen::generate(&opts, &mut w)?;
            w.flush()?;
            Ok(r)
        }),
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            tally_testgen::generate(&opts, &mut w).and_then(|r| w.flush().map(|_| r))
        }
    };
    match result {
        Ok((lines, bytes)) => {
            eprintln!("wrote {lines} lines, {bytes} bytes");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tally-gen-sacct: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
