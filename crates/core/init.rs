//! `tally init`: writes a commented starter config (tally-doctor's `starter`), never over a file.

use std::path::PathBuf;

use clap::Args;
use tally_doctor::starter::{self, InitOptions};
use tally_sources::sacct_command::SacctCommandOptions;
use uuid::Uuid;

use crate::exit::Exit;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The Waldur API base, e.g. https://waldur.example.org/api/.
    #[arg(long)]
    pub url: String,
    /// The file holding the token of the offering's provider user (mode 0600).
    #[arg(long)]
    pub token_file: PathBuf,
    /// The offering tally reports for (its UUID).
    #[arg(long)]
    pub offering: Uuid,
    /// Read live sacct, with the clusters and TRES `sacctmgr` lists (else: sacct dump files).
    #[arg(long)]
    pub sacct: bool,
    /// The sacct dumps' glob (without --sacct).
    #[arg(long, default_value = "/var/lib/tally/records/*.txt")]
    pub records: String,
    /// The SQLite ledger (waldur.ledger); the packages' state directory by default.
    #[arg(long, default_value = "/var/lib/tally/ledger.db")]
    pub ledger: String,
    /// Where to write the config; an existing file is never overwritten.
    #[arg(long, short = 'o', default_value = "tally.toml")]
    pub output: PathBuf,
}

pub fn run(args: &InitArgs) -> anyhow::Result<Exit> {
    starter::refuse_existing(&args.output)?;
    let options = InitOptions {
        url: args.url.clone(),
        token_file: args.token_file.clone(),
        offering: args.offering,
        sacct: args.sacct.then(SacctCommandOptions::default),
        records: args.records.clone(),
        ledger: args.ledger.clone(),
    };
    let rt = crate::push::runtime()?;
    let text = rt.block_on(starter::starter(&options))?;
    starter::write_new(&args.output, &text)?;
    crate::output::to_stderr(&format!(
        "wrote {}: check the lines marked GUESS, then run `tally doctor --config {}`\n",
        args.output.display(),
        args.output.display()
    ));
    Ok(Exit::Ok)
}
