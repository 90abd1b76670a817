//! The commands whose one subcommand is `list`: `tally users list` (`users_list` of the SDK
//! guide; staff see all), `tally keys list` (`keys_list`: every SSH key the token can see) and
//! `tally usage list` (the component usages Waldur holds for a resource, per month and
//! component, to check a report against the server).

use clap::{Args, Subcommand};
use tally_model::BillingMonth;
use uuid::Uuid;

use crate::ops::ListOpts;

/// A command with the one subcommand `list`; the help of `list` is `F`'s doc comment.
#[derive(Subcommand, Debug)]
pub enum ListOnly<F: Args> {
    List(Listed<F>),
}

// The listing flags, then the command's filters (no doc comment: the help of `list` is the
// filters' doc comment, which clap applies last).
#[derive(Args, Debug)]
pub struct Listed<F: Args> {
    #[command(flatten)]
    pub list: ListOpts,
    #[command(flatten)]
    pub filter: F,
}

/// List users.
#[derive(Args, Debug)]
pub struct Users {
    /// Only this username (exact).
    #[arg(long)]
    pub username: Option<String>,
    /// Only this e-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// Free-text search (name, username, e-mail).
    #[arg(long)]
    pub query: Option<String>,
}

/// List SSH keys (the public key is in --format json/csv; the table shows fingerprints).
#[derive(Args, Debug)]
pub struct Keys {
    /// Only keys of this user.
    #[arg(long)]
    pub user: Option<Uuid>,
    /// Only keys with this name.
    #[arg(long)]
    pub name: Option<String>,
}

/// List the component usages of a resource.
#[derive(Args, Debug)]
pub struct Usages {
    /// The resource.
    #[arg(long)]
    pub resource: Uuid,
    /// Only this billing month (YYYY-MM).
    #[arg(long)]
    pub month: Option<BillingMonth>,
    /// Only this component type.
    #[arg(long)]
    pub component: Option<String>,
}
