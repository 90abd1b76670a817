//! `tally offerings show`: an offering with its components and their billing types
//! (`marketplace_public_offerings_retrieve` of the usage-reporting section): what usage can be
//! reported against (billing type `usage` or `limit`).

use tally_waldur::OfferingView;

use crate::exit::Exit;
use tally_cli::ops::offerings::{OfferingsCommand, ShowArgs};
use tally_cli::OutputFormat;
use tally_render as render;

use crate::ops::{self, Ctx};

const COMPONENTS: &str = "type name measured_unit billing_type limit_period limit_amount";

pub fn run(cmd: &OfferingsCommand) -> anyhow::Result<Exit> {
    match cmd {
        OfferingsCommand::Show(a) => show(a),
    }
}

fn show(a: &ShowArgs) -> anyhow::Result<Exit> {
    let ctx = Ctx::new(&a.common, None)?;
    let uuid = ctx.offering(a.offering)?;
    let view = if a.provider_view {
        OfferingView::Provider
    } else {
        OfferingView::Public
    };
    let offering = ctx
        .block_on(ctx.client.offering(view, uuid, &[]))
        .map_err(ops::api)?;
    let columns = render::cols(COMPONENTS);
    let components = offering
        .components
        .iter()
        .map(|c| render::to_json(c, None).map(|v| render::row_of(&v, &columns)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let format = ctx.render_format();
    ops::print(|out| match ctx.format {
        OutputFormat::Json => render::object(out, format, &offering, &[]),
        // One row per component: what a script needs to build usage reports.
        OutputFormat::Csv => render::rows(out, format, &columns, &components),
        OutputFormat::Table => {
            let head = render::cols("uuid name type state customer_name");
            render::object(out, format, &offering, &head)?;
            out.write_all(b"\n")?;
            render::rows(out, format, &columns, &components)
        }
    })?;
    Ok(Exit::Ok)
}
