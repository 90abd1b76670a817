//! The plan: a pure function from what tally computed and what Waldur holds to the requests that
//! make Waldur hold exactly the computed totals, and the cells that cannot be delivered (each with
//! its reason). No I/O here, so every rule is a unit test and `--dry-run` is "plan, build, print".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
use tally_model::{BillingMonth, UsageCell};
use tally_waldur::{BillingType, ResourceState, SetUsageRequest, UsageItem};
use uuid::Uuid;

/// How close to the end of the current month an undated `set_usage` is still sent.
///
/// Waldur files an undated report under the month of *its* clock when the request is processed.
/// A request built at 23:59:58 that arrives at 00:00:01 would write this month's total into the
/// next month, where nothing corrects it if the resource has no usage there. Inside this margin
/// the current month's cells are held back; the last run of a month must start before it.
pub const MONTH_END_MARGIN_MINUTES: i64 = 5;

/// A resource of the offering, as the provider listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaldurResource {
    pub uuid: Uuid,
    /// `""` when the resource has none.
    pub backend_id: String,
    pub state: Option<ResourceState>,
    pub name: Option<String>,
}

/// An offering component and how it bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaldurComponent {
    pub component: String,
    pub billing_type: Option<BillingType>,
}

/// One stored figure: resource, billing month, component.
pub type HoldingKey = (Uuid, BillingMonth, String);

/// What Waldur holds for the months read: the total per (resource, month, component).
pub type Holdings = BTreeMap<HoldingKey, Decimal>;

/// The server's version and what follows from it for past months.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerInfo {
    /// As `/api/version/` says it (`"unknown"` on unpackaged installs).
    pub version: String,
    /// `Some(true)` from 8.0 on; `Some(false)` before (the `date` field is silently dropped and
    /// the current month written); `None` when the version does not say.
    pub honours_date: Option<bool>,
}

/// Whether past months may be sent to a server not known to honour `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PastMonths {
    /// Only to servers that say they are 8.0 or later (the default).
    #[default]
    OnlyIfServerHonoursDate,
    /// The operator knows better (`--assume-date-support`). The read-back after every past-month
    /// request still guards the current month.
    AssumeDateSupport,
}

/// Everything the plan is computed from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub cells: &'a [UsageCell],
    pub resources: &'a [WaldurResource],
    pub components: &'a [WaldurComponent],
    pub holdings: &'a Holdings,
    pub server: &'a ServerInfo,
    pub past_months: PastMonths,
    /// The clock tally believes the server has; decides which month is the current one.
    pub now: DateTime<Utc>,
    /// The zone months are cut in (Waldur's `TIME_ZONE`).
    pub billing_timezone: Tz,
}

/// Why a cell is not sent. Each is reported per resource and counted as not delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// No resource of the offering has this backend_id.
    UnknownBackendId,
    /// More than one resource that accepts usage has this backend_id: sending to either would
    /// be a guess.
    AmbiguousBackendId { resources: Vec<Uuid> },
    /// The resource is in a state that refuses usage (Creating, Erred, Terminated).
    ResourceState { resource: Uuid, state: String },
    /// The offering has no component of this type.
    UnknownComponent,
    /// The component exists but bills in a way that takes no usage reports (fixed, one, few).
    ComponentNotReportable { billing_type: String },
    /// The server is older than 8.0 and would write a past month into the current one.
    ServerIgnoresDate { version: String },
    /// The server does not say its version, so it may ignore `date` too.
    ServerVersionUnknown { version: String },
    /// A month after the current one (a clock problem on one side).
    FutureMonth { current: BillingMonth },
    /// Too close to the end of the current month (see [`MONTH_END_MARGIN_MINUTES`]).
    MonthEndMargin,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::UnknownBackendId => {
                f.write_str("no resource of the offering has this backend_id")
            }
            SkipReason::AmbiguousBackendId { resources } => write!(
                f,
                "{} resources that accept usage have this backend_id; fix the backend_ids in Waldur",
                resources.len()
            ),
            SkipReason::ResourceState { resource, state } => write!(
                f,
                "resource {} is in state {state}, which refuses usage (OK, Updating or Terminating needed)",
                resource.simple()
            ),
            SkipReason::UnknownComponent => f.write_str("the offering has no component of this type"),
            SkipReason::ComponentNotReportable { billing_type } => write!(
                f,
                "the component is {billing_type}-billed; only usage- and limit-billed components take reports"
            ),
            SkipReason::ServerIgnoresDate { version } => write!(
                f,
                "server {version} ignores `date`; past months cannot be reported; the current month was left untouched"
            ),
            SkipReason::ServerVersionUnknown { version } => write!(
                f,
                "server version {version:?} does not say whether it honours `date`; past months cannot be reported safely; the current month was left untouched (--assume-date-support overrides)"
            ),
            SkipReason::FutureMonth { current } => write!(
                f,
                "the month is after the current month {current}; check the clocks"
            ),
            SkipReason::MonthEndMargin => write!(
                f,
                "less than {MONTH_END_MARGIN_MINUTES} minutes before the month ends: an undated report could land in the next month; schedule the last run of a month earlier"
            ),
        }
    }
}

