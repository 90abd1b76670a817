//! `--format table|json|csv` of the provider operations.
//!
//! Items are serialised once to JSON (the typed client's structs, with Waldur's field names) and
//! every format is cut from that: JSON prints it, table and CSV pick columns by key. uuids are
//! written in Waldur's own 32-hex form everywhere, so a value copied from any output matches what
//! the server sends and what tally accepts.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value};
use tally_ops::Outcome;

use crate::{write_csv, Format, TextTable};

/// A table cell longer than this is cut (table only; JSON and CSV keep everything), so rows with
/// an SSH key or a long description still fit a terminal. The last column is never cut: it holds
/// the messages of mutating commands, which must be read whole, and cannot push others aside.
const MAX_CELL: usize = 60;

/// Items of a list command and where they sit in the whole listing.
pub use tally_ops::Listing;

/// The `--format json` document of list commands.
#[derive(Serialize)]
struct ListJson<'a> {
    items: &'a [Value],
    count: usize,
    total: Option<u64>,
    page: Option<u32>,
    has_next: bool,
}

/// A serialisable value as JSON, uuids in 32-hex form, restricted to `only` keys when given.
pub fn to_json<T: Serialize>(v: &T, only: Option<&[String]>) -> io::Result<Value> {
    let mut v = serde_json::to_value(v).map_err(io::Error::other)?;
    simple_uuids(&mut v);
    if let (Some(only), Value::Object(m)) = (only, &mut v) {
        m.retain(|k, _| k == "uuid" || only.iter().any(|o| o == k));
    }
    Ok(v)
}

/// Rewrites the values of `uuid` and `*_uuid` keys (and only those: a `backend_id` that happens to
/// look like a uuid stays as it is) to the 32-hex form.
fn simple_uuids(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                if k == "uuid" || k.ends_with("_uuid") {
                    if let Value::String(s) = item {
                        if let Ok(u) = uuid::Uuid::parse_str(s) {
                            *s = u.simple().to_string();
                        }
                    }
                } else {
                    simple_uuids(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(simple_uuids),
        _ => {}
    }
}

/// One cell's text: strings as they are, `null` empty, maps as `k=v, ...`, lists joined.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Object(m) if m.contains_key("header") => cell(m.get("header")),
                Value::Object(m) if m.contains_key("type") && m.contains_key("usage") => {
                    format!("{}={}", cell(m.get("type")), cell(m.get("usage")))
                }
                Value::Object(_) | Value::Array(_) => i.to_string(),
                other => cell(Some(other)),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(Some(v))))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn field<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.as_object()
        .and_then(|m: &Map<String, Value>| m.get(key))
}

/// A list in the chosen format; `columns` are JSON keys (table and CSV), `only` restricts the
/// JSON items to those keys (for `--field`).
pub fn list<T: Serialize>(
    out: &mut dyn Write,
    format: Format,
    listing: &Listing<T>,
    columns: &[String],
    only: Option<&[String]>,
) -> io::Result<()> {
    let items = listing
        .items
        .iter()
        .map(|i| to_json(i, only))
        .collect::<io::Result<Vec<_>>>()?;
    if format == Format::Json {
        return crate::json(
            out,
            &ListJson {
                items: &items,
                count: items.len(),
                total: listing.total,
                page: listing.page,
                has_next: listing.has_next,
            },
        );
    }
    let rows: Vec<Vec<String>> = items.iter().map(|i| row_of(i, columns)).collect();
    self::rows(out, format, columns, &rows)
}

/// Where a single page sits in the listing, for people (`page 2: 100 items of 250; next: --page
/// 3`); nothing for a whole listing.
pub fn page_note<T>(listing: &Listing<T>) -> Option<String> {
    let page = listing.page?;
    let total = listing
        .total
        .map(|t| format!(" of {t}"))
        .unwrap_or_default();
    let next = if listing.has_next {
        format!("; next: --page {}", page.saturating_add(1))
    } else {
        String::new()
    };
    Some(format!(
        "page {page}: {} items{total}{next}",
        listing.items.len()
    ))
}

/// One object: a two-column key/value table, one CSV row, or the JSON object.
pub fn object<T: Serialize>(
    out: &mut dyn Write,
    format: Format,
    obj: &T,
    columns: &[String],
) -> io::Result<()> {
    let v = to_json(obj, None)?;
    match format {
        Format::Json => crate::json(out, &v),
        Format::Csv => write_csv(out, columns, [row_of(&v, columns)]),
        Format::Table => {
            let rows: Vec<Vec<String>> = columns
                .iter()
                .map(|c| vec![c.clone(), cell(field(&v, c))])
                .collect();
            out.write_all(format_table(&[], &rows, None).as_bytes())
        }
    }
}

/// Rows of values as a table (upper-case headers, `(none)` under them when there is no row) or
/// CSV (keys as headers): the one way lists of rows are printed.
pub fn rows(
    out: &mut dyn Write,
    format: Format,
    columns: &[String],
    rows: &[Vec<String>],
) -> io::Result<()> {
    if format == Format::Csv {
        write_csv(out, columns, rows)
    } else {
        table(out, columns, rows, rows.is_empty().then_some("(none)"))
    }
}

