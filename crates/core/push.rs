//! `tally push`, and the push step `run` and `replay` share: collect, resolve, read what Waldur
//! holds, plan, send what differs, record, summarise.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use tally_aggregate::UnlistedAccounts;
use tally_config::Config;
use tally_model::{BillingMonth, MonthRange, UsageCell, UserUsageCell};
use tally_push::{
    gather, DropGuard, Execution, Ledger, MappingReach, Outcome, Ownership, OwnershipInput,
    OwnershipMode, PastMonths, Plan, PlanInput, RunLock, ServerInfo, Summary, UserCounts,
    UserExecution, UserPlanInput,
};

use crate::args::CollectionArgs;
use crate::client;
use crate::collect;
use crate::exit::Exit;

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    pub collection: CollectionArgs,
    /// Print the exact request bodies and send nothing (Waldur is still read: the plan needs
    /// what it holds). The ledger is not touched.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply decreases larger than `[push] max_decrease_percent` (default 5 %) of what Waldur
    /// holds, including cells set to 0.00 because tally computes nothing for them any more.
    /// Without it they are held back and the push exits 4.
    #[arg(long)]
    pub allow_decrease: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How tally treats the server's clock and version.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// Send past months even when the server does not say it is Waldur 8.0 or later. Servers
    /// before 8.0 ignore `date` and would overwrite the current month; every past-month report
    /// is still read back and the current month restored if that happens.
    #[arg(long)]
    pub assume_date_support: bool,
    /// The instant (RFC 3339) tally takes as the server's "now": it decides which month is the
    /// current one (sent without `date`). Default: this machine's clock. For replays and tests.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

impl ServerArgs {
    pub fn past_months(&self) -> PastMonths {
        if self.assume_date_support {
            PastMonths::AssumeDateSupport
        } else {
            PastMonths::OnlyIfServerHonoursDate
        }
    }
}

/// One push: what to send and where.
pub struct PushJob<'a> {
    pub config: &'a Config,
    pub target: &'a client::Target,
    pub cells: &'a [UsageCell],
    /// The per-user breakdown of `cells` (empty when `user_usage = false` or no user is known).
    pub user_cells: &'a [UserUsageCell],
    pub range: MonthRange,
    pub now: DateTime<Utc>,
    pub past_months: PastMonths,
    pub dry_run: bool,
    /// The ledger and this run's id (none for dry runs and replays).
    pub ledger: Option<(Arc<Ledger>, String)>,
    /// `--allow-decrease` (the config's `[push] allow_decrease` counts too).
    pub allow_decrease: bool,
}

/// What a push did.
pub struct Pushed {
    pub execution: Option<Execution>,
    pub summary: Summary,
    pub exit: Exit,
}

/// A client error as the run's error. A rejected token gets the operator's next step, including
/// the token_lifetime hint: a nightly job's token must not expire (the client already explains an
/// expired one).
pub fn waldur_error(e: tally_waldur::Error) -> anyhow::Error {
    if matches!(e, tally_waldur::Error::Unauthorized(_)) && !e.is_token_expired() {
        let hint = format!(
            "Waldur refused the API token: check waldur.token_file (or TALLY_WALDUR_TOKEN) and that it \
             belongs to an owner of the provider organisation. {}",
            tally_waldur::TOKEN_EXPIRED_HINT
        );
        return anyhow::Error::new(e).context(hint);
    }
    anyhow::Error::new(e)
}

