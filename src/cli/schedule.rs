//! `run --every 5m`: syncs on an interval until SIGTERM or Ctrl-C. Each run is an ordinary
//! `sync` (same guarantees, recorded in staging); a failed run is reported (summary, metrics,
//! alert) and the loop goes on. A signal interrupts the wait at once, or stops the current run
//! after its current step; either way the process exits 0.

use std::process::ExitCode;

use super::args::{GlobalArgs, ScheduleArgs};
use super::observe::Observer;
use super::run::{load_config, report_summary};
use crate::config::parse_duration;
use crate::pipeline::run::{RunOptions, run_command, stop_on_signals};

pub(super) async fn run_every(global: &GlobalArgs, args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let every = args
        .every
        .as_deref()
        .map(|text| parse_duration(text).map_err(|e| e.context("--every")))
        .transpose()?
        .filter(|d| !d.is_zero());
    let mut stop = stop_on_signals();
    let merchants = config.per_merchant()?;
    let mut observers: Vec<Observer> = merchants.iter().map(|(_, c)| Observer::new(c)).collect();
    let mut pull = args.pull.clone();
    let mut runs = 0u64;
    loop {
        let started = tokio::time::Instant::now();
        let options = RunOptions {
            pull: Some(pull.clone().into()),
            push: true,
            dry_run: false,
        };
        let mut code = ExitCode::SUCCESS;
        // Each merchant runs on its own; one's failure does not stop the others.
        for ((name, config), observer) in merchants.iter().zip(observers.iter_mut()) {
            if *stop.borrow() {
                break;
            }
            if merchants.len() > 1 {
                println!("== merchant {name}");
            }
            let merchant_code = match run_command(config, &options, stop.clone()).await {
                Ok(summary) => {
                    runs += 1;
                    let interrupted = *stop.borrow();
                    if !interrupted || summary.succeeded {
                        observer.after_run(&summary).await;
                    }
                    report_summary(&summary)
                }
                Err(error) => {
                    tracing::error!(merchant = %name, error = super::error_text::chain(&error), "Run could not start.");
                    observer.run_not_started("sync", &error).await;
                    ExitCode::FAILURE
                }
            };
            if merchant_code != ExitCode::SUCCESS {
                code = ExitCode::FAILURE;
            }
            // Re-read copies older than `[staging] keep_pages` go; the file shrinks.
            super::prune::after_run(config).await;
        }
        // `--since` and `--until` are for the first run; later runs continue from the watermark.
        pull.since = None;
        pull.until = None;
        let Some(every) = every else { return Ok(code) };
        if *stop.borrow() {
            break;
        }
        let next = started + every;
        tracing::info!(
            runs,
            next_in_secs = (next - tokio::time::Instant::now()).as_secs_f64(),
            "Waiting for the next run."
        );
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = crate::pipeline::stopped(&mut stop) => break,
        }
    }
    println!("jst-sync run: stopped by signal after {runs} run(s)");
    Ok(ExitCode::SUCCESS)
}
