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
    /// `--by plan-period`: the cells of months with a plan switch, per plan period.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    plan_parts: &'a [tally_model::PlanPartCell],
    from: String,
    to: String,
    as_of: String,
}

/// `by_plan_period`: cells of a month with a plan switch are shown as their parts, one per plan
/// period (`-` where no switch happened, `none` for time in no plan period).
pub fn print_collection(
    c: &Collection,
    format: OutputFormat,
    w: &Window,
    by_plan_period: bool,
) -> io::Result<()> {
    match format {
        OutputFormat::Json => print_json(&CollectJson {
            usages: &c.usages,
            user_usages: &c.user_usages,
            invalid: &c.invalid,
            records: &c.records,
            unmapped: &c.unmapped,
            plan_parts: &c.plan_parts,
            from: w.range.from.to_string(),
            to: w.range.to.to_string(),
            as_of: w.as_of.to_rfc3339(),
        }),
        OutputFormat::Csv if by_plan_period => to_stdout(|out| {
            write_csv(
                out,
                &["resource", "period", "component", "plan_period", "amount"],
                by_plan_period_rows(c),
            )
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
        OutputFormat::Table if by_plan_period => {
            let mut table =
                TextTable::new(&["RESOURCE", "PERIOD", "COMPONENT", "PLAN PERIOD", "AMOUNT"])
                    .right_aligned([4]);
            for row in by_plan_period_rows(c) {
                table.add_row(row);
            }
            let text = table.render();
            to_stdout(|out| out.write_all(text.as_bytes()))
        }
        OutputFormat::Table => {
            let text = collection_table(c);
            to_stdout(|out| out.write_all(text.as_bytes()))
        }
    }
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

/// The current month of resources whose plan changed inside it: what was (or would be) sent
/// under each plan period, what Waldur already holds, and the parts not sent and why.
pub fn print_plan_periods(p: &tally_pipeline::plan_periods::PeriodPush, dry_run: bool) {
    let mut text = String::new();
    for (resource, month) in &p.billed_on_one_plan {
        text.push_str(&format!(
            "plan switch: {resource} {month} reported once: this server keeps one row per month, billed on one plan\n"
        ));
    }
    let sent = if dry_run { "to send" } else { "sent" };
    for r in &p.plan.requests {
        let outcome = p
            .results
            .iter()
            .find(|(q, _)| q == r)
            .map_or(
                sent,
                |(_, o)| if o.is_delivered() { sent } else { o.name() },
            );
        for (component, amount) in &r.items {
            text.push_str(&format!(
                "plan period {} ({}): {} {} {component} = {amount}: {outcome}\n",
                r.plan_period,
                r.plan_name.as_deref().unwrap_or("?"),
                r.backend_id,
                r.month
            ));
        }
    }
    for u in &p.plan.unchanged {
        text.push_str(&format!(
            "plan period {}: {} {} {} = {}: unchanged\n",
            u.plan_period
                .map_or_else(|| "none".to_owned(), |x| x.to_string()),
            u.backend_id,
            u.month,
            u.component,
            u.amount
        ));
    }
    for r in &p.plan.refused {
        let part = r.part();
        let kind = serde_json::to_value(r)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default();
        text.push_str(&format!(
            "NOT SENT ({kind}): {} {} {}: {}\n",
            part.backend_id,
            part.month,
            part.component,
            r.why()
        ));
    }
    to_stderr(&text);
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
