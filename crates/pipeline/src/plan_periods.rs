//! Plan periods in the pipeline (issue 23, docs/plan-periods.md): the timelines the aggregator
//! cuts at, the push of the current month per plan period, and what `check` reads to answer
//! "will it be invoiced?".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tally_config::Config;
use tally_model::{BillingMonth, PlanPartCell, PlanPeriodSpan, PlanTimeline, UsageCell};
use tally_push::{
    gather, outcome_of_error, Outcome, PastMonths, PeriodPart, PeriodPlan, PeriodPlanInput,
    PeriodRefusal, PeriodRequest, ServerInfo, WaldurResource,
};
use tally_waldur::{PlanPeriod, ResourceView, SetUsageRequest, UsageItem, WaldurClient};
use uuid::Uuid;

use crate::connection::mapping_reach;
use crate::error::waldur;
use crate::{Connection, PipelineError, Window};

/// Plan periods by resource `backend_id`: what the aggregator cuts the months at.
pub type Timelines = BTreeMap<String, PlanTimeline<Uuid>>;

/// Whether the server keeps one usage row per plan period (the 2024 generation) rather than one
/// per month (8.x). The generation shows only in `/api/version/`: a server known to be 8.0 or
/// later (or one the operator says honours `date`, `--assume-date-support`) keys rows by month;
/// any other (the 2024 source installs answer "unknown", or refuse a provider's token) is taken
/// to key them by plan period, which is what its API does.
pub fn keys_rows_by_plan_period(server: &ServerInfo, past_months: PastMonths) -> bool {
    server.honours_date != Some(true) && past_months != PastMonths::AssumeDateSupport
}

/// A resource's plan periods as the timeline the month is cut at, `None` when there is no
/// switch to cut at (fewer than two periods) or the periods overlap (with a warning).
///
/// Only switches cut: time before the first period belongs to the first one and time after the
/// last period's end to the last one. A resource created in the middle of a month (one period
/// starting then) is reported as before, in one piece: Waldur attaches a report without
/// `plan_period` to the period active when it arrives, and nothing else could bill that time.
pub fn timeline_of(backend_id: &str, periods: &[PlanPeriod]) -> Option<PlanTimeline<Uuid>> {
    if periods.len() < 2 {
        return None;
    }
    let mut spans: Vec<PlanPeriodSpan<Uuid>> = periods
        .iter()
        .map(|p| PlanPeriodSpan {
            key: p.uuid,
            start: p.start,
            end: p.end,
        })
        .collect();
    spans.sort_by_key(|p| p.start);
    if let Some(first) = spans.first_mut() {
        first.start = None;
    }
    if let Some(last) = spans.last_mut() {
        last.end = None;
    }
    match PlanTimeline::new(spans) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(resource = %backend_id, "plan periods not used ({e}): the month is not split at its plan switch");
            None
        }
    }
}

/// The timelines of the offering's resources whose plan changed inside the current month, when
/// the window holds it (Waldur lists the periods of the current month only, and a period of an
/// earlier month can no longer be written). One `plan_periods` read per resource tally's mapping
/// can name: the cost of knowing where the switches are.
pub async fn plan_timelines(
    config: &Config,
    connection: &Connection,
    window: &Window,
    now: DateTime<Utc>,
) -> Result<Timelines, PipelineError> {
    let tz = config.billing_timezone;
    let current = BillingMonth::containing(now, tz);
    let mut out = Timelines::new();
    if !window.range.contains(current) {
        return Ok(out);
    }
    let client = &connection.client;
    let resources = gather::resources(client, connection.offering)
        .await
        .map_err(waldur("listing the offering's resources"))?;
    let reach = mapping_reach(config);
    let (start, end) = (
        current.start(tz).timestamp_micros(),
        current.end(tz).timestamp_micros(),
    );
    for r in resources.iter().filter(|r| match &reach {
        tally_push::MappingReach::EveryBackendId => !r.backend_id.is_empty(),
        tally_push::MappingReach::Only(ids) => ids.contains(&r.backend_id),
    }) {
        let periods = client
            .plan_periods(ResourceView::Provider, r.uuid)
            .await
            .map_err(waldur("reading a resource's plan periods"))?;
        if let Some(tl) = timeline_of(&r.backend_id, &periods) {
            if tl.switches_within(start, end) {
                tracing::info!(resource = %r.backend_id, month = %current, periods = periods.len(),
                    "the plan changed this month: the month is split at the switch");
                out.insert(r.backend_id.clone(), tl);
            }
        }
    }
    Ok(out)
}

