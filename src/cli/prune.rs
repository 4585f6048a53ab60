//! `prune`: drops the re-read copies of pages older than the retention (`[staging]
//! keep_pages`, `JST_KEEP_PAGES`, `--keep`) and shrinks the staging file; also run by
//! `run --every` after each run. Every order version and the page that first carried it stay.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::args::{GlobalArgs, PruneArgs};
use super::run::load_config;
use crate::config::{Config, parse_duration};
use crate::staging::{PruneReport, StagingStore};

pub(super) fn prune(global: &GlobalArgs, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let keep = match args.keep.as_deref() {
        Some(text) => parse_duration(text).context("--keep")?,
        None => config.keep_pages,
    };
    let report = prune_staging(&config, keep)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "staging {}: {} sightings and {} re-read pages older than {} dropped{}; {} → {} bytes{}",
            config.staging.display(),
            report.sightings_dropped,
            report.pages_dropped,
            humantime::format_duration(keep),
            match report.summaries_dropped {
                0 => String::new(),
                n => format!(", and the summaries of {n} runs finished before"),
            },
            report.bytes_before,
            report.bytes_after,
            if report.vacuumed_in_full {
                " (file rewritten once to allow incremental vacuum)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prunes the staging file of `config` with retention `keep` (takes its lock for the time).
pub(super) fn prune_staging(config: &Config, keep: Duration) -> anyhow::Result<PruneReport> {
    let mut store = StagingStore::open_existing(&config.staging)?;
    let report = crate::staging::prune(&mut store, keep)
        .with_context(|| format!("pruning staging file {}", config.staging.display()))?;
    Ok(report)
}

/// After a run of `run --every`: prunes with the configured retention; a failure is logged,
/// not fatal (the next run prunes again).
pub(super) async fn after_run(config: &Config) {
    let config = config.clone();
    let pruned = tokio::task::spawn_blocking(move || prune_staging(&config, config.keep_pages))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
    if let Err(error) = pruned {
        tracing::warn!(
            error = super::error_text::chain(&error),
            "Staging could not be pruned after the run; the next run tries again."
        );
    }
}
