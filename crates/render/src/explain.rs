//! `tally explain`: the JSON document (docs/explain.md), the rows and totals as CSV, or tables
//! for people (rows, totals with the rounding, users, what was not counted).

use std::io::{self, Write};

use rust_decimal::Decimal;
use tally_aggregate::explain::{Cut, Example, RowKind};
use tally_aggregate::Explanation;

use crate::{json, write_csv, Format, TextTable};

/// One explanation in the chosen format.
pub fn explanation(out: &mut dyn Write, e: &Explanation, format: Format) -> io::Result<()> {
    match format {
        Format::Json => json(out, e),
        Format::Csv => explanation_csv(out, e),
        Format::Table => out.write_all(explanation_text(e).as_bytes()),
    }
}

/// The components shown, in name order.
fn explained_components(e: &Explanation) -> Vec<&str> {
    e.totals.keys().map(String::as_str).collect()
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn cut_name(c: Option<Cut>) -> &'static str {
    match c {
        None => "",
        Some(Cut::MonthStart) => "month start",
        Some(Cut::MonthEnd) => "month end",
        Some(Cut::AsOf) => "--as-of",
    }
}

fn decimal_cell(d: Option<&Decimal>) -> String {
    d.map(Decimal::to_string).unwrap_or_default()
}

/// One CSV line per row, then one `total` line per component (exact and rounded amount).
fn explanation_csv(out: &mut dyn Write, e: &Explanation) -> io::Result<()> {
    let components = explained_components(e);
    let mut header: Vec<String> = [
        "kind",
        "cluster",
        "job",
        "user",
        "account",
        "start",
        "end",
        "counted_from",
        "counted_to",
        "cut_start",
        "cut_end",
        "seconds",
        "origin",
    ]
    .map(String::from)
    .to_vec();
    for c in &components {
        header.push(format!("tres_seconds:{c}"));
        header.push(format!("contribution:{c}"));
        header.push(format!("amount:{c}"));
    }
    let mut lines: Vec<Vec<String>> = Vec::new();
    for r in &e.rows {
        let mut line = vec![
            match r.kind {
                RowKind::Job => "job",
                RowKind::Amount => "amount",
            }
            .to_owned(),
            r.cluster.clone(),
            r.job.clone(),
            r.user.clone(),
            r.account.clone(),
            opt(&r.start),
            opt(&r.end),
            opt(&r.counted_from),
            opt(&r.counted_to),
            cut_name(r.cut_start).to_owned(),
            cut_name(r.cut_end).to_owned(),
            r.seconds.to_string(),
            r.origin.to_string(),
        ];
        for c in &components {
            line.push(decimal_cell(r.tres_seconds.get(*c)));
            line.push(decimal_cell(r.contributions.get(*c)));
            line.push(String::new());
        }
        lines.push(line);
    }
    let mut total = vec![String::new(); 13];
    total[0] = "total".into();
    total[3] = e.user.clone().unwrap_or_default();
    for c in &components {
        let t = &e.totals[*c];
        total.push(decimal_cell(t.tres_seconds.as_ref()));
        total.push(t.exact.to_string());
        total.push(t.amount.to_string());
    }
    lines.push(total);
    write_csv(out, &header, lines)
}

