//! `tally history`: what the ledger recorded for a resource (every request, the last check).

use tally_cli::usage::HistoryArgs;
use tally_config::Config;

use crate::exit::Exit;
use crate::output;

pub fn run(args: &HistoryArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let history = tally_pipeline::history::history(&config, &args.resource, args.month)?;
    let format = output::report_format(args.format);
    output::to_stdout(|out| tally_render::history(out, &history, format))?;
    Ok(Exit::Ok)
}
