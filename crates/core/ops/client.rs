//! Builds the Waldur client from the configuration for the operation commands.
//!
//! Kept here (not shared with `push`) because the shared builder did not exist yet when the
//! operations were written; it follows the same rules: the token comes from `waldur.token_file`,
//! else from `TALLY_WALDUR_TOKEN`, and is never printed (errors name where it came from).

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tally_waldur::{ClientSettings, Token, WaldurClient};

use crate::exit::UsageError;

pub struct Built {
    pub client: WaldurClient,
    pub waldur: tally_config::Waldur,
}

/// Reads `config`, takes its `[waldur]` table and builds the client. Configuration mistakes
/// (missing table, unreadable token, bad URL) come back as configuration errors (exit 2).
pub fn build(config: &Path, page_size: Option<u32>) -> anyhow::Result<Built> {
    let cfg = tally_config::Config::load(config)?;
    let Some(waldur) = cfg.waldur else {
        return Err(UsageError(format!(
            "{}: no [waldur] table (url, token_file, customer_uuid) to reach Waldur with",
            config.display()
        ))
        .into());
    };
    let token = match &waldur.token_file {
        Some(path) => Token::from_file(path),
        None => Token::from_env(),
    }
    .map_err(|e| UsageError(e.to_string()))?;
    let url = url::Url::parse(waldur.url.trim()).map_err(|e| {
        UsageError(format!(
            "{}: waldur.url {:?} is not a URL: {e}",
            config.display(),
            waldur.url
        ))
    })?;
    let mut settings = ClientSettings::new(url, token);
    settings.timeout = Duration::from_secs(waldur.timeout_seconds);
    settings.rate_per_second = NonZeroU32::new(waldur.rate_per_second).unwrap_or(NonZeroU32::MIN);
    settings.burst = NonZeroU32::new(waldur.burst).unwrap_or(NonZeroU32::MIN);
    settings.max_retries = waldur.max_retries;
    settings.allow_insecure_http = waldur.allow_insecure_http;
    if let Some(size) = page_size {
        settings.page_size = size;
    }
    let client = WaldurClient::new(settings)
        .map_err(|e| UsageError(e.to_string()))
        .with_context(|| format!("{}: [waldur]", config.display()))?;
    Ok(Built { client, waldur })
}
