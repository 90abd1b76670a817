//! The commands whose one subcommand is `list`: `tally users list` (`users_list` of the SDK
//! guide; staff see all), `tally keys list` (`keys_list`: every SSH key the token can see) and
//! `tally usage list` (the component usages Waldur holds for a resource, per month and
//! component, to check a report against the server): the request each one's filter flags make;
//! the listing itself is [`ops::list_fields`].

use serde::Serialize;
use tally_cli::ops::lists::{Keys, ListOnly, Usages, Users};
use tally_cli::OutputFormat;
use tally_model::BillingMonth;
use tally_waldur::{ComponentUsageFilter, KeyFilter, ListRequest, UserFilter};

use crate::exit::Exit;
use crate::ops;

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

/// `tally users|keys|usage list`.
pub fn run<F: clap::Args + ListFilter>(cmd: &ListOnly<F>) -> anyhow::Result<Exit>
where
    <F::Request as ListRequest>::Item: Serialize,
{
    let ListOnly::List(a) = cmd;
    let columns = a.filter.columns(a.list.common.format);
    ops::list_fields(&a.list, columns, None, |_| Ok(a.filter.request()))
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
