//! The plan: a pure function from what tally computed and what Waldur holds to the requests that
//! make Waldur hold exactly the computed totals, and the cells that cannot be delivered (each with
//! its reason). No I/O here, so every rule is a unit test and `--dry-run` is "plan, build, print".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
pub use tally_holdings::{
    ownership, HoldingKey, Holdings, MappingReach, Ownership, OwnershipInput, OwnershipMode,
    ServerInfo, WaldurComponent, WaldurResource,
};
use tally_model::{BillingMonth, MonthRange, UsageCell};
use tally_waldur::{BillingType, ResourceState, SetUsageRequest, UsageItem};
use uuid::Uuid;

/// How close to the end of the current month an undated `set_usage` is still sent.
///
/// Waldur files an undated report under the month of *its* clock when the request is processed.
/// A request built at 23:59:58 that arrives at 00:00:01 would write this month's total into the
/// next month, where nothing corrects it if the resource has no usage there. Inside this margin
/// the current month's cells are held back; the last run of a month must start before it.
pub const MONTH_END_MARGIN_MINUTES: i64 = 5;

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
    /// The months of this push: only these are zeroed where tally computes nothing (the
    /// holdings may cover the current month too, read only to guard it).
    pub window: MonthRange,
    /// The cells tally owns beyond those it computes ([`ownership`]).
    pub ownership: &'a Ownership,
    /// How far a push may lower what Waldur holds without `--allow-decrease`.
    pub drop_guard: DropGuard,
}

/// The drop guard: a push that would lower what Waldur holds for a cell by more than
/// `max_share` holds that change back (exit 4) unless `allow` (`--allow-decrease`).
///
/// Why: a deleted or rotated dump, an empty sacct answer or a glob that now matches fewer files
/// looks exactly like "less usage" and, Waldur's `set_usage` being a SET, would lower the bill
/// silently. A small drop is normal (a job still running at the last run ended earlier than it
/// was counted to), so a few percent pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DropGuard {
    /// A fraction (0.05 = 5 %).
    pub max_share: Decimal,
    pub allow: bool,
}

/// The default share a cell may fall by without `--allow-decrease`: 5 %.
pub const DEFAULT_MAX_DECREASE_PERCENT: u32 = 5;

impl DropGuard {
    /// Whether lowering `held` to `computed` falls by more than `max_share` of what is held
    /// (`allow` aside): the one test of a fall, for whole-month cells and plan-period parts.
    pub fn exceeded_by(&self, held: Decimal, computed: Decimal) -> bool {
        held > Decimal::ZERO && computed < held && (held - computed) / held > self.max_share
    }
}

impl Default for DropGuard {
    fn default() -> Self {
        DropGuard {
            max_share: Decimal::new(i64::from(DEFAULT_MAX_DECREASE_PERCENT), 2),
            allow: false,
        }
    }
}

/// A cell whose amount would fall by more than the guard allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decrease {
    pub target: ResolvedResource,
    pub month: BillingMonth,
    /// The `date` the request would carry (`None`: the current month).
    pub date: Option<DateTime<Utc>>,
    pub component: String,
    /// What Waldur holds.
    pub held: Decimal,
    /// What tally computes (0.00 where it computes nothing).
    pub computed: Decimal,
    /// tally computes nothing for this cell any more (a re-mapped account, a removed dump, a
    /// source that yielded nothing).
    pub computes_nothing: bool,
    /// The guard's limit, a fraction.
    pub limit: Decimal,
}

impl Decrease {
    /// The fall as a fraction of what Waldur holds.
    pub fn share(&self) -> Decimal {
        if self.held.is_zero() {
            Decimal::ZERO
        } else {
            (self.held - self.computed) / self.held
        }
    }

