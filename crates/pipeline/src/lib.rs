//! tally-pipeline: what `collect`, `push`, `check`, `run` and `replay` do, as library calls.
//!
//! The binary parses arguments, calls these and renders what they return; everything that
//! decides what is billed, in which order Waldur is asked, and what the run's verdict is lives
//! here, so that a site embedding tally (or a test) gets exactly what the commands do.
//!
//! - [`collect()`]: every configured source read and aggregated over a [`Window`].
//! - [`push()`]: server version, holdings, ownership, plan, drop guard, send, verify, summary and
//!   a [`Verdict`], as a [`PushReport`].
//! - [`check()`]: the comparison with what Waldur holds, with the cells push owns.
//! - [`nightly`]: the months a nightly run covers and what its ledger row records.
//! - [`run`]: `push`, `run` and `check` as one call each, from the configuration file to the
//!   verdict, with the run lock, the ledger row and the metrics file.
//! - [`replay`]: a fixture replay against the in-process sandbox and its expected-file format.

mod collect;
mod connection;
mod error;
pub mod history;
pub mod limits;
pub mod metrics;
pub mod nightly;
pub mod plan_periods;
mod push;
pub mod replay;
pub mod run;

pub use collect::{
    collect, collect_with_plan_periods, explain, needs_attention, window, CollectError,
    ExplainQuery, Window,
};
pub use connection::{
    client, connect, lock_path, mapping_reach, open_ledger, open_ledger_with_id, ownership_mode,
    waldur_section, waldur_table, written_read_only, ClientOverrides, Connection,
    OperationDefaults,
};
pub use error::{
    chain_text, error_kind, token_refused, ErrorKind, PipelineError, TokenRefused, UsageError,
};
pub use push::{check, check_collection, push, PushJob, PushReport, SendProgress};

/// What a command came to, in the terms monitoring needs; the binary maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything read, computed (and delivered, for commands that deliver).
    Ok,
    /// `--strict`: invalid input lines or accounts that map to no resource.
    InvalidInput,
    /// Cells or per-user breakdowns not delivered (held back, refused, failed).
    NotDone,
    /// What Waldur holds differs from what tally computes.
    Differences,
    /// Waldur refused the API token.
    AuthFailed,
    /// The ledger could not be written: sending stopped.
    LedgerFailed,
}

impl Verdict {
    /// The verdict an operator must act on first: a refused token before a broken ledger
    /// before bad input before undelivered cells before differences.
    fn urgency(self) -> u8 {
        match self {
            Verdict::AuthFailed => 0,
            Verdict::LedgerFailed => 1,
            Verdict::InvalidInput => 2,
            Verdict::NotDone => 3,
            Verdict::Differences => 4,
            Verdict::Ok => 5,
        }
    }

    /// Of two steps' verdicts (a run's push and check), the one that needs acting on first.
    pub fn most_urgent(self, other: Verdict) -> Verdict {
        if self.urgency() <= other.urgency() {
            self
        } else {
            other
        }
    }

    /// This verdict, or `next` when this one is `Ok`: the first thing that went wrong wins
    /// (a replay's months, then its check).
    pub fn or_then(self, next: Verdict) -> Verdict {
        if self == Verdict::Ok {
            next
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    #[test]
    fn the_most_actionable_verdict_wins() {
        use Verdict::*;
        assert_eq!(NotDone.most_urgent(Differences), NotDone);
        assert_eq!(Ok.most_urgent(Differences), Differences);
        assert_eq!(AuthFailed.most_urgent(Ok), AuthFailed);
        assert_eq!(Differences.most_urgent(LedgerFailed), LedgerFailed);
        assert_eq!(Ok.most_urgent(Ok), Ok);
    }

    #[test]
    fn the_first_verdict_that_is_not_ok_stays() {
        use Verdict::*;
        assert_eq!(Ok.or_then(Differences), Differences);
        assert_eq!(NotDone.or_then(Differences), NotDone);
        assert_eq!(Ok.or_then(Ok), Ok);
    }
}
