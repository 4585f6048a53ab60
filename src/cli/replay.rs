//! `replay`: rebuilds MySQL rows from staging without calling the API — after a mapping
//! change, a wiped table or a restored backup. The current versions the filter selects get new
//! outbox entries and the normal push writes them, so batching, quarantine and the version
//! guard all hold (a re-enqueued version has the same `ts` and a larger outbox id, which the
//! guard accepts; an order MySQL holds a newer `ts` of is left alone).

use std::process::ExitCode;

use anyhow::Context;

use super::args::{GlobalArgs, ReplayArgs};
use super::observe::Observer;
use super::run::{load_config, report_summary};
use crate::beijing_time;
use crate::pipeline::run::{RunOptions, execute, stop_on_signals};
use crate::staging::RequeueFilter;

pub(super) async fn replay(global: &GlobalArgs, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let filter = match (&args.since, &args.order) {
        (Some(since), _) => {
            let time = beijing_time::parse(since).with_context(|| {
                format!("--since {since:?} is not a Beijing time like \"2024-05-01 00:00:00\"")
            })?;
            RequeueFilter::ModifiedSince(beijing_time::format(time))
        }
        (None, Some(o_id)) => RequeueFilter::Order(o_id.clone()),
        (None, None) => RequeueFilter::All,
    };
    let options = RunOptions {
        pull: None,
        push: true,
        dry_run: false,
    };
    let mut observer = Observer::new(&config);
    let summary = match execute(&config, &options, Some(&filter), stop_on_signals()).await {
        Ok(summary) => summary,
        Err(error) => {
            observer.run_not_started("replay", &error).await;
            return Err(error);
        }
    };
    observer.after_run(&summary).await;
    if summary.requeued == Some(0) {
        eprintln!("note: no current version matched; nothing was replayed");
    }
    Ok(report_summary(&summary))
}
