//! `tally collect`'s output.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tally_aggregate::Collection;
use tally_model::MonthRange;

use crate::{write_csv, Format, TextTable};

/// The `collect --format json` document. Extra keys beyond the documented ones are allowed.
#[derive(Serialize)]
struct CollectJson<'a> {
    usages: &'a [tally_model::UsageCell],
    user_usages: &'a [tally_model::UserUsageCell],
    invalid: &'a [tally_model::InvalidRecord],
    records: &'a tally_aggregate::RecordCounts,
    unmapped: &'a [tally_aggregate::UnmappedAccount],
    /// `--by plan-period`: the cells of months with a plan switch, per plan period.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    plan_parts: &'a [tally_model::PlanPartCell],
    from: String,
    to: String,
    as_of: String,
}

/// `tally collect`'s output: the JSON document, the cells as CSV, or the table with totals over
/// the months `range` covers (counted up to `as_of`). `by_plan_period`: cells of a month with a
/// plan switch are shown as their parts, one per plan period (`-` where no switch happened,
/// `none` for time in no plan period).
pub fn collection(
    out: &mut dyn Write,
    c: &Collection,
    format: Format,
    range: MonthRange,
    as_of: DateTime<Utc>,
    by_plan_period: bool,
) -> io::Result<()> {
    match format {
        Format::Json => crate::json(
            out,
            &CollectJson {
                usages: &c.usages,
                user_usages: &c.user_usages,
                invalid: &c.invalid,
                records: &c.records,
                unmapped: &c.unmapped,
                plan_parts: &c.plan_parts,
                from: range.from.to_string(),
                to: range.to.to_string(),
                as_of: as_of.to_rfc3339(),
            },
        ),
        Format::Csv if by_plan_period => write_csv(
            out,
            &["resource", "period", "component", "plan_period", "amount"],
            by_plan_period_rows(c),
        ),
        Format::Table if by_plan_period => {
            let mut table =
                TextTable::new(&["RESOURCE", "PERIOD", "COMPONENT", "PLAN PERIOD", "AMOUNT"])
                    .right_aligned([4]);
            for row in by_plan_period_rows(c) {
                table.add_row(row);
            }
            out.write_all(table.render().as_bytes())
        }
        Format::Csv => write_csv(
            out,
            &["resource", "period", "component", "amount"],
            c.usages.iter().map(cell_row),
        ),
        Format::Table => out.write_all(collection_table(c).as_bytes()),
    }
}

/// A cell as the four columns of the table and the CSV.
fn cell_row(u: &tally_model::UsageCell) -> [String; 4] {
    [
        u.resource.clone(),
        u.period.to_string(),
        u.component.clone(),
        u.amount.to_string(),
    ]
}

/// (resource, month, component, plan period, amount): a cell, or its parts where the month had a
/// plan switch.
fn by_plan_period_rows(c: &Collection) -> Vec<[String; 5]> {
    let mut rows = Vec::new();
    for u in &c.usages {
        let parts: Vec<&tally_model::PlanPartCell> = c
            .plan_parts
            .iter()
            .filter(|p| {
                (&p.resource, p.period, &p.component) == (&u.resource, u.period, &u.component)
            })
            .collect();
        let row = |period: String, amount: &Decimal| {
            [
                u.resource.clone(),
                u.period.to_string(),
                u.component.clone(),
                period,
                amount.to_string(),
            ]
        };
        if parts.is_empty() {
            rows.push(row("-".into(), &u.amount));
        }
        for p in parts {
            let period = p
                .plan_period
                .map_or_else(|| "none".into(), |x| x.to_string());
            rows.push(row(period, &p.amount));
        }
    }
    rows
}

/// Rows per cell, and a total per resource and component over the months shown.
fn collection_table(c: &Collection) -> String {
    let mut table =
        TextTable::new(&["RESOURCE", "PERIOD", "COMPONENT", "AMOUNT"]).right_aligned([3]);
    for cells in c.usages.chunk_by(|a, b| a.resource == b.resource) {
        let mut totals: BTreeMap<&str, Decimal> = BTreeMap::new();
        let mut months = BTreeSet::new();
        for u in cells {
            table.add_row(cell_row(u));
            *totals.entry(&u.component).or_default() += u.amount;
            months.insert(u.period);
        }
        if months.len() > 1 {
            for (component, total) in totals {
                table.add_row([
                    cells[0].resource.clone(),
                    "total".into(),
                    component.to_owned(),
                    total.to_string(),
                ]);
            }
        }
    }
    let empty = table.is_empty();
    let mut text = table.render();
    if empty {
        text.push_str("(no usage in the selected months)\n");
    }
    text
}
