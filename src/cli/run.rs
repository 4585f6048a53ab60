//! `sync`, `pull` and `push` from the command line: the configuration loaded with the global
//! flags, each merchant's run (`crate::pipeline::run`), its summary printed and its exit code.

use std::process::ExitCode;

use super::args::{Command, GlobalArgs, PullArgs};
use super::observe::Observer;
use super::output;
use crate::config::Config;
use crate::error_text::chain;
use crate::pipeline::run::{PullOptions, RunOptions, run_command, stop_on_signals};
use crate::pipeline::summary::RunSummary;

impl From<PullArgs> for PullOptions {
    fn from(args: PullArgs) -> Self {
        PullOptions {
            since: args.since,
            until: args.until,
            strategy: args.strategy,
        }
    }
}

/// Loads the configuration with the global flags applied.
pub fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(global.config.as_deref())?;
    if let Some(staging) = &global.staging {
        config.staging = staging.clone();
        config.provenance.set_by_flag("staging", "--staging");
    }
    if let Some(metrics_file) = &global.metrics_file {
        config.metrics_file = Some(metrics_file.clone());
        config
            .provenance
            .set_by_flag("metrics_file", "--metrics-file");
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}.");
    }
    Ok(config)
}

pub(super) async fn run_cli_command(
    global: &GlobalArgs,
    command: Command,
) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let options = match command {
        Command::Sync(args) => RunOptions {
            pull: Some(args.pull.into()),
            push: true,
            dry_run: args.dry_run,
        },
        Command::Pull(args) => RunOptions {
            pull: Some(args.into()),
            push: false,
            dry_run: false,
        },
        Command::Push(_) => RunOptions {
            pull: None,
            push: true,
            dry_run: false,
        },
        _ => unreachable!("dispatched elsewhere"),
    };
    let stop = stop_on_signals();
    let merchants = config.per_merchant()?;
    if let [(_, config)] = merchants.as_slice() {
        let mut observer = Observer::new(config);
        let summary = match run_command(config, &options, stop).await {
            Ok(summary) => summary,
            Err(error) => {
                observer
                    .run_not_started(options.command_name(), &error)
                    .await;
                return Err(error);
            }
        };
        observer.after_run(&summary).await;
        return Ok(report_summary(&summary));
    }
    // Several merchants: each runs on its own; one's failure does not stop the others.
    let mut failed = Vec::new();
    let mut set_aside = Vec::new();
    for (name, config) in &merchants {
        if *stop.borrow() {
            failed.push(name.clone());
            continue;
        }
        println!("== merchant {name}");
        let mut observer = Observer::new(config);
        match run_command(config, &options, stop.clone()).await {
            Ok(summary) => {
                observer.after_run(&summary).await;
                let code = report_summary(&summary);
                if code == ExitCode::from(crate::pipeline::summary::SET_ASIDE_EXIT_CODE) {
                    set_aside.push(name.clone());
                } else if code != ExitCode::SUCCESS {
                    failed.push(name.clone());
                }
            }
            Err(error) => {
                output::error(&format!("merchant {name}: {}", chain(&error)));
                observer
                    .run_not_started(options.command_name(), &error)
                    .await;
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() && !set_aside.is_empty() {
        Ok(ExitCode::from(
            crate::pipeline::summary::SET_ASIDE_EXIT_CODE,
        ))
    } else if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        output::error(&format!(
            "{} of {} merchants failed: {}",
            failed.len(),
            merchants.len(),
            failed.join(", ")
        ));
        Ok(ExitCode::FAILURE)
    }
}

/// Prints the summary (and the error on stderr) and returns the exit code.
pub(super) fn report_summary(summary: &RunSummary) -> ExitCode {
    print!("{summary}");
    if let Some(error) = &summary.error {
        output::error(error);
    }
    summary.exit_code()
}
