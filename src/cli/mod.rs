//! The command line: `sync`, `pull`, `push`, `demo` and the operator commands, parsed once
//! into a validated configuration before any work starts.

mod args;
mod bench;
mod demo;
mod logging;
mod run;
mod status;
mod summary;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command};
pub use run::{RunOptions, run_command};
pub use summary::RunSummary;

/// Parses the process arguments and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    logging::init(&cli.log_format, cli.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Status(args) => status::status(&cli.global, args),
        Command::Quarantine(args) => status::quarantine(&cli.global, args),
        Command::Bench(args) => bench::run(args).await,
        command => run::run_cli_command(&cli.global, command).await,
    }
}
