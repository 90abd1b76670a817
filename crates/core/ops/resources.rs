//! `tally resources ...`: the resource-allocation operations of both guides, on the provider view
//! of resources (a provider organisation's owner sees its offering's resources only there).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use tally_waldur::{
    ErrorDetails, OrderFilter, OrderState, OrderType, PlanPeriods, ReportSection, ResourceFilter,
    ResourceState, ResourceView, Team,
};
use uuid::Uuid;

use crate::exit::{Exit, UsageError};
use crate::ops::{self, render, Common, Ctx, Outcome, Paging};

#[derive(Subcommand, Debug)]
pub enum ResourcesCommand {
    /// List the provider's resources (allocations) with filters.
    List(ListArgs),
    /// Show one resource.
    Show(ShowArgs),
    /// Set a resource's backend_id, the provider's local reference (e.g. the SLURM account).
    SetBackendId(SetBackendIdArgs),
    /// Replace a resource's report (access details shown to the consumer).
    Report(ReportArgs),
    /// List the team (project members) of a resource.
    Team(OneArgs),
    /// List a resource's plan periods with the current month's usage.
    PlanPeriods(OneArgs),
    /// Mark a resource as created (ok) or failed (erred).
    SetState(SetStateArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub paging: Paging,
    /// Resource states, comma separated (Creating, OK, Erred, Updating, Terminating, Terminated).
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// Only resources of these offerings (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub offering: Vec<Uuid>,
    /// Only the resource with this backend_id.
    #[arg(long)]
    pub backend_id: Option<String>,
    /// Only resources of this (consumer) project.
    #[arg(long)]
    pub project: Option<Uuid>,
    /// Provider organisation (default: waldur.customer_uuid).
    #[arg(long)]
    pub customer: Option<Uuid>,
    /// Fields to ask for and show, comma separated (e.g. name,state,limits,plan,project,url);
    /// uuid is always included.
    #[arg(long, value_delimiter = ',')]
    pub field: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub common: Common,
    pub resource: Uuid,
    /// Fields to ask for, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub field: Vec<String>,
}

#[derive(Args, Debug)]
pub struct OneArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub paging: Paging,
    pub resource: Uuid,
}

#[derive(Args, Debug)]
pub struct SetBackendIdArgs {
    #[command(flatten)]
    pub common: Common,
    pub resource: Uuid,
    /// The local reference (at most 255 characters).
    pub backend_id: String,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: Common,
    pub resource: Uuid,
    /// A section as "Header=Body" (repeatable, in order).
    #[arg(
        long,
        required_unless_present = "from_file",
        conflicts_with = "from_file"
    )]
    pub section: Vec<String>,
    /// A JSON file: [{"header": ..., "body": ...}, ...] or {"report": [...]}.
    #[arg(long)]
    pub from_file: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetState {
    /// Created successfully (`set_as_ok`).
    Ok,
    /// Not created because of an error (`set_as_erred`).
    Erred,
}

#[derive(Args, Debug)]
pub struct SetStateArgs {
    #[command(flatten)]
    pub common: Common,
    pub resource: Uuid,
    #[arg(value_enum)]
    pub state: TargetState,
    /// With erred: the error message the consumer sees.
    #[arg(long)]
    pub error_message: Option<String>,
}

const COLUMNS: &[&str] = &[
    "uuid",
    "name",
    "state",
    "backend_id",
    "offering_name",
    "project_name",
    "plan_name",
    "limits",
];

const SHOW: &[&str] = &[
    "uuid",
    "name",
    "state",
    "backend_id",
    "offering_name",
    "offering_uuid",
    "project_name",
    "project_uuid",
    "customer_name",
    "plan_name",
    "limits",
    "current_usages",
    "report",
    "created",
    "modified",
    "error_message",
];