    /// The operator's explanation.
    pub fn why(&self) -> String {
        let pct = |d: Decimal| (d * Decimal::ONE_HUNDRED).round_dp(1).normalize();
        let cause = if self.computes_nothing {
            "tally computes nothing for this cell any more (a re-mapped account, a removed or rotated dump, a source that yielded nothing?)"
        } else {
            "the computed total fell (fewer input files or records than before?)"
        };
        format!(
            "would lower {} to {} (-{}%, more than the {}% allowed): {cause}; --allow-decrease applies it",
            self.held,
            self.computed,
            pct(self.share()),
            pct(self.limit)
        )
    }
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
            // A server that keeps its version to itself was asked through `set_usage` instead:
            // "server unknown ignores" would read as tally not knowing.
            SkipReason::ServerIgnoresDate { version } if version == "unknown" => f.write_str(
                "the server ignores `date`; past months cannot be reported; the current month was left untouched (the server does not read `date` and does not disclose its version)"
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

/// The resource a backend_id resolved to: where a request goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ResolvedResource {
    pub uuid: Uuid,
    pub backend_id: String,
}

/// One `set_usage` to send: the totals of one resource and month for the cells that differ from
/// what Waldur holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRequest {
    pub target: ResolvedResource,
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
    /// Cells held back by the drop guard (not sent).
    pub held_back: Vec<Decrease>,
    /// Decreases beyond the guard's limit that are sent because it was told so.
    pub allowed_decreases: Vec<Decrease>,
    /// Owned cells tally computes nothing for that are sent as 0.00 or already hold 0.00: the
    /// per-user plan sets their users to 0.00 too.
    #[serde(skip)]
    pub zeroed: BTreeMap<HoldingKey, ResolvedResource>,
}

impl Plan {
    /// Cells the requests carry.
    pub fn cells_to_send(&self) -> usize {
        self.requests.iter().map(|r| r.items.len()).sum()
    }
}

