//! `tally usage list`: the component usages Waldur holds for a resource (what was reported,
//! per month and component), to check a report against the server.

use clap::{Args, Subcommand};
use tally_model::BillingMonth;
use tally_waldur::ComponentUsageFilter;
use uuid::Uuid;

use crate::exit::Exit;
use crate::ops;

#[derive(Subcommand, Debug)]
pub enum UsageCommand {
    /// List the component usages of a resource.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub list: ops::ListOpts,
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

const COLUMNS: &str = "billing_period type usage measured_unit date description uuid";

pub fn run(cmd: &UsageCommand) -> anyhow::Result<Exit> {
    let UsageCommand::List(a) = cmd;
    ops::list(&a.list, COLUMNS, |_| {
        Ok(ComponentUsageFilter {
            resource_uuid: Some(a.resource),
            billing_period: a.month.map(BillingMonth::first_day),
            component: a.component.clone(),
            ..Default::default()
        })
    })
}