pub fn run(cmd: &ResourcesCommand) -> anyhow::Result<Exit> {
    match cmd {
        ResourcesCommand::List(a) => list(a),
        ResourcesCommand::Show(a) => show(a),
        ResourcesCommand::SetBackendId(a) => set_backend_id(a),
        ResourcesCommand::Report(a) => report(a),
        ResourcesCommand::Team(a) => team(a),
        ResourcesCommand::PlanPeriods(a) => plan_periods(a),
        ResourcesCommand::SetState(a) => set_state(a),
    }
}

fn list(a: &ListArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let states = ops::labels(
        "resource state",
        &a.state,
        ResourceState::parse_label,
        ResourceState::KNOWN,
        |s| s.to_string(),
    )?;
    let fields: Vec<String> = a
        .field
        .iter()
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    let filter = ResourceFilter {
        view: ResourceView::Provider,
        offering_uuids: a.offering.clone(),
        states,
        backend_id: a.backend_id.clone(),
        provider_uuid: match a.customer {
            Some(c) => Some(c),
            None => ctx.opt_customer()?,
        },
        project_uuid: a.project,
        fields: fields.clone(),
        ..Default::default()
    };
    let listing = ctx.fetch(&filter, &a.paging)?;
    if fields.is_empty() {
        render::list(ctx.format, &listing, &render::cols(COLUMNS), None)?;
    } else {
        let mut columns = vec!["uuid".to_owned()];
        columns.extend(fields.iter().filter(|f| *f != "uuid").cloned());
        render::list(ctx.format, &listing, &columns, Some(&fields))?;
    }
    Ok(Exit::Ok)
}

fn show(a: &ShowArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, None)?;
    let r = ctx
        .block_on(
            ctx.client
                .resource(ResourceView::Provider, a.resource, &a.field),
        )
        .map_err(ops::api)?;
    let columns = if a.field.is_empty() {
        render::cols(SHOW)
    } else {
        let mut c = vec!["uuid".to_owned()];
        c.extend(a.field.iter().filter(|f| *f != "uuid").cloned());
        c
    };
    render::object(ctx.format, &r, &columns)?;
    Ok(Exit::Ok)
}

/// The resource's state now, for the per-object result line.
async fn state_of(ctx: &Ctx, uuid: Uuid) -> Option<String> {
    ctx.client
        .resource(ResourceView::Provider, uuid, &["state".to_owned()])
        .await
        .ok()
        .and_then(|r| r.state)
        .map(|s| s.to_string())
}

/// One operation on one resource, printed as a result line like the batch commands.
fn one(
    ctx: &Ctx,
    action: &str,
    uuid: Uuid,
    result: Result<String, tally_waldur::Error>,
) -> anyhow::Result<Exit> {
    let state = ctx.block_on(state_of(ctx, uuid));
    let (outcome, fatal) = match result {
        Ok(message) => (Outcome::done(uuid, state, message), None),
        Err(e) => {
            let o = Outcome::failed(uuid, &e, state);
            let fatal = matches!(e, tally_waldur::Error::Unauthorized(_)).then_some(e);
            (o, fatal)
        }
    };
    ops::finish(ctx, action, "resources", 1, vec![outcome], fatal)
}

fn set_backend_id(a: &SetBackendIdArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, None)?;
    let r = ctx
        .block_on(ctx.client.set_backend_id(a.resource, &a.backend_id))
        .map(|s| {
            s.status.or(s.detail).unwrap_or_else(|| {
                ops::tally_says(format!(
                    "backend_id set to {:?} (Waldur answered without a message)",
                    a.backend_id
                ))
            })
        });
    if let Err(tally_waldur::Error::InvalidRequest(m)) = &r {
        return Err(UsageError(m.clone()).into());
    }
    one(&ctx, "set-backend-id", a.resource, r)
}

