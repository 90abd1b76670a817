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
    from: String,
    to: String,
    as_of: String,
}

/// `tally collect`'s output: the JSON document, the cells as CSV, or the table with totals over
/// the months `range` covers (counted up to `as_of`).
pub fn collection(
    out: &mut dyn Write,
    c: &Collection,
    format: Format,
    range: MonthRange,
    as_of: DateTime<Utc>,
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
                from: range.from.to_string(),
                to: range.to.to_string(),
                as_of: as_of.to_rfc3339(),
            },
        ),
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
