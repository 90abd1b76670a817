//! Live `sacct`: tally runs it for the collection window and streams its output.
//!
//! The command line, and why:
//! ```text
//! TZ=<timezone> sacct --parsable2 --allusers --allocations --duplicates --noconvert \
//!     --starttime=<window start - 1 day> --endtime=<window end + 1 day> \
//!     --format=JobID,JobIDRaw,Cluster,Account,User,State,Submit,Start,End,AllocTRES \
//!     [--clusters=a,b] [extra_args...]
//! ```
//! - With `--starttime` and `--endtime` and no `--state`, sacct lists every job that was in
//!   any state during the window, so a job that started before the window and ran into it
//!   is included (with its real Start: tally splits it at month boundaries itself; no
//!   `--truncate`, which would cut it at the window).
//! - `--allocations`: steps repeat their allocation and are never billed; not asking for
//!   them makes the output several times smaller.
//! - `--duplicates`: a requeued job's earlier runs consumed resources too.
//! - `--noconvert`: memory exactly as recorded, not rounded to a larger unit.
//! - A header line (no `--noheader`): columns are then checked by name, not trusted by
//!   position.
//! - `TZ`: sacct prints and reads times in the zone of its own process; setting it makes
//!   both unambiguous.
//! - The window is the first instant of the first month asked for to the end of the last one
//!   (or `--as-of`, if earlier), widened by one day on each side; usage outside the months
//!   asked for is computed and dropped, so this costs a few lines and protects against zone
//!   edge cases.
//!
//! What tally checks, because a wrong answer here bills nothing and exits 0:
//! - every configured cluster is known to Slurm before sacct runs ([`known_clusters`]);
//! - `extra_args` do not change the output tally reads ([`check_extra_args`], when the config
//!   is read);
//! - sacct's stderr is shown as warnings even when it exits 0.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::sacct::{self, SacctOptions};
use crate::{AmountRecord, InvalidRecord, JobRecord, RecordSink, SourceError, SourceStats};

pub const FORMAT: &str = "JobID,JobIDRaw,Cluster,Account,User,State,Submit,Start,End,AllocTRES";

#[derive(Clone, Debug)]
pub struct SacctCommandOptions {
    /// The program; `sacct` on PATH by default.
    pub sacct_path: PathBuf,
    /// The program that lists the clusters Slurm knows; see [`SacctCommandOptions::sacctmgr`].
    pub sacctmgr_path: Option<PathBuf>,
    pub clusters: Vec<String>,
    pub extra_args: Vec<String>,
    pub timezone: Tz,
    pub resource_field: String,
}

impl Default for SacctCommandOptions {
    fn default() -> Self {
        Self {
            sacct_path: PathBuf::from("sacct"),
            sacctmgr_path: None,
            clusters: Vec::new(),
            extra_args: Vec::new(),
            timezone: Tz::UTC,
            resource_field: "Account".into(),
        }
    }
}

impl SacctCommandOptions {
    /// `sacctmgr_path` if configured; otherwise `sacctmgr` in the directory of `sacct_path`
    /// (the Slurm client tools are installed together), or on PATH when `sacct_path` is a
    /// bare name. Never PATH when sacct was given as a path: a test's or a wrapper's sacct
    /// must not be checked against whichever Slurm PATH happens to reach.
    pub fn sacctmgr(&self) -> PathBuf {
        if let Some(p) = &self.sacctmgr_path {
            return p.clone();
        }
        match self.sacct_path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join("sacctmgr"),
            _ => PathBuf::from("sacctmgr"),
        }
    }
}

/// The `--format` list: tally's columns plus the configured `resource_field` when it is not
/// one of them (a column sacct was not asked for would be missing from its header).
pub fn format_list(opts: &SacctCommandOptions) -> String {
    let field = opts.resource_field.trim();
    if field.is_empty() || FORMAT.split(',').any(|c| c.eq_ignore_ascii_case(field)) {
        FORMAT.to_string()
    } else {
        format!("{FORMAT},{field}")
    }
}

