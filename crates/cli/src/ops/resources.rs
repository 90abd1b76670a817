//! `tally resources ...`: the resource-allocation operations of both guides, on the provider view
//! of resources (a provider organisation's owner sees its offering's resources only there).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::ops::{self, Common};

#[derive(Subcommand, Debug)]
pub enum ResourcesCommand {
    /// List the provider's resources (allocations) with filters.
    List(ListArgs),
    /// Show one resource.
    Show(ShowArgs),
    /// Set a resource's backend_id, the provider's local reference (e.g. the SLURM account).
    SetBackendId(SetBackendIdArgs),
    /// Replace a resource's report (access details shown to the consumer).
    Report(ReportArgs),
    /// List the team (project members) of a resource.
    Team(OneArgs),
    /// List a resource's plan periods with the current month's usage.
    PlanPeriods(OneArgs),
    /// Mark a resource as created (ok) or failed (erred).
    SetState(SetStateArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub list: ops::ListOpts,
    /// Resource states, comma separated (Creating, OK, Erred, Updating, Terminating, Terminated).
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// Only resources of these offerings (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub offering: Vec<Uuid>,
    /// Only the resource with this backend_id.
    #[arg(long)]
    pub backend_id: Option<String>,
    /// Only resources of this (consumer) project.
    #[arg(long)]
    pub project: Option<Uuid>,
    #[command(flatten)]
    pub customer: ops::Customer,
    /// Fields to ask for and show, comma separated (e.g. name,state,limits,plan,project,url);
    /// uuid is always included.
    #[arg(long, value_delimiter = ',')]
    pub field: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub common: Common,
    pub resource: Uuid,
    /// Fields to ask for, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub field: Vec<String>,
}

#[derive(Args, Debug)]
pub struct OneArgs {
    #[command(flatten)]
    pub list: ops::ListOpts,
    pub resource: Uuid,
}

#[derive(Args, Debug)]
pub struct SetBackendIdArgs {
    #[command(flatten)]
    pub common: Common,
    pub resource: Uuid,
    /// The local reference (at most 255 characters).
    pub backend_id: String,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: Common,
    pub resource: Uuid,
    /// A section as "Header=Body" (repeatable, in order).
    #[arg(
        long,
        required_unless_present = "from_file",
        conflicts_with = "from_file"
    )]
    pub section: Vec<String>,
    /// A JSON file: [{"header": ..., "body": ...}, ...] or {"report": [...]}.
    #[arg(long)]
    pub from_file: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetState {
    /// Created successfully (`set_as_ok`).
    Ok,
    /// Not created because of an error (`set_as_erred`).
    Erred,
}

#[derive(Args, Debug)]
pub struct SetStateArgs {
    #[command(flatten)]
    pub common: Common,
    pub resource: Uuid,
    #[arg(value_enum)]
    pub state: TargetState,
    /// With erred: the error message the consumer sees.
    #[arg(long)]
    pub error_message: Option<String>,
}
