//! `tally orders list|approve|reject|cancel`: the order operations of the SDK guide
//! (`marketplace_orders_list`, `..._approve_by_provider`, `..._reject_by_provider`,
//! `marketplace_orders_cancel`).

use clap::{Args, Subcommand};
use tally_ops::orders::Action;
use tally_waldur::{OrderFilter, OrderState, OrderType};
use uuid::Uuid;

use crate::exit::Exit;
use crate::ops::{self, render, Common, Ctx, Paging};

#[derive(Subcommand, Debug)]
pub enum OrdersCommand {
    /// List orders of the provider organisation (waldur.customer_uuid) with filters.
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
    pub common: Common,
    #[command(flatten)]
    pub paging: Paging,
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
    /// Provider organisation (default: waldur.customer_uuid; orders of every provider the token
    /// sees when neither is set).
    #[arg(long)]
    pub customer: Option<Uuid>,
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

const COLUMNS: &[&str] = &[
    "uuid",
    "type",
    "state",
    "resource_name",
    "marketplace_resource_uuid",
    "project_name",
    "created_by_username",
    "created",
];

pub fn run(cmd: &OrdersCommand) -> anyhow::Result<Exit> {
    match cmd {
        OrdersCommand::List(a) => list(a),
        OrdersCommand::Approve(a) => act(&a.common, &a.orders, Action::Approve),
        OrdersCommand::Reject(a) => act(
            &a.action.common,
            &a.action.orders,
            Action::Reject(a.comment.as_deref()),
        ),
        OrdersCommand::Cancel(a) => act(&a.common, &a.orders, Action::Cancel),
    }
}

fn list(a: &ListArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, a.paging.page_size)?;
    let states = ops::labels(
        "order state",
        &a.state,
        OrderState::parse_label,
        OrderState::KNOWN,
        |s| s.to_string(),
    )?;
    let types = ops::labels(
        "order type",
        &a.order_type,
        OrderType::parse_label,
        OrderType::KNOWN,
        |s| s.to_string(),
    )?;
    let filter = OrderFilter {
        states,
        types,
        resource_uuid: a.resource,
        offering_uuid: a.offering,
        provider_uuid: match a.customer {
            Some(c) => Some(c),
            None => ctx.opt_customer()?,
        },
        ..Default::default()
    };
    let listing = ctx.fetch(&filter, &a.paging)?;
    render::list(ctx.format, &listing, &render::cols(COLUMNS), None)?;
    Ok(Exit::Ok)
}

fn act(common: &Common, orders: &[Uuid], action: Action<'_>) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(common, None)?;
    let batch = ctx.block_on(tally_ops::orders::act(&ctx.client, orders, action));
    ops::finish(&ctx, action.name(), "orders", batch)
}
