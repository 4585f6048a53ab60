//! Push: staging → MySQL. Drains the outbox in batches: each pending version is transformed
//! (failures are quarantined, filtered orders removed), the batch is written in one MySQL
//! transaction, and only after the commit are its outbox entries marked pushed. A MySQL outage
//! therefore loses nothing: the entries stay pending for the next run.
//!
//! When MySQL refuses a batch for its data (a value too long or out of range, a constraint, a
//! row over `max_allowed_packet`), the batch is split in halves until the refused orders are
//! alone; each is quarantined at stage `push` with MySQL's reason and the rest is written, so
//! one bad order never blocks the others. A later version of a quarantined order is tried
//! again like any other. When a migration marked the tables for a refill (a column re-added or
//! widened), every current staged order is re-enqueued before the drain starts.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

pub use super::dry_run::DryRunReport;
use super::freshness::{Arrivals, Freshness};
use super::{SharedStaging, with_staging};
use crate::diff::sha256_hex;
use crate::order_id::OrderId;
use crate::sink::mysql::WriteReport;
use crate::sink::mysql::{MysqlSink, SinkError};
use crate::staging::{OutboxEntry, OutboxState, RequeueFilter, StagingError};
use crate::transform::{Mapping, OrderRows, Transformed, VersionKey, transform};

/// What a push did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PushReport {
    pub batches: u64,
    pub orders_pushed: u64,
    pub stale_skipped: u64,
    pub item_rows: u64,
    pub pay_rows: u64,
    /// Rows of the child tables the config's `[mapping]` adds (shown only when there are some).
    #[serde(skip_serializing_if = "is_zero")]
    pub other_child_rows: u64,
    pub write_statements: u64,
    pub quarantined: u64,
    /// Orders MySQL refused for their data, set aside in quarantine at stage `push`.
    pub rejected_by_mysql: u64,
    /// Current orders re-enqueued because a migration re-added or widened a column.
    pub requeued_after_migration: u64,
    pub filtered: u64,
    /// Orders still pending in the outbox when the push ended.
    pub pending_left: i64,
    /// How long the push took, in seconds.
    pub duration_secs: f64,
    /// How long orders waited between their page's receipt and their rows' commit.
    pub freshness: Freshness,
    /// Whether the push followed the pull, writing while later windows were still read.
    pub streamed: bool,
    /// How new orders went in: `LOAD DATA LOCAL INFILE`, or upserts where the server refused.
    pub load_data: Option<crate::sink::mysql::LoadDataStats>,
    /// What a dry run would do to each table (only for dry runs).
    pub dry_run: Option<DryRunReport>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PushReport {
    /// Adds a later push of the same run (a second attempt after MySQL came back).
    pub fn absorb(&mut self, other: PushReport) {
        self.batches += other.batches;
        self.orders_pushed += other.orders_pushed;
        self.stale_skipped += other.stale_skipped;
        self.item_rows += other.item_rows;
        self.pay_rows += other.pay_rows;
        self.other_child_rows += other.other_child_rows;
        self.write_statements += other.write_statements;
        self.quarantined += other.quarantined;
        self.rejected_by_mysql += other.rejected_by_mysql;
        self.requeued_after_migration += other.requeued_after_migration;
        self.filtered += other.filtered;
        self.pending_left = other.pending_left;
        self.duration_secs += other.duration_secs;
        self.freshness.absorb(&other.freshness);
        match (&mut self.load_data, other.load_data) {
            (Some(mine), Some(theirs)) => {
                mine.orders_loaded += theirs.orders_loaded;
                mine.batches_upserted_instead += theirs.batches_upserted_instead;
                mine.refused_by_server = theirs.refused_by_server.or(mine.refused_by_server.take());
            }
            (mine, theirs) => *mine = theirs.or(mine.take()),
        }
    }
}

