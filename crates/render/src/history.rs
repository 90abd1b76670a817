//! `tally history`: every request the ledger holds for a resource and the last check.

use std::io::{self, Write};

use tally_pipeline::history::History;

use crate::{json, Format, TextTable};

/// The history as one JSON document, or as tables for people (`Format::Csv` is not offered by
/// the command and prints the tables).
pub fn history(out: &mut dyn Write, h: &History, format: Format) -> io::Result<()> {
    match format {
        Format::Json => json(out, h),
        Format::Table | Format::Csv => out.write_all(history_text(h).as_bytes()),
    }
}

fn history_text(h: &History) -> String {
    let month = h.month.map(|m| format!(" {m}")).unwrap_or_default();
    let mut text = format!(
        "Requests for {}{month} (ledger {}), oldest first:\n",
        h.resource,
        h.ledger.display()
    );
    let mut table = TextTable::new(&[
        "SENT AT",
        "RUN",
        "MONTH",
        "PURPOSE",
        "AMOUNTS",
        "HELD BEFORE",
        "OUTCOME",
        "HTTP",
        "MESSAGE",
    ]);
    for r in &h.requests {
        let (amounts, held): (Vec<String>, Vec<String>) = if r.users.is_empty() {
            r.amounts
                .iter()
                .map(|a| {
                    (
                        format!("{}={}", a.component, a.amount),
                        format!("{}={}", a.component, a.held.as_deref().unwrap_or("-")),
                    )
                })
                .unzip()
        } else {
            let users = r
                .users
                .iter()
                .map(|u| format!("{}:{}={}", u.component, u.username, u.amount))
                .collect();
            (users, Vec::new())
        };
        let run = match &r.command {
            Some(c) => format!("{} ({c})", r.run_id),
            None => r.run_id.clone(),
        };
        table.add_row([
            r.started_at.clone(),
            run,
            r.month.clone(),
            r.purpose.clone(),
            amounts.join(" "),
            held.join(" "),
            r.outcome.clone(),
            r.http_status.map(|s| s.to_string()).unwrap_or_default(),
            r.message.clone().unwrap_or_default().replace('\n', " "),
        ]);
    }
    if table.is_empty() {
        text.push_str("(no request recorded)\n");
    } else {
        text.push_str(&table.render());
    }
    text.push_str("\nLast check:\n");
    let mut checks = TextTable::new(&[
        "MONTH",
        "COMPONENT",
        "RESULT",
        "TALLY",
        "WALDUR",
        "CHECKED AT",
        "RUN",
    ])
    .right_aligned([3, 4]);
    for c in &h.last_check {
        checks.add_row([
            c.cell.month.clone(),
            c.cell.component.clone(),
            c.cell.result.clone(),
            c.cell.tally.clone().unwrap_or_else(|| "-".into()),
            c.cell.waldur.clone().unwrap_or_else(|| "-".into()),
            c.checked_at.clone(),
            c.run_id.clone().unwrap_or_else(|| "(tally check)".into()),
        ]);
    }
    if checks.is_empty() {
        text.push_str("(no check recorded)\n");
    } else {
        text.push_str(&checks.render());
    }
    text
}
