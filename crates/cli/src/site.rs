//! The commands that set a site up and serve it: sandbox, doctor, init, completions.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use uuid::Uuid;

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

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The configuration file.
    #[arg(long, short = 'c', env = "TALLY_CONFIG")]
    pub config: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
    /// Take this instant (RFC 3339) as this machine's clock: the month whose records are checked,
    /// and what the server's clock is compared with. Default: now.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// One line per check: `ok`, `WARN`, `FAIL` or `skip`, what was found, and what to do.
    Text,
    Json,
}

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

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for, e.g. `tally completions bash > /etc/bash_completion.d/tally`.
    pub shell: CompletionShell,
}