/// The arguments tally passes to sacct for records in [start, end).
pub fn arguments(
    opts: &SacctCommandOptions,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<String> {
    let day = chrono::Duration::days(1);
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&opts.timezone)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let mut args = vec![
        "--parsable2".to_string(),
        "--allusers".into(),
        "--allocations".into(),
        "--duplicates".into(),
        "--noconvert".into(),
        format!("--starttime={}", local(start - day)),
        format!("--endtime={}", local(end + day)),
        format!("--format={}", format_list(opts)),
    ];
    if !opts.clusters.is_empty() {
        args.push(format!("--clusters={}", opts.clusters.join(",")));
    }
    args.extend(opts.extra_args.iter().cloned());
    args
}

/// An `extra_args` entry tally refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{arg:?}: {reason}")]
pub struct RefusedArgument {
    /// The argument as configured.
    pub arg: String,
    pub reason: String,
}

/// Whether a sacct option takes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    Value,
    /// Only as `--opt=value` (getopt's optional argument).
    OptionalValue,
}

/// A sacct option (Slurm 22.05 and later): its long names, short letter, whether it takes a
/// value, and why tally refuses it (`None`: a filter tally leaves to the site).
struct SacctOption {
    long: &'static [&'static str],
    short: Option<char>,
    takes: Takes,
    refused: Option<&'static str>,
}

const SETS_IT: &str = "tally already passes it";
const WINDOW: &str = "tally sets the window from --from/--to/--as-of";
const COLUMNS: &str = "tally sets the columns it reads (--format)";
const NO_RECORDS: &str = "sacct then prints no accounting records";
const CLUSTERS: &str =
    "name clusters in the source's `clusters` key, where tally checks each against Slurm";

/// Every sacct option tally knows, so that abbreviations (`--form=`) and bundled short
/// options (`-nP`) are read as sacct's getopt reads them.
const SACCT_OPTIONS: &[SacctOption] = &[
    opt(&["allusers"], Some('a'), Takes::Nothing, Some(SETS_IT)),
    opt(&["accounts"], Some('A'), Takes::Value, None),
    opt(&["allocations"], Some('X'), Takes::Nothing, Some(SETS_IT)),
    opt(&["allclusters"], Some('L'), Takes::Nothing, Some(CLUSTERS)),
    opt(&["array"], None, Takes::Nothing, Some("it prints one line per array instead of one per task, which tally takes for jobs that never ran")),
    opt(&["batch-script"], Some('B'), Takes::Nothing, Some(NO_RECORDS)),
    opt(&["brief"], Some('b'), Takes::Nothing, Some(COLUMNS)),
    opt(&["cluster", "clusters"], Some('M'), Takes::Value, Some(CLUSTERS)),
    opt(&["completion"], Some('c'), Takes::Nothing, Some("it reads the job completion log, not the accounting database")),
    opt(&["constraints"], Some('C'), Takes::Value, None),
    opt(&["delimiter"], None, Takes::Value, Some("tally reads sacct's `|`-separated output")),
    opt(&["duplicates"], Some('D'), Takes::Nothing, Some(SETS_IT)),
    opt(&["endtime"], Some('E'), Takes::Value, Some(WINDOW)),
    opt(&["env-vars"], None, Takes::Nothing, Some(NO_RECORDS)),
    opt(&["federation"], None, Takes::Nothing, Some(CLUSTERS)),
    opt(&["fields", "format"], Some('o'), Takes::Value, Some(COLUMNS)),
    opt(&["file"], Some('f'), Takes::Value, Some("it reads a file instead of the accounting database")),
    opt(&["flags"], Some('F'), Takes::Value, None),
    opt(&["gid", "group"], Some('g'), Takes::Value, None),
    opt(&["help"], Some('h'), Takes::Nothing, Some(NO_RECORDS)),
    opt(&["helpformat", "help-fields"], Some('e'), Takes::Nothing, Some(NO_RECORDS)),
    opt(&["json"], None, Takes::OptionalValue, Some("tally reads sacct's parsable text")),
    opt(&["jobs"], Some('j'), Takes::Value, None),
    opt(&["local"], None, Takes::Nothing, None),
    opt(&["long"], Some('l'), Takes::Nothing, Some(COLUMNS)),
    opt(&["name"], None, Takes::Value, None),
    opt(&["ncpus"], Some('I'), Takes::Value, None),
    opt(&["nnodes"], Some('i'), Takes::Value, None),
    opt(&["noconvert"], None, Takes::Nothing, Some(SETS_IT)),
    opt(&["nodelist"], Some('N'), Takes::Value, None),
    opt(&["noheader"], Some('n'), Takes::Nothing, Some("tally checks the columns by the header line")),
    opt(&["parsable"], Some('p'), Takes::Nothing, Some("tally passes --parsable2")),
    opt(&["parsable2"], Some('P'), Takes::Nothing, Some(SETS_IT)),
    opt(&["partition"], Some('r'), Takes::Value, None),
    opt(&["qos"], Some('q'), Takes::Value, None),
    opt(&["reason"], Some('R'), Takes::Value, None),
    opt(&["starttime"], Some('S'), Takes::Value, Some(WINDOW)),
    opt(&["state"], Some('s'), Takes::Value, Some("with --state, --starttime/--endtime no longer select every job that ran in the window")),
    opt(&["timelimit-min"], Some('k'), Takes::Value, None),
    opt(&["timelimit-max"], Some('K'), Takes::Value, None),
    opt(&["truncate"], Some('T'), Takes::Nothing, Some("it cuts jobs at the window; tally splits them at month boundaries itself")),
    opt(&["uid", "user"], Some('u'), Takes::Value, None),
    opt(&["units"], None, Takes::Value, Some("it rounds memory to a larger unit")),
    opt(&["usage"], Some('U'), Takes::Nothing, Some(NO_RECORDS)),
    opt(&["use-local-uid"], None, Takes::Nothing, None),
    opt(&["verbose"], Some('v'), Takes::Nothing, None),
    opt(&["version"], Some('V'), Takes::Nothing, Some(NO_RECORDS)),
    opt(&["wckeys"], Some('W'), Takes::Value, None),
    opt(&["whole-hetjob"], None, Takes::OptionalValue, None),
    opt(&["associations"], Some('x'), Takes::Value, None),
    opt(&["yaml"], None, Takes::OptionalValue, Some("tally reads sacct's parsable text")),
];

