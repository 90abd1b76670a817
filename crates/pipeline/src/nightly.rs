//! The nightly run: which months it covers, the push and the check after it, and what its ledger
//! row records.

use chrono::{DateTime, Datelike, Utc};
use tally_check::CheckReport;
use tally_model::{BillingMonth, MonthRange};

use crate::{PipelineError, PushJob, PushReport, Verdict};

/// What a nightly run found (and a push alone: no check).
pub struct NightlyReport {
    pub pushed: PushReport,
    /// The check after the push; none when the push ended on a refused token (nothing more can
    /// work with it), and for `tally push`.
    pub check: Option<CheckReport>,
}

impl NightlyReport {
    /// The run's verdict: the more urgent of the push's and the check's.
    pub fn verdict(&self) -> Verdict {
        let check = self.check.as_ref().map_or(Verdict::Ok, Verdict::of_check);
        self.pushed.verdict.most_urgent(check)
    }

    /// The run's summary in the ledger.
    pub fn ledger_summary(&self) -> serde_json::Value {
        ledger_summary(&self.pushed, self.check.as_ref())
    }
}

/// The nightly run once the usage is collected: `job`'s push, then a check of the months it
/// covered against what Waldur then holds. `pushed` sees the push's report before the check
/// starts (the binary prints the push summary there).
pub async fn push_and_check(
    job: &PushJob<'_>,
    pushed: impl FnOnce(&PushReport),
) -> Result<NightlyReport, PipelineError> {
    let report = crate::push(job).await?;
    pushed(&report);
    if report.verdict == Verdict::AuthFailed {
        return Ok(NightlyReport {
            pushed: report,
            check: None,
        });
    }
    let check = crate::push::check_cells(
        job.config,
        job.connection,
        crate::push::CheckedCells {
            cells: job.cells,
            user_cells: job.user_cells,
            plan_parts: job.plan_parts,
        },
        job.range,
        job.now,
        job.past_months,
    )
    .await
    .map_err(|e| PipelineError::CheckAfterPush(Box::new(e)))?;
    Ok(NightlyReport {
        pushed: report,
        check: Some(check),
    })
}

/// The months a run covers at `now`: the current month, and the previous one too for the first
/// `previous_month_days` days of a month (late jobs of the previous month are then still
/// counted and confirmed).
pub fn nightly_range(
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    previous_month_days: u32,
) -> MonthRange {
    let current = BillingMonth::containing(now, tz);
    let day = now.with_timezone(&tz).day();
    let from = if day <= previous_month_days {
        current.prev()
    } else {
        current
    };
    MonthRange { from, to: current }
}

/// The run's summary in the ledger (`runs.summary`): the push's counts, the check's counts (none
/// when the push ended on a refused token), and how many current months were restored.
pub fn ledger_summary(pushed: &PushReport, check: Option<&CheckReport>) -> serde_json::Value {
    serde_json::json!({
        "push": pushed.summary,
        "check": check.map(|r| serde_json::json!({
            "agreeing": r.agreeing,
            "missing": r.count("missing"),
            "different": r.count("different"),
            "unexpected": r.count("unexpected"),
            "agreeing_users": r.agreeing_users,
            "user_missing": r.count_users("missing"),
            "user_different": r.count_users("different"),
            "user_unexpected": r.count_users("unexpected"),
        })),
        "restores": pushed.execution.as_ref().map(|e| e.restores.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_month_is_included_for_the_configured_days() {
        let tz = chrono_tz::Tz::UTC;
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        let r = nightly_range(at("2026-11-03T02:00:00Z"), tz, 3);
        assert_eq!(
            (r.from.to_string(), r.to.to_string()),
            ("2026-10".into(), "2026-11".into())
        );
        let r = nightly_range(at("2026-11-04T02:00:00Z"), tz, 3);
        assert_eq!(r.from.to_string(), "2026-11");
        let r = nightly_range(at("2026-11-01T02:00:00Z"), tz, 0);
        assert_eq!(r.from.to_string(), "2026-11");
        let r = nightly_range(at("2027-01-01T00:30:00Z"), tz, 1);
        assert_eq!(r.from.to_string(), "2026-12");
    }
}
