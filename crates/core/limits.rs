//! `tally limits`: where every allocation stands against its limits; `--fail-at` turns an
//! allocation at or above a share into exit code 8 for alerting. The standings are
//! `tally_pipeline::limits::standings`; this parses, calls and prints.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use rust_decimal::Decimal;
use tally_config::Config;

use crate::args::OutputFormat;
use crate::exit::Exit;

#[derive(Args, Debug)]
pub struct LimitsArgs {
    /// The configuration file.
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// Count usage up to this instant (RFC 3339); it also decides the current month and period
    /// and the rate the projection uses. Default: now.
    #[arg(long)]
    pub as_of: Option<DateTime<Utc>>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Only this resource (backend_id, uuid or name).
    #[arg(long)]
    pub resource: Option<String>,
    /// Exit 8 when any limit is used at or above this share (e.g. `100%`, `90`).
    #[arg(long, value_parser = tally_config::parse_percent)]
    pub fail_at: Option<Decimal>,
}

pub fn run(args: &LimitsArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let as_of = args.as_of.unwrap_or_else(Utc::now);
    // the months `tally run` pushes at this instant: its figures, not Waldur's, count for them
    let window = tally_pipeline::run::nightly_window(&config, as_of);
    let rt = crate::push::runtime()?;
    let connection = {
        let _guard = rt.enter();
        tally_pipeline::connect(&config, None, None)?
    };
    let collected = tally_pipeline::collect(&config, &window)?;
    crate::output::summarize(&collected);
    let mut standings = rt.block_on(tally_pipeline::limits::standings(
        &config,
        &connection,
        &collected.usages,
        window.range,
        as_of,
    ))?;
    if let Some(want) = &args.resource {
        standings.retain(|r| {
            &r.backend_id == want
                || r.name.as_deref() == Some(want.as_str())
                || r.resource_uuid.simple().to_string() == want.replace('-', "")
        });
        if standings.is_empty() {
            return Err(crate::exit::UsageError(format!(
                "--resource {want}: no resource of the offering has this backend_id, uuid or name"
            ))
            .into());
        }
    }
    crate::output::print_limits(&standings, args.format)?;
    let Some(fail_at) = args.fail_at else {
        return Ok(Exit::Ok);
    };
    let over = tally_limits::crossings(&standings, &[fail_at]);
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
    Ok(if over.is_empty() {
        Exit::Ok
    } else {
        Exit::OverLimit
    })
}