/// The server's version; a server that does not answer `/api/version/` (other than refusing the
/// token) is treated as one whose version is unknown.
async fn server_info(client: &tally_waldur::WaldurClient) -> anyhow::Result<ServerInfo> {
    match gather::server_info(client).await {
        Ok(s) => Ok(s),
        Err(e @ tally_waldur::Error::Unauthorized(_)) => Err(waldur_error(e)),
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
    offering: uuid::Uuid,
    resources: &[tally_push::WaldurResource],
    cells: &[UsageCell],
) -> anyhow::Result<Ownership> {
    let written = match &job.ledger {
        Some((l, _)) => l.delivered_resource_months(offering)?,
        // A dry run reads the ledger but never creates or writes it; a replay has none.
        None if job.dry_run => written_read_only(job.target),
        None => BTreeSet::new(),
    };
    let reach = mapping_reach(job.config);
    let components: BTreeSet<String> = job
        .config
        .rules
        .iter()
        .map(|r| r.component.clone())
        .chain(cells.iter().map(|c| c.component.clone()))
        .collect();
    Ok(tally_push::ownership(&OwnershipInput {
        mode: ownership_mode(job.config),
        reach: &reach,
        resources,
        cells,
        written: &written,
        components: &components,
    }))
}

/// The backend_ids the config's account mapping can produce.
pub fn mapping_reach(config: &Config) -> MappingReach {
    match config.mapping.unlisted {
        UnlistedAccounts::Identity => MappingReach::EveryBackendId,
        UnlistedAccounts::Unmapped => {
            MappingReach::Only(config.mapping.table.values().cloned().collect())
        }
    }
}

/// `[push] shared_offering`: whether another reporter writes the same offering.
pub fn ownership_mode(config: &Config) -> OwnershipMode {
    if config.push.shared_offering {
        OwnershipMode::Shared
    } else {
        OwnershipMode::Offering
    }
}

/// The (resource, month)s the ledger shows tally delivered a report to, read without creating
/// or writing the ledger (dry runs, check). An unreadable ledger is a warning and an empty set:
/// tally then owns what its mapping names, which is what a new ledger would say too.
pub fn written_read_only(
    target: &client::Target,
) -> BTreeSet<(uuid::Uuid, tally_model::BillingMonth)> {
    let read = Ledger::open_read_only(&target.waldur.ledger).and_then(|l| match l {
        Some(l) => l.delivered_resource_months(target.offering),
        None => Ok(BTreeSet::new()),
    });
    read.unwrap_or_else(|e| {
        tracing::warn!("cannot read the ledger for the cells tally wrote: {e}");
        BTreeSet::new()
    })
}

/// Logs each cell the drop guard held back (and each larger decrease applied because it was
/// told to), and records the held ones in the ledger.
fn report_decreases(plan: &Plan, job: &PushJob<'_>) -> anyhow::Result<()> {
    for d in &plan.held_back {
        tracing::error!(
            resource = %d.target.backend_id,
            month = %d.month,
            component = %d.component,
            held = %d.held,
            computed = %d.computed,
            "HELD BACK: {}",
            d.why()
        );
        if let (Some((l, run_id)), false) = (&job.ledger, job.dry_run) {
            l.record_held_back(run_id, d)?;
        }
    }
    for d in &plan.allowed_decreases {
        tracing::warn!(
            resource = %d.target.backend_id,
            month = %d.month,
            component = %d.component,
            held = %d.held,
            computed = %d.computed,
            "decrease applied (allowed): {} -> {}",
            d.held,
            d.computed
        );
    }
    Ok(())
}

/// Resolves, reads, plans, sends (unless a dry run), summarises.
pub async fn push(job: &PushJob<'_>) -> anyhow::Result<Pushed> {
    let client = &job.target.client;
    let offering = job.target.offering;
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
        .map_err(waldur_error)
        .context("listing the offering's resources")?;
    let components = gather::components(client, offering)
        .await
        .map_err(waldur_error)
        .context("reading the offering's components")?;
    let current = BillingMonth::containing(job.now, job.config.billing_timezone);
    let mut months: BTreeSet<BillingMonth> = job.range.iter().filter(|m| *m <= current).collect();
    // The current month is read too whenever a past month may be sent: it is what a
    // past-month report on a server that ignores `date` would overwrite.
    if months.iter().any(|m| *m < current) {
        months.insert(current);
    }
    let (holdings, usage_ids) = gather::holdings_and_ids(client, offering, &months)
        .await
        .map_err(waldur_error)
        .context("reading the usage Waldur holds")?;
    let cells: Vec<UsageCell> = job
        .cells
        .iter()
        .filter(|c| job.range.contains(c.period))
        .cloned()
        .collect();
    let ownership = ownership(job, offering, &resources, &cells)?;
    tracing::info!(
        mode = ?ownership_mode(job.config),
        resources = ownership.resources.len(),
        resource_months = ownership.resource_months.len(),
        components = ownership.components.len(),
        "cells tally owns (set to 0.00 where it computes nothing)"
    );
    let drop_guard = DropGuard {
        max_share: job.config.push.max_decrease,
        allow: job.allow_decrease || job.config.push.allow_decrease,
    };
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
    let user_plan = if job.config.user_usage && !job.user_cells.is_empty() {
        let directory = gather::user_directory(client, offering)
            .await
            .map_err(waldur_error)
            .context("listing the offering's users")?;
        let held = gather::user_holdings(client, offering, &months)
            .await
            .map_err(waldur_error)
            .context("reading the per-user usage Waldur holds")?;
        let user_cells: Vec<UserUsageCell> = job
            .user_cells
            .iter()
            .filter(|c| job.range.contains(c.period))
            .cloned()
            .collect();
        let p = tally_push::plan_user_usages(&UserPlanInput {
            user_cells: &user_cells,
            plan: &plan,
            held: &held,
            ids: &usage_ids,
            directory: &directory,
            server: &server,
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
        Some(p)
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
        crate::output::print_dry_run(client, &plan, user_plan.as_ref())?;
        let mut summary = Summary::of_plan(&plan);
        summary.user_usages = user_plan.as_ref().map(|p| UserCounts::of(p, None));
        let exit = if summary.not_delivered() > 0 {
            Exit::NotDone
        } else {
            Exit::Ok
        };
        return Ok(Pushed {
            execution: None,
            summary,
            exit,
        });
    }

    let progress = progress_bar(plan.cells_to_send() as u64);
    let tick: tally_push::Progress = {
        let bar = progress.clone();
        Arc::new(move |n| {
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
        })
    };
    let (ledger, run_id) = match &job.ledger {
        Some((l, id)) => (Some(l.clone()), id.clone()),
        None => (None, tally_push::new_run_id(Utc::now())),
    };
    let opts = tally_push::ExecuteOptions {
        concurrency: job.target.waldur.concurrency,
        run_id,
    };
    let exec = tally_push::execute(client, &plan, &holdings, ledger.clone(), &opts, tick).await;
    if let Some(b) = progress {
        b.finish_and_clear();
    }
    // The breakdowns after all the totals: a breakdown needs its total delivered, and the
    // records new totals created are then learnt with one listing per month.
    let user_exec = match &user_plan {
        Some(p) if !p.requests.is_empty() => {
            Some(tally_push::execute_user_usages(client, offering, p, &exec, ledger, &opts).await)
        }
        _ => None,
    };
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
    if let Some(u) = &user_exec {
        for r in &u.results {
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
    let mut summary = Summary::of(&plan, &exec);
    summary.user_usages = user_plan.as_ref().map(|p| {
        UserCounts::of(
            p,
            Some(user_exec.as_ref().unwrap_or(&UserExecution::default())),
        )
    });
    let auth_failure = exec
        .auth_failure
        .clone()
        .or_else(|| user_exec.as_ref().and_then(|u| u.auth_failure.clone()));
    let ledger_failure = exec
        .ledger_failure
        .clone()
        .or_else(|| user_exec.as_ref().and_then(|u| u.ledger_failure.clone()));
    let exit = if auth_failure.is_some() {
        Exit::AuthFailed
    } else if ledger_failure.is_some() {
        Exit::Failure
    } else if summary.not_delivered() > 0 || !exec.restores.iter().all(|r| r.confirmed) {
        Exit::NotDone
    } else {
        Exit::Ok
    };
    if let Some(a) = &auth_failure {
        tracing::error!("Waldur refused the token: {a}");
    }
    if let Some(l) = &ledger_failure {
        tracing::error!("the ledger could not be written, sending stopped: {l}");
    }
    Ok(Pushed {
        execution: Some(exec),
        summary,
        exit,
    })
}

fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if len == 0 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cells {elapsed} eta {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// Opens the ledger and writes the run's row.
pub fn open_ledger(
    config: &Config,
    target: &client::Target,
    command: &str,
    range: MonthRange,
    as_of: DateTime<Utc>,
) -> anyhow::Result<(Arc<Ledger>, String)> {
    let path = &target.waldur.ledger;
    let ledger = Ledger::open(path)?;
    let started = Utc::now();
    let run_id = tally_push::new_run_id(started);
    ledger.start_run(&tally_push::RunRecord {
        run_id: &run_id,
        command,
        started_at: started,
        config: &config.path,
        waldur_url: target.client.base_url().as_str(),
        offering_uuid: target.offering,
        months: &format!("{}..{}", range.from, range.to),
        as_of,
    })?;
    tracing::info!(run_id = %run_id, ledger = %path.display(), "run started");
    Ok((Arc::new(ledger), run_id))
}

/// The run lock beside the ledger (`<ledger>.lock`), taken by `push` and `run` alike.
pub fn lock_path(waldur: &tally_config::Waldur) -> std::path::PathBuf {
    let mut p = waldur.ledger.clone().into_os_string();
    p.push(".lock");
    std::path::PathBuf::from(p)
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(args: &PushArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.collection.config)?;
    let now = args.server.now.unwrap_or_else(Utc::now);
    let mut collection = args.collection.clone();
    collection.as_of = collection.as_of.or(args.server.now);
    let window = collect::window(&config, &collection)?;
    let rt = runtime()?;
    let target = {
        let _guard = rt.enter();
        client::build(&config, None, None)?
    };
    // The lock `tally run` takes: a push by hand never overlaps the nightly run. A dry run
    // sends and writes nothing, so it needs none.
    let _lock = if args.dry_run {
        None
    } else {
        Some(RunLock::try_acquire(&lock_path(&target.waldur))?)
    };
    let collected = collect::collect(&config, &window)?;
    crate::output::summarize(&collected);
    if collect::strict_verdict(&collected, args.collection.strict) != Exit::Ok {
        tracing::error!("--strict: nothing was sent");
        return Ok(Exit::InvalidInput);
    }
    let ledger = if args.dry_run {
        None
    } else {
        Some(open_ledger(
            &config,
            &target,
            "push",
            window.range,
            window.as_of,
        )?)
    };
    let job = PushJob {
        config: &config,
        target: &target,
        cells: &collected.usages,
        user_cells: &collected.user_usages,
        range: window.range,
        now,
        past_months: args.server.past_months(),
        dry_run: args.dry_run,
        ledger: ledger.clone(),
        allow_decrease: args.allow_decrease,
    };
    let result = rt.block_on(push(&job));
    let (exit, summary) = match &result {
        Ok(p) => (p.exit, serde_json::to_value(&p.summary).unwrap_or_default()),
        Err(e) => (
            crate::exit::classify(e),
            serde_json::json!({"error": format!("{e:#}")}),
        ),
    };
    if let Some((l, id)) = &ledger {
        l.finish_run(id, exit as u8, &summary)?;
    }
    let pushed = result?;
    crate::output::print_summary(&pushed.summary, args.dry_run);
    Ok(exit)
}