/// A cell that is not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedCell {
    pub cell: UsageCell,
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Target {
    pub uuid: Uuid,
    pub backend_id: String,
}

/// One `set_usage` to send: the totals of one resource and month for the cells that differ from
/// what Waldur holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRequest {
    pub target: Target,
    pub month: BillingMonth,
    /// `None` for the current month (offering managers may not send `date` at all); for a past
    /// month an instant inside it.
    pub date: Option<DateTime<Utc>>,
    /// Component and total, in component order.
    pub items: Vec<(String, Decimal)>,
    /// What Waldur held before, per component (`None`: nothing), for logs and the summary.
    pub held: Vec<Option<Decimal>>,
}

impl PlannedRequest {
    /// The request body: a pure function, so `--dry-run` prints exactly what would be sent.
    pub fn to_request(&self) -> SetUsageRequest {
        let usages = self
            .items
            .iter()
            .map(|(c, a)| UsageItem::new(c.clone(), *a))
            .collect();
        match self.date {
            None => SetUsageRequest::current_month(self.target.uuid, usages),
            Some(d) => SetUsageRequest::dated(self.target.uuid, d, usages),
        }
    }

    pub fn is_past_month(&self) -> bool {
        self.date.is_some()
    }
}

/// The plan of one push.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub current_month: Option<BillingMonth>,
    /// Sorted by resource, then month (past months before the current one).
    pub requests: Vec<PlannedRequest>,
    /// Cells Waldur already holds with the same 2-decimal value.
    pub unchanged: Vec<UsageCell>,
    pub skipped: Vec<SkippedCell>,
    /// Tally's current-month totals per resource (changed or not): what the current month must
    /// be restored to if a past-month request lands in it.
    #[serde(skip)]
    pub current_totals: BTreeMap<Uuid, BTreeMap<String, Decimal>>,
    /// The resource each backend_id resolved to (sent or unchanged cells alike): the per-user
    /// plan needs the resource of unchanged cells too, whose split may still differ.
    #[serde(skip)]
    pub resolved: BTreeMap<String, Uuid>,
}

impl Plan {
    /// Cells the requests carry.
    pub fn cells_to_send(&self) -> usize {
        self.requests.iter().map(|r| r.items.len()).sum()
    }
}

/// The instant sent as `date` for a past month: noon on the 15th in the billing zone, far from
/// both ends, so a server whose zone differs by hours still files it under the same month.
pub fn date_inside(month: BillingMonth, tz: Tz) -> DateTime<Utc> {
    let day = month.first_day() + Duration::days(14);
    let noon = day.and_hms_opt(12, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&noon)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| month.start(tz) + Duration::days(14))
}

enum Resolved<'a> {
    Found(&'a WaldurResource),
    Skip(SkipReason),
}

