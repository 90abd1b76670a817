//! `tally orders list|approve|reject|cancel`: the order operations of the SDK guide
//! (`marketplace_orders_list`, `..._approve_by_provider`, `..._reject_by_provider`,
//! `marketplace_orders_cancel`).

use tally_ops::orders::Action;
use tally_waldur::{OrderFilter, OrderState, OrderType};

use tally_cli::ops::orders::{ListArgs, OrdersCommand};

use crate::exit::Exit;
use crate::ops::{self, Ctx};

const COLUMNS: &str = "uuid type state resource_name marketplace_resource_uuid project_name \
    created_by_username created";

pub fn run(cmd: &OrdersCommand) -> anyhow::Result<Exit> {
    let (args, action) = match cmd {
        OrdersCommand::List(a) => return list(a),
        OrdersCommand::Approve(a) => (a, Action::Approve),
        OrdersCommand::Reject(a) => (&a.action, Action::Reject(a.comment.as_deref())),
        OrdersCommand::Cancel(a) => (a, Action::Cancel),
    };
    let ctx = Ctx::new(&args.common, None)?;
    let batch = ctx.block_on(tally_ops::orders::act(&ctx.client, &args.orders, action));
    ops::finish(&ctx, action.name(), "orders", batch)
}

fn list(a: &ListArgs) -> anyhow::Result<Exit> {
    ops::list(&a.list, COLUMNS, |ctx| {
        let states = ops::labels(
            "order state",
            &a.state,
            OrderState::parse_label,
            OrderState::KNOWN,
        )?;
        let types = ops::labels(
            "order type",
            &a.order_type,
            OrderType::parse_label,
            OrderType::KNOWN,
        )?;
        Ok(OrderFilter {
            states,
            types,
            resource_uuid: a.resource,
            offering_uuid: a.offering,
            provider_uuid: ctx.opt_customer(&a.customer)?,
            ..Default::default()
        })
    })
}
