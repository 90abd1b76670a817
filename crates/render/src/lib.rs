//! What tally prints: tables for people (comfy-table, borderless), CSV (`csv::Writer`) and JSON
//! for machines. Every function writes one command's output to a writer; the binary chooses the
//! stream (stdout for data, stderr for summaries) and treats a closed pipe as the end of the
//! reader's interest. A site that embeds the pipeline prints exactly what `tally` prints.

mod check;
mod collect;
mod doctor;
mod explain;
mod history;
mod limits;
mod ops;
mod progress;
mod push;
mod table;

use std::io::{self, Write};

pub use check::{check_json, check_text};
pub use collect::collection;
pub use doctor::doctor_text;
pub use explain::explanation;
pub use history::history;
pub use limits::limits;
pub use ops::{
    cell, cols, format_table, list, object, outcomes, page_note, row_of, rows, to_json, Listing,
};
pub use progress::SendBar;
pub use push::{dry_run, plan_periods_text, summary_text};
pub use table::{write_csv, TextTable};

/// The formats of `--format`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document.
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// Pretty JSON and a newline.
pub fn json<T: serde::Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
    writeln!(out)
}