/// The current month of the resources tally split at a plan switch, or that Waldur holds in
/// several rows: planned per plan period, taken out of the month-per-cell plan.
#[derive(Debug, Clone, Default)]
pub struct PeriodPush {
    pub plan: PeriodPlan,
    /// What sending each request came to (empty for a dry run).
    pub results: Vec<(PeriodRequest, Outcome)>,
    /// (resource backend_id, month): cells the month-per-cell plan must not touch.
    pub taken: BTreeSet<(String, BillingMonth)>,
    /// Resources whose month was split while the server keeps one row per month: the month is
    /// reported once and billed on one plan (the last one written).
    pub billed_on_one_plan: Vec<(String, BillingMonth)>,
}

impl PeriodPush {
    /// Parts not delivered: refused ones and requests that failed.
    pub fn not_delivered(&self) -> usize {
        self.plan.refused.len()
            + self
                .results
                .iter()
                .filter(|(_, o)| !o.is_delivered())
                .map(|(r, _)| r.items.len())
                .sum::<usize>()
    }
}

/// What [`plan_and_send`] needs.
pub(crate) struct PeriodPushInput<'a> {
    pub client: &'a WaldurClient,
    pub server: &'a ServerInfo,
    pub past_months: PastMonths,
    pub now: DateTime<Utc>,
    pub current: BillingMonth,
    pub resources: &'a [WaldurResource],
    pub cells: &'a [UsageCell],
    pub parts: &'a [PlanPartCell],
    /// Keys Waldur holds in several rows (by resource uuid).
    pub several_rows: &'a BTreeMap<tally_push::HoldingKey, Vec<rust_decimal::Decimal>>,
    pub dry_run: bool,
    /// The push's drop guard: a part may not lower its period's row further than a cell may.
    pub drop_guard: tally_push::DropGuard,
    /// The ledger and the run's id: every part sent is recorded as an attempt of purpose
    /// `plan_period` (`tally history` shows it), pending before the call, its outcome after.
    pub ledger: Option<(&'a tally_push::Ledger, &'a str)>,
}

