//! Where every allocation stands (`tally limits`, the warnings of `tally run`, the metrics):
//! what Waldur holds and the resources' limits read once, the months tally computes from its
//! records laid over them (`tally_limits::standings`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_config::Config;
use tally_limits::{Crossing, ResourceStanding, StandingInput};
use tally_model::{MonthRange, UsageCell};

use crate::error::waldur;
use crate::run::{log_collection, nightly_window, RunError};
use crate::{Connection, PipelineError, UsageError};

/// Reads the offering's resources, components and everything it holds, and lays `cells` (what
/// tally computes for `computed_months` up to `as_of`) over it.
pub async fn standings(
    config: &Config,
    connection: &Connection,
    cells: &[UsageCell],
    computed_months: MonthRange,
    as_of: DateTime<Utc>,
) -> Result<Vec<ResourceStanding>, PipelineError> {
    let offering = tally_limits::read(&connection.client, connection.offering)
        .await
        .map_err(waldur(
            "reading the resources' limits and the usage Waldur holds",
        ))?;
    Ok(tally_limits::standings(&StandingInput {
        offering: &offering,
        computed: cells,
        computed_months,
        as_of,
        billing_timezone: config.billing_timezone,
    }))
}

/// Logs a warning per limit at or above one of `[limits] warn_at` (the highest it crossed) and
/// returns them.
pub fn warn_crossings(standings: &[ResourceStanding], warn_at: &[Decimal]) -> Vec<Crossing> {
    let crossed = tally_limits::crossings(standings, warn_at);
    for c in &crossed {
        tracing::warn!(
            resource = %c.backend_id,
            component = %c.component,
            limit_kind = %c.kind.name(),
            period = %c.period.name(),
            used = %c.used,
            limit = %c.limit,
            share_percent = %c.share_percent.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            "allocation at or above {}% of its {} limit",
            c.threshold_percent,
            c.kind.name()
        );
    }
    crossed
}

/// `tally limits`: the standings at `as_of`, with what tally computes for the months `tally run`
/// pushes at that instant (its figures, not Waldur's, count for them); `resource` (a backend_id,
/// uuid or name) keeps one resource.
pub fn standings_at(
    config: &Config,
    as_of: DateTime<Utc>,
    resource: Option<&str>,
    rt: &tokio::runtime::Runtime,
) -> Result<Vec<ResourceStanding>, RunError> {
    let window = nightly_window(config, as_of);
    let connection = {
        let _guard = rt.enter();
        crate::connect(config, None, None)?
    };
    let collected = crate::collect(config, &window)?;
    log_collection(&collected);
    let mut standings = rt.block_on(standings(
        config,
        &connection,
        &collected.usages,
        window.range,
        as_of,
    ))?;
    if let Some(want) = resource {
        standings.retain(|r| {
            r.backend_id == want
                || r.name.as_deref() == Some(want)
                || r.resource_uuid.simple().to_string() == want.replace('-', "")
        });
        if standings.is_empty() {
            return Err(UsageError(format!(
                "--resource {want}: no resource of the offering has this backend_id, uuid or name"
            ))
            .into());
        }
    }
    Ok(standings)
}

/// Logs an error per limit used at or above `fail_at` percent (`tally limits --fail-at`) and
/// returns them.
pub fn fail_crossings(standings: &[ResourceStanding], fail_at: Decimal) -> Vec<Crossing> {
    let over = tally_limits::crossings(standings, &[fail_at]);
    for c in &over {
        tracing::error!(
            resource = %c.backend_id,
            component = %c.component,
            limit_kind = %c.kind.name(),
            used = %c.used,
            limit = %c.limit,
            "allocation at or above --fail-at {fail_at}%"
        );
    }
    over
}
