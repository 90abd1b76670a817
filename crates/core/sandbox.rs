//! `tally sandbox`: the embedded Waldur-compatible server, as a process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use tally_sandbox::{SandboxOptions, World};

use crate::exit::Exit;

#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port (the printed line says which).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// World to load (TOML, see docs/sandbox.md). Default: the bundled demo world.
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Keep the state in this SQLite file, so a restart loses nothing.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Start the server clock at this instant (RFC 3339) instead of the real time.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    /// Behave like the older generation, the genuine waldur-mastermind of 2024 (~7.x): ignores
    /// set_usage's `date`, no set_user_usages or set_as_ok, /api/version/ closed to non-staff
    /// (see docs/sandbox.md).
    #[arg(long)]
    pub legacy_7x: bool,
    /// Allow listening on a non-loopback address (the sandbox has no real security).
    #[arg(long)]
    pub allow_remote: bool,
}

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
