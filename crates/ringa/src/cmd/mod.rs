//! The subcommands of the `ringa` binary, one module each.

pub(crate) mod amd;
pub(crate) mod bench_pacing;
pub(crate) mod bench_sip;
pub(crate) mod bench_sip_bridge;
pub(crate) mod bench_store;
pub(crate) mod contact;
pub(crate) mod demo;
pub(crate) mod dnc;
pub(crate) mod engine_stdio;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod list;
pub(crate) mod lookup;
pub(crate) mod order;
pub(crate) mod serve;
pub(crate) mod simulate;
pub(crate) mod telephony;

/// Logs go to standard error, filtered by `RINGA_LOG` (default `warn`), in
/// colour only when standard error is a terminal (a log file gets plain text).
pub(crate) fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RINGA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
