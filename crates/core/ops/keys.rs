//! `tally keys list`: every SSH key the token can see (`keys_list` of the SDK guide).

use clap::{Args, Subcommand};
use tally_waldur::KeyFilter;
use uuid::Uuid;

use crate::exit::Exit;
use crate::ops::{render, Common, Ctx, Paging};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List SSH keys (the public key is in --format json/csv; the table shows fingerprints).
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub paging: Paging,
    /// Only keys of this user.
    #[arg(long)]
    pub user: Option<Uuid>,
    /// Only keys with this name.
    #[arg(long)]
    pub name: Option<String>,
}

/// Columns of key listings (also `provider keys`); the public key itself is too wide for a table.
pub fn columns() -> Vec<String> {
    render::cols(&[
        "uuid",
        "name",
        "user_uuid",
        "type",
        "fingerprint_sha256",
        "is_shared",
    ])
}

pub fn run(cmd: &KeysCommand) -> anyhow::Result<Exit> {
    match cmd {
        KeysCommand::List(a) => {
            let ctx = Ctx::new(&a.common, a.paging.page_size)?;
            let filter = KeyFilter {
                user_uuid: a.user,
                name: a.name.clone(),
                ..Default::default()
            };
            let listing = ctx.fetch(&filter, &a.paging)?;
            let mut cols = columns();
            if ctx.format != crate::args::OutputFormat::Table {
                cols.push("public_key".to_owned());
            }
            render::list(ctx.format, &listing, &cols, None)?;
            Ok(Exit::Ok)
        }
    }
}
