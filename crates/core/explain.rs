//! `tally explain`: every job (or amount row) behind one resource's figures in one month.

use tally_cli::usage::ExplainArgs;
use tally_config::Config;
use tally_pipeline::ExplainQuery;

use crate::exit::Exit;
use crate::output;

pub fn run(args: &ExplainArgs) -> anyhow::Result<Exit> {
    let config = Config::load(&args.config)?;
    let window = tally_pipeline::window(&config, Some(args.month), Some(args.month), args.as_of)?;
    let query = ExplainQuery {
        resource: args.resource.clone(),
        month: args.month,
        component: args.component.clone(),
        user: args.user.clone(),
    };
    let (collection, mut explanation) = tally_pipeline::explain(&config, &window, &query)?;
    if explanation.cells.is_empty() {
        tracing::warn!(
            resource = %args.resource,
            month = %args.month,
            "no usage maps to this resource in this month (collect prints no cell for it)"
        );
    }
    if let Some(n) = args.top {
        explanation.keep_top(n);
    }
    let format = output::render_format(args.format);
    output::to_stdout(|out| tally_render::explanation(out, &explanation, format))?;
    tally_pipeline::run::log_collection(&collection);
    Ok(Exit::Ok)
}
