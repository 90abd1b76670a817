//! The offering tally reports for, and what follows from the configuration for it: the ledger
//! beside it, the run lock, and the rules of which cells tally owns.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tally_aggregate::UnlistedAccounts;
use tally_config::{Config, Waldur};
use tally_model::{BillingMonth, MonthRange};
use tally_push::{Ledger, MappingReach, OwnershipMode};
use tally_waldur::{ClientSettings, Token, WaldurClient};
use uuid::Uuid;

use crate::{PipelineError, UsageError};

/// A client for one offering: what push, check, run and replay talk to.
pub struct Connection {
    pub client: WaldurClient,
    /// The `[waldur]` table (concurrency, ledger path).
    pub waldur: Waldur,
    pub offering: Uuid,
}

/// The run lock beside the ledger (`<ledger>.lock`), taken by `push` and `run` alike, so a push
/// by hand never overlaps the nightly run.
pub fn lock_path(waldur: &Waldur) -> PathBuf {
    let mut p = waldur.ledger.clone().into_os_string();
    p.push(".lock");
    PathBuf::from(p)
}

/// Opens the ledger and writes the run's row; returns the ledger and the run's id.
pub fn open_ledger(
    config: &Config,
    connection: &Connection,
    command: &str,
    range: MonthRange,
    as_of: DateTime<Utc>,
) -> Result<(Arc<Ledger>, String), PipelineError> {
    let run_id = tally_push::new_run_id(Utc::now());
    open_ledger_with_id(config, connection, command, range, as_of, run_id)
}

/// [`open_ledger`] with a run id made before (`tally_push::new_run_id`): the id every log line
/// of the command already carries, so the logs, the ledger and the metrics file name one run.
pub fn open_ledger_with_id(
    config: &Config,
    connection: &Connection,
    command: &str,
    range: MonthRange,
    as_of: DateTime<Utc>,
    run_id: String,
) -> Result<(Arc<Ledger>, String), PipelineError> {
    let path = &connection.waldur.ledger;
    let ledger = Ledger::open(path)?;
    let started = Utc::now();
    ledger.start_run(&tally_push::RunRecord {
        run_id: &run_id,
        command,
        started_at: started,
        config: &config.path,
        waldur_url: connection.client.base_url().as_str(),
        offering_uuid: connection.offering,
        months: &format!("{}..{}", range.from, range.to),
        as_of,
    })?;
    tracing::info!(run_id = %run_id, ledger = %path.display(), "run started");
    Ok((Arc::new(ledger), run_id))
}

/// The backend_ids the config's account mapping can produce.
pub fn mapping_reach(config: &Config) -> MappingReach {
    match config.mapping.unlisted {
        UnlistedAccounts::Identity => MappingReach::EveryBackendId,
        UnlistedAccounts::Unmapped => {
            MappingReach::Only(config.mapping.table.values().cloned().collect())
        }
    }
}

/// `[push] shared_offering`: whether another reporter writes the same offering.
pub fn ownership_mode(config: &Config) -> OwnershipMode {
    if config.push.shared_offering {
        OwnershipMode::Shared
    } else {
        OwnershipMode::Offering
    }
}

/// The (resource, month)s the ledger shows tally delivered a report to, read without creating
/// or writing the ledger (dry runs, check). An unreadable ledger is a warning and an empty set:
/// tally then owns what its mapping names, which is what a new ledger would say too.
pub fn written_read_only(connection: &Connection) -> BTreeSet<(Uuid, BillingMonth)> {
    let read = Ledger::open_read_only(&connection.waldur.ledger).and_then(|l| match l {
        Some(l) => l.delivered_resource_months(connection.offering),
        None => Ok(BTreeSet::new()),
    });
    read.unwrap_or_else(|e| {
        tracing::warn!("cannot read the ledger for the cells tally wrote: {e}");
        BTreeSet::new()
    })
}

/// The components tally reports: the configured ones and those the cells carry.
pub(crate) fn components<'a>(
    config: &Config,
    cells: impl Iterator<Item = &'a tally_model::UsageCell>,
) -> BTreeSet<String> {
    config
        .rules
        .iter()
        .map(|r| r.component.clone())
        .chain(cells.map(|c| c.component.clone()))
        .collect()
}

/// The `[waldur]` table, or a configuration error naming what is missing.
pub fn waldur_section(config: &Config) -> Result<Waldur, UsageError> {
    config.waldur.clone().ok_or_else(|| {
        UsageError(format!(
            "{}: no [waldur] table (url, token_file, offering_uuid, customer_uuid) to reach Waldur with",
            config.path.display()
        ))
    })
}

/// The `[waldur]` table with the offering the push commands report for.
pub fn waldur_table(config: &Config) -> Result<(Waldur, Uuid), UsageError> {
    let waldur = waldur_section(config)?;
    let Some(text) = waldur.offering_uuid.as_deref() else {
        return Err(UsageError(format!(
            "{}: waldur.offering_uuid is needed: the offering whose resources tally reports for",
            config.path.display()
        )));
    };
    let offering = Uuid::parse_str(text.trim()).map_err(|e| {
        UsageError(format!(
            "{}: waldur.offering_uuid {text:?} is not a UUID: {e}",
            config.path.display()
        ))
    })?;
    Ok((waldur, offering))
}

