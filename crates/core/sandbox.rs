//! `tally sandbox`: the embedded Waldur-compatible server, as a process.

use std::io::Write;

use anyhow::Context;
use tally_cli::site::SandboxArgs;
use tally_sandbox::{SandboxOptions, World};

use crate::exit::Exit;

pub fn run(args: &SandboxArgs) -> anyhow::Result<Exit> {
    let world = match &args.seed {
        Some(path) => World::load(path).with_context(|| format!("seed {}", path.display()))?,
        None => World::demo(),
    };
    let opts = SandboxOptions {
        now: args.now,
        legacy_7x: args.legacy_7x,
        state_file: args.state.clone(),
        allow_remote: args.allow_remote,
        ..Default::default()
    };
    let rt = crate::push::runtime()?;
    rt.block_on(async {
        let sandbox = tally_sandbox::start(world, args.listen, opts).await?;
        // One line on stdout once connections are accepted: scripts wait for it.
        let line = serde_json::json!({
            "url": sandbox.url,
            "listen": sandbox.addr.to_string(),
            "now": sandbox.now().to_rfc3339(),
            "legacy_7x": args.legacy_7x,
        });
        let mut out = std::io::stdout();
        writeln!(out, "{line}")?;
        out.flush()?;
        tally_sandbox::shutdown_signal().await;
        tracing::info!("stopping the sandbox");
        sandbox.shutdown().await;
        Ok(Exit::Ok)
    })
}
