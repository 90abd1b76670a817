//! `tally keys list`: every SSH key the token can see (`keys_list` of the SDK guide).

use clap::{Args, Subcommand};
use tally_waldur::KeyFilter;
use uuid::Uuid;

use crate::args::OutputFormat;
use crate::exit::Exit;
use crate::ops;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List SSH keys (the public key is in --format json/csv; the table shows fingerprints).
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub list: ops::ListOpts,
    /// Only keys of this user.
    #[arg(long)]
    pub user: Option<Uuid>,
    /// Only keys with this name.
    #[arg(long)]
    pub name: Option<String>,
}

/// Columns of key listings (also `provider keys`); the public key itself is too wide for a table.
pub const COLUMNS: &str = "uuid name user_uuid type fingerprint_sha256 is_shared";

pub fn run(cmd: &KeysCommand) -> anyhow::Result<Exit> {
    let KeysCommand::List(a) = cmd;
    let mut columns = tally_render::cols(COLUMNS);
    if a.list.common.format != OutputFormat::Table {
        columns.push("public_key".to_owned());
    }
    ops::list_fields(&a.list, columns, None, |_| {
        Ok(KeyFilter {
            user_uuid: a.user,
            name: a.name.clone(),
            ..Default::default()
        })
    })
}
