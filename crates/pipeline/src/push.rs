//! The push: collect's cells -> server version, resources, components and holdings -> the
//! cells tally owns -> plan (with the drop guard) -> per-user plan -> send and record -> read
//! back past months -> summary and verdict.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tally_config::Config;
use tally_model::{BillingMonth, MonthRange, PlanPartCell, UsageCell, UserUsageCell};
use tally_push::{
    gather, DropGuard, Execution, Ledger, Outcome, Ownership, OwnershipInput, PastMonths, Plan,
    PlanInput, ServerInfo, Summary, UserCounts, UserExecution, UserPlan, UserPlanInput,
};
use tally_waldur::WaldurClient;

use crate::connection::{components, mapping_reach, ownership_mode, written_read_only};
use crate::error::{first_call, waldur};
use crate::plan_periods::{plan_and_send, PeriodPush, PeriodPushInput};
use crate::{Connection, PipelineError, Verdict};

/// What a caller shows while cells are sent (the binary: a progress bar on a terminal).
pub trait SendProgress: Send + Sync {
    /// Sending starts; `cells` will be sent in all.
    fn start(&self, cells: u64);
    /// `cells` more were sent (or failed).
    fn advance(&self, cells: u64);
    /// Sending is over.
    fn finish(&self);
}

/// One push: what to send and where.
pub struct PushJob<'a> {
    pub config: &'a Config,
    pub connection: &'a Connection,
    pub cells: &'a [UsageCell],
    /// The per-user breakdown of `cells` (empty when `user_usage = false` or no user is known).
    pub user_cells: &'a [UserUsageCell],
    /// The cells of months in which a resource changed plan, split per plan period (the
    /// collection's `plan_parts`): the current month of those is pushed per plan period.
    pub plan_parts: &'a [PlanPartCell],
    pub range: MonthRange,
    /// The instant tally takes as the server's "now": it decides which month is current.
    pub now: DateTime<Utc>,
    pub past_months: PastMonths,
    /// Plan only: Waldur is read, nothing is sent, the ledger is read but never written.
    pub dry_run: bool,
    /// The ledger and this run's id (none for dry runs and replays).
    pub ledger: Option<(Arc<Ledger>, String)>,
    /// `--allow-decrease` (the config's `[push] allow_decrease` counts too).
    pub allow_decrease: bool,
    pub progress: Option<Arc<dyn SendProgress>>,
}

impl<'a> PushJob<'a> {
    /// A push of `collected` over `range` at `now`, as a replay makes it: past months only to
    /// servers known to honour `date`, sent for real, no ledger, no decrease beyond the guard,
    /// no progress shown. Commands change what their flags say.
    pub fn new(
        config: &'a Config,
        connection: &'a Connection,
        collected: &'a tally_aggregate::Collection,
        range: MonthRange,
        now: DateTime<Utc>,
    ) -> Self {
        PushJob {
            config,
            connection,
            cells: &collected.usages,
            user_cells: &collected.user_usages,
            plan_parts: &collected.plan_parts,
            range,
            now,
            past_months: PastMonths::OnlyIfServerHonoursDate,
            dry_run: false,
            ledger: None,
            allow_decrease: false,
            progress: None,
        }
    }
}

/// What a push did: the plans, what sending them came to (none for a dry run), the counts and
/// the verdict.
pub struct PushReport {
    pub plan: Plan,
    pub user_plan: Option<UserPlan>,
    pub execution: Option<Execution>,
    pub user_execution: Option<UserExecution>,
    pub summary: Summary,
    /// The current month of resources whose plan changed inside it, per plan period.
    pub plan_periods: PeriodPush,
    pub verdict: Verdict,
}

