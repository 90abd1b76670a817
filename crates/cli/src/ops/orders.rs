//! `tally orders list|approve|reject|cancel`: the order operations of the SDK guide
//! (`marketplace_orders_list`, `..._approve_by_provider`, `..._reject_by_provider`,
//! `marketplace_orders_cancel`).

use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::ops::{self, Common};

#[derive(Subcommand, Debug)]
pub enum OrdersCommand {
    /// List orders of the provider organisation (waldur.customer_uuid) with filters (of every
    /// provider the token sees when neither it nor --customer is set).
    List(ListArgs),
    /// Approve orders in state pending-provider (they move to executing).
    Approve(ActionArgs),
    /// Reject orders in state pending-provider (they move to rejected).
    Reject(RejectArgs),
    /// Cancel orders (consumer side; basic/support offerings; pending or executing orders).
    Cancel(ActionArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub list: ops::ListOpts,
    /// Order states, comma separated (pending-consumer, pending-provider, pending-project,
    /// pending-start-date, executing, done, erred, canceled, rejected).
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// Order types, comma separated (create, update, terminate, restore).
    #[arg(long = "type", value_delimiter = ',')]
    pub order_type: Vec<String>,
    /// Only orders of this marketplace resource.
    #[arg(long)]
    pub resource: Option<Uuid>,
    /// Only orders of this offering.
    #[arg(long)]
    pub offering: Option<Uuid>,
    #[command(flatten)]
    pub customer: ops::Customer,
}

#[derive(Args, Debug)]
pub struct ActionArgs {
    #[command(flatten)]
    pub common: Common,
    /// Order uuids (32-hex or hyphenated).
    #[arg(required = true, num_args = 1..)]
    pub orders: Vec<Uuid>,
}

#[derive(Args, Debug)]
pub struct RejectArgs {
    #[command(flatten)]
    pub action: ActionArgs,
    /// Rejection comment the consumer sees.
    #[arg(long)]
    pub comment: Option<String>,
}
