//! `tally check`'s report (also at the end of `run` and `replay`).

use std::io::{self, Write};

use rust_decimal::Decimal;
use tally_check::{CheckReport, Difference, UserDifference};

use crate::TextTable;

/// `tally check --format json`: the report as it is.
pub fn check_json(out: &mut dyn Write, report: &CheckReport) -> io::Result<()> {
    crate::json(out, report)
}

/// `tally check`'s report for people: a line when everything agrees, else the tables of
/// differences and their counts.
pub fn check_text(r: &CheckReport) -> String {
    let months: Vec<String> = r.months.iter().map(|m| m.to_string()).collect();
    let users = if r.users_compared {
        format!(" and {} user share(s)", r.agreeing_users)
    } else {
        String::new()
    };
    let findings = invoicing_text(r);
    if r.agrees() {
        return format!(
            "{findings}Waldur holds exactly what tally computes: {} cell(s){users} in {}\n",
            r.agreeing,
            months.join(", ")
        );
    }
    let mut text = findings;
    if !r.differences.is_empty() {
        text.push_str(&cell_differences(r));
    }
    if !r.user_differences.is_empty() {
        text.push_str("Per-user differences:\n");
        text.push_str(&user_differences(r));
    }
    text.push_str(&format!(
        "{} difference(s), {} per-user difference(s); {} cell(s){users} agree\n",
        r.differences.len(),
        r.user_differences.len(),
        r.agreeing
    ));
    text
}

/// "Will it be invoiced?": each finding with its kind, where to fix it and what to do.
fn invoicing_text(r: &CheckReport) -> String {
    let mut text = String::new();
    for f in &r.invoicing {
        let v = serde_json::to_value(f).unwrap_or_default();
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_owned();
        let level = match f.severity() {
            tally_check::invoicing::Severity::Error => "INVOICING",
            tally_check::invoicing::Severity::Warning => "invoicing warning",
        };
        let fix_at = serde_json::to_value(f.fix_at()).unwrap_or_default();
        text.push_str(&format!(
            "{level}: {} {} {} {}: {} (fix at: {})\n",
            f.kind(),
            match field("backend_id").as_str() {
                "-" => field("resource"),
                b => b.to_owned(),
            },
            field("month"),
            field("component"),
            f.advice(),
            fix_at.as_str().unwrap_or("-")
        ));
    }
    if let Some(why) = &r.invoice_items {
        text.push_str(&format!("invoice items: {why}\n"));
    }
    text
}

/// The TALLY and WALDUR cells of a difference: `-` on the side that has nothing.
fn sides(expected: Option<&Decimal>, held: Option<&Decimal>) -> [String; 2] {
    let cell = |d: Option<&Decimal>| d.map_or_else(|| "-".to_owned(), Decimal::to_string);
    [cell(expected), cell(held)]
}

fn cell_differences(r: &CheckReport) -> String {
    let mut table = TextTable::new(&["RESOURCE", "PERIOD", "COMPONENT", "KIND", "TALLY", "WALDUR"])
        .right_aligned([4, 5]);
    for d in &r.differences {
        let [tally, waldur] = match d {
            Difference::Missing { expected, .. } => sides(Some(expected), None),
            Difference::Different { expected, held, .. } => sides(Some(expected), Some(held)),
            Difference::Unexpected { held, .. } => sides(None, Some(held)),
        };
        let (backend, month, component) = d.key();
        let kind = match d {
            Difference::Missing { cell, .. } if cell.resource.is_none() => {
                "missing (no such resource)"
            }
            other => other.kind(),
        };
        table.add_row([
            backend.to_owned(),
            month.to_string(),
            component.to_owned(),
            kind.to_owned(),
            tally,
            waldur,
        ]);
    }
    table.render()
}

fn user_differences(r: &CheckReport) -> String {
    let mut table = TextTable::new(&[
        "RESOURCE",
        "PERIOD",
        "COMPONENT",
        "USER",
        "KIND",
        "TALLY",
        "WALDUR",
    ])
    .right_aligned([5, 6]);
    for d in &r.user_differences {
        let [tally, waldur] = match d {
            UserDifference::Missing { expected, .. } => sides(Some(expected), None),
            UserDifference::Different { expected, held, .. } => sides(Some(expected), Some(held)),
            UserDifference::Unexpected { held, .. } => sides(None, Some(held)),
        };
        let (backend, month, component, user) = d.key();
        table.add_row([
            backend.to_owned(),
            month.to_string(),
            component.to_owned(),
            user.to_owned(),
            d.kind().to_owned(),
            tally,
            waldur,
        ]);
    }
    table.render()
}
