//! `tally init`: writes a commented starter config (tally-doctor's `starter`), never over a file.

use tally_cli::site::InitArgs;
use tally_doctor::starter::{self, InitOptions};
use tally_sources::sacct_command::SacctCommandOptions;

use crate::exit::Exit;

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
