//! `tally collect`: the usage per resource, month and component, printed.

use tally_config::Config;

use crate::exit::Exit;
use crate::output;
use tally_cli::usage::{CollectArgs, CollectBy};

pub fn run(args: &CollectArgs) -> anyhow::Result<Exit> {
    let c = &args.collection;
    let config = Config::load(&c.config)?;
    let window = tally_pipeline::window(&config, c.from, c.to, c.as_of)?;
    let by_plan_period = args.by == CollectBy::PlanPeriod;
    let collection = if by_plan_period {
        let rt = crate::push::runtime()?;
        let connection = {
            let _guard = rt.enter();
            tally_pipeline::connect(&config, None, None)?
        };
        tally_pipeline::run::collect_for_waldur(&config, &window, &connection, &rt, window.as_of)?
    } else {
        tally_pipeline::collect(&config, &window)?
    };
    let format = output::render_format(args.format);
    let (range, as_of) = (window.range, window.as_of);
    output::to_stdout(|out| {
        tally_render::collection(out, &collection, format, range, as_of, by_plan_period)
    })?;
    tally_pipeline::run::log_collection(&collection);
    Ok(tally_pipeline::run::strict_verdict(&collection, c.strict).into())
}