/// The server's version; a server that does not answer `/api/version/` (other than refusing
/// the token) is treated as one whose version is unknown: past months then wait for
/// `--assume-date-support`.
async fn server_info(client: &WaldurClient) -> Result<ServerInfo, PipelineError> {
    match gather::server_info(client).await {
        Ok(s) => Ok(s),
        Err(e @ tally_waldur::Error::Unauthorized(_)) => Err(first_call(e)),
        Err(e) => {
            tracing::warn!("cannot read the server version ({e}); treating it as unknown");
            Ok(ServerInfo {
                version: "unknown".into(),
                honours_date: None,
            })
        }
    }
}

/// The cells tally owns (README "Which cells tally owns"): the resources its mapping can name
/// (every one with a backend_id under `unlisted = "identity"`, the `[mapping.accounts]` targets
/// under `"unmapped"`) and those the ledger shows it wrote to; with `[push] shared_offering`,
/// only the resources it computes a cell for and the (resource, month)s the ledger shows. The
/// components are the configured ones and those the cells carry.
fn ownership(
    job: &PushJob<'_>,
    resources: &[tally_push::WaldurResource],
    cells: &[UsageCell],
) -> Result<Ownership, PipelineError> {
    let written = match &job.ledger {
        Some((l, _)) => l.delivered_resource_months(job.connection.offering)?,
        // A dry run reads the ledger but never creates or writes it; a replay has none.
        None if job.dry_run => written_read_only(job.connection),
        None => BTreeSet::new(),
    };
    let reach = mapping_reach(job.config);
    Ok(tally_push::ownership(&OwnershipInput {
        mode: ownership_mode(job.config),
        reach: &reach,
        resources,
        cells,
        written: &written,
        components: &components(job.config, cells.iter()),
    }))
}

/// The months read from Waldur: those of the window up to the current one, and the current one
/// whenever a past month may be sent: it is what a past-month report on a server that ignores
/// `date` would overwrite.
fn months_to_read(job: &PushJob<'_>) -> BTreeSet<BillingMonth> {
    let current = BillingMonth::containing(job.now, job.config.billing_timezone);
    let mut months: BTreeSet<BillingMonth> = job.range.iter().filter(|m| *m <= current).collect();
    if months.iter().any(|m| *m < current) {
        months.insert(current);
    }
    months
}

/// One log event about a decrease, with the cell and both amounts as fields.
macro_rules! decrease_event {
    ($level:ident, $d:expr, $($message:tt)+) => {
        tracing::$level!(
            resource = %$d.target.backend_id,
            month = %$d.month,
            component = %$d.component,
            held = %$d.held,
            computed = %$d.computed,
            $($message)+
        )
    };
}

/// Logs each cell the drop guard held back (and each larger decrease applied because it was
/// told to), and records the held ones in the ledger.
fn report_decreases(plan: &Plan, job: &PushJob<'_>) -> Result<(), PipelineError> {
    for d in &plan.held_back {
        decrease_event!(error, d, "HELD BACK: {}", d.why());
        if let (Some((l, run_id)), false) = (&job.ledger, job.dry_run) {
            l.record_held_back(run_id, d)?;
        }
    }
    for d in &plan.allowed_decreases {
        decrease_event!(
            warn,
            d,
            "decrease applied (allowed): {} -> {}",
            d.held,
            d.computed
        );
    }
    Ok(())
}

