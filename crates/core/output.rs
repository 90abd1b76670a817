//! The one way tally prints: tables for people (comfy-table, borderless), CSV (`csv::Writer`)
//! and JSON for machines, and a closed pipe (`tally collect | head`) that is not an error. Every
//! command's printer lives here; the commands call it with what they computed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use comfy_table::{CellAlignment, Table};
use rust_decimal::Decimal;
use serde::Serialize;
use tally_aggregate::Collection;
use tally_check::{CheckReport, Difference, UserDifference};
use tally_push::{Plan, Summary, UserPlan};

use crate::args::OutputFormat;
use crate::check::CheckFormat;
use crate::collect::Window;

/// A borderless table: columns two spaces apart, as wide as their widest cell, left-aligned
/// unless [`TextTable::right_aligned`] (amounts), no trailing blanks. Cells are printed as
/// given: callers cut or flatten them first where a terminal needs it.
pub struct TextTable {
    table: Table,
    right: Vec<usize>,
}

impl TextTable {
    /// A table under `header`; an empty header prints no header line.
    pub fn new<S: ToString>(header: &[S]) -> Self {
        let mut table = Table::new();
        table.load_style(comfy_table::presets::NOTHING);
        if !header.is_empty() {
            table.set_header(header.iter().map(ToString::to_string));
        }
        TextTable {
            table,
            right: Vec::new(),
        }
    }

    /// Right-aligns the columns at these indices (header included).
    pub fn right_aligned(mut self, columns: impl IntoIterator<Item = usize>) -> Self {
        self.right.extend(columns);
        self
    }

