//! The two shapes of tabular text: a borderless table and CSV.

use std::io::{self, Write};

use comfy_table::{CellAlignment, Table};

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
}
