//! SLURM `sacct` parsable dumps (`-P`/`--parsable2`, or `-p` with its trailing delimiter).
//!
//! What the reader relies on, from the dumps real sites write (see FORMATS.md of the
//! fixtures): columns are found by name, never by position; there is no quoting or escaping
//! (a value containing the delimiter corrupts its line, which the field count catches); the
//! delimiter can be several bytes (`☃`); only allocation lines are billed because every step
//! repeats its allocation's resources.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use memchr::memmem;
use rust_decimal::Decimal;

use crate::lines::LineReader;
use crate::time::LocalTimeParser;
use crate::tres::{parse_quantity, TresKind};
use crate::{InvalidRecord, JobIdentity, JobRecord, RecordSink, SourceError, SourceStats};

/// How to read one family of sacct dumps.
#[derive(Clone, Debug)]
pub struct SacctOptions {
    /// Field separator; `|` unless the dump used `--delimiter`.
    pub delimiter: String,
    /// Column names for dumps without a header line (`--noheader`).
    pub fields: Option<Vec<String>>,
    /// Zone of sacct's naive timestamps (sacct prints the local time of its own process).
    pub timezone: Tz,
    /// Column that names the Waldur-side owner of a job; `Account` by default.
    pub resource_field: String,
    /// The cluster of every job of a dump without a Cluster column ("": unknown). Part of a
    /// job's identity: with it, the same job from such a dump and from a dump with the
    /// column is one job.
    pub cluster: String,
}

impl Default for SacctOptions {
    fn default() -> Self {
        Self {
            delimiter: "|".into(),
            fields: None,
            timezone: Tz::UTC,
            resource_field: "Account".into(),
            cluster: String::new(),
        }
    }
}

