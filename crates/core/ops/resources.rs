//! `tally resources ...`: the resource-allocation operations of both guides, on the provider view
//! of resources (a provider organisation's owner sees its offering's resources only there).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use tally_ops::resources::SetState;
use tally_waldur::{PlanPeriods, ReportSection, ResourceFilter, ResourceState, ResourceView, Team};
use uuid::Uuid;

use crate::exit::{Exit, UsageError};
use tally_render as render;

use crate::ops::{self, Common, Ctx};

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
    pub list: ops::ListOpts,
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
    #[command(flatten)]
    pub customer: ops::Customer,
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
    pub list: ops::ListOpts,
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

const COLUMNS: &str = "uuid name state backend_id offering_name project_name plan_name limits";

const SHOW: &str = "uuid name state backend_id offering_name offering_uuid project_name \
    project_uuid customer_name plan_name limits current_usages report created modified \
    error_message";

pub fn run(cmd: &ResourcesCommand) -> anyhow::Result<Exit> {
    match cmd {
        ResourcesCommand::List(a) => list(a),
        ResourcesCommand::Show(a) => show(a),
        ResourcesCommand::SetBackendId(a) => set_backend_id(a),
        ResourcesCommand::Report(a) => report(a),
        ResourcesCommand::Team(a) => ops::list(&a.list, TEAM, |_| {
            Ok(Team {
                resource: a.resource,
                view: ResourceView::Provider,
            })
        }),
        ResourcesCommand::PlanPeriods(a) => ops::list(&a.list, PLAN_PERIODS, |_| {
            Ok(PlanPeriods {
                resource: a.resource,
                view: ResourceView::Provider,
            })
        }),
        ResourcesCommand::SetState(a) => set_state(a),
    }
}

fn list(a: &ListArgs) -> anyhow::Result<Exit> {
    let fields: Vec<String> = a
        .field
        .iter()
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    let (columns, only) = if fields.is_empty() {
        (render::cols(COLUMNS), None)
    } else {
        (ops::field_columns(&fields), Some(fields.as_slice()))
    };
    ops::list_fields(&a.list, columns, only, |ctx| {
        let states = ops::labels(
            "resource state",
            &a.state,
            ResourceState::parse_label,
            ResourceState::KNOWN,
        )?;
        Ok(ResourceFilter {
            view: ResourceView::Provider,
            offering_uuids: a.offering.clone(),
            states,
            backend_id: a.backend_id.clone(),
            provider_uuid: ctx.opt_customer(&a.customer)?,
            project_uuid: a.project,
            fields: fields.clone(),
            ..Default::default()
        })
    })
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
        ops::field_columns(&a.field)
    };
    ops::print(|out| render::object(out, ctx.format.into(), &r, &columns))?;
    Ok(Exit::Ok)
}

fn set_backend_id(a: &SetBackendIdArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, None)?;
    let batch = ctx
        .block_on(tally_ops::resources::set_backend_id(
            &ctx.client,
            a.resource,
            &a.backend_id,
        ))
        .map_err(|e| match e {
            tally_waldur::Error::InvalidRequest(m) => anyhow::Error::new(UsageError(m)),
            e => ops::api(e),
        })?;
    ops::finish(&ctx, "set-backend-id", "resources", batch)
}

/// Reads `--section "Header=Body"` or `--from-file`.
fn sections(a: &ReportArgs) -> anyhow::Result<Vec<ReportSection>> {
    if let Some(path) = &a.from_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        return tally_ops::resources::parse_report(&text)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))
            .context("--from-file");
    }
    a.section
        .iter()
        .map(|s| {
            tally_ops::resources::parse_section(s)
                .ok_or_else(|| UsageError(format!("--section {s:?} is not \"Header=Body\"")).into())
        })
        .collect()
}

fn report(a: &ReportArgs) -> anyhow::Result<Exit> {
    let report = sections(a)?;
    if report.is_empty() {
        return Err(UsageError("a report needs at least one section".into()).into());
    }
    let ctx = Ctx::new(&a.common, None)?;
    let batch = ctx.block_on(tally_ops::resources::submit_report(
        &ctx.client,
        a.resource,
        &report,
    ));
    ops::finish(&ctx, "report", "resources", batch)
}

const TEAM: &str = "uuid username full_name email role offering_user_username expiration_time";

const PLAN_PERIODS: &str = "uuid plan_name start end components";

/// `set-state ok|erred`: the resource action, else the resource's executing order
/// (`tally_ops::resources::set_state` says which servers need which).
fn set_state(a: &SetStateArgs) -> anyhow::Result<Exit> {
    let state = match a.state {
        TargetState::Ok if a.error_message.is_some() => {
            return Err(
                UsageError("--error-message goes with `erred`, not with `ok`".into()).into(),
            );
        }
        TargetState::Ok => SetState::Ok,
        TargetState::Erred => SetState::Erred {
            error_message: a.error_message.as_deref(),
        },
    };
    let ctx = Ctx::new(&a.common, None)?;
    let action = match a.state {
        TargetState::Ok => "set-state ok",
        TargetState::Erred => "set-state erred",
    };
    let batch = ctx.block_on(tally_ops::resources::set_state(
        &ctx.client,
        a.resource,
        state,
    ));
    ops::finish(&ctx, action, "resources", batch)
}
