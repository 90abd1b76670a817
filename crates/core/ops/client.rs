//! The client of the operation commands: the shared builder (`tally_pipeline::client`) with the
//! operations' own page size.

use std::path::Path;

use tally_pipeline::{client, waldur_section, ClientOverrides};
use tally_waldur::WaldurClient;

pub struct Built {
    pub client: WaldurClient,
    pub waldur: tally_config::Waldur,
}

/// Reads `config`, takes its `[waldur]` table and builds the client. Configuration mistakes
/// (missing table, unreadable token, bad URL) come back as configuration errors (exit 2).
pub fn build(config: &Path, page_size: Option<u32>) -> anyhow::Result<Built> {
    let cfg = tally_config::Config::load(config)?;
    let waldur = waldur_section(&cfg)?;
    let client = client(
        &cfg,
        &waldur,
        ClientOverrides {
            page_size,
            ..Default::default()
        },
    )?;
    Ok(Built { client, waldur })
}