/// The per-user plan: what Waldur holds per user in `months`, the offering's users, and the
/// breakdowns that differ.
async fn plan_users(
    job: &PushJob<'_>,
    user_cells: &[UserUsageCell],
    plan: &Plan,
    server: &ServerInfo,
    months: &BTreeSet<BillingMonth>,
    usage_ids: &tally_push::UsageIds,
) -> Result<UserPlan, PipelineError> {
    let client = &job.connection.client;
    let offering = job.connection.offering;
    let directory = gather::user_directory(client, offering)
        .await
        .map_err(waldur("listing the offering's users"))?;
    let held = gather::user_holdings(client, offering, months)
        .await
        .map_err(waldur("reading the per-user usage Waldur holds"))?;
    let user_cells: Vec<UserUsageCell> = user_cells
        .iter()
        .filter(|c| job.range.contains(c.period))
        .cloned()
        .collect();
    let p = tally_push::plan_user_usages(&UserPlanInput {
        user_cells: &user_cells,
        plan,
        held: &held,
        ids: usage_ids,
        directory: &directory,
        server,
        past_months: job.past_months,
        billing_timezone: job.config.billing_timezone,
    });
    for s in &p.skipped {
        tracing::warn!(
            resource = %s.resource,
            month = %s.month,
            component = %s.component,
            "per-user breakdown not sent: {}",
            s.reason
        );
    }
    if !p.unknown_users.is_empty() {
        let names: Vec<&str> = p.unknown_users.iter().map(String::as_str).collect();
        tracing::warn!(
            "local usernames with no offering user, reported by username alone: {}",
            names.join(", ")
        );
    }
    tracing::info!(
        requests = p.requests.len(),
        unchanged = p.unchanged.len(),
        skipped = p.skipped.len(),
        "per-user plan"
    );
    Ok(p)
}

