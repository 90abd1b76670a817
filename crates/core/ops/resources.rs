//! `tally resources ...`: the resource-allocation operations of both guides, on the provider view
//! of resources (a provider organisation's owner sees its offering's resources only there).

use anyhow::Context;
use tally_cli::ops::resources::{
    ListArgs, ReportArgs, ResourcesCommand, SetBackendIdArgs, SetStateArgs, ShowArgs, TargetState,
};
use tally_ops::resources::SetState;
use tally_waldur::{PlanPeriods, ReportSection, ResourceFilter, ResourceState, ResourceView, Team};

use crate::exit::{Exit, UsageError};
use tally_render as render;

use crate::ops::{self, Ctx};

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
    ops::print(|out| render::object(out, ctx.render_format(), &r, &columns))?;
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
