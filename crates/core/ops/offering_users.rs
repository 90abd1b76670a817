//! `tally offering-users create|list`: granting a user access to an offering under a local
//! username (`marketplace_offering_users_create`) and listing those grants.

use clap::{Args, Subcommand};
use tally_waldur::{ObjectRef, OfferingUserFilter, OfferingUserState};
use uuid::Uuid;

use crate::exit::Exit;
use crate::ops::{self, render, Common, Ctx, Paging};

#[derive(Subcommand, Debug)]
pub enum OfferingUsersCommand {
    /// Grant a user access to an offering under a local username.
    Create(CreateArgs),
    /// List offering users (user ↔ local username per offering) of the provider.
    List(ListArgs),
}

fn parse_ref(s: &str) -> Result<ObjectRef, String> {
    ObjectRef::parse(s)
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: Common,
    /// The offering: URL or uuid (default: waldur.offering_uuid).
    #[arg(long, value_parser = parse_ref)]
    pub offering: Option<ObjectRef>,
    /// The Waldur user: URL or uuid.
    #[arg(long, value_parser = parse_ref)]
    pub user: ObjectRef,
    /// The local username on the offering (e.g. the cluster login).
    #[arg(long)]
    pub username: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub paging: Paging,
    /// Only this offering.
    #[arg(long)]
    pub offering: Option<Uuid>,
    /// Only this Waldur user.
    #[arg(long)]
    pub user: Option<Uuid>,
    /// Only this Waldur username.
    #[arg(long)]
    pub user_username: Option<String>,
    /// States, comma separated (Requested, Creating, OK, Deleted, ...).
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// Provider organisation (default: waldur.customer_uuid).
    #[arg(long)]
    pub customer: Option<Uuid>,
}

pub fn run(cmd: &OfferingUsersCommand) -> anyhow::Result<Exit> {
    match cmd {
        OfferingUsersCommand::Create(a) => create(a),
        OfferingUsersCommand::List(a) => list(a),
    }
}

fn create(a: &CreateArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, None)?;
    let offering = match &a.offering {
        Some(o) => o.clone(),
        None => ObjectRef::Uuid(ctx.offering(None)?),
    };
    let batch = ctx.block_on(tally_ops::offering_users::create(
        &ctx.client,
        &offering,
        &a.user,
        &a.username,
    ));
    ops::finish(&ctx, "create", "offering users", batch)
}

fn list(a: &ListArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let states = ops::labels(
        "offering user state",
        &a.state,
        OfferingUserState::parse_label,
        OfferingUserState::KNOWN,
        |s| s.to_string(),
    )?;
    let filter = OfferingUserFilter {
        offering_uuid: a.offering,
        user_uuid: a.user,
        user_username: a.user_username.clone(),
        provider_uuid: match a.customer {
            Some(c) => Some(c),
            None => ctx.opt_customer()?,
        },
        states,
        ..Default::default()
    };
    let listing = ctx.fetch(&filter, &a.paging)?;
    let columns = render::cols(&[
        "uuid",
        "offering_name",
        "user_username",
        "username",
        "state",
        "user_uuid",
        "created",
    ]);
    render::list(ctx.format, &listing, &columns, None)?;
    Ok(Exit::Ok)
}
