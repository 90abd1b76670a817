//! `tally users list`: the users the token can see (`users_list` of the SDK guide; staff see all).

use clap::{Args, Subcommand};
use tally_waldur::UserFilter;

use crate::exit::Exit;
use crate::ops;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// List users.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub list: ops::ListOpts,
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

const COLUMNS: &str = "uuid username full_name email is_active is_staff date_joined";

pub fn run(cmd: &UsersCommand) -> anyhow::Result<Exit> {
    let UsersCommand::List(a) = cmd;
    ops::list(&a.list, COLUMNS, |_| {
        Ok(UserFilter {
            username: a.username.clone(),
            email: a.email.clone(),
            search: a.query.clone(),
            ..Default::default()
        })
    })
}
