//! `tally provider show|set-username|users|keys|projects|permissions`: the service-provider
//! operations of the SDK guide. They address the ServiceProvider record of the configured
//! organisation (`waldur.customer_uuid`), looked up once per command as the guide does.

use clap::{Args, Subcommand};
use tally_ops::provider::RecordError;
use tally_waldur::{
    KeyFilter, ProjectPermissionFilter, ProviderKeys, ProviderProjectPermissions, ProviderProjects,
    ProviderUsers, ServiceProvider, UserFilter,
};
use uuid::Uuid;

use crate::exit::{Exit, UsageError};
use crate::ops::{self, render, Common, Ctx, Paging};

#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    /// Show the service-provider record of the organisation.
    Show(ShowArgs),
    /// Set a user's local username on every offering of the provider where the user has a
    /// resource (creates or updates the offering users).
    SetUsername(SetUsernameArgs),
    /// List users with roles in projects that use the provider's offerings.
    Users(ListArgs),
    /// List the SSH keys of those users.
    Keys(ListArgs),
    /// List projects that have resources of the provider.
    Projects(ListArgs),
    /// List active project permissions (roles) in those projects.
    Permissions(ListArgs),
}

#[derive(Args, Debug)]
pub struct Which {
    /// Provider organisation (default: waldur.customer_uuid).
    #[arg(long)]
    pub customer: Option<Uuid>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub which: Which,
}

#[derive(Args, Debug)]
pub struct SetUsernameArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub which: Which,
    /// The Waldur user's uuid.
    #[arg(long)]
    pub user: Uuid,
    /// The local username to set.
    #[arg(long)]
    pub username: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub paging: Paging,
    #[command(flatten)]
    pub which: Which,
}

pub fn run(cmd: &ProviderCommand) -> anyhow::Result<Exit> {
    match cmd {
        ProviderCommand::Show(a) => show(a),
        ProviderCommand::SetUsername(a) => set_username(a),
        ProviderCommand::Users(a) => users(a),
        ProviderCommand::Keys(a) => keys(a),
        ProviderCommand::Projects(a) => projects(a),
        ProviderCommand::Permissions(a) => permissions(a),
    }
}

/// The ServiceProvider record of the organisation; an organisation that is no provider is a
/// configuration mistake (exit 2).
fn record(ctx: &Ctx, which: &Which) -> anyhow::Result<ServiceProvider> {
    let customer = ctx.customer(which.customer)?;
    ctx.block_on(tally_ops::provider::record(&ctx.client, customer))
        .map_err(|e| match e {
            RecordError::Api(e) => ops::api(e),
            e @ RecordError::NoRecord(_) => UsageError(e.to_string()).into(),
        })
}

fn show(a: &ShowArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, None)?;
    let sp = record(&ctx, &a.which)?;
    let columns = render::cols(&[
        "uuid",
        "customer_name",
        "customer_uuid",
        "customer_abbreviation",
        "offering_count",
        "created",
        "description",
        "url",
    ]);
    render::object(ctx.format, &sp, &columns)?;
    Ok(Exit::Ok)
}

fn set_username(a: &SetUsernameArgs) -> anyhow::Result<Exit> {
    if a.username.trim().is_empty() {
        return Err(UsageError("--username is empty".into()).into());
    }
    let ctx = Ctx::new(&a.common, None)?;
    let sp = record(&ctx, &a.which)?;
    let batch = ctx.block_on(tally_ops::provider::set_username(
        &ctx.client,
        &sp,
        a.user,
        &a.username,
    ));
    ops::finish(&ctx, "set-username", "users", batch)
}

fn users(a: &ListArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let sp = record(&ctx, &a.which)?;
    let req = ProviderUsers {
        service_provider: sp.uuid,
        filter: UserFilter::default(),
    };
    let listing = ctx.fetch(&req, &a.paging)?;
    let columns = render::cols(&[
        "uuid",
        "username",
        "full_name",
        "email",
        "organization",
        "projects_count",
        "is_active",
    ]);
    render::list(ctx.format, &listing, &columns, None)?;
    Ok(Exit::Ok)
}

fn keys(a: &ListArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let sp = record(&ctx, &a.which)?;
    let req = ProviderKeys {
        service_provider: sp.uuid,
        filter: KeyFilter::default(),
    };
    let listing = ctx.fetch(&req, &a.paging)?;
    render::list(ctx.format, &listing, &crate::ops::keys::columns(), None)?;
    Ok(Exit::Ok)
}

fn projects(a: &ListArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let sp = record(&ctx, &a.which)?;
    let req = ProviderProjects {
        service_provider: sp.uuid,
        fields: Vec::new(),
    };
    let listing = ctx.fetch(&req, &a.paging)?;
    let columns = render::cols(&[
        "uuid",
        "name",
        "customer_name",
        "backend_id",
        "start_date",
        "end_date",
    ]);
    render::list(ctx.format, &listing, &columns, None)?;
    Ok(Exit::Ok)
}

fn permissions(a: &ListArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let sp = record(&ctx, &a.which)?;
    let req = ProviderProjectPermissions {
        service_provider: sp.uuid,
        filter: ProjectPermissionFilter::default(),
    };
    let listing = ctx.fetch(&req, &a.paging)?;
    let columns = render::cols(&[
        "project_name",
        "user_username",
        "user_full_name",
        "role_name",
        "expiration_time",
        "project_uuid",
        "user_uuid",
    ]);
    render::list(ctx.format, &listing, &columns, None)?;
    Ok(Exit::Ok)
}
