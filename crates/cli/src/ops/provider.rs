//! `tally provider show|set-username|users|keys|projects|permissions`: the service-provider
//! operations of the SDK guide. They address the ServiceProvider record of the configured
//! organisation (`waldur.customer_uuid`), looked up once per command as the guide does.

use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::ops::{Common, Customer};

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
pub struct ShowArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub customer: Customer,
}

#[derive(Args, Debug)]
pub struct SetUsernameArgs {
    #[command(flatten)]
    pub show: ShowArgs,
    /// The Waldur user's uuid.
    #[arg(long)]
    pub user: Uuid,
    /// The local username to set.
    #[arg(long)]
    pub username: String,
}

/// A provider list: the listing flags and `--customer`.
pub type ListArgs = crate::ops::lists::Listed<Customer>;