/// Plans (and unless a dry run, sends) the current month per plan period.
pub(crate) async fn plan_and_send(
    input: &PeriodPushInput<'_>,
) -> Result<PeriodPush, PipelineError> {
    let mut out = PeriodPush::default();
    let current = input.current;
    let split: BTreeSet<&str> = input
        .parts
        .iter()
        .filter(|p| p.period == current)
        .map(|p| p.resource.as_str())
        .collect();
    let by_uuid: BTreeMap<Uuid, &WaldurResource> =
        input.resources.iter().map(|r| (r.uuid, r)).collect();
    if !keys_rows_by_plan_period(input.server, input.past_months) {
        for r in &split {
            tracing::warn!(resource = %r, month = %current,
                "the plan changed this month, but this server keeps one usage row per month: the month is reported once and billed on one plan (the one it stores the row under)");
            out.billed_on_one_plan.push(((*r).to_owned(), current));
        }
        return Ok(out);
    }
    for backend_id in &split {
        let Some(resource) = input.resources.iter().find(|r| r.backend_id == *backend_id) else {
            continue; // an unknown backend_id: the month-per-cell plan reports it
        };
        let periods = input
            .client
            .plan_periods(ResourceView::Provider, resource.uuid)
            .await
            .map_err(waldur("reading a resource's plan periods"))?;
        let held = input
            .client
            .held_usage_by_plan_period(ResourceView::Provider, resource.uuid)
            .await
            .map_err(waldur("reading the usage Waldur holds per plan period"))?;
        let held: Vec<_> = held
            .into_iter()
            .filter(|h| {
                h.row
                    .billing_period
                    .is_none_or(|d| d == current.first_day())
            })
            .collect();
        out.plan.extend(tally_push::plan_periods(&PeriodPlanInput {
            resource: resource.uuid,
            backend_id,
            month: current,
            now: input.now,
            parts: input.parts,
            periods: &periods,
            held: &held,
            drop_guard: input.drop_guard,
        }));
        out.taken.insert(((*backend_id).to_owned(), current));
    }
    // A month held in several rows that tally did not split: one figure must not overwrite one
    // of them (nor add another); it is reported, not sent.
    for ((resource, month, component), rows) in input.several_rows {
        let Some(r) = by_uuid.get(resource) else {
            continue;
        };
        if out.taken.contains(&(r.backend_id.clone(), *month)) {
            continue;
        }
        let computed = input
            .cells
            .iter()
            .find(|c| c.resource == r.backend_id && c.period == *month && &c.component == component)
            .map(|c| c.amount)
            .unwrap_or_default();
        out.plan.refused.push(PeriodRefusal::HeldInSeveralRows {
            part: PeriodPart {
                resource: *resource,
                backend_id: r.backend_id.clone(),
                month: *month,
                component: component.clone(),
                plan_period: None,
                amount: computed,
            },
            rows: rows.clone(),
        });
    }
    for refusal in &out.plan.refused {
        let p = refusal.part();
        tracing::error!(resource = %p.backend_id, month = %p.month, component = %p.component,
            "NOT SENT: {}", refusal.why());
    }
    if input.dry_run {
        return Ok(out);
    }
    for req in &out.plan.requests {
        let items = req
            .items
            .iter()
            .map(|(c, a)| UsageItem::new(c, *a))
            .collect();
        let month = req.month.to_string();
        let attempt = match input.ledger {
            Some((ledger, run_id)) => Some(ledger.begin_attempt(&tally_push::AttemptStart {
                run_id,
                backend_id: &req.backend_id,
                resource: req.resource,
                month: &month,
                date: None,
                amounts: tally_push::AttemptAmounts::Totals {
                    purpose: tally_push::Purpose::PlanPeriod,
                    items: &req.items,
                    held: &[],
                },
            })?),
            None => None,
        };
        let answer = input
            .client
            .set_usage(&SetUsageRequest::for_plan_period(req.plan_period, items))
            .await;
        let outcome = match &answer {
            Ok(_) => Outcome::Delivered,
            Err(e) => outcome_of_error(e),
        };
        if let (Some((ledger, _)), Some(id)) = (input.ledger, attempt) {
            let under = format!(
                "plan period {} ({})",
                req.plan_period,
                req.plan_name.as_deref().unwrap_or("?")
            );
            let message = match outcome.message() {
                Some(m) => format!("{under}: {m}"),
                None => under,
            };
            ledger.finish_attempt(
                id,
                &tally_push::AttemptResult {
                    outcome: outcome.name(),
                    http_status: match &answer {
                        Ok(_) => Some(201),
                        Err(e) => e.status(),
                    },
                    http_attempts: answer
                        .as_ref()
                        .err()
                        .and_then(|e| e.failure())
                        .map(|f| f.attempts),
                    message: Some(&message),
                },
            )?;
        }
        let shown: Vec<String> = req.items.iter().map(|(c, a)| format!("{c}={a}")).collect();
        match &outcome {
            Outcome::Delivered => tracing::info!(resource = %req.backend_id, month = %req.month,
                plan_period = %req.plan_period, plan = req.plan_name.as_deref().unwrap_or("?"),
                "delivered under its plan period {}", shown.join(" ")),
            other => tracing::error!(resource = %req.backend_id, month = %req.month,
                plan_period = %req.plan_period, "{}: {}", other.name(), other.message().unwrap_or_default()),
        }
        out.results.push((req.clone(), outcome));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(n: u8, start: &str, end: Option<&str>) -> PlanPeriod {
        serde_json::from_value(serde_json::json!({
            "uuid": Uuid::from_bytes([n; 16]), "start": start, "end": end, "components": []
        }))
        .expect("period")
    }

    fn micros(s: &str) -> i64 {
        s.parse::<DateTime<Utc>>()
            .expect("instant")
            .timestamp_micros()
    }

    #[test]
    fn only_a_switch_cuts_and_time_outside_the_periods_goes_to_the_nearest() {
        // Created mid-month, never switched: reported in one piece, as before.
        let one = [period(1, "2026-11-10T12:00:00Z", None)];
        assert!(timeline_of("a", &one).is_none());
        // Switched on the 15th: time before the first period's start is the first plan's.
        let two = [
            period(2, "2026-11-15T12:00:00.5Z", None),
            period(1, "2026-11-10T12:00:00Z", Some("2026-11-15T12:00:00Z")),
        ];
        let tl = timeline_of("a", &two).expect("timeline");
        let (m0, m1) = (
            micros("2026-11-01T00:00:00Z"),
            micros("2026-12-01T00:00:00Z"),
        );
        let pieces: Vec<(Uuid, i64, i64)> = tl
            .split(m0, m1)
            .iter()
            .map(|p| (*p.period.expect("a period"), p.start_micros, p.end_micros))
            .collect();
        let cut = micros("2026-11-15T12:00:00.5Z");
        assert_eq!(
            pieces,
            vec![
                (Uuid::from_bytes([1; 16]), m0, cut),
                (Uuid::from_bytes([2; 16]), cut, m1)
            ]
        );
    }
}