/// Resolves, reads, plans, sends (unless a dry run), verifies, summarises: the whole of
/// `tally push` but the rendering, so that `push`, `run` and `replay` decide alike.
pub async fn push(job: &PushJob<'_>) -> Result<PushReport, PipelineError> {
    let client = &job.connection.client;
    let offering = job.connection.offering;
    let server = server_info(client).await?;
    tracing::info!(
        version = %server.version,
        honours_date = ?server.honours_date,
        "Waldur server version"
    );
    if let Some((ledger, run_id)) = &job.ledger {
        ledger.set_server_version(run_id, &server.version)?;
    }
    let resources = gather::resources(client, offering)
        .await
        .map_err(waldur("listing the offering's resources"))?;
    let components = gather::components(client, offering)
        .await
        .map_err(waldur("reading the offering's components"))?;
    let months = months_to_read(job);
    let held = gather::held_months(client, offering, &months)
        .await
        .map_err(waldur("reading the usage Waldur holds"))?;
    let (mut holdings, usage_ids) = (held.holdings, held.ids);
    let all_cells: Vec<UsageCell> = job
        .cells
        .iter()
        .filter(|c| job.range.contains(c.period))
        .cloned()
        .collect();
    // The current month per plan period where the plan changed inside it (issue 23); those
    // cells, and months Waldur holds in several rows, are kept out of the month-per-cell plan.
    let drop_guard = DropGuard {
        max_share: job.config.push.max_decrease,
        allow: job.allow_decrease || job.config.push.allow_decrease,
    };
    let period_push = plan_and_send(&PeriodPushInput {
        client,
        server: &server,
        past_months: job.past_months,
        now: job.now,
        current: BillingMonth::containing(job.now, job.config.billing_timezone),
        resources: &resources,
        cells: &all_cells,
        parts: job.plan_parts,
        several_rows: &held.several_rows,
        dry_run: job.dry_run,
        drop_guard,
        ledger: job
            .ledger
            .as_ref()
            .map(|(ledger, run_id)| (&**ledger, run_id.as_str())),
    })
    .await?;
    let by_uuid: std::collections::BTreeMap<uuid::Uuid, &str> = resources
        .iter()
        .map(|r| (r.uuid, r.backend_id.as_str()))
        .collect();
    let several =
        tally_push::keys_by_backend_id(&held.several_rows, by_uuid.iter().map(|(u, b)| (*u, *b)));
    let kept_out = |resource: &str, month: BillingMonth, component: &str| {
        period_push.taken.contains(&(resource.to_owned(), month))
            || several.contains(&(resource, month, component))
    };
    holdings.retain(|(r, m, _), _| {
        !by_uuid
            .get(r)
            .is_some_and(|b| period_push.taken.contains(&((*b).to_owned(), *m)))
    });
    let cells: Vec<UsageCell> = all_cells
        .into_iter()
        .filter(|c| !kept_out(&c.resource, c.period, &c.component))
        .collect();
    let user_cells: Vec<UserUsageCell> = job
        .user_cells
        .iter()
        .filter(|c| !kept_out(&c.resource, c.period, &c.component))
        .cloned()
        .collect();
    let ownership = ownership(job, &resources, &cells)?;
    tracing::info!(
        mode = ?ownership_mode(job.config),
        resources = ownership.resources.len(),
        resource_months = ownership.resource_months.len(),
        components = ownership.components.len(),
        "cells tally owns (set to 0.00 where it computes nothing)"
    );
    let plan = tally_push::plan(&PlanInput {
        cells: &cells,
        resources: &resources,
        components: &components,
        holdings: &holdings,
        server: &server,
        past_months: job.past_months,
        now: job.now,
        billing_timezone: job.config.billing_timezone,
        window: job.range,
        ownership: &ownership,
        drop_guard,
    });
    report_decreases(&plan, job)?;
    let user_plan = if job.config.user_usage && !user_cells.is_empty() {
        Some(plan_users(job, &user_cells, &plan, &server, &months, &usage_ids).await?)
    } else {
        None
    };
    for s in &plan.skipped {
        tracing::warn!(
            resource = %s.cell.resource,
            month = %s.cell.period,
            component = %s.cell.component,
            amount = %s.cell.amount,
            "not sent: {}",
            s.reason
        );
    }
    tracing::info!(
        requests = plan.requests.len(),
        cells = plan.cells_to_send(),
        unchanged = plan.unchanged.len(),
        skipped = plan.skipped.len(),
        "plan"
    );

    if job.dry_run {
        let mut summary = Summary::of_plan(&plan);
        summary.user_usages = user_plan.as_ref().map(|p| UserCounts::of(p, None));
        let verdict = if summary.not_delivered() > 0 || period_push.not_delivered() > 0 {
            Verdict::NotDone
        } else {
            Verdict::Ok
        };
        return Ok(PushReport {
            plan,
            user_plan,
            execution: None,
            user_execution: None,
            summary,
            plan_periods: period_push,
            verdict,
        });
    }

    if let Some(p) = &job.progress {
        p.start(plan.cells_to_send() as u64);
    }
    let tick: tally_push::Progress = {
        let progress = job.progress.clone();
        Arc::new(move |n| {
            if let Some(p) = &progress {
                p.advance(n as u64);
            }
        })
    };
    let (ledger, run_id) = match &job.ledger {
        Some((l, id)) => (Some(l.clone()), id.clone()),
        None => (None, tally_push::new_run_id(Utc::now())),
    };
    let opts = tally_push::ExecuteOptions {
        concurrency: job.connection.waldur.concurrency,
        run_id,
    };
    let exec = tally_push::execute(client, &plan, &holdings, ledger.clone(), &opts, tick).await;
    if let Some(p) = &job.progress {
        p.finish();
    }
    // The breakdowns after all the totals: a breakdown needs its total delivered, and the
    // records new totals created are then learnt with one listing per month.
    let user_exec = match &user_plan {
        Some(p) if !p.requests.is_empty() => {
            Some(tally_push::execute_user_usages(client, offering, p, &exec, ledger, &opts).await)
        }
        _ => None,
    };
    log_results(&exec, user_exec.as_ref());
    let mut summary = Summary::of(&plan, &exec);
    summary.user_usages = user_plan.as_ref().map(|p| {
        UserCounts::of(
            p,
            Some(user_exec.as_ref().unwrap_or(&UserExecution::default())),
        )
    });
    let mut verdict = verdict(&exec, user_exec.as_ref(), &summary);
    if period_push.not_delivered() > 0 {
        verdict = verdict.most_urgent(Verdict::NotDone);
    }
    Ok(PushReport {
        plan,
        user_plan,
        execution: Some(exec),
        user_execution: user_exec,
        summary,
        plan_periods: period_push,
        verdict,
    })
}