    pub fn add_row<S: ToString>(&mut self, row: impl IntoIterator<Item = S>) {
        self.table
            .add_row(row.into_iter().map(|c| c.to_string()).collect::<Vec<_>>());
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The lines, each ending in a newline; nothing when there is neither header nor row.
    pub fn render(mut self) -> String {
        for (i, column) in self.table.column_iter_mut().enumerate() {
            column.set_padding((if i == 0 { 0 } else { 2 }, 0));
            if self.right.contains(&i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        let mut text = String::new();
        if self.table.header().is_none() && self.table.is_empty() {
            return text;
        }
        for line in self.table.lines() {
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Writes to stdout through one buffer; a closed pipe is not an error (the reader has all it
/// wanted).
pub fn to_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    ignore_broken_pipe(write(&mut out).and_then(|()| out.flush()))
}

/// Text for people on stderr (summaries beside the data on stdout). Best effort: a closed stderr
/// must not turn a finished push into a failure.
pub fn to_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

fn ignore_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Pretty JSON and a newline on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    to_stdout(|out| {
        serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
        writeln!(out)
    })
}

/// CSV with a header row, fields quoted where they must be (RFC 4180).
pub fn write_csv<S: AsRef<str>>(
    out: &mut dyn Write,
    header: &[S],
    rows: impl IntoIterator<Item = impl IntoIterator<Item = impl AsRef<str>>>,
) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
    w.write_record(header.iter().map(|h| h.as_ref()))
        .map_err(csv_error)?;
    for row in rows {
        w.write_record(row.into_iter().map(|c| c.as_ref().to_owned()))
            .map_err(csv_error)?;
    }
    w.flush()
}

/// Keeps an I/O error's kind (a closed pipe stays one).
fn csv_error(e: csv::Error) -> io::Error {
    if !e.is_io_error() {
        return io::Error::other(e);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

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

pub fn print_collection(c: &Collection, format: OutputFormat, w: &Window) -> io::Result<()> {
    match format {
        OutputFormat::Json => print_json(&CollectJson {
            usages: &c.usages,
            user_usages: &c.user_usages,
            invalid: &c.invalid,
            records: &c.records,
            unmapped: &c.unmapped,
            from: w.range.from.to_string(),
            to: w.range.to.to_string(),
            as_of: w.as_of.to_rfc3339(),
        }),
        OutputFormat::Csv => to_stdout(|out| {
            write_csv(
                out,
                &["resource", "period", "component", "amount"],
                c.usages.iter().map(|u| {
                    [
                        u.resource.clone(),
                        u.period.to_string(),
                        u.component.clone(),
                        u.amount.to_string(),
                    ]
                }),
            )
        }),
        OutputFormat::Table => {
            let text = collection_table(c);
            to_stdout(|out| out.write_all(text.as_bytes()))
        }
    }
}

/// Rows per cell, and a total per resource and component over the months shown.
fn collection_table(c: &Collection) -> String {
    let mut table =
        TextTable::new(&["RESOURCE", "PERIOD", "COMPONENT", "AMOUNT"]).right_aligned([3]);
    for cells in c.usages.chunk_by(|a, b| a.resource == b.resource) {
        let mut totals: BTreeMap<&str, Decimal> = BTreeMap::new();
        let mut months = BTreeSet::new();
        for u in cells {
            table.add_row([
                u.resource.clone(),
                u.period.to_string(),
                u.component.clone(),
                u.amount.to_string(),
            ]);
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

/// `tally check`'s report on stdout: the JSON document, or the tables of differences.
pub fn print_check(report: &CheckReport, format: CheckFormat) -> io::Result<()> {
    match format {
        CheckFormat::Json => print_json(report),
        CheckFormat::Table => {
            let text = check_text(report);
            to_stdout(|out| out.write_all(text.as_bytes()))
        }
    }
}

fn check_text(r: &CheckReport) -> String {
    let months: Vec<String> = r.months.iter().map(|m| m.to_string()).collect();
    let users = if r.users_compared {
        format!(" and {} user share(s)", r.agreeing_users)
    } else {
        String::new()
    };
    if r.agrees() {
        return format!(
            "Waldur holds exactly what tally computes: {} cell(s){users} in {}\n",
            r.agreeing,
            months.join(", ")
        );
    }
    let mut text = String::new();
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
            Difference::Missing { resource: None, .. } => "missing (no such resource)",
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

/// `push --dry-run` on stdout: every request exactly as it would be sent, minus the
/// Authorization header.
pub fn print_dry_run(
    client: &tally_waldur::WaldurClient,
    plan: &Plan,
    users: Option<&UserPlan>,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for r in &plan.requests {
        let preview = client.preview_set_usage(&r.to_request())?;
        let held: Vec<String> = r
            .items
            .iter()
            .zip(&r.held)
            .map(|((c, _), h)| match h {
                Some(h) => format!("{c}={h}"),
                None => format!("{c}=(none)"),
            })
            .collect();
        text.push_str(&format!(
            "# {} {} (Waldur holds {})\n{} {}\n{}\n",
            r.target.backend_id,
            r.month,
            held.join(" "),
            preview.method,
            preview.url,
            preview.body.unwrap_or_default()
        ));
    }
    let user_requests = users.map(|u| u.requests.as_slice()).unwrap_or_default();
    for r in user_requests {
        // The record a new total creates has no uuid before it exists.
        let record = r
            .component_usage
            .map(|u| u.simple().to_string())
            .unwrap_or_else(|| "{created by the set_usage above}".to_owned());
        let held: Vec<String> = r
            .users
            .iter()
            .map(|u| match u.held {
                Some(h) => format!("{}={h}", u.username),
                None => format!("{}=(none)", u.username),
            })
            .collect();
        let body = serde_json::json!({ "usages": r.to_requests() });
        text.push_str(&format!(
            "# {} {} {} per user (Waldur holds {})\nPOST {}marketplace-component-usages/{record}/set_user_usages/\n{}\n",
            r.target.backend_id,
            r.month,
            r.component,
            held.join(" "),
            client.base_url(),
            serde_json::to_string_pretty(&body)?
        ));
    }
    if plan.requests.is_empty() && user_requests.is_empty() {
        text.push_str("# nothing to send\n");
    }
    Ok(to_stdout(|out| out.write_all(text.as_bytes()))?)
}

/// The push summary on stderr: a row per resource, the totals, and what was held back.
pub fn print_summary(summary: &Summary, dry_run: bool) {
    to_stderr(&summary_text(summary, dry_run));
}

fn summary_text(summary: &Summary, dry_run: bool) -> String {
    let pushed = if dry_run { "TO SEND" } else { "PUSHED" };
    let mut table = TextTable::new(&[
        "RESOURCE",
        pushed,
        "UNCHANGED",
        "FAILED",
        "CLOSED",
        "REFUSED",
        "UNMAPPED",
        "HELD",
    ])
    .right_aligned(1..8);
    let counts = |name: &str, c: &tally_push::Counts| {
        [
            name.to_owned(),
            c.pushed.to_string(),
            c.unchanged.to_string(),
            c.failed.to_string(),
            c.closed.to_string(),
            c.refused.to_string(),
            c.unmapped.to_string(),
            c.held_back.to_string(),
        ]
    };
    for (name, c) in &summary.resources {
        table.add_row(counts(name, c));
    }
    table.add_row(counts("total (cells)", &summary.total));
    if let Some(u) = &summary.user_usages {
        table.add_row([
            "per-user breakdowns".to_owned(),
            u.pushed.to_string(),
            u.unchanged.to_string(),
            u.failed.to_string(),
            u.closed.to_string(),
            u.refused.to_string(),
        ]);
    }
    let mut text = table.render();
    if let Some(u) = summary
        .user_usages
        .as_ref()
        .filter(|u| !u.unknown_users.is_empty())
    {
        text.push_str(&format!(
            "unknown usernames (no offering user; reported by username alone): {}\n",
            u.unknown_users.join(", ")
        ));
    }
    if !summary.held_back.is_empty() {
        text.push_str(
            "Held back by the drop guard (nothing sent; --allow-decrease applies them):\n",
        );
        let mut held = TextTable::new(&[
            "RESOURCE",
            "MONTH",
            "COMPONENT",
            "WALDUR HOLDS",
            "TALLY",
            "WHY",
        ])
        .right_aligned([3, 4]);
        for h in &summary.held_back {
            held.add_row([
                h.resource.clone(),
                h.month.to_string(),
                h.component.clone(),
                h.held.to_string(),
                h.computed.to_string(),
                h.why.clone(),
            ]);
        }
        text.push_str(&held.render());
    }
    if !summary.over_limit.is_empty() {
        text.push_str("Refused by Waldur as over the component's limit (the components before the refused one in the same report were written: the server is not atomic here; `tally limits` shows where each allocation stands):\n");
        let mut over = TextTable::new(&["RESOURCE", "MONTH", "SENT", "PERIOD WITH IT", "LIMIT"])
            .right_aligned([3, 4]);
        for o in &summary.over_limit {
            let sent: Vec<String> = o.sent.iter().map(|(c, a)| format!("{c}={a}")).collect();
            over.add_row([
                o.resource.clone(),
                o.month.to_string(),
                sent.join(" "),
                o.total.to_string(),
                o.limit.to_string(),
            ]);
        }
        text.push_str(&over.render());
    }
    if summary.not_delivered() > 0 {
        text.push_str(&format!(
            "{} cell(s) or per-user breakdown(s) not delivered (see the messages above and the ledger)\n",
            summary.not_delivered()
        ));
    }
    text
}

/// One summary on stderr (through the log), with every line accounted for.
pub fn summarize(c: &Collection) {
    let r = &c.records;
    tracing::info!(
        lines = r.lines,
        jobs = r.jobs,
        steps = r.steps,
        duplicates = r.duplicates,
        not_started = r.not_started,
        unmapped = r.unmapped,
        invalid = r.invalid,
        cells = c.usages.len(),
        "collected"
    );
    for inv in &c.invalid {
        tracing::warn!("invalid record: {inv}");
    }
    if r.invalid > c.invalid.len() as u64 {
        tracing::warn!(
            "... and {} more invalid records",
            r.invalid - c.invalid.len() as u64
        );
    }
    for u in &c.unmapped {
        tracing::warn!(account = %u.account, jobs = u.jobs, "account maps to no Waldur resource: not reported");
    }
}

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
pub fn print_limits(
    standings: &[tally_limits::ResourceStanding],
    format: OutputFormat,
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
        OutputFormat::Json => print_json(&serde_json::json!({ "resources": standings })),
        OutputFormat::Csv => {
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
            to_stdout(|out| {
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
            })
        }
        OutputFormat::Table => {
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
            to_stdout(|out| out.write_all(text.as_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut out = Vec::new();
        write_csv(
            &mut out,
            &["resource", "note"],
            [["proj,a", "say \"hi\""], ["plain", "two\nlines"]],
        )
        .expect("csv");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "resource,note\n\"proj,a\",\"say \"\"hi\"\"\"\nplain,\"two\nlines\"\n"
        );
    }

    #[test]
    fn tables_are_two_spaces_apart_with_amounts_on_the_right() {
        let mut t = TextTable::new(&["RESOURCE", "AMOUNT", "NOTE"]).right_aligned([1]);
        t.add_row(["proj_alpha", "1536.00", ""]);
        t.add_row(["b", "7.5", "x"]);
        assert_eq!(
            t.render(),
            "RESOURCE     AMOUNT  NOTE\nproj_alpha  1536.00\nb               7.5  x\n"
        );
        assert_eq!(TextTable::new::<&str>(&[]).render(), "");
    }

    #[test]
    fn the_push_summary_lines_up_resources_totals_and_held_back_cells() {
        let mut summary = Summary::default();
        summary.resources.insert(
            "proj_alpha".into(),
            tally_push::Counts {
                pushed: 12,
                ..Default::default()
            },
        );
        summary.total.pushed = 12;
        summary.held_back.push(tally_push::HeldBackCell {
            resource: "proj_gone".into(),
            resource_uuid: uuid::Uuid::from_u128(4),
            month: "2026-10".parse().expect("month"),
            component: "gpu".into(),
            held: Decimal::new(4000, 2),
            computed: Decimal::new(0, 2),
            why: "tally computes nothing".into(),
        });
        let text = summary_text(&summary, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "RESOURCE       TO SEND  UNCHANGED  FAILED  CLOSED  REFUSED  UNMAPPED  HELD",
                "proj_alpha          12          0       0       0        0         0     0",
                "total (cells)       12          0       0       0        0         0     0",
                "Held back by the drop guard (nothing sent; --allow-decrease applies them):",
                "RESOURCE   MONTH    COMPONENT  WALDUR HOLDS  TALLY  WHY",
                "proj_gone  2026-10  gpu               40.00   0.00  tally computes nothing",
            ]
        );
    }
}