fn explanation_text(e: &Explanation) -> String {
    let components = explained_components(e);
    let mut text = format!(
        "{} {} (usage to {}, months in {}){}\n",
        e.resource,
        e.month,
        e.as_of,
        e.billing_timezone,
        e.user
            .as_ref()
            .map(|u| format!(", user {u}"))
            .unwrap_or_default()
    );
    let mut header: Vec<String> = [
        "JOB",
        "USER",
        "ACCOUNT",
        "START",
        "END",
        "SECONDS",
        "CUT",
        "QUANTITIES",
    ]
    .map(String::from)
    .to_vec();
    for c in &components {
        header.push(format!("{c} TRES-S"));
        header.push(c.to_string());
    }
    let mut rows = TextTable::new(&header)
        .right_aligned(std::iter::once(5).chain((0..components.len() * 2).map(|i| 8 + i)));
    for r in &e.rows {
        let job = match (r.kind, r.cluster.is_empty()) {
            (RowKind::Amount, _) if r.job.is_empty() => format!("row {}", r.origin.line),
            (_, true) => r.job.clone(),
            (_, false) => format!("{}/{}", r.cluster, r.job),
        };
        let cut = [cut_name(r.cut_start), cut_name(r.cut_end)]
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        let quantities = r
            .quantities
            .iter()
            .map(|(t, q)| format!("{t}={q}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut line = vec![
            job,
            r.user.clone(),
            r.account.clone(),
            opt(&r.start),
            r.end.clone().unwrap_or_else(|| match r.kind {
                RowKind::Job => "(running)".into(),
                RowKind::Amount => String::new(),
            }),
            r.seconds.to_string(),
            cut,
            quantities,
        ];
        for c in &components {
            line.push(decimal_cell(r.tres_seconds.get(*c)));
            line.push(decimal_cell(r.contributions.get(*c)));
        }
        rows.add_row(line);
    }
    if rows.is_empty() {
        text.push_str("(no job or row of this resource counts in this month)\n");
    } else {
        text.push_str(&rows.render());
    }
    if e.rows_omitted > 0 {
        text.push_str(&format!(
            "... and {} more row(s) (--top), counted in the totals\n",
            e.rows_omitted
        ));
    }
    if !e.totals.is_empty() {
        let whose = match &e.user {
            Some(u) => format!("{u}'s share as collect splits the cell"),
            None => "collect prints".into(),
        };
        text.push('\n');
        let mut totals = TextTable::new(&[
            "COMPONENT",
            "ROWS",
            "TRES-SECONDS (exact sum)",
            "DIVIDED BY",
            "EXACT",
            "ROUNDED",
        ])
        .right_aligned([1, 2, 4, 5]);
        for (c, t) in &e.totals {
            let unit = match (&t.tres, t.unit_seconds, t.factor) {
                (Some(tres), Some(unit), Some(factor)) if factor == Decimal::ONE => {
                    format!("{unit} s ({tres})")
                }
                (Some(tres), Some(unit), Some(factor)) => format!("{unit} s x {factor} ({tres})"),
                _ => String::new(),
            };
            let tres_seconds = match (&t.tres_seconds, &t.amount_rows) {
                (Some(s), Some(a)) => format!("{s} + amount rows {a}"),
                (Some(s), None) => s.to_string(),
                (None, Some(a)) => format!("amount rows {a}"),
                (None, None) => String::new(),
            };
            totals.add_row([
                c.clone(),
                t.rows.to_string(),
                tres_seconds,
                unit,
                t.exact.to_string(),
                t.amount.to_string(),
            ]);
        }
        text.push_str(&totals.render());
        text.push_str(&format!(
            "ROUNDED is what {whose} (2 decimals, half to even, rounded once)\n"
        ));
        if let Some(u) = &e.user {
            let cells: Vec<String> = e
                .cells
                .iter()
                .map(|(c, t)| format!("{c} {}", t.amount))
                .collect();
            text.push_str(&format!(
                "the whole cell (all users) is {}; {u} is one of {} user(s)\n",
                cells.join(", "),
                e.users.len()
            ));
        }
    }
    if e.user.is_none() && e.users.len() > 1 {
        text.push_str("\nPer user (the users' amounts add up to each cell):\n");
        let mut users = TextTable::new(&["USER", "COMPONENT", "ROWS", "EXACT", "AMOUNT"])
            .right_aligned([2, 3, 4]);
        for u in &e.users {
            for (c, t) in &u.components {
                users.add_row([
                    u.user.clone(),
                    c.clone(),
                    t.rows.to_string(),
                    t.exact.to_string(),
                    t.amount.to_string(),
                ]);
            }
        }
        text.push_str(&users.render());
    }
    text.push_str(&not_counted_text(&e.not_counted));
    text
}

fn not_counted_text(n: &tally_aggregate::explain::NotCounted) -> String {
    let mut text = String::from("\nNot counted:\n");
    let example = |x: &Example| {
        let mut s = format!("  {} ({}, {}) at {}", x.job, x.user, x.account, x.origin);
        if let Some(k) = &x.kept {
            s.push_str(&format!("; the record counted is {k}"));
        }
        if let Some(r) = &x.kept_resource {
            s.push_str(&format!(" (maps to {r})"));
        }
        if let Some(start) = &x.start {
            s.push_str(&format!("; start {start}"));
        }
        s.push('\n');
        s
    };
    text.push_str(&format!(
        "duplicates of this resource and month (another record of the same job counts): {}\n",
        n.duplicates.count
    ));
    n.duplicates
        .examples
        .iter()
        .for_each(|x| text.push_str(&example(x)));
    text.push_str(&format!(
        "started in this month after --as-of: {}\n",
        n.after_as_of.count
    ));
    n.after_as_of
        .examples
        .iter()
        .for_each(|x| text.push_str(&example(x)));
    text.push_str(&format!(
        "step lines of the jobs above (each repeats its job, counted once): {}\n",
        n.steps_of_rows.count
    ));
    for x in &n.steps_of_rows.examples {
        text.push_str(&format!("  {} (job {}) at {}\n", x.step, x.job, x.origin));
    }
    text.push_str(&format!(
        "in the whole read: {} step line(s) (they repeat their job), {} job(s) never started, \
         {} job(s) or row(s) of unmapped accounts, {} invalid line(s)\n",
        n.steps, n.not_started, n.unmapped, n.invalid.count
    ));
    for inv in &n.invalid.examples {
        text.push_str(&format!("  {inv}\n"));
    }
    if n.invalid.count > n.invalid.examples.len() as u64 {
        text.push_str(&format!(
            "  ... and {} more invalid line(s)\n",
            n.invalid.count - n.invalid.examples.len() as u64
        ));
    }
    text
}