/// A refused token first (nothing further can work), then a ledger that could not be written
/// (sending stopped), then anything not delivered or a current month not confirmed restored.
fn verdict(exec: &Execution, user_exec: Option<&UserExecution>, summary: &Summary) -> Verdict {
    let auth_failure = exec
        .auth_failure
        .as_ref()
        .or_else(|| user_exec.and_then(|u| u.auth_failure.as_ref()));
    let ledger_failure = exec
        .ledger_failure
        .as_ref()
        .or_else(|| user_exec.and_then(|u| u.ledger_failure.as_ref()));
    if let Some(a) = auth_failure {
        tracing::error!("Waldur refused the token: {a}");
    }
    if let Some(l) = ledger_failure {
        tracing::error!("the ledger could not be written, sending stopped: {l}");
    }
    if auth_failure.is_some() {
        Verdict::AuthFailed
    } else if ledger_failure.is_some() {
        Verdict::LedgerFailed
    } else if summary.not_delivered() > 0 || !exec.restores.iter().all(|r| r.confirmed) {
        Verdict::NotDone
    } else {
        Verdict::Ok
    }
}

/// One log line per request that was not delivered (debug for delivered ones), per restore of
/// an overwritten current month, and per per-user breakdown.
fn log_results(exec: &Execution, user_exec: Option<&UserExecution>) {
    for r in &exec.results {
        let items: Vec<String> = r
            .request
            .items
            .iter()
            .map(|(c, a)| format!("{c}={a}"))
            .collect();
        match &r.outcome {
            Outcome::Delivered => tracing::debug!(
                resource = %r.request.target.backend_id,
                month = %r.request.month,
                "delivered {}",
                items.join(" ")
            ),
            Outcome::Failed { message } => tracing::error!(
                resource = %r.request.target.backend_id,
                month = %r.request.month,
                "failed (the next run retries): {message}"
            ),
            other => tracing::error!(
                resource = %r.request.target.backend_id,
                month = %r.request.month,
                "{}: {}",
                other.name(),
                other.message().unwrap_or_default()
            ),
        }
    }
    if let Some(why) = &exec.past_months_stopped {
        tracing::error!("PAST MONTHS STOPPED: {why}");
    }
    for r in &exec.restores {
        let found: Vec<String> = r.found.iter().map(|(c, a)| format!("{c}={a}")).collect();
        let to: Vec<String> = r
            .restored_to
            .iter()
            .map(|(c, a)| format!("{c}={a}"))
            .collect();
        tracing::error!(
            resource = %r.target.backend_id,
            month = %r.month,
            confirmed = r.confirmed,
            "CURRENT MONTH OVERWRITTEN BY A PAST-MONTH REPORT: found {}; restored to {}",
            found.join(" "),
            to.join(" ")
        );
    }
    for r in user_exec.map(|u| u.results.as_slice()).unwrap_or_default() {
        let users: Vec<String> = r
            .request
            .users
            .iter()
            .map(|x| format!("{}={}", x.username, x.amount))
            .collect();
        match &r.outcome {
            Outcome::Delivered => tracing::debug!(
                resource = %r.request.target.backend_id,
                month = %r.request.month,
                component = %r.request.component,
                "per-user delivered {}",
                users.join(" ")
            ),
            other => tracing::error!(
                resource = %r.request.target.backend_id,
                month = %r.request.month,
                component = %r.request.component,
                "per-user {}: {}",
                other.name(),
                other.message().unwrap_or_default()
            ),
        }
    }
}