/// The identity columns of one dump, from its header (or `fields`), without reading further:
/// the collection compares them across dumps before any record is read.
pub fn identity(path: &Path, opts: &SacctOptions) -> Result<JobIdentity, SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = Reader::new(path, 0, opts, &[]);
    let mut lines = LineReader::new(file, 1 << 20);
    loop {
        match lines.next_line() {
            Ok(Some(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Some(line)) => {
                reader.detect_columns(line)?;
                break;
            }
            // An empty dump has no jobs: any identity will do.
            Ok(None) => return Ok(JobIdentity::FULL),
            Err(source) => {
                return Err(SourceError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    let cols = reader.columns.as_ref().expect("detect_columns sets them");
    Ok(JobIdentity {
        cluster: cols.cluster.is_some() || !opts.cluster.is_empty(),
        job_id_raw: cols.job_id_raw.is_some(),
        submit: cols.submit.is_some(),
    })
}

/// Column positions of the fields tally reads.
#[derive(Clone, Debug)]
struct Columns {
    job_id: usize,
    job_id_raw: Option<usize>,
    cluster: Option<usize>,
    account: usize,
    user: Option<usize>,
    submit: Option<usize>,
    start: usize,
    end: usize,
    state: Option<usize>,
    alloc_tres: usize,
    /// Number of columns a well-formed line has.
    count: usize,
    /// The highest column index tally reads.
    max_index: usize,
    /// Names as written, for messages.
    names: Vec<String>,
}

impl Columns {
    fn from_names(names: &[String], resource_field: &str) -> Result<Self, String> {
        let find = |want: &str| {
            names
                .iter()
                .position(|n| n.trim().eq_ignore_ascii_case(want))
        };
        let mut missing = Vec::new();
        let mut need = |want: &str| {
            let pos = find(want);
            if pos.is_none() {
                missing.push(want.to_string());
            }
            pos.unwrap_or(0)
        };
        let job_id = need("JobID");
        let account = need(resource_field);
        let start = need("Start");
        let end = need("End");
        let alloc_tres = need("AllocTRES");
        if !missing.is_empty() {
            return Err(format!(
                "the columns {} are missing (found: {})",
                missing.join(", "),
                names.join(", ")
            ));
        }
        let job_id_raw = find("JobIDRaw");
        let cluster = find("Cluster");
        let user = find("User");
        let submit = find("Submit");
        let state = find("State");
        let max_index = [job_id, account, start, end, alloc_tres]
            .into_iter()
            .chain(
                [job_id_raw, cluster, user, submit, state]
                    .into_iter()
                    .flatten(),
            )
            .max()
            .unwrap_or(0);
        Ok(Self {
            job_id,
            job_id_raw,
            cluster,
            account,
            user,
            submit,
            start,
            end,
            state,
            alloc_tres,
            count: names.len(),
            max_index,
            names: names.iter().map(|s| s.trim().to_string()).collect(),
        })
    }
}

/// Splits lines on a delimiter of one or more bytes.
struct Splitter {
    delim: Vec<u8>,
    finder: memmem::Finder<'static>,
}

impl Splitter {
    fn new(delim: &str) -> Self {
        Self {
            delim: delim.as_bytes().to_vec(),
            finder: memmem::Finder::new(delim.as_bytes()).into_owned(),
        }
    }

    fn find(&self, hay: &[u8]) -> Option<usize> {
        if self.delim.len() == 1 {
            memchr::memchr(self.delim[0], hay)
        } else {
            self.finder.find(hay)
        }
    }

    fn count(&self, hay: &[u8]) -> usize {
        if self.delim.len() == 1 {
            let d = self.delim[0];
            // A plain filter-count: the compiler vectorises it.
            hay.iter().filter(|&&b| b == d).count()
        } else {
            self.finder.find_iter(hay).count()
        }
    }

    fn split(&self, line: &[u8], out: &mut Vec<(usize, usize)>) {
        out.clear();
        let mut start = 0;
        if self.delim.len() == 1 {
            for pos in memchr::memchr_iter(self.delim[0], line) {
                out.push((start, pos));
                start = pos + 1;
            }
        } else {
            for pos in self.finder.find_iter(line) {
                out.push((start, pos));
                start = pos + self.delim.len();
            }
        }
        out.push((start, line.len()));
    }
}

/// Reads every file in order, handing records to `sink`.
pub fn read_files(
    files: &[PathBuf],
    first_index: u32,
    opts: &SacctOptions,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, SourceError> {
    let mut total = SourceStats::default();
    for (i, path) in files.iter().enumerate() {
        let file = File::open(path).map_err(|source| SourceError::Io {
            path: path.clone(),
            source,
        })?;
        total += read(file, path, first_index + i as u32, opts, sink)?;
    }
    Ok(total)
}

/// Reads one dump. `path` is only used to name the input in messages.
pub fn read<R: Read>(
    input: R,
    path: &Path,
    file_index: u32,
    opts: &SacctOptions,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, SourceError> {
    Reader::new(path, file_index, opts, sink.wanted_tres()).run(input, sink)
}

struct Reader<'o> {
    path: &'o Path,
    file_index: u32,
    opts: &'o SacctOptions,
    splitter: Splitter,
    times: LocalTimeParser,
    wanted: Vec<(String, TresKind)>,
    columns: Option<Columns>,
    stats: SourceStats,
}

/// The outcome of one line that is not a record.
enum Skip {
    Header,
    /// A step line; the byte range of its JobID in the line.
    Step {
        job_id: (usize, usize),
    },
    NotStarted,
    Invalid {
        field: String,
        reason: String,
    },
}

impl<'o> Reader<'o> {
    fn new(path: &'o Path, file_index: u32, opts: &'o SacctOptions, wanted: &[String]) -> Self {
        Self {
            path,
            file_index,
            opts,
            splitter: Splitter::new(&opts.delimiter),
            times: LocalTimeParser::new(opts.timezone),
            wanted: wanted
                .iter()
                .map(|n| (n.clone(), TresKind::of(n)))
                .collect(),
            columns: None,
            stats: SourceStats::default(),
        }
    }

    fn format_error(&self, reason: String) -> SourceError {
        SourceError::Format {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    fn run<R: Read>(
        mut self,
        input: R,
        sink: &mut dyn RecordSink,
    ) -> Result<SourceStats, SourceError> {
        let mut lines = LineReader::new(input, 1 << 20);
        let mut fields = Fields::default();
        let mut quantities: Vec<Option<Decimal>> = vec![None; self.wanted.len()];
        while let Some((line_no, line)) = lines.next_record(self.path)? {
            self.stats.lines += 1;
            if self.columns.is_none() {
                let header = self.detect_columns(line)?;
                if header {
                    continue;
                }
            }
            match self.parse_line(line, &mut fields, &mut quantities) {
                Ok(rec) => {
                    let record = JobRecord {
                        quantities: &quantities,
                        file_index: self.file_index,
                        line: line_no,
                        ..rec
                    };
                    self.stats.jobs += 1;
                    sink.record(&record);
                }
                Err(Skip::Header) => self.stats.headers += 1,
                Err(Skip::Step { job_id: (a, b) }) => {
                    self.stats.steps += 1;
                    sink.step(&line[a..b], self.file_index, line_no);
                }
                Err(Skip::NotStarted) => self.stats.not_started += 1,
                Err(Skip::Invalid { field, reason }) => {
                    self.stats.invalid += 1;
                    sink.invalid(InvalidRecord {
                        file: self.path.to_path_buf(),
                        line: line_no,
                        field,
                        reason,
                    });
                }
            }
        }
        Ok(self.stats)
    }

    /// Decides from the first non-blank line whether the dump has a header.
    /// Returns whether the line was the header.
    fn detect_columns(&mut self, line: &[u8]) -> Result<bool, SourceError> {
        let mut parts = Vec::new();
        self.splitter.split(line, &mut parts);
        let first: Vec<String> = parts
            .iter()
            .map(|&(a, b)| String::from_utf8_lossy(&line[a..b]).into_owned())
            .collect();
        let is_header = first.iter().any(|f| f.trim().eq_ignore_ascii_case("JobID"));
        let mut names = if is_header {
            self.stats.headers += 1;
            first
        } else if let Some(fields) = &self.opts.fields {
            fields.clone()
        } else if parts.len() == 1 && String::from_utf8_lossy(line).contains("JobID") {
            return Err(self.format_error(format!(
                "the header has no {:?} delimiter: this looks like sacct's fixed-width output, \
                 which truncates values; dump with `sacct --parsable2` instead",
                self.opts.delimiter
            )));
        } else {
            return Err(self.format_error(
                "the first line is not a header (no JobID column) and the source config sets no \
                 `fields`: name the columns with `fields = [...]`"
                    .to_string(),
            ));
        };
        // `sacct -p` ends every line, the header included, with the delimiter.
        if names.len() > 1 && names.last().is_some_and(|n| n.is_empty()) {
            names.pop();
        }
        let columns = Columns::from_names(&names, &self.opts.resource_field)
            .map_err(|reason| self.format_error(reason))?;
        self.columns = Some(columns);
        Ok(is_header)
    }

    fn parse_line<'l>(
        &mut self,
        line: &'l [u8],
        fields: &mut Fields,
        quantities: &mut [Option<Decimal>],
    ) -> Result<JobRecord<'l>, Skip>
    where
        'o: 'l,
    {
        let cols = self
            .columns
            .as_ref()
            .expect("columns are known before lines are parsed");
        let splitter = &self.splitter;
        fields.reset();
        // Most lines are steps: find out from the JobID alone, splitting no further.
        fields.ensure(splitter, line, cols.job_id + 1);
        if fields.parts.len() <= cols.job_id {
            return Err(self.field_count_error(fields.total(splitter, line)));
        }
        let (a, b) = fields.parts[cols.job_id];
        let job_id_bytes = &line[a..b];
        if memchr::memchr(b'.', job_id_bytes).is_some() {
            return Err(Skip::Step { job_id: (a, b) });
        }
        // An allocation: every field must be where the header says, so count them all
        // (a value containing the delimiter shifts everything after it).
        fields.ensure(splitter, line, cols.max_index + 1);
        let total = fields.total(splitter, line);
        let trailing_ok = total == cols.count + 1 && line.ends_with(&splitter.delim);
        if total != cols.count && !trailing_ok {
            return Err(self.field_count_error(total));
        }
        let parts = &fields.parts;
        // One UTF-8 check for the whole line (the delimiter is UTF-8, so fields start and end
        // on character boundaries); only a line that fails it is checked field by field, to
        // name the field.
        let text = std::str::from_utf8(line).ok();
        let field = |i: usize| -> Result<&'l str, Skip> {
            let (a, b) = parts[i];
            match text {
                Some(text) => Ok(&text[a..b]),
                None => std::str::from_utf8(&line[a..b]).map_err(|e| Skip::Invalid {
                    field: cols.names[i].clone(),
                    reason: format!("is not valid UTF-8 (byte {})", e.valid_up_to()),
                }),
            }
        };
        let opt_field =
            |i: Option<usize>| -> Result<&'l str, Skip> { i.map(field).unwrap_or(Ok("")) };

        let job_id = field(cols.job_id)?;
        if job_id.eq_ignore_ascii_case("JobID") {
            // A header repeated mid-file: dumps concatenated with `cat`.
            return Err(Skip::Header);
        }
        if job_id.is_empty() {
            return Err(invalid(cols, cols.job_id, "is empty".into()));
        }
        if job_id.contains("_[") {
            // Array tasks not yet split (`123_[1-3]`) are pending: they never ran.
            return Err(Skip::NotStarted);
        }
        let state = opt_field(cols.state)?;
        let start_s = field(cols.start)?;
        if is_unset_time(start_s) || state.starts_with("PENDING") {
            return Err(Skip::NotStarted);
        }
        let start = self
            .times
            .parse(start_s)
            .map_err(|e| invalid(cols, cols.start, e.to_string()))?;
        let end_s = field(cols.end)?;
        let end = if is_unset_time(end_s) {
            None
        } else {
            let end = self
                .times
                .parse(end_s)
                .map_err(|e| invalid(cols, cols.end, e.to_string()))?;
            if end < start {
                return Err(invalid(
                    cols,
                    cols.end,
                    format!("{end_s} is before Start {start_s}"),
                ));
            }
            Some(end)
        };
        let submit = match cols.submit {
            Some(i) => {
                let s = field(i)?;
                if is_unset_time(s) {
                    None
                } else {
                    Some(
                        self.times
                            .parse(s)
                            .map_err(|e| invalid(cols, i, e.to_string()))?,
                    )
                }
            }
            None => None,
        };
        let tres = field(cols.alloc_tres)?;
        quantities.iter_mut().for_each(|q| *q = None);
        if !tres.is_empty() {
            // Split with memchr on bytes: `,` and `=` are ASCII, so the pieces are still str.
            let bytes = tres.as_bytes();
            let mut from = 0;
            while from <= bytes.len() {
                let to = memchr::memchr(b',', &bytes[from..]).map_or(bytes.len(), |p| from + p);
                let pair = &tres[from..to];
                from = to + 1;
                // Entries without `=` exist in the wild (`gres/gpfs:ess:1`): not a quantity.
                let Some(eq) = memchr::memchr(b'=', pair.as_bytes()) else {
                    continue;
                };
                let (name, value) = (&pair[..eq], &pair[eq + 1..]);
                let Some(idx) = self.wanted.iter().position(|(w, _)| w == name) else {
                    continue;
                };
                if quantities[idx].is_some() {
                    return Err(invalid(
                        cols,
                        cols.alloc_tres,
                        format!("{name} appears twice in {tres:?}"),
                    ));
                }
                let q = parse_quantity(value, self.wanted[idx].1)
                    .map_err(|e| invalid(cols, cols.alloc_tres, format!("{name}={value}: {e}")))?;
                quantities[idx] = Some(q);
            }
        }
        let raw = opt_field(cols.job_id_raw)?;
        Ok(JobRecord {
            cluster: match opt_field(cols.cluster)? {
                "" => self.opts.cluster.as_str(),
                named => named,
            },
            key: if raw.is_empty() { job_id } else { raw },
            job_id,
            submit,
            account: field(cols.account)?,
            user: opt_field(cols.user)?,
            start,
            end,
            quantities: &[],
            file_index: self.file_index,
            line: 0,
        })
    }

    fn field_count_error(&self, total: usize) -> Skip {
        let cols = self.columns.as_ref().expect("columns are known");
        Skip::Invalid {
            field: "line".into(),
            reason: format!(
                "has {} fields, expected {} (a value containing the delimiter {:?}, or a truncated line)",
                total, cols.count, self.opts.delimiter
            ),
        }
    }
}

/// The fields of one line, split lazily from the left: step lines only need the JobID.
#[derive(Default)]
struct Fields {
    parts: Vec<(usize, usize)>,
    /// Where the next field starts.
    cursor: usize,
    /// The last field has been split off.
    done: bool,
}

impl Fields {
    fn reset(&mut self) {
        self.parts.clear();
        self.cursor = 0;
        self.done = false;
    }

    /// Splits until `n` fields are known or the line ends.
    fn ensure(&mut self, s: &Splitter, line: &[u8], n: usize) {
        while self.parts.len() < n && !self.done {
            let rest = &line[self.cursor..];
            match s.find(rest) {
                Some(p) => {
                    self.parts.push((self.cursor, self.cursor + p));
                    self.cursor += p + s.delim.len();
                }
                None => {
                    self.parts.push((self.cursor, line.len()));
                    self.cursor = line.len();
                    self.done = true;
                }
            }
        }
    }

    /// The number of fields on the whole line.
    fn total(&self, s: &Splitter, line: &[u8]) -> usize {
        if self.done {
            self.parts.len()
        } else {
            self.parts.len() + s.count(&line[self.cursor..]) + 1
        }
    }
}

fn invalid(cols: &Columns, i: usize, reason: String) -> Skip {
    Skip::Invalid {
        field: cols.names[i].clone(),
        reason,
    }
}

/// sacct's ways of saying "no such time".
fn is_unset_time(s: &str) -> bool {
    matches!(s, "" | "Unknown" | "None" | "N/A")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (key, account, start, end, quantities, line), owned.
    type Kept = (String, String, i64, Option<i64>, Vec<Option<String>>, u64);

    /// Keeps what it is given, owned, for assertions.
    #[derive(Default)]
    struct Collect {
        wanted: Vec<String>,
        jobs: Vec<Kept>,
        invalid: Vec<InvalidRecord>,
    }

    impl RecordSink for Collect {
        fn wanted_tres(&self) -> &[String] {
            &self.wanted
        }
        fn record(&mut self, r: &JobRecord<'_>) {
            self.jobs.push((
                r.key.to_string(),
                r.account.to_string(),
                r.start,
                r.end,
                r.quantities
                    .iter()
                    .map(|q| q.map(|d| d.to_string()))
                    .collect(),
                r.line,
            ));
        }
        fn amount(&mut self, _: &crate::AmountRecord<'_>) {}
        fn invalid(&mut self, i: InvalidRecord) {
            self.invalid.push(i);
        }
    }

    fn run(text: &str, opts: &SacctOptions) -> (Collect, SourceStats) {
        let mut sink = Collect {
            wanted: vec!["cpu".into(), "gres/gpu".into(), "mem".into()],
            ..Default::default()
        };
        let stats = read(text.as_bytes(), Path::new("t.txt"), 0, opts, &mut sink).unwrap();
        (sink, stats)
    }

    const HEADER: &str = "JobID|JobIDRaw|Cluster|Account|User|State|Submit|Start|End|AllocTRES";

    #[test]
    fn bills_allocations_not_steps() {
        let text = format!(
            "{HEADER}\n\
             7|7|c|acct|u|COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|billing=2,cpu=2,gres/gpu:a100=1,gres/gpu=1,mem=4G,node=1\n\
             7.batch|7.batch|c|acct||COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=2,gres/gpu=1,mem=4G,node=1\n\
             7.extern|7.extern|c|acct||COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|billing=2,cpu=2,mem=4G,node=1\n\
             \n"
        );
        let (sink, stats) = run(&text, &SacctOptions::default());
        assert_eq!(stats.jobs, 1);
        assert_eq!(stats.steps, 2);
        assert_eq!(stats.headers, 1);
        let (key, acct, start, end, q, line) = &sink.jobs[0];
        assert_eq!((key.as_str(), acct.as_str(), *line), ("7", "acct", 2));
        assert_eq!(end.unwrap() - start, 3600);
        // The typed gres/gpu:a100 entry is the same GPU as gres/gpu: counted once.
        assert_eq!(
            q,
            &[Some("2".into()), Some("1".into()), Some("4096".into())]
        );
    }

    #[test]
    fn columns_by_name_in_any_order_and_multibyte_delimiter_with_trailing_one() {
        let opts = SacctOptions {
            delimiter: "\u{2603}".into(),
            fields: Some(
                ["State", "AllocTRES", "End", "Start", "Account", "JobID"]
                    .map(String::from)
                    .to_vec(),
            ),
            ..Default::default()
        };
        let text = "RUNNING\u{2603}cpu=8\u{2603}Unknown\u{2603}2026-10-01T00:00:00\u{2603}a\u{2603}9_3\u{2603}\n\
                    PENDING\u{2603}\u{2603}Unknown\u{2603}Unknown\u{2603}a\u{2603}10\u{2603}";
        let (sink, stats) = run(text, &opts);
        assert_eq!(stats.jobs, 1);
        assert_eq!(stats.not_started, 1);
        assert_eq!(sink.jobs[0].0, "9_3", "JobID is the key without JobIDRaw");
        assert_eq!(sink.jobs[0].3, None, "End Unknown means still running");
    }

    #[test]
    fn bad_lines_are_reported_with_line_and_field_and_do_not_stop_the_file() {
        let text = format!(
            "{HEADER}\n\
             1|1|c|a|u|COMPLETED|2026-10-01T00:00:00|2026-13-01T00:00:00|2026-10-01T01:00:00|cpu=1\n\
             2|2|c|a|u|COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=four\n\
             3|3|c|a|u|COMPLETED\n\
             4|4|c|a|u|COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|mem=4X\n\
             5|5|c|a|u|COMPLETED|2026-10-01T00:00:00|2026-10-01T02:00:00|2026-10-01T01:00:00|cpu=1\n\
             6|6|c|a|u|COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=1\n"
        );
        let (sink, stats) = run(&text, &SacctOptions::default());
        let got: Vec<(u64, &str)> = sink
            .invalid
            .iter()
            .map(|i| (i.line, i.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "Start"),
                (3, "AllocTRES"),
                (4, "line"),
                (5, "AllocTRES"),
                (6, "End")
            ]
        );
        assert!(
            sink.invalid[0].reason.contains("2026-13-01"),
            "{}",
            sink.invalid[0].reason
        );
        assert!(sink.invalid[1].reason.contains("cpu=four"));
        assert!(sink.invalid[3].reason.contains("unknown unit"));
        assert_eq!(stats.invalid, 5);
        assert_eq!(
            stats.jobs, 1,
            "the good line after the bad ones is still read"
        );
        assert_eq!(sink.jobs[0].0, "6");
    }

    #[test]
    fn invalid_utf8_names_the_field_read_and_is_ignored_in_columns_not_read() {
        let mut text = format!("{HEADER}|JobName\n").into_bytes();
        let good = "|c|acct|USER|COMPLETED|2026-10-01T00:00:00|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=2|";
        // Line 2: a bad byte in User (read); line 3: a bad byte in JobName (never read).
        text.extend(format!("1|1{}x\n", good.replace("USER", "u\u{FFFD}")).into_bytes());
        let at = text.iter().rposition(|&b| b == 0xEF).unwrap();
        text[at] = 0xFF;
        text.extend(format!("2|2{}", good.replace("USER", "u")).into_bytes());
        text.extend(b"j\xFFb\n");
        let mut sink = Collect {
            wanted: vec!["cpu".into()],
            ..Default::default()
        };
        let stats = read(
            &text[..],
            Path::new("t.txt"),
            0,
            &SacctOptions::default(),
            &mut sink,
        )
        .unwrap();
        assert_eq!((stats.jobs, stats.invalid), (1, 1));
        assert_eq!(sink.jobs[0].0, "2");
        assert_eq!(
            (sink.invalid[0].line, sink.invalid[0].field.as_str()),
            (2, "User")
        );
        assert!(
            sink.invalid[0].reason.contains("UTF-8"),
            "{}",
            sink.invalid[0].reason
        );
    }

    #[test]
    fn headerless_without_fields_is_a_clear_error() {
        let err = read(
            "1|2|3\n".as_bytes(),
            Path::new("dump.txt"),
            0,
            &SacctOptions::default(),
            &mut Collect::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("dump.txt") && msg.contains("fields"), "{msg}");
        let err = read(
            "JobID|Start\n".as_bytes(),
            Path::new("dump.txt"),
            0,
            &SacctOptions::default(),
            &mut Collect::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("Account"), "{err}");
    }
}
