//! Exit codes: every one has one meaning, documented in the README, so that monitoring can
//! tell a configuration mistake from an outage from data that needs a look.

use std::process::ExitCode;

use tally_pipeline::{ErrorKind, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything read, computed (and delivered, for commands that deliver).
    Ok = 0,
    /// An unexpected failure: I/O error while reading, internal error.
    Failure = 1,
    /// The configuration or the command line is wrong (including input files that do not
    /// exist). Nothing was sent.
    Config = 2,
    /// `--strict`: some input lines were invalid or some accounts mapped to no resource.
    InvalidInput = 3,
    /// Some of the requested operations were not done (`tally orders approve A B` and one of
    /// them failed); each object's result is printed. For push/run: cells not delivered,
    /// including cells the drop guard held back and the requests of a push task that ended
    /// abnormally (counted as failed).
    NotDone = 4,
    /// `check` (or the check at the end of `run`/`replay`) found differences between what tally
    /// computes and what Waldur holds.
    Differences = 5,
    /// Waldur refused the API token (HTTP 401: wrong, missing or expired token).
    AuthFailed = 6,
    /// `tally run` or `tally push`: another run or push holds the lock; nothing was done.
    Locked = 7,
    /// `tally limits --fail-at P`: some allocation has used P % of a limit or more.
    OverLimit = 8,
    /// `tally doctor`: at least one check failed (each says what to do).
    DoctorFailed = 9,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Maps an error that ended the run to its exit code.
pub fn classify(err: &anyhow::Error) -> Exit {
    classify_error(&**err)
}

/// [`classify`] for a library's error, before it reaches the binary's error type: the errors
/// of the operations and of `tally init`, then the libraries' own [`ErrorKind`].
pub fn classify_error(err: &(dyn std::error::Error + 'static)) -> Exit {
    for cause in std::iter::successors(Some(err), |e| e.source()) {
        if cause.is::<tally_ops::NotDone>() {
            return Exit::NotDone;
        }
        // `tally init`: a wrong command line or token file is 2; a refusal by Waldur is
        // classified by the error it carries (401: 6).
        if let Some(e) = cause.downcast_ref::<tally_doctor::starter::InitError>() {
            if e.is_usage() {
                return Exit::Config;
            }
        }
    }
    match tally_pipeline::error_kind(err) {
        Some(ErrorKind::Usage) => Exit::Config,
        Some(ErrorKind::Locked) => Exit::Locked,
        Some(ErrorKind::TokenRefused) => Exit::AuthFailed,
        None => Exit::Failure,
    }
}

/// A command-line value that clap accepted but that makes no sense (e.g. --from after --to).
pub use tally_pipeline::UsageError;

impl From<Verdict> for Exit {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Ok => Exit::Ok,
            Verdict::InvalidInput => Exit::InvalidInput,
            Verdict::NotDone => Exit::NotDone,
            Verdict::Differences => Exit::Differences,
            Verdict::AuthFailed => Exit::AuthFailed,
            Verdict::LedgerFailed => Exit::Failure,
        }
    }
}
