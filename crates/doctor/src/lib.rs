//! tally-doctor: what `tally doctor` checks before a site's first nightly run, as a library call.
//!
//! A nightly job finds its mistakes at 02:00, one per night: a token that expires after an idle
//! hour, a component type spelt differently from the offering's, accounts that map to nothing,
//! a cluster slurmdbd does not know, a ledger directory the service user cannot write. [`diagnose`]
//! asks every one of those questions at once and answers each with a [`Finding`]: what was
//! checked, whether it holds, and what to do when it does not. It never writes to Waldur and
//! never prints or returns the token (findings name the token file, never its content).
//!
//! The checks, in order (a check whose premise failed is [`Status::Skipped`], saying why):
//! config, token file, token, token lifetime, offering, one per component, sources, accounts,
//! server clock, month close, ledger, lock.
//!
//! [`starter`] writes the config `tally init` starts a site with.

mod local;
mod remote;
pub mod starter;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It holds.
    Ok,
    /// It holds for now, but needs a look (a lock held by a running push, a server that does
    /// not show the token's lifetime, a clock a little off).
    Warn,
    /// It does not hold: the nightly run would fail or report wrong figures.
    Fail,
    /// Not checked, because something it needs failed first.
    Skipped,
}

/// One check's outcome: one line of `tally doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked (`config`, `token file`, `component cpu`, ...).
    pub check: String,
    pub status: Status,
    /// What was found.
    pub summary: String,
    /// What to do about it (failures and warnings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

impl Finding {
    fn new(check: impl Into<String>, status: Status, summary: impl Into<String>) -> Self {
        Finding {
            check: check.into(),
            status,
            summary: summary.into(),
            advice: None,
        }
    }

    fn ok(check: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(check, Status::Ok, summary)
    }

    fn fail(
        check: impl Into<String>,
        summary: impl Into<String>,
        advice: impl Into<String>,
    ) -> Self {
        Self::new(check, Status::Fail, summary).advise(advice)
    }

    fn warn(
        check: impl Into<String>,
        summary: impl Into<String>,
        advice: impl Into<String>,
    ) -> Self {
        Self::new(check, Status::Warn, summary).advise(advice)
    }

    fn skipped(check: impl Into<String>, why: impl Into<String>) -> Self {
        Self::new(check, Status::Skipped, why)
    }

    fn advise(mut self, advice: impl Into<String>) -> Self {
        self.advice = Some(advice.into());
        self
    }
}

/// Every finding of one diagnosis, in the order checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub config: PathBuf,
    pub findings: Vec<Finding>,
}

impl Report {
    /// No check failed (warnings and skipped checks allowed only where a failure caused none:
    /// a skipped check always follows a failed one).
    pub fn passed(&self) -> bool {
        !self.findings.iter().any(|f| f.status == Status::Fail)
    }

    /// The finding of `check`, if it was made.
    pub fn finding(&self, check: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.check == check)
    }
}

/// What a diagnosis may be told instead of looking it up.
#[derive(Debug, Clone)]
pub struct Options {
    /// This machine's clock (the records of its month are checked; its distance to the
    /// server's clock is measured). `None`: now.
    pub now: Option<DateTime<Utc>>,
    /// A server clock further off than this fails the clock check; half of it warns.
    pub max_clock_skew: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            now: None,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
        }
    }
}

/// Five minutes: usage reported near midnight on the last day of a month lands in the month of
/// the server's clock, so a larger skew moves figures between invoices.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Runs every check against the config at `config_path`. Never fails: what goes wrong is a
/// finding. Must run inside a Tokio runtime (the reading of records runs on its blocking pool).
pub async fn diagnose(config_path: &Path, options: &Options) -> Report {
    let now = options.now.unwrap_or_else(Utc::now);
    let mut findings = Vec::new();
    let config = match local::config(config_path) {
        Ok((config, finding)) => {
            findings.push(finding);
            config
        }
        Err(finding) => {
            findings.push(finding);
            for check in LATER_CHECKS {
                findings.push(Finding::skipped(*check, "the config does not load"));
            }
            return Report {
                config: config_path.to_path_buf(),
                findings,
            };
        }
    };
    let waldur = config.waldur.clone();
    findings.push(local::token_file(waldur.as_ref()));
    let remote = remote::checks(&config, now, options.max_clock_skew).await;
    let (remote_findings, month_findings) = remote;
    findings.extend(remote_findings);
    findings.extend(month_findings);
    findings.extend(local::ledger_and_lock(&config));
    Report {
        config: config_path.to_path_buf(),
        findings,
    }
}

/// The checks skipped when the config does not load.
const LATER_CHECKS: &[&str] = &[
    "token file",
    "token",
    "token lifetime",
    "offering",
    "components",
    "sources",
    "accounts",
    "server clock",
    "month close",
    "ledger",
    "lock",
];

/// A duration as people read it: `14 d 11 h`, `3 h 5 min`, `42 s`.
fn human(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().abs();
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {mins} min")
    } else if mins > 0 {
        format!("{mins} min {} s", s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(chrono::TimeDelta::seconds(42)), "42 s");
        assert_eq!(human(chrono::TimeDelta::seconds(-125)), "2 min 5 s");
        assert_eq!(
            human(chrono::TimeDelta::seconds(3 * 3600 + 300)),
            "3 h 5 min"
        );
        assert_eq!(
            human(chrono::TimeDelta::seconds(14 * 86_400 + 11 * 3600 + 59)),
            "14 d 11 h"
        );
    }

    #[test]
    fn a_report_passes_only_without_failures() {
        let mut r = Report {
            config: PathBuf::from("t.toml"),
            findings: vec![
                Finding::ok("config", "valid"),
                Finding::warn("lock", "held", "wait"),
            ],
        };
        assert!(r.passed());
        r.findings
            .push(Finding::fail("token", "refused", "new token"));
        assert!(!r.passed());
        assert_eq!(r.finding("lock").map(|f| f.status), Some(Status::Warn));
    }
}
