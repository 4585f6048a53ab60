//! The command line: `sync`, `pull`, `push`, `demo` and the operator commands, parsed once
//! into a validated configuration before any work starts.

// First: its `print!`, `println!` and `eprintln!` replace the standard ones in every module below.
#[macro_use]
pub mod output;

mod args;
mod audit;

mod check;
mod config_command;
mod demo;
mod fake_gateway;
pub mod logging;
mod migrate;
mod observe;
mod prune;
mod replay;
mod run;
mod schedule;
mod schema;
mod status;
mod verify;
mod verify_staging;

use std::process::ExitCode;

use clap::Parser;

pub use crate::error_text;
pub use crate::pipeline::run::{RunOptions, run_command};
pub use crate::pipeline::summary::RunSummary;
pub use args::{Cli, Command};

/// What every binary built on this library does first in `main`: sizes the MySQL driver's
/// buffer pool ([`DRIVER_BUFFER_POOL`](crate::sink::mysql::DRIVER_BUFFER_POOL), an operator's
/// own setting wins) and installs the one rustls crypto provider reqwest and the MySQL driver
/// share.
///
/// # Safety
/// It sets environment variables: call it before any other thread exists.
pub unsafe fn prepare_process() {
    for (name, value) in crate::sink::mysql::DRIVER_BUFFER_POOL {
        if std::env::var_os(name).is_none() {
            // SAFETY: the caller guarantees no other thread exists yet.
            unsafe { std::env::set_var(name, value) };
        }
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Parses the process arguments and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    logging::init(&cli.log_format, cli.verbose);
    output::set_json(cli.log_format == "json");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::FakeGateway(args) => fake_gateway::run(args).await,
        Command::Status(args) => status::status(&cli.global, args),
        Command::Quarantine(args) => status::quarantine(&cli.global, args),
        Command::Audit(args) => audit::audit(&cli.global, args),
        Command::Replay(args) => replay::replay(&cli.global, args).await,
        Command::Verify(args) => verify::verify(&cli.global, args).await,
        Command::Run(args) => schedule::run_every(&cli.global, args).await,
        Command::Schema(args) => schema::schema(&cli.global, args),
        Command::Migrate(args) => migrate::migrate(&cli.global, args).await,
        Command::Config(args) => config_command::config(&cli.global, args),
        Command::Check(args) => check::check(&cli.global, args).await,
        Command::Prune(args) => prune::prune(&cli.global, args),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut command, "jst-sync", &mut out);
            print!("{}", String::from_utf8_lossy(&out));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
            print!("{}", String::from_utf8_lossy(&out));
            Ok(ExitCode::SUCCESS)
        }
        command => run::run_cli_command(&cli.global, command).await,
    }
}
