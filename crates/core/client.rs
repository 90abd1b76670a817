//! Builds the Waldur client for `push`, `check`, `run` and `replay` from the validated
//! configuration. The token comes from `waldur.token_file`, else from `TALLY_WALDUR_TOKEN`; it is
//! never printed (errors name where it came from, never what it is). There is no command-line
//! switch for plain http: only the config's `allow_insecure_http` allows it to a non-loopback
//! host, so a nightly job cannot be talked into it by a stray flag.

use std::num::NonZeroU32;
use std::time::Duration;

use tally_config::{Config, Waldur};
use tally_waldur::{ClientSettings, Token, WaldurClient};
use uuid::Uuid;

use crate::exit::UsageError;

/// What the push commands need from `[waldur]`.
pub struct Target {
    pub client: WaldurClient,
    pub waldur: Waldur,
    pub offering: Uuid,
}

/// The `[waldur]` table, or a configuration error naming what is missing.
pub fn waldur_section(config: &Config) -> anyhow::Result<Waldur> {
    config.waldur.clone().ok_or_else(|| {
        UsageError(format!(
            "{}: no [waldur] table (url, token_file, offering_uuid, customer_uuid) to reach Waldur with",
            config.path.display()
        ))
        .into()
    })
}

/// The `[waldur]` table with the offering the push commands report for.
pub fn waldur_table(config: &Config) -> anyhow::Result<(Waldur, Uuid)> {
    let waldur = waldur_section(config)?;
    let Some(text) = waldur.offering_uuid.as_deref() else {
        return Err(UsageError(format!(
            "{}: waldur.offering_uuid is needed: the offering whose resources tally reports for",
            config.path.display()
        ))
        .into());
    };
    let offering = Uuid::parse_str(text.trim()).map_err(|e| {
        UsageError(format!(
            "{}: waldur.offering_uuid {text:?} is not a UUID: {e}",
            config.path.display()
        ))
    })?;
    Ok((waldur, offering))
}

/// What a command may set instead of the configuration.
#[derive(Default)]
pub struct Overrides<'a> {
    /// Another API base (replays against the in-process sandbox).
    pub url: Option<&'a str>,
    pub token: Option<Token>,
    pub page_size: Option<u32>,
}

/// The one place a client is built from `[waldur]`: every command gets the same token rules,
/// timeouts, rate limit and retry settings.
pub fn client(
    config: &Config,
    waldur: &Waldur,
    overrides: Overrides<'_>,
) -> anyhow::Result<WaldurClient> {
    let token = match overrides.token {
        Some(t) => t,
        None => match &waldur.token_file {
            Some(path) => Token::from_file(path),
            None => Token::from_env(),
        }
        .map_err(|e| UsageError(e.to_string()))?,
    };
    let url_text = overrides.url.unwrap_or(&waldur.url).trim();
    let url = url::Url::parse(url_text).map_err(|e| {
        UsageError(format!(
            "{}: waldur.url {url_text:?} is not a URL: {e}",
            config.path.display()
        ))
    })?;
    let mut settings = ClientSettings::new(url, token);
    settings.timeout = Duration::from_secs(waldur.timeout_seconds);
    settings.rate_per_second = NonZeroU32::new(waldur.rate_per_second).unwrap_or(NonZeroU32::MIN);
    settings.burst = NonZeroU32::new(waldur.burst).unwrap_or(NonZeroU32::MIN);
    settings.max_retries = waldur.max_retries;
    settings.allow_insecure_http = waldur.allow_insecure_http;
    if let Some(size) = overrides.page_size {
        settings.page_size = size;
    }
    WaldurClient::new(settings)
        .map_err(|e| UsageError(format!("{}: [waldur]: {e}", config.path.display())).into())
}

/// Builds the client from the configuration (`url_override`/`token_override`: replays against
/// the in-process sandbox).
pub fn build(
    config: &Config,
    url_override: Option<&str>,
    token_override: Option<Token>,
) -> anyhow::Result<Target> {
    let (waldur, offering) = waldur_table(config)?;
    let client = client(
        config,
        &waldur,
        Overrides {
            url: url_override,
            token: token_override,
            page_size: None,
        },
    )?;
    Ok(Target {
        client,
        waldur,
        offering,
    })
}
