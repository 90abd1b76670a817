//! `tally limits`: where every allocation stands against its limits.

use std::io::{self, Write};

use rust_decimal::Decimal;

use crate::{json, write_csv, Format, TextTable};

/// The months of a limit's period in runs of one source: `waldur 2026-01..2026-10 = 500.00`.
fn limit_sources(c: &tally_limits::ComponentStanding) -> String {
    let mut runs: Vec<(tally_limits::Source, String, String, Decimal)> = Vec::new();
    for u in &c.months {
        match runs.last_mut() {
            Some((s, _, last, sum)) if *s == u.source => {
                *last = u.month.to_string();
                *sum += u.amount;
            }
            _ => runs.push((u.source, u.month.to_string(), u.month.to_string(), u.amount)),
        }
    }
    runs.iter()
        .map(|(s, first, last, sum)| {
            let months = if first == last {
                first.clone()
            } else {
                format!("{first}..{last}")
            };
            format!("{} {months} = {sum}", s.name())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn limit_period(c: &tally_limits::ComponentStanding) -> String {
    let span = match (c.period_start, c.period_end) {
        (Some(s), Some(e)) if s == e => format!(" {s}"),
        (Some(s), Some(e)) => format!(" {s}..{e}"),
        _ => String::new(),
    };
    let assumed = if c.period_assumed {
        " (component names none)"
    } else {
        ""
    };
    format!("{}{span}{assumed}", c.summed_over)
}

/// `tally limits`: a row per resource, component and kind of limit; a missing limit is said,
/// never shown as 0 %.
pub fn limits(
    out: &mut dyn Write,
    standings: &[tally_limits::ResourceStanding],
    format: Format,
) -> io::Result<()> {
    let share = |l: &tally_limits::LimitStanding| match (l.limit, l.share_percent) {
        (None, _) => "no limit".to_owned(),
        (Some(_), Some(p)) => format!("{p}%"),
        (Some(_), None) => "limit is 0".to_owned(),
    };
    let amount = |l: &tally_limits::LimitStanding| match l.limit {
        Some(a) => a.to_string(),
        None => "none".to_owned(),
    };
    match format {
        Format::Json => json(out, &serde_json::json!({ "resources": standings })),
        Format::Csv => {
            let mut rows = Vec::new();
            for r in standings {
                for c in &r.components {
                    for l in &c.limits {
                        rows.push(vec![
                            r.backend_id.clone(),
                            r.resource_uuid.simple().to_string(),
                            c.component.clone(),
                            l.kind.name().to_owned(),
                            c.summed_over.name().to_owned(),
                            c.period_assumed.to_string(),
                            c.period_start.map(|m| m.to_string()).unwrap_or_default(),
                            c.period_end.map(|m| m.to_string()).unwrap_or_default(),
                            l.limit.map(|a| a.to_string()).unwrap_or_default(),
                            c.used.to_string(),
                            c.current_month.to_string(),
                            l.share_percent.map(|p| p.to_string()).unwrap_or_default(),
                            l.remaining.map(|p| p.to_string()).unwrap_or_default(),
                            l.reach.to_string(),
                            limit_sources(c),
                            c.note.clone().unwrap_or_default(),
                        ]);
                    }
                }
            }
            write_csv(
                out,
                &[
                    "resource",
                    "resource_uuid",
                    "component",
                    "limit_kind",
                    "period",
                    "period_assumed",
                    "period_start",
                    "period_end",
                    "limit",
                    "used",
                    "current_month",
                    "share_percent",
                    "remaining",
                    "reached",
                    "sources",
                    "note",
                ],
                rows,
            )
        }
        Format::Table => {
            let mut table = TextTable::new(&[
                "RESOURCE",
                "COMPONENT",
                "LIMIT",
                "PERIOD",
                "AMOUNT",
                "USED",
                "SHARE",
                "REACHED AT THIS MONTH'S RATE",
                "SOURCES",
            ])
            .right_aligned([4, 5, 6]);
            let mut notes = Vec::new();
            for r in standings {
                if !r.has_limits {
                    notes.push(format!(
                        "{}: the resource has no limits of its own",
                        r.backend_id
                    ));
                }
                for c in &r.components {
                    for l in &c.limits {
                        table.add_row([
                            r.backend_id.clone(),
                            c.component.clone(),
                            l.kind.name().to_owned(),
                            limit_period(c),
                            amount(l),
                            c.used.to_string(),
                            share(l),
                            l.reach.to_string(),
                            limit_sources(c),
                        ]);
                    }
                    if let Some(n) = &c.note {
                        notes.push(format!("{} {}: {n}", r.backend_id, c.component));
                    }
                }
            }
            let mut text = table.render();
            for n in notes {
                text.push_str(&format!("note: {n}\n"));
            }
            out.write_all(text.as_bytes())
        }
    }
}