/// The `date` a report of `month` is sent with (`None`: the current month, sent undated), or
/// why it cannot be sent: a future month never; a past month only to a server known to honour
/// `date` (8.0 and later) unless the operator says otherwise, because older servers silently
/// drop it and write the current month. The one guard for totals and per-user breakdowns.
pub fn send_date(
    server: &ServerInfo,
    past_months: PastMonths,
    month: BillingMonth,
    current: BillingMonth,
    tz: Tz,
) -> Result<Option<DateTime<Utc>>, SkipReason> {
    if month > current {
        return Err(SkipReason::FutureMonth { current });
    }
    if month == current {
        return Ok(None);
    }
    match (server.honours_date, past_months) {
        (Some(true), _) | (_, PastMonths::AssumeDateSupport) => Ok(Some(date_inside(month, tz))),
        (Some(false), PastMonths::OnlyIfServerHonoursDate) => Err(SkipReason::ServerIgnoresDate {
            version: server.version.clone(),
        }),
        (None, PastMonths::OnlyIfServerHonoursDate) => Err(SkipReason::ServerVersionUnknown {
            version: server.version.clone(),
        }),
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

/// What the plan does with one cell once its resource and component are known.
struct Router<'r, 'i> {
    input: &'r PlanInput<'i>,
    current: BillingMonth,
    in_margin: bool,
    out: Plan,
    /// (target, month, billing group) -> items; past months split usage- from limit-billed
    /// components, because Waldur refuses a dated request to a provider if any item is
    /// usage-billed, which would otherwise take the limit components down with it.
    grouped: BTreeMap<(ResolvedResource, BillingMonth, bool), PlannedRequest>,
}

impl Router<'_, '_> {
    /// Sends, skips or holds back one cell whose total differs from what Waldur holds.
    fn route(
        &mut self,
        cell: &UsageCell,
        target: ResolvedResource,
        limit_billed: bool,
        held: Option<Decimal>,
        computes_nothing: bool,
    ) {
        let input = self.input;
        let current = self.current;
        let skip = |reason: SkipReason| SkippedCell {
            cell: cell.clone(),
            reason,
        };
        let date = match send_date(
            input.server,
            input.past_months,
            cell.period,
            current,
            input.billing_timezone,
        ) {
            Ok(None) if self.in_margin => {
                self.out.skipped.push(skip(SkipReason::MonthEndMargin));
                return;
            }
            Ok(date) => date,
            Err(reason) => {
                self.out.skipped.push(skip(reason));
                return;
            }
        };
        if let Some(h) = held.filter(|h| *h > Decimal::ZERO && cell.amount < *h) {
            let decrease = Decrease {
                target: target.clone(),
                month: cell.period,
                date,
                component: cell.component.clone(),
                held: h,
                computed: cell.amount,
                computes_nothing,
                limit: input.drop_guard.max_share,
            };
            if input.drop_guard.exceeded_by(h, cell.amount) {
                if !input.drop_guard.allow {
                    if cell.period == current {
                        // Waldur keeps what it holds: that is what the current month must be
                        // restored to, should a past-month report land in it.
                        self.out
                            .current_totals
                            .entry(target.uuid)
                            .or_default()
                            .insert(cell.component.clone(), h);
                    }
                    self.out.held_back.push(decrease);
                    return;
                }
                self.out.allowed_decreases.push(decrease);
            }
        }
        if computes_nothing {
            self.out.zeroed.insert(
                (target.uuid, cell.period, cell.component.clone()),
                target.clone(),
            );
        }
        let group = date.is_some() && limit_billed;
        let req = self
            .grouped
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
}

/// Computes the plan. Deterministic: the same input gives the same plan.
///
/// Two passes: every computed cell, then every owned cell Waldur holds that tally computes
/// nothing for (set to 0.00, only where Waldur holds something non-zero). Both pass the same
/// rules (state, component, month, server, margin, drop guard).
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

    let mut router = Router {
        input,
        current,
        in_margin,
        out: Plan {
            current_month: Some(current),
            ..Plan::default()
        },
        grouped: BTreeMap::new(),
    };

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
        let out = &mut router.out;
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
        let target = ResolvedResource {
            uuid: resource.uuid,
            backend_id: cell.resource.clone(),
        };
        router.route(cell, target, limit_billed, held, false);
    }

    // The owned cells tally computes nothing for.
    let by_uuid: BTreeMap<Uuid, &WaldurResource> =
        input.resources.iter().map(|r| (r.uuid, r)).collect();
    for ((uuid, month, component), held) in input.holdings {
        if !input.window.contains(*month) || !input.ownership.owns(*uuid, *month, component) {
            continue;
        }
        // Resources without a backend_id are addressed by no cell tally computes: not touched.
        let Some(resource) = by_uuid.get(uuid).filter(|r| !r.backend_id.is_empty()) else {
            continue;
        };
        if seen.contains(&(resource.backend_id.as_str(), *month, component.as_str())) {
            continue;
        }
        let limit_billed = match components.get(component.as_str()) {
            Some(c) => match &c.billing_type {
                Some(b) if !b.accepts_usage() => continue,
                b => matches!(b, Some(BillingType::Limit)),
            },
            None => continue,
        };
        let cell = UsageCell {
            resource: resource.backend_id.clone(),
            period: *month,
            component: component.clone(),
            amount: Decimal::new(0, 2),
        };
        match resolve(&by_backend, &resource.backend_id) {
            Resolved::Found(r) if r.uuid == *uuid => {}
            // A twin that refuses usage next to the one that takes it: history, not tally's to
            // correct (it cannot address it by backend_id).
            Resolved::Found(_) => continue,
            Resolved::Skip(reason) => {
                if !held.is_zero() {
                    router.out.skipped.push(SkippedCell { cell, reason });
                }
                continue;
            }
        }
        let target = ResolvedResource {
            uuid: *uuid,
            backend_id: resource.backend_id.clone(),
        };
        router
            .out
            .resolved
            .entry(resource.backend_id.clone())
            .or_insert(*uuid);
        if *month == current {
            router
                .out
                .current_totals
                .entry(*uuid)
                .or_default()
                .insert(component.clone(), cell.amount);
        }
        if held.is_zero() {
            router
                .out
                .zeroed
                .insert((*uuid, *month, component.clone()), target);
            continue;
        }
        router.route(&cell, target, limit_billed, Some(*held), true);
    }
    let mut out = router.out;
    out.requests = router.grouped.into_values().collect();
    let order = |d: &Decrease| (d.target.backend_id.clone(), d.month, d.component.clone());
    out.held_back.sort_by_key(order);
    out.allowed_decreases.sort_by_key(order);
    out
}

#[cfg(test)]
mod tests {
    /// A server that hides its version but refused `date` is named as such, not as "server
    /// unknown" (which read as tally not knowing).
    #[test]
    fn ignores_date_message_names_an_undisclosed_version_plainly() {
        let hidden = SkipReason::ServerIgnoresDate {
            version: "unknown".into(),
        }
        .to_string();
        assert!(hidden.starts_with("the server ignores `date`"), "{hidden}");
        assert!(!hidden.contains("server unknown"), "{hidden}");
        let old = SkipReason::ServerIgnoresDate {
            version: "7.0.8".into(),
        }
        .to_string();
        assert!(old.starts_with("server 7.0.8 ignores `date`"), "{old}");
    }

    use super::*;
    use crate::test_values::{cell, d, m, now, server, u};

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

    struct World {
        resources: Vec<WaldurResource>,
        components: Vec<WaldurComponent>,
        holdings: Holdings,
        server: ServerInfo,
        ownership: Ownership,
        guard: DropGuard,
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
            ownership: Ownership::default(),
            guard: DropGuard::default(),
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
            window: MonthRange {
                from: m("2026-10"),
                to: m("2026-11"),
            },
            ownership: &w.ownership,
            drop_guard: w.guard,
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

    /// (resource n, month, items) of a planned request.
    type SentRequest = (u128, String, Vec<(String, Decimal)>);

    fn owned(w: &mut World, resources: &[u128], components: &[&str]) {
        w.ownership = Ownership {
            resources: resources.iter().map(|n| u(*n)).collect(),
            resource_months: BTreeSet::new(),
            components: components.iter().map(|c| (*c).to_owned()).collect(),
        };
    }

    #[test]
    fn an_owned_cell_tally_no_longer_computes_is_set_to_zero_where_waldur_holds_something() {
        let mut w = world();
        owned(&mut w, &[1, 2], &["cpu", "gpu"]);
        w.guard.allow = true;
        let hold = |w: &mut World, r: u128, p: &str, c: &str, a: &str| {
            w.holdings.insert((u(r), m(p), c.into()), d(a));
        };
        hold(&mut w, 1, "2026-11", "cpu", "10.00");
        // A GPU component no job uses any more.
        hold(&mut w, 1, "2026-11", "gpu", "4.00");
        // A re-mapped account's old resource, this month and last.
        hold(&mut w, 2, "2026-11", "cpu", "7.00");
        hold(&mut w, 2, "2026-10", "cpu", "3.00");
        // Already 0.00: nothing to send, but its users are zeroed too.
        hold(&mut w, 2, "2026-11", "gpu", "0.00");
        // Not tally's: another component, a resource it does not own, a month outside the window.
        hold(&mut w, 1, "2026-11", "storage", "9.00");
        hold(&mut w, 3, "2026-11", "cpu", "9.00");
        hold(&mut w, 2, "2026-09", "cpu", "9.00");
        let cells = [cell("proj_alpha", "2026-11", "cpu", "10.00")];
        let p = run(&w, &cells, now(), PastMonths::default());
        let sent: Vec<SentRequest> = p
            .requests
            .iter()
            .map(|r| {
                (
                    r.target.uuid.as_u128(),
                    r.month.to_string(),
                    r.items.clone(),
                )
            })
            .collect();
        let zero = Decimal::new(0, 2);
        assert_eq!(
            sent,
            vec![
                (1, "2026-11".into(), vec![("gpu".into(), zero)]),
                (2, "2026-10".into(), vec![("cpu".into(), zero)]),
                (2, "2026-11".into(), vec![("cpu".into(), zero)]),
            ]
        );
        assert_eq!(zero.to_string(), "0.00");
        // Past months are dated like any other past-month cell.
        assert!(p.requests[1].date.is_some() && p.requests[2].date.is_none());
        assert!(p.skipped.is_empty() && p.held_back.is_empty());
        assert_eq!(p.allowed_decreases.len(), 3);
        assert!(p.allowed_decreases.iter().all(|d| d.computes_nothing));
        let zeroed: Vec<(u128, String, String)> = p
            .zeroed
            .keys()
            .map(|(r, mo, c)| (r.as_u128(), mo.to_string(), c.clone()))
            .collect();
        assert_eq!(
            zeroed,
            vec![
                (1, "2026-11".into(), "gpu".into()),
                (2, "2026-10".into(), "cpu".into()),
                (2, "2026-11".into(), "cpu".into()),
                (2, "2026-11".into(), "gpu".into()),
            ]
        );
        // What the current month must hold if a past-month report lands in it.
        assert_eq!(p.current_totals[&u(2)]["cpu"], zero);
        assert_eq!(p.current_totals[&u(1)]["gpu"], zero);
    }

    #[test]
    fn a_zeroing_follows_the_rules_of_any_cell() {
        let mut w = world();
        owned(&mut w, &[1, 3], &["cpu"]);
        w.guard.allow = true;
        w.server = server("7.0.8", Some(false));
        w.holdings
            .insert((u(1), m("2026-10"), "cpu".into()), d("5"));
        w.holdings
            .insert((u(3), m("2026-11"), "cpu".into()), d("5"));
        let p = run(&w, &[], now(), PastMonths::default());
        assert!(p.requests.is_empty());
        let reasons: Vec<(String, SkipReason)> = p
            .skipped
            .iter()
            .map(|s| (s.cell.resource.clone(), s.reason.clone()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (
                    "proj_alpha".into(),
                    SkipReason::ServerIgnoresDate {
                        version: "7.0.8".into()
                    }
                ),
                (
                    "proj_erred".into(),
                    SkipReason::ResourceState {
                        resource: u(3),
                        state: "Erred".into()
                    }
                ),
            ]
        );
        assert_eq!(p.skipped[0].cell.amount.to_string(), "0.00");
        // The month-end margin too.
        let late: DateTime<Utc> = "2026-11-30T23:57:00Z".parse().expect("t");
        w.holdings.clear();
        w.holdings
            .insert((u(1), m("2026-11"), "cpu".into()), d("5"));
        let p = run(&w, &[], late, PastMonths::default());
        assert_eq!(p.skipped[0].reason, SkipReason::MonthEndMargin);
    }

    #[test]
    fn the_drop_guard_holds_back_large_drops_and_lets_small_ones_pass() {
        let mut w = world();
        owned(&mut w, &[1, 2], &["cpu", "gpu"]);
        let hold = |w: &mut World, r: u128, c: &str, a: &str| {
            w.holdings.insert((u(r), m("2026-11"), c.into()), d(a));
        };
        hold(&mut w, 1, "cpu", "100.00");
        hold(&mut w, 1, "gpu", "100.00");
        hold(&mut w, 2, "cpu", "100.00");
        hold(&mut w, 2, "gpu", "40.00");
        let cells = [
            // -5 %: exactly the limit, passes (a running job that ended a little earlier).
            cell("proj_alpha", "2026-11", "cpu", "95.00"),
            // -5.01 %: held back.
            cell("proj_alpha", "2026-11", "gpu", "94.99"),
            // Increases are never held.
            cell("proj_beta", "2026-11", "cpu", "500.00"),
            // proj_beta gpu: computes nothing, -100 %: held back.
        ];
        let p = run(&w, &cells, now(), PastMonths::default());
        let sent: Vec<(u128, Vec<(String, Decimal)>)> = p
            .requests
            .iter()
            .map(|r| (r.target.uuid.as_u128(), r.items.clone()))
            .collect();
        assert_eq!(
            sent,
            vec![
                (1, vec![("cpu".into(), d("95.00"))]),
                (2, vec![("cpu".into(), d("500.00"))]),
            ]
        );
        let held: Vec<(&str, &str, String, String, bool)> = p
            .held_back
            .iter()
            .map(|h| {
                (
                    h.target.backend_id.as_str(),
                    h.component.as_str(),
                    h.held.to_string(),
                    h.computed.to_string(),
                    h.computes_nothing,
                )
            })
            .collect();
        assert_eq!(
            held,
            vec![
                ("proj_alpha", "gpu", "100.00".into(), "94.99".into(), false),
                ("proj_beta", "gpu", "40.00".into(), "0.00".into(), true),
            ]
        );
        assert_eq!(
            p.held_back[1].why(),
            "would lower 40.00 to 0.00 (-100%, more than the 5% allowed): tally computes nothing for this cell any more (a re-mapped account, a removed or rotated dump, a source that yielded nothing?); --allow-decrease applies it"
        );
        // A held-back cell stays what Waldur holds, also for a current-month restore.
        assert_eq!(p.current_totals[&u(1)]["gpu"], d("100.00"));
        assert_eq!(p.current_totals[&u(2)]["gpu"], d("40.00"));
        assert!(p.zeroed.is_empty());

        // --allow-decrease: everything goes, and the large drops are listed as allowed.
        w.guard.allow = true;
        let p = run(&w, &cells, now(), PastMonths::default());
        assert_eq!(p.cells_to_send(), 4);
        assert!(p.held_back.is_empty());
        assert_eq!(p.allowed_decreases.len(), 2);

        // A stricter guard holds the 5 % too.
        w.guard = DropGuard {
            max_share: d("0.01"),
            allow: false,
        };
        let p = run(&w, &cells, now(), PastMonths::default());
        assert_eq!(p.held_back.len(), 3);
    }

    #[test]
    fn ownership_follows_the_mapping_the_computed_cells_and_the_ledger() {
        let mut resources = world().resources;
        resources.push(WaldurResource {
            uuid: u(4),
            backend_id: String::new(),
            state: Some(ResourceState::Ok),
            name: None,
        });
        resources.push(res(5, "other_reporter", ResourceState::Ok));
        let components: BTreeSet<String> = ["cpu".to_string()].into();
        let cells = [cell("proj_alpha", "2026-11", "cpu", "1")];
        // The ledger shows tally delivered to the resource without a backend_id in October.
        let written: BTreeSet<(Uuid, BillingMonth)> = [(u(4), m("2026-10"))].into();
        let of = |mode: OwnershipMode, reach: &MappingReach| {
            ownership(&OwnershipInput {
                mode,
                reach,
                resources: &resources,
                cells: &cells,
                written: &written,
                components: &components,
            })
        };
        let ids =
            |o: &Ownership| -> Vec<u128> { o.resources.iter().map(|x| x.as_u128()).collect() };

        let o = of(OwnershipMode::Offering, &MappingReach::EveryBackendId);
        assert_eq!(ids(&o), vec![1, 2, 3, 4, 5]);
        assert!(o.owns(u(5), m("2026-11"), "cpu"));
        assert!(!o.owns(u(5), m("2026-11"), "storage"));

        let reach = MappingReach::Only(["proj_beta".to_string()].into());
        let o = of(OwnershipMode::Offering, &reach);
        assert_eq!(ids(&o), vec![1, 2, 4]);

        let o = of(OwnershipMode::Shared, &MappingReach::EveryBackendId);
        assert_eq!(ids(&o), vec![1]);
        assert!(o.owns(u(4), m("2026-10"), "cpu"));
        assert!(!o.owns(u(4), m("2026-11"), "cpu"));
        assert!(!o.owns(u(5), m("2026-11"), "cpu"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const BACKENDS: [&str; 2] = ["proj_alpha", "proj_beta"];
        const MONTHS: [&str; 2] = ["2026-10", "2026-11"];
        const COMPONENTS: [&str; 2] = ["cpu", "gpu"];

        /// Every (resource index, month index, component index) key, with an optional amount in
        /// cents (some zero).
        fn figures() -> impl Strategy<Value = Vec<Option<u32>>> {
            prop::collection::vec(prop::option::of(prop_oneof![Just(0u32), 0u32..100_000]), 8)
        }

        fn key(i: usize) -> (usize, usize, usize) {
            (i / 4, (i / 2) % 2, i % 2)
        }

        proptest! {
            /// Applying the plan makes every owned cell hold tally's amount, 0.00 (or nothing)
            /// where tally computes nothing; without --allow-decrease no cell falls by more than
            /// the guard's share, and every cell not brought there is listed as held back with
            /// what Waldur holds. No request repeats what Waldur holds.
            #[test]
            fn owned_cells_end_at_tallys_amount_or_are_held_back(
                computed in figures(),
                holdings in figures(),
                allow in any::<bool>(),
            ) {
                let mut w = world();
                owned(&mut w, &[1, 2], &COMPONENTS);
                w.guard.allow = allow;
                let mut cells = Vec::new();
                for (i, (held, tally)) in holdings.iter().zip(&computed).enumerate() {
                    let (r, mo, c) = key(i);
                    if let Some(a) = held {
                        w.holdings.insert(
                            (u(r as u128 + 1), m(MONTHS[mo]), COMPONENTS[c].into()),
                            Decimal::new(i64::from(*a), 2),
                        );
                    }
                    if let Some(a) = tally {
                        cells.push(UsageCell {
                            resource: BACKENDS[r].into(),
                            period: m(MONTHS[mo]),
                            component: COMPONENTS[c].into(),
                            amount: Decimal::new(i64::from(*a), 2),
                        });
                    }
                }
                let p = run(&w, &cells, now(), PastMonths::default());
                let mut after = w.holdings.clone();
                for r in &p.requests {
                    for ((c, a), h) in r.items.iter().zip(&r.held) {
                        prop_assert_ne!(Some(*a), *h);
                        let k = (r.target.uuid, r.month, c.clone());
                        if let Some(before) = w.holdings.get(&k) {
                            if !allow && a < before {
                                prop_assert!((*before - *a) / *before <= w.guard.max_share);
                            }
                        }
                        after.insert(k, *a);
                    }
                }
                for (i, want) in computed.iter().enumerate() {
                    let (r, mo, c) = key(i);
                    let k = (u(r as u128 + 1), m(MONTHS[mo]), COMPONENTS[c].to_string());
                    let want = want.map(|a| Decimal::new(i64::from(a), 2));
                    let got = after.get(&k).copied();
                    let reached = match want {
                        Some(a) => got == Some(a),
                        None => got.is_none_or(|g| g.is_zero()),
                    };
                    let held_back = p.held_back.iter().any(|h| {
                        h.target.uuid == k.0 && h.month == k.1 && h.component == k.2
                            && Some(h.held) == w.holdings.get(&k).copied()
                    });
                    prop_assert!(reached != held_back, "{k:?}: want {want:?}, got {got:?}, held back {held_back}");
                    prop_assert!(!(allow && held_back));
                }
                prop_assert!(p.skipped.is_empty());
            }
        }
    }
}