fn table(
    out: &mut dyn Write,
    columns: &[String],
    rows: &[Vec<String>],
    empty: Option<&str>,
) -> io::Result<()> {
    let headers: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    out.write_all(format_table(&headers, rows, empty).as_bytes())
}

/// Values of `columns` in a serialised item.
pub fn row_of(item: &Value, columns: &[String]) -> Vec<String> {
    columns.iter().map(|c| cell(field(item, c))).collect()
}

/// The `--format json` document of mutating commands.
#[derive(Serialize)]
struct OutcomesJson<'a> {
    action: &'a str,
    results: &'a [Outcome],
    done: usize,
    failed: usize,
}

/// What a mutating command did to each object.
pub fn outcomes(
    out: &mut dyn Write,
    format: Format,
    action: &str,
    outcomes: &[Outcome],
) -> io::Result<()> {
    if format == Format::Json {
        let failed = outcomes.iter().filter(|o| !o.ok).count();
        return crate::json(
            out,
            &OutcomesJson {
                action,
                results: outcomes,
                done: outcomes.len() - failed,
                failed,
            },
        );
    }
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.uuid.clone(),
                action.to_owned(),
                if o.ok { "ok" } else { "FAILED" }.to_owned(),
                o.state.clone().unwrap_or_default(),
                o.status.map(|s| s.to_string()).unwrap_or_default(),
                o.message.clone(),
            ]
        })
        .collect();
    let columns = cols("uuid action result state status message");
    if format == Format::Csv {
        write_csv(out, &columns, &rows)
    } else {
        table(out, &columns, &rows, None)
    }
}

/// Cuts a cell to [`MAX_CELL`] characters and flattens line breaks, which would break the rows.
fn fit(s: &str) -> String {
    let s = flat(s);
    if s.chars().count() <= MAX_CELL {
        s
    } else {
        let mut t: String = s.chars().take(MAX_CELL - 1).collect();
        t.push('…');
        t
    }
}

fn flat(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect()
}

/// Left-aligned columns (cells cut to fit, the last one whole); `headers` may be empty; `empty`
/// is printed under the header when there is no row.
pub fn format_table(headers: &[String], rows: &[Vec<String>], empty: Option<&str>) -> String {
    let mut table = TextTable::new(headers);
    for r in rows {
        table.add_row(
            r.iter()
                .enumerate()
                .map(|(i, c)| if i + 1 < r.len() { fit(c) } else { flat(c) }),
        );
    }
    let mut text = table.render();
    if let (true, Some(e)) = (rows.is_empty(), empty) {
        text.push_str(e);
        text.push('\n');
    }
    text
}

/// Column keys written as one line, separated by blanks: `"uuid name state"`.
pub fn cols(keys: &str) -> Vec<String> {
    keys.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uuids_become_simple_only_under_uuid_keys() {
        let mut v = json!({
            "uuid": "6ccfa594-2996-4d88-84a5-9c97165ed647",
            "offering_uuid": "6ccfa594-2996-4d88-84a5-9c97165ed647",
            "backend_id": "6ccfa594-2996-4d88-84a5-9c97165ed647",
            "nested": [{"user_uuid": "6ccfa594-2996-4d88-84a5-9c97165ed647"}]
        });
        simple_uuids(&mut v);
        assert_eq!(v["uuid"], "6ccfa59429964d8884a59c97165ed647");
        assert_eq!(v["offering_uuid"], "6ccfa59429964d8884a59c97165ed647");
        assert_eq!(v["backend_id"], "6ccfa594-2996-4d88-84a5-9c97165ed647");
        assert_eq!(
            v["nested"][0]["user_uuid"],
            "6ccfa59429964d8884a59c97165ed647"
        );
    }

    #[test]
    fn cells() {
        assert_eq!(cell(Some(&json!({"cpu": "10", "gpu": 2}))), "cpu=10, gpu=2");
        assert_eq!(
            cell(Some(
                &json!([{"header": "Login", "body": "x"}, {"header": "Docs"}])
            )),
            "Login, Docs"
        );
        assert_eq!(
            cell(Some(
                &json!([{"type": "cpu", "usage": "10.5", "name": "CPU"}])
            )),
            "cpu=10.5"
        );
        assert_eq!(cell(Some(&Value::Null)), "");
        assert_eq!(cell(None), "");
    }

    #[test]
    fn table_is_aligned_and_cut() {
        let t = format_table(
            &cols("A BB"),
            &[
                vec!["xyz".into(), "1".into()],
                vec!["x".repeat(100), "1".into()],
                vec!["q".into(), "y".repeat(100)],
            ],
            None,
        );
        let lines: Vec<&str> = t.lines().collect();
        let w = MAX_CELL + 2;
        assert_eq!(lines[0], format!("{:<w$}BB", "A"));
        assert_eq!(lines[1], format!("{:<w$}1", "xyz"));
        assert!(lines[2].ends_with("…  1"));
        assert_eq!(lines[2].chars().count(), MAX_CELL + 3);
        assert_eq!(lines[3], format!("{:<w$}{}", "q", "y".repeat(100)));
        assert_eq!(format_table(&cols("A"), &[], Some("(none)")), "A\n(none)\n");
    }
}