/// Where a drain goes: MySQL, or nowhere (a dry run, optionally reading MySQL to tell inserts
/// from updates).
#[derive(Clone, Copy)]
pub(super) enum Target<'a> {
    Write(&'a MysqlSink),
    DryRun(Option<&'a MysqlSink>),
}

/// What a push measures freshness against: when the run started, and when the pages behind
/// this run's outbox entries arrived.
#[derive(Clone, Debug)]
pub struct PushClock {
    pub run_started: Instant,
    pub arrivals: Arrivals,
}

impl Default for PushClock {
    fn default() -> Self {
        Self {
            run_started: Instant::now(),
            arrivals: Arrivals::default(),
        }
    }
}

/// How far a drain goes: until the outbox is empty, or, while a pull still fills it, until a
/// batch comes out short (the drain has caught up with the pull: the next one waits for more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DrainUntil {
    Empty,
    CaughtUp,
}

/// Why a push stopped early. Entries not yet marked pushed stay pending.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("staging failed during push")]
    Staging(#[from] StagingError),
    #[error("interrupted: committed batches are marked pushed, the rest stays pending")]
    Interrupted,
}

/// Drains the outbox into `sink` (see [`dry_run`] for a push that writes nothing).
pub async fn push(
    staging: &SharedStaging,
    sink: &MysqlSink,
    mapping: &Mapping,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> (PushReport, Result<(), PushError>) {
    push_measured(
        staging,
        sink,
        mapping,
        run_id,
        batch_orders,
        stop,
        &PushClock::default(),
    )
    .await
}

/// [`push`], measuring freshness against `clock`.
pub async fn push_measured(
    staging: &SharedStaging,
    sink: &MysqlSink,
    mapping: &Mapping,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
    clock: &PushClock,
) -> (PushReport, Result<(), PushError>) {
    drain_reporting(
        staging,
        Target::Write(sink),
        mapping,
        run_id,
        batch_orders,
        stop,
        clock,
    )
    .await
}

/// A dry run: transforms every pending version and reports what would be inserted, updated
/// and deleted per table, reading the stored versions from `probe` when given. Writes nothing
/// to MySQL and marks nothing in staging.
pub async fn dry_run(
    staging: &SharedStaging,
    probe: Option<&MysqlSink>,
    mapping: &Mapping,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> (PushReport, Result<(), PushError>) {
    drain_reporting(
        staging,
        Target::DryRun(probe),
        mapping,
        run_id,
        batch_orders,
        stop,
        &PushClock::default(),
    )
    .await
}

async fn drain_reporting(
    staging: &SharedStaging,
    target: Target<'_>,
    mapping: &Mapping,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
    clock: &PushClock,
) -> (PushReport, Result<(), PushError>) {
    let started = Instant::now();
    let mut report = PushReport::default();
    if let Target::DryRun(probe) = target {
        report.dry_run = Some(DryRunReport {
            compared_with_mysql: probe.is_some(),
            mysql_note: probe.is_none().then(|| "MySQL not read".to_owned()),
            ..DryRunReport::default()
        });
    }
    let result = match target {
        Target::Write(sink) => requeue_if_requested(staging, sink, run_id, &mut report).await,
        Target::DryRun(_) => Ok(()),
    };
    let result = match result {
        Ok(()) => {
            drain(
                staging,
                target,
                mapping,
                run_id,
                batch_orders,
                stop,
                clock,
                DrainUntil::Empty,
                &mut report,
            )
            .await
        }
        Err(error) => Err(error),
    };
    if let Ok(left) = with_staging(staging, |s| s.pending_count()).await {
        report.pending_left = left;
    }
    report.duration_secs = started.elapsed().as_secs_f64();
    if let Target::Write(sink) = target {
        report.load_data = Some(sink.load_data_stats());
    }
    (report, result)
}

/// When a migration marked the tables for a refill (a column re-added or widened, or
/// fingerprints added to rows of an older jst-sync), re-enqueues every current staged order, as
/// `replay` does, so the drain writes them all again; then clears the mark.
pub(super) async fn requeue_if_requested(
    staging: &SharedStaging,
    sink: &MysqlSink,
    run_id: i64,
    report: &mut PushReport,
) -> Result<(), PushError> {
    if !sink.refill_wanted().await? {
        return Ok(());
    }
    let requeued = with_staging(staging, move |s| {
        s.requeue_current(&RequeueFilter::All, run_id)
    })
    .await?;
    sink.clear_refill_mark().await?;
    tracing::info!(
        requeued,
        "Every current order re-enqueued: a migration changed what MySQL rows hold."
    );
    report.requeued_after_migration += requeued as u64;
    Ok(())
}

/// One batch read from the outbox and transformed, ready to write.
struct PreparedBatch {
    /// The id of the last outbox entry read: the next batch starts after it.
    last_id: i64,
    rows: Vec<OrderRows>,
    pushed: Vec<(i64, String)>,
    /// Entries a filter skips: outbox id, staging key, and the order id MySQL knows it by.
    filtered: Vec<(i64, String, OrderId)>,
    /// Entries the transform refused, with the reason.
    refused: Vec<(OutboxEntry, String)>,
}

/// Reads up to `batch_orders` pending entries after `after` and transforms them, on a blocking
/// thread (the staging lock is held only for the read); `None` when none is left.
fn prepare_batch(
    staging: &SharedStaging,
    mapping: &Arc<Mapping>,
    after: i64,
    batch_orders: usize,
) -> tokio::task::JoinHandle<Result<Option<PreparedBatch>, StagingError>> {
    let staging = Arc::clone(staging);
    let mapping = Arc::clone(mapping);
    tokio::task::spawn_blocking(move || {
        let entries = staging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending_outbox(after, batch_orders)?;
        let Some(last) = entries.last() else {
            return Ok(None);
        };
        let mut batch = PreparedBatch {
            last_id: last.id,
            rows: Vec::with_capacity(entries.len()),
            pushed: Vec::with_capacity(entries.len()),
            filtered: Vec::new(),
            refused: Vec::new(),
        };
        for entry in entries {
            let version = VersionKey {
                ts: entry.ts,
                staging_version: entry.id,
            };
            let outcome = serde_json::from_str::<Value>(&entry.canonical_json)
                .map_err(|e| format!("staged JSON cannot be read: {e}"))
                .and_then(|order| transform(&order, &mapping, version).map_err(|e| e.to_string()));
            match outcome {
                Ok(Transformed::Rows(mut order_rows)) => {
                    order_rows.sha256 = Some(sha256_hex(&entry.canonical_json));
                    batch.pushed.push((entry.id, entry.o_id));
                    batch.rows.push(order_rows);
                }
                Ok(Transformed::Skipped { o_id, reason }) => {
                    tracing::debug!(%o_id, %reason, "Order filtered.");
                    batch.filtered.push((entry.id, entry.o_id, o_id));
                }
                Err(reason) => batch.refused.push((entry, reason)),
            }
        }
        Ok(Some(batch))
    })
}

/// Drains the outbox batch by batch, in a pipeline: while MySQL writes one batch, the next is
/// read and transformed and the one before is marked pushed, each on a blocking thread. A
/// batch's entries are marked only after its MySQL commit, in outbox order (one marking at a
/// time), and every marking started is finished before the drain returns, whatever stopped it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn drain(
    staging: &SharedStaging,
    target: Target<'_>,
    mapping: &Mapping,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
    clock: &PushClock,
    until: DrainUntil,
    report: &mut PushReport,
) -> Result<(), PushError> {
    let mapping = Arc::new(mapping.clone());
    let mut next = Some(prepare_batch(staging, &mapping, 0, batch_orders));
    let mut marking = None;
    let result = drain_batches(
        staging,
        target,
        &mapping,
        run_id,
        batch_orders,
        stop,
        clock,
        until,
        report,
        &mut next,
        &mut marking,
    )
    .await;
    // A batch still being prepared when the drain stops early is waited for, so the staging
    // store is not used after the push returns.
    if let Some(preparing) = next {
        let _ = preparing.await;
    }
    // The last committed batch's marking is finished: its rows are in MySQL, whatever stopped
    // the drain after it.
    let marked = finish_marking(&mut marking).await;
    match (result, marked) {
        (Ok(()), marked) => marked.map_err(PushError::from),
        (Err(error), Ok(())) => Err(error),
        (Err(error), Err(marking_error)) => {
            tracing::warn!(error = %crate::error_text::chain_of(&marking_error), "Marking a committed batch pushed failed too: its orders stay pending and are rewritten next time.");
            Err(error)
        }
    }
}

/// A committed batch's entries being marked in staging, on a blocking thread.
type Marking = tokio::task::JoinHandle<Result<(), StagingError>>;

/// Waits for the marking under way, if any.
async fn finish_marking(marking: &mut Option<Marking>) -> Result<(), StagingError> {
    match marking.take() {
        Some(marking) => marking.await.expect("marking a batch does not panic"),
        None => Ok(()),
    }
}

/// Marks a committed batch's entries pushed or filtered, after the marking before it; the
/// batch's rows are freed there too (hundreds of thousands of small allocations a batch, which
/// the task that writes the next batch would otherwise free first).
fn start_marking(
    staging: &SharedStaging,
    pushed: Vec<(i64, String)>,
    filtered: Vec<(i64, String, OrderId)>,
    rows: Vec<OrderRows>,
) -> Marking {
    let staging = Arc::clone(staging);
    tokio::task::spawn_blocking(move || {
        drop(rows);
        let mut store = staging.lock().unwrap_or_else(|p| p.into_inner());
        let pushed: Vec<(i64, &str)> = pushed.iter().map(|(id, o)| (*id, o.as_str())).collect();
        store.finish_outbox(&pushed, OutboxState::Pushed)?;
        let filtered: Vec<(i64, &str)> = filtered
            .iter()
            .map(|(id, key, _)| (*id, key.as_str()))
            .collect();
        store.finish_outbox(&filtered, OutboxState::Filtered)
    })
}

#[allow(clippy::too_many_arguments)]
async fn drain_batches(
    staging: &SharedStaging,
    target: Target<'_>,
    mapping: &Arc<Mapping>,
    run_id: i64,
    batch_orders: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
    clock: &PushClock,
    until: DrainUntil,
    report: &mut PushReport,
    next: &mut Option<tokio::task::JoinHandle<Result<Option<PreparedBatch>, StagingError>>>,
    marking: &mut Option<Marking>,
) -> Result<(), PushError> {
    loop {
        if *stop.borrow() {
            return Err(PushError::Interrupted);
        }
        let preparing = next.take().expect("a batch is being prepared");
        let Some(batch) = preparing.await.expect("preparing a batch does not panic")? else {
            return Ok(());
        };
        // A batch short of `batch_orders` read the outbox to its end (or to the read's byte cap).
        let caught_up =
            batch.pushed.len() + batch.filtered.len() + batch.refused.len() < batch_orders;
        *next = Some(prepare_batch(staging, mapping, batch.last_id, batch_orders));
        let PreparedBatch {
            last_id,
            rows,
            mut pushed,
            filtered,
            refused,
        } = batch;

        for (entry, reason) in refused {
            tracing::warn!(o_id = %entry.o_id, %reason, "Order quarantined.");
            report.quarantined += 1;
            if matches!(target, Target::Write(_)) {
                with_staging(staging, move |s| {
                    s.quarantine_outbox(&entry, run_id, &reason)
                })
                .await?;
            }
        }
        report.batches += 1;
        report.filtered += filtered.len() as u64;
        let sink = match target {
            Target::Write(sink) => sink,
            Target::DryRun(probe) => {
                report.orders_pushed += rows.len() as u64;
                let count = |child| -> u64 {
                    let of = |r: &OrderRows| r.rows_of(mapping, child).len() as u64;
                    rows.iter().map(of).sum()
                };
                report.item_rows += count("items");
                report.pay_rows += count("pays");
                let dry = report.dry_run.get_or_insert_with(DryRunReport::default);
                super::dry_run::count_batch(dry, probe, mapping, &rows, &filtered).await;
                continue;
            }
        };
        if !rows.is_empty() {
            let (written, refused) = write_isolating(sink, &rows).await?;
            report.orders_pushed += written.orders_written as u64;
            report.stale_skipped += written.stale_skipped as u64;
            report.item_rows += written.item_rows as u64;
            report.pay_rows += written.pay_rows as u64;
            report.other_child_rows += written.other_child_rows as u64;
            report.write_statements += written.statements as u64;
            if !refused.is_empty() {
                let set_aside: Vec<(i64, String, String)> = refused
                    .iter()
                    .map(|(index, error)| {
                        let (outbox_id, o_id) = &pushed[*index];
                        (*outbox_id, o_id.clone(), error.to_string())
                    })
                    .collect();
                for (_, o_id, reason) in &set_aside {
                    tracing::warn!(o_id = %o_id, %reason, "Order refused by MySQL: quarantined, the rest is pushed.");
                }
                report.rejected_by_mysql += set_aside.len() as u64;
                let refused_ids: std::collections::HashSet<i64> =
                    set_aside.iter().map(|(id, _, _)| *id).collect();
                pushed.retain(|(id, _)| !refused_ids.contains(id));
                with_staging(staging, move |s| {
                    for (outbox_id, _, reason) in &set_aside {
                        s.quarantine_outbox_at(*outbox_id, run_id, "push", reason)?;
                    }
                    Ok(())
                })
                .await?;
            }
        }
        if !filtered.is_empty() {
            let ids: Vec<i64> = filtered.iter().map(|(_, _, o_id)| o_id.get()).collect();
            report.write_statements += sink.delete_orders(&ids).await?;
        }
        if !pushed.is_empty() {
            let committed_at = chrono::Utc::now();
            let freshness = &mut report.freshness;
            freshness
                .first_commit_secs
                .get_or_insert_with(|| clock.run_started.elapsed().as_secs_f64());
            let received: Vec<_> = pushed
                .iter()
                .filter_map(|(id, _)| clock.arrivals.received_at(*id))
                .collect();
            freshness.add(committed_at, received);
        }
        clock.arrivals.forget_through(last_id);
        finish_marking(marking).await?;
        *marking = Some(start_marking(staging, pushed, filtered, rows));
        tracing::debug!(orders = report.orders_pushed, "Batch pushed.");
        if caught_up && until == DrainUntil::CaughtUp {
            return Ok(());
        }
    }
}

/// Writes `rows`, splitting a batch MySQL refuses for its data into halves until each refused
/// order is alone. Returns what was written and the refused orders (index into `rows`, MySQL's
/// reason). Any other failure (transport, privilege, schema) stops at once: what was not
/// committed stays pending, and halves already committed are rewritten idempotently next time.
async fn write_isolating(
    sink: &MysqlSink,
    rows: &[OrderRows],
) -> Result<(WriteReport, Vec<(usize, SinkError)>), SinkError> {
    let mut total = WriteReport::default();
    let mut refused = Vec::new();
    // Ranges still to write, the next one last; halves keep the outbox order.
    let mut todo: Vec<(usize, usize)> = vec![(0, rows.len())];
    while let Some((start, end)) = todo.pop() {
        match sink.write(&rows[start..end]).await {
            Ok(written) => {
                total.orders_written += written.orders_written;
                total.stale_skipped += written.stale_skipped;
                total.item_rows += written.item_rows;
                total.pay_rows += written.pay_rows;
                total.other_child_rows += written.other_child_rows;
                total.statements += written.statements;
            }
            Err(error) if error.is_data_rejection() => {
                if end - start == 1 {
                    refused.push((start, error));
                } else {
                    let middle = start + (end - start) / 2;
                    todo.push((middle, end));
                    todo.push((start, middle));
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok((total, refused))
}
