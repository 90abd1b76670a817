//! `tally check`: every difference between what tally computes and what Waldur holds.

use std::io::Write;

use clap::{Args, ValueEnum};
use tally_check::{CheckReport, Difference, UserDifference};
use tally_config::Config;
use tally_pipeline::Verdict;

use crate::args::CollectionArgs;
use crate::collect;
use crate::exit::Exit;

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub collection: CollectionArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
}

/// Prints the report; `Exit::Differences` when there is any.
pub fn print(report: &CheckReport, format: CheckFormat) -> anyhow::Result<Exit> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        CheckFormat::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        CheckFormat::Table => write_table(&mut out, report)?,
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    tracing::info!(
        agreeing = report.agreeing,
        missing = report.count("missing"),
        different = report.count("different"),
        unexpected = report.count("unexpected"),
        agreeing_users = report.agreeing_users,
        user_differences = report.user_differences.len(),
        "check"
    );
    Ok(Verdict::of_check(report).into())
}

fn write_table(out: &mut impl Write, r: &CheckReport) -> std::io::Result<()> {
    let months: Vec<String> = r.months.iter().map(|m| m.to_string()).collect();
    let users = if r.users_compared {
        format!(" and {} user share(s)", r.agreeing_users)
    } else {
        String::new()
    };
    if r.agrees() {
        return writeln!(
            out,
            "Waldur holds exactly what tally computes: {} cell(s){users} in {}",
            r.agreeing,
            months.join(", ")
        );
    }
    if !r.differences.is_empty() {
        write_cell_table(out, r)?;
    }
    if !r.user_differences.is_empty() {
        write_user_table(out, r)?;
    }
    writeln!(
        out,
        "{} difference(s), {} per-user difference(s); {} cell(s){users} agree",
        r.differences.len(),
        r.user_differences.len(),
        r.agreeing
    )
}

/// Left-aligned columns except the last two (amounts), right-aligned.
fn write_rows(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let n = rows.first().map_or(0, Vec::len);
    let mut widths = vec![0usize; n];
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in rows {
        let cols: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i + 2 >= n {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        writeln!(out, "{}", cols.join("  ").trim_end())?;
    }
    Ok(())
}

fn write_user_table(out: &mut impl Write, r: &CheckReport) -> std::io::Result<()> {
    let mut rows: Vec<Vec<String>> = vec![[
        "RESOURCE",
        "PERIOD",
        "COMPONENT",
        "USER",
        "KIND",
        "TALLY",
        "WALDUR",
    ]
    .map(String::from)
    .to_vec()];
    for d in &r.user_differences {
        let (tally, waldur) = match d {
            UserDifference::Missing { expected, .. } => (expected.to_string(), "-".to_owned()),
            UserDifference::Different { expected, held, .. } => {
                (expected.to_string(), held.to_string())
            }
            UserDifference::Unexpected { held, .. } => ("-".to_owned(), held.to_string()),
        };
        let (backend, month, component, user) = d.key();
        rows.push(vec![
            backend.to_owned(),
            month.to_string(),
            component.to_owned(),
            user.to_owned(),
            d.kind().to_owned(),
            tally,
            waldur,
        ]);
    }
    writeln!(out, "Per-user differences:")?;
    write_rows(out, &rows)
}

fn write_cell_table(out: &mut impl Write, r: &CheckReport) -> std::io::Result<()> {
    let mut rows: Vec<[String; 6]> =
        vec![["RESOURCE", "PERIOD", "COMPONENT", "KIND", "TALLY", "WALDUR"].map(String::from)];
    for d in &r.differences {
        let (tally, waldur) = match d {
            Difference::Missing { expected, .. } => (expected.to_string(), "-".to_owned()),
            Difference::Different { expected, held, .. } => {
                (expected.to_string(), held.to_string())
            }
            Difference::Unexpected { held, .. } => ("-".to_owned(), held.to_string()),
        };
        let (backend, month, component) = d.key();
        let kind = match d {
            Difference::Missing { resource: None, .. } => "missing (no such resource)",
            other => other.kind(),
        };
        rows.push([
            backend.to_owned(),
            month.to_string(),
            component.to_owned(),
            kind.to_owned(),
            tally,
            waldur,
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in &rows {
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:>w4$}  {:>w5$}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            w5 = widths[5]
        )?;
    }
    Ok(())
}

pub fn run(args: &CheckArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.collection.config)?;
    let window = collect::window(&config, &args.collection)?;
    let rt = crate::push::runtime()?;
    let connection = {
        let _guard = rt.enter();
        tally_pipeline::connect(&config, None, None)?
    };
    let collected = collect::collect(&config, &window)?;
    crate::output::summarize(&collected);
    let report = rt.block_on(tally_pipeline::check(
        &config,
        &connection,
        &collected.usages,
        &collected.user_usages,
        window.range,
    ))?;
    let exit = print(&report, args.format)?;
    let strict = collect::strict_verdict(&collected, args.collection.strict);
    Ok(if strict != Exit::Ok { strict } else { exit })
}
