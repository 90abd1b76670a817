//! `tally offering-users create|list`: granting a user access to an offering under a local
//! username (`marketplace_offering_users_create`) and listing those grants.

use clap::{Args, Subcommand};
use tally_waldur::ObjectRef;
use uuid::Uuid;

use crate::ops::{self, Common};

#[derive(Subcommand, Debug)]
pub enum OfferingUsersCommand {
    /// Grant a user access to an offering under a local username.
    Create(CreateArgs),
    /// List offering users (user ↔ local username per offering) of the provider.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: Common,
    /// The offering: URL or uuid (default: waldur.offering_uuid).
    #[arg(long, value_parser = ObjectRef::parse)]
    pub offering: Option<ObjectRef>,
    /// The Waldur user: URL or uuid.
    #[arg(long, value_parser = ObjectRef::parse)]
    pub user: ObjectRef,
    /// The local username on the offering (e.g. the cluster login).
    #[arg(long)]
    pub username: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub list: ops::ListOpts,
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
    #[command(flatten)]
    pub customer: ops::Customer,
}