/// Reads `--section "Header=Body"` or `--from-file`.
fn sections(a: &ReportArgs) -> anyhow::Result<Vec<ReportSection>> {
    if let Some(path) = &a.from_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum File {
            List(Vec<ReportSection>),
            Wrapped { report: Vec<ReportSection> },
        }
        let parsed: File = serde_json::from_str(&text)
            .map_err(|e| {
                UsageError(format!(
                    "{}: not a report ([{{\"header\": ..., \"body\": ...}}, ...]): {e}",
                    path.display()
                ))
            })
            .context("--from-file")?;
        return Ok(match parsed {
            File::List(s) | File::Wrapped { report: s } => s,
        });
    }
    a.section
        .iter()
        .map(|s| match s.split_once('=') {
            Some((h, b)) if !h.trim().is_empty() => Ok(ReportSection {
                header: h.trim().to_owned(),
                body: b.to_owned(),
            }),
            _ => Err(UsageError(format!("--section {s:?} is not \"Header=Body\"")).into()),
        })
        .collect()
}

fn report(a: &ReportArgs) -> anyhow::Result<Exit> {
    let report = sections(a)?;
    if report.is_empty() {
        return Err(UsageError("a report needs at least one section".into()).into());
    }
    let ctx = Ctx::new(&a.common, None)?;
    let r = ctx
        .block_on(ctx.client.submit_report(a.resource, &report))
        .map(|s| {
            s.status.or(s.detail).unwrap_or_else(|| {
                ops::tally_says("report submitted (Waldur answered without a message)")
            })
        });
    one(&ctx, "report", a.resource, r)
}

fn team(a: &OneArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let req = Team {
        resource: a.resource,
        view: ResourceView::Provider,
    };
    let listing = ctx.fetch(&req, &a.paging)?;
    let columns = render::cols(&[
        "uuid",
        "username",
        "full_name",
        "email",
        "role",
        "offering_user_username",
        "expiration_time",
    ]);
    render::list(ctx.format, &listing, &columns, None)?;
    Ok(Exit::Ok)
}

fn plan_periods(a: &OneArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let req = PlanPeriods {
        resource: a.resource,
        view: ResourceView::Provider,
    };
    let listing = ctx.fetch(&req, &a.paging)?;
    let columns = render::cols(&["uuid", "plan_name", "start", "end", "components"]);
    render::list(ctx.format, &listing, &columns, None)?;
    Ok(Exit::Ok)
}

