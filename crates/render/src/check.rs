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
        let cell = f.cell();
        // The backend_id is named by the kinds that know it; the rest name the resource's uuid.
        let backend_id = serde_json::to_value(f)
            .ok()
            .and_then(|v| v.get("backend_id")?.as_str().map(str::to_owned));
        let level = match f.severity() {
            tally_check::invoicing::Severity::Error => "INVOICING",
            tally_check::invoicing::Severity::Warning => "invoicing warning",
        };
        let fix_at = serde_json::to_value(f.fix_at()).unwrap_or_default();
        text.push_str(&format!(
            "{level}: {} {} {} {}: {} (fix at: {})\n",
            f.kind(),
            backend_id.unwrap_or_else(|| cell.resource.to_string()),
            cell.month,
            cell.component,
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

#[cfg(test)]
mod tests {
    use tally_check::invoicing::{FindingCell, InvoicingFinding};
    use tally_check::CheckReport;
    use uuid::Uuid;

    /// Each finding is one line an operator can act on: its level, kind, the resource (by
    /// backend_id where the finding knows it, else its uuid), month, component, advice and
    /// where to fix it.
    #[test]
    fn each_invoicing_finding_is_one_line_naming_its_cell() {
        let resource = Uuid::from_bytes([7; 16]);
        let month = "2026-11".parse().expect("month");
        let report = CheckReport {
            invoicing: vec![
                InvoicingFinding::ComponentWithoutPrice {
                    backend_id: "alpha".into(),
                    cell: FindingCell::new(resource, month, "gpu"),
                    plan: None,
                    plan_name: Some("small".into()),
                },
                InvoicingFinding::UsageWithoutPlanPeriod {
                    cell: FindingCell::new(resource, month, "cpu"),
                    held: "3.50".parse().expect("amount"),
                },
            ],
            ..Default::default()
        };
        let text = super::invoicing_text(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("INVOICING: component_without_price alpha 2026-11 gpu: "),
            "{text}"
        );
        assert!(lines[0].ends_with("(fix at: offering_plan)"), "{text}");
        assert!(
            lines[1].starts_with(&format!(
                "INVOICING: usage_without_plan_period {resource} 2026-11 cpu: "
            )),
            "{text}"
        );
    }
}
