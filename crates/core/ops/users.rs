//! `tally users list`: the users the token can see (`users_list` of the SDK guide; staff see all).

use clap::{Args, Subcommand};
use tally_waldur::UserFilter;

use crate::exit::Exit;
use crate::ops::{render, Common, Ctx, Paging};

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// List users.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub paging: Paging,
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

pub fn run(cmd: &UsersCommand) -> anyhow::Result<Exit> {
    match cmd {
        UsersCommand::List(a) => {
            let ctx = Ctx::new(&a.common, a.paging.page_size)?;
            let filter = UserFilter {
                username: a.username.clone(),
                email: a.email.clone(),
                search: a.query.clone(),
                ..Default::default()
            };
            let listing = ctx.fetch(&filter, &a.paging)?;
            let columns = render::cols(&[
                "uuid",
                "username",
                "full_name",
                "email",
                "is_active",
                "is_staff",
                "date_joined",
            ]);
            render::list(ctx.format, &listing, &columns, None)?;
            Ok(Exit::Ok)
        }
    }
}