/// `set-state ok|erred` with what the server offers.
///
/// 8.x has `set_as_ok` and lets the provider call `set_as_erred`. The 2024 generation has no
/// `set_as_ok` (an HTML 404), keeps `set_as_erred` for staff (403 to the provider) and does not
/// store its `error_message`; there a provider finishes a resource through its order
/// (`set_state_done` / `set_state_erred`, which does store the message). So: the resource action
/// first; where the server has none for this token, the resource's executing order; where there
/// is none either, the line says plainly that a provider cannot do it on this server.
fn set_state(a: &SetStateArgs) -> anyhow::Result<Exit> {
    if a.state == TargetState::Ok && a.error_message.is_some() {
        return Err(UsageError("--error-message goes with `erred`, not with `ok`".into()).into());
    }
    let ctx = Ctx::new(&a.common, None)?;
    let action = match a.state {
        TargetState::Ok => "set-state ok",
        TargetState::Erred => "set-state erred",
    };
    let details = ErrorDetails {
        error_message: a.error_message.clone(),
        error_traceback: None,
    };
    let direct = match a.state {
        TargetState::Ok => ctx.block_on(ctx.client.set_as_ok(a.resource)),
        TargetState::Erred => ctx.block_on(ctx.client.set_as_erred(a.resource, &details)),
    };
    let refused = match direct {
        Ok(()) => {
            let mut message = match a.state {
                TargetState::Ok => "set_as_ok done (Waldur answered without a message)".to_owned(),
                TargetState::Erred => {
                    "set_as_erred done (Waldur answered without a message)".to_owned()
                }
            };
            if let Some(given) = &a.error_message {
                let stored = ctx
                    .block_on(ctx.client.resource(
                        ResourceView::Provider,
                        a.resource,
                        &["error_message".to_owned()],
                    ))
                    .ok()
                    .and_then(|r| r.error_message);
                if stored.as_deref() != Some(given.as_str()) {
                    message.push_str(
                        "; the server did not store the error message (it keeps the resource's error_message only from its own processing)",
                    );
                }
            }
            return one(&ctx, action, a.resource, Ok(ops::tally_says(message)));
        }
        // Only these mean "not this way on this server / for this token"; a 409 (wrong state),
        // a JSON 404 (no such resource) and the rest are the answer.
        Err(e) if e.is_missing_endpoint() || matches!(e, tally_waldur::Error::Forbidden(_)) => e,
        Err(e) => return one(&ctx, action, a.resource, Err(e)),
    };
    let endpoint = match a.state {
        TargetState::Ok => "set_as_ok",
        TargetState::Erred => "set_as_erred",
    };
    let why = if refused.is_missing_endpoint() {
        format!("this server has no {endpoint}")
    } else {
        format!("{endpoint} is refused to this token (servers of 2024 keep it for staff)")
    };
    // Only a Create or Update order: completing a Terminate order would end the resource.
    let executing = ctx.block_on(ctx.client.orders(&OrderFilter {
        resource_uuid: Some(a.resource),
        states: vec![OrderState::Executing],
        types: vec![OrderType::Create, OrderType::Update],
        ..Default::default()
    }));
    let order = match executing {
        Ok(orders) => orders.into_iter().max_by_key(|o| o.created),
        Err(e) => return one(&ctx, action, a.resource, Err(e)),
    };
    let Some(order) = order else {
        return refuse(&ctx, action, a.resource, refused, &why);
    };
    let kind = order
        .order_type
        .map(|t| t.to_string())
        .unwrap_or_else(|| "its".to_owned());
    let via = match a.state {
        TargetState::Ok => ctx.block_on(ctx.client.set_order_done(order.uuid)),
        TargetState::Erred => ctx.block_on(ctx.client.set_order_erred(order.uuid, &details)),
    };
    match via {
        Ok(()) => {
            let call = match a.state {
                TargetState::Ok => "set_state_done",
                TargetState::Erred => "set_state_erred",
            };
            let mut message = format!(
                "{why}; completed the resource's executing {kind} order {} with {call} instead",
                order.uuid.simple()
            );
            if let Some(given) = &a.error_message {
                let stored = ctx
                    .block_on(ctx.client.order(order.uuid))
                    .ok()
                    .and_then(|o| o.error_message);
                if stored.as_deref() == Some(given.as_str()) {
                    message.push_str("; the error message is stored on the order");
                } else {
                    message.push_str("; the server did not store the error message");
                }
            }
            one(&ctx, action, a.resource, Ok(ops::tally_says(message)))
        }
        Err(e) => {
            let mut o = Outcome::failed(a.resource, &e, None);
            o.message = format!(
                "{} ({})",
                o.message,
                ops::tally_says(format!(
                    "{why}; the resource's executing order {} refused too",
                    order.uuid.simple()
                ))
            );
            finish_one(&ctx, action, a.resource, o, e)
        }
    }
}

/// A set-state the provider cannot do on this server: the server's refusal, and in tally's words
/// why and what to do.
fn refuse(
    ctx: &Ctx,
    action: &str,
    resource: Uuid,
    refused: tally_waldur::Error,
    why: &str,
) -> anyhow::Result<Exit> {
    let mut o = Outcome::failed(resource, &refused, None);
    o.message = format!(
        "{} ({})",
        o.message,
        ops::tally_says(format!(
            "{why}, and the resource has no executing Create or Update order to complete instead: a provider cannot set this state here; ask the server's staff"
        ))
    );
    finish_one(ctx, action, resource, o, refused)
}

/// A failed result line with the resource's state now.
fn finish_one(
    ctx: &Ctx,
    action: &str,
    resource: Uuid,
    mut outcome: Outcome,
    e: tally_waldur::Error,
) -> anyhow::Result<Exit> {
    outcome.state = ctx.block_on(state_of(ctx, resource));
    let fatal = matches!(e, tally_waldur::Error::Unauthorized(_)).then_some(e);
    ops::finish(ctx, action, "resources", 1, vec![outcome], fatal)
}
