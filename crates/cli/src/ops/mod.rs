//! The provider operations' flags (`tally orders|resources|offering-users|provider|offerings|
//! users|keys|usage`). Every command takes `--config` and `--format`; list commands fetch every
//! page unless `--page` is given.

pub mod lists;
pub mod offering_users;
pub mod offerings;
pub mod orders;
pub mod provider;
pub mod resources;

use std::path::PathBuf;

use clap::Args;
use uuid::Uuid;

use crate::OutputFormat;

/// Flags every operation takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The configuration file; its [waldur] table gives url, token_file, customer_uuid and
    /// offering_uuid (the token may also come from TALLY_WALDUR_TOKEN).
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Paging of list commands: every page by default, because a provider who approves "all pending
/// orders" must not silently miss the ones on page 2.
#[derive(Args, Debug, Clone, Default)]
pub struct Paging {
    /// Only this page (1-based). Default: every page.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: Option<u32>,
    /// Items per request (1..=300; default 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub page_size: Option<u32>,
}

/// The flags of every list command: configuration, format and paging.
#[derive(Args, Debug, Clone)]
pub struct ListOpts {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub paging: Paging,
}

/// `--customer`: the provider organisation, else `waldur.customer_uuid` of the configuration.
#[derive(Args, Debug, Clone)]
pub struct Customer {
    /// Provider organisation (default: waldur.customer_uuid).
    #[arg(long)]
    pub customer: Option<Uuid>,
}