/// What the provider operations take from `[waldur]` when no flag says: the provider
/// organisation (`customer_uuid`) and the offering (`offering_uuid`).
pub struct OperationDefaults {
    path: PathBuf,
    customer: Option<String>,
    offering: Option<String>,
}

impl OperationDefaults {
    pub fn of(config: &Config, waldur: &Waldur) -> Self {
        OperationDefaults {
            path: config.path.clone(),
            customer: waldur.customer_uuid.clone(),
            offering: waldur.offering_uuid.clone(),
        }
    }

    /// `given`, else `customer_uuid`: the provider organisation.
    pub fn customer(&self, given: Option<Uuid>) -> Result<Uuid, UsageError> {
        let found = self.opt_customer(given)?;
        self.required(found, "customer_uuid", "provider organisation", "customer")
    }

    /// `given`, else `customer_uuid` if set (a default filter).
    pub fn opt_customer(&self, given: Option<Uuid>) -> Result<Option<Uuid>, UsageError> {
        match given {
            Some(c) => Ok(Some(c)),
            None => self.uuid("customer_uuid", self.customer.as_deref()),
        }
    }

    /// `given`, else `offering_uuid`.
    pub fn offering(&self, given: Option<Uuid>) -> Result<Uuid, UsageError> {
        let found = match given {
            Some(o) => Some(o),
            None => self.uuid("offering_uuid", self.offering.as_deref())?,
        };
        self.required(found, "offering_uuid", "offering", "offering")
    }

    fn required(
        &self,
        found: Option<Uuid>,
        key: &str,
        what: &str,
        flag: &str,
    ) -> Result<Uuid, UsageError> {
        found.ok_or_else(|| {
            UsageError(format!(
                "no {what}: set waldur.{key} in {} or pass --{flag}",
                self.path.display()
            ))
        })
    }

    fn uuid(&self, key: &str, value: Option<&str>) -> Result<Option<Uuid>, UsageError> {
        value
            .map(|s| {
                Uuid::parse_str(s.trim()).map_err(|_| {
                    UsageError(format!(
                        "{}: waldur.{key} = {s:?} is not a uuid",
                        self.path.display()
                    ))
                })
            })
            .transpose()
    }
}

/// What a command may set instead of the configuration.
#[derive(Default)]
pub struct ClientOverrides<'a> {
    /// Another API base (replays against the in-process sandbox).
    pub url: Option<&'a str>,
    pub token: Option<Token>,
    pub page_size: Option<u32>,
}

/// The one place a client is built from `[waldur]`: every command gets the same token rules,
/// timeouts, rate limit and retry settings. The token comes from `waldur.token_file`, else from
/// `TALLY_WALDUR_TOKEN`; it is never printed (errors name where it came from, never what it is).
/// There is no switch for plain http: only the config's `allow_insecure_http` allows it to a
/// non-loopback host, so a nightly job cannot be talked into it by a stray flag.
pub fn client(
    config: &Config,
    waldur: &Waldur,
    overrides: ClientOverrides<'_>,
) -> Result<WaldurClient, UsageError> {
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
        .map_err(|e| UsageError(format!("{}: [waldur]: {e}", config.path.display())))
}

/// The connection to the configured offering (`url`/`token`: replays against the in-process
/// sandbox). Must be called inside a Tokio runtime.
pub fn connect(
    config: &Config,
    url: Option<&str>,
    token: Option<Token>,
) -> Result<Connection, UsageError> {
    let (waldur, offering) = waldur_table(config)?;
    let client = client(
        config,
        &waldur,
        ClientOverrides {
            url,
            token,
            page_size: None,
        },
    )?;
    Ok(Connection {
        client,
        waldur,
        offering,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(customer: Option<&str>, offering: Option<&str>) -> OperationDefaults {
        OperationDefaults {
            path: PathBuf::from("/etc/tally.toml"),
            customer: customer.map(str::to_owned),
            offering: offering.map(str::to_owned),
        }
    }

    #[test]
    fn a_flag_wins_over_the_configuration_and_a_missing_one_names_both_ways() {
        let flag = Uuid::from_u128(1);
        let configured = Uuid::from_u128(2);
        let d = defaults(Some(&configured.simple().to_string()), None);
        assert_eq!(d.customer(Some(flag)).expect("flag"), flag);
        assert_eq!(d.customer(None).expect("configured"), configured);
        assert_eq!(d.opt_customer(None).expect("configured"), Some(configured));
        assert_eq!(
            d.offering(None).expect_err("none").to_string(),
            "no offering: set waldur.offering_uuid in /etc/tally.toml or pass --offering"
        );
        assert_eq!(defaults(None, None).opt_customer(None).expect("none"), None);
    }

    #[test]
    fn a_bad_configured_uuid_is_named_unless_a_flag_makes_it_unneeded() {
        let d = defaults(Some("not-a-uuid"), Some("nor-this"));
        assert_eq!(
            d.customer(None).expect_err("bad").to_string(),
            "/etc/tally.toml: waldur.customer_uuid = \"not-a-uuid\" is not a uuid"
        );
        let flag = Uuid::from_u128(3);
        assert_eq!(d.customer(Some(flag)).expect("flag"), flag);
        assert_eq!(d.offering(Some(flag)).expect("flag"), flag);
    }
}
