//! `tally limits`: where every allocation stands against its limits; `--fail-at` turns an
//! allocation at or above a share into exit code 8 for alerting. The standings are
//! `tally_pipeline::limits::standings`; this parses, calls and prints.

use chrono::Utc;
use tally_cli::usage::LimitsArgs;
use tally_config::Config;

use crate::exit::Exit;

pub fn run(args: &LimitsArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let as_of = args.as_of.unwrap_or_else(Utc::now);
    let standings = tally_pipeline::limits::standings_at(
        &config,
        as_of,
        args.resource.as_deref(),
        &crate::push::runtime()?,
    )?;
    let format = crate::output::render_format(args.format);
    crate::output::to_stdout(|out| tally_render::limits(out, &standings, format))?;
    let over = args
        .fail_at
        .map(|fail_at| tally_pipeline::limits::fail_crossings(&standings, fail_at));
    Ok(match over {
        Some(over) if !over.is_empty() => Exit::OverLimit,
        _ => Exit::Ok,
    })
}
