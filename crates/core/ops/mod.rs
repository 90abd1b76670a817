//! Provider operations of the seed guides (Waldur SDK service-provider lifecycle, Puhuri resource
//! allocation) as `tally` subcommands: one command per operation, on the typed client and the same
//! configuration as `push`, so operators stop keeping Python snippets around.
//!
//! Every command takes `--config` (the `[waldur]` table: url, token_file, customer_uuid,
//! offering_uuid) and `--format table|json|csv`; list commands fetch every page unless `--page` is
//! given. Mutating commands print one result per object and fail (exit 4) when any object failed,
//! so a script learns which ones to look at. The JSON shapes are documented in docs/operations.md.

pub mod lists;
pub mod offering_users;
pub mod offerings;
pub mod orders;
pub mod provider;
pub mod resources;

use std::future::Future;

use serde::Serialize;
use tally_cli::ops::{Common, Customer, ListOpts, Paging};
use tally_cli::OutputFormat;
use tally_ops::{Batch, Listing};
use tally_render as render;
use tally_waldur::{ListRequest, WaldurClient};
use uuid::Uuid;

use crate::exit::{Exit, UsageError};

/// Everything a command needs once the configuration is read and the client is built.
pub struct Ctx {
    pub client: WaldurClient,
    defaults: tally_pipeline::OperationDefaults,
    pub format: OutputFormat,
    rt: tokio::runtime::Runtime,
}

impl Ctx {
    /// Reads the configuration and builds the client (the shared builder of
    /// `tally_pipeline::client`); `page_size` overrides the client's. Configuration mistakes
    /// (missing table, unreadable token, bad URL) are configuration errors (exit 2).
    pub fn new(common: &Common, page_size: Option<u32>) -> anyhow::Result<Ctx> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
        let cfg = tally_config::Config::load(&common.config)?;
        let waldur = tally_pipeline::waldur_section(&cfg)?;
        let client = {
            let _guard = rt.enter();
            let overrides = tally_pipeline::ClientOverrides {
                page_size,
                ..Default::default()
            };
            tally_pipeline::client(&cfg, &waldur, overrides)?
        };
        Ok(Ctx {
            client,
            defaults: tally_pipeline::OperationDefaults::of(&cfg, &waldur),
            format: common.format,
            rt,
        })
    }

    /// The renderer's format of `--format`.
    pub fn render_format(&self) -> render::Format {
        crate::output::render_format(self.format)
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// `--customer`, else `customer_uuid` of the configuration: the provider organisation.
    pub fn customer(&self, given: Option<Uuid>) -> anyhow::Result<Uuid> {
        Ok(self.defaults.customer(given)?)
    }

    /// `--customer`, else `customer_uuid` of the configuration, if set (a default filter).
    pub fn opt_customer(&self, given: &Customer) -> anyhow::Result<Option<Uuid>> {
        Ok(self.defaults.opt_customer(given.customer)?)
    }

    /// `--offering`, else `offering_uuid` of the configuration.
    pub fn offering(&self, given: Option<Uuid>) -> anyhow::Result<Uuid> {
        Ok(self.defaults.offering(given)?)
    }

    /// Every item, or one page when `--page` was given.
    pub fn fetch<R: ListRequest>(
        &self,
        req: &R,
        paging: &Paging,
    ) -> anyhow::Result<Listing<R::Item>> {
        self.block_on(tally_ops::fetch(
            &self.client,
            req,
            paging.page,
            paging.page_size,
        ))
        .map_err(api)
    }
}

/// The one body of every list command: the client, the request `request` builds, every page (or
/// `--page`), printed with `columns` (JSON keys of the items, blank-separated) in the chosen format.
pub fn list<R: ListRequest>(
    args: &ListOpts,
    columns: &str,
    request: impl FnOnce(&Ctx) -> anyhow::Result<R>,
) -> anyhow::Result<Exit>
where
    R::Item: Serialize,
{
    list_fields(args, render::cols(columns), None, request)
}

/// [`list`] with columns chosen at run time; `only` restricts the JSON items to those keys.
pub fn list_fields<R: ListRequest>(
    args: &ListOpts,
    columns: Vec<String>,
    only: Option<&[String]>,
    request: impl FnOnce(&Ctx) -> anyhow::Result<R>,
) -> anyhow::Result<Exit>
where
    R::Item: Serialize,
{
    let ctx = Ctx::new(&args.common, args.paging.page_size)?;
    let req = request(&ctx)?;
    let listing = ctx.fetch(&req, &args.paging)?;
    print(|out| render::list(out, ctx.render_format(), &listing, &columns, only))?;
    if let (Some(note), OutputFormat::Table) = (render::page_note(&listing), ctx.format) {
        // On stderr: stdout stays the table alone.
        eprintln!("{note}");
    }
    Ok(Exit::Ok)
}

/// Writes one output to stdout (a closed pipe is no error).
pub fn print(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    Ok(crate::output::to_stdout(write)?)
}

/// `uuid` first, then the `--field`s: the columns of an output narrowed to some fields.
pub fn field_columns(fields: &[String]) -> Vec<String> {
    let mut columns = vec!["uuid".to_owned()];
    columns.extend(fields.iter().filter(|f| *f != "uuid").cloned());
    columns
}

/// Wraps a client error; a refused token gets the operator's next step, the same as `push`
/// gives ([`tally_pipeline::TokenRefused`]).
pub fn api(e: tally_waldur::Error) -> anyhow::Error {
    match tally_pipeline::token_refused(e) {
        Ok(refused) => refused.into(),
        Err(e) => e.into(),
    }
}

/// Prints the per-object results and turns failures into the run's result: a 401 that stopped
/// the run is the error (exit 6), else any failed object makes it "not done" (exit 4).
pub fn finish(ctx: &Ctx, action: &str, what: &str, batch: Batch) -> anyhow::Result<Exit> {
    print(|out| render::outcomes(out, ctx.render_format(), action, &batch.outcomes))?;
    if let Some(e) = batch.fatal {
        return Err(api(e));
    }
    batch.all_done(what)?;
    Ok(Exit::Ok)
}

/// Reads labels typed by an operator (`executing,pending-provider`) into a client enum, naming the
/// accepted ones on a typo instead of sending a filter Waldur would answer 400 to.
pub fn labels<T: Clone + std::fmt::Display>(
    what: &str,
    given: &[String],
    parse: impl Fn(&str) -> Option<T>,
    known: &[T],
) -> anyhow::Result<Vec<T>> {
    given
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            parse(s).ok_or_else(|| {
                let names: Vec<String> = known.iter().map(T::to_string).collect();
                UsageError(format!("{what} {s:?} is not one of: {}", names.join(", "))).into()
            })
        })
        .collect()
}
