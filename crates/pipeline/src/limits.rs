//! Where every allocation stands (`tally limits`, the warnings of `tally run`, the metrics):
//! what Waldur holds and the resources' limits read once, the months tally computes from its
//! records laid over them (`tally_limits::standings`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_config::Config;
use tally_limits::{Crossing, ResourceStanding, StandingInput};
use tally_model::{MonthRange, UsageCell};

use crate::error::waldur;
use crate::{Connection, PipelineError};

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
