//! The commands whose one subcommand is `list`: `tally users list` (`users_list` of the SDK
//! guide; staff see all), `tally keys list` (`keys_list`: every SSH key the token can see) and
//! `tally usage list` (the component usages Waldur holds for a resource, per month and
//! component, to check a report against the server). Each is its filter flags and the request
//! they make; the listing itself is [`ops::list_fields`].

use clap::{Args, Subcommand};
use serde::Serialize;
use tally_model::BillingMonth;
use tally_waldur::{ComponentUsageFilter, KeyFilter, ListRequest, UserFilter};
use uuid::Uuid;

use crate::args::OutputFormat;
use crate::exit::Exit;
use crate::ops::{self, ListOpts};

/// A command with the one subcommand `list`; the help of `list` is `F`'s doc comment.
#[derive(Subcommand, Debug)]
pub enum ListOnly<F: Args + ListFilter> {
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

/// The filter flags of a list command: the request they make and the columns shown.
pub trait ListFilter {
    type Request: ListRequest;
    /// The JSON keys of the items shown, blank-separated.
    const COLUMNS: &'static str;
    fn request(&self) -> Self::Request;
    fn columns(&self, _format: OutputFormat) -> Vec<String> {
        tally_render::cols(Self::COLUMNS)
    }
}

impl<F: Args + ListFilter> ListOnly<F>
where
    <F::Request as ListRequest>::Item: Serialize,
{
    pub fn run(&self) -> anyhow::Result<Exit> {
        let ListOnly::List(a) = self;
        let columns = a.filter.columns(a.list.common.format);
        ops::list_fields(&a.list, columns, None, |_| Ok(a.filter.request()))
    }
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

impl ListFilter for Users {
    type Request = UserFilter;
    const COLUMNS: &'static str = "uuid username full_name email is_active is_staff date_joined";
    fn request(&self) -> UserFilter {
        let (username, email) = (self.username.clone(), self.email.clone());
        let search = self.query.clone();
        UserFilter {
            username,
            email,
            search,
            ..Default::default()
        }
    }
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

/// Columns of key listings (also `provider keys`); the public key itself is too wide for a table.
pub const KEY_COLUMNS: &str = "uuid name user_uuid type fingerprint_sha256 is_shared";

impl ListFilter for Keys {
    type Request = KeyFilter;
    const COLUMNS: &'static str = KEY_COLUMNS;
    fn request(&self) -> KeyFilter {
        let name = self.name.clone();
        KeyFilter {
            user_uuid: self.user,
            name,
            ..Default::default()
        }
    }
    fn columns(&self, format: OutputFormat) -> Vec<String> {
        let mut columns = tally_render::cols(KEY_COLUMNS);
        if format != OutputFormat::Table {
            columns.push("public_key".to_owned());
        }
        columns
    }
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

impl ListFilter for Usages {
    type Request = ComponentUsageFilter;
    const COLUMNS: &'static str = "billing_period type usage measured_unit date description uuid";
    fn request(&self) -> ComponentUsageFilter {
        ComponentUsageFilter {
            resource_uuid: Some(self.resource),
            billing_period: self.month.map(BillingMonth::first_day),
            component: self.component.clone(),
            ..Default::default()
        }
    }
}