const fn opt(
    long: &'static [&'static str],
    short: Option<char>,
    takes: Takes,
    refused: Option<&'static str>,
) -> SacctOption {
    SacctOption {
        long,
        short,
        takes,
        refused,
    }
}

/// Refuses `extra_args` that would change what tally reads (columns, delimiter, header, units,
/// window, clusters) in every spelling sacct's getopt accepts: `--opt=value`, `--opt value`,
/// unique abbreviations (`--form=`), short options alone, bundled (`-nP`) or with their value
/// attached (`-oJobID`). Unknown options are refused too: tally cannot tell what they do.
pub fn check_extra_args(args: &[String]) -> Result<(), RefusedArgument> {
    let refuse = |arg: &str, reason: String| RefusedArgument {
        arg: arg.to_string(),
        reason,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if let Some(long) = arg.strip_prefix("--") {
            if long.is_empty() {
                return Err(refuse(arg, "sacct takes no operands".into()));
            }
            let (name, inline_value) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            let option = find_long(name).map_err(|reason| refuse(arg, reason))?;
            if let Some(why) = option.refused {
                return Err(refuse(arg, format!("--{}: {why}", option.long[0])));
            }
            match option.takes {
                Takes::Value if !inline_value => {
                    if i == args.len() {
                        return Err(refuse(arg, "needs a value".into()));
                    }
                    i += 1;
                }
                Takes::Nothing if inline_value => {
                    return Err(refuse(arg, format!("--{} takes no value", option.long[0])));
                }
                _ => {}
            }
        } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (at, letter) in shorts.char_indices() {
                let option = SACCT_OPTIONS
                    .iter()
                    .find(|o| o.short == Some(letter))
                    .ok_or_else(|| {
                        refuse(arg, format!("-{letter} is not a sacct option tally knows"))
                    })?;
                if let Some(why) = option.refused {
                    return Err(refuse(
                        arg,
                        format!("-{letter} (--{}): {why}", option.long[0]),
                    ));
                }
                if option.takes == Takes::Value {
                    // The rest of the word is the value, or the next argument is.
                    if at + letter.len_utf8() == shorts.len() {
                        if i == args.len() {
                            return Err(refuse(arg, "needs a value".into()));
                        }
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            return Err(refuse(
                arg,
                "is not an option (sacct takes no operands; write `--opt=value` or the value \
                 as the argument after its option)"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// The option a long name stands for, as getopt_long resolves it: an exact name, or a prefix
/// of exactly one option's names.
fn find_long(name: &str) -> Result<&'static SacctOption, String> {
    if let Some(o) = SACCT_OPTIONS.iter().find(|o| o.long.contains(&name)) {
        return Ok(o);
    }
    let matches: Vec<&SacctOption> = SACCT_OPTIONS
        .iter()
        .filter(|o| o.long.iter().any(|l| l.starts_with(name)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("--{name} is not a sacct option tally knows")),
        many => Err(format!(
            "--{name} is ambiguous ({})",
            many.iter()
                .map(|o| format!("--{}", o.long[0]))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// What answered the question "which clusters does Slurm know".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterAuthority {
    /// `sacctmgr list clusters` (the accounting database's list).
    Sacctmgr(PathBuf),
    /// No sacctmgr could be started: the clusters of the jobs sacct returned for the window.
    SacctOutput,
}

impl std::fmt::Display for ClusterAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterAuthority::Sacctmgr(p) => {
                write!(f, "`{} list clusters`", p.display())
            }
            ClusterAuthority::SacctOutput => f.write_str(
                "sacct's answer (no sacctmgr to ask, set `sacctmgr_path`; the clusters of the \
                 jobs it returned for the window, where an idle cluster looks unknown too)",
            ),
        }
    }
}

/// Runs a Slurm client and returns its stdout; stderr becomes warnings when it succeeds and
/// the error message when it fails. `Ok(None)` when the program does not exist.
fn run_client(program: &Path, args: &[&str], tz: Tz) -> Result<Option<String>, SourceError> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let out = match Command::new(program)
        .args(args)
        .env("TZ", tz.name())
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(SourceError::Command {
                command: shown,
                reason: format!("cannot start: {e}"),
            })
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let why = match stderr.trim() {
            "" => "no message on stderr",
            s => s,
        };
        return Err(SourceError::Command {
            command: shown,
            reason: format!("exited with {}: {why}", out.status),
        });
    }
    warn_lines(&shown, &stderr);
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Shows what a Slurm client printed on stderr although it succeeded: warnings such as
/// "cluster not responding" explain an answer that looks complete.
fn warn_lines(command: &str, stderr: &str) {
    for line in stderr.lines().map(str::trim).filter(|l| !l.is_empty()) {
        tracing::warn!(command, "{line}");
    }
}

/// The clusters the accounting database knows (`sacctmgr --parsable2 --noheader list clusters
/// format=Cluster`), or `None` when no sacctmgr can be started (then sacct's own answer is
/// used, see [`read`]).
pub fn known_clusters(opts: &SacctCommandOptions) -> Result<Option<Vec<String>>, SourceError> {
    let args = [
        "--parsable2",
        "--noheader",
        "list",
        "clusters",
        "format=Cluster",
    ];
    Ok(
        run_client(&opts.sacctmgr(), &args, opts.timezone)?.map(|text| {
            text.lines()
                .map(|l| l.trim().trim_end_matches('|').to_string())
                .filter(|l| !l.is_empty())
                .collect()
        }),
    )
}

/// The TRES the accounting database knows, as sacct writes them in AllocTRES (`cpu`, `mem`,
/// `gres/gpu`): `sacctmgr --parsable2 --noheader list tres format=Type,Name`. `None` when no
/// sacctmgr can be started.
pub fn known_tres(opts: &SacctCommandOptions) -> Result<Option<Vec<String>>, SourceError> {
    let args = [
        "--parsable2",
        "--noheader",
        "list",
        "tres",
        "format=Type,Name",
    ];
    Ok(
        run_client(&opts.sacctmgr(), &args, opts.timezone)?.map(|text| {
            text.lines()
                .filter_map(|l| {
                    let mut parts = l.trim().split('|');
                    let kind = parts.next()?.trim();
                    let name = parts.next().unwrap_or("").trim();
                    match (kind, name) {
                        ("", _) => None,
                        (k, "") => Some(k.to_owned()),
                        (k, n) => Some(format!("{k}/{n}")),
                    }
                })
                .collect()
        }),
    )
}

/// The configured clusters missing from `known`, as an error naming them and the known ones.
/// Names compare ignoring ASCII case, as sacct does (`--clusters=TALLYTEST` reads the
/// cluster `tallytest`).
fn check_clusters(
    configured: &[String],
    known: &[String],
    authority: ClusterAuthority,
) -> Result<(), SourceError> {
    let unknown: Vec<String> = configured
        .iter()
        .filter(|c| !known.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        let mut known = known.to_vec();
        known.sort();
        Err(SourceError::UnknownClusters {
            unknown,
            known,
            authority: authority.to_string(),
        })
    }
}

/// Passes records on and notes the clusters they name: sacct's own answer about which of
/// the asked-for clusters exist, when no sacctmgr can be asked.
struct SeenClusters<'s> {
    inner: &'s mut dyn RecordSink,
    seen: Vec<String>,
}

impl RecordSink for SeenClusters<'_> {
    fn wanted_tres(&self) -> &[String] {
        self.inner.wanted_tres()
    }
    fn record(&mut self, record: &JobRecord<'_>) {
        // A handful of clusters at most: a linear scan, no allocation after the first record.
        if !self.seen.iter().any(|c| c == record.cluster) {
            self.seen.push(record.cluster.to_string());
        }
        self.inner.record(record);
    }
    fn amount(&mut self, record: &AmountRecord<'_>) {
        self.inner.amount(record);
    }
    fn invalid(&mut self, invalid: InvalidRecord) {
        self.inner.invalid(invalid);
    }
}

/// Checks the configured clusters, runs sacct and reads its output as it comes.
///
/// The clusters are checked with sacctmgr before sacct runs. Without a sacctmgr (not beside
/// `sacct_path`, not on PATH, no `sacctmgr_path`), sacct's own answer is the judge: a
/// configured cluster none of whose jobs sacct returned for the window is refused, because
/// sacct answers an unknown cluster exactly as an idle one (a header, exit 0).
pub fn read(
    opts: &SacctCommandOptions,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    file_index: u32,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, SourceError> {
    if opts.clusters.is_empty() {
        // sacct then reads the cluster of its own slurm.conf: known by definition.
        return run_sacct(opts, start, end, file_index, sink);
    }
    if let Some(known) = known_clusters(opts)? {
        check_clusters(
            &opts.clusters,
            &known,
            ClusterAuthority::Sacctmgr(opts.sacctmgr()),
        )?;
        return run_sacct(opts, start, end, file_index, sink);
    }
    tracing::warn!(
        sacctmgr = %opts.sacctmgr().display(),
        "sacctmgr not found: the configured clusters are checked against the jobs sacct returns"
    );
    let mut seen = SeenClusters {
        inner: sink,
        seen: Vec::new(),
    };
    let stats = run_sacct(opts, start, end, file_index, &mut seen)?;
    check_clusters(&opts.clusters, &seen.seen, ClusterAuthority::SacctOutput)?;
    Ok(stats)
}

fn run_sacct(
    opts: &SacctCommandOptions,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    file_index: u32,
    sink: &mut dyn RecordSink,
) -> Result<SourceStats, SourceError> {
    let args = arguments(opts, start, end);
    let shown = format!("{} {}", opts.sacct_path.display(), args.join(" "));
    let fail = |reason: String| SourceError::Command {
        command: shown.clone(),
        reason,
    };
    let mut child = Command::new(&opts.sacct_path)
        .args(&args)
        .env("TZ", opts.timezone.name())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                fail(format!(
                    "{} not found: install the Slurm client or set `sacct_path` in the source",
                    opts.sacct_path.display()
                ))
            } else {
                fail(format!("cannot start: {e}"))
            }
        })?;
    // Drain stderr on its own thread so a chatty sacct cannot block on a full pipe.
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut buf);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        String::from_utf8_lossy(&buf).trim().to_string()
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    let sacct_opts = SacctOptions {
        delimiter: "|".into(),
        fields: None,
        timezone: opts.timezone,
        resource_field: opts.resource_field.clone(),
        cluster: String::new(),
    };
    let name = PathBuf::from(format!("sacct-command:{}", opts.sacct_path.display()));
    let result = sacct::read(stdout, Path::new(&name), file_index, &sacct_opts, sink);
    let status = child
        .wait()
        .map_err(|e| fail(format!("cannot wait for it: {e}")))?;
    let stderr_text = stderr_reader.join().unwrap_or_default();
    if !status.success() {
        let why = if stderr_text.is_empty() {
            "no message on stderr".to_string()
        } else {
            stderr_text
        };
        return Err(fail(format!("exited with {status}: {why}")));
    }
    warn_lines(&shown, &stderr_text);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_spelling_of_a_contract_option_is_refused() {
        for (given, culprit) in [
            (&["--units=G"][..], "--units=G"),
            (&["--units", "G"], "--units"),
            (&["--un=M"], "--un=M"),
            (&["-n"], "-n"),
            (&["-vn"], "-vn"),
            (&["-A", "a", "-P"], "-P"),
            (&["-Aa,b", "-X"], "-X"),
            (&["--fo=JobID"], "--fo=JobID"),
            (&["--fields=JobID"], "--fields=JobID"),
            (&["-oJobID"], "-oJobID"),
            (&["--delim=;"], "--delim=;"),
            (&["--end", "now"], "--end"),
            (&["-Snow"], "-Snow"),
            (&["--trunc"], "--trunc"),
            (&["--json=v0.0.38"], "--json=v0.0.38"),
            (&["--cluster=x"], "--cluster=x"),
            (&["--no"], "--no"),
            (&["--partition"], "--partition"),
            (&["--verbose=2"], "--verbose=2"),
            (&["-Z"], "-Z"),
            (&["--"], "--"),
            (&["gpu"], "gpu"),
        ] {
            let err = check_extra_args(&args(given)).expect_err(&format!("{given:?}"));
            assert_eq!(err.arg, culprit, "{given:?}: {err}");
        }
    }

    #[test]
    fn filters_pass_with_their_values_in_every_spelling() {
        for given in [
            &["--partition=gpu"][..],
            &["--partition", "-n"], // a value, however it looks
            &["-r", "gpu", "-A", "a,b"],
            &["-rgpu", "-vv"],
            &[
                "--acc=a",
                "--qos",
                "normal",
                "--local",
                "--whole-hetjob=yes",
            ],
            &[
                "-u",
                "alice",
                "--user=bob",
                "-N",
                "node[1-2]",
                "--name",
                "x",
            ],
        ] {
            assert_eq!(check_extra_args(&args(given)), Ok(()), "{given:?}");
        }
    }

    #[test]
    fn resource_field_is_asked_for_once() {
        let mut opts = SacctCommandOptions::default();
        assert_eq!(format_list(&opts), FORMAT);
        opts.resource_field = "account".into();
        assert_eq!(format_list(&opts), FORMAT);
        opts.resource_field = "WCKey".into();
        assert_eq!(format_list(&opts), format!("{FORMAT},WCKey"));
    }

    #[test]
    fn clusters_compare_as_sacct_compares_them() {
        let known = ["tallytest".to_string(), "other".to_string()];
        let by = || ClusterAuthority::SacctOutput;
        assert!(check_clusters(&["TallyTest".into()], &known, by()).is_ok());
        let err = check_clusters(&["tallytest".into(), "tallytset".into()], &known, by())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cluster \"tallytset\" not known") && err.contains(": other, tallytest)"),
            "{err}"
        );
    }

    #[test]
    fn sacctmgr_is_looked_for_beside_sacct() {
        let mut opts = SacctCommandOptions::default();
        assert_eq!(opts.sacctmgr(), PathBuf::from("sacctmgr"));
        opts.sacct_path = PathBuf::from("/opt/slurm/bin/sacct");
        assert_eq!(opts.sacctmgr(), PathBuf::from("/opt/slurm/bin/sacctmgr"));
        opts.sacctmgr_path = Some(PathBuf::from("/usr/bin/sacctmgr"));
        assert_eq!(opts.sacctmgr(), PathBuf::from("/usr/bin/sacctmgr"));
    }
}