/// Reads and compares the months of `range`; the per-user breakdown too unless
/// `user_usage = false` (or no record names a user). Owned cells are decided as push decides
/// them, so "unexpected" never names another reporter's usage.
pub async fn check(
    config: &Config,
    connection: &Connection,
    cells: &[UsageCell],
    user_cells: &[UserUsageCell],
    range: MonthRange,
) -> Result<tally_check::CheckReport, PipelineError> {
    let months: BTreeSet<BillingMonth> = range.iter().collect();
    let components = components(config, cells.iter().filter(|c| range.contains(c.period)));
    let users = (config.user_usage && !user_cells.is_empty()).then_some(user_cells);
    let written = written_read_only(connection);
    let reach = mapping_reach(config);
    tally_check::read_and_compare(
        &connection.client,
        connection.offering,
        cells,
        users,
        &months,
        &components,
        Some(tally_check::OwnershipRule {
            mode: ownership_mode(config),
            reach: &reach,
            written: &written,
        }),
    )
    .await
    .map_err(waldur("reading what Waldur holds"))
}

/// The whole check of a collection: [`check`], and for the current month "will it be
/// invoiced?" (tally-check's invoicing findings: plan periods, prices, billing types, rows per
/// plan period, invoice items where the token may read them; issue 23).
pub async fn check_collection(
    config: &Config,
    connection: &Connection,
    collected: &tally_aggregate::Collection,
    range: MonthRange,
    now: DateTime<Utc>,
    past_months: PastMonths,
) -> Result<tally_check::CheckReport, PipelineError> {
    check_cells(
        config,
        connection,
        CheckedCells {
            cells: &collected.usages,
            user_cells: &collected.user_usages,
            plan_parts: &collected.plan_parts,
        },
        range,
        now,
        past_months,
    )
    .await
}

/// The cells a check compares: the cells, the per-user breakdown and the plan-period parts.
#[derive(Clone, Copy)]
pub struct CheckedCells<'a> {
    pub cells: &'a [UsageCell],
    pub user_cells: &'a [UserUsageCell],
    pub plan_parts: &'a [PlanPartCell],
}

/// [`check_collection`] on cells held apart from their collection (the nightly run's push job).
pub async fn check_cells(
    config: &Config,
    connection: &Connection,
    checked: CheckedCells<'_>,
    range: MonthRange,
    now: DateTime<Utc>,
    past_months: PastMonths,
) -> Result<tally_check::CheckReport, PipelineError> {
    let mut report = check(config, connection, checked.cells, checked.user_cells, range).await?;
    let current = BillingMonth::containing(now, config.billing_timezone);
    if !range.contains(current) {
        return Ok(report);
    }
    let client = &connection.client;
    let server = server_info(client).await?;
    let resources: Vec<(uuid::Uuid, String)> = gather::resources(client, connection.offering)
        .await
        .map_err(waldur("listing the offering's resources"))?
        .into_iter()
        .map(|r| (r.uuid, r.backend_id))
        .collect();
    let invoicing = tally_check::invoicing::read_and_assess(
        client,
        &tally_check::invoicing::InvoicingRead {
            offering: connection.offering,
            current_month: current,
            billing_timezone: config.billing_timezone,
            resources: &resources,
            cells: checked.cells,
            plan_parts: checked.plan_parts,
            rows_by_plan_period: crate::plan_periods::keys_rows_by_plan_period(
                &server,
                past_months,
            ),
        },
    )
    .await
    .map_err(waldur("reading plan periods, prices and invoice items"))?;
    for f in &invoicing.findings {
        tracing::warn!(kind = %f.kind(), fix_at = ?f.fix_at(), "{}", f.advice());
    }
    if let Some(why) = &invoicing.items_not_compared {
        tracing::info!("{why}");
    }
    report.invoicing = invoicing.findings;
    report.invoice_items = invoicing.items_not_compared;
    Ok(report)
}

impl Verdict {
    /// A check's verdict: `Differences` when Waldur holds anything else.
    pub fn of_check(report: &tally_check::CheckReport) -> Verdict {
        if report.agrees() {
            Verdict::Ok
        } else {
            Verdict::Differences
        }
    }
}
