//! The one way tally prints: tables for people (comfy-table, borderless), CSV (`csv::Writer`)
//! and JSON for machines, and a closed pipe (`tally collect | head`) that is not an error. Every
//! command's printer lives here; the commands call it with what they computed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use comfy_table::{CellAlignment, Table};
use rust_decimal::Decimal;
use serde::Serialize;
use tally_aggregate::explain::{Cut, Example, RowKind};
use tally_aggregate::{Collection, Explanation};
use tally_check::{CheckReport, Difference, UserDifference};
use tally_pipeline::history::History;
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

/// `tally explain` on stdout: the JSON document (docs/explain.md), the rows and totals as CSV,
/// or tables for people (rows, totals with the rounding, users, what was not counted).
pub fn print_explanation(e: &Explanation, format: OutputFormat) -> io::Result<()> {
    match format {
        OutputFormat::Json => print_json(e),
        OutputFormat::Csv => to_stdout(|out| explanation_csv(out, e)),
        OutputFormat::Table => {
            let text = explanation_text(e);
            to_stdout(|out| out.write_all(text.as_bytes()))
        }
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

/// `tally history` on stdout: the JSON document, or the requests and the last check as tables.
pub fn print_history(h: &History, format: CheckFormat) -> io::Result<()> {
    match format {
        CheckFormat::Json => print_json(h),
        CheckFormat::Table => {
            let text = history_text(h);
            to_stdout(|out| out.write_all(text.as_bytes()))
        }
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
