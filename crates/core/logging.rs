use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use tally_cli::{GlobalArgs, LogFormat};

/// Logs go to stderr so that stdout carries only the command's output (tables, JSON).
pub fn init(g: &GlobalArgs) {
    let default = match g.verbose {
        0 if g.quiet => "error",
        0 => "warn,tally=info",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("TALLY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match g.log_format {
        LogFormat::Human => builder.with_target(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