fn resolve<'a>(
    by_backend: &BTreeMap<&str, Vec<&'a WaldurResource>>,
    backend_id: &str,
) -> Resolved<'a> {
    let Some(all) = by_backend.get(backend_id) else {
        return Resolved::Skip(SkipReason::UnknownBackendId);
    };
    let accepting: Vec<&WaldurResource> = all
        .iter()
        .copied()
        .filter(|r| r.state.as_ref().is_some_and(ResourceState::accepts_usage))
        .collect();
    match accepting.as_slice() {
        [one] => Resolved::Found(one),
        [] => {
            // Name the state of one of them (they usually are one resource in a bad state).
            let r = all[0];
            Resolved::Skip(SkipReason::ResourceState {
                resource: r.uuid,
                state: r
                    .state
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "unknown".to_owned()),
            })
        }
        many => Resolved::Skip(SkipReason::AmbiguousBackendId {
            resources: many.iter().map(|r| r.uuid).collect(),
        }),
    }
}

/// Computes the plan. Deterministic: the same input gives the same plan.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let tz = input.billing_timezone;
    let current = BillingMonth::containing(input.now, tz);
    let in_margin = current.end(tz) - input.now < Duration::minutes(MONTH_END_MARGIN_MINUTES);

    let mut by_backend: BTreeMap<&str, Vec<&WaldurResource>> = BTreeMap::new();
    for r in input.resources {
        if !r.backend_id.is_empty() {
            by_backend.entry(r.backend_id.as_str()).or_default().push(r);
        }
    }
    let components: BTreeMap<&str, &WaldurComponent> = input
        .components
        .iter()
        .map(|c| (c.component.as_str(), c))
        .collect();

    let mut out = Plan {
        current_month: Some(current),
        ..Plan::default()
    };
    // (target, month, billing group) -> items; past months split usage- from limit-billed
    // components, because Waldur refuses a dated request to a provider if any item is
    // usage-billed, which would otherwise take the limit components down with it.
    let mut grouped: BTreeMap<(Target, BillingMonth, bool), PlannedRequest> = BTreeMap::new();

    let mut cells: Vec<&UsageCell> = input.cells.iter().collect();
    cells.sort();
    let mut seen: BTreeSet<(&str, BillingMonth, &str)> = BTreeSet::new();
    for cell in cells {
        // Cells are unique per key by construction; a duplicate would be sent twice with
        // different totals, so the first one (sorted) wins and the rest are ignored loudly.
        if !seen.insert((&cell.resource, cell.period, &cell.component)) {
            tracing::error!(resource = %cell.resource, month = %cell.period, component = %cell.component, "duplicate usage cell ignored");
            continue;
        }
        let skip = |reason: SkipReason| SkippedCell {
            cell: cell.clone(),
            reason,
        };
        let resource = match resolve(&by_backend, &cell.resource) {
            Resolved::Found(r) => {
                out.resolved.insert(cell.resource.clone(), r.uuid);
                r
            }
            Resolved::Skip(reason) => {
                out.skipped.push(skip(reason));
                continue;
            }
        };
        let limit_billed = match components.get(cell.component.as_str()) {
            None => {
                out.skipped.push(skip(SkipReason::UnknownComponent));
                continue;
            }
            Some(c) => match &c.billing_type {
                Some(b) if !b.accepts_usage() => {
                    out.skipped.push(skip(SkipReason::ComponentNotReportable {
                        billing_type: b.as_str().to_owned(),
                    }));
                    continue;
                }
                b => matches!(b, Some(BillingType::Limit)),
            },
        };
        if cell.period == current {
            out.current_totals
                .entry(resource.uuid)
                .or_default()
                .insert(cell.component.clone(), cell.amount);
        }
        let held = input
            .holdings
            .get(&(resource.uuid, cell.period, cell.component.clone()))
            .copied();
        if held == Some(cell.amount) {
            out.unchanged.push(cell.clone());
            continue;
        }
        let date = if cell.period > current {
            out.skipped.push(skip(SkipReason::FutureMonth { current }));
            continue;
        } else if cell.period == current {
            if in_margin {
                out.skipped.push(skip(SkipReason::MonthEndMargin));
                continue;
            }
            None
        } else {
            match (input.server.honours_date, input.past_months) {
                (Some(true), _) | (_, PastMonths::AssumeDateSupport) => {}
                (Some(false), PastMonths::OnlyIfServerHonoursDate) => {
                    out.skipped.push(skip(SkipReason::ServerIgnoresDate {
                        version: input.server.version.clone(),
                    }));
                    continue;
                }
                (None, PastMonths::OnlyIfServerHonoursDate) => {
                    out.skipped.push(skip(SkipReason::ServerVersionUnknown {
                        version: input.server.version.clone(),
                    }));
                    continue;
                }
            }
            Some(date_inside(cell.period, tz))
        };
        let target = Target {
            uuid: resource.uuid,
            backend_id: cell.resource.clone(),
        };
        let group = date.is_some() && limit_billed;
        let req = grouped
            .entry((target.clone(), cell.period, group))
            .or_insert_with(|| PlannedRequest {
                target,
                month: cell.period,
                date,
                items: Vec::new(),
                held: Vec::new(),
            });
        req.items.push((cell.component.clone(), cell.amount));
        req.held.push(held);
    }
    out.requests = grouped.into_values().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }
    fn m(s: &str) -> BillingMonth {
        s.parse().expect("month")
    }
    fn u(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn cell(r: &str, p: &str, c: &str, a: &str) -> UsageCell {
        UsageCell {
            resource: r.into(),
            period: m(p),
            component: c.into(),
            amount: d(a),
        }
    }
    fn res(n: u128, backend: &str, state: ResourceState) -> WaldurResource {
        WaldurResource {
            uuid: u(n),
            backend_id: backend.into(),
            state: Some(state),
            name: None,
        }
    }
    fn comp(c: &str, b: BillingType) -> WaldurComponent {
        WaldurComponent {
            component: c.into(),
            billing_type: Some(b),
        }
    }
    fn server(v: &str, honours: Option<bool>) -> ServerInfo {
        ServerInfo {
            version: v.into(),
            honours_date: honours,
        }
    }
    fn now() -> DateTime<Utc> {
        "2026-11-25T00:00:00Z".parse().expect("time")
    }

    struct World {
        resources: Vec<WaldurResource>,
        components: Vec<WaldurComponent>,
        holdings: Holdings,
        server: ServerInfo,
    }

    fn world() -> World {
        World {
            resources: vec![
                res(1, "proj_alpha", ResourceState::Ok),
                res(2, "proj_beta", ResourceState::Ok),
                res(3, "proj_erred", ResourceState::Erred),
            ],
            components: vec![
                comp("cpu", BillingType::Usage),
                comp("gpu", BillingType::Usage),
                comp("storage", BillingType::Limit),
                comp("fixed", BillingType::Fixed),
            ],
            holdings: Holdings::new(),
            server: server("8.0.5", Some(true)),
        }
    }

    fn run(w: &World, cells: &[UsageCell], now: DateTime<Utc>, past: PastMonths) -> Plan {
        plan(&PlanInput {
            cells,
            resources: &w.resources,
            components: &w.components,
            holdings: &w.holdings,
            server: &w.server,
            past_months: past,
            now,
            billing_timezone: Tz::UTC,
        })
    }

    #[test]
    fn current_month_goes_undated_in_one_request_per_resource() {
        let w = world();
        let cells = [
            cell("proj_alpha", "2026-11", "cpu", "10.00"),
            cell("proj_alpha", "2026-11", "gpu", "2.50"),
            cell("proj_beta", "2026-11", "cpu", "1.00"),
        ];
        let p = run(&w, &cells, now(), PastMonths::default());
        assert_eq!(p.requests.len(), 2);
        let a = &p.requests[0];
        assert_eq!(a.target.uuid, u(1));
        assert_eq!(a.date, None);
        assert_eq!(
            serde_json::to_value(a.to_request()).expect("json"),
            serde_json::json!({
                "resource": u(1).simple().to_string(),
                "usages": [{"type": "cpu", "amount": "10.00"}, {"type": "gpu", "amount": "2.50"}]
            })
        );
        assert!(p.skipped.is_empty() && p.unchanged.is_empty());
        assert_eq!(p.current_totals[&u(1)].len(), 2);
    }

    #[test]
    fn matching_values_are_not_sent_and_differences_are() {
        let mut w = world();
        w.holdings
            .insert((u(1), m("2026-11"), "cpu".into()), d("10"));
        w.holdings
            .insert((u(1), m("2026-11"), "gpu".into()), d("2.4"));
        let cells = [
            cell("proj_alpha", "2026-11", "cpu", "10.00"),
            cell("proj_alpha", "2026-11", "gpu", "2.50"),
        ];
        let p = run(&w, &cells, now(), PastMonths::default());
        assert_eq!(p.unchanged.len(), 1);
        assert_eq!(p.requests.len(), 1);
        assert_eq!(p.requests[0].items, vec![("gpu".to_string(), d("2.50"))]);
        assert_eq!(p.requests[0].held, vec![Some(d("2.4"))]);
        // Still part of the totals the current month must hold.
        assert_eq!(p.current_totals[&u(1)]["cpu"], d("10.00"));
    }

    #[test]
    fn each_refusal_has_its_own_reason_and_the_rest_still_goes() {
        let w = world();
        let cells = [
            cell("proj_alpha", "2026-11", "cpu", "1"),
            cell("proj_alpha", "2026-11", "disk", "1"),
            cell("proj_alpha", "2026-11", "fixed", "1"),
            cell("proj_erred", "2026-11", "cpu", "1"),
            cell("proj_nowhere", "2026-11", "cpu", "1"),
            cell("proj_beta", "2026-12", "cpu", "1"),
        ];
        let p = run(&w, &cells, now(), PastMonths::default());
        assert_eq!(p.requests.len(), 1);
        let reasons: Vec<(String, SkipReason)> = p
            .skipped
            .iter()
            .map(|s| {
                (
                    format!("{}/{}", s.cell.resource, s.cell.component),
                    s.reason.clone(),
                )
            })
            .collect();
        assert!(reasons.contains(&("proj_alpha/disk".into(), SkipReason::UnknownComponent)));
        assert!(reasons.contains(&(
            "proj_alpha/fixed".into(),
            SkipReason::ComponentNotReportable {
                billing_type: "fixed".into()
            }
        )));
        assert!(reasons.contains(&(
            "proj_erred/cpu".into(),
            SkipReason::ResourceState {
                resource: u(3),
                state: "Erred".into()
            }
        )));
        assert!(reasons.contains(&("proj_nowhere/cpu".into(), SkipReason::UnknownBackendId)));
        assert!(reasons.contains(&(
            "proj_beta/cpu".into(),
            SkipReason::FutureMonth {
                current: m("2026-11")
            }
        )));
    }

    #[test]
    fn a_backend_id_on_two_live_resources_is_not_guessed() {
        let mut w = world();
        w.resources
            .push(res(9, "proj_alpha", ResourceState::Updating));
        // A terminated twin does not make it ambiguous.
        w.resources
            .push(res(10, "proj_beta", ResourceState::Terminated));
        let cells = [
            cell("proj_alpha", "2026-11", "cpu", "1"),
            cell("proj_beta", "2026-11", "cpu", "1"),
        ];
        let p = run(&w, &cells, now(), PastMonths::default());
        assert_eq!(p.requests.len(), 1);
        assert_eq!(p.requests[0].target.uuid, u(2));
        assert_eq!(
            p.skipped[0].reason,
            SkipReason::AmbiguousBackendId {
                resources: vec![u(1), u(9)]
            }
        );
    }

    #[test]
    fn past_months_are_dated_inside_the_month_and_split_by_billing_type() {
        let w = world();
        let cells = [
            cell("proj_alpha", "2026-10", "cpu", "5"),
            cell("proj_alpha", "2026-10", "storage", "7"),
            cell("proj_alpha", "2026-11", "cpu", "1"),
        ];
        let p = run(&w, &cells, now(), PastMonths::default());
        assert_eq!(p.requests.len(), 3);
        let oct: Vec<&PlannedRequest> = p
            .requests
            .iter()
            .filter(|r| r.month == m("2026-10"))
            .collect();
        assert_eq!(oct.len(), 2);
        for r in &oct {
            assert_eq!(
                r.date.map(|d| d.to_rfc3339()),
                Some("2026-10-15T12:00:00+00:00".into())
            );
            assert_eq!(r.items.len(), 1);
        }
        // Past months come before the current one for the same resource.
        assert_eq!(p.requests[2].month, m("2026-11"));
        assert!(p.requests[2].date.is_none());
    }

    #[test]
    fn old_or_unknown_servers_get_no_past_month_unless_overridden() {
        let mut w = world();
        w.server = server("7.0.8", Some(false));
        let cells = [
            cell("proj_alpha", "2026-10", "cpu", "5"),
            cell("proj_alpha", "2026-11", "cpu", "1"),
        ];
        let p = run(&w, &cells, now(), PastMonths::default());
        assert_eq!(p.requests.len(), 1);
        assert_eq!(p.requests[0].month, m("2026-11"));
        let msg = p.skipped[0].reason.to_string();
        assert_eq!(
            msg,
            "server 7.0.8 ignores `date`; past months cannot be reported; the current month was left untouched"
        );

        w.server = server("unknown", None);
        let p = run(&w, &cells, now(), PastMonths::default());
        assert!(matches!(
            p.skipped[0].reason,
            SkipReason::ServerVersionUnknown { .. }
        ));

        let p = run(&w, &cells, now(), PastMonths::AssumeDateSupport);
        assert_eq!(p.requests.len(), 2);
        assert!(p.skipped.is_empty());
    }

    #[test]
    fn a_past_month_that_already_matches_needs_nothing_even_on_old_servers() {
        let mut w = world();
        w.server = server("7.0.8", Some(false));
        w.holdings
            .insert((u(1), m("2026-10"), "cpu".into()), d("5"));
        let cells = [cell("proj_alpha", "2026-10", "cpu", "5.00")];
        let p = run(&w, &cells, now(), PastMonths::default());
        assert!(p.requests.is_empty() && p.skipped.is_empty());
        assert_eq!(p.unchanged.len(), 1);
    }

    #[test]
    fn the_last_minutes_of_a_month_hold_back_undated_reports() {
        let w = world();
        let cells = [cell("proj_alpha", "2026-11", "cpu", "1")];
        let late: DateTime<Utc> = "2026-11-30T23:57:00Z".parse().expect("t");
        let p = run(&w, &cells, late, PastMonths::default());
        assert!(p.requests.is_empty());
        assert_eq!(p.skipped[0].reason, SkipReason::MonthEndMargin);
        let ok: DateTime<Utc> = "2026-11-30T23:50:00Z".parse().expect("t");
        assert_eq!(run(&w, &cells, ok, PastMonths::default()).requests.len(), 1);
    }

    #[test]
    fn months_follow_the_billing_zone() {
        let tz: Tz = "Europe/Amsterdam".parse().expect("tz");
        // 23:30 UTC on Oct 31 is already November in Amsterdam.
        let now: DateTime<Utc> = "2026-10-31T23:30:00Z".parse().expect("t");
        assert_eq!(BillingMonth::containing(now, tz), m("2026-11"));
        assert_eq!(
            date_inside(m("2026-10"), tz).to_rfc3339(),
            "2026-10-15T10:00:00+00:00"
        );
    }
}
