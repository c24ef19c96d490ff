//! The `ringa` command: one binary for running the dialer, simulating a
//! call center, importing contacts and measuring the product.

mod cmd;

use clap::{Parser, Subcommand};

/// An outbound call-center dialer.
#[derive(Parser)]
#[command(name = "ringa", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version and the build's features.
    Version,
    /// Run the whole product on the bundled example list: import, a
    /// predictive campaign, a simulated working day, figures and a report.
    Demo(cmd::demo::DemoArgs),
    /// Drive the dialer engine from outside (JSON lines on stdin/stdout).
    Engine(cmd::engine_stdio::EngineArgs),
    /// Serve the web product: agent desktop, supervisor wall, admin, API.
    Serve(cmd::serve::ServeArgs),
    /// Manage users: add, list, disable, enable.
    User(cmd::serve::UserArgs),
    /// Import contacts from a CSV or other delimited text file.
    Import(cmd::import::ImportArgs),
    /// Do-not-call lists: load, add, check, list them.
    Dnc(cmd::dnc::DncArgs),
    /// A campaign's lists: show, enable, disable, mix, cap, reset.
    List(cmd::list::ListArgs),
    /// One contact: deactivate, activate, erase on request.
    Contact(cmd::contact::ContactArgs),
    /// Sale cancellations: one order, or a client's cancellation file.
    Order(cmd::order::OrderArgs),
    /// Export orders, attempts or statistics; scheduled exports.
    Export(cmd::export::ExportArgs),
    /// Simulate a call center on the real engine and print its figures.
    Simulate(cmd::simulate::SimulateArgs),
    /// Benchmarks that print figures.
    Bench(cmd::bench_store::BenchArgs),
    /// Answering-machine detection: corpus generation and evaluation.
    Amd(cmd::amd::AmdArgs),
    /// Run a campaign from a TOML file against a SIP trunk and print each attempt.
    Telephony(cmd::telephony::TelephonyArgs),
}

fn main() -> anyhow::Result<()> {
    stop_quietly_on_closed_output();
    let cli = Cli::parse();
    cmd::init_logging();
    match cli.command {
        Command::Version => {
            println!("ringa {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Demo(args) => cmd::demo::run(args),
        Command::Amd(args) => cmd::amd::run(args),
        Command::Engine(args) => cmd::engine_stdio::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::User(args) => cmd::serve::user(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Dnc(args) => cmd::dnc::run(args),
        Command::List(args) => cmd::list::run(args),
        Command::Contact(args) => cmd::contact::run(args),
        Command::Order(args) => cmd::order::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Bench(args) => cmd::bench_store::run(args),
        Command::Simulate(args) => cmd::simulate::run(args),
        Command::Telephony(args) => cmd::telephony::run(args),
    }
}

/// A reader that stops early (`ringa export orders | head`) closes our
/// output. Like other Unix tools, the command then ends quietly and
/// successfully instead of reporting a panic from the next print.
fn stop_quietly_on_closed_output() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        let printing = message.starts_with("failed printing to stdout")
            || message.starts_with("failed printing to stderr");
        if printing && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info);
    }));
}
