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

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::sacct::{self, SacctOptions};
use crate::{RecordSink, SourceError, SourceStats};

pub const FORMAT: &str = "JobID,JobIDRaw,Cluster,Account,User,State,Submit,Start,End,AllocTRES";

#[derive(Clone, Debug)]
pub struct SacctCommandOptions {
    /// The program; `sacct` on PATH by default.
    pub sacct_path: PathBuf,
    pub clusters: Vec<String>,
    pub extra_args: Vec<String>,
    pub timezone: Tz,
    pub resource_field: String,
}

impl Default for SacctCommandOptions {
    fn default() -> Self {
        Self {
            sacct_path: PathBuf::from("sacct"),
            clusters: Vec::new(),
            extra_args: Vec::new(),
            timezone: Tz::UTC,
            resource_field: "Account".into(),
        }
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
        format!("--format={FORMAT}"),
    ];
    if !opts.clusters.is_empty() {
        args.push(format!("--clusters={}", opts.clusters.join(",")));
    }
    args.extend(opts.extra_args.iter().cloned());
    args
}

/// Runs sacct and reads its output as it comes.
pub fn read(
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
    result
}
