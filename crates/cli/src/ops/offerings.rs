//! `tally offerings show`: an offering with its components and their billing types
//! (`marketplace_public_offerings_retrieve` of the usage-reporting section): what usage can be
//! reported against (billing type `usage` or `limit`).

use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::ops::Common;

#[derive(Subcommand, Debug)]
pub enum OfferingsCommand {
    /// Show an offering and its components (type, unit, billing type, limits).
    Show(ShowArgs),
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub common: Common,
    /// The offering (default: waldur.offering_uuid).
    pub offering: Option<Uuid>,
    /// Read the provider's view (marketplace-provider-offerings) instead of the public catalogue.
    #[arg(long)]
    pub provider_view: bool,
}
