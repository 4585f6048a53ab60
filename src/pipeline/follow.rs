//! The push of a `sync`, following its pull: drains the outbox while later windows are still
//! being read, and once more when the pull has ended; MySQL lost on the way is tried again once
//! after the pull. The outbox rules are those of [`push`](super::push).

use std::time::{Duration, Instant};

use super::push;
use super::{SharedStaging, with_staging};
use crate::config::Config;
use crate::error_text::{chain, chain_of};
use crate::sink::mysql::MysqlSink;
use crate::transform::Mapping;

/// How long orders may wait in the outbox while a pull is still running, when fewer than a
/// batch have gathered, before the streaming push writes them anyway.
const FOLLOW_PATIENCE: Duration = Duration::from_secs(2);
/// How often the streaming push looks at the outbox while it waits.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// A push that follows a pull: while `pull_done` is false it drains the outbox whenever a
/// batch's worth of orders is pending or the oldest has waited [`FOLLOW_PATIENCE`], then drains
/// once more after the pull has ended. The outbox rules are those of [`push`]: an entry is
/// marked only after MySQL committed it, so a failure leaves the rest pending. A stop while
/// waiting ends the push without error (nothing was being written).
#[allow(clippy::too_many_arguments)]
pub async fn follow(
    staging: &SharedStaging,
    sink: &MysqlSink,
    mapping: &Mapping,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
    clock: &push::PushClock,
    mut pull_done: tokio::sync::watch::Receiver<bool>,
) -> (push::PushReport, Result<(), push::PushError>) {
    let started = Instant::now();
    let mut report = push::PushReport {
        streamed: true,
        ..push::PushReport::default()
    };
    let mut result = push::requeue_if_requested(staging, sink, run_id, &mut report).await;
    let mut last_drain = Instant::now();
    let mut pull_ended = false;
    while result.is_ok() {
        pull_ended = pull_ended || *pull_done.borrow_and_update();
        let due = pull_ended || {
            let pending = with_staging(staging, |s| s.pending_count()).await;
            match pending {
                Ok(pending) => {
                    pending >= batch_orders as i64
                        || (pending > 0 && last_drain.elapsed() >= FOLLOW_PATIENCE)
                }
                Err(error) => {
                    result = Err(error.into());
                    break;
                }
            }
        };
        if due {
            result = push::drain(
                staging,
                push::Target::Write(sink),
                mapping,
                run_id,
                batch_orders,
                stop,
                clock,
                if pull_ended {
                    push::DrainUntil::Empty
                } else {
                    push::DrainUntil::CaughtUp
                },
                &mut report,
            )
            .await;
            last_drain = Instant::now();
            if pull_ended {
                break;
            }
        }
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            changed = pull_done.changed() => {
                // The pull's side is gone: it has ended.
                if changed.is_err() {
                    pull_ended = true;
                }
            }
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
        }
    }
    if let Ok(left) = with_staging(staging, |s| s.pending_count()).await {
        report.pending_left = left;
    }
    report.duration_secs = started.elapsed().as_secs_f64();
    report.load_data = Some(sink.load_data_stats());
    (report, result)
}

/// The push of a `sync`, following its pull (see [`follow`]). When MySQL cannot be
/// reached at the start, or goes away during the pull, the push tries once more after the pull
/// has ended; whatever is still not pushed then stays staged for the next run and is reported.
pub(super) async fn follow_pull(
    config: &Config,
    mapping: &Mapping,
    staging: &SharedStaging,
    run_id: i64,
    stop: &tokio::sync::watch::Receiver<bool>,
    clock: &push::PushClock,
    mut pull_done: tokio::sync::watch::Receiver<bool>,
) -> (push::PushReport, Vec<String>) {
    let batch_orders = config.sync.batch_orders;
    let first_error: Option<String>;
    let mut report = match connect_sink(config, mapping).await {
        Ok(sink) => {
            let (report, result) = follow(
                staging,
                &sink,
                mapping,
                run_id,
                batch_orders,
                stop,
                clock,
                pull_done.clone(),
            )
            .await;
            sink.disconnect().await;
            match result {
                Ok(()) => return (report, Vec::new()),
                Err(push::PushError::Interrupted) => {
                    let pending = report.pending_left;
                    return (
                        report,
                        vec![format!(
                            "{pending} orders staged, not pushed: {}",
                            push::PushError::Interrupted
                        )],
                    );
                }
                Err(error) => {
                    first_error = Some(chain_of(&error));
                    report
                }
            }
        }
        Err(error) => {
            first_error = Some(chain(&error));
            push::PushReport {
                streamed: true,
                ..Default::default()
            }
        }
    };
    if let Some(error) = &first_error {
        tracing::warn!(error, "Push stopped; it is tried once more after the pull.");
    }
    // Wait for the pull to end, then one more attempt with a new connection.
    while !*pull_done.borrow_and_update() {
        if pull_done.changed().await.is_err() {
            break;
        }
    }
    let mut errors = Vec::new();
    if *stop.borrow() {
        let pending = with_staging(staging, |s| s.pending_count())
            .await
            .unwrap_or(-1);
        report.pending_left = pending;
        errors.push(format!(
            "{pending} orders staged, not pushed: {}",
            first_error.unwrap_or_default()
        ));
        return (report, errors);
    }
    match connect_sink(config, mapping).await {
        Ok(sink) => {
            let (again, result) =
                push::push_measured(staging, &sink, mapping, run_id, batch_orders, stop, clock)
                    .await;
            sink.disconnect().await;
            report.absorb(again);
            if let Err(error) = result {
                errors.push(format!(
                    "{} orders staged, not pushed: {}",
                    report.pending_left,
                    chain_of(&error)
                ));
            }
        }
        Err(error) => {
            let pending = with_staging(staging, |s| s.pending_count())
                .await
                .unwrap_or(-1);
            report.pending_left = pending;
            errors.push(format!(
                "{pending} orders staged, not pushed: {}",
                chain(&error)
            ));
        }
    }
    (report, errors)
}

/// Connects to MySQL and applies pending migrations; the connection is closed again when they
/// fail.
pub(super) async fn connect_sink(config: &Config, mapping: &Mapping) -> anyhow::Result<MysqlSink> {
    let sink = MysqlSink::connect(&config.mysql_sink()?, mapping.clone()).await?;
    if let Err(error) = sink.prepare().await {
        sink.disconnect().await;
        return Err(error.into());
    }
    Ok(sink)
}
